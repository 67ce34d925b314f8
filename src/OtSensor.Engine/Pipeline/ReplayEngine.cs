using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using OtSensor.Capture;
using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Pipeline;

public sealed class ReplayOptions
{
    public required IReadOnlyList<string> Files { get; init; }
    /// <summary>Dissector workers; flows are sharded over them by a symmetric hash. Defaults to the core count.</summary>
    public int Workers { get; init; } = Environment.ProcessorCount;
    public int BatchPackets { get; init; } = 512;
    public int BatchBytes { get; init; } = 1 << 20;
    /// <summary>Flow table bounds; a mid-stream flow on an odd port may need several payloads before a probe is sure.</summary>
    public FlowTableOptions Flows { get; init; } = new() { MaxSelectAttempts = 8 };
    public DissectorOptions Dissectors { get; init; } = new();
    public DefragOptions Defrag { get; init; } = new();
    public ReplayProgress? Progress { get; init; }
}

/// <summary>
/// Offline replay: reader/decoder thread → N dissector workers → one analysis consumer. Lossless (the reader waits
/// for free batches) and deterministic (events are merged in packet order whatever the number of workers).
/// </summary>
public sealed class ReplayEngine
{
    private readonly ReplayOptions _options;
    private readonly IReadOnlyList<IEventConsumer> _consumers;
    private readonly int _workers;
    private readonly ConcurrentQueue<PacketBatch> _free = new();
    private readonly SemaphoreSlim _freeCount;
    private readonly Channel<PacketBatch>[] _workerQueues;
    private readonly Channel<PacketBatch> _analysisQueue = Channel.CreateUnbounded<PacketBatch>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly ReplayStats _stats = new();
    private long _internalErrors;
    private Exception? _firstInternalError;

    public ReplayEngine(ReplayOptions options, IReadOnlyList<IEventConsumer> consumers)
    {
        _options = options;
        _consumers = consumers;
        _workers = Math.Clamp(options.Workers, 1, 64);
        int pool = _workers * 4 + 4;
        _freeCount = new SemaphoreSlim(pool, pool);
        for (int i = 0; i < pool; i++) _free.Enqueue(new PacketBatch(options.BatchPackets, options.BatchBytes, _workers));
        _workerQueues = new Channel<PacketBatch>[_workers];
        for (int i = 0; i < _workers; i++)
            _workerQueues[i] = Channel.CreateUnbounded<PacketBatch>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        _stats.Workers = _workers;
    }

    /// <summary>Bugs caught at a stage boundary (a dissector that threw): counted, never silent, never a crash.</summary>
    public long InternalErrors => Interlocked.Read(ref _internalErrors);
    public Exception? FirstInternalError => _firstInternalError;

    public async Task<ReplayStats> RunAsync(CancellationToken cancellationToken = default)
    {
        var sw = Stopwatch.StartNew();
        var workers = new Worker[_workers];
        var workerTasks = new Task[_workers];
        for (int i = 0; i < _workers; i++)
        {
            workers[i] = new Worker(i, _options.Flows, _options.Dissectors);
            var w = workers[i];
            var q = _workerQueues[i].Reader;
            workerTasks[i] = Task.Factory.StartNew(() => RunWorker(w, q), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        }
        var analysis = Task.Factory.StartNew(RunAnalysis, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
        var reader = Task.Factory.StartNew(() => RunReader(cancellationToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        await reader.ConfigureAwait(false);
        await Task.WhenAll(workerTasks).ConfigureAwait(false);
        await analysis.ConfigureAwait(false);

        foreach (var w in workers) _stats.AddFlowStats(w.Stats);
        _stats.ReaderBusy = Stopwatch.GetElapsedTime(0, _readerTicks);
        _stats.WorkersBusy = Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _workerTicks));
        _stats.AnalysisBusy = Stopwatch.GetElapsedTime(0, _analysisTicks);
        _stats.Elapsed = sw.Elapsed;
        foreach (var c in _consumers) c.OnComplete(_stats);
        return _stats;
    }

    private PacketBatch Rent()
    {
        _freeCount.Wait();
        _free.TryDequeue(out var b);
        b!.Reset();
        return b;
    }

    private void Return(PacketBatch b)
    {
        _free.Enqueue(b);
        _freeCount.Release();
    }

    private long _sequence;
    private long _readerTicks;
    private long _workerTicks;
    private long _analysisTicks;

    private void Ship(PacketBatch batch, long clock)
    {
        batch.Sequence = _sequence++;
        batch.ClockNs = clock;
        batch.BeginProcessing(_workers);
        foreach (var q in _workerQueues) q.Writer.TryWrite(batch);
        _analysisQueue.Writer.TryWrite(batch);
    }

    private void RunReader(CancellationToken ct)
    {
        var decodeStats = _stats.Decode;
        var defrag = new IpDefragmenter(_options.Defrag);
        long packetNumber = 0;
        long clock = 0;
        var batch = Rent();
        try
        {
            var progress = _options.Progress;
            if (progress is not null) progress.FileCount = _options.Files.Count;
            for (int fi = 0; fi < _options.Files.Count && !ct.IsCancellationRequested; fi++)
            {
                string path = _options.Files[fi];
                var fileStats = new CaptureFileStats { Path = path, FirstPacketNumber = packetNumber + 1 };
                _stats.Files.Add(fileStats);
                CaptureFileReader reader;
                try
                {
                    reader = CaptureFileReader.Open(path);
                }
                catch (CaptureFormatException ex)
                {
                    fileStats.Error = ex.Message;
                    continue;
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    fileStats.Error = $"{path}: {ex.Message}";
                    continue;
                }
                using (reader)
                {
                    fileStats.Format = reader.Format == CaptureFormat.PcapNg ? "pcapng" : "pcap";
                    if (progress is not null)
                    {
                        progress.FileIndex = fi;
                        progress.StartFile(path, reader.Length);
                    }
                    long filePackets = 0;
                    while (!ct.IsCancellationRequested)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        bool full = ReadInto(reader, ref batch, ref packetNumber, ref clock, decodeStats, defrag, fileStats, ref filePackets);
                        _readerTicks += Stopwatch.GetTimestamp() - t0;
                        if (!full) break;
                        // Batch full.
                        Ship(batch, clock);
                        defrag.Expire(clock);
                        batch = Rent();
                        progress?.Update(packetNumber, reader.Position);
                    }
                    if (reader.Error is { } err) fileStats.Error = $"{err.File}: byte offset {err.Offset}: {err.Message}";
                    progress?.Update(packetNumber, reader.Position);
                }
            }
        }
        finally
        {
            _stats.Defrag = defrag.Stats;
            batch.IsFinal = true;
            Ship(batch, clock);
            foreach (var q in _workerQueues) q.Writer.TryComplete();
            _analysisQueue.Writer.TryComplete();
        }
    }

    /// <summary>Reads packets into the batch; true when the batch is full (more may follow), false at end of file.</summary>
    private bool ReadInto(CaptureFileReader reader, ref PacketBatch batch, ref long packetNumber, ref long clock,
        DecodeStats ds, IpDefragmenter defrag, CaptureFileStats fileStats, ref long filePackets)
    {
        int workers = _workers;
        while (batch.Count < batch.Capacity)
        {
            if (!reader.TryReadPacket(out var pkt)) return false;
            var data = pkt.Data;
            if (filePackets == 0 && packetNumber > 0 && pkt.TimestampNs < clock)
            {
                // A file that starts before the previous one ended is another capture, not its continuation:
                // end the previous file's flows first (in a batch of their own, at the previous file's time).
                Ship(batch, clock);
                batch = Rent();
                batch.CloseFlowsFirst = true;
                batch.CloseFlowsAtNs = clock;
                clock = pkt.TimestampNs;
            }
            packetNumber++;
            filePackets++;
            fileStats.Packets++;
            fileStats.Bytes += data.Length;
            ds.Packets++;
            ds.Bytes += data.Length;
            ds.WireBytes += pkt.OriginalLength;
            if (pkt.OriginalLength > data.Length) ds.SnapTruncated++;
            long ts = pkt.TimestampNs;
            if (_stats.FirstTimestampNs == 0 || ts < _stats.FirstTimestampNs) _stats.FirstTimestampNs = ts;
            if (ts > _stats.LastTimestampNs) _stats.LastTimestampNs = ts;
            if (ts > clock) clock = ts;

            batch.EnsureData(data.Length);
            int index = batch.Count++;
            ref var slot = ref batch.Slots[index];
            slot.Offset = batch.DataLength;
            slot.Length = data.Length;
            slot.OriginalLength = pkt.OriginalLength;
            slot.TimestampNs = ts;
            slot.PacketNumber = packetNumber;
            slot.LinkType = pkt.LinkType;
            data.CopyTo(batch.Data.AsSpan(batch.DataLength));
            batch.DataLength += data.Length;

            ref var d = ref batch.Decoded[index];
            PacketDecoder.Decode(pkt.LinkType, data, ref d);
            slot.Worker = Classify(ref d, ds, workers);

            if (d.IsFragment && d.Error == DecodeError.None)
            {
                ds.Fragments++;
                var r = defrag.Process(in d, batch.Data.AsSpan(slot.Offset, slot.Length), ts);
                slot.Worker = PacketSlot.NoWorker;
                if (r == DefragResult.Completed)
                {
                    ds.Reassembled++;
                    var whole = defrag.CompletedPacket;
                    batch.EnsureData(whole.Length);
                    slot.Offset = batch.DataLength;
                    slot.Length = whole.Length;
                    slot.LinkType = Core.LinkType.Raw;
                    whole.CopyTo(batch.Data.AsSpan(batch.DataLength));
                    batch.DataLength += whole.Length;
                    PacketDecoder.Decode(Core.LinkType.Raw, batch.Data.AsSpan(slot.Offset, slot.Length), ref d);
                    slot.Worker = d.IsFragment ? PacketSlot.NoWorker : Classify(ref d, ds, workers, countLayers: false);
                }
            }
        }
        return true;
    }

    private static byte Classify(ref DecodedPacket d, DecodeStats ds, int workers, bool countLayers = true)
    {
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
        return (byte)(FlowKey.From(in d).SymmetricHash % (uint)workers);
    }

    private async Task RunWorker(Worker worker, ChannelReader<PacketBatch> queue)
    {
        await foreach (var batch in queue.ReadAllAsync().ConfigureAwait(false))
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

    private readonly List<EventOrder> _order = [];

    /// <summary>Merge key of one event: packet order, then flow, then emission order within the worker.</summary>
    private readonly record struct EventOrder(int PacketIndex, long FlowId, int Sequence, int Worker, int Index) : IComparable<EventOrder>
    {
        public int CompareTo(EventOrder other)
        {
            int c = PacketIndex.CompareTo(other.PacketIndex);
            if (c != 0) return c;
            c = FlowId.CompareTo(other.FlowId);
            return c != 0 ? c : Sequence.CompareTo(other.Sequence);
        }
    }

    private async Task RunAnalysis()
    {
        await foreach (var batch in _analysisQueue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            await batch.Done.WaitAsync().ConfigureAwait(false);
            long t0 = Stopwatch.GetTimestamp();
            try
            {
                foreach (var c in _consumers) c.OnPackets(batch);
                _order.Clear();
                bool sorted = true;
                for (int w = 0; w < batch.Outputs.Length; w++)
                {
                    var buf = batch.Outputs[w];
                    for (int i = 0; i < buf.Count; i++)
                    {
                        ref var e = ref buf[i];
                        var key = new EventOrder(e.PacketIndex, e.Flow.FlowId, e.Sequence, w, i);
                        if (sorted && _order.Count > 0 && _order[^1].CompareTo(key) > 0) sorted = false;
                        _order.Add(key);
                    }
                }
                // Each worker's events are nearly always in order already; only interleaving needs the sort.
                if (!sorted) System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_order).Sort();
                foreach (var o in _order)
                {
                    var buf = batch.Outputs[o.Worker];
                    int i = o.Index;
                    foreach (var c in _consumers) c.OnEvent(in buf[i], buf, batch);
                }
            }
            catch (Exception ex)
            {
                RecordInternalError(ex);
            }
            finally
            {
                _analysisTicks += Stopwatch.GetTimestamp() - t0;
                Return(batch);
            }
        }
    }
}
