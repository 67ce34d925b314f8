using System.Text.Json;
using System.Text.Json.Serialization;

namespace OtSensor.Detection;

/// <summary>Per alert type settings; null members keep the catalog / built-in default.</summary>
public sealed class RuleSettings
{
    public bool? Enabled { get; set; }
    /// <summary>0-10.</summary>
    public int? Severity { get; set; }
    /// <summary>The rule's count / size / ratio threshold (meaning per rule, see <see cref="DetectionOptions.Defaults"/>).</summary>
    public double? Threshold { get; set; }
    /// <summary>The rule's sliding window in seconds of packet time.</summary>
    public double? WindowSeconds { get; set; }
}

/// <summary>
/// Detection settings. Loaded from a JSON file (<c>--rules-config FILE</c>, snake_case names):
/// <code>{ "aggregation_window_seconds": 600, "rules": { "modbus_points_scan": { "threshold": 20 }, "mqtt_wildcard_subscribe": { "enabled": false } } }</code>
/// </summary>
public sealed class DetectionOptions
{
    /// <summary>Snake-case names, comments and trailing commas allowed, unknown members refused (see <see cref="DetectionOptionsJsonContext"/>).</summary>
    public static JsonSerializerOptions Json => DetectionOptionsJsonContext.Default.Options;

    /// <summary>Built-in threshold and window per rule (threshold meaning in the comment).</summary>
    public static IReadOnlyDictionary<string, (double Threshold, double WindowSeconds)> Defaults { get; } = new Dictionary<string, (double, double)>(StringComparer.Ordinal)
    {
        ["modbus_function_code_scan"] = (8, 60),     // distinct function codes from one client to one server
        ["modbus_points_scan"] = (10, 60),           // ILLEGAL_DATA_ADDRESS exceptions (or distinct 100-address blocks) from one client to one server
        ["modbus_unit_id_scan"] = (8, 60),           // distinct unit ids from one client to one server
        ["modbus_exception_burst"] = (10, 10),       // SLAVE_DEVICE_BUSY / ACKNOWLEDGE exceptions server to client
        ["modbus_request_flood"] = (200, 1),         // requests from one client to one server
        ["mqtt_auth_bruteforce"] = (5, 60),          // refused CONNACKs to one source
        ["mqtt_oversize_payload"] = (65536, 0),      // PUBLISH payload bytes
        ["coap_amplification"] = (10, 60),           // response bytes / request bytes between two hosts (with at least 2048 response bytes)
        ["ics_port_scan"] = (6, 60),                 // distinct (host, ICS port) targets SYNed by one source (or 4x that many ports of any kind)
        ["polling_cycle_deviation"] = (3, 0),        // factor between an observed period and the learned one
        ["modbus_write_value_out_of_range"] = (0, 0), // tolerance added to the learned min/max
        ["process_value_out_of_range"] = (0, 0),
    };

    /// <summary>Repeats of a type between the same endpoints within this packet-time window update one alert.</summary>
    public double AggregationWindowSeconds { get; set; } = 600;

    /// <summary>Learning time (packet time) of a new store's baseline before it switches to protection.</summary>
    public double LearningHours { get; set; } = 24;

    /// <summary>In protection mode, do not raise again policy alerts whose type and endpoints were seen while learning.</summary>
    public bool SuppressLearnedPolicyAlerts { get; set; } = true;

    /// <summary>Packets kept per alert trace (the trigger and the ones of the same flow before it).</summary>
    public int TracePackets { get; set; } = 16;

    /// <summary>Bytes of recent frames kept for traces (all flows).</summary>
    public int TraceRingBytes { get; set; } = 8 << 20;

    /// <summary>Frames kept for traces (all flows).</summary>
    public int TraceRingFrames { get; set; } = 32768;

    /// <summary>Open (aggregating) alerts kept in memory; beyond it the oldest is closed.</summary>
    public int MaxOpenAlerts { get; set; } = 10000;

    /// <summary>Per-source trackers (scans, floods) kept; beyond it the table is cleared and the drop counted.</summary>
    public int MaxTrackers { get; set; } = 50000;

    public Dictionary<string, RuleSettings> Rules { get; set; } = new(StringComparer.Ordinal);

    public bool IsEnabled(string type) => !Rules.TryGetValue(type, out var r) || r.Enabled != false;

    public int SeverityOf(AlertType type) => Rules.TryGetValue(type.Id, out var r) && r.Severity is int s ? Math.Clamp(s, 0, 10) : type.Severity;

    public double Threshold(string type) => Rules.TryGetValue(type, out var r) && r.Threshold is double t ? t : Defaults.TryGetValue(type, out var d) ? d.Threshold : 0;

    public long WindowNs(string type)
    {
        double s = Rules.TryGetValue(type, out var r) && r.WindowSeconds is double w ? w : Defaults.TryGetValue(type, out var d) ? d.WindowSeconds : 60;
        return (long)(s * 1e9);
    }

    /// <summary>Reads a JSON config file; throws <see cref="FormatException"/> naming the file and the problem.</summary>
    public static DetectionOptions Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new FormatException($"rules config '{path}': {ex.Message}", ex);
        }
        return Parse(text, path);
    }

    public static DetectionOptions Parse(string json, string source = "rules config")
    {
        DetectionOptions? o;
        try
        {
            o = JsonSerializer.Deserialize(json, DetectionOptionsJsonContext.Default.DetectionOptions);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"{source}: {ex.Message}", ex);
        }
        if (o is null) throw new FormatException($"{source}: empty");
        var rules = new Dictionary<string, RuleSettings>(StringComparer.Ordinal);
        foreach (var (id, r) in o.Rules)
        {
            if (!AlertCatalog.TryGet(id, out _)) throw new FormatException($"{source}: unknown alert type '{id}' (see 'otsensor rules')");
            if (r.Severity is < 0 or > 10) throw new FormatException($"{source}: {id}: severity must be 0-10");
            if (r.Threshold is < 0 || r.WindowSeconds is < 0) throw new FormatException($"{source}: {id}: threshold and window_seconds must not be negative");
            rules[id] = r;
        }
        if (o.AggregationWindowSeconds < 0 || o.LearningHours < 0 || o.TracePackets < 1 || o.TraceRingBytes < 65536 || o.TraceRingFrames < 64 || o.MaxOpenAlerts < 1 || o.MaxTrackers < 1)
            throw new FormatException($"{source}: a global setting is out of range");
        o.Rules = rules;
        return o;
    }
}

/// <summary>Compile-time JSON metadata for the rules config (no reflection; the same options as before).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true, WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(DetectionOptions))]
internal sealed partial class DetectionOptionsJsonContext : JsonSerializerContext;
