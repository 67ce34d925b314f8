using OtSensor.Detection;

namespace OtSensor.Forwarding;

/// <summary>Delivery tuning of a <see cref="Forwarder"/>.</summary>
public sealed class ForwarderOptions
{
    /// <summary>Alerts read from the outbox at a time.</summary>
    public int BatchSize { get; init; } = 256;
    /// <summary>How often an idle forwarder looks for new alerts.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan MinBackoff { get; init; } = TimeSpan.FromMilliseconds(250);
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>
    /// A message handed to TCP/TLS is confirmed (cursor advanced) only once the connection has stayed up this long
    /// after it; a close or reset seen before means it is sent again. Zero confirms at once (on hand-over).
    /// </summary>
    public TimeSpan ConfirmDelay { get; init; } = TimeSpan.FromMilliseconds(500);
    /// <summary>Backlog bound by count (0 = none): when more are waiting at (re)connection, the oldest are skipped (counted and logged).</summary>
    public long MaxBacklogCount { get; init; }
    /// <summary>Backlog bound by age (alert last-seen time against the clock; null = none): older alerts are skipped (counted and logged).</summary>
    public TimeSpan? MaxBacklogAge { get; init; }
    public Func<DateTimeOffset> Clock { get; init; } = () => DateTimeOffset.UtcNow;
}

/// <summary>Counters of one forwarder (read at any time; written by its loop).</summary>
public sealed class ForwarderStats
{
    private long _sent, _filtered, _skipped, _failures, _connects;

    /// <summary>Messages handed to the transport (resends after a connection loss included).</summary>
    public long Sent => Interlocked.Read(ref _sent);
    /// <summary>Alerts not sent because of the destination's filter (severity, types).</summary>
    public long Filtered => Interlocked.Read(ref _filtered);
    /// <summary>Alerts skipped by the backlog bound (count or age): never silent, also logged.</summary>
    public long SkippedBacklog => Interlocked.Read(ref _skipped);
    public long Failures => Interlocked.Read(ref _failures);
    public long Connects => Interlocked.Read(ref _connects);
    /// <summary>The delivered cursor (the outbox's).</summary>
    public long Cursor { get; internal set; }
    public string? LastError { get; internal set; }

    internal void AddSent() => Interlocked.Increment(ref _sent);
    internal void AddFiltered() => Interlocked.Increment(ref _filtered);
    internal void AddSkipped(long n) => Interlocked.Add(ref _skipped, n);
    internal void AddFailure() => Interlocked.Increment(ref _failures);
    internal void AddConnect() => Interlocked.Increment(ref _connects);
}

/// <summary>
/// Store-and-forward to one destination. Reads alerts after the destination's cursor from the outbox, sends them,
/// and moves the cursor only once they are delivered: on hand-over to UDP / the file, and for TCP/TLS once the
/// connection stayed up <see cref="ForwarderOptions.ConfirmDelay"/> after the hand-over. On a failure it reconnects
/// with bounded exponential backoff and resends from the cursor (at-least-once; <c>externalId</c> de-duplicates).
/// A new forwarder on the same outbox (a restart) resumes from the cursor.
/// </summary>
public sealed class Forwarder : IAsyncDisposable
{
    private readonly IAlertOutbox _outbox;
    private readonly Destination _destination;
    private readonly ForwarderOptions _options;
    private readonly Func<IMessageTransport> _transportFactory;
    private readonly Action<string> _log;
    private readonly AlertMessageBuilder _builder;
    private readonly Queue<(long Id, long Ticks)> _pending = new();
    private IMessageTransport? _transport;
    private long _durable;
    private long _sent;

    public Forwarder(IAlertOutbox outbox, Destination destination, ForwarderOptions? options = null,
        Func<IMessageTransport>? transportFactory = null, Action<string>? log = null, AlertMessageBuilder? builder = null)
    {
        ArgumentNullException.ThrowIfNull(outbox);
        ArgumentNullException.ThrowIfNull(destination);
        _outbox = outbox;
        _destination = destination;
        _options = options ?? new ForwarderOptions();
        _log = log ?? (_ => { });
        _transportFactory = transportFactory ?? (() => MessageTransport.Create(destination, null, _log));
        _builder = builder ?? new AlertMessageBuilder(destination);
    }

    public Destination Destination => _destination;
    public ForwarderStats Stats { get; } = new();

    /// <summary>Forwards until cancelled (new alerts are picked up every poll interval).</summary>
    public Task RunAsync(CancellationToken ct) => LoopAsync(once: false, ct);

    /// <summary>
    /// Forwards until everything in the outbox is delivered and confirmed, then returns (retrying through failures
    /// until <paramref name="ct"/> is cancelled, which throws <see cref="OperationCanceledException"/>).
    /// </summary>
    public Task DrainAsync(CancellationToken ct) => LoopAsync(once: true, ct);

    private async Task LoopAsync(bool once, CancellationToken ct)
    {
        _durable = _outbox.GetCursor(_destination.Name);
        Stats.Cursor = _durable;
        var backoff = _options.MinBackoff;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (_transport is null)
            {
                try
                {
                    var t = _transportFactory();
                    _transport = t;
                    await t.ConnectAsync(ct).ConfigureAwait(false);
                    Stats.AddConnect();
                    _pending.Clear();
                    _sent = _durable;
                    ApplyBacklogBound();
                    backoff = _options.MinBackoff;
                }
                catch (Exception ex) when (IsTransient(ex, ct))
                {
                    await FailAsync(ex, "connect").ConfigureAwait(false);
                    await Task.Delay(Jitter(backoff), ct).ConfigureAwait(false);
                    backoff = TimeSpan.FromTicks(Math.Min(_options.MaxBackoff.Ticks, backoff.Ticks * 2));
                    continue;
                }
            }
            try
            {
                if (_transport.PeerClosed) throw new IOException($"connection to {_destination.Url} closed by the receiver");
                Confirm(force: false);
                var batch = _outbox.ReadAfter(_sent, _options.BatchSize);
                if (batch.Count == 0)
                {
                    await _transport.FlushAsync(ct).ConfigureAwait(false);
                    if (_pending.Count == 0)
                    {
                        if (once) return;
                        await Task.Delay(_options.PollInterval, ct).ConfigureAwait(false);
                    }
                    else
                    {
                        var wait = TimeSpan.FromTicks(Math.Max(1, _pending.Peek().Ticks + _options.ConfirmDelay.Ticks - NowTicks()));
                        await Task.Delay(wait < _options.PollInterval ? wait : _options.PollInterval, ct).ConfigureAwait(false);
                    }
                    continue;
                }
                long minNs = _options.MaxBacklogAge is { } age ? (_options.Clock() - age).ToUnixTimeMilliseconds() * 1_000_000 : long.MinValue;
                long skippedOld = 0;
                foreach (var alert in batch)
                {
                    if (alert.Id <= _sent) continue; // defensive: an outbox must return ids after the cursor only
                    if ((alert.LastSeenNs != 0 ? alert.LastSeenNs : alert.FirstSeenNs) < minNs)
                    {
                        skippedOld++;
                    }
                    else if (!_destination.Accepts(alert))
                    {
                        Stats.AddFiltered();
                    }
                    else
                    {
                        if (_transport.PeerClosed) throw new IOException($"connection to {_destination.Url} closed by the receiver");
                        await _transport.SendAsync(_builder.Build(alert), ct).ConfigureAwait(false);
                        Stats.AddSent();
                    }
                    _pending.Enqueue((alert.Id, NowTicks()));
                    _sent = alert.Id;
                }
                await _transport.FlushAsync(ct).ConfigureAwait(false);
                if (skippedOld > 0)
                {
                    Stats.AddSkipped(skippedOld);
                    _log($"{_destination.Url}: skipped {skippedOld} alert(s) older than the backlog age bound {_options.MaxBacklogAge} (up to id {_sent}); {Stats.SkippedBacklog} skipped in all");
                }
                if (_options.ConfirmDelay <= TimeSpan.Zero) Confirm(force: true);
            }
            catch (Exception ex) when (IsTransient(ex, ct))
            {
                await FailAsync(ex, "send").ConfigureAwait(false);
                await Task.Delay(Jitter(backoff), ct).ConfigureAwait(false);
                backoff = TimeSpan.FromTicks(Math.Min(_options.MaxBackoff.Ticks, backoff.Ticks * 2));
            }
        }
    }

    private static bool IsTransient(Exception ex, CancellationToken ct)
        => ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException or UnauthorizedAccessException
            || (ex is OperationCanceledException && !ct.IsCancellationRequested);

    private async Task FailAsync(Exception ex, string what)
    {
        Stats.AddFailure();
        Stats.LastError = ex.Message;
        int resend = _pending.Count;
        _log($"{_destination.Url}: {what} failed: {ex.Message}" + (resend > 0 ? $" ({resend} unconfirmed alert(s) will be sent again)" : ""));
        _pending.Clear();
        _sent = _durable;
        if (_transport is not null)
        {
            try
            {
                await _transport.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException or System.Net.Sockets.SocketException)
            {
            }
            _transport = null;
        }
    }

    private static long NowTicks() => Environment.TickCount64 * TimeSpan.TicksPerMillisecond;

    private static TimeSpan Jitter(TimeSpan backoff)
        => TimeSpan.FromTicks((long)(backoff.Ticks * (0.75 + (Random.Shared.NextDouble() * 0.5))));

    /// <summary>Moves the cursor over the pending alerts whose hand-over is old enough (all of them when forced).</summary>
    private void Confirm(bool force)
    {
        long now = NowTicks();
        long last = _durable;
        while (_pending.Count > 0 && (force || now - _pending.Peek().Ticks >= _options.ConfirmDelay.Ticks))
            last = _pending.Dequeue().Id;
        if (last > _durable)
        {
            _outbox.SetCursor(_destination.Name, last);
            _durable = last;
            Stats.Cursor = last;
        }
    }

    /// <summary>At (re)connection: when more than the count bound are waiting, the oldest are skipped (counted, logged).</summary>
    private void ApplyBacklogBound()
    {
        long max = _options.MaxBacklogCount;
        if (max <= 0) return;
        var ids = new List<long>();
        long after = _durable;
        while (true)
        {
            var page = _outbox.ReadAfter(after, 4096);
            if (page.Count == 0) break;
            foreach (var a in page) ids.Add(a.Id);
            after = page[^1].Id;
        }
        if (ids.Count <= max) return;
        long skip = ids.Count - max;
        long lastSkipped = ids[(int)skip - 1];
        Stats.AddSkipped(skip);
        _log($"{_destination.Url}: backlog of {ids.Count} alerts exceeds the bound of {max}: skipped the oldest {skip} (ids {ids[0]}..{lastSkipped}); {Stats.SkippedBacklog} skipped in all");
        _outbox.SetCursor(_destination.Name, lastSkipped);
        _durable = lastSkipped;
        _sent = lastSkipped;
        Stats.Cursor = lastSkipped;
    }

    public async ValueTask DisposeAsync()
    {
        if (_transport is not null) await _transport.DisposeAsync().ConfigureAwait(false);
        _transport = null;
    }
}
