using System.CommandLine;
using OtSensor.Cli.Commands;

namespace OtSensor.Cli;

public static class Program
{
    public const int ExitOk = 0;
    public const int ExitError = 1;
    public const int ExitUsage = 2;

    public static async Task<int> Main(string[] args)
    {
        // The commands that run the pipeline open the store first thing: SQLite's set-up overlaps building and parsing
        // the command line (a guess from the raw arguments; a wrong guess only loads SQLite for nothing).
        if (args.Length > 0 && args[0] is "replay" or "capture" or "run" && Array.IndexOf(args, "--no-store") < 0)
            OtSensor.Store.InventoryStore.WarmUpInBackground();
        var root = new RootCommand("OtSensor: a passive ICS/OT network monitor (Modbus/TCP, MQTT, CoAP).")
        {
            ReplayCommand.Create(),
            CaptureCommand.Create(),
            AssetsCommand.Create(),
            LinksCommand.Create(),
            MapCommand.Create(),
            AlertsCommand.Create(),
            RulesCommand.Create(),
            BaselineCommand.Create(),
            AlertPcapCommand.Create(),
            ForwardCommand.Create(path => OtSensor.Detection.AlertStore.Open(path), OtSensor.Store.InventoryStore.DefaultPath, path => OtSensor.Store.InventoryChangeStore.Open(path)),
            ChangesCommand.Create(),
            SiemTestCommand.Create(),
            InterfacesCommand.Create(),
            RunCommand.Create(),
            StatusCommand.Create(),
        };
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) await Console.Error.WriteLineAsync($"otsensor: {e.Message}").ConfigureAwait(false);
            await Console.Error.WriteLineAsync("Try 'otsensor --help'.").ConfigureAwait(false);
            return ExitUsage;
        }
        try
        {
            return await parse.InvokeAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return ExitError;
        }
    }
}
