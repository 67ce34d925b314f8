namespace OtSensor.Protocols.Mqtt;

/// <summary>
/// MQTT protocol anomalies. The numeric values are stable (1..63): they are the bit index in
/// <see cref="TransactionRecord.Anomalies"/> and the <see cref="AnomalyRecord.AnomalyId"/>. Never renumber.
/// </summary>
public enum MqttAnomaly : byte
{
    None = 0,
    /// <summary>The remaining length has a 5th continuation byte (or the stream cannot be framed).</summary>
    MalformedRemainingLength = 1,
    /// <summary>Packet type 0, or 15 (AUTH) in MQTT 3.1 / 3.1.1.</summary>
    ReservedPacketType = 2,
    /// <summary>Fixed-header flags other than the ones the packet type requires.</summary>
    InvalidFlags = 3,
    /// <summary>QoS 3 in a PUBLISH, a will, or a subscription option.</summary>
    InvalidQos = 4,
    /// <summary>A client packet other than CONNECT before CONNECT on a connection seen from its start.</summary>
    PublishBeforeConnect = 5,
    /// <summary>A second CONNECT on the same connection.</summary>
    DoubleConnect = 6,
    /// <summary>The packet does not decode (lengths inconsistent with the remaining length, missing fields).</summary>
    MalformedPacket = 7,
    /// <summary>Packet identifier 0 where one is required.</summary>
    MissingPacketId = 8,
    /// <summary>A UTF-8 string is not well-formed, or holds U+0000.</summary>
    MalformedUtf8 = 9,
    /// <summary>A v5 property is unknown, duplicated, not allowed in the packet, or its value does not fit.</summary>
    MalformedProperty = 10,
    /// <summary>A packet larger than the configured maximum: its head was decoded, the rest skipped.</summary>
    OversizePacket = 11,
    /// <summary>An acknowledgement with no matching request.</summary>
    UnexpectedResponse = 12,
    /// <summary>Bytes lost in the stream (TCP gap) dropped a partial packet.</summary>
    StreamGap = 13,
    /// <summary>The stream was resynchronised on a plausible fixed header after a gap or garbage.</summary>
    StreamResync = 14,
    /// <summary>The direction kept failing to frame as MQTT; dissection stopped for it.</summary>
    DissectionAbandoned = 15,
    /// <summary>The reserved CONNECT flag (bit 0) is set.</summary>
    ConnectReservedFlag = 16,
    /// <summary>Protocol name / level not MQTT 3.1, 3.1.1 or 5.</summary>
    UnknownProtocolVersion = 17,
    /// <summary>Will QoS/retain set without the will flag, or password without user name in 3.1.1.</summary>
    InvalidConnectFlags = 18,
    /// <summary>A PUBLISH topic name with a wildcard (+ or #), or an empty topic without a topic alias.</summary>
    InvalidTopic = 19,
    /// <summary>A topic alias that was never set, is 0, or above the bound kept per connection.</summary>
    UnknownTopicAlias = 20,
    /// <summary>A SUBSCRIBE / UNSUBSCRIBE without any topic filter.</summary>
    EmptySubscription = 21,
    /// <summary>A request reused a packet id still pending; the older one is reported unanswered.</summary>
    DuplicatePacketId = 22,
    /// <summary>The pending-request table was full; the oldest request is reported unanswered.</summary>
    PendingOverflow = 23,
    /// <summary>A packet sent in the wrong direction (CONNACK from the client, SUBSCRIBE from the server...).</summary>
    WrongDirection = 24,
    /// <summary>A reserved bit of the subscription options is set, or retain handling is 3.</summary>
    InvalidSubscriptionOptions = 25,
    /// <summary>A CONNACK / SUBACK / ack return or reason code the specification does not define.</summary>
    InvalidReasonCode = 26,
    /// <summary>A PUBLISH with QoS 0 and the DUP flag set.</summary>
    DupWithQos0 = 27,
    /// <summary>The number of SUBACK / UNSUBACK codes differs from the request's topic filters.</summary>
    AckCountMismatch = 28,
}

/// <summary>Catalog entry of one anomaly: its string id, CEF signature id, name, severity (0-10) and category.</summary>
public readonly record struct MqttAnomalyInfo(string Id, int SignatureId, string Name, int Severity, string Category);

/// <summary>The catalog table of <see cref="MqttAnomaly"/>.</summary>
public static class MqttAnomalies
{
    public const int SignatureBase = 2000;

    private const string ProtocolViolation = "protocol-violation";
    private const string StreamCategory = "stream";
    private const string SessionCategory = "session";

    private static readonly MqttAnomalyInfo[] Table = BuildTable();

    /// <summary>All defined anomalies, in id order.</summary>
    public static IReadOnlyList<MqttAnomaly> All { get; } = [.. Enum.GetValues<MqttAnomaly>().Where(a => a != MqttAnomaly.None)];

    private static MqttAnomalyInfo[] BuildTable()
    {
        var t = new MqttAnomalyInfo[64];
        void Add(MqttAnomaly a, string id, string name, int severity, string category)
            => t[(int)a] = new MqttAnomalyInfo(id, SignatureBase + (int)a, name, severity, category);

        Add(MqttAnomaly.None, "mqtt_none", "No anomaly", 0, ProtocolViolation);
        Add(MqttAnomaly.MalformedRemainingLength, "mqtt_malformed_remaining_length", "MQTT remaining length longer than 4 bytes", 6, ProtocolViolation);
        Add(MqttAnomaly.ReservedPacketType, "mqtt_reserved_packet_type", "MQTT reserved control packet type", 5, ProtocolViolation);
        Add(MqttAnomaly.InvalidFlags, "mqtt_invalid_flags", "MQTT fixed header flags invalid for the packet type", 5, ProtocolViolation);
        Add(MqttAnomaly.InvalidQos, "mqtt_invalid_qos", "MQTT QoS 3", 5, ProtocolViolation);
        Add(MqttAnomaly.PublishBeforeConnect, "mqtt_publish_before_connect", "MQTT client packet before CONNECT", 6, SessionCategory);
        Add(MqttAnomaly.DoubleConnect, "mqtt_double_connect", "MQTT second CONNECT on a connection", 5, SessionCategory);
        Add(MqttAnomaly.MalformedPacket, "mqtt_malformed_packet", "MQTT malformed packet", 5, ProtocolViolation);
        Add(MqttAnomaly.MissingPacketId, "mqtt_missing_packet_id", "MQTT packet identifier 0 where one is required", 4, ProtocolViolation);
        Add(MqttAnomaly.MalformedUtf8, "mqtt_malformed_utf8", "MQTT ill-formed UTF-8 string", 4, ProtocolViolation);
        Add(MqttAnomaly.MalformedProperty, "mqtt_malformed_property", "MQTT 5 malformed, unknown or duplicate property", 4, ProtocolViolation);
        Add(MqttAnomaly.OversizePacket, "mqtt_oversize_packet", "MQTT packet above the configured maximum size", 4, ProtocolViolation);
        Add(MqttAnomaly.UnexpectedResponse, "mqtt_unexpected_response", "MQTT acknowledgement without a matching request", 3, SessionCategory);
        Add(MqttAnomaly.StreamGap, "mqtt_stream_gap", "MQTT stream bytes lost", 2, StreamCategory);
        Add(MqttAnomaly.StreamResync, "mqtt_stream_resync", "MQTT stream resynchronised", 2, StreamCategory);
        Add(MqttAnomaly.DissectionAbandoned, "mqtt_dissection_abandoned", "MQTT dissection abandoned on non-MQTT data", 5, StreamCategory);
        Add(MqttAnomaly.ConnectReservedFlag, "mqtt_connect_reserved_flag", "MQTT CONNECT reserved flag set", 5, ProtocolViolation);
        Add(MqttAnomaly.UnknownProtocolVersion, "mqtt_unknown_protocol_version", "MQTT unknown protocol name or level", 5, ProtocolViolation);
        Add(MqttAnomaly.InvalidConnectFlags, "mqtt_invalid_connect_flags", "MQTT inconsistent CONNECT flags", 4, ProtocolViolation);
        Add(MqttAnomaly.InvalidTopic, "mqtt_invalid_topic", "MQTT invalid PUBLISH topic name", 4, ProtocolViolation);
        Add(MqttAnomaly.UnknownTopicAlias, "mqtt_unknown_topic_alias", "MQTT 5 unknown or invalid topic alias", 4, ProtocolViolation);
        Add(MqttAnomaly.EmptySubscription, "mqtt_empty_subscription", "MQTT SUBSCRIBE/UNSUBSCRIBE without topic filters", 4, ProtocolViolation);
        Add(MqttAnomaly.DuplicatePacketId, "mqtt_duplicate_packet_id", "MQTT packet identifier reused while pending", 3, SessionCategory);
        Add(MqttAnomaly.PendingOverflow, "mqtt_pending_overflow", "MQTT pending request table overflow", 3, SessionCategory);
        Add(MqttAnomaly.WrongDirection, "mqtt_wrong_direction", "MQTT packet sent in the wrong direction", 5, ProtocolViolation);
        Add(MqttAnomaly.InvalidSubscriptionOptions, "mqtt_invalid_subscription_options", "MQTT invalid subscription options", 4, ProtocolViolation);
        Add(MqttAnomaly.InvalidReasonCode, "mqtt_invalid_reason_code", "MQTT undefined return or reason code", 3, ProtocolViolation);
        Add(MqttAnomaly.DupWithQos0, "mqtt_dup_with_qos0", "MQTT PUBLISH with DUP set and QoS 0", 3, ProtocolViolation);
        Add(MqttAnomaly.AckCountMismatch, "mqtt_ack_count_mismatch", "MQTT SUBACK/UNSUBACK code count differs from the request", 3, ProtocolViolation);
        return t;
    }

    /// <summary>Catalog entry of an anomaly. Unknown ids get a generic entry (never throws).</summary>
    public static MqttAnomalyInfo Info(MqttAnomaly anomaly)
    {
        int i = (int)anomaly;
        if (i is > 0 and < 64 && Table[i].Id is not null)
        {
            return Table[i];
        }

        return new MqttAnomalyInfo("mqtt_unknown_anomaly", SignatureBase + (i & 63), "MQTT unknown anomaly", 3, ProtocolViolation);
    }

    /// <summary>Bit of an anomaly in <see cref="TransactionRecord.Anomalies"/>.</summary>
    public static ulong Bit(MqttAnomaly anomaly) => 1UL << (int)anomaly;

    /// <summary>True when <paramref name="mask"/> has <paramref name="anomaly"/> set.</summary>
    public static bool Has(ulong mask, MqttAnomaly anomaly) => (mask & Bit(anomaly)) != 0;
}
