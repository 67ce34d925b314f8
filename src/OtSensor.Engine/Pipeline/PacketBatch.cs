using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Pipeline;

/// <summary>Where one packet of a batch lives and which worker owns it.</summary>
public struct PacketSlot
{
    public int Offset;
    public int Length;
    public int OriginalLength;
    public long TimestampNs;
    /// <summary>Global 1-based packet number over the whole replay (all files).</summary>
    public long PacketNumber;
    public LinkType LinkType;
    /// <summary>Owning worker, or <see cref="NoWorker"/> when no worker needs the packet (non TCP/UDP, held fragment, decode error).</summary>
    public byte Worker;
    /// <summary>For a packet with a worker: its source is endpoint A of its flow key (<see cref="PacketBatch.Keys"/>).</summary>
    public bool SourceIsA;

    public const byte NoWorker = byte.MaxValue;
}

/// <summary>
/// A batch of raw frames with their decoded headers, handed from the dispatcher to every worker and then to the
/// analysis stage. Batches are pooled; synchronisation is paid once per batch, not per packet.
/// </summary>
public sealed class PacketBatch
{
    private readonly object _doneLock = new();
    private int _pendingWorkers;
    private bool _workersDone;

    public PacketBatch(int capacity, int dataBytes, int workers)
    {
        Slots = new PacketSlot[capacity];
        Decoded = new DecodedPacket[capacity];
        Keys = new FlowKey[capacity];
        Data = new byte[dataBytes];
        Outputs = new EventBuffer[workers];
        for (int i = 0; i < workers; i++) Outputs[i] = new EventBuffer();
    }

    public PacketSlot[] Slots { get; }
    public DecodedPacket[] Decoded { get; }
    /// <summary>The flow key of each packet that has a worker, computed once when the packet is dispatched.</summary>
    public FlowKey[] Keys { get; }
    public byte[] Data { get; private set; }
    public int DataLength { get; set; }
    public int Count { get; set; }
    public long Sequence { get; set; }
    /// <summary>Packet time of the newest packet in the batch (or of the previous batch when empty).</summary>
    public long ClockNs { get; set; }
    /// <summary>The last batch of the replay: workers close every flow after it.</summary>
    public bool IsFinal { get; set; }
    /// <summary>
    /// Close every flow before this batch's packets: the next file is not a continuation of the previous one
    /// (its packets are older), so its connections must not be mistaken for retransmissions of the previous file's.
    /// </summary>
    public bool CloseFlowsFirst { get; set; }
    /// <summary>Packet time at which flows closed by <see cref="CloseFlowsFirst"/> end.</summary>
    public long CloseFlowsAtNs { get; set; }
    /// <summary>Per-worker event output for this batch.</summary>
    public EventBuffer[] Outputs { get; }

    public int Capacity => Slots.Length;

    public ReadOnlySpan<byte> Frame(int index)
    {
        ref readonly var s = ref Slots[index];
        return Data.AsSpan(s.Offset, s.Length);
    }

    /// <summary>Room left in the data buffer.</summary>
    public int FreeBytes => Data.Length - DataLength;

    public void EnsureData(int bytes)
    {
        if (Data.Length - DataLength >= bytes) return;
        var bigger = new byte[Math.Max(Data.Length * 2, DataLength + bytes)];
        Data.AsSpan(0, DataLength).CopyTo(bigger);
        Data = bigger;
    }

    public void Reset()
    {
        Count = 0;
        DataLength = 0;
        IsFinal = false;
        CloseFlowsFirst = false;
        CloseFlowsAtNs = 0;
        foreach (var o in Outputs) o.Clear();
    }

    public void BeginProcessing(int workers)
    {
        _workersDone = false;
        Volatile.Write(ref _pendingWorkers, workers);
    }

    /// <summary>Called by each worker when it has finished the batch; the last one releases the analysis stage.</summary>
    public void WorkerFinished()
    {
        if (Interlocked.Decrement(ref _pendingWorkers) != 0) return;
        lock (_doneLock)
        {
            _workersDone = true;
            Monitor.Pulse(_doneLock);
        }
    }

    /// <summary>
    /// The analysis stage: blocks until every worker has finished the batch. A plain monitor wait, no spinning: on a
    /// machine with few cores a spinning waiter takes the CPU from the very stage it waits for.
    /// </summary>
    internal void WaitForWorkers()
    {
        lock (_doneLock)
        {
            while (!_workersDone) Monitor.Wait(_doneLock);
        }
    }
}
