using System.Globalization;

namespace OtSensor.Forwarding;

public enum TransportKind
{
    Udp,
    Tcp,
    Tls,
    /// <summary>JSON lines (or CEF lines) appended to a local file, rotated by size.</summary>
    File,
}

/// <summary>TCP/TLS framing (RFC 6587): octet counting (<c>LEN SP MSG</c>, the default, RFC 5425) or one message per line.</summary>
public enum Framing
{
    OctetCounting,
    Newline,
}

public enum PayloadFormat
{
    Cef,
    Json,
}

public enum SyslogFlavor
{
    Rfc5424,
    Rfc3164,
    /// <summary>No syslog header: the payload alone (the file sink's default).</summary>
    None,
}

/// <summary>A configuration error (bad URL, unknown format, unreadable certificate...), reported to the user as is.</summary>
public sealed class ForwardConfigException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// One forwarding destination: where to, how (transport, framing, TLS), what (format, syslog flavour, filter) and its
/// name, which is also the key of its delivery cursor in the outbox.
/// </summary>
public sealed record Destination
{
    /// <summary>Cursor key: <c>forward:</c> + the canonical URL unless <c>?name=</c> gives one.</summary>
    public string Name { get; init; } = "";
    public string Url { get; init; } = "";
    public TransportKind Kind { get; init; }
    public string Host { get; init; } = "";
    public int Port { get; init; }
    /// <summary>The file of a <see cref="TransportKind.File"/> destination.</summary>
    public string Path { get; init; } = "";
    public Framing Framing { get; init; } = Framing.OctetCounting;
    public PayloadFormat Format { get; init; } = PayloadFormat.Cef;
    public SyslogFlavor Syslog { get; init; } = SyslogFlavor.Rfc5424;
    /// <summary>Syslog facility number (0–23); default local4 (20).</summary>
    public int Facility { get; init; } = 20;
    /// <summary>Alerts below this severity (0–10) are not sent (the cursor still moves past them).</summary>
    public int MinSeverity { get; init; }
    /// <summary>When non-empty, only alerts of these types are sent.</summary>
    public IReadOnlySet<string> Types { get; init; } = new HashSet<string>(StringComparer.Ordinal);
    public string? CaFile { get; init; }
    public string? CertFile { get; init; }
    public string? KeyFile { get; init; }
    /// <summary>Name checked against the server certificate (default: the URL's host).</summary>
    public string? ServerName { get; init; }
    public bool InsecureSkipVerify { get; init; }
    /// <summary>Bound on one message (syslog header included); UDP defaults lower (one datagram).</summary>
    public int MaxMessageBytes { get; init; }
    /// <summary>File sink: rotate when the file would grow past this size.</summary>
    public long MaxFileBytes { get; init; } = 100L * 1024 * 1024;
    /// <summary>File sink: rotated files kept (<c>PATH.1</c> .. <c>PATH.N</c>).</summary>
    public int KeepFiles { get; init; } = 5;

    public const int DefaultUdpMaxBytes = 2048;
    public const int DefaultStreamMaxBytes = 16 * 1024;
    public const int MinMessageBytes = 480;
    public const int MaxMessageBytesLimit = 64 * 1024;

    public int EffectiveMaxMessageBytes => MaxMessageBytes > 0 ? MaxMessageBytes
        : Kind == TransportKind.Udp ? DefaultUdpMaxBytes : DefaultStreamMaxBytes;

    public bool Accepts(OtSensor.Detection.Alert alert)
        => alert.Severity >= MinSeverity && (Types.Count == 0 || Types.Contains(alert.Type));

    /// <summary>
    /// Whether inventory changes are sent at all (default yes; <c>?inventory=false</c> or <c>--no-inventory</c>).
    /// Excluded changes are passed over like filtered alerts: the cursor moves past them.
    /// </summary>
    public bool Inventory { get; init; } = true;

    /// <summary>An inventory change passes when <see cref="Inventory"/> is on and it meets the same severity / type filter as alerts.</summary>
    public bool Accepts(OtSensor.Inventory.InventoryChange change)
        => Inventory && change.Severity >= MinSeverity && (Types.Count == 0 || Types.Contains(change.Type));

    private static readonly string[] FacilityNames =
    [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
        "ntp", "audit", "alert", "clock", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
    ];

    /// <summary>A facility name (<c>local4</c>, <c>daemon</c>...) or number 0–23.</summary>
    public static int ParseFacility(string text)
    {
        int i = Array.IndexOf(FacilityNames, text.Trim().ToLowerInvariant());
        if (i >= 0) return i;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 0 and <= 23) return n;
        throw new ForwardConfigException($"unknown syslog facility '{text}' (use local0..local7, user, daemon... or 0-23)");
    }

    public static PayloadFormat ParseFormat(string text) => text.Trim().ToLowerInvariant() switch
    {
        "cef" => PayloadFormat.Cef,
        "json" => PayloadFormat.Json,
        _ => throw new ForwardConfigException($"unknown format '{text}' (use cef or json)"),
    };

    public static SyslogFlavor ParseSyslog(string text) => text.Trim().ToLowerInvariant() switch
    {
        "5424" or "rfc5424" => SyslogFlavor.Rfc5424,
        "3164" or "rfc3164" or "bsd" => SyslogFlavor.Rfc3164,
        "none" => SyslogFlavor.None,
        _ => throw new ForwardConfigException($"unknown syslog flavour '{text}' (use 5424, 3164 or none)"),
    };

    /// <summary>
    /// Parses <c>udp://host:port</c>, <c>tcp://host:port</c>, <c>tls://host:port</c> or <c>file:///path</c>; the
    /// query may override the defaults per destination: <c>format=cef|json</c>, <c>syslog=5424|3164|none</c>,
    /// <c>framing=octet|newline</c>, <c>min_severity=N</c>, <c>types=a,b</c>, <c>inventory=true|false</c>, <c>facility=local4</c>,
    /// <c>server_name=NAME</c>, <c>max_bytes=N</c>, <c>max_file_bytes=N</c>, <c>keep=N</c>, <c>name=KEY</c>.
    /// </summary>
    /// <exception cref="ForwardConfigException">With a message that says what is wrong.</exception>
    public static Destination Parse(string url, Destination? defaults = null)
    {
        var d = defaults ?? new Destination();
        if (string.IsNullOrWhiteSpace(url)) throw new ForwardConfigException("empty destination URL");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
            throw new ForwardConfigException($"'{url}' is not a URL (expected udp://host:port, tcp://host:port, tls://host:port or file:///path)");
        var kind = uri.Scheme.ToLowerInvariant() switch
        {
            "udp" => TransportKind.Udp,
            "tcp" => TransportKind.Tcp,
            "tls" => TransportKind.Tls,
            "file" => TransportKind.File,
            _ => throw new ForwardConfigException($"'{url}': unknown scheme '{uri.Scheme}' (use udp, tcp, tls or file)"),
        };
        d = d with { Kind = kind };
        string canonical;
        if (kind == TransportKind.File)
        {
            string path = Uri.UnescapeDataString(uri.AbsolutePath);
            if (path.Length == 0 || path.EndsWith('/')) throw new ForwardConfigException($"'{url}': no file name");
            d = d with { Path = path, Syslog = SyslogFlavor.None, Format = PayloadFormat.Json };
            canonical = "file://" + path;
        }
        else
        {
            string host = uri.Host;
            if (host.Length == 0) throw new ForwardConfigException($"'{url}': no host");
            if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
            if (uri.Port is <= 0 or > 65535)
                throw new ForwardConfigException($"'{url}': a port is required (syslog is usually udp/tcp 514, tls 6514)");
            if (uri.AbsolutePath is not ("" or "/"))
                throw new ForwardConfigException($"'{url}': unexpected path '{uri.AbsolutePath}'");
            d = d with { Host = host, Port = uri.Port };
            canonical = $"{uri.Scheme.ToLowerInvariant()}://{uri.Authority.ToLowerInvariant()}";
        }
        string? name = null;
        foreach (var (key, value) in ParseQuery(uri.Query, url))
        {
            d = key switch
            {
                "format" => d with { Format = ParseFormat(value) },
                "syslog" => d with { Syslog = ParseSyslog(value) },
                "framing" when kind is TransportKind.Tcp or TransportKind.Tls => d with
                {
                    Framing = value.ToLowerInvariant() switch
                    {
                        "octet" or "octet-counting" or "octets" => Framing.OctetCounting,
                        "newline" or "lf" => Framing.Newline,
                        _ => throw new ForwardConfigException($"'{url}': unknown framing '{value}' (use octet or newline)"),
                    },
                },
                "min_severity" => d with { MinSeverity = ParseInt(value, 0, 10, "min_severity", url) },
                "inventory" => d with
                {
                    Inventory = value.ToLowerInvariant() switch
                    {
                        "true" or "yes" or "1" or "on" => true,
                        "false" or "no" or "0" or "off" => false,
                        _ => throw new ForwardConfigException($"'{url}': inventory must be true or false"),
                    },
                },
                "types" => d with { Types = new HashSet<string>(value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.Ordinal) },
                "facility" => d with { Facility = ParseFacility(value) },
                "server_name" when kind == TransportKind.Tls => d with { ServerName = value },
                "max_bytes" when kind != TransportKind.File => d with { MaxMessageBytes = ParseInt(value, MinMessageBytes, MaxMessageBytesLimit, "max_bytes", url) },
                "max_file_bytes" when kind == TransportKind.File => d with { MaxFileBytes = ParseInt(value, 4096, int.MaxValue, "max_file_bytes", url) },
                "keep" when kind == TransportKind.File => d with { KeepFiles = ParseInt(value, 0, 100, "keep", url) },
                "name" => d,
                _ => throw new ForwardConfigException($"'{url}': unknown or inapplicable option '{key}'"),
            };
            if (key == "name") name = value;
        }
        if (kind == TransportKind.Udp && d.MaxMessageBytes > 65000)
            throw new ForwardConfigException($"'{url}': max_bytes too large for one UDP datagram");
        return d with { Url = url, Name = name ?? "forward:" + canonical };
    }

    private static int ParseInt(string value, int min, int max, string what, string url)
        => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max
            ? n
            : throw new ForwardConfigException($"'{url}': {what} must be a number from {min} to {max}");

    private static IEnumerable<(string Key, string Value)> ParseQuery(string query, string url)
    {
        if (query.Length <= 1) yield break;
        foreach (var part in query[1..].Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0) throw new ForwardConfigException($"'{url}': option '{part}' needs a value (key=value)");
            yield return (Uri.UnescapeDataString(part[..eq]).ToLowerInvariant(), Uri.UnescapeDataString(part[(eq + 1)..]));
        }
    }
}
