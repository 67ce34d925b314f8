using System.CommandLine;
using System.Globalization;
using OtSensor.Core;
using OtSensor.Detection;
using OtSensor.Store;
using Spectre.Console;

namespace OtSensor.Cli.Commands;

/// <summary>`otsensor alerts`: the alerts committed in the store.</summary>
public static class AlertsCommand
{
    public static Command Create()
    {
        var store = AssetsCommand.StoreOption();
        var json = new Option<bool>("--json") { Description = "Print a JSON array (for scripts)." };
        var csv = new Option<bool>("--csv") { Description = "Print CSV." };
        var since = new Option<string?>("--since") { Description = "Only alerts last seen at or after this time (RFC 3339, or a duration back from now: 30m, 12h, 7d)." };
        var minSeverity = new Option<int>("--min-severity") { Description = "Only alerts with at least this severity (0-10).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("alerts", "List the alerts in the store (protocol violations, attack signatures, baseline deviations).") { store, json, csv, since, minSeverity };
        cmd.SetAction(parse => Run(parse.GetValue(store)!, parse.GetValue(json), parse.GetValue(csv), parse.GetValue(since), parse.GetValue(minSeverity), Console.Out, Console.Error));
        return cmd;
    }

    public static int Run(string storePath, bool json, bool csv, string? since, int minSeverity, TextWriter stdout, TextWriter stderr)
    {
        if (json && csv)
        {
            stderr.WriteLine("otsensor alerts: --json and --csv cannot be used together.");
            return Program.ExitUsage;
        }
        if (ParseFilter("alerts", since, minSeverity, stderr) is not long sinceNs) return Program.ExitUsage;
        List<Alert> alerts;
        try
        {
            using var st = AlertStore.Open(storePath, readOnly: true);
            alerts = st.Query(sinceNs, minSeverity);
        }
        catch (StoreException ex) when (ex.Kind == StoreErrorKind.Corrupt && File.Exists(storePath) && ex.Message.Contains("no detection data", StringComparison.Ordinal))
        {
            alerts = [];
        }
        catch (StoreException ex)
        {
            stderr.WriteLine($"otsensor alerts: {ex.Message}");
            return Program.ExitError;
        }
        if (json) stdout.WriteLine(AlertFormats.Json(alerts));
        else if (csv) stdout.Write(AlertFormats.CsvText(alerts));
        else
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
            if (!ReferenceEquals(stdout, Console.Out) || Console.IsOutputRedirected) console.Profile.Width = 240;
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var h in new[] { "id", "sev", "type", "source", "destination", "count", "last seen", "message" }) table.AddColumn(h);
            var ci = CultureInfo.InvariantCulture;
            foreach (var a in alerts)
            {
                table.AddRow(new Text(a.Id.ToString(ci)), new Text(a.Severity.ToString(ci)), new Text(a.Type), new Text(Endpoint(a.SrcIp, a.SrcPort)),
                    new Text(Endpoint(a.DstIp, a.DstPort)), new Text(a.Count.ToString("N0", ci)), new Text(PacketTime.ToRfc3339(a.LastSeenNs)), new Text(a.Message));
            }
            console.Write(table);
            console.WriteLine($"{alerts.Count} alerts");
        }
        return Program.ExitOk;
    }

    /// <summary>The --since / --min-severity pair of the listing commands: the time bound, or null after a usage message.</summary>
    internal static long? ParseFilter(string command, string? since, int minSeverity, TextWriter stderr)
    {
        if (minSeverity is < 0 or > 10)
        {
            stderr.WriteLine($"otsensor {command}: --min-severity must be between 0 and 10.");
            return null;
        }
        if (since is null) return long.MinValue;
        if (AlertFormats.ParseSince(since, DateTimeOffset.UtcNow) is long s) return s;
        stderr.WriteLine($"otsensor {command}: --since '{since}' is neither an RFC 3339 time nor a duration like 30m, 12h, 7d.");
        return null;
    }

    private static string Endpoint(string? ip, int? port) => ip is null ? "-" : port is int p ? $"{ip}:{p.ToString(CultureInfo.InvariantCulture)}" : ip;
}

/// <summary>The detection part of `otsensor replay`: its options, the engine it adds, and its summary lines.</summary>
public static class ReplayDetection
{
    public static Option<string?> BaselineOption() => new("--baseline")
    {
        Description = "Learned baseline: 'learn' (learn from this replay), 'protect' (lock and alert on deviations), 'auto' (default: follow the store, learning for 24 h of packet time), 'off'.",
    };

    public static Option<string?> RulesConfigOption() => new("--rules-config")
    {
        Description = "JSON file that disables alert types or changes their severity and thresholds (see 'otsensor rules --json').",
    };

    /// <summary>
    /// Builds the detection engine for a replay. <paramref name="storePath"/> null = no store (alerts kept in memory).
    /// Returns null and sets <paramref name="exitCode"/> on a usage or store error (message already written).
    /// </summary>
    public static DetectionEngine? Create(string? baseline, string? rulesConfig, string? storePath, TextWriter stderr, out AlertStore? store, out int exitCode)
    {
        store = null;
        exitCode = Program.ExitOk;
        BaselineMode mode;
        switch (baseline ?? "auto")
        {
            case "auto": mode = BaselineMode.Auto; break;
            case "learn": mode = BaselineMode.Learn; break;
            case "protect": mode = BaselineMode.Protect; break;
            case "off": mode = BaselineMode.Off; break;
            default:
                stderr.WriteLine($"otsensor replay: --baseline must be learn, protect, auto or off (not '{baseline}').");
                exitCode = Program.ExitUsage;
                return null;
        }
        DetectionOptions options;
        try
        {
            options = rulesConfig is null ? new DetectionOptions() : DetectionOptions.Load(rulesConfig);
        }
        catch (FormatException ex)
        {
            stderr.WriteLine($"otsensor replay: {ex.Message}");
            exitCode = Program.ExitUsage;
            return null;
        }
        try
        {
            if (storePath is not null) store = AlertStore.Open(storePath);
            return new DetectionEngine(options, store, mode);
        }
        catch (StoreException ex)
        {
            store?.Dispose();
            store = null;
            stderr.WriteLine($"otsensor replay: {ex.Message}");
            exitCode = Program.ExitError;
            return null;
        }
    }

    /// <summary>The "== Alerts" section of the text summary.</summary>
    public static void WriteSummary(DetectionEngine engine, TextWriter w)
    {
        var ci = CultureInfo.InvariantCulture;
        var raised = engine.Raised;
        string baseline = engine.Mode == BaselineMode.Off ? "off" : engine.BaselineState.Mode;
        w.WriteLine("== Alerts");
        w.WriteLine(string.Create(ci, $"  raised {raised.Count:N0} (sightings {raised.Sum(a => a.Count):N0}), baseline {baseline}"));
        foreach (var a in raised.OrderByDescending(a => a.Severity).ThenBy(a => a.Id).Take(50))
        {
            w.WriteLine(string.Create(ci, $"  #{a.Id} sev {a.Severity} {a.Type} x{a.Count}: {a.Message}"));
        }
        if (raised.Count > 50) w.WriteLine(string.Create(ci, $"  ... {raised.Count - 50} more: otsensor alerts"));
        if (engine.StoreError is { } se) w.WriteLine($"  store error: {se.Message}");
    }
}
