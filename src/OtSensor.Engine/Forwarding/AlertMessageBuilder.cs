using System.Globalization;
using System.Text;
using OtSensor.Detection;

namespace OtSensor.Forwarding;

/// <summary>
/// Builds the bytes of one message for a destination: syslog header (RFC 5424, RFC 3164 or none) + CEF or JSON, at
/// most <see cref="Destination.EffectiveMaxMessageBytes"/> bytes, never containing CR, LF or NUL. The syslog time is
/// the alert's last-seen time, so a message resent after an outage is byte-identical to the first copy.
/// </summary>
public sealed class AlertMessageBuilder
{
    private readonly Destination _destination;
    private readonly CefFormatter _cef;
    private readonly JsonAlertFormatter _json;
    private readonly string _host;
    private readonly string _procId;

    public const string AppName = "otsensor";
    public const string MsgId = "alert";
    /// <summary>The RFC 5424 MSGID of inventory changes.</summary>
    public const string InventoryMsgId = "inventory";

    public AlertMessageBuilder(Destination destination, string? hostName = null, int? procId = null)
    {
        ArgumentNullException.ThrowIfNull(destination);
        _destination = destination;
        _host = SyslogEnvelope.PrintAscii(hostName ?? Environment.MachineName, 255);
        _procId = (procId ?? Environment.ProcessId).ToString(CultureInfo.InvariantCulture);
        _cef = new CefFormatter(_host == "-" ? "" : _host);
        _json = new JsonAlertFormatter(_host == "-" ? "" : _host);
    }

    public byte[] Build(Alert alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        long ns = alert.LastSeenNs != 0 ? alert.LastSeenNs : alert.FirstSeenNs;
        return Envelope(ns, alert.Severity, MsgId, budget => _destination.Format == PayloadFormat.Json
            ? _json.Format(alert, budget)
            : Encoding.UTF8.GetBytes(_cef.Format(alert, budget)));
    }

    /// <summary>The message of an inventory change (syslog time: the change's packet time; MSGID <c>inventory</c>).</summary>
    public byte[] Build(OtSensor.Inventory.InventoryChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        return Envelope(change.TimeNs, change.Severity, InventoryMsgId, budget => _destination.Format == PayloadFormat.Json
            ? _json.Format(change, budget)
            : Encoding.UTF8.GetBytes(_cef.Format(change, budget)));
    }

    private byte[] Envelope(long ns, int severity, string msgId, Func<int, byte[]> format)
    {
        int max = _destination.EffectiveMaxMessageBytes;
        var time = ToTime(ns);
        int pri = SyslogEnvelope.Pri(_destination.Facility, SyslogEnvelope.SeverityFromAlert(severity));
        string header = _destination.Syslog switch
        {
            SyslogFlavor.Rfc5424 => SyslogEnvelope.Rfc5424Header(pri, time, _host, AppName, _procId, msgId),
            SyslogFlavor.Rfc3164 => SyslogEnvelope.Rfc3164Header(pri, time, _host, AppName, _procId),
            _ => "",
        };
        var headerBytes = Encoding.UTF8.GetBytes(header);
        int budget = Math.Max(0, max - headerBytes.Length);
        byte[] payload = format(budget);
        int payloadLength = CefText.SafeTruncateLength(payload, budget);
        var message = new byte[headerBytes.Length + payloadLength];
        headerBytes.CopyTo(message, 0);
        Array.Copy(payload, 0, message, headerBytes.Length, payloadLength);
        return message;
    }

    internal static DateTimeOffset ToTime(long ns)
    {
        long ticks = ns / 100;
        long max = DateTimeOffset.MaxValue.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks;
        if (ticks < 0 || ticks > max) ticks = 0;
        return DateTimeOffset.UnixEpoch.AddTicks(ticks);
    }
}
