using OtSensor.Decoding;
using OtSensor.Flows;
using OtSensor.Protocols.Coap;
using OtSensor.Protocols.Modbus;

namespace OtSensor.Pipeline;

/// <summary>Options that choose and configure the dissectors.</summary>
public sealed class DissectorOptions
{
    /// <summary>TCP ports dissected as Modbus/TCP without asking the payload (502 by default).</summary>
    public HashSet<ushort> ModbusPorts { get; } = [502];
    /// <summary>Look for Modbus/TCP by payload on any other TCP port.</summary>
    public bool ModbusHeuristics { get; set; } = true;
    public ModbusOptions Modbus { get; set; } = new();

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
            if (payload.IsEmpty) return DissectorChoice.Undecided;
            if (_options.ModbusHeuristics && ModbusProbe.LooksLikeModbus(payload, direction == Direction.ToServer))
            {
                dissector = new ModbusSession(_sink, _options.Modbus);
                flow.Protocol = ProtocolId.Modbus;
                return DissectorChoice.Selected;
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
            dissector = new CoapSession(_sink, _options.Coap);
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
            dissector = new CoapSession(_sink, _options.Coap);
            flow.Protocol = ProtocolId.Coap;
            return DissectorChoice.Selected;
        }
        return DissectorChoice.Undecided;
    }
}
