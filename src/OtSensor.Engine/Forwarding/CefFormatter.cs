using System.Globalization;
using System.Text;
using OtSensor.Detection;

namespace OtSensor.Forwarding;

/// <summary>
/// Formats an <see cref="Alert"/> as one CEF record (<c>CEF:0|OtSensor|OtSensor|version|signature id|name|severity|extension</c>).
/// Every string is escaped and stripped of control characters by <see cref="CefText"/>, bounded per field, and the
/// whole record is bounded in bytes: extension fields are added in priority order and the ones that do not fit are
/// left out (<c>msg</c> is shortened first), so the record always stays one well-formed line. See README.md for the
/// field mapping.
/// </summary>
public sealed class CefFormatter
{
    public const string Vendor = "OtSensor";
    public const string Product = "OtSensor";

    private readonly string _version;
    private readonly string _deviceHost;
    private readonly int _maxFieldChars;

    public CefFormatter(string? deviceHost = null, string? version = null, int maxFieldChars = 1023)
    {
        _version = CefText.EscapeHeader(version ?? DefaultVersion, 31);
        _deviceHost = CefText.EscapeExtension(deviceHost ?? Environment.MachineName, 255);
        _maxFieldChars = Math.Max(16, maxFieldChars);
    }

    public static string DefaultVersion { get; } = typeof(CefFormatter).Assembly.GetName().Version?.ToString(3) ?? "0";

    /// <summary>One CEF record of at most <paramref name="maxBytes"/> UTF-8 bytes (at least the header is always written).</summary>
    public string Format(Alert alert, int maxBytes = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var sb = new StringBuilder(512);
        sb.Append("CEF:0|").Append(Vendor).Append('|').Append(Product).Append('|').Append(_version).Append('|')
          .Append(CefText.EscapeHeader(alert.SignatureId > 0 ? alert.SignatureId.ToString(CultureInfo.InvariantCulture) : alert.Type, 128)).Append('|')
          .Append(CefText.EscapeHeader(alert.Name, 256)).Append('|')
          .Append(Math.Clamp(alert.Severity, 0, 10).ToString(CultureInfo.InvariantCulture)).Append('|');
        int bytes = Encoding.UTF8.GetByteCount(sb.ToString());
        bool first = true;

        void Add(params (string Key, string Value)[] group)
        {
            var piece = new StringBuilder();
            foreach (var (key, value) in group)
            {
                if (value.Length == 0) return; // a label without its value (or the reverse) is never written
                if (piece.Length > 0 || !first) piece.Append(' ');
                piece.Append(key).Append('=').Append(value);
            }
            int n = Encoding.UTF8.GetByteCount(piece.ToString());
            if (bytes + n > maxBytes) return;
            sb.Append(piece);
            bytes += n;
            first = false;
        }

        string X(string? v) => CefText.EscapeExtension(v, _maxFieldChars);
        static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

        long lastMs = ToMs(alert.LastSeenNs != 0 ? alert.LastSeenNs : alert.FirstSeenNs);
        if (alert.Id > 0) Add(("externalId", N(alert.Id)));
        Add(("rt", N(lastMs)));
        Add(("cnt", N(Math.Max(1, alert.Count))));
        if (alert.FirstSeenNs != 0) Add(("start", N(ToMs(alert.FirstSeenNs))));
        Add(("end", N(lastMs)));
        AddAddress(Add, alert.SrcIp, "src", "c6a2", "Source IPv6 Address", X);
        if (alert.SrcPort is int sp and >= 0 and <= 65535) Add(("spt", N(sp)));
        AddAddress(Add, alert.DstIp, "dst", "c6a3", "Destination IPv6 Address", X);
        if (alert.DstPort is int dp and >= 0 and <= 65535) Add(("dpt", N(dp)));
        string proto = alert.Proto.ToLowerInvariant();
        string? transport = proto switch
        {
            "modbus" or "mqtt" or "tcp" => "TCP",
            "coap" or "udp" => "UDP",
            _ => null,
        };
        if (transport is not null) Add(("proto", transport));
        if (proto is not ("" or "tcp" or "udp")) Add(("app", X(alert.Proto)));
        Add(("cat", X(alert.Category)));
        Add(("act", "alert"));
        Add(("smac", X(alert.SrcMac)));
        Add(("dmac", X(alert.DstMac)));
        Add(("dvchost", _deviceHost));
        Add(("flexString1Label", "alertType"), ("flexString1", X(alert.Type)));
        Add(("cs1Label", "mitreTechniques"), ("cs1", X(string.Join(',', alert.Mitre))));
        var ev = alert.Evidence;
        switch (proto)
        {
            case "modbus":
                if (Find(ev, "unit_id", "unit") is { } unit && long.TryParse(unit, NumberStyles.Integer, CultureInfo.InvariantCulture, out long u))
                    Add(("cn1Label", "modbusUnitId"), ("cn1", N(u)));
                if (Find(ev, "function_code", "function", "fc") is { } fc && long.TryParse(fc, NumberStyles.Integer, CultureInfo.InvariantCulture, out long f))
                    Add(("cn2Label", "modbusFunctionCode"), ("cn2", N(f)));
                Add(("cs5Label", "modbusAddressRange"), ("cs5", X(Find(ev, "address_range", "addresses", "address", "start_address", "register"))));
                Add(("cs6Label", "modbusValue"), ("cs6", X(Find(ev, "value", "values", "written_value"))));
                break;
            case "mqtt":
                Add(("cs5Label", "mqttTopic"), ("cs5", X(Find(ev, "topic", "topic_filter"))));
                Add(("cs6Label", "mqttClientId"), ("cs6", X(Find(ev, "client_id", "clientid", "client"))));
                break;
            case "coap":
                Add(("cs5Label", "coapPath"), ("cs5", X(Find(ev, "path", "uri_path", "coap_path", "uri"))));
                Add(("cs6Label", "coapCode"), ("cs6", X(Find(ev, "code", "coap_code", "method"))));
                break;
        }
        Add(("cs2Label", "srcAsset"), ("cs2", X(alert.SrcAsset)));
        Add(("cs3Label", "dstAsset"), ("cs3", X(alert.DstAsset)));

        // msg: shortened to what is left rather than dropped.
        string msg = X(alert.Message);
        int room = maxBytes - bytes - (first ? 0 : 1) - "msg=".Length;
        if (msg.Length > 0 && room > 0)
        {
            if (Encoding.UTF8.GetByteCount(msg) > room)
            {
                var utf8 = Encoding.UTF8.GetBytes(msg);
                msg = Encoding.UTF8.GetString(utf8, 0, CefText.SafeTruncateLength(utf8, room));
            }
            if (msg.Length > 0) Add(("msg", msg));
        }
        if (ev.Count > 0)
        {
            var all = new StringBuilder();
            foreach (var (k, v) in ev)
            {
                if (all.Length > 0) all.Append("; ");
                all.Append(CefText.StripControl(k, 64)).Append('=').Append(CefText.StripControl(v, 256));
                if (all.Length > _maxFieldChars * 2) break;
            }
            Add(("cs4Label", "evidence"), ("cs4", X(all.ToString())));
        }
        return sb.ToString();
    }

    private static void AddAddress(Action<(string, string)[]> add, string? ip, string v4Key, string v6Key, string v6Label, Func<string?, string> x)
    {
        if (string.IsNullOrEmpty(ip)) return;
        if (ip.Contains(':', StringComparison.Ordinal)) add([(v6Key + "Label", v6Label), (v6Key, x(ip))]);
        else add([(v4Key, x(ip))]);
    }

    private static string? Find(SortedDictionary<string, string> evidence, params string[] keys)
    {
        foreach (var k in keys)
        {
            if (evidence.TryGetValue(k, out var v) && v.Length > 0) return v;
        }
        foreach (var (k, v) in evidence)
        {
            foreach (var want in keys)
                if (string.Equals(k, want, StringComparison.OrdinalIgnoreCase) && v.Length > 0) return v;
        }
        return null;
    }

    internal static long ToMs(long ns) => ns / 1_000_000;
}
