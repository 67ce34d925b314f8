using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using OtSensor.Core;
using OtSensor.Detection;
using OtSensor.Inventory;
using OtSensor.Store;
using Spectre.Console;

namespace OtSensor.Cli.Commands;

/// <summary><c>otsensor changes</c>: the inventory changes committed in the store (what <c>forward</c> sends beside alerts).</summary>
public static class ChangesCommand
{
    public static Command Create()
    {
        var store = AssetsCommand.StoreOption();
        var json = new Option<bool>("--json") { Description = "Print a JSON array (for scripts)." };
        var since = new Option<string?>("--since") { Description = "Only changes at or after this packet time (RFC 3339, or a duration back from now: 30m, 12h, 7d)." };
        var minSeverity = new Option<int>("--min-severity") { Description = "Only changes with at least this severity (0-10).", DefaultValueFactory = _ => 0 };
        var cmd = new Command("changes", "List the inventory changes in the store (new assets, identity / firmware changes, new roles and services, moved IPs).")
        {
            store, json, since, minSeverity,
        };
        cmd.SetAction(parse => Run(parse.GetValue(store)!, parse.GetValue(json), parse.GetValue(since), parse.GetValue(minSeverity), Console.Out, Console.Error));
        return cmd;
    }

    public static int Run(string storePath, bool json, string? since, int minSeverity, TextWriter stdout, TextWriter stderr)
    {
        if (AlertsCommand.ParseFilter("changes", since, minSeverity, stderr) is not long sinceNs) return Program.ExitUsage;
        List<InventoryChange> changes;
        try
        {
            using var st = InventoryChangeStore.Open(storePath, readOnly: true);
            changes = st.Query(sinceNs, minSeverity);
        }
        catch (StoreException ex) when (ex.Kind == StoreErrorKind.Corrupt && File.Exists(storePath) && ex.Message.Contains("no inventory changes yet", StringComparison.Ordinal))
        {
            changes = [];
        }
        catch (StoreException ex)
        {
            stderr.WriteLine($"otsensor changes: {ex.Message}");
            return Program.ExitError;
        }
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(changes, CliJsonContext.Default.ListInventoryChange));
            return Program.ExitOk;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
        if (!ReferenceEquals(stdout, Console.Out) || Console.IsOutputRedirected) console.Profile.Width = 240;
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var h in new[] { "id", "sev", "type", "asset", "attribute", "old", "new", "time", "frame" }) table.AddColumn(h);
        var ci = CultureInfo.InvariantCulture;
        foreach (var c in changes)
        {
            table.AddRow(new Text(c.Id.ToString(ci)), new Text(c.Severity.ToString(ci)), new Text(c.Type), new Text(c.Ip ?? c.Mac ?? c.AssetKey),
                new Text(c.Attribute), new Text(c.OldValue ?? "-"), new Text(c.NewValue ?? "-"), new Text(PacketTime.ToRfc3339(c.TimeNs)),
                new Text(c.Frame > 0 ? c.Frame.ToString(ci) : "-"));
        }
        console.Write(table);
        console.WriteLine($"{changes.Count} inventory changes");
        return Program.ExitOk;
    }

    /// <summary>The "== Inventory changes" section of the replay's text summary: what this run committed, by type.</summary>
    public static void WriteReplaySummary(InventoryStore store, TextWriter w)
    {
        var ci = CultureInfo.InvariantCulture;
        w.WriteLine("== Inventory changes");
        long recorded = store.ChangesRecorded;
        // Most frequent first, then by name: plain arrays and an index sort, not LINQ over the key / count pairs (whose
        // generic code the JIT would otherwise compile at the end of every replay just for this line).
        var types = new string[store.ChangesByType.Count];
        var counts = new long[types.Length];
        int n = 0;
        foreach (var kv in store.ChangesByType) { types[n] = kv.Key; counts[n++] = kv.Value; }
        var order = new int[types.Length];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Array.Sort(order, (x, y) => counts[x] != counts[y] ? counts[y].CompareTo(counts[x]) : string.CompareOrdinal(types[x], types[y]));
        var parts = new string[order.Length];
        for (int i = 0; i < parts.Length; i++) parts[i] = string.Create(ci, $"{types[order[i]]} {counts[order[i]]:N0}");
        string byType = string.Join(", ", parts);
        w.WriteLine(recorded == 0 ? "  none (the store already knew everything this replay saw)"
            : string.Create(ci, $"  recorded {recorded:N0} ({byType}): otsensor changes"));
    }
}
