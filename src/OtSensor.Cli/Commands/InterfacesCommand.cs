using System.CommandLine;
using System.Text.Json;
using OtSensor.Capture.Live;
using Spectre.Console;

namespace OtSensor.Cli.Commands;

/// <summary>`otsensor interfaces`: the devices libpcap can capture on, with their addresses and flags.</summary>
public static class InterfacesCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print a JSON array (for scripts)." };
        var cmd = new Command("interfaces", "List the network interfaces available for live capture (libpcap).") { json };
        cmd.SetAction(parse => Run(parse.GetValue(json), Console.Out, Console.Error));
        return cmd;
    }

    public static int Run(bool json, TextWriter stdout, TextWriter stderr)
    {
        const string me = "otsensor interfaces";
        if (!LibPcap.IsAvailable)
        {
            stderr.WriteLine($"{me}: libpcap is not installed (libpcap.so.0.8 cannot be loaded): install the libpcap0.8 package for live capture.");
            return Program.ExitUsage;
        }
        IReadOnlyList<CaptureInterface> list;
        try
        {
            list = LibPcap.ListInterfaces();
        }
        catch (LiveCaptureException ex)
        {
            stderr.WriteLine($"{me}: {ex.Message}");
            return Program.ExitError;
        }
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(list, CliJsonContext.Default.IReadOnlyListCaptureInterface));
            return Program.ExitOk;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(stdout) });
        if (!ReferenceEquals(stdout, Console.Out) || Console.IsOutputRedirected) console.Profile.Width = 220; // a file or pipe: do not wrap to 80 columns
        var table = new Table().Border(TableBorder.Rounded);
        foreach (var h in new[] { "name", "flags", "addresses", "mac", "description" }) table.AddColumn(h);
        foreach (var i in list)
        {
            var flags = new List<string>(4);
            if (i.IsUp) flags.Add("up");
            if (i.IsRunning) flags.Add("running");
            if (i.IsLoopback) flags.Add("loopback");
            if (i.IsWireless) flags.Add("wireless");
            table.AddRow(new Text(i.Name), new Text(string.Join(",", flags)), new Text(string.Join(" ", i.Addresses)),
                new Text(i.HardwareAddress ?? ""), new Text(i.Description ?? ""));
        }
        console.Write(table);
        console.WriteLine($"{list.Count} interfaces ({LibPcap.Version})");
        return Program.ExitOk;
    }
}
