using System.CommandLine;
using System.Globalization;
using OtSensor.Inventory;
using OtSensor.Store;
using Spectre.Console;

namespace OtSensor.Cli.Commands;

/// <summary>`otsensor links`: the communication map's edges from the store.</summary>
public static class LinksCommand
{
    public static Command Create()
    {
        var store = AssetsCommand.StoreOption();
        var json = new Option<bool>("--json") { Description = "Print a JSON array (for scripts)." };
        var csv = new Option<bool>("--csv") { Description = "Print CSV." };
        var cmd = new Command("links", "List who talks to whom (client → server, protocol, port, counts, Modbus ranges).") { store, json, csv };
        cmd.SetAction(parse => Run(parse.GetValue(store)!, parse.GetValue(json), parse.GetValue(csv), Console.Out, Console.Error));
        return cmd;
    }

    public static int Run(string storePath, bool json, bool csv, TextWriter stdout, TextWriter stderr)
    {
        if (json && csv)
        {
            stderr.WriteLine("otsensor links: --json and --csv cannot be used together.");
            return Program.ExitUsage;
        }
        List<LinkRecord> links;
        try
        {
            using var s = InventoryStore.Open(storePath, readOnly: true);
            links = s.ReadLinks();
        }
        catch (StoreException ex)
        {
            stderr.WriteLine($"otsensor links: {ex.Message}");
            return Program.ExitError;
        }
        if (json) stdout.WriteLine(InventoryFormats.LinksJson(links));
        else if (csv) stdout.Write(InventoryFormats.LinksCsv(links));
        else
        {
            var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
            if (!ReferenceEquals(stdout, Console.Out) || Console.IsOutputRedirected) console.Profile.Width = 220; // a file or pipe: do not wrap to 80 columns
            var table = new Table().Border(TableBorder.Rounded);
            foreach (var h in new[] { "client", "server", "protocol", "packets", "bytes", "transactions", "functions", "last seen" }) table.AddColumn(h);
            var ci = CultureInfo.InvariantCulture;
            foreach (var l in links)
            {
                table.AddRow(new Text(l.Client), new Text(l.Server), new Text(MapRenderer.EdgeLabel(l)), new Text(l.Packets.ToString("N0", ci)),
                    new Text(l.Bytes.ToString("N0", ci)), new Text(l.Transactions.ToString("N0", ci)),
                    new Text(string.Join(" ", l.ModbusFunctions.Select(kv => $"{kv.Key.ToString(ci)}:{kv.Value.ToString(ci)}"))), new Text(l.LastSeen ?? ""));
            }
            console.Write(table);
            console.WriteLine($"{links.Count} links");
        }
        return Program.ExitOk;
    }
}
