using OtSensor.Core;

namespace OtSensor.Flows;

/// <summary>Bounds and timeouts of a <see cref="FlowTable"/>. Times are packet time (ns).</summary>
public sealed class FlowTableOptions
{
    /// <summary>Flows kept at once; when full, the least recently seen flow is evicted (closed flows first).</summary>
    public int MaxFlows { get; set; } = 100_000;

    public long TcpIdleTimeoutNs { get; set; } = 600 * PacketTime.NanosPerSecond;

    /// <summary>How long a TCP flow stays after FIN both ways or RST (absorbs late retransmissions and ACKs).</summary>
    public long TcpClosedTimeoutNs { get; set; } = 5 * PacketTime.NanosPerSecond;

    public long UdpIdleTimeoutNs { get; set; } = 120 * PacketTime.NanosPerSecond;

    /// <summary>Out-of-order bytes buffered per direction; beyond it the hole is declared a gap.</summary>
    public int MaxOutOfOrderBytesPerDirection { get; set; } = 256 * 1024;

    /// <summary>Out-of-order segments buffered per direction (bounds the work an adversary can cause with tiny segments).</summary>
    public int MaxOutOfOrderSegmentsPerDirection { get; set; } = 2048;

    /// <summary>Payload packets offered to the factory while it answers Undecided.</summary>
    public int MaxSelectAttempts { get; set; } = 4;

    /// <summary>
    /// Minimum packet time between two rounds of <see cref="IFlowDissector.OnTick"/> in <see cref="FlowTable.Advance"/>.
    /// 0 = every call. A round costs one call per dissected flow, so it is rate limited by default.
    /// </summary>
    public long TickIntervalNs { get; set; } = PacketTime.NanosPerSecond;
}

/// <summary>Counters of one <see cref="FlowTable"/> (one worker). Plain fields: the owning worker updates them without locks.</summary>
public sealed class FlowTableStats
{
    public long FlowsCreated;
    public long TcpFlows;
    public long UdpFlows;
    /// <summary>Flows ended by FIN both ways or RST (after the closed timeout), or replaced by a new SYN on the same 5-tuple.</summary>
    public long FlowsClosed;
    public long FlowsTimedOut;
    public long FlowsEvicted;
    /// <summary>Flows closed by <see cref="FlowTable.CloseAll"/>.</summary>
    public long FlowsEndOfCapture;
    public long ActiveFlows;
    /// <summary>Segments whose bytes had all been received already (delivered or buffered).</summary>
    public long Retransmissions;
    /// <summary>Duplicate bytes received: whole retransmissions plus the already-received part of overlapping segments.</summary>
    public long RetransmittedBytes;
    /// <summary>Segments partly overlapping bytes already received (only the new part is used).</summary>
    public long Overlaps;
    /// <summary>Segments whose bytes differ from buffered bytes at the same sequence numbers (the first copy wins).</summary>
    public long ConflictingOverlaps;
    public long OutOfOrderSegments;
    public long Gaps;
    public long GapBytes;
    /// <summary>Times the out-of-order buffer bound forced a gap.</summary>
    public long OutOfOrderOverflows;
    /// <summary>TCP flows that started without a SYN (orientation guessed from ports).</summary>
    public long MidstreamPickups;
    public long PacketsNotTcpUdp;
    /// <summary>TCP packets of a flow after its RST (ignored for reassembly).</summary>
    public long PacketsAfterReset;
}
