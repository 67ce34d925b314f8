using System.Globalization;
using System.Text.Json;

namespace OtSensor.Tests.Differential;

/// <summary>Ground truth of one capture in captures/MANIFEST.json (as written by captures/gen/manifest.py).</summary>
public sealed record ManifestEntry(
    string File,
    string Format,
    int Packets,
    IReadOnlyList<string> TsharkExtraArgs,
    string GroundTruthFile,
    IReadOnlyDictionary<int, int> PdusByFunctionCode,
    IReadOnlyDictionary<int, int> ExceptionsByCode,
    int Requests,
    int Responses,
    IReadOnlyDictionary<int, int> TsharkAdjustPdus,
    IReadOnlyDictionary<int, int> TsharkAdjustExceptions,
    IReadOnlyList<ManifestTransaction> Transactions,
    IReadOnlyList<ManifestCase> Cases,
    int ServerPort)
{
    /// <summary>True when the generator declares that tshark legitimately sees some cases differently.</summary>
    public bool HasTsharkAdjustments => TsharkAdjustPdus.Count > 0 || TsharkAdjustExceptions.Count > 0;

    /// <summary>Generator counts plus the documented tshark differences: what tshark should report.</summary>
    public IReadOnlyDictionary<int, int> TsharkExpectedPdus => Add(PdusByFunctionCode, TsharkAdjustPdus);

    /// <summary>Generator exception counts plus the documented tshark differences.</summary>
    public IReadOnlyDictionary<int, int> TsharkExpectedExceptions => Add(ExceptionsByCode, TsharkAdjustExceptions);

    private static Dictionary<int, int> Add(IReadOnlyDictionary<int, int> a, IReadOnlyDictionary<int, int> b)
    {
        var r = new Dictionary<int, int>(a);
        foreach (var (k, v) in b)
        {
            r[k] = r.GetValueOrDefault(k) + v;
            if (r[k] == 0)
            {
                r.Remove(k);
            }
        }

        return r;
    }
}

/// <summary>
/// Ground truth of one MQTT or CoAP capture in MANIFEST.json (written by gen/mqtt_session.py,
/// gen/coap_session.py or gen/iot_crafted.py). Counts are keyed like tshark_reference.sh: MQTT types by
/// name ("PUBLISH", "Reserved(0)"), versions "3.1"/"3.1.1"/"5.0", CoAP types CON/NON/ACK/RST, codes "c.dd".
/// <see cref="TsharkAdjust"/> maps a count name ("messages_by_type", "messages_by_code") to the documented
/// per-key differences of tshark 4.0 (reasons in the cases' tshark_note).
/// </summary>
public sealed record IotManifestEntry(
    string File,
    string Protocol,
    int Packets,
    IReadOnlyList<string> TsharkExtraArgs,
    int Messages,
    IReadOnlyDictionary<string, int> MessagesByType,
    IReadOnlyDictionary<string, int> MessagesByCode,
    IReadOnlyDictionary<string, int> ConnectVersions,
    IReadOnlyDictionary<string, int> ConnackCodes,
    IReadOnlyList<string> ClientIds,
    IReadOnlyDictionary<string, int> TopicsPublished,
    IReadOnlyList<string> TopicFilters,
    IReadOnlyDictionary<int, int> MessageIds,
    IReadOnlyDictionary<string, int> UriPaths,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> TsharkAdjust,
    IReadOnlyList<ManifestCase> Cases)
{
    /// <summary>Generator counts of <paramref name="name"/> plus the documented tshark differences.</summary>
    public Dictionary<string, int> TsharkExpected(string name, IReadOnlyDictionary<string, int> counts) =>
        IotLabels.Add(counts, TsharkAdjust.GetValueOrDefault(name));
}

/// <summary>A transaction the pymodbus client ran: [tid, unit, fc, answered, exception].</summary>
public sealed record ManifestTransaction(int TransactionId, int UnitId, int FunctionCode, bool Answered, int? ExceptionCode);

/// <summary>A crafted case: name, anomalies it is meant to raise, server/client endpoints.</summary>
public sealed record ManifestCase(string Name, IReadOnlyList<string> ExpectedAnomalies, string Client, string Server, string? TsharkNote);

/// <summary>Reads captures/MANIFEST.json.</summary>
public static class CaptureManifest
{
    private static readonly Lazy<IReadOnlyList<ManifestEntry>> Cached = new(() => Load(TestPaths.ManifestPath));

    private static readonly Lazy<IReadOnlyList<IotManifestEntry>> CachedIot = new(() => LoadIot(TestPaths.ManifestPath));

    private static readonly Lazy<IReadOnlyList<string>> CachedFiles = new(() => LoadFileNames(TestPaths.ManifestPath));

    /// <summary>The Modbus entries of the repository's MANIFEST.json (loaded once).</summary>
    public static IReadOnlyList<ManifestEntry> Entries => Cached.Value;

    /// <summary>The MQTT and CoAP entries of MANIFEST.json (loaded once).</summary>
    public static IReadOnlyList<IotManifestEntry> IotEntries => CachedIot.Value;

    /// <summary>Every capture file MANIFEST.json lists, whatever its protocol.</summary>
    public static IReadOnlyList<string> AllFiles => CachedFiles.Value;

    /// <summary>The MQTT or CoAP entry for a capture file name.</summary>
    public static IotManifestEntry GetIot(string file) =>
        IotEntries.FirstOrDefault(e => e.File == file) ?? throw new KeyNotFoundException($"{file} not an MQTT/CoAP entry of MANIFEST.json");

    /// <summary>The entry for a capture file name.</summary>
    public static ManifestEntry Get(string file) =>
        Entries.FirstOrDefault(e => e.File == file) ?? throw new KeyNotFoundException($"{file} not in MANIFEST.json");

    public static IReadOnlyList<ManifestEntry> Load(string path)
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllBytes(path));
        var files = doc.RootElement.GetProperty("files");
        var truths = new Dictionary<string, JsonElement>();
        foreach (var f in files.EnumerateArray())
        {
            if (f.TryGetProperty("ground_truth", out var gt))
            {
                truths[f.GetProperty("file").GetString()!] = gt.Clone();
            }
        }

        var result = new List<ManifestEntry>();
        foreach (var f in files.EnumerateArray())
        {
            var name = f.GetProperty("file").GetString()!;
            var source = f.TryGetProperty("ground_truth_from", out var src) ? src.GetString()! : name;
            var gt = truths[source];
            if (gt.TryGetProperty("protocol", out _))
            {
                continue; // MQTT / CoAP: see LoadIot
            }

            var adjust = gt.TryGetProperty("tshark_adjust", out var adj) ? adj : default;
            result.Add(new ManifestEntry(
                name,
                f.GetProperty("format").GetString()!,
                f.GetProperty("packets").GetInt32(),
                [.. f.GetProperty("tshark_extra_args").EnumerateArray().Select(x => x.GetString()!)],
                source,
                Counts(gt, "pdus_by_function_code"),
                Counts(gt, "exceptions_by_code"),
                gt.GetProperty("requests").GetInt32(),
                gt.GetProperty("responses").GetInt32(),
                adjust.ValueKind == JsonValueKind.Object ? Counts(adjust, "pdus") : new Dictionary<int, int>(),
                adjust.ValueKind == JsonValueKind.Object ? Counts(adjust, "exceptions") : new Dictionary<int, int>(),
                Transactions(gt),
                Cases(gt),
                gt.GetProperty("server_port").GetInt32()));
        }

        return result;
    }

    /// <summary>The MQTT / CoAP entries (ground truth with "protocol": "mqtt" or "coap").</summary>
    public static IReadOnlyList<IotManifestEntry> LoadIot(string path)
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllBytes(path));
        var result = new List<IotManifestEntry>();
        foreach (var f in doc.RootElement.GetProperty("files").EnumerateArray())
        {
            if (!f.TryGetProperty("ground_truth", out var gt) || !gt.TryGetProperty("protocol", out var proto))
            {
                continue;
            }

            var adjust = new Dictionary<string, IReadOnlyDictionary<string, int>>(StringComparer.Ordinal);
            if (gt.TryGetProperty("tshark_adjust", out var adj))
            {
                foreach (var p in adj.EnumerateObject().Where(p => p.Value.ValueKind == JsonValueKind.Object))
                {
                    adjust[p.Name] = StringCounts(adj, p.Name);
                }
            }

            result.Add(new IotManifestEntry(
                f.GetProperty("file").GetString()!,
                proto.GetString()!,
                f.GetProperty("packets").GetInt32(),
                [.. f.GetProperty("tshark_extra_args").EnumerateArray().Select(x => x.GetString()!)],
                gt.GetProperty("messages").GetInt32(),
                StringCounts(gt, "messages_by_type"),
                StringCounts(gt, "messages_by_code"),
                StringCounts(gt, "connect_versions"),
                StringCounts(gt, "connack_codes"),
                gt.TryGetProperty("client_ids", out var ids) ? [.. ids.EnumerateArray().Select(x => x.GetString()!)] : [],
                StringCounts(gt, "topics_published"),
                Strings(gt, "topics_subscribed").Concat(Strings(gt, "topics_unsubscribed")).Distinct(StringComparer.Ordinal).ToList(),
                StringCounts(gt, "message_ids").ToDictionary(kv => int.Parse(kv.Key, CultureInfo.InvariantCulture), kv => kv.Value),
                StringCounts(gt, "uri_paths"),
                adjust,
                Cases(gt)));
        }

        return result;
    }

    private static List<string> LoadFileNames(string path)
    {
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllBytes(path));
        return [.. doc.RootElement.GetProperty("files").EnumerateArray().Select(f => f.GetProperty("file").GetString()!)];
    }

    private static Dictionary<string, int> StringCounts(JsonElement e, string property)
    {
        var r = new Dictionary<string, int>(StringComparer.Ordinal);
        if (e.TryGetProperty(property, out var obj) && obj.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in obj.EnumerateObject())
            {
                r[p.Name] = p.Value.GetInt32();
            }
        }

        return r;
    }

    private static IEnumerable<string> Strings(JsonElement e, string property) =>
        e.TryGetProperty(property, out var list) ? list.EnumerateArray().Select(x => x.GetString()!) : [];

    private static Dictionary<int, int> Counts(JsonElement e, string property)
    {
        var r = new Dictionary<int, int>();
        if (e.TryGetProperty(property, out var obj))
        {
            foreach (var p in obj.EnumerateObject())
            {
                r[int.Parse(p.Name, CultureInfo.InvariantCulture)] = p.Value.GetInt32();
            }
        }

        return r;
    }

    private static List<ManifestTransaction> Transactions(JsonElement gt)
    {
        var r = new List<ManifestTransaction>();
        if (gt.TryGetProperty("transactions", out var list))
        {
            foreach (var t in list.EnumerateArray())
            {
                var exc = t[4].ValueKind == JsonValueKind.Number ? t[4].GetInt32() : (int?)null;
                r.Add(new ManifestTransaction(t[0].GetInt32(), t[1].GetInt32(), t[2].GetInt32(), t[3].GetBoolean(), exc));
            }
        }

        return r;
    }

    private static List<ManifestCase> Cases(JsonElement gt)
    {
        var r = new List<ManifestCase>();
        if (gt.TryGetProperty("cases", out var list))
        {
            foreach (var c in list.EnumerateArray())
            {
                r.Add(new ManifestCase(
                    c.GetProperty("case").GetString()!,
                    [.. c.GetProperty("expected_anomalies").EnumerateArray().Select(x => x.GetString()!)],
                    c.GetProperty("client").GetString()!,
                    c.GetProperty("server").GetString()!,
                    c.TryGetProperty("tshark_note", out var n) ? n.GetString() : null));
            }
        }

        return r;
    }
}
