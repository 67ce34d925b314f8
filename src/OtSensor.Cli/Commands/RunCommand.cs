using System.CommandLine;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OtSensor.Capture.Live;
using OtSensor.Detection;
using OtSensor.Forwarding;
using OtSensor.Inventory;
using OtSensor.Pipeline;
using OtSensor.Service;
using OtSensor.Store;

namespace OtSensor.Cli.Commands;

/// <summary>
/// <c>otsensor run --config FILE</c>: the appliance service. The configuration is validated first (exit 2 with one
/// clear line when it is wrong, before anything starts); then the generic host runs <see cref="SensorService"/> until
/// SIGTERM/SIGINT, with logs on stdout in the systemd format.
/// </summary>
internal static class RunCommand
{
    public const string DefaultConfig = "/etc/otsensor/otsensor.json";

    public static Command Create()
    {
        var config = new Option<string>("--config", "-c") { Description = $"Service configuration, JSON or YAML (default {DefaultConfig}).", DefaultValueFactory = _ => DefaultConfig };
        var check = new Option<bool>("--check") { Description = "Validate the configuration and exit (0 when it is valid)." };
        var cmd = new Command("run", "Run the sensor as a service: capture continuously on the configured interfaces, keep the store, forward alerts, report health (otsensor status).")
        {
            config, check,
        };
        // A synchronous action: the host handles SIGTERM/SIGINT itself and drains within its shutdown timeout.
        cmd.SetAction(parse => Run(parse.GetValue(config) ?? DefaultConfig, parse.GetValue(check)));
        return cmd;
    }

    internal static int Run(string configPath, bool checkOnly)
    {
        ResolvedServiceConfig resolved;
        try
        {
            var config = ServiceConfig.Load(configPath);
            resolved = ServiceConfigValidator.Validate(config, ServiceLiveSources.ListInterfaces, m => Console.Error.WriteLine($"otsensor run: {m}"));
        }
        catch (ConfigException ex)
        {
            Console.Error.WriteLine($"otsensor run: invalid configuration: {ex.Message}");
            return Program.ExitUsage;
        }
        if (!LibPcap.IsAvailable)
        {
            Console.Error.WriteLine("otsensor run: libpcap (libpcap.so.0.8) is not installed: run ./install (Debian package libpcap0.8).");
            return Program.ExitError;
        }
        if (checkOnly)
        {
            Console.Out.WriteLine($"otsensor run: {configPath}: configuration is valid ({resolved.Config.Interfaces.Count} interface(s), {resolved.Destinations.Count} SIEM destination(s), store {resolved.Config.Store}).");
            return Program.ExitOk;
        }

        var state = new ServiceState(resolved);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true, ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.AddSystemdConsole(o =>
        {
            o.IncludeScopes = false;
            o.UseUtcTimestamp = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });
        builder.Logging.SetMinimumLevel(LogLevel.Information);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Services.Configure<HostOptions>(o =>
        {
            o.ShutdownTimeout = ServiceState.ShutdownTimeout;
            o.BackgroundServiceExceptionBehavior = BackgroundServiceExceptionBehavior.StopHost;
        });
        builder.Services.AddSingleton(state);
        builder.Services.AddHostedService<SensorService>();
        using var host = builder.Build();
        try
        {
            host.Run();
        }
        catch (OperationCanceledException)
        {
        }
        return state.ExitCode;
    }
}

/// <summary>What the service shares between its loop, the status socket and the metrics endpoint.</summary>
internal sealed class ServiceState(ResolvedServiceConfig resolved)
{
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(20);

    private long _storeErrors;
    private long _pruned;
    private volatile ServiceStatusSnapshot _snapshot = new();

    public ResolvedServiceConfig Resolved { get; } = resolved;
    public ServiceConfig Config => Resolved.Config;
    public int ExitCode { get; set; } = Program.ExitOk;
    public long StoreErrors => Interlocked.Read(ref _storeErrors);
    public long Pruned => Interlocked.Read(ref _pruned);
    public string? LastStoreError { get; set; }
    public ServiceStatusSnapshot Snapshot { get => _snapshot; set => _snapshot = value; }

    public void AddStoreError(string message)
    {
        Interlocked.Increment(ref _storeErrors);
        LastStoreError = message;
    }

    public void AddPruned(long n) => Interlocked.Add(ref _pruned, n);
}

/// <summary>The consumers of one pipeline run of the service: inventory + store, detection + alert store.</summary>
internal sealed class ServiceSession : IDisposable
{
    private InventoryStore? _inventoryStore;
    private AlertStore? _alertStore;

    public List<IEventConsumer> Consumers { get; } = [];
    public AssetInventory? Inventory { get; private set; }
    public DetectionEngine? Detection { get; private set; }

    /// <exception cref="StoreException">The store cannot be opened.</exception>
    public static ServiceSession Create(ResolvedServiceConfig r)
    {
        var s = new ServiceSession();
        try
        {
            s._inventoryStore = InventoryStore.Open(r.Config.Store, readOnly: false);
            s.Inventory = new AssetInventory(null, s._inventoryStore);
            s.Consumers.Add(s.Inventory);
            if (r.Config.Detection.Enabled)
            {
                s._alertStore = AlertStore.Open(r.Config.Store);
                s.Detection = new DetectionEngine(r.Rules, s._alertStore, r.Baseline) { Naming = s.Inventory.Naming };
                s.Consumers.Add(s.Detection);
            }
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>The first store failure of this run (inventory or detection), or null.</summary>
    public StoreException? StoreError => Inventory?.StoreError ?? Detection?.StoreError;

    /// <summary>True while the store refuses writes; inventory and alerts wait in memory and are retried.</summary>
    public bool StoreFailing => (Inventory?.StoreFailing ?? false) || (Detection?.StoreFailing ?? false);

    public void Dispose()
    {
        _inventoryStore?.Dispose();
        _inventoryStore = null;
        _alertStore?.Dispose();
        _alertStore = null;
    }
}

/// <summary>
/// The service loop: the live pipeline with the inventory and detection consumers, one forwarder per SIEM
/// destination (continuously, from the store's committed alerts, each with its cursor), the status socket, the
/// metrics endpoint, the periodic stats line and the retention job. A store failure (disk full) is logged and
/// counted and capture goes on: the inventory and alert writers keep what they could not write and retry, and this
/// loop reports the outage and its end.
/// </summary>
internal sealed partial class SensorService(ServiceState state, ILogger<SensorService> log, IHostApplicationLifetime lifetime) : BackgroundService
{
    private static readonly TimeSpan ForwarderDrainTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan StoreRetryInterval = TimeSpan.FromSeconds(30);
    private readonly List<Forwarder> _forwarders = [];
    /// <summary>The interfaces' last counters once the pipeline has drained, for the snapshot served after it.</summary>
    private List<InterfaceStatusSnapshot> _finalInterfaces = [];
    private LiveEngine? _engine;
    private ServiceSession? _session;
    private long _lastPackets;
    private long _lastBytes;
    private DateTime _lastRate = DateTime.UtcNow;
    private double _pps;
    private double _mbps;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RunAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            // Expected failures (capture, store) are one clear line; anything else keeps its stack trace for a report.
            if (ex is InvalidOperationException { InnerException: LiveCaptureException } or StoreException) LogFatal(log, ex.Message, null);
            else LogFatal(log, ex.Message, ex);
            state.ExitCode = Program.ExitError;
        }
        finally
        {
            lifetime.StopApplication();
        }
    }

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        var c = state.Config;
        LogStarting(log, c.File, string.Join(", ", c.Interfaces.Select(i => i.Name)), c.Store);
        // The store opens (and its schema migrates) before anything reads it; one that cannot open stops the start.
        using (InventoryStore.Open(c.Store, readOnly: false))
        using (AlertStore.Open(c.Store))
        {
        }
        await using var status = StartStatusSocket(c);
        await using var metrics = StartMetrics(c);

        using var forwardStop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var forwarding = StartForwarders(forwardStop.Token);
        try
        {
            await RunPipelineAsync(stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            // Forwarders: stop polling, then deliver what the drained pipeline committed, within a bound.
            await forwardStop.CancelAsync().ConfigureAwait(false);
            await forwarding.ConfigureAwait(false);
            await Task.WhenAny(Task.WhenAll(_healthSends), Task.Delay(TimeSpan.FromSeconds(10), CancellationToken.None)).ConfigureAwait(false);
            await DrainForwardersAsync().ConfigureAwait(false);
            foreach (var f in _forwarders) await f.DisposeAsync().ConfigureAwait(false);
            UpdateSnapshot();
            LogStopped(log, state.Snapshot.ProcessedPackets, state.Snapshot.Assets, state.Snapshot.Alerts);
        }
    }

    /// <summary>
    /// The pipeline, from opening the interfaces until the service stops. An interface that fails later is reopened by
    /// the live engine itself, and a store outage is waited out by the writers, so nothing here restarts it.
    /// </summary>
    private async Task RunPipelineAsync(CancellationToken stoppingToken)
    {
        var c = state.Config;
        _session = ServiceSession.Create(state.Resolved);
        var options = new LiveOptions
        {
            Interfaces = [.. c.Interfaces.Select(i => new LiveCaptureOptions
            {
                Interface = i.Name,
                Bpf = i.Bpf,
                Snaplen = i.Snaplen,
                BufferBytes = i.BufferMb << 20,
                Promiscuous = i.Promiscuous,
            })],
            Open = ServiceLiveSources.Open,
            RingBytes = c.RingMb << 20,
            Workers = c.EffectiveWorkers,
            Dissectors = Dissectors(c),
            WritePcap = ServiceLiveSources.RollingWriter(c.Retention.Pcap),
        };
        var engine = new LiveEngine(options, _session.Consumers);
        try
        {
            engine.Open();
        }
        catch (LiveCaptureException ex)
        {
            _session.Dispose();
            _session = null;
            throw new InvalidOperationException($"cannot capture: {ex.Message}", ex);
        }
        _engine = engine;
        using var runStop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var run = engine.RunAsync(runStop.Token);
        LogCapturing(log, engine.Interfaces.Count, c.EffectiveWorkers);
        StoreException? seen = null;
        var nextStats = DateTime.UtcNow + TimeSpan.FromSeconds(c.StatsIntervalSeconds);
        var nextRetention = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        var nextProbe = DateTime.MaxValue;
        var errorsSeen = new Dictionary<string, string?>(StringComparer.Ordinal);
        while (!run.IsCompleted)
        {
            await Task.WhenAny(run, Task.Delay(1000, CancellationToken.None)).ConfigureAwait(false);
            UpdateSnapshot();
            var now = DateTime.UtcNow;
            foreach (var i in engine.Interfaces)
            {
                errorsSeen.TryGetValue(i.Interface, out var before);
                if (i.Error != before)
                {
                    if (i.Error is not null) LogInterfaceError(log, i.Interface, i.Error);
                    else LogInterfaceBack(log, i.Interface);
                    errorsSeen[i.Interface] = i.Error;
                }
            }
            // A store that refuses writes (disk full...) does not stop capture: the inventory and the alerts wait in
            // memory (bounded, drops counted) and their writers retry; this only reports the outage and its end.
            bool failing = _session.StoreFailing;
            if (failing && seen is null && _session.StoreError is { } se)
            {
                seen = se;
                state.AddStoreError(se.Message);
                LogStoreFailed(log, se.Message, se.Kind.ToString());
                NotifyStoreHealth(failed: true, se.Message);
                nextProbe = now + StoreRetryInterval;
            }
            else if (failing && seen is not null && now >= nextProbe)
            {
                LogStoreStillFailing(log, Retention.ProbeWritable(c.Store, out string? why) ? "the file takes writes again; retrying" : why ?? "?");
                nextProbe = now + StoreRetryInterval;
            }
            else if (!failing && seen is not null)
            {
                LogStoreBack(log);
                NotifyStoreHealth(failed: false, "writes succeed again");
                seen = null;
            }
            if (now >= nextStats)
            {
                LogStats(state.Snapshot);
                nextStats = now + TimeSpan.FromSeconds(c.StatsIntervalSeconds);
            }
            if (now >= nextRetention)
            {
                RunRetention();
                nextRetention = now + TimeSpan.FromMinutes(c.Retention.IntervalMinutes);
            }
        }
        var stats = await run.ConfigureAwait(false);
        UpdateSnapshot();
        _finalInterfaces = [.. state.Snapshot.Interfaces.Select(i => i with { QueueBytes = 0, Error = null })];
        _engine = null;
        if (engine.FirstInternalError is { } bug) LogInternal(log, engine.InternalErrors, bug.Message);
        if (seen is null && _session.StoreFailing && _session.StoreError is { } late)
        {
            state.AddStoreError(late.Message);
            LogStoreFailed(log, late.Message, late.Kind.ToString());
        }
        UpdateSnapshot();
        _session.Dispose();
        _session = null;
        LogDrained(log, stats.Decode.Packets, engine.Interfaces.Sum(i => i.ApplicationDropped));
    }

    private static DissectorOptions Dissectors(ServiceConfig c)
    {
        var d = new DissectorOptions();
        foreach (var p in c.ModbusPorts) d.ModbusPorts.Add((ushort)p);
        return d;
    }

    private StatusSocketServer? StartStatusSocket(ServiceConfig c)
    {
        string path = c.EffectiveStatusSocket;
        try
        {
            var s = StatusSocketServer.Start(path, () => state.Snapshot);
            LogStatusSocket(log, path);
            return s;
        }
        catch (IOException ex)
        {
            LogStatusSocketFailed(log, ex.Message);
            return null;
        }
    }

    private MetricsServer? StartMetrics(ServiceConfig c)
    {
        if (!c.Metrics.Enabled) return null;
        try
        {
            var m = MetricsServer.Start(c.Metrics.Port, () => state.Snapshot);
            LogMetrics(log, m.Port);
            return m;
        }
        catch (IOException ex)
        {
            LogMetricsFailed(log, ex.Message);
            return null;
        }
    }

    private readonly List<Task> _healthSends = [];

    /// <summary>
    /// Tells every destination at once that the store cannot be written (or can again): the forwarders read from the
    /// store, so this event goes straight out, not through it. Failures are logged; capture is never held up.
    /// </summary>
    private void NotifyStoreHealth(bool failed, string detail)
    {
        var r = state.Resolved;
        var alert = DirectSend.StoreHealthEvent(failed, r.Config.Store, detail);
        for (int i = 0; i < r.Destinations.Count; i++)
        {
            var d = r.Destinations[i];
            // A file destination is a local log the forwarder holds open: a second writer would overwrite its lines.
            if (!d.Accepts(alert) || d.Kind == TransportKind.File) continue;
            var tls = r.Tls[i];
            byte[] message = new AlertMessageBuilder(d).Build(alert);
            _healthSends.RemoveAll(t => t.IsCompleted);
            _healthSends.Add(Task.Run(async () =>
            {
                string? error = await DirectSend.SendAsync(d, tls, message, TimeSpan.FromSeconds(10), m => LogForward(log, m), CancellationToken.None).ConfigureAwait(false);
                LogForward(log, error is null ? $"{d.Url}: sent {alert.Type}" : $"{d.Url}: {alert.Type} not delivered: {error}");
            }));
        }
    }

    private Task StartForwarders(CancellationToken ct)
    {
        var r = state.Resolved;
        if (r.Destinations.Count == 0) return Task.CompletedTask;
        var options = new ForwarderOptions
        {
            MaxBacklogCount = r.Config.Siem.MaxBacklog,
            MaxBacklogAge = r.Config.Siem.MaxAgeSeconds > 0 ? TimeSpan.FromSeconds(r.Config.Siem.MaxAgeSeconds) : null,
        };
        var outbox = new LazyAlertOutbox(r.Config.Store);
        var changes = new LazyInventoryChangeOutbox(r.Config.Store);
        var logMessage = new Action<string>(m => LogForward(log, m));
        for (int i = 0; i < r.Destinations.Count; i++)
        {
            var d = r.Destinations[i];
            var tls = r.Tls[i];
            _forwarders.Add(new Forwarder(outbox, d, options, () => MessageTransport.Create(d, tls, logMessage), logMessage, changes: changes));
        }
        return Task.WhenAll(_forwarders.Select(f => ForwardLoopAsync(f, ct)));
    }

    /// <summary>Runs a forwarder until stopped; a store failure (disk full, locked) is logged, counted and retried.</summary>
    private async Task ForwardLoopAsync(Forwarder f, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await f.RunAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (StoreException ex)
            {
                state.AddStoreError(ex.Message);
                LogForward(log, $"{f.Destination.Url}: store failure, retrying in 10 s: {ex.Message}");
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(10), ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task DrainForwardersAsync()
    {
        if (_forwarders.Count == 0) return;
        using var limit = new CancellationTokenSource(ForwarderDrainTimeout);
        var runs = _forwarders.Select(f => f.DrainAsync(limit.Token)).ToList();
        try
        {
            await Task.WhenAll(runs).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is OperationCanceledException or StoreException)
        {
        }
        foreach (var (f, t) in _forwarders.Zip(runs))
        {
            if (!t.IsCompletedSuccessfully) LogForward(log, $"{f.Destination.Url}: not everything was delivered before shutdown ({f.Stats.LastError ?? "timed out"}); the rest is sent after the restart");
        }
    }

    private void RunRetention()
    {
        var c = state.Config;
        var rc = c.Retention;
        try
        {
            long now = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
            var res = Retention.Run(RetentionTable.Alerts, c.Store, [.. state.Resolved.Destinations.Select(d => d.Name)],
                rc.AlertsMaxAgeDays > 0 ? TimeSpan.FromDays(rc.AlertsMaxAgeDays) : null, rc.MaxAlerts, now);
            // Inventory changes go only to the destinations that take them: only their cursors hold changes back.
            var ch = Retention.Run(RetentionTable.InventoryChanges, c.Store, [.. state.Resolved.Destinations.Where(d => d.Inventory).Select(d => d.Name)],
                rc.ChangesMaxAgeDays > 0 ? TimeSpan.FromDays(rc.ChangesMaxAgeDays) : null, rc.MaxChanges, now);
            if (res.Pruned + ch.Pruned > 0)
            {
                state.AddPruned(res.Pruned + ch.Pruned);
                LogRetention(log, res.PrunedByAge, res.PrunedByCount, res.Remaining, ch.Pruned, ch.Remaining);
            }
        }
        catch (StoreException ex)
        {
            state.AddStoreError(ex.Message);
            LogStoreFailed(log, ex.Message, ex.Kind.ToString());
        }
    }

    /// <summary>Refreshes the snapshot the status socket and the metrics endpoint serve.</summary>
    private void UpdateSnapshot()
    {
        var engine = _engine;
        var c = state.Config;
        var ifaces = engine is null ? _finalInterfaces : engine.Interfaces.Select(i => new InterfaceStatusSnapshot
        {
            Name = i.Interface,
            Captured = i.Captured,
            Bytes = i.Bytes,
            KernelReceived = i.KernelReceived,
            KernelDropped = i.KernelDropped,
            InterfaceDropped = i.InterfaceDropped,
            ApplicationDropped = i.ApplicationDropped,
            QueueBytes = i.QueueBytes,
            QueueCapacity = i.QueueCapacity,
            Reopens = i.Reopens,
            Error = i.Error ?? i.PcapLastError,
        }).ToList();
        long packets = ifaces.Sum(i => i.Captured), bytes = ifaces.Sum(i => i.Bytes);
        var now = DateTime.UtcNow;
        double secs = (now - _lastRate).TotalSeconds;
        if (secs >= 0.9)
        {
            _pps = Math.Max(0, packets - _lastPackets) / secs;
            _mbps = Math.Max(0, bytes - _lastBytes) * 8 / secs / 1e6;
            (_lastPackets, _lastBytes, _lastRate) = (packets, bytes, now);
        }
        var (assets, alerts, backlogs, changeBacklogs) = ReadStoreCounts(c.Store, state.Resolved.Destinations);
        var prev = state.Snapshot;
        state.Snapshot = new ServiceStatusSnapshot
        {
            Version = typeof(RunCommand).Assembly.GetName().Version?.ToString() ?? "",
            Pid = Environment.ProcessId,
            Config = Path.GetFullPath(c.File),
            Store = Path.GetFullPath(c.Store),
            UptimeSeconds = (DateTime.UtcNow - System.Diagnostics.Process.GetCurrentProcess().StartTime.ToUniversalTime()).TotalSeconds,
            Pps = _pps,
            Mbps = _mbps,
            Packets = packets,
            Bytes = bytes,
            ProcessedPackets = engine?.ProcessedPackets ?? prev.ProcessedPackets,
            KernelDropped = ifaces.Sum(i => i.KernelDropped),
            InterfaceDropped = ifaces.Sum(i => i.InterfaceDropped),
            ApplicationDropped = ifaces.Sum(i => i.ApplicationDropped),
            QueueBytes = ifaces.Sum(i => i.QueueBytes),
            BatchesInFlight = engine?.BatchesInFlight ?? 0,
            Assets = assets ?? prev.Assets,
            Alerts = alerts ?? prev.Alerts,
            StoreErrors = state.StoreErrors,
            LastStoreError = state.LastStoreError,
            RetentionPruned = state.Pruned,
            InternalErrors = engine?.InternalErrors ?? 0,
            Interfaces = ifaces,
            Destinations = [.. state.Resolved.Destinations.Select((d, k) => new DestinationStatusSnapshot
            {
                Name = d.Name,
                Url = d.Url,
                Cursor = k < _forwarders.Count ? _forwarders[k].Stats.Cursor : 0,
                Backlog = backlogs is not null ? backlogs[k] : prev.Destinations.ElementAtOrDefault(k)?.Backlog ?? 0,
                InventoryBacklog = changeBacklogs is not null ? changeBacklogs[k] : prev.Destinations.ElementAtOrDefault(k)?.InventoryBacklog ?? 0,
                Sent = k < _forwarders.Count ? _forwarders[k].Stats.Sent : 0,
                Failures = k < _forwarders.Count ? _forwarders[k].Stats.Failures : 0,
                LastError = k < _forwarders.Count ? _forwarders[k].Stats.LastError : null,
            })],
        };
    }

    /// <summary>Assets, alerts and each destination's backlog, read from the store (null where it cannot be read now).</summary>
    private static (long? Assets, long? Alerts, long[]? Backlogs, long[]? ChangeBacklogs) ReadStoreCounts(string store, List<Destination> destinations)
    {
        if (!File.Exists(store)) return (0, 0, new long[destinations.Count], new long[destinations.Count]);
        try
        {
            using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = store, Mode = SqliteOpenMode.ReadOnly, Pooling = false, DefaultTimeout = 2 }.ToString());
            db.Open();
            long? assets = Count(db, "assets", "SELECT count(*) FROM assets;");
            long? alerts = Count(db, "alerts", "SELECT count(*) FROM alerts;");
            var backlogs = new long[destinations.Count];
            for (int i = 0; i < destinations.Count; i++)
            {
                if (alerts is null or 0) continue;
                using var cmd = db.CreateCommand();
                cmd.CommandText = Exists(db, "forward_cursors")
                    ? "SELECT count(*) FROM alerts WHERE id > coalesce((SELECT delivered_id FROM forward_cursors WHERE destination = $d), 0);"
                    : "SELECT count(*) FROM alerts;";
                cmd.Parameters.AddWithValue("$d", destinations[i].Name);
                backlogs[i] = cmd.ExecuteScalar() is long b ? b : 0;
            }
            var changeBacklogs = new long[destinations.Count];
            if (Exists(db, "inventory_changes") && Exists(db, "inventory_change_cursors"))
            {
                for (int i = 0; i < destinations.Count; i++)
                {
                    if (!destinations[i].Inventory) continue;
                    using var cmd = db.CreateCommand();
                    cmd.CommandText = "SELECT count(*) FROM inventory_changes WHERE id > coalesce((SELECT delivered_id FROM inventory_change_cursors WHERE destination = $d), 0);";
                    cmd.Parameters.AddWithValue("$d", destinations[i].Name);
                    changeBacklogs[i] = cmd.ExecuteScalar() is long b ? b : 0;
                }
            }
            return (assets, alerts, backlogs, changeBacklogs);
        }
        catch (SqliteException)
        {
            return (null, null, null, null);
        }
    }

    private static long Count(SqliteConnection db, string table, string sql)
    {
        if (!Exists(db, table)) return 0;
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar() is long n ? n : 0;
    }

    private static bool Exists(SqliteConnection db, string table)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $t;";
        cmd.Parameters.AddWithValue("$t", table);
        return cmd.ExecuteScalar() is long n && n > 0;
    }

    private void LogStats(ServiceStatusSnapshot s)
    {
        var ci = CultureInfo.InvariantCulture;
        string backlog = s.Destinations.Count == 0 ? "none" : string.Join(", ", s.Destinations.Select(d => string.Create(ci, $"{d.Url}={d.Backlog}")));
        LogStatsLine(log, Math.Round(s.Pps), Math.Round(s.Mbps, 2), s.InterfaceDropped, s.KernelDropped, s.ApplicationDropped, s.QueueBytes, s.BatchesInFlight, s.Assets, s.Alerts, backlog, s.StoreErrors);
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "otsensor service starting: config {Config}, interfaces {Interfaces}, store {Store}")]
    private static partial void LogStarting(ILogger logger, string config, string interfaces, string store);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "capturing on {Interfaces} interface(s), {Workers} worker(s)")]
    private static partial void LogCapturing(ILogger logger, int interfaces, int workers);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "stats: {Pps} pps, {Mbps} Mbit/s, drops interface {InterfaceDrops} kernel {KernelDrops} application {AppDrops}, queue {QueueBytes} bytes / {Batches} batches, assets {Assets}, alerts {Alerts}, forward backlog {Backlog}, store errors {StoreErrors}")]
    private static partial void LogStatsLine(ILogger logger, double pps, double mbps, long interfaceDrops, long kernelDrops, long appDrops, long queueBytes, int batches, long assets, long alerts, string backlog, long storeErrors);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "pipeline drained: {Packets} packets decoded, {AppDrops} application drops")]
    private static partial void LogDrained(ILogger logger, long packets, long appDrops);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "otsensor service stopped: {Packets} packets analysed, {Assets} assets and {Alerts} alerts in the store")]
    private static partial void LogStopped(ILogger logger, long packets, long assets, long alerts);

    [LoggerMessage(EventId = 10, Level = LogLevel.Critical, Message = "otsensor service failed: {Message}")]
    private static partial void LogFatal(ILogger logger, string message, Exception? ex);

    [LoggerMessage(EventId = 11, Level = LogLevel.Error, Message = "STORE FAILURE ({Kind}): {Message}; capture continues, the store is retried every 30 s")]
    private static partial void LogStoreFailed(ILogger logger, string message, string kind);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "store still cannot be written: {Message}")]
    private static partial void LogStoreStillFailing(ILogger logger, string message);

    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "store takes writes again: what waited in memory is written")]
    private static partial void LogStoreBack(ILogger logger);

    [LoggerMessage(EventId = 14, Level = LogLevel.Error, Message = "capture error on {Interface}: {Message} (reopened automatically)")]
    private static partial void LogInterfaceError(ILogger logger, string @interface, string message);

    [LoggerMessage(EventId = 15, Level = LogLevel.Information, Message = "capturing again on {Interface}")]
    private static partial void LogInterfaceBack(ILogger logger, string @interface);

    [LoggerMessage(EventId = 17, Level = LogLevel.Error, Message = "{Count} internal error(s) in the pipeline (capture continued); first: {Message}")]
    private static partial void LogInternal(ILogger logger, long count, string message);

    [LoggerMessage(EventId = 20, Level = LogLevel.Information, Message = "status socket: {Path}")]
    private static partial void LogStatusSocket(ILogger logger, string path);

    [LoggerMessage(EventId = 21, Level = LogLevel.Error, Message = "no status socket: {Message}")]
    private static partial void LogStatusSocketFailed(ILogger logger, string message);

    [LoggerMessage(EventId = 22, Level = LogLevel.Information, Message = "metrics: http://127.0.0.1:{Port}/metrics")]
    private static partial void LogMetrics(ILogger logger, int port);

    [LoggerMessage(EventId = 23, Level = LogLevel.Error, Message = "no metrics endpoint: {Message}")]
    private static partial void LogMetricsFailed(ILogger logger, string message);

    [LoggerMessage(EventId = 30, Level = LogLevel.Warning, Message = "forward: {Message}")]
    private static partial void LogForward(ILogger logger, string message);

    [LoggerMessage(EventId = 31, Level = LogLevel.Information, Message = "retention: pruned {ByAge} alert(s) by age and {ByCount} by count, {Remaining} remain; pruned {Changes} inventory change(s), {ChangesRemaining} remain")]
    private static partial void LogRetention(ILogger logger, long byAge, long byCount, long remaining, long changes, long changesRemaining);
}

/// <summary>
/// A store opened on first use (the pipeline creates the tables) and reopened after a failure, so a store problem
/// at start or later is retried by the forwarders rather than fatal.
/// </summary>
internal abstract class LazyStore<TStore>(Func<TStore> open) : IDisposable where TStore : class, IDisposable
{
    private readonly Lock _lock = new();
    private TStore? _store;

    protected T Guard<T>(Func<TStore, T> f)
    {
        TStore store;
        lock (_lock) store = _store ??= open();
        try
        {
            return f(store);
        }
        catch (StoreException)
        {
            lock (_lock)
            {
                _store?.Dispose();
                _store = null;
            }
            throw;
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _store?.Dispose();
            _store = null;
        }
    }
}

/// <summary>The forwarders' view of the store's inventory changes.</summary>
internal sealed class LazyInventoryChangeOutbox(string path) : LazyStore<InventoryChangeStore>(() => InventoryChangeStore.Open(path)), IInventoryChangeOutbox
{
    public IReadOnlyList<InventoryChange> ReadAfter(long afterId, int max) => Guard(s => s.ReadAfter(afterId, max));
    public long GetCursor(string destination) => Guard(s => s.GetCursor(destination));
    public void SetCursor(string destination, long deliveredId) => Guard(s =>
    {
        s.SetCursor(destination, deliveredId);
        return 0;
    });
}

/// <summary>The forwarders' view of the store's alerts.</summary>
internal sealed class LazyAlertOutbox(string path) : LazyStore<AlertStore>(() => AlertStore.Open(path)), IAlertOutbox
{
    public IReadOnlyList<Alert> ReadAfter(long afterId, int max) => Guard(s => s.ReadAfter(afterId, max));
    public long GetCursor(string destination) => Guard(s => s.GetCursor(destination));
    public void SetCursor(string destination, long deliveredId) => Guard(s =>
    {
        s.SetCursor(destination, deliveredId);
        return 0;
    });
}

/// <summary>How the service opens capture interfaces (the libpcap binding) and its rolling pcap writer.</summary>
internal static class ServiceLiveSources
{
    /// <summary>The interfaces that can be captured on: libpcap's list and the kernel's (/sys/class/net).</summary>
    public static IReadOnlyCollection<string> ListInterfaces()
    {
        var names = new HashSet<string>(ServiceConfigValidator.SystemInterfaces(), StringComparer.Ordinal);
        if (LibPcap.IsAvailable)
        {
            try
            {
                foreach (var i in LibPcap.ListInterfaces()) names.Add(i.Name);
            }
            catch (LiveCaptureException)
            {
            }
        }
        return names;
    }

    public static ILivePacketSource Open(LiveCaptureOptions o) => LiveSources.Open(o);

    public static Func<ILivePacketSource, IRollingPacketWriter>? RollingWriter(PcapRetentionConfig pcap)
    {
        if (pcap.Dir is not { } dir) return null;
        long rotateBytes = pcap.RotateMb * (1L << 20);
        int keep = pcap.Keep;
        return src => new RotatingPcapWriter(dir, src.Interface, src.LinkType, src.Snaplen, rotateBytes, keep);
    }
}
