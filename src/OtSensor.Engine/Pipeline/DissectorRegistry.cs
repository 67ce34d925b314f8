using OtSensor.Decoding;
using OtSensor.Flows;
using OtSensor.Protocols.Coap;
using OtSensor.Protocols.Modbus;
using OtSensor.Protocols.Mqtt;

namespace OtSensor.Pipeline;

/// <summary>Options that choose and configure the dissectors.</summary>
public sealed class DissectorOptions
{
    /// <summary>TCP ports dissected as Modbus/TCP without asking the payload (502 by default).</summary>
    public HashSet<ushort> ModbusPorts { get; } = [502];
    /// <summary>Look for Modbus/TCP by payload on any other TCP port.</summary>
    public bool ModbusHeuristics { get; set; } = true;
    public ModbusOptions Modbus { get; set; } = new();

    /// <summary>TCP ports dissected as MQTT without asking the payload (1883 by default).</summary>
    public HashSet<ushort> MqttPorts { get; } = [1883];
    /// <summary>TCP ports carrying MQTT over TLS (recorded, not decoded).</summary>
    public HashSet<ushort> MqttTlsPorts { get; } = [8883];
    /// <summary>Look for MQTT (a CONNECT) by payload on any other TCP port.</summary>
    public bool MqttHeuristics { get; set; } = true;
    public MqttOptions Mqtt { get; set; } = new();

    /// <summary>UDP ports dissected as CoAP without asking the payload (5683 by default).</summary>
    public HashSet<ushort> CoapPorts { get; } = [5683];
    /// <summary>UDP ports carrying CoAP over DTLS (recorded, not decoded).</summary>
    public HashSet<ushort> CoapDtlsPorts { get; } = [5684];
    /// <summary>Look for CoAP by payload on any other UDP port.</summary>
    public bool CoapHeuristics { get; set; } = true;
    public CoapOptions Coap { get; set; } = new();
}

/// <summary>Chooses a dissector for a new flow: by the server port first, then by payload heuristics.</summary>
public sealed class DissectorRegistry : IDissectorFactory
{
    private readonly DissectorOptions _options;
    private readonly IEventSink _sink;

    public DissectorRegistry(DissectorOptions options, IEventSink sink)
    {
        _options = options;
        _sink = sink;
    }

    /// <summary>Payloads that hinted at a protocol while the flow was undecided (bounded), replayed on selection.</summary>
    private readonly Dictionary<long, List<(Direction Direction, byte[] Data)>> _held = [];
    private readonly Queue<long> _heldOrder = new();
    private const int MaxHeldFlows = 256;
    private const int MaxHeldBytesPerFlow = 4096;

    private void Hold(FlowContext flow, Direction direction, ReadOnlySpan<byte> payload)
    {
        if (!_held.TryGetValue(flow.FlowId, out var list))
        {
            if (_held.Count >= MaxHeldFlows && _heldOrder.TryDequeue(out long oldest)) _held.Remove(oldest);
            list = [];
            _held[flow.FlowId] = list;
            _heldOrder.Enqueue(flow.FlowId);
        }
        int held = 0;
        foreach (var (_, d) in list) held += d.Length;
        if (held + payload.Length <= MaxHeldBytesPerFlow) list.Add((direction, payload.ToArray()));
    }

    private void Replay(FlowContext flow, IFlowDissector dissector)
    {
        if (!_held.Remove(flow.FlowId, out var list)) return;
        var meta = new PacketMeta(flow.FirstSeenNs, flow.FlowId);
        foreach (var (direction, data) in list) dissector.OnStreamData(flow, direction, data, in meta);
    }

    private void Forget(long flowId) => _held.Remove(flowId);

    // Sessions of closed flows, kept for new ones: most UDP flows are one CoAP exchange from an ephemeral port, and
    // constructing a session with its lists and rings for each of them was most of what a busy capture allocated.
    // A session comes back in the state of a new one (ResetForReuse); the pools are per worker, like the registry.
    private const int MaxFreeSessions = 1024;
    private readonly Stack<CoapSession> _freeCoap = new();
    private readonly Stack<MqttSession> _freeMqtt = new();

    private CoapSession NewCoap() => _freeCoap.TryPop(out var s) ? s : new CoapSession(_sink, _options.Coap);

    private MqttSession NewMqtt() => _freeMqtt.TryPop(out var s) ? s : new MqttSession(_sink, _options.Mqtt);

    public void Release(IFlowDissector dissector)
    {
        switch (dissector)
        {
            case CoapSession coap when _freeCoap.Count < MaxFreeSessions:
                coap.ResetForReuse();
                _freeCoap.Push(coap);
                break;
            case MqttSession mqtt when _freeMqtt.Count < MaxFreeSessions:
                mqtt.ResetForReuse();
                _freeMqtt.Push(mqtt);
                break;
        }
    }

    public DissectorChoice Select(FlowContext flow, Direction direction, ReadOnlySpan<byte> payload, out IFlowDissector? dissector)
    {
        dissector = null;
        if (flow.Transport == TransportLayer.Tcp)
        {
            if (_options.ModbusPorts.Contains(flow.ServerPort))
            {
                dissector = new ModbusSession(_sink, _options.Modbus);
                flow.Protocol = ProtocolId.Modbus;
                return DissectorChoice.Selected;
            }
            if (_options.ModbusPorts.Contains(flow.ClientPort) && !_options.ModbusPorts.Contains(flow.ServerPort))
            {
                // The handshake says the Modbus port opened the connection (a device calling out, or a capture that
                // began with an odd SYN): dissect it with the roles the port implies.
                dissector = new ModbusSession(_sink, _options.Modbus, serverIsFlowClient: true);
                flow.Protocol = ProtocolId.Modbus;
                return DissectorChoice.Selected;
            }
            if (_options.MqttPorts.Contains(flow.ServerPort))
            {
                dissector = NewMqtt();
                flow.Protocol = ProtocolId.Mqtt;
                return DissectorChoice.Selected;
            }
            if (_options.MqttTlsPorts.Contains(flow.ServerPort))
            {
                flow.Protocol = ProtocolId.MqttTls;
                return DissectorChoice.None;
            }
            if (payload.IsEmpty) return DissectorChoice.Undecided;
            bool fromClient = direction == Direction.ToServer;
            if (_options.ModbusHeuristics && ModbusProbe.LooksLikeModbus(payload, fromClient))
            {
                dissector = new ModbusSession(_sink, _options.Modbus);
                flow.Protocol = ProtocolId.Modbus;
                return DissectorChoice.Selected;
            }
            if (_options.MqttHeuristics)
            {
                if (fromClient && MqttProbe.LooksLikeMqtt(payload, fromClient))
                {
                    Forget(flow.FlowId);
                    dissector = NewMqtt();
                    flow.Protocol = ProtocolId.Mqtt;
                    return DissectorChoice.Selected;
                }
                switch (MqttProbe.MidStreamEvidence(payload))
                {
                    case MqttMidStreamEvidence.Strong:
                        // Picked up mid-stream: hand the session the small packets that only hinted at MQTT first,
                        // so none of the connection's packets is lost to the decision.
                        var session = NewMqtt();
                        Replay(flow, session);
                        dissector = session;
                        flow.Protocol = ProtocolId.Mqtt;
                        return DissectorChoice.Selected;
                    case MqttMidStreamEvidence.Weak:
                        Hold(flow, direction, payload);
                        break;
                }
            }
            return DissectorChoice.Undecided;
        }
        if (flow.Transport == TransportLayer.Udp) return SelectUdp(flow, payload, out dissector);
        return DissectorChoice.None;
    }

    private DissectorChoice SelectUdp(FlowContext flow, ReadOnlySpan<byte> payload, out IFlowDissector? dissector)
    {
        dissector = null;
        if (_options.CoapPorts.Contains(flow.ServerPort) || _options.CoapPorts.Contains(flow.ClientPort))
        {
            dissector = NewCoap();
            flow.Protocol = ProtocolId.Coap;
            return DissectorChoice.Selected;
        }
        if (_options.CoapDtlsPorts.Contains(flow.ServerPort) || _options.CoapDtlsPorts.Contains(flow.ClientPort))
        {
            flow.Protocol = ProtocolId.CoapDtls;
            return DissectorChoice.None;
        }
        if (payload.IsEmpty) return DissectorChoice.Undecided;
        if (_options.CoapHeuristics && CoapProbe.LooksLikeCoap(payload))
        {
            dissector = NewCoap();
            flow.Protocol = ProtocolId.Coap;
            return DissectorChoice.Selected;
        }
        return DissectorChoice.Undecided;
    }
}
