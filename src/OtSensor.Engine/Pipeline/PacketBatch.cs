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
    /// <summary>For a packet with a worker: its source is endpoint A of its flow key.</summary>
    public bool SourceIsA;
    /// <summary>For a packet with a worker: its flow key's <see cref="FlowKey.SymmetricHash"/> (the worker rebuilds the key from it).</summary>
    public uint FlowHash;

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
    private int _pendingLanes;
    private bool _workersDone;

    public PacketBatch(int capacity, int dataBytes, int workers)
    {
        Slots = new PacketSlot[capacity];
        Decoded = new DecodedPacket[capacity];
        Data = new byte[dataBytes];
        Outputs = new EventBuffer[workers];
        for (int i = 0; i < workers; i++) Outputs[i] = new EventBuffer();
    }

    public PacketSlot[] Slots { get; }
    public DecodedPacket[] Decoded { get; }
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

    /// <summary>Before the batch is handed on: <paramref name="workers"/> workers, then <paramref name="lanes"/> analysis threads will process it.</summary>
    public void BeginProcessing(int workers, int lanes = 1)
    {
        _workersDone = false;
        _pendingLanes = lanes;
        Volatile.Write(ref _pendingWorkers, workers);
    }

    /// <summary>Called by each analysis thread when it has finished the batch: true for the last one.</summary>
    internal bool LaneFinished() => Interlocked.Decrement(ref _pendingLanes) == 0;

    /// <summary>
    /// Called by each worker when it has finished the batch; the last one merges the workers' events into delivery
    /// order (<see cref="MergeEvents"/>, on its thread instead of the analysis stage's), then releases the analysis stage.
    /// </summary>
    internal void WorkerFinished()
    {
        if (Interlocked.Decrement(ref _pendingWorkers) != 0) return;
        try
        {
            MergeEvents();
        }
        finally
        {
            lock (_doneLock)
            {
                _workersDone = true;
                // Every analysis thread waits for the batch.
                Monitor.PulseAll(_doneLock);
            }
        }
    }

    internal const int OrderWorkerBits = 6; // workers are at most 64
    internal const int OrderWorkerMask = (1 << OrderWorkerBits) - 1;
    private int[] _order = new int[256];
    private int[][] _runs = [];
    private int[] _heads = [];

    /// <summary>The batch's events in delivery order, <see cref="OrderCount"/> of them: each is (index in its worker's output &lt;&lt; <see cref="OrderWorkerBits"/>) | worker.</summary>
    internal int[] Order => _order;
    internal int OrderCount { get; private set; }

    /// <summary>
    /// Puts the batch's events in (packet index, flow id, sequence) order — a total order, since a flow id is the
    /// number of the flow's first packet. Each worker's events are already in that order except for timer events at
    /// the end of a batch, so each worker's run is sorted only when it is not, and the runs are merged.
    /// </summary>
    private void MergeEvents()
    {
        OrderCount = 0;
        var outputs = Outputs;
        int k = outputs.Length;
        if (_runs.Length != k)
        {
            _runs = new int[k][];
            for (int w = 0; w < k; w++) _runs[w] = new int[64];
            _heads = new int[k];
        }
        var runs = _runs;
        var heads = _heads;
        int total = 0;
        for (int w = 0; w < k; w++)
        {
            var buf = outputs[w];
            int n = buf.Count;
            total += n;
            if (runs[w].Length < n) runs[w] = new int[Math.Max(n, runs[w].Length * 2)];
            var run = runs[w];
            bool sorted = true;
            for (int i = 0; i < n; i++)
            {
                run[i] = i;
                if (sorted && i > 0 && Compare(in buf[i - 1], in buf[i]) > 0) sorted = false;
            }
            if (!sorted) run.AsSpan(0, n).Sort((a, b) => Compare(in buf[a], in buf[b]));
            heads[w] = 0;
        }
        if (_order.Length < total) _order = new int[Math.Max(total, _order.Length * 2)];
        var order = _order;
        int at = 0;
        if (k == 1)
        {
            var run = runs[0];
            for (int i = 0; i < total; i++) order[i] = run[i] << OrderWorkerBits;
            OrderCount = total;
            return;
        }
        while (true)
        {
            int best = -1;
            for (int w = 0; w < k; w++)
            {
                if (heads[w] >= outputs[w].Count) continue;
                if (best < 0 || Compare(in outputs[w][runs[w][heads[w]]], in outputs[best][runs[best][heads[best]]]) < 0) best = w;
            }
            if (best < 0) break;
            order[at++] = (runs[best][heads[best]++] << OrderWorkerBits) | best;
        }
        OrderCount = at;
    }

    private static int Compare(in EventEntry a, in EventEntry b)
    {
        int c = a.PacketIndex.CompareTo(b.PacketIndex);
        if (c != 0) return c;
        c = a.Flow.FlowId.CompareTo(b.Flow.FlowId);
        return c != 0 ? c : a.Sequence.CompareTo(b.Sequence);
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
