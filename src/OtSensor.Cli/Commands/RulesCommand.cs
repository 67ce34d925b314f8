using System.CommandLine;
using System.Globalization;
using OtSensor.Detection;
using Spectre.Console;

namespace OtSensor.Cli.Commands;

/// <summary>`otsensor rules`: the alert catalog with the effective settings.</summary>
public static class RulesCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON array (for scripts)." };
        var config = ReplayDetection.RulesConfigOption();
        var cmd = new Command("rules", "List every alert type: id, signature id, severity, category, MITRE ATT&CK for ICS techniques, thresholds.") { json, config };
        cmd.SetAction(parse => Run(parse.GetValue(json), parse.GetValue(config), Console.Out, Console.Error));
        return cmd;
    }

    public static int Run(bool json, string? rulesConfig, TextWriter stdout, TextWriter stderr)
    {
        DetectionOptions options;
        try
        {
            options = rulesConfig is null ? new DetectionOptions() : DetectionOptions.Load(rulesConfig);
        }
        catch (FormatException ex)
        {
            stderr.WriteLine($"otsensor rules: {ex.Message}");
            return Program.ExitUsage;
        }
        if (json)
        {
            stdout.WriteLine(AlertFormats.CatalogJson(options));
            return Program.ExitOk;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
        if (!ReferenceEquals(stdout, Console.Out) || Console.IsOutputRedirected) console.Profile.Width = 220;
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var h in new[] { "id", "sig", "sev", "category", "mitre", "enabled", "threshold", "name" }) table.AddColumn(h);
        var ci = CultureInfo.InvariantCulture;
        foreach (var t in AlertCatalog.All)
        {
            string th = DetectionOptions.Defaults.ContainsKey(t.Id)
                ? string.Create(ci, $"{options.Threshold(t.Id)} / {options.WindowNs(t.Id) / 1e9}s")
                : "";
            table.AddRow(new Text(t.Id), new Text(t.SignatureId.ToString(ci)), new Text(options.SeverityOf(t).ToString(ci)), new Text(t.Category),
                new Text(string.Join(" ", t.Mitre)), new Text(options.IsEnabled(t.Id) ? "yes" : "no"), new Text(th), new Text(t.Name));
        }
        console.Write(table);
        console.WriteLine($"{AlertCatalog.All.Count} alert types");
        return Program.ExitOk;
    }
}
