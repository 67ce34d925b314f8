using System.Diagnostics;
using OtSensor.Capture.Live;
using OtSensor.Core;

namespace OtSensor.Pipeline;

/// <summary>A source of live packets: one open capture interface (libpcap), read by one capture thread.</summary>
public interface ILivePacketSource : IDisposable
{
    string Interface { get; }
    LinkType LinkType { get; }
    int Snaplen { get; }
    /// <summary>Hands the waiting packets to the handler in place; 0 on timeout, -2 after <see cref="BreakLoop"/>.</summary>
    int Dispatch(int maxPackets, ILivePacketHandler handler);
    void BreakLoop();
    LiveCaptureStats GetStats();
}

public sealed class LiveOptions : PipelineOptions
{
    public required IReadOnlyList<LiveCaptureOptions> Interfaces { get; init; }
    /// <summary>Opens one interface; the libpcap binding unless a test or another capture library provides its own.</summary>
    public required Func<LiveCaptureOptions, ILivePacketSource> Open { get; init; }
    /// <summary>Bytes of the ring between each capture thread and the decoder; what does not fit is an application drop.</summary>
    public int RingBytes { get; init; } = 64 << 20;
    /// <summary>Longest time a packet waits in a partly filled batch before it is handed to the workers.</summary>
    public TimeSpan BatchLatency { get; init; } = TimeSpan.FromMilliseconds(100);
    /// <summary>How often the flows' clock advances (idle timeouts) when no packet arrives.</summary>
    public TimeSpan IdleTick { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Stop by itself after this long (null: until cancelled).</summary>
    public TimeSpan? Duration { get; init; }
    /// <summary>Rolling capture to disk: one writer per interface, or null.</summary>
    public Func<ILivePacketSource, IRollingPacketWriter>? WritePcap { get; init; }
    /// <summary>How long to wait before reopening an interface that failed (went down, was removed).</summary>
    public TimeSpan ReopenDelay { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>Where the live pipeline writes what it captured (a rotating pcap writer).</summary>
public interface IRollingPacketWriter : IDisposable
{
    void Write(ReadOnlySpan<byte> data, int originalLength, long timestampNs);
    void Flush();
    long PacketsWritten { get; }
    long WriteErrors { get; }
    string? LastError { get; }
}

/// <summary>Counters of one capture interface, safe to read while capturing.</summary>
public sealed class LiveInterfaceStatus
{
    internal long _captured;
    internal long _bytes;
    internal long _appDropped;
    internal long _kernelReceived;
    internal long _kernelDropped;
    internal long _interfaceDropped;
    internal long _reopens;
    private string? _error;

    public required string Interface { get; init; }
    public LinkType LinkType { get; internal set; }
    /// <summary>Packets the capture thread got from libpcap.</summary>
    public long Captured => Interlocked.Read(ref _captured);
    public long Bytes => Interlocked.Read(ref _bytes);
    /// <summary>Packets captured but refused by the full ring (the pipeline fell behind): never silent.</summary>
    public long ApplicationDropped => Interlocked.Read(ref _appDropped);
    /// <summary>pcap_stats: packets the kernel passed the filter.</summary>
    public long KernelReceived => Interlocked.Read(ref _kernelReceived);
    /// <summary>pcap_stats: packets dropped by the kernel (capture buffer full).</summary>
    public long KernelDropped => Interlocked.Read(ref _kernelDropped);
    /// <summary>pcap_stats: packets dropped by the interface or its driver.</summary>
    public long InterfaceDropped => Interlocked.Read(ref _interfaceDropped);
    public long Reopens => Interlocked.Read(ref _reopens);
    /// <summary>Bytes waiting in the ring for the decoder.</summary>
    public long QueueBytes { get; internal set; }
    public int QueueCapacity { get; internal set; }
    /// <summary>The last capture error (interface down...), or null while capturing normally.</summary>
    public string? Error { get => Volatile.Read(ref _error); internal set => Volatile.Write(ref _error, value); }
    public long PcapPacketsWritten { get; internal set; }
    public long PcapWriteErrors { get; internal set; }
    public string? PcapLastError { get; internal set; }
}

/// <summary>
/// Live capture: one capture thread per interface (never waits on the pipeline: a full ring is an application drop)
/// → the ingest thread (decodes and batches, rolling pcap) → N dissector workers → one analysis consumer, the same
/// stages and consumers as an offline replay. Passive: nothing here can transmit.
/// </summary>
public sealed class LiveEngine
{
    private readonly LiveOptions _options;
    private readonly PipelineCore _core;
    private readonly List<Capture> _captures = [];
    private readonly ManualResetEventSlim _dataReady = new(false);
    private readonly Stopwatch _uptime = new();
    private volatile bool _stopping;

    public LiveEngine(LiveOptions options, IReadOnlyList<IEventConsumer> consumers)
    {
        if (options.Interfaces.Count == 0) throw new ArgumentException("live capture needs at least one interface", nameof(options));
        _options = options;
        _core = new PipelineCore(options, consumers);
    }

    public IReadOnlyList<LiveInterfaceStatus> Interfaces => _captures.ConvertAll(c => c.Status);
    public long InternalErrors => _core.InternalErrors;
    public Exception? FirstInternalError => _core.FirstInternalError;
    public TimeSpan Uptime => _uptime.Elapsed;
    /// <summary>Packets the analysis stage has finished.</summary>
    public long ProcessedPackets => _core.ProcessedPackets;
    /// <summary>Batches between the decoder and the end of the analysis stage.</summary>
    public int BatchesInFlight => _core.BatchesInFlight;

    /// <summary>Opens every interface (all or nothing): a bad interface or filter fails here, before anything runs.</summary>
    public void Open()
    {
        if (_captures.Count > 0) return;
        try
        {
            foreach (var o in _options.Interfaces)
            {
                var src = _options.Open(o);
                var c = new Capture(o, src, new PacketRing(_options.RingBytes), this);
                _captures.Add(c);
                if (_options.WritePcap is { } w) c.Writer = w(src);
            }
        }
        catch
        {
            foreach (var c in _captures) c.Dispose();
            _captures.Clear();
            throw;
        }
    }

    /// <summary>Captures until <paramref name="cancellationToken"/> fires or the duration ends, then drains every stage.</summary>
    public async Task<ReplayStats> RunAsync(CancellationToken cancellationToken = default)
    {
        Open();
        _uptime.Start();
        _core.Start();
        var threads = new List<Thread>();
        foreach (var c in _captures)
        {
            var t = new Thread(c.Run) { IsBackground = true, Name = "capture " + c.Status.Interface };
            t.Start();
            threads.Add(t);
        }
        using var duration = _options.Duration is { } d ? new CancellationTokenSource(d) : new CancellationTokenSource();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, duration.Token);
        using var reg = stop.Token.Register(Stop);
        await Task.Factory.StartNew(() => RunIngest(threads), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        _core.Stats.Interfaces = Interfaces;
        var stats = await _core.CompleteAsync(_uptime.Elapsed).ConfigureAwait(false);
        foreach (var c in _captures) c.Dispose();
        return stats;
    }

    /// <summary>Stops capturing; the packets already captured still go through every stage.</summary>
    public void Stop()
    {
        _stopping = true;
        foreach (var c in _captures) c.BreakLoop();
        _dataReady.Set();
    }

    private void RunIngest(List<Thread> captureThreads)
    {
        const int Chunk = 256;
        long latencyTicks = (long)(_options.BatchLatency.TotalSeconds * Stopwatch.Frequency);
        long idleTicks = (long)(_options.IdleTick.TotalSeconds * Stopwatch.Frequency);
        long batchStarted = 0;
        long lastShip = Stopwatch.GetTimestamp();
        var core = _core;
        while (true)
        {
            bool capturing = !_stopping || captureThreads.Exists(t => t.IsAlive);
            int got = 0;
            long t0 = Stopwatch.GetTimestamp();
            foreach (var c in _captures)
            {
                var ring = c.Ring;
                int n = 0;
                while (n < Chunk && ring.TryPeek(out var data, out int orig, out long ts))
                {
                    if (core.Pending == 0) batchStarted = Stopwatch.GetTimestamp();
                    core.Add(data, orig, ts, c.Status.LinkType);
                    c.Writer?.Write(data, orig, ts);
                    ring.Release();
                    n++;
                    if (core.BatchFull)
                    {
                        core.Flush(core.Clock);
                        lastShip = Stopwatch.GetTimestamp();
                    }
                }
                c.Status.QueueBytes = ring.UsedBytes;
                got += n;
            }
            long now = Stopwatch.GetTimestamp();
            if (got > 0) core.AddIngestTicks(now - t0);
            if (got == 0 && !capturing) break;
            if (core.Pending > 0 && now - batchStarted >= latencyTicks)
            {
                core.Flush(core.Clock);
                lastShip = now;
            }
            else if (now - lastShip >= idleTicks)
            {
                // Nothing arrived for a while: still advance the flows' clock (idle timeouts) to the wall clock,
                // which is the clock libpcap stamps packets with.
                core.Flush(core.Pending > 0 ? core.Clock : Math.Max(core.Clock, WallClockNs()));
                lastShip = now;
            }
            if (got == 0)
            {
                foreach (var c in _captures) c.Writer?.Flush();
                PublishWriterStats();
                _dataReady.Wait(20);
                _dataReady.Reset();
            }
        }
        foreach (var c in _captures) c.Writer?.Flush();
        PublishWriterStats();
    }

    private void PublishWriterStats()
    {
        foreach (var c in _captures)
        {
            if (c.Writer is not { } w) continue;
            c.Status.PcapPacketsWritten = w.PacketsWritten;
            c.Status.PcapWriteErrors = w.WriteErrors;
            c.Status.PcapLastError = w.LastError;
        }
    }

    private static long WallClockNs() => (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;

    /// <summary>One interface: its source, its capture thread and the ring it fills.</summary>
    private sealed class Capture : ILivePacketHandler, IDisposable
    {
        private readonly LiveCaptureOptions _options;
        private readonly LiveEngine _engine;
        private readonly Lock _sourceLock = new();
        private ILivePacketSource? _source;
        private LiveCaptureStats _base; // counters of earlier, reopened handles
        private LiveCaptureStats _last;

        public Capture(LiveCaptureOptions options, ILivePacketSource source, PacketRing ring, LiveEngine engine)
        {
            _options = options;
            _source = source;
            _engine = engine;
            Ring = ring;
            Status = new LiveInterfaceStatus { Interface = source.Interface, LinkType = source.LinkType, QueueCapacity = ring.Capacity };
        }

        public PacketRing Ring { get; }
        public LiveInterfaceStatus Status { get; }
        public IRollingPacketWriter? Writer { get; set; }

        public void OnPacket(ReadOnlySpan<byte> data, int originalLength, long timestampNs)
        {
            Status._captured++;
            Status._bytes += data.Length;
            if (!Ring.TryWrite(data, originalLength, timestampNs)) Interlocked.Increment(ref Status._appDropped);
        }

        public void Run()
        {
            long lastStats = 0;
            long statsEvery = Stopwatch.Frequency / 2;
            while (!_engine._stopping)
            {
                var src = _source;
                if (src is null)
                {
                    if (!Reopen()) continue;
                    src = _source!;
                }
                int n;
                try
                {
                    n = src.Dispatch(4096, this);
                }
                catch (LiveCaptureException ex)
                {
                    Status.Error = ex.Message;
                    CloseSource();
                    continue;
                }
                if (n > 0) _engine._dataReady.Set();
                if (n == -2) continue;
                long now = Stopwatch.GetTimestamp();
                if (now - lastStats >= statsEvery)
                {
                    ReadStats(src);
                    lastStats = now;
                }
            }
            if (_source is { } last) ReadStats(last);
        }

        private void ReadStats(ILivePacketSource src)
        {
            try
            {
                _last = src.GetStats();
            }
            catch (LiveCaptureException ex)
            {
                Status.Error = ex.Message;
                return;
            }
            Interlocked.Exchange(ref Status._kernelReceived, _base.Received + _last.Received);
            Interlocked.Exchange(ref Status._kernelDropped, _base.KernelDropped + _last.KernelDropped);
            Interlocked.Exchange(ref Status._interfaceDropped, _base.InterfaceDropped + _last.InterfaceDropped);
        }

        private void CloseSource()
        {
            lock (_sourceLock)
            {
                _base = new LiveCaptureStats(_base.Received + _last.Received, _base.KernelDropped + _last.KernelDropped, _base.InterfaceDropped + _last.InterfaceDropped);
                _last = default;
                _source?.Dispose();
                _source = null;
            }
        }

        /// <summary>After a failure (interface down or removed), tries again after the reopen delay, until stopped.</summary>
        private bool Reopen()
        {
            var deadline = Stopwatch.GetTimestamp() + (long)(_engine._options.ReopenDelay.TotalSeconds * Stopwatch.Frequency);
            while (!_engine._stopping && Stopwatch.GetTimestamp() < deadline) Thread.Sleep(50);
            if (_engine._stopping) return false;
            try
            {
                var src = _engine._options.Open(_options);
                lock (_sourceLock) _source = src;
                Status.LinkType = src.LinkType;
                Interlocked.Increment(ref Status._reopens);
                Status.Error = null;
                return true;
            }
            catch (LiveCaptureException ex)
            {
                Status.Error = ex.Message;
                return false;
            }
        }

        public void BreakLoop()
        {
            lock (_sourceLock) _source?.BreakLoop();
        }

        public void Dispose()
        {
            lock (_sourceLock)
            {
                _source?.Dispose();
                _source = null;
            }
            Writer?.Dispose();
            Writer = null;
        }
    }
}
