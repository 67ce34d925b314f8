using System.Globalization;
using System.Text;

namespace OtSensor.Forwarding;

/// <summary>Syslog headers: RFC 5424 (the default) and the BSD format of RFC 3164.</summary>
public static class SyslogEnvelope
{
    /// <summary>
    /// Syslog severity for an alert severity 0–10 (CEF scale): 9–10 critical (2), 7–8 error (3), 4–6 warning (4),
    /// 1–3 notice (5), 0 informational (6).
    /// </summary>
    public static int SeverityFromAlert(int alertSeverity) => Math.Clamp(alertSeverity, 0, 10) switch
    {
        >= 9 => 2,
        >= 7 => 3,
        >= 4 => 4,
        >= 1 => 5,
        _ => 6,
    };

    public static int Pri(int facility, int severity) => (Math.Clamp(facility, 0, 23) * 8) + Math.Clamp(severity, 0, 7);

    /// <summary>
    /// <c>&lt;PRI&gt;1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - </c> (no structured data; the message follows). The
    /// timestamp is UTC with milliseconds; header fields are reduced to printable US-ASCII without spaces and bounded
    /// (255/48/128/32), empty ones become the NILVALUE <c>-</c>.
    /// </summary>
    public static string Rfc5424Header(int pri, DateTimeOffset timestamp, string? hostName, string? appName, string? procId, string? msgId)
    {
        var sb = new StringBuilder(96);
        sb.Append('<').Append(pri.ToString(CultureInfo.InvariantCulture)).Append(">1 ")
          .Append(timestamp.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)).Append(' ')
          .Append(PrintAscii(hostName, 255)).Append(' ')
          .Append(PrintAscii(appName, 48)).Append(' ')
          .Append(PrintAscii(procId, 128)).Append(' ')
          .Append(PrintAscii(msgId, 32)).Append(" - ");
        return sb.ToString();
    }

    /// <summary>
    /// <c>&lt;PRI&gt;Mmm dd hh:mm:ss HOSTNAME TAG: </c> (day padded with a space, as in RFC 3164). The time is written
    /// in UTC (the format has no zone; sensors usually run on UTC); the tag is at most 32 alphanumeric characters and
    /// an optional <c>[pid]</c>.
    /// </summary>
    public static string Rfc3164Header(int pri, DateTimeOffset timestamp, string? hostName, string? tag, string? procId)
    {
        var t = timestamp.UtcDateTime;
        var sb = new StringBuilder(64);
        sb.Append('<').Append(pri.ToString(CultureInfo.InvariantCulture)).Append('>')
          .Append(t.ToString("MMM", CultureInfo.InvariantCulture)).Append(' ')
          .Append(t.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2, ' ')).Append(' ')
          .Append(t.ToString("HH:mm:ss", CultureInfo.InvariantCulture)).Append(' ')
          .Append(PrintAscii(hostName, 255)).Append(' ');
        string cleanTag = new((tag ?? "").Where(char.IsAsciiLetterOrDigit).Take(32).ToArray());
        sb.Append(cleanTag.Length > 0 ? cleanTag : "otsensor");
        string pid = PrintAscii(procId, 16);
        if (pid != "-") sb.Append('[').Append(pid).Append(']');
        sb.Append(": ");
        return sb.ToString();
    }

    /// <summary>Printable US-ASCII (33–126) only, at most <paramref name="max"/> characters; <c>-</c> when empty.</summary>
    public static string PrintAscii(string? value, int max)
    {
        if (string.IsNullOrEmpty(value)) return "-";
        var sb = new StringBuilder(Math.Min(value.Length, max));
        foreach (char c in value)
        {
            if (sb.Length >= max) break;
            if (c is >= '!' and <= '~') sb.Append(c);
        }
        return sb.Length == 0 ? "-" : sb.ToString();
    }
}
