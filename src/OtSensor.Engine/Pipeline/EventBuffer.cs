using OtSensor.Core;
using OtSensor.Flows;

namespace OtSensor.Pipeline;

public enum EventKind : byte
{
    Transaction = 1,
    Anomaly = 2,
}

/// <summary>The endpoints of a flow, copied at event time (the FlowContext object is pooled and reused).</summary>
public struct FlowEndpoints
{
    public long FlowId;
    public IpAddr ClientIp;
    public IpAddr ServerIp;
    public ushort ClientPort;
    public ushort ServerPort;
    public ushort Vlan;
    public ushort InnerVlan;
    public MacAddress ClientMac;
    public MacAddress ServerMac;
    public Decoding.TransportLayer Transport;
    public ProtocolId Protocol;

    /// <summary>Writes <paramref name="f"/>'s endpoints into <paramref name="d"/> in place (no temporary copied twice per event).</summary>
    public static void Fill(ref FlowEndpoints d, FlowContext f)
    {
        d.FlowId = f.FlowId;
        d.ClientIp = f.ClientIp;
        d.ServerIp = f.ServerIp;
        d.ClientPort = f.ClientPort;
        d.ServerPort = f.ServerPort;
        d.Vlan = f.Vlan;
        d.InnerVlan = f.InnerVlan;
        d.ClientMac = f.ClientMac;
        d.ServerMac = f.ServerMac;
        d.Transport = f.Transport;
        d.Protocol = f.Protocol;
    }

    public static FlowEndpoints From(FlowContext f) => new()
    {
        FlowId = f.FlowId,
        ClientIp = f.ClientIp,
        ServerIp = f.ServerIp,
        ClientPort = f.ClientPort,
        ServerPort = f.ServerPort,
        Vlan = f.Vlan,
        InnerVlan = f.InnerVlan,
        ClientMac = f.ClientMac,
        ServerMac = f.ServerMac,
        Transport = f.Transport,
        Protocol = f.Protocol,
    };
}

/// <summary>One event produced by a worker, ordered by (PacketIndex, FlowId, Sequence) when batches are merged.</summary>
public struct EventEntry
{
    public EventKind Kind;
    /// <summary>Index of the packet in its batch that caused the event; <see cref="EndOfBatch"/> for timers and closes.</summary>
    public int PacketIndex;
    public int Sequence;
    public FlowEndpoints Flow;
    public TransactionRecord Transaction;
    public AnomalyRecord Anomaly;
    public int RequestOffset;
    public int RequestLength;
    public int ResponseOffset;
    public int ResponseLength;

    public const int EndOfBatch = int.MaxValue;
}

/// <summary>A worker's events for one batch: entries plus an arena holding the raw messages they reference.</summary>
public sealed class EventBuffer
{
    private EventEntry[] _entries = new EventEntry[256];
    private byte[] _arena = new byte[64 * 1024];

    public int Count { get; private set; }
    public int ArenaLength { get; private set; }

    public ref EventEntry this[int index] => ref _entries[index];

    public ReadOnlySpan<byte> Slice(int offset, int length) => _arena.AsSpan(offset, length);

    /// <summary>The next entry, cleared.</summary>
    public ref EventEntry Add()
    {
        ref var e = ref AddUnset();
        e = default;
        return ref e;
    }

    /// <summary>The next entry as an earlier batch left it: the caller sets every field (<see cref="WorkerSink"/> does).</summary>
    internal ref EventEntry AddUnset()
    {
        if (Count == _entries.Length) Array.Resize(ref _entries, _entries.Length * 2);
        return ref _entries[Count++];
    }

    public int Store(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return 0;
        if (_arena.Length - ArenaLength < bytes.Length)
        {
            Array.Resize(ref _arena, Math.Max(_arena.Length * 2, ArenaLength + bytes.Length));
        }
        int at = ArenaLength;
        bytes.CopyTo(_arena.AsSpan(at));
        ArenaLength += bytes.Length;
        return at;
    }

    public void Clear()
    {
        Count = 0;
        ArenaLength = 0;
    }
}
