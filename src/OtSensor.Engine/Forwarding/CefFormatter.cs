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
        var rec = new Record(this, alert.SignatureId > 0 ? alert.SignatureId.ToString(CultureInfo.InvariantCulture) : alert.Type, alert.Name, alert.Severity, maxBytes);
        void Add(params (string Key, string Value)[] group) => rec.Add(group);
        string X(string? v) => CefText.EscapeExtension(v, _maxFieldChars);
        static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

        long lastMs = ToMs(alert.LastSeenNs != 0 ? alert.LastSeenNs : alert.FirstSeenNs);
        if (alert.Id > 0) Add(("externalId", N(alert.Id)));
        Add(("rt", N(lastMs)));
        Add(("cnt", N(Math.Max(1, alert.Count))));
        if (alert.FirstSeenNs != 0) Add(("start", N(ToMs(alert.FirstSeenNs))));
        Add(("end", N(lastMs)));
        AddAddress(g => rec.Add(g), alert.SrcIp, "src", "c6a2", "Source IPv6 Address", X);
        if (alert.SrcPort is int sp and >= 0 and <= 65535) Add(("spt", N(sp)));
        AddAddress(g => rec.Add(g), alert.DstIp, "dst", "c6a3", "Destination IPv6 Address", X);
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
        rec.AddMessage(X(alert.Message));
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
        return rec.ToString();
    }

    /// <summary>
    /// One inventory change as a CEF record (<c>cat=inventory</c>, <c>act=new|changed|moved</c>, <c>externalId=inv-ID</c>
    /// so it never collides with an alert's), at most <paramref name="maxBytes"/> UTF-8 bytes. Same escaping and
    /// bounding as alerts; see README.md for the field mapping.
    /// </summary>
    public string Format(OtSensor.Inventory.InventoryChange change, int maxBytes = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(change);
        var rec = new Record(this, change.SignatureId > 0 ? change.SignatureId.ToString(CultureInfo.InvariantCulture) : change.Type, change.Name, change.Severity, maxBytes);
        void Add(params (string Key, string Value)[] group) => rec.Add(group);
        string X(string? v) => CefText.EscapeExtension(v, _maxFieldChars);
        static string N(long v) => v.ToString(CultureInfo.InvariantCulture);

        if (change.Id > 0) Add(("externalId", "inv-" + N(change.Id)));
        Add(("rt", N(ToMs(change.TimeNs))));
        AddAddress(g => rec.Add(g), change.Ip, "src", "c6a2", "Source IPv6 Address", X);
        Add(("smac", X(change.Mac)));
        Add(("cat", OtSensor.Inventory.InventoryChangeCatalog.Category));
        Add(("act", change.Action));
        Add(("dvchost", _deviceHost));
        Add(("flexString1Label", "changeType"), ("flexString1", X(change.Type)));
        Add(("cs1Label", "attribute"), ("cs1", X(change.Attribute)));
        Add(("cs3Label", "newValue"), ("cs3", X(change.NewValue)));
        Add(("cs2Label", "oldValue"), ("cs2", X(change.OldValue)));
        Add(("cs4Label", "vendor"), ("cs4", X(change.Vendor)));
        Add(("cs5Label", "model"), ("cs5", X(change.Model)));
        Add(("cs6Label", "assetKey"), ("cs6", X(change.AssetKey)));
        if (change.AssetId > 0) Add(("cn1Label", "assetId"), ("cn1", N(change.AssetId)));
        if (change.Frame > 0) Add(("cn2Label", "packetNumber"), ("cn2", N(change.Frame)));
        rec.AddMessage(X(change.Message));
        return rec.ToString();
    }

    /// <summary>A record being built: the escaped header, then extension fields in priority order while they fit.</summary>
    private sealed class Record
    {
        private readonly StringBuilder _sb = new(512);
        private readonly int _maxBytes;
        private int _bytes;
        private bool _first = true;

        public Record(CefFormatter f, string signature, string name, int severity, int maxBytes)
        {
            _maxBytes = maxBytes;
            _sb.Append("CEF:0|").Append(Vendor).Append('|').Append(Product).Append('|').Append(f._version).Append('|')
               .Append(CefText.EscapeHeader(signature, 128)).Append('|')
               .Append(CefText.EscapeHeader(name, 256)).Append('|')
               .Append(Math.Clamp(severity, 0, 10).ToString(CultureInfo.InvariantCulture)).Append('|');
            _bytes = Encoding.UTF8.GetByteCount(_sb.ToString());
        }

        /// <summary>Adds a group of (already escaped) fields, all or none; a label without its value (or the reverse) is never written.</summary>
        public void Add(params (string Key, string Value)[] group)
        {
            var piece = new StringBuilder();
            foreach (var (key, value) in group)
            {
                if (value.Length == 0) return;
                if (piece.Length > 0 || !_first) piece.Append(' ');
                piece.Append(key).Append('=').Append(value);
            }
            int n = Encoding.UTF8.GetByteCount(piece.ToString());
            if (_bytes + n > _maxBytes) return;
            _sb.Append(piece);
            _bytes += n;
            _first = false;
        }

        /// <summary><c>msg</c> (escaped): shortened to what is left rather than dropped.</summary>
        public void AddMessage(string msg)
        {
            int room = _maxBytes - _bytes - (_first ? 0 : 1) - "msg=".Length;
            if (msg.Length == 0 || room <= 0) return;
            if (Encoding.UTF8.GetByteCount(msg) > room)
            {
                var utf8 = Encoding.UTF8.GetBytes(msg);
                msg = Encoding.UTF8.GetString(utf8, 0, CefText.SafeTruncateLength(utf8, room));
            }
            if (msg.Length > 0) Add(("msg", msg));
        }

        public override string ToString() => _sb.ToString();
    }

    private static void AddAddress(Action<(string, string)[]> add, string? ip, string v4Key, string v6Key, string v6Label, Func<string?, string> x)
    {
        if (string.IsNullOrEmpty(ip)) return;
        if (ip.Contains(':', StringComparison.Ordinal)) add([(v6Key + "Label", v6Label), (v6Key, x(ip))]);
        else add([(v4Key, x(ip))]);
    }

    private static string? Find(AlertEvidence evidence, params string[] keys)
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
