using System.CommandLine;
using OtSensor.Inventory;
using OtSensor.Store;

namespace OtSensor.Cli.Commands;

/// <summary>`otsensor map`: the communication map as Graphviz DOT, SVG or a self-contained HTML page.</summary>
public static class MapCommand
{
    public static Command Create()
    {
        var store = AssetsCommand.StoreOption();
        var format = new Option<string?>("--format") { Description = "dot, svg or html (default: from the output file's extension)." };
        format.AcceptOnlyFromAmong("dot", "svg", "html");
        var output = new Option<string>("--output", "-o") { Description = "The file to write.", Required = true };
        var cmd = new Command("map", "Draw the communication map (assets as nodes, links as edges).") { store, format, output };
        cmd.SetAction(parse => Run(parse.GetValue(store)!, parse.GetValue(format), parse.GetValue(output)!, Console.Error));
        return cmd;
    }

    public static int Run(string storePath, string? format, string output, TextWriter stderr)
    {
        format ??= Path.GetExtension(output).TrimStart('.').ToLowerInvariant() switch
        {
            "dot" or "gv" => "dot",
            "svg" => "svg",
            "html" or "htm" => "html",
            _ => null,
        };
        if (format is null)
        {
            stderr.WriteLine("otsensor map: say --format dot|svg|html (the output file's extension does not tell).");
            return Program.ExitUsage;
        }
        InventorySnapshot snap;
        try
        {
            using var s = InventoryStore.Open(storePath, readOnly: true);
            snap = new InventorySnapshot { Assets = s.ReadAssets(), Links = s.ReadLinks() };
        }
        catch (StoreException ex)
        {
            stderr.WriteLine($"otsensor map: {ex.Message}");
            return Program.ExitError;
        }
        string text = format switch
        {
            "dot" => MapRenderer.Dot(snap),
            "svg" => MapRenderer.Svg(snap),
            _ => MapRenderer.Html(snap),
        };
        try
        {
            File.WriteAllText(output, text);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            stderr.WriteLine($"otsensor map: cannot write '{output}': {ex.Message}");
            return Program.ExitError;
        }
        return Program.ExitOk;
    }
}
