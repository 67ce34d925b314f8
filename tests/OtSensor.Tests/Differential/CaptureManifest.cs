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

/// <summary>A transaction the pymodbus client ran: [tid, unit, fc, answered, exception].</summary>
public sealed record ManifestTransaction(int TransactionId, int UnitId, int FunctionCode, bool Answered, int? ExceptionCode);

/// <summary>A crafted case: name, anomalies it is meant to raise, server/client endpoints.</summary>
public sealed record ManifestCase(string Name, IReadOnlyList<string> ExpectedAnomalies, string Client, string Server, string? TsharkNote);

/// <summary>Reads captures/MANIFEST.json.</summary>
public static class CaptureManifest
{
    private static readonly Lazy<IReadOnlyList<ManifestEntry>> Cached = new(() => Load(TestPaths.ManifestPath));

    /// <summary>All entries of the repository's MANIFEST.json (loaded once).</summary>
    public static IReadOnlyList<ManifestEntry> Entries => Cached.Value;

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
