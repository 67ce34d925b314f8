using System.CommandLine;
using OtSensor.Inventory;
using OtSensor.Store;
using Spectre.Console;

namespace OtSensor.Cli.Commands;

/// <summary>`otsensor assets`: the asset inventory from the store, as a table, JSON or CSV.</summary>
public static class AssetsCommand
{
    public static Option<string> StoreOption() => new("--store")
    {
        Description = $"The inventory store (SQLite file). Default: ${InventoryStore.EnvironmentVariable}, else ./otsensor.db.",
        DefaultValueFactory = _ => InventoryStore.DefaultPath,
    };

    public static Command Create()
    {
        var store = StoreOption();
        var json = new Option<bool>("--json") { Description = "Print a JSON array (for scripts)." };
        var csv = new Option<bool>("--csv") { Description = "Print CSV (for spreadsheets and scripts)." };
        var filter = new Option<string?>("--filter") { Description = "Only assets whose MAC, vendor, IPs, roles or identity contain this text (case-insensitive)." };
        var cmd = new Command("assets", "List the assets in the inventory store.") { store, json, csv, filter };
        cmd.SetAction(parse => Run(parse.GetValue(store)!, parse.GetValue(json), parse.GetValue(csv), parse.GetValue(filter), Console.Out, Console.Error));
        return cmd;
    }

    public static int Run(string storePath, bool json, bool csv, string? filter, TextWriter stdout, TextWriter stderr)
    {
        if (json && csv)
        {
            stderr.WriteLine("otsensor assets: --json and --csv cannot be used together.");
            return Program.ExitUsage;
        }
        List<AssetRecord> assets;
        try
        {
            using var s = InventoryStore.Open(storePath, readOnly: true);
            assets = s.ReadAssets();
        }
        catch (StoreException ex)
        {
            stderr.WriteLine($"otsensor assets: {ex.Message}");
            return Program.ExitError;
        }
        if (!string.IsNullOrEmpty(filter)) assets = assets.FindAll(a => Matches(a, filter));
        if (json) stdout.WriteLine(InventoryFormats.AssetsJson(assets));
        else if (csv) stdout.Write(InventoryFormats.AssetsCsv(assets));
        else WriteTable(assets, stdout);
        return Program.ExitOk;
    }

    public static bool Matches(AssetRecord a, string text)
    {
        bool Has(string? s) => s is not null && s.Contains(text, StringComparison.OrdinalIgnoreCase);
        return Has(a.Key) || Has(a.Mac) || Has(a.MacVendor) || a.Ips.Exists(Has) || a.Roles.Exists(Has) || Has(a.Identity.ToString())
            || Has(a.Identity.UserApplicationName) || a.MqttClientIds.Exists(Has) || a.CoapResources.Exists(Has);
    }

    private static void WriteTable(List<AssetRecord> assets, TextWriter stdout)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
        if (!ReferenceEquals(stdout, Console.Out) || Console.IsOutputRedirected) console.Profile.Width = 220; // a file or pipe: do not wrap to 80 columns
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var h in new[] { "id", "vendor", "IPs", "MAC", "VLANs", "roles", "identity", "services", "last seen" }) table.AddColumn(h);
        foreach (var a in assets)
        {
            string roles = string.Join(", ", a.Roles);
            if (a.ModbusUnits.Count > 0) roles += $" (units {string.Join(",", a.ModbusUnits)})";
            table.AddRow(
                new Text(a.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                new Text(a.MacVendor ?? ""),
                new Text(string.Join("\n", a.Ips)),
                new Text(a.Mac ?? ""),
                new Text(string.Join(",", a.Vlans)),
                new Text(roles),
                new Text(a.Identity.ToString()),
                new Text(string.Join(" ", a.Services.Select(s => $"{s.Transport}/{s.Port}{(s.Proto is null ? "" : " " + s.Proto)}"))),
                new Text(a.LastSeen ?? ""));
        }
        console.Write(table);
        console.WriteLine($"{assets.Count} assets");
    }
}
