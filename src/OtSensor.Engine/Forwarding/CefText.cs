using System.Text;

namespace OtSensor.Forwarding;

/// <summary>
/// Escaping and sanitising of strings for CEF (ArcSight "Implementing ArcSight CEF", rev. 25): every value that may
/// come off the wire goes through here, so no value can end a record, start a new syslog line or forge a field.
/// </summary>
public static class CefText
{
    /// <summary>
    /// A header field (vendor, product, version, signature id, name): <c>\</c> becomes <c>\\</c>, <c>|</c> becomes
    /// <c>\|</c>; CR and LF (not allowed in the header) and other line separators become a space; other C0/C1 control
    /// characters (NUL, DEL...) are removed; lone surrogates become U+FFFD. At most <paramref name="maxChars"/>
    /// characters of output (an escape is never cut in half).
    /// </summary>
    public static string EscapeHeader(string? value, int maxChars) => Escape(value, maxChars, header: true);

    /// <summary>
    /// An extension value: <c>\</c> becomes <c>\\</c>, <c>=</c> becomes <c>\=</c>, CR and LF become the two-character
    /// escapes <c>\r</c> and <c>\n</c> (never raw); other control characters are removed; U+2028/U+2029 become a
    /// space; lone surrogates become U+FFFD. At most <paramref name="maxChars"/> characters of output.
    /// </summary>
    public static string EscapeExtension(string? value, int maxChars) => Escape(value, maxChars, header: false);

    /// <summary>Removes control characters (C0, DEL, C1) and line separators, replaces lone surrogates; no escaping.</summary>
    public static string StripControl(string? value, int maxChars)
    {
        if (string.IsNullOrEmpty(value)) return "";
        var sb = new StringBuilder(Math.Min(value.Length, maxChars));
        for (int i = 0; i < value.Length && sb.Length < maxChars; i++)
        {
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                if (sb.Length + 2 > maxChars) break;
                sb.Append(c).Append(value[++i]);
                continue;
            }
            if (char.IsSurrogate(c)) sb.Append('\uFFFD');
            else if (c is '\u2028' or '\u2029') sb.Append(' ');
            else if (!char.IsControl(c)) sb.Append(c);
        }
        return sb.ToString();
    }

    private static string Escape(string? value, int maxChars, bool header)
    {
        if (string.IsNullOrEmpty(value) || maxChars <= 0) return "";
        var sb = new StringBuilder(Math.Min(value.Length + 8, maxChars));
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            string? token = null;
            char single = '\0';
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                if (sb.Length + 2 > maxChars) break;
                sb.Append(c).Append(value[++i]);
                continue;
            }
            if (char.IsSurrogate(c)) single = '\uFFFD';
            else if (c == '\\') token = @"\\";
            else if (c == '|' && header) token = @"\|";
            else if (c == '=' && !header) token = @"\=";
            else if (c == '\r') { if (header) single = ' '; else token = @"\r"; }
            else if (c == '\n') { if (header) single = ' '; else token = @"\n"; }
            else if (c is '\u2028' or '\u2029' or '\u0085') single = ' ';
            else if (char.IsControl(c)) continue;
            else single = c;

            int len = token?.Length ?? 1;
            if (sb.Length + len > maxChars) break;
            if (token is not null) sb.Append(token);
            else sb.Append(single);
        }
        return sb.ToString();
    }

    /// <summary>
    /// The longest prefix of <paramref name="utf8"/> of at most <paramref name="maxBytes"/> bytes that ends on a UTF-8
    /// character boundary and does not end inside a backslash escape (an odd run of trailing backslashes loses one).
    /// </summary>
    public static int SafeTruncateLength(ReadOnlySpan<byte> utf8, int maxBytes)
    {
        if (utf8.Length <= maxBytes) return utf8.Length;
        int n = Math.Max(0, maxBytes);
        // Step back over continuation bytes (10xxxxxx) to the start of the character cut at n.
        while (n > 0 && n < utf8.Length && (utf8[n] & 0xC0) == 0x80) n--;
        int run = 0;
        while (run < n && utf8[n - 1 - run] == (byte)'\\') run++;
        if ((run & 1) == 1) n--;
        return n;
    }
}
