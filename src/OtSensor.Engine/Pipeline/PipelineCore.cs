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
    /// <summary>
    /// Packets per batch: every batch costs a hand-off to each worker and to each analysis lane (a futex wake and a
    /// context switch on two cores). 1,024 against 512 on the 1M-packet benchmarks (2026-12-04, same go, median of 8):
    /// mixed 0.169 s to 0.161 s, Modbus 0.124 s to 0.115 s; 2,048 is slower again (a batch no longer stays in the
    /// second-level cache between the reader and the workers).
    /// </summary>
    public int BatchPackets { get; init; } = 1024;
    public int BatchBytes { get; init; } = 1 << 20;
    /// <summary>Flow table bounds; a mid-stream flow on an odd port may need several payloads before a probe is sure.</summary>
    public FlowTableOptions Flows { get; init; } = new() { MaxSelectAttempts = 8 };
    public DissectorOptions Dissectors { get; init; } = new();
    public DefragOptions Defrag { get; init; } = new();
}

/// <summary>
/// The stages after the source: a single ingest thread (the caller) decodes packets into pooled batches, N dissector
/// workers process the flows hashed to them, and the analysis stage hands every batch and event to the consumers in a
/// deterministic order (packet order, whatever the number of workers). The analysis stage is one thread for the
/// consumers that share state, and one more for each consumer that runs apart (<see cref="IEventConsumer.RunsApart"/>):
/// each thread ("lane") gives every batch and event to its consumers in that same order, and a batch goes back to the
/// pool when every lane is done with it. Workers and analysis lanes are dedicated threads that block on their
/// queues: no thread-pool hops and no async state machines between stages.
/// </summary>
internal sealed class PipelineCore
{
    private readonly PipelineOptions _options;
    private readonly IEventConsumer[] _consumers;
    private readonly int _workers;
    private readonly Stack<PacketBatch> _free = new();
    private int _freeCount;
    private int _created;
    private int _pool;
    private readonly BatchQueue[] _workerQueues;
    private Lane[] _lanes = [];
    private int _lanesRunning;
    private readonly TaskCompletionSource _analysisDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly IpDefragmenter _defrag;
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
        // Batches are created on first need, up to the pool size: a small replay does not clear megabytes of batches
        // it never fills, and a large one creates them while the workers already dissect the first.
        _pool = PoolSize(_workers, lanes: 1);
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
    public int BatchesInFlight => Volatile.Read(ref _created) - Volatile.Read(ref _freeCount);
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
        // Decided at the start (a consumer's RunsApart may depend on how it was wired up after construction).
        // The consumers that do not run apart share the first lane; each one that does has a lane of its own.
        var main = Array.FindAll(_consumers, c => !c.RunsApart);
        var lanes = new List<Lane>();
        if (main.Length > 0) lanes.Add(new Lane(main));
        foreach (var c in _consumers)
        {
            if (c.RunsApart) lanes.Add(new Lane([c]));
        }
        if (lanes.Count == 0) lanes.Add(new Lane([]));
        _lanes = [.. lanes];
        _pool = PoolSize(_workers, _lanes.Length);
        _lanesRunning = _lanes.Length;
        for (int i = 0; i < _lanes.Length; i++)
        {
            var lane = _lanes[i];
            string name = i == 0 ? "otsensor analysis" : "otsensor analysis " + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            new Thread(() => RunAnalysis(lane)) { IsBackground = true, Name = name }.Start();
        }
        _batch = Rent();
    }

    /// <summary>
    /// Batches in the pool. With more than one analysis lane, a batch goes back only when the slowest lane is done
    /// with it, while the workers and the other lanes run ahead: more batches in flight keep both cores busy, up to a
    /// point where they no longer stay in the caches. Two workers, 1M packets, 2026-12-04, medians of 9: mixed with
    /// detection 12 batches 0.360 s, 16 0.352 s, 20 0.350 s; mixed default mode 0.769 s, 0.709 s, 0.702 s; Modbus with
    /// detection 0.249 s, 0.243 s, 0.270 s. With one lane (the dissectors only) 12 stays best.
    /// </summary>
    internal static int PoolSize(int workers, int lanes) => workers * 4 + (lanes > 1 ? 8 : 4);

    /// <summary>Ships the last batch (flows closed after it) and waits for every stage; then calls the consumers' OnComplete.</summary>
    public async Task<ReplayStats> CompleteAsync(TimeSpan elapsed)
    {
        var batch = _batch!;
        _batch = null;
        Stats.Defrag = _defrag.Stats;
        batch.IsFinal = true;
        Ship(batch);
        foreach (var q in _workerQueues) q.Complete();
        foreach (var lane in _lanes) lane.Queue.Complete();
        // The analysis stage finishes last: it waits for every worker on every batch, the final one included.
        await _analysisDone.Task.ConfigureAwait(false);
        foreach (var t in _workerThreads) t.Join();
        foreach (var w in _workerStates) Stats.AddFlowStats(w.Stats);
        Stats.ReaderBusy = Stopwatch.GetElapsedTime(0, _ingestTicks);
        Stats.WorkersBusy = Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _workerTicks));
        Stats.AnalysisBusy = Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _analysisTicks));
        Stats.Elapsed = elapsed;
        Task? apart = null;
        if (Array.Exists(_consumers, c => c.CompletesApart))
        {
            var stats = Stats;
            var consumers = Array.FindAll(_consumers, c => c.CompletesApart);
            apart = Task.Run(() =>
            {
                foreach (var c in consumers) c.OnComplete(stats);
            });
        }
        try
        {
            foreach (var c in _consumers)
            {
                if (!c.CompletesApart) c.OnComplete(Stats);
            }
        }
        finally
        {
            if (apart is not null) await apart.ConfigureAwait(false);
        }
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
        slot.Worker = Classify(ref d, ds, workers, out slot.FlowHash, out slot.SourceIsA);

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
                slot.Worker = d.IsFragment ? PacketSlot.NoWorker : Classify(ref d, ds, workers, out slot.FlowHash, out slot.SourceIsA, countLayers: false);
            }
        }
    }

    // The waits between stages are monitor waits without spinning: on a machine with few cores a spinning waiter
    // takes the CPU from the very stage it waits for (a profile of the two-core benchmark machine showed the
    // workers spending more time spinning in SemaphoreSlim.Wait than working).
    private PacketBatch Rent()
    {
        PacketBatch? b = null;
        lock (_free)
        {
            if (_free.Count == 0 && _created < _pool)
            {
                Volatile.Write(ref _created, _created + 1);
            }
            else
            {
                while (_free.Count == 0) Monitor.Wait(_free);
                b = _free.Pop();
                _freeCount = _free.Count;
            }
        }
        if (b is null) return new PacketBatch(_options.BatchPackets, _options.BatchBytes, _workers);
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
        batch.BeginProcessing(_workers, _lanes.Length);
        foreach (var q in _workerQueues) q.Add(batch);
        foreach (var lane in _lanes) lane.Queue.Add(batch);
    }

    private static byte Classify(ref DecodedPacket d, DecodeStats ds, int workers, out uint flowHash, out bool sourceIsA, bool countLayers = true)
    {
        flowHash = 0;
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
        flowHash = FlowKey.HashOf(in d, out sourceIsA);
        return (byte)(((ulong)flowHash * (uint)workers) >> 32); // the hash's high bits, without a division
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
                try
                {
                    // The last worker done with the batch merges the workers' events before releasing the analysis.
                    batch.WorkerFinished();
                }
                catch (Exception ex)
                {
                    RecordInternalError(ex);
                }
            }
        }
    }

    private void RecordInternalError(Exception ex)
    {
        Interlocked.CompareExchange(ref _firstInternalError, ex, null);
        Interlocked.Increment(ref _internalErrors);
    }

    /// <summary>
    /// Hands the batch's events to the lane's consumers in the order the last worker merged them into
    /// (<see cref="PacketBatch.MergeEvents"/>): (packet index, flow id, sequence).
    /// </summary>
    private static void DeliverInOrder(PacketBatch batch, Lane lane)
    {
        var outputs = batch.Outputs;
        var consumers = lane.Consumers;
        var order = batch.Order;
        int n = batch.OrderCount;
        for (int i = 0; i < n; i++)
        {
            int e = order[i];
            var buf = outputs[e & PacketBatch.OrderWorkerMask];
            int index = e >> PacketBatch.OrderWorkerBits;
            foreach (var c in consumers) c.OnEvent(in buf[index], buf, batch);
        }
    }

    private void RunAnalysis(Lane lane)
    {
        var consumers = lane.Consumers;
        long ticks = 0;
        while (lane.Queue.Take() is { } batch)
        {
            batch.WaitForWorkers();
            long t0 = Stopwatch.GetTimestamp();
            try
            {
                foreach (var c in consumers) c.OnPackets(batch);
                DeliverInOrder(batch, lane);
            }
            catch (Exception ex)
            {
                RecordInternalError(ex);
            }
            finally
            {
                ticks += Stopwatch.GetTimestamp() - t0;
                // The last lane done with the batch hands it back.
                if (batch.LaneFinished())
                {
                    Interlocked.Add(ref _processedPackets, batch.Count);
                    Return(batch);
                }
            }
        }
        Interlocked.Add(ref _analysisTicks, ticks);
        if (Interlocked.Decrement(ref _lanesRunning) == 0) _analysisDone.SetResult();
    }

    /// <summary>One analysis thread: its consumers and its queue of batches.</summary>
    private sealed class Lane(IEventConsumer[] consumers)
    {
        public readonly IEventConsumer[] Consumers = consumers;
        public readonly BatchQueue Queue = new();
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
