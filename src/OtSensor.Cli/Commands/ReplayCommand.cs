using System.CommandLine;
using System.Diagnostics;
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
        var options = new SensorOptions();
        var cmd = new Command("replay", "Replay capture files through the sensor and print what it found.") { files };
        options.AddTo(cmd);
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
            using var session = SensorSession.Create("replay", parse, options, Console.Error, out int exit);
            if (session is null) return exit;

            var progress = new ReplayProgress();
            var engine = new ReplayEngine(new ReplayOptions
            {
                Files = paths,
                Workers = session.Workers,
                Dissectors = session.Dissectors,
                Progress = progress,
            }, session.Consumers);

            bool showProgress = !session.AsJson && !parse.GetValue(options.NoProgress) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
            ReplayStats stats = showProgress
                ? await RunWithProgress(engine, progress, ct).ConfigureAwait(false)
                : await engine.RunAsync(ct).ConfigureAwait(false);
            session.Report.InternalErrors = engine.InternalErrors;
            session.CloseEvents();

            bool nothingRead = stats.Files.TrueForAll(f => f.Error is not null && f.Packets == 0);
            if (session.AsJson || !nothingRead) session.WriteSummary(stats, Console.Out);
            bool storeFailed = session.ReportStoreErrors(Console.Error);
            if (engine.FirstInternalError is { } bug)
                await Console.Error.WriteLineAsync($"otsensor: internal error (reported, replay continued): {bug}").ConfigureAwait(false);
            foreach (var f in stats.Files)
                if (f.Error is not null) await Console.Error.WriteLineAsync($"otsensor replay: {f.Error}").ConfigureAwait(false);
            return stats.HasFileErrors || engine.InternalErrors > 0 || storeFailed ? Program.ExitError : Program.ExitOk;
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
