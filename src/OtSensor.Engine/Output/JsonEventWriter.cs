using System.Buffers;
using System.Text.Json;
using OtSensor.Core;
using OtSensor.Pipeline;

namespace OtSensor.Output;

/// <summary>
/// Writes one JSON object per event (JSON lines): transactions with the fields scripts rely on (see README), and
/// protocol anomalies that belong to no transaction. Timestamps are packet time, RFC 3339 UTC.
/// </summary>
public sealed class JsonEventWriter : IEventConsumer, IDisposable
{
    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly ArrayBufferWriter<byte> _buffer = new(4096);
    private readonly Utf8JsonWriter _json;
    private bool _disposed;

    public JsonEventWriter(string path)
        : this(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 20), leaveOpen: false)
    {
    }

    public JsonEventWriter(Stream stream, bool leaveOpen = true)
    {
        _stream = stream;
        _leaveOpen = leaveOpen;
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    public long Written { get; private set; }

    public void OnPackets(PacketBatch batch) { }

    public void OnEvent(in EventEntry entry, EventBuffer buffer, PacketBatch batch)
    {
        _json.Reset();
        _buffer.Clear();
        _json.WriteStartObject();
        if (entry.Kind == EventKind.Transaction) WriteTransaction(in entry, buffer);
        else WriteAnomaly(in entry);
        _json.WriteEndObject();
        _json.Flush();
        _stream.Write(_buffer.WrittenSpan);
        _stream.WriteByte((byte)'\n');
        Written++;
    }

    private void WriteCommon(in EventEntry e, long ts, ProtocolId proto, string eventType)
    {
        var w = _json;
        w.WriteString("ts", PacketTime.ToRfc3339(ts));
        w.WriteString("event_type", eventType);
        w.WriteString("proto", ProtocolName(proto));
        w.WriteString("client_ip", e.Flow.ClientIp.ToString());
        w.WriteNumber("client_port", e.Flow.ClientPort);
        w.WriteString("server_ip", e.Flow.ServerIp.ToString());
        w.WriteNumber("server_port", e.Flow.ServerPort);
        if (e.Flow.Vlan != 0) w.WriteNumber("vlan", e.Flow.Vlan);
        else w.WriteNull("vlan");
        if (e.Flow.InnerVlan != 0) w.WriteNumber("inner_vlan", e.Flow.InnerVlan);
        w.WriteNumber("flow_id", e.Flow.FlowId);
    }

    private void WriteTransaction(in EventEntry e, EventBuffer buffer)
    {
        ref readonly var tx = ref e.Transaction;
        long ts = tx.HasRequest ? tx.RequestTs : tx.ResponseTs;
        WriteCommon(in e, ts, tx.Protocol, "transaction");
        var req = buffer.Slice(e.RequestOffset, e.RequestLength);
        var resp = buffer.Slice(e.ResponseOffset, e.ResponseLength);
        if (tx.FieldsEncoded) EventFieldJson.Write(_json, req, FieldNames(tx.Protocol));
        else if (tx.Protocol == ProtocolId.Modbus) ModbusEventFields.Write(_json, in tx, req, resp);
        var w = _json;
        w.WriteBoolean("has_request", tx.HasRequest);
        w.WriteBoolean("has_response", tx.HasResponse);
        if (tx.HasRequest && tx.HasResponse) w.WriteNumber("latency_ms", Math.Round((tx.ResponseTs - tx.RequestTs) / 1e6, 3));
        else w.WriteNull("latency_ms");
        if (tx.HasRequest) w.WriteNumber("request_packet", tx.RequestPacket);
        if (tx.HasResponse) w.WriteNumber("response_packet", tx.ResponsePacket);
        w.WriteStartArray("anomalies");
        for (ulong m = tx.Anomalies; m != 0; m &= m - 1)
            w.WriteStringValue(AnomalyId(tx.Protocol, System.Numerics.BitOperations.TrailingZeroCount(m)));
        w.WriteEndArray();
    }

    private void WriteAnomaly(in EventEntry e)
    {
        ref readonly var a = ref e.Anomaly;
        WriteCommon(in e, a.Ts, a.Protocol, "anomaly");
        var w = _json;
        w.WriteString("anomaly", AnomalyId(a.Protocol, a.AnomalyId));
        w.WriteString("direction", a.Direction == Flows.Direction.ToServer ? "to_server" : "to_client");
        w.WriteNumber("packet", a.PacketNumber);
        w.WriteNumber("detail", a.Detail);
    }

    public static string ProtocolName(ProtocolId p) => p switch
    {
        ProtocolId.Modbus => "modbus",
        ProtocolId.Mqtt => "mqtt",
        ProtocolId.Coap => "coap",
        ProtocolId.MqttTls => "mqtt-tls",
        ProtocolId.CoapDtls => "coap-dtls",
        _ => "unknown",
    };

    /// <summary>The field-name table of a protocol whose events carry <see cref="EventFieldWriter"/> blobs.</summary>
    public static Func<byte, string> FieldNames(ProtocolId p) => p switch
    {
        ProtocolId.Coap => Protocols.Coap.CoapFields.Name,
        ProtocolId.Mqtt => Protocols.Mqtt.MqttFields.Name,
        _ => static id => "field_" + id.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public static string AnomalyId(ProtocolId p, int id) => p switch
    {
        ProtocolId.Modbus => Protocols.Modbus.ModbusAnomalies.Info((Protocols.Modbus.ModbusAnomaly)id).Id,
        ProtocolId.Coap => Protocols.Coap.CoapAnomalies.Info((Protocols.Coap.CoapAnomaly)id).Id,
        ProtocolId.Mqtt => Protocols.Mqtt.MqttAnomalies.Info((Protocols.Mqtt.MqttAnomaly)id).Id,
        _ => $"{ProtocolName(p)}_anomaly_{id}",
    };

    public void OnComplete(ReplayStats stats) => _stream.Flush();

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _json.Dispose();
        _stream.Flush();
        if (!_leaveOpen) _stream.Dispose();
    }
}
