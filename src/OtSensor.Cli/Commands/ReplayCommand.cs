using System.CommandLine;
using System.Diagnostics;
using OtSensor.Detection;
using OtSensor.Inventory;
using OtSensor.Output;
using OtSensor.Store;
using OtSensor.Pipeline;
using Spectre.Console;

namespace OtSensor.Cli.Commands;

internal static class ReplayCommand
{
    public static Command Create()
    {
        var files = new Argument<string[]>("paths")
        {
            Description = "Capture files (pcap, pcapng, optionally .gz) or directories to replay (searched recursively).",
            Arity = ArgumentArity.OneOrMore,
        };
        var json = new Option<bool>("--json") { Description = "Print the summary as JSON (for scripts)." };
        var events = new Option<string?>("--events") { Description = "Write one JSON object per transaction to this file (JSON lines)." };
        var workers = new Option<int>("--workers") { Description = "Dissector worker threads (default: the number of cores).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var modbusPorts = new Option<int[]>("--modbus-port") { Description = "Extra TCP port(s) to dissect as Modbus/TCP (502 always is).", AllowMultipleArgumentsPerToken = true };
        var noProgress = new Option<bool>("--no-progress") { Description = "Do not show the progress bar even on a terminal." };
        var store = new Option<string?>("--store") { Description = $"SQLite store the asset inventory accumulates into (default ${InventoryStore.EnvironmentVariable} or ./otsensor.db)." };
        var noStore = new Option<bool>("--no-store") { Description = "Do not build the inventory or write a store (summary only)." };
        var baseline = ReplayDetection.BaselineOption();
        var rulesConfig = ReplayDetection.RulesConfigOption();
        var noDetection = new Option<bool>("--no-detection") { Description = "Do not run detection (no alerts): summary and inventory only." };

        var cmd = new Command("replay", "Replay capture files through the sensor and print what it found.")
        {
            files, json, events, workers, modbusPorts, noProgress, store, noStore, baseline, rulesConfig, noDetection,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var given = parse.GetValue(files) ?? [];
            foreach (var g in given)
            {
                if (g.StartsWith('-') && !File.Exists(g) && !Directory.Exists(g))
                {
                    await Console.Error.WriteLineAsync($"otsensor replay: unknown option '{g}'. Try 'otsensor replay --help'.").ConfigureAwait(false);
                    return Program.ExitUsage;
                }
            }
            var paths = CaptureFiles.Expand(given);
            if (paths.Count == 0)
            {
                await Console.Error.WriteLineAsync("otsensor replay: no capture files found in the given directories.").ConfigureAwait(false);
                return Program.ExitError;
            }
            int workerCount = parse.GetValue(workers);
            if (workerCount is < 1 or > 64)
            {
                await Console.Error.WriteLineAsync("otsensor replay: --workers must be between 1 and 64.").ConfigureAwait(false);
                return Program.ExitUsage;
            }
            var dissectors = new DissectorOptions();
            foreach (var p in parse.GetValue(modbusPorts) ?? [])
            {
                if (p is < 1 or > 65535)
                {
                    await Console.Error.WriteLineAsync($"otsensor replay: --modbus-port {p} is not a TCP port.").ConfigureAwait(false);
                    return Program.ExitUsage;
                }
                dissectors.ModbusPorts.Add((ushort)p);
            }

            bool asJson = parse.GetValue(json);
            string? eventsPath = parse.GetValue(events);
            var progress = new ReplayProgress();
            var report = new ReplayReport();
            var consumers = new List<IEventConsumer> { report };
            JsonEventWriter? writer = null;
            InventoryStore? inventoryStore = null;
            AssetInventory? inventory = null;
            AlertStore? alertStore = null;
            try
            {
                if (!parse.GetValue(noStore))
                {
                    string storePath = parse.GetValue(store) ?? InventoryStore.DefaultPath;
                    try
                    {
                        inventoryStore = InventoryStore.Open(storePath, readOnly: false);
                    }
                    catch (StoreException ex)
                    {
                        await Console.Error.WriteLineAsync($"otsensor replay: {ex.Message}").ConfigureAwait(false);
                        return Program.ExitError;
                    }
                    inventory = new AssetInventory(null, inventoryStore);
                    consumers.Add(inventory);
                    report.Inventory = inventory;
                    report.StorePath = inventoryStore.Path;
                }
                DetectionEngine? detection = null;
                if (!parse.GetValue(noDetection))
                {
                    detection = ReplayDetection.Create(parse.GetValue(baseline), parse.GetValue(rulesConfig),
                        parse.GetValue(noStore) ? null : parse.GetValue(store) ?? InventoryStore.DefaultPath, Console.Error, out alertStore, out int detectionExit);
                    if (detection is null) return detectionExit;
                    consumers.Add(detection);
                    report.Detection = detection;
                }
                if (eventsPath is not null)
                {
                    try
                    {
                        writer = new JsonEventWriter(eventsPath);
                    }
                    catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
                    {
                        await Console.Error.WriteLineAsync($"otsensor replay: cannot write events to '{eventsPath}': {ex.Message}").ConfigureAwait(false);
                        return Program.ExitError;
                    }
                    consumers.Add(writer);
                }
                var engine = new ReplayEngine(new ReplayOptions
                {
                    Files = paths,
                    Workers = workerCount,
                    Dissectors = dissectors,
                    Progress = progress,
                }, consumers);

                bool showProgress = !asJson && !parse.GetValue(noProgress) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
                ReplayStats stats = showProgress
                    ? await RunWithProgress(engine, progress, ct).ConfigureAwait(false)
                    : await engine.RunAsync(ct).ConfigureAwait(false);
                report.InternalErrors = engine.InternalErrors;
                writer?.Dispose();
                writer = null;

                bool nothingRead = stats.Files.TrueForAll(f => f.Error is not null && f.Packets == 0);
                if (asJson) report.WriteJson(Console.OpenStandardOutput(), stats);
                else if (!nothingRead)
                {
                    report.WriteText(Console.Out, stats);
                    if (detection is not null) ReplayDetection.WriteSummary(detection, Console.Out);
                    if (inventoryStore is not null && inventory?.StoreError is null) ChangesCommand.WriteReplaySummary(inventoryStore, Console.Out);
                }

                bool storeFailed = false;
                if (inventory?.StoreError is { } se)
                {
                    storeFailed = true;
                    await Console.Error.WriteLineAsync($"otsensor replay: {se.Message}").ConfigureAwait(false);
                }
                if (detection?.StoreError is { } de)
                {
                    storeFailed = true;
                    await Console.Error.WriteLineAsync($"otsensor replay: {de.Message}").ConfigureAwait(false);
                }
                if (engine.FirstInternalError is { } bug)
                    await Console.Error.WriteLineAsync($"otsensor: internal error (reported, replay continued): {bug}").ConfigureAwait(false);
                foreach (var f in stats.Files)
                    if (f.Error is not null) await Console.Error.WriteLineAsync($"otsensor replay: {f.Error}").ConfigureAwait(false);
                return stats.HasFileErrors || engine.InternalErrors > 0 || storeFailed ? Program.ExitError : Program.ExitOk;
            }
            finally
            {
                writer?.Dispose();
                inventoryStore?.Dispose();
                alertStore?.Dispose();
            }
        });
        return cmd;
    }

    private static async Task<ReplayStats> RunWithProgress(ReplayEngine engine, ReplayProgress progress, CancellationToken ct)
    {
        ReplayStats? result = null;
        await AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask("reading", maxValue: 100);
                var run = engine.RunAsync(ct);
                var sw = Stopwatch.StartNew();
                while (!run.IsCompleted)
                {
                    await Task.WhenAny(run, Task.Delay(200, CancellationToken.None)).ConfigureAwait(false);
                    long len = progress.Length;
                    double pct = len > 0 ? Math.Min(100.0, progress.Position * 100.0 / len) : 0;
                    double pps = progress.Packets / Math.Max(0.001, sw.Elapsed.TotalSeconds);
                    task.Value = pct;
                    task.Description = Markup.Escape($"{Path.GetFileName(progress.File)} ({progress.FileIndex + 1}/{progress.FileCount}) {progress.Packets:N0} pkts {pps:N0} pkt/s");
                }
                task.Value = 100;
                result = await run.ConfigureAwait(false);
            }).ConfigureAwait(false);
        return result!;
    }
}
