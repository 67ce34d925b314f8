using OtSensor.Detection;
using OtSensor.Inventory;

namespace OtSensor.Forwarding;

/// <summary>Delivery tuning of a <see cref="Forwarder"/>.</summary>
public sealed class ForwarderOptions
{
    /// <summary>Alerts (and inventory changes) read from an outbox at a time.</summary>
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
    private long _sent, _filtered, _skipped, _failures, _connects, _inventorySent;

    /// <summary>Messages handed to the transport (alerts and inventory changes; resends after a connection loss included).</summary>
    public long Sent => Interlocked.Read(ref _sent);
    /// <summary>Of <see cref="Sent"/>, inventory changes.</summary>
    public long InventorySent => Interlocked.Read(ref _inventorySent);
    /// <summary>Alerts / changes not sent because of the destination's filter (severity, types, inventory=false).</summary>
    public long Filtered => Interlocked.Read(ref _filtered);
    /// <summary>Alerts / changes skipped by the backlog bound (count or age): never silent, also logged.</summary>
    public long SkippedBacklog => Interlocked.Read(ref _skipped);
    public long Failures => Interlocked.Read(ref _failures);
    public long Connects => Interlocked.Read(ref _connects);
    /// <summary>The delivered alert cursor (the outbox's).</summary>
    public long Cursor { get; internal set; }
    /// <summary>The delivered inventory change cursor (0 without a change outbox).</summary>
    public long InventoryCursor { get; internal set; }
    public string? LastError { get; internal set; }

    internal void AddSent(bool inventory)
    {
        Interlocked.Increment(ref _sent);
        if (inventory) Interlocked.Increment(ref _inventorySent);
    }

    internal void AddFiltered() => Interlocked.Increment(ref _filtered);
    internal void AddSkipped(long n) => Interlocked.Add(ref _skipped, n);
    internal void AddFailure() => Interlocked.Increment(ref _failures);
    internal void AddConnect() => Interlocked.Increment(ref _connects);
}

/// <summary>
/// Store-and-forward to one destination. Reads alerts (and, with a change outbox, inventory changes) after the
/// destination's cursors, sends them over one transport, and moves each cursor only once its messages are delivered:
/// on hand-over to UDP / the file, and for TCP/TLS once the connection stayed up
/// <see cref="ForwarderOptions.ConfirmDelay"/> after the hand-over. On a failure it reconnects with bounded exponential
/// backoff and resends from the cursors (at-least-once; <c>externalId</c> de-duplicates: the alert id, or
/// <c>inv-</c> + the change id). A new forwarder on the same outboxes (a restart) resumes from the cursors.
/// </summary>
/// <remarks>
/// Alerts and changes are two ordered streams with their own ids, so each has its own cursor under the destination's
/// name (alerts: the detection tables' <c>forward_cursors</c>; changes: <c>inventory_change_cursors</c>). Each round
/// sends one batch of each; within a stream the order is the store's.
/// </remarks>
public sealed class Forwarder : IAsyncDisposable
{
    private readonly Destination _destination;
    private readonly ForwarderOptions _options;
    private readonly Func<IMessageTransport> _transportFactory;
    private readonly Action<string> _log;
    private readonly AlertMessageBuilder _builder;
    private readonly Stream[] _streams;
    private IMessageTransport? _transport;

    public Forwarder(IAlertOutbox outbox, Destination destination, ForwarderOptions? options = null,
        Func<IMessageTransport>? transportFactory = null, Action<string>? log = null, AlertMessageBuilder? builder = null,
        IInventoryChangeOutbox? changes = null)
    {
        ArgumentNullException.ThrowIfNull(outbox);
        ArgumentNullException.ThrowIfNull(destination);
        _destination = destination;
        _options = options ?? new ForwarderOptions();
        _log = log ?? (_ => { });
        _transportFactory = transportFactory ?? (() => MessageTransport.Create(destination, null, _log));
        _builder = builder ?? new AlertMessageBuilder(destination);
        var alerts = new Stream("alert", false,
            (after, max) => outbox.ReadAfter(after, max).Select(a => new Item(a.Id, a.LastSeenNs != 0 ? a.LastSeenNs : a.FirstSeenNs, a, null)).ToList(),
            () => outbox.GetCursor(destination.Name), id => outbox.SetCursor(destination.Name, id), v => Stats.Cursor = v);
        _streams = changes is null ? [alerts] :
        [
            alerts,
            new Stream("inventory change", true,
                (after, max) => changes.ReadAfter(after, max).Select(c => new Item(c.Id, c.TimeNs, null, c)).ToList(),
                () => changes.GetCursor(destination.Name), id => changes.SetCursor(destination.Name, id), v => Stats.InventoryCursor = v),
        ];
    }

    public Destination Destination => _destination;
    public ForwarderStats Stats { get; } = new();

    /// <summary>Forwards until cancelled (new alerts and changes are picked up every poll interval).</summary>
    public Task RunAsync(CancellationToken ct) => LoopAsync(once: false, ct);

    /// <summary>
    /// Forwards until everything in the outboxes is delivered and confirmed, then returns (retrying through failures
    /// until <paramref name="ct"/> is cancelled, which throws <see cref="OperationCanceledException"/>).
    /// </summary>
    public Task DrainAsync(CancellationToken ct) => LoopAsync(once: true, ct);

    private async Task LoopAsync(bool once, CancellationToken ct)
    {
        foreach (var s in _streams)
        {
            s.Durable = s.GetCursor();
            s.Publish(s.Durable);
        }
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
                    foreach (var s in _streams)
                    {
                        s.Pending.Clear();
                        s.Sent = s.Durable;
                        ApplyBacklogBound(s);
                    }
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
                bool any = false;
                foreach (var s in _streams)
                {
                    var batch = s.Read(s.Sent, _options.BatchSize);
                    if (batch.Count == 0) continue;
                    any = true;
                    await SendBatchAsync(s, batch, ct).ConfigureAwait(false);
                }
                if (!any)
                {
                    await _transport.FlushAsync(ct).ConfigureAwait(false);
                    long oldest = long.MaxValue;
                    foreach (var s in _streams)
                        if (s.Pending.Count > 0) oldest = Math.Min(oldest, s.Pending.Peek().Ticks);
                    if (oldest == long.MaxValue)
                    {
                        if (once) return;
                        await Task.Delay(_options.PollInterval, ct).ConfigureAwait(false);
                    }
                    else
                    {
                        var wait = TimeSpan.FromTicks(Math.Max(1, oldest + _options.ConfirmDelay.Ticks - NowTicks()));
                        await Task.Delay(wait < _options.PollInterval ? wait : _options.PollInterval, ct).ConfigureAwait(false);
                    }
                    continue;
                }
                await _transport.FlushAsync(ct).ConfigureAwait(false);
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

    private async Task SendBatchAsync(Stream s, List<Item> batch, CancellationToken ct)
    {
        long minNs = _options.MaxBacklogAge is { } age ? (_options.Clock() - age).ToUnixTimeMilliseconds() * 1_000_000 : long.MinValue;
        long skippedOld = 0;
        foreach (var item in batch)
        {
            if (item.Id <= s.Sent) continue; // defensive: an outbox must return ids after the cursor only
            if (item.TimeNs < minNs)
            {
                skippedOld++;
            }
            else if (item.Alert is { } alert ? !_destination.Accepts(alert) : !_destination.Accepts(item.Change!))
            {
                Stats.AddFiltered();
            }
            else
            {
                if (_transport!.PeerClosed) throw new IOException($"connection to {_destination.Url} closed by the receiver");
                byte[] message = item.Alert is { } a ? _builder.Build(a) : _builder.Build(item.Change!);
                await _transport.SendAsync(message, ct).ConfigureAwait(false);
                Stats.AddSent(s.IsInventory);
            }
            s.Pending.Enqueue((item.Id, NowTicks()));
            s.Sent = item.Id;
        }
        if (skippedOld > 0)
        {
            Stats.AddSkipped(skippedOld);
            _log($"{_destination.Url}: skipped {skippedOld} {s.What}(s) older than the backlog age bound {_options.MaxBacklogAge} (up to id {s.Sent}); {Stats.SkippedBacklog} skipped in all");
        }
    }

    private static bool IsTransient(Exception ex, CancellationToken ct)
        => ex is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException or UnauthorizedAccessException
            || (ex is OperationCanceledException && !ct.IsCancellationRequested);

    private async Task FailAsync(Exception ex, string what)
    {
        Stats.AddFailure();
        Stats.LastError = ex.Message;
        int resend = 0;
        foreach (var s in _streams) resend += s.Pending.Count;
        _log($"{_destination.Url}: {what} failed: {ex.Message}" + (resend > 0 ? $" ({resend} unconfirmed message(s) will be sent again)" : ""));
        foreach (var s in _streams)
        {
            s.Pending.Clear();
            s.Sent = s.Durable;
        }
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

    /// <summary>Moves each cursor over its pending messages whose hand-over is old enough (all of them when forced).</summary>
    private void Confirm(bool force)
    {
        long now = NowTicks();
        foreach (var s in _streams)
        {
            long last = s.Durable;
            while (s.Pending.Count > 0 && (force || now - s.Pending.Peek().Ticks >= _options.ConfirmDelay.Ticks))
                last = s.Pending.Dequeue().Id;
            if (last > s.Durable)
            {
                s.SetCursor(last);
                s.Durable = last;
                s.Publish(last);
            }
        }
    }

    /// <summary>At (re)connection: when more than the count bound are waiting in a stream, its oldest are skipped (counted, logged).</summary>
    private void ApplyBacklogBound(Stream s)
    {
        long max = _options.MaxBacklogCount;
        if (max <= 0) return;
        var ids = new List<long>();
        long after = s.Durable;
        while (true)
        {
            var page = s.Read(after, 4096);
            if (page.Count == 0) break;
            foreach (var a in page) ids.Add(a.Id);
            after = page[^1].Id;
        }
        if (ids.Count <= max) return;
        long skip = ids.Count - max;
        long lastSkipped = ids[(int)skip - 1];
        Stats.AddSkipped(skip);
        _log($"{_destination.Url}: backlog of {ids.Count} {s.What}s exceeds the bound of {max}: skipped the oldest {skip} (ids {ids[0]}..{lastSkipped}); {Stats.SkippedBacklog} skipped in all");
        s.SetCursor(lastSkipped);
        s.Durable = lastSkipped;
        s.Sent = lastSkipped;
        s.Publish(lastSkipped);
    }

    public async ValueTask DisposeAsync()
    {
        if (_transport is not null) await _transport.DisposeAsync().ConfigureAwait(false);
        _transport = null;
    }

    /// <summary>One message to send: an alert or an inventory change, with its id in its stream and its time.</summary>
    private readonly record struct Item(long Id, long TimeNs, Alert? Alert, InventoryChange? Change);

    /// <summary>One ordered outbox of a destination: its cursor (durable), what was handed over (sent) and the unconfirmed hand-overs.</summary>
    private sealed class Stream(string what, bool isInventory, Func<long, int, List<Item>> read, Func<long> getCursor, Action<long> setCursor, Action<long> publish)
    {
        public string What { get; } = what;
        public bool IsInventory { get; } = isInventory;
        public Queue<(long Id, long Ticks)> Pending { get; } = new();
        public long Durable { get; set; }
        public long Sent { get; set; }
        public List<Item> Read(long afterId, int max) => read(afterId, max);
        public long GetCursor() => getCursor();
        public void SetCursor(long id) => setCursor(id);
        public void Publish(long id) => publish(id);
    }
}
