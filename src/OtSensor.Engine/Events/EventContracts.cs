using OtSensor.Flows;

namespace OtSensor;

/// <summary>Application protocols the sensor dissects. Stable numeric values.</summary>
public enum ProtocolId : byte
{
    Unknown = 0,
    Modbus = 1,
    Mqtt = 2,
    Coap = 3,
    MqttTls = 4,
    CoapDtls = 5,
}

/// <summary>
/// A request matched with its response (or either one alone). The protocol data travels as the raw request and
/// response messages (bounded); consumers decode them with the protocol's pure reader when they need fields.
/// </summary>
public struct TransactionRecord
{
    public ProtocolId Protocol;
    public bool HasRequest;
    public bool HasResponse;
    /// <summary>Packet time (ns since epoch) of the request, or 0.</summary>
    public long RequestTs;
    public long ResponseTs;
    /// <summary>Frame number (1-based) of the packet that completed the request / response, or 0.</summary>
    public long RequestPacket;
    public long ResponsePacket;
    /// <summary>Protocol key used for matching (Modbus: transaction id | unit id &lt;&lt; 16).</summary>
    public uint Key;
    /// <summary>Bit i set = protocol anomaly id i was seen in this transaction.</summary>
    public ulong Anomalies;
    /// <summary>The request / response message was longer than what is carried and was cut.</summary>
    public bool RequestTruncated;
    public bool ResponseTruncated;
    /// <summary>
    /// False: request/response are the raw messages (Modbus ADUs). True: the request span carries the event's decoded
    /// fields as an <see cref="EventFieldWriter"/> blob (MQTT, CoAP) and the response span is empty.
    /// </summary>
    public bool FieldsEncoded;
}

/// <summary>A protocol anomaly not carried by a transaction (framing error, gap, non-protocol data on the port...).</summary>
public struct AnomalyRecord
{
    public ProtocolId Protocol;
    /// <summary>The protocol's stable anomaly id (e.g. <c>ModbusAnomaly</c> value).</summary>
    public int AnomalyId;
    public Direction Direction;
    public long Ts;
    public long PacketNumber;
    /// <summary>A number that qualifies the anomaly (a bad length, a function code...), or 0.</summary>
    public long Detail;
}

/// <summary>
/// Where dissectors send what they find. Implemented by the pipeline worker (which copies what it must keep into
/// pooled buffers) and by tests and benchmarks. Spans are only valid during the call.
/// </summary>
public interface IEventSink
{
    void Transaction(FlowContext flow, in TransactionRecord transaction, ReadOnlySpan<byte> request, ReadOnlySpan<byte> response);

    void Anomaly(FlowContext flow, in AnomalyRecord anomaly);
}
