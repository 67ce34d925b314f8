using System.CommandLine;
using OtSensor.Detection;
using OtSensor.Inventory;
using OtSensor.Output;
using OtSensor.Pipeline;
using OtSensor.Store;

namespace OtSensor.Cli.Commands;

/// <summary>The options every command that runs the pipeline shares (replay, capture): engines, store, events.</summary>
internal sealed class SensorOptions
{
    public Option<bool> Json { get; } = new("--json") { Description = "Print the summary as JSON (for scripts)." };
    public Option<string?> Events { get; } = new("--events") { Description = "Write one JSON object per transaction to this file (JSON lines)." };
    public Option<int> Workers { get; } = new("--workers") { Description = "Dissector worker threads (default: the number of cores).", DefaultValueFactory = _ => Environment.ProcessorCount };
    public Option<int[]> ModbusPorts { get; } = new("--modbus-port") { Description = "Extra TCP port(s) to dissect as Modbus/TCP (502 always is).", AllowMultipleArgumentsPerToken = true };
    public Option<bool> NoProgress { get; } = new("--no-progress") { Description = "Do not show the progress/status line even on a terminal." };
    public Option<string?> Store { get; } = new("--store") { Description = $"SQLite store the asset inventory and alerts accumulate into (default ${InventoryStore.EnvironmentVariable} or ./otsensor.db)." };
    /// <summary>With --no-store, OTSENSOR_MEASURE_INVENTORY=1 still builds the inventory (in memory): what the store itself costs is then measurable.</summary>
    public const string MeasureInventoryVariable = "OTSENSOR_MEASURE_INVENTORY";
    public Option<bool> NoStore { get; } = new("--no-store") { Description = "Do not build the inventory or write a store (summary only)." };
    public Option<string?> Baseline { get; } = ReplayDetection.BaselineOption();
    public Option<string?> RulesConfig { get; } = ReplayDetection.RulesConfigOption();
    public Option<bool> NoDetection { get; } = new("--no-detection") { Description = "Do not run detection (no alerts): summary and inventory only." };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { Json, Events, Workers, ModbusPorts, NoProgress, Store, NoStore, Baseline, RulesConfig, NoDetection }) cmd.Options.Add(o);
    }
}

/// <summary>
/// The consumers of one pipeline run (summary, inventory + store, detection + alert store, events file), built from
/// <see cref="SensorOptions"/> with clear errors, and closed in the right order.
/// </summary>
internal sealed class SensorSession : IDisposable
{
    private readonly string _command;
    private InventoryStore? _inventoryStore;
    private AlertStore? _alertStore;
    private JsonEventWriter? _writer;

    private SensorSession(string command) => _command = command;

    public ReplayReport Report { get; } = new();
    public List<IEventConsumer> Consumers { get; } = [];
    public AssetInventory? Inventory { get; private set; }
    public DetectionEngine? Detection { get; private set; }
    public DissectorOptions Dissectors { get; } = new();
    public int Workers { get; private set; }
    public bool AsJson { get; private set; }

    /// <summary>Null (with the message written and <paramref name="exitCode"/> set) when an option or the store is bad.</summary>
    public static SensorSession? Create(string command, ParseResult parse, SensorOptions o, TextWriter stderr, out int exitCode)
    {
        exitCode = Program.ExitOk;
        var s = new SensorSession(command) { AsJson = parse.GetValue(o.Json), Workers = parse.GetValue(o.Workers) };
        try
        {
            if (s.Workers is < 1 or > 64)
            {
                stderr.WriteLine($"otsensor {command}: --workers must be between 1 and 64.");
                exitCode = Program.ExitUsage;
                return s.Fail();
            }
            foreach (var p in parse.GetValue(o.ModbusPorts) ?? [])
            {
                if (p is < 1 or > 65535)
                {
                    stderr.WriteLine($"otsensor {command}: --modbus-port {p} is not a TCP port.");
                    exitCode = Program.ExitUsage;
                    return s.Fail();
                }
                s.Dissectors.ModbusPorts.Add((ushort)p);
            }
            s.Consumers.Add(s.Report);
            bool noStore = parse.GetValue(o.NoStore);
            string storePath = parse.GetValue(o.Store) ?? InventoryStore.DefaultPath;
            if (!noStore)
            {
                try
                {
                    s._inventoryStore = InventoryStore.Open(storePath, readOnly: false);
                }
                catch (StoreException ex)
                {
                    stderr.WriteLine($"otsensor {command}: {ex.Message}");
                    exitCode = Program.ExitError;
                    return s.Fail();
                }
                s.Inventory = new AssetInventory(null, s._inventoryStore);
                s.Consumers.Add(s.Inventory);
                s.Report.Inventory = s.Inventory;
                s.Report.StorePath = s._inventoryStore.Path;
            }
            else if (Environment.GetEnvironmentVariable(SensorOptions.MeasureInventoryVariable) == "1")
            {
                // For measuring only (benchmarks): the inventory built in memory as with a store, without the store.
                s.Inventory = new AssetInventory();
                s.Consumers.Add(s.Inventory);
                s.Report.Inventory = s.Inventory;
            }
            if (!parse.GetValue(o.NoDetection))
            {
                s.Detection = ReplayDetection.Create(parse.GetValue(o.Baseline), parse.GetValue(o.RulesConfig), noStore ? null : storePath, stderr, out s._alertStore, out exitCode);
                if (s.Detection is null) return s.Fail();
                if (s.Inventory is not null) s.Detection.Naming = s.Inventory.Naming;
                s.Consumers.Add(s.Detection);
                s.Report.Detection = s.Detection;
            }
            // With a store, completing the replay writes it (and the alerts and baseline): the JSON summary's sections
            // are serialized meanwhile.
            s.Report.PrepareJson = s.AsJson && !noStore;
            if (parse.GetValue(o.Events) is { } eventsPath)
            {
                try
                {
                    s._writer = new JsonEventWriter(eventsPath);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
                {
                    stderr.WriteLine($"otsensor {command}: cannot write events to '{eventsPath}': {ex.Message}");
                    exitCode = Program.ExitError;
                    return s.Fail();
                }
                s.Consumers.Add(s._writer);
            }
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    private SensorSession? Fail()
    {
        Dispose();
        return null;
    }

    /// <summary>Closes the events file (its last lines are flushed) before the summary is printed.</summary>
    public void CloseEvents()
    {
        _writer?.Dispose();
        _writer = null;
    }

    /// <summary>Prints the summary (text or JSON) with the alerts section.</summary>
    public void WriteSummary(ReplayStats stats, TextWriter stdout)
    {
        if (AsJson) Report.WriteJson(Console.OpenStandardOutput(), stats);
        else
        {
            // Console.Out flushes every line: the summary of a large replay (thousands of devices) would cost tens of
            // thousands of write calls. The same text goes through a buffer, flushed once at the end.
            using var buffered = ReferenceEquals(stdout, Console.Out)
                ? new StreamWriter(Console.OpenStandardOutput(), new System.Text.UTF8Encoding(false), 1 << 16) { AutoFlush = false }
                : null;
            var w = buffered ?? stdout;
            Report.WriteText(w, stats);
            if (Detection is not null) ReplayDetection.WriteSummary(Detection, w);
            if (_inventoryStore is not null && Inventory?.StoreError is null) ChangesCommand.WriteReplaySummary(_inventoryStore, w);
        }
    }

    /// <summary>Writes the store failures; true when there was one.</summary>
    public bool ReportStoreErrors(TextWriter stderr)
    {
        bool failed = false;
        if (Inventory?.StoreError is { } se)
        {
            failed = true;
            stderr.WriteLine($"otsensor {_command}: {se.Message}");
        }
        if (Detection?.StoreError is { } de)
        {
            failed = true;
            stderr.WriteLine($"otsensor {_command}: {de.Message}");
        }
        // Not a store failure (the alerts are all written), but never silent: some were named without the inventory.
        if (Detection?.NamingTimeouts is > 0 and var t)
            stderr.WriteLine($"otsensor {_command}: warning: {t} alert write(s) named assets before the inventory reached them (a bug: please report it)");
        return failed;
    }

    public void Dispose()
    {
        CloseEvents();
        _inventoryStore?.Dispose();
        _inventoryStore = null;
        _alertStore?.Dispose();
        _alertStore = null;
    }
}
