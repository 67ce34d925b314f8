namespace OtSensor.Detection;

/// <summary>
/// One alert, as stored, listed (`otsensor alerts --json`) and forwarded (CEF). Field names of the JSON form are the
/// snake_case of these properties. Repeats of the same type between the same endpoints within the aggregation window
/// update <see cref="Count"/> and <see cref="LastSeenNs"/> of one alert instead of creating new ones.
/// </summary>
public sealed class Alert
{
    /// <summary>Store sequence number (monotonic, assigned when first committed); 0 before.</summary>
    public long Id { get; set; }
    /// <summary>Catalog id, e.g. <c>modbus_diag_force_listen_only</c>.</summary>
    public required string Type { get; init; }
    public int SignatureId { get; init; }
    public required string Name { get; init; }
    /// <summary>0–10.</summary>
    public int Severity { get; set; }
    /// <summary>protocol-violation, policy, reconnaissance, baseline-deviation, process-deviation, denial-of-service.</summary>
    public required string Category { get; init; }
    public IReadOnlyList<string> Mitre { get; init; } = [];
    /// <summary>Packet time (ns since the Unix epoch).</summary>
    public long FirstSeenNs { get; set; }
    public long LastSeenNs { get; set; }
    public long Count { get; set; } = 1;
    /// <summary>modbus, mqtt, coap, tcp, udp...</summary>
    public string Proto { get; init; } = "";
    public string? SrcAsset { get; set; }
    public string? SrcIp { get; init; }
    public string? SrcMac { get; init; }
    public int? SrcPort { get; init; }
    public string? DstAsset { get; set; }
    public string? DstIp { get; init; }
    public string? DstMac { get; init; }
    public int? DstPort { get; init; }
    /// <summary>Human-readable; wire strings inside are already sanitised (no control characters, bounded).</summary>
    public required string Message { get; set; }
    /// <summary>Protocol evidence: unit id, function code, addresses, values, topic, client id, CoAP path and code...</summary>
    public AlertEvidence Evidence { get; init; } = new();
    /// <summary>Frame numbers (replay) of the packets kept as the alert's trace, trigger last.</summary>
    public IReadOnlyList<long> TracePackets { get; init; } = [];
}

/// <summary>
/// The store side of alerts that sinks read from: alerts are committed before they are forwarded, and each
/// forwarder keeps its own cursor, advanced only after delivery (at-least-once; <see cref="Alert.Id"/> lets the SIEM
/// de-duplicate).
/// </summary>
public interface IAlertOutbox
{
    /// <summary>Alerts with an id greater than <paramref name="afterId"/>, oldest first, at most <paramref name="max"/>.</summary>
    IReadOnlyList<Alert> ReadAfter(long afterId, int max);

    /// <summary>The last delivered alert id of a destination (0 when it never delivered).</summary>
    long GetCursor(string destination);

    /// <summary>Moves a destination's cursor forward (never backward).</summary>
    void SetCursor(string destination, long deliveredId);
}
