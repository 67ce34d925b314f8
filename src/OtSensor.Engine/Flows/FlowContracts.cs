using OtSensor.Core;
using OtSensor.Decoding;

namespace OtSensor.Flows;

/// <summary>Direction of a packet or byte stream relative to the flow's client/server orientation.</summary>
public enum Direction : byte
{
    ToServer = 0,
    ToClient = 1,
}

public enum FlowCloseReason : byte
{
    /// <summary>FIN seen from both sides, or RST.</summary>
    Closed = 0,
    /// <summary>No packet for longer than the idle timeout (packet time).</summary>
    IdleTimeout = 1,
    /// <summary>Evicted to respect the max-flows bound.</summary>
    Evicted = 2,
    /// <summary>End of the capture (replay finished or capture stopped).</summary>
    EndOfCapture = 3,
}

/// <summary>Where a packet is in the capture: its time and its 1-based frame number.</summary>
public readonly record struct PacketMeta(long TimestampNs, long PacketNumber);

/// <summary>
/// One flow (TCP connection or UDP conversation), oriented client → server. Allocated once per flow,
/// owned by exactly one worker, so it needs no lock.
/// </summary>
public sealed class FlowContext
{
    /// <summary>Deterministic id: the frame number of the flow's first packet.</summary>
    public long FlowId { get; set; }
    public TransportLayer Transport { get; set; }
    public ushort Vlan { get; set; }
    public ushort InnerVlan { get; set; }
    public IpAddr ClientIp { get; set; }
    public ushort ClientPort { get; set; }
    public IpAddr ServerIp { get; set; }
    public ushort ServerPort { get; set; }
    public MacAddress ClientMac { get; set; }
    public MacAddress ServerMac { get; set; }
    /// <summary>True when the orientation came from the handshake (SYN); false when guessed from ports mid-stream.</summary>
    public bool OrientationFromHandshake { get; set; }
    public long FirstSeenNs { get; set; }
    public long LastSeenNs { get; set; }
    public long PacketsToServer { get; set; }
    public long PacketsToClient { get; set; }
    public long BytesToServer { get; set; }
    public long BytesToClient { get; set; }
    /// <summary>The application protocol dissecting this flow, once chosen.</summary>
    public ProtocolId Protocol { get; set; }

    public void Reset()
    {
        FlowId = 0; Transport = TransportLayer.None; Vlan = 0; InnerVlan = 0;
        ClientIp = default; ClientPort = 0; ServerIp = default; ServerPort = 0;
        ClientMac = default; ServerMac = default; OrientationFromHandshake = false;
        FirstSeenNs = 0; LastSeenNs = 0; PacketsToServer = 0; PacketsToClient = 0;
        BytesToServer = 0; BytesToClient = 0; Protocol = ProtocolId.Unknown;
    }
}

/// <summary>
/// A per-flow protocol dissector. TCP flows receive in-order stream bytes (after reassembly) and gap notices;
/// UDP flows receive whole datagrams. Implementations never throw on bad input: they report anomalies.
/// </summary>
public interface IFlowDissector
{
    /// <summary>In-order TCP bytes for one direction. The span is only valid during the call.</summary>
    void OnStreamData(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta);

    /// <summary>Bytes that will never arrive (lost segment, out-of-order buffer overflow) in one direction.</summary>
    void OnStreamGap(FlowContext flow, Direction direction, long missingBytes, in PacketMeta meta);

    /// <summary>One UDP datagram's payload.</summary>
    void OnDatagram(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta);

    /// <summary>Packet time advanced (called at least once per batch for live flows): expire pending state.</summary>
    void OnTick(FlowContext flow, long nowNs);

    /// <summary>The flow ends: flush pending transactions (unanswered requests), release buffers.</summary>
    void OnClose(FlowContext flow, FlowCloseReason reason, long nowNs);
}

public enum DissectorChoice : byte
{
    /// <summary>A dissector was chosen for the flow.</summary>
    Selected = 0,
    /// <summary>Not enough evidence yet: ask again with the next payload.</summary>
    Undecided = 1,
    /// <summary>No dissector applies: stop asking for this flow.</summary>
    None = 2,
}

/// <summary>Chooses a dissector for a flow by port and by payload heuristics.</summary>
public interface IDissectorFactory
{
    /// <summary>
    /// Called for a new flow's first payload (and again for later payloads while it answers Undecided, up to a bound).
    /// <paramref name="payload"/> is the first in-order payload seen in <paramref name="direction"/>; it may be empty
    /// (a handshake-only flow on a well-known port).
    /// </summary>
    DissectorChoice Select(FlowContext flow, Direction direction, ReadOnlySpan<byte> payload, out IFlowDissector? dissector);

    /// <summary>
    /// A closed flow's dissector, after its <see cref="IFlowDissector.OnClose"/>: the factory may keep it for a later flow
    /// (the flow table never touches it again).
    /// </summary>
    void Release(IFlowDissector dissector)
    {
    }
}
