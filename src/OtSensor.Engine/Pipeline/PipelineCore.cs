using System.Diagnostics;
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Pipeline;

/// <summary>Settings shared by every way packets enter the pipeline (files or live interfaces).</summary>
public abstract class PipelineOptions
{
    /// <summary>Dissector workers; flows are sharded over them by a symmetric hash. Defaults to the core count.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;
    public int BatchPackets { get; init; } = 512;
    public int BatchBytes { get; init; } = 1 << 20;
    /// <summary>Flow table bounds; a mid-stream flow on an odd port may need several payloads before a probe is sure.</summary>
    public FlowTableOptions Flows { get; init; } = new() { MaxSelectAttempts = 8 };
    public DissectorOptions Dissectors { get; init; } = new();
    public DefragOptions Defrag { get; init; } = new();
}

/// <summary>
/// The stages after the source: a single ingest thread (the caller) decodes packets into pooled batches, N dissector
/// workers process the flows hashed to them, and one analysis task hands every batch and event to the consumers in a
/// deterministic order (packet order, whatever the number of workers). Workers and the analysis stage are dedicated
/// threads that block on their queues: no thread-pool hops and no async state machines between stages.
/// </summary>
internal sealed class PipelineCore
{
    private readonly PipelineOptions _options;
    private readonly IEventConsumer[] _consumers;
    private readonly int _workers;
    private readonly Stack<PacketBatch> _free = new();
    private int _freeCount;
    private readonly int _pool;
    private readonly BatchQueue[] _workerQueues;
    private readonly BatchQueue _analysisQueue = new();
    private readonly TaskCompletionSource _analysisDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly IpDefragmenter _defrag;
    private int[][] _runs = [];
    private int[] _heads = [];
    private Worker[] _workerStates = [];
    private Thread[] _workerThreads = [];
    private PacketBatch? _batch;
    private long _sequence;
    private long _packetNumber;
    private long _clock;
    private long _ingestTicks;
    private long _workerTicks;
    private long _analysisTicks;
    private long _internalErrors;
    private long _processedPackets;
    private Exception? _firstInternalError;

    public PipelineCore(PipelineOptions options, IReadOnlyList<IEventConsumer> consumers)
    {
        _options = options;
        _consumers = [.. consumers];
        _workers = Math.Clamp(options.Workers, 1, 64);
        _pool = _workers * 4 + 4;
        for (int i = 0; i < _pool; i++) _free.Push(new PacketBatch(options.BatchPackets, options.BatchBytes, _workers));
        _freeCount = _pool;
        _workerQueues = new BatchQueue[_workers];
        for (int i = 0; i < _workers; i++) _workerQueues[i] = new BatchQueue();
        _defrag = new IpDefragmenter(options.Defrag);
        Stats.Workers = _workers;
    }

    public ReplayStats Stats { get; } = new();
    public long InternalErrors => Interlocked.Read(ref _internalErrors);
    public Exception? FirstInternalError => _firstInternalError;
    /// <summary>Global packet number of the last packet ingested.</summary>
    public long PacketNumber => _packetNumber;
    /// <summary>Packets whose batch the analysis stage has finished (safe to read from any thread).</summary>
    public long ProcessedPackets => Interlocked.Read(ref _processedPackets);
    /// <summary>Batches handed on and not yet finished by the analysis stage.</summary>
    public int BatchesInFlight => _pool - Volatile.Read(ref _freeCount);
    public int BatchCapacity => _options.BatchPackets;
    /// <summary>Packets in the batch being filled.</summary>
    public int Pending => _batch?.Count ?? 0;
    public long Clock => _clock;

    public void Start()
    {
        _workerStates = new Worker[_workers];
        _workerThreads = new Thread[_workers];
        for (int i = 0; i < _workers; i++)
        {
            var w = _workerStates[i] = new Worker(i, _options.Flows, _options.Dissectors);
            var q = _workerQueues[i];
            _workerThreads[i] = new Thread(() => RunWorker(w, q)) { IsBackground = true, Name = "otsensor worker " + i.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        }
        foreach (var t in _workerThreads) t.Start();
        new Thread(RunAnalysis) { IsBackground = true, Name = "otsensor analysis" }.Start();
        _batch = Rent();
    }

    /// <summary>Ships the last batch (flows closed after it) and waits for every stage; then calls the consumers' OnComplete.</summary>
    public async Task<ReplayStats> CompleteAsync(TimeSpan elapsed)
    {
        var batch = _batch!;
        _batch = null;
        Stats.Defrag = _defrag.Stats;
        batch.IsFinal = true;
        Ship(batch);
        foreach (var q in _workerQueues) q.Complete();
        _analysisQueue.Complete();
        // The analysis stage finishes last: it waits for every worker on every batch, the final one included.
        await _analysisDone.Task.ConfigureAwait(false);
        foreach (var t in _workerThreads) t.Join();
        foreach (var w in _workerStates) Stats.AddFlowStats(w.Stats);
        Stats.ReaderBusy = Stopwatch.GetElapsedTime(0, _ingestTicks);
        Stats.WorkersBusy = Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _workerTicks));
        Stats.AnalysisBusy = Stopwatch.GetElapsedTime(0, _analysisTicks);
        Stats.Elapsed = elapsed;
        foreach (var c in _consumers) c.OnComplete(Stats);
        return Stats;
    }

    /// <summary>Adds ingest time (reading and decoding) spent by the caller's thread.</summary>
    public void AddIngestTicks(long ticks) => _ingestTicks += ticks;

    public bool BatchFull => _batch!.Count >= _batch.Capacity;

    /// <summary>Ships the current batch (even partly filled or empty: an empty batch still advances the flows' clock).</summary>
    public void Flush(long clockNs)
    {
        if (clockNs > _clock) _clock = clockNs;
        var batch = _batch!;
        Ship(batch);
        _defrag.Expire(_clock);
        _batch = Rent();
    }

    /// <summary>
    /// Ends every flow before the next packet: the next source is not a continuation of the previous one (its packets
    /// are older), so its connections must not be mistaken for retransmissions of the previous one's.
    /// </summary>
    public void CloseFlowsBeforeNext(long newClockNs)
    {
        Ship(_batch!);
        _batch = Rent();
        _batch.CloseFlowsFirst = true;
        _batch.CloseFlowsAtNs = _clock;
        _clock = newClockNs;
    }

    /// <summary>Copies and decodes one packet into the current batch. The caller ships the batch when <see cref="BatchFull"/>.</summary>
    public void Add(ReadOnlySpan<byte> data, int originalLength, long ts, LinkType linkType)
    {
        var ds = Stats.Decode;
        var batch = _batch!;
        _packetNumber++;
        ds.Packets++;
        ds.Bytes += data.Length;
        ds.WireBytes += originalLength;
        if (originalLength > data.Length) ds.SnapTruncated++;
        if (Stats.FirstTimestampNs == 0 || ts < Stats.FirstTimestampNs) Stats.FirstTimestampNs = ts;
        if (ts > Stats.LastTimestampNs) Stats.LastTimestampNs = ts;
        if (ts > _clock) _clock = ts;

        batch.EnsureData(data.Length);
        int index = batch.Count++;
        ref var slot = ref batch.Slots[index];
        slot.Offset = batch.DataLength;
        slot.Length = data.Length;
        slot.OriginalLength = originalLength;
        slot.TimestampNs = ts;
        slot.PacketNumber = _packetNumber;
        slot.LinkType = linkType;
        data.CopyTo(batch.Data.AsSpan(batch.DataLength));
        batch.DataLength += data.Length;

        ref var d = ref batch.Decoded[index];
        PacketDecoder.Decode(linkType, data, ref d);
        int workers = _workers;
        slot.Worker = Classify(ref d, ds, workers, out batch.Keys[index], out slot.SourceIsA);

        if (d.IsFragment && d.Error == DecodeError.None)
        {
            ds.Fragments++;
            var r = _defrag.Process(in d, batch.Data.AsSpan(slot.Offset, slot.Length), ts);
            slot.Worker = PacketSlot.NoWorker;
            if (r == DefragResult.Completed)
            {
                ds.Reassembled++;
                var whole = _defrag.CompletedPacket;
                batch.EnsureData(whole.Length);
                slot.Offset = batch.DataLength;
                slot.Length = whole.Length;
                slot.LinkType = LinkType.Raw;
                whole.CopyTo(batch.Data.AsSpan(batch.DataLength));
                batch.DataLength += whole.Length;
                PacketDecoder.Decode(LinkType.Raw, batch.Data.AsSpan(slot.Offset, slot.Length), ref d);
                slot.Worker = d.IsFragment ? PacketSlot.NoWorker : Classify(ref d, ds, workers, out batch.Keys[index], out slot.SourceIsA, countLayers: false);
            }
        }
    }

    // The waits between stages are monitor waits without spinning: on a machine with few cores a spinning waiter
    // takes the CPU from the very stage it waits for (a profile of the two-core benchmark machine showed the
    // workers spending more time spinning in SemaphoreSlim.Wait than working).
    private PacketBatch Rent()
    {
        PacketBatch b;
        lock (_free)
        {
            while (_free.Count == 0) Monitor.Wait(_free);
            b = _free.Pop();
            _freeCount = _free.Count;
        }
        b.Reset();
        return b;
    }

    private void Return(PacketBatch b)
    {
        lock (_free)
        {
            _free.Push(b);
            _freeCount = _free.Count;
            Monitor.Pulse(_free);
        }
    }

    private void Ship(PacketBatch batch)
    {
        batch.Sequence = _sequence++;
        batch.ClockNs = _clock;
        batch.BeginProcessing(_workers);
        foreach (var q in _workerQueues) q.Add(batch);
        _analysisQueue.Add(batch);
    }

    private static byte Classify(ref DecodedPacket d, DecodeStats ds, int workers, out FlowKey key, out bool sourceIsA, bool countLayers = true)
    {
        key = default;
        sourceIsA = false;
        if (d.Error != DecodeError.None) ds.Errors[(int)d.Error]++;
        if (countLayers)
        {
            switch (d.Network)
            {
                case NetworkLayer.IPv4: ds.Ipv4++; break;
                case NetworkLayer.IPv6: ds.Ipv6++; break;
                case NetworkLayer.Arp: ds.Arp++; break;
                case NetworkLayer.Other: ds.OtherNetwork++; break;
            }
            switch (d.Transport)
            {
                case TransportLayer.Tcp: ds.Tcp++; break;
                case TransportLayer.Udp: ds.Udp++; break;
                case TransportLayer.Other: ds.OtherTransport++; break;
            }
        }
        if (d.Error != DecodeError.None || d.IsFragment) return PacketSlot.NoWorker;
        if (d.Transport is not (TransportLayer.Tcp or TransportLayer.Udp)) return PacketSlot.NoWorker;
        key = FlowKey.From(in d, out sourceIsA);
        return (byte)(key.SymmetricHash % (uint)workers);
    }

    private void RunWorker(Worker worker, BatchQueue queue)
    {
        while (queue.Take() is { } batch)
        {
            long t0 = Stopwatch.GetTimestamp();
            try
            {
                worker.Process(batch);
            }
            catch (Exception ex)
            {
                RecordInternalError(ex);
            }
            finally
            {
                Interlocked.Add(ref _workerTicks, Stopwatch.GetTimestamp() - t0);
                batch.WorkerFinished();
            }
        }
    }

    private void RecordInternalError(Exception ex)
    {
        Interlocked.CompareExchange(ref _firstInternalError, ex, null);
        Interlocked.Increment(ref _internalErrors);
    }

    /// <summary>
    /// Hands the batch's events to the consumers in (packet index, flow id, sequence) order — a total order, since a
    /// flow id is the number of the flow's first packet. Each worker's events are already in that order except for
    /// timer events at the end of a batch, so each worker's run is sorted only when it is not, and the runs are merged.
    /// </summary>
    private void DeliverInOrder(PacketBatch batch)
    {
        var outputs = batch.Outputs;
        var consumers = _consumers;
        int k = outputs.Length;
        if (_runs.Length != k)
        {
            _runs = new int[k][];
            for (int w = 0; w < k; w++) _runs[w] = new int[64];
            _heads = new int[k];
        }
        for (int w = 0; w < k; w++)
        {
            var buf = outputs[w];
            int n = buf.Count;
            if (_runs[w].Length < n) _runs[w] = new int[Math.Max(n, _runs[w].Length * 2)];
            var run = _runs[w];
            bool sorted = true;
            for (int i = 0; i < n; i++)
            {
                run[i] = i;
                if (sorted && i > 0 && Compare(in buf[i - 1], in buf[i]) > 0) sorted = false;
            }
            if (!sorted) run.AsSpan(0, n).Sort((a, b) => Compare(in buf[a], in buf[b]));
            _heads[w] = 0;
        }
        while (true)
        {
            int best = -1;
            for (int w = 0; w < k; w++)
            {
                if (_heads[w] >= outputs[w].Count) continue;
                if (best < 0 || Compare(in outputs[w][_runs[w][_heads[w]]], in outputs[best][_runs[best][_heads[best]]]) < 0) best = w;
            }
            if (best < 0) return;
            var buf = outputs[best];
            int index = _runs[best][_heads[best]++];
            foreach (var c in consumers) c.OnEvent(in buf[index], buf, batch);
        }
    }

    private static int Compare(in EventEntry a, in EventEntry b)
    {
        int c = a.PacketIndex.CompareTo(b.PacketIndex);
        if (c != 0) return c;
        c = a.Flow.FlowId.CompareTo(b.Flow.FlowId);
        return c != 0 ? c : a.Sequence.CompareTo(b.Sequence);
    }

    private void RunAnalysis()
    {
        while (_analysisQueue.Take() is { } batch)
        {
            batch.WaitForWorkers();
            long t0 = Stopwatch.GetTimestamp();
            try
            {
                foreach (var c in _consumers) c.OnPackets(batch);
                DeliverInOrder(batch);
            }
            catch (Exception ex)
            {
                RecordInternalError(ex);
            }
            finally
            {
                _analysisTicks += Stopwatch.GetTimestamp() - t0;
                Interlocked.Add(ref _processedPackets, batch.Count);
                Return(batch);
            }
        }
        _analysisDone.SetResult();
    }

    /// <summary>Batches from the one producer to one consumer thread, which blocks (without spinning) while the queue is empty.</summary>
    private sealed class BatchQueue
    {
        private readonly Queue<PacketBatch> _items = new();
        private bool _completed;

        public void Add(PacketBatch batch)
        {
            lock (_items)
            {
                _items.Enqueue(batch);
                Monitor.Pulse(_items);
            }
        }

        /// <summary>After the last <see cref="Add"/>: the consumer gets every batch, then null.</summary>
        public void Complete()
        {
            lock (_items)
            {
                _completed = true;
                Monitor.Pulse(_items);
            }
        }

        public PacketBatch? Take()
        {
            lock (_items)
            {
                while (_items.Count == 0)
                {
                    if (_completed) return null;
                    Monitor.Wait(_items);
                }
                return _items.Dequeue();
            }
        }
    }
}
