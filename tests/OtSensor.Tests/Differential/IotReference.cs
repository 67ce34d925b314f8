namespace OtSensor.Tests.Differential;

/// <summary>Label tables and "key:count;key:count" formatting shared by the MQTT and CoAP references
/// (the same labels as /work/shared/captures/public/tshark_reference.sh).</summary>
public static class IotLabels
{
    private static readonly string[] MqttTypes =
    [
        "Reserved(0)", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL", "PUBCOMP",
        "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
    ];

    private static readonly Dictionary<string, string> CoapCodeNames = new(StringComparer.Ordinal)
    {
        ["0.00"] = "Empty", ["0.01"] = "GET", ["0.02"] = "POST", ["0.03"] = "PUT", ["0.04"] = "DELETE",
        ["0.05"] = "FETCH", ["0.06"] = "PATCH", ["0.07"] = "iPATCH", ["2.01"] = "Created", ["2.02"] = "Deleted",
        ["2.03"] = "Valid", ["2.04"] = "Changed", ["2.05"] = "Content", ["2.31"] = "Continue",
        ["4.00"] = "Bad Request", ["4.01"] = "Unauthorized", ["4.02"] = "Bad Option", ["4.03"] = "Forbidden",
        ["4.04"] = "Not Found", ["4.05"] = "Method Not Allowed", ["4.06"] = "Not Acceptable",
        ["4.08"] = "Request Entity Incomplete", ["4.09"] = "Conflict", ["4.12"] = "Precondition Failed",
        ["4.13"] = "Request Entity Too Large", ["4.15"] = "Unsupported Content-Format",
        ["4.22"] = "Unprocessable Entity", ["4.29"] = "Too Many Requests", ["5.00"] = "Internal Server Error",
        ["5.01"] = "Not Implemented", ["5.02"] = "Bad Gateway", ["5.03"] = "Service Unavailable",
        ["5.04"] = "Gateway Timeout", ["5.05"] = "Proxying Not Supported", ["7.01"] = "CSM", ["7.02"] = "Ping",
        ["7.03"] = "Pong", ["7.04"] = "Release", ["7.05"] = "Abort",
    };

    private static readonly string[] CoapTypes = ["CON", "NON", "ACK", "RST"];

    /// <summary>MQTT packet type name (0 = "Reserved(0)", 15 = "AUTH").</summary>
    public static string MqttType(int type) => type is >= 0 and < 16 ? MqttTypes[type] : type.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>CONNECT protocol level: 3 = "3.1", 4 = "3.1.1", 5 = "5.0", other = "level N".</summary>
    public static string MqttVersion(int level) => level switch
    {
        3 => "3.1",
        4 => "3.1.1",
        5 => "5.0",
        _ => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"level {level}"),
    };

    /// <summary>CoAP type 0..3 = CON/NON/ACK/RST.</summary>
    public static string CoapType(int type) => type is >= 0 and < 4 ? CoapTypes[type] : type.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>CoAP code as "c.dd" (class = code >> 5, detail = code &amp; 31).</summary>
    public static string CoapCode(int code) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{code >> 5}.{code & 31:00}");

    /// <summary>"c.dd Name" as in expected.tshark.csv (just "c.dd" for an unnamed code).</summary>
    public static string CoapCodeLabel(string code) =>
        CoapCodeNames.TryGetValue(code, out var n) ? $"{code} {n}" : code;

    /// <summary>"key:count;key:count" sorted by key (ordinal), zero counts left out: the CSV format.</summary>
    public static string Format(IReadOnlyDictionary<string, int> counts) =>
        string.Join(';', counts.Where(kv => kv.Value != 0).OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key}:{kv.Value}"));

    /// <summary>Adds <paramref name="delta"/> to a copy of <paramref name="counts"/>; zero results are removed.</summary>
    public static Dictionary<string, int> Add(IReadOnlyDictionary<string, int> counts, IReadOnlyDictionary<string, int>? delta)
    {
        var r = new Dictionary<string, int>(counts, StringComparer.Ordinal);
        foreach (var (k, v) in delta ?? new Dictionary<string, int>())
        {
            r[k] = r.GetValueOrDefault(k) + v;
            if (r[k] == 0)
            {
                r.Remove(k);
            }
        }

        return r;
    }

    internal static void Bump<TKey>(Dictionary<TKey, int> d, TKey key)
        where TKey : notnull => d[key] = d.GetValueOrDefault(key) + 1;
}

/// <summary>
/// What tshark sees of MQTT in one capture (counting rules of tshark_reference.sh): one message per
/// occurrence of mqtt.msgtype; CONNECT versions from mqtt.ver; CONNACK codes from mqtt.conack.val (v3.x)
/// plus mqtt.connack.reason_code (v5); client ids (mqtt.clientid) and topics (mqtt.topic: PUBLISH topics
/// and SUBSCRIBE/UNSUBSCRIBE filters) as tshark displays them (\r, \n, \\ escaped; cut at NUL).
/// </summary>
public sealed record MqttReference(
    string Path,
    int Frames,
    IReadOnlyDictionary<string, int> MessagesByType,
    IReadOnlyDictionary<string, int> ConnectVersions,
    IReadOnlyDictionary<string, int> ConnackCodes,
    IReadOnlyDictionary<string, int> ClientIds,
    IReadOnlyDictionary<string, int> Topics)
{
    /// <summary>Total MQTT messages.</summary>
    public int Messages => MessagesByType.Values.Sum();

    public override string ToString() =>
        $"{System.IO.Path.GetFileName(Path)}: frames={Frames} mqtt={Messages} types=[{IotLabels.Format(MessagesByType)}] " +
        $"versions=[{IotLabels.Format(ConnectVersions)}] connack=[{IotLabels.Format(ConnackCodes)}]";
}

/// <summary>
/// What tshark sees of CoAP in one capture (counting rules of tshark_reference.sh): one message per
/// occurrence of coap.code, by type (coap.type: CON/NON/ACK/RST) and by code ("c.dd"); message ids
/// (coap.mid) and Uri-Paths ("/" + coap.opt.uri_path segments joined by "/", as tshark displays them).
/// </summary>
public sealed record CoapReference(
    string Path,
    int Frames,
    IReadOnlyDictionary<string, int> MessagesByType,
    IReadOnlyDictionary<string, int> MessagesByCode,
    IReadOnlyDictionary<int, int> MessageIds,
    IReadOnlyDictionary<string, int> UriPaths)
{
    /// <summary>Total CoAP messages (occurrences of coap.code).</summary>
    public int Messages => MessagesByCode.Values.Sum();

    /// <summary>Codes with names ("0.01 GET"), the keys of expected.tshark.csv's coap_codes column.</summary>
    public IReadOnlyDictionary<string, int> MessagesByCodeLabel =>
        MessagesByCode.ToDictionary(kv => IotLabels.CoapCodeLabel(kv.Key), kv => kv.Value, StringComparer.Ordinal);

    public override string ToString() =>
        $"{System.IO.Path.GetFileName(Path)}: frames={Frames} coap={Messages} types=[{IotLabels.Format(MessagesByType)}] " +
        $"codes=[{IotLabels.Format(MessagesByCode)}]";
}
