using OtSensor.Capture;
using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Pipeline;

/// <summary>What was read from one capture file.</summary>
public sealed class CaptureFileStats
{
    public required string Path { get; init; }
    public string Format { get; set; } = "";
    public long Packets { get; set; }
    public long Bytes { get; set; }
    /// <summary>Global packet number of the file's first packet (frame 1 of the file).</summary>
    public long FirstPacketNumber { get; set; }
    /// <summary>Why reading stopped early (damage, I/O) or why the file could not be opened; null when read to the end.</summary>
    public string? Error { get; set; }
}

/// <summary>Counters of the decode stage (single-threaded dispatcher, so plain fields).</summary>
public sealed class DecodeStats
{
    public long Packets;
    public long Bytes;
    public long WireBytes;
    public long Ipv4;
    public long Ipv6;
    public long Arp;
    public long OtherNetwork;
    public long Tcp;
    public long Udp;
    public long OtherTransport;
    public long Fragments;
    public long Reassembled;
    public long SnapTruncated;
    public readonly long[] Errors = new long[256];

    public long ErrorTotal
    {
        get
        {
            long t = 0;
            foreach (var e in Errors) t += e;
            return t;
        }
    }

    public IEnumerable<(DecodeError Error, long Count)> ErrorsByKind()
    {
        for (int i = 1; i < Errors.Length; i++)
            if (Errors[i] != 0) yield return ((DecodeError)i, Errors[i]);
    }
}

/// <summary>Everything a replay counted, for summaries and tests.</summary>
public sealed class ReplayStats
{
    public List<CaptureFileStats> Files { get; } = [];
    public DecodeStats Decode { get; } = new();
    public FlowTableStats Flows { get; } = new();
    public DefragStats Defrag { get; set; } = new();
    public int Workers { get; set; }
    public TimeSpan Elapsed { get; set; }
    public long FirstTimestampNs { get; set; }
    public long LastTimestampNs { get; set; }

    /// <summary>Busy time of each stage (reader+decoder, the workers together, analysis), to find the bottleneck.</summary>
    public TimeSpan ReaderBusy { get; set; }
    public TimeSpan WorkersBusy { get; set; }
    public TimeSpan AnalysisBusy { get; set; }

    public bool HasFileErrors => Files.Exists(f => f.Error is not null);

    /// <summary>Live capture: the interfaces captured on, with their drop counters (null for a replay of files).</summary>
    public IReadOnlyList<LiveInterfaceStatus>? Interfaces { get; set; }

    internal void AddFlowStats(FlowTableStats s)
    {
        var t = Flows;
        t.FlowsCreated += s.FlowsCreated; t.TcpFlows += s.TcpFlows; t.UdpFlows += s.UdpFlows;
        t.FlowsClosed += s.FlowsClosed; t.FlowsTimedOut += s.FlowsTimedOut; t.FlowsEvicted += s.FlowsEvicted;
        t.ActiveFlows += s.ActiveFlows; t.Retransmissions += s.Retransmissions; t.RetransmittedBytes += s.RetransmittedBytes;
        t.Overlaps += s.Overlaps; t.ConflictingOverlaps += s.ConflictingOverlaps; t.OutOfOrderSegments += s.OutOfOrderSegments;
        t.Gaps += s.Gaps; t.GapBytes += s.GapBytes; t.OutOfOrderOverflows += s.OutOfOrderOverflows;
        t.MidstreamPickups += s.MidstreamPickups; t.PacketsNotTcpUdp += s.PacketsNotTcpUdp;
    }
}

/// <summary>Live progress of a replay, written by the reader and read by a progress display (torn reads are harmless).</summary>
public sealed class ReplayProgress
{
    private long _packets;
    private long _position;
    private long _length;
    private string _file = "";

    public long Packets => Volatile.Read(ref _packets);
    public long Position => Volatile.Read(ref _position);
    public long Length => Volatile.Read(ref _length);
    public string File => Volatile.Read(ref _file);
    public int FileIndex { get; internal set; }
    public int FileCount { get; internal set; }

    internal void Update(long packets, long position)
    {
        Volatile.Write(ref _packets, packets);
        Volatile.Write(ref _position, position);
    }

    internal void StartFile(string file, long length)
    {
        Volatile.Write(ref _file, file);
        Volatile.Write(ref _length, length);
        Volatile.Write(ref _position, 0);
    }
}
