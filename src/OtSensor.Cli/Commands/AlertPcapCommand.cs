using System.CommandLine;
using OtSensor.Detection;
using OtSensor.Store;

namespace OtSensor.Cli.Commands;

/// <summary>`otsensor alert-pcap ID -o FILE`: writes the packets an alert kept (trigger last) as a pcap file.</summary>
public static class AlertPcapCommand
{
    public static Command Create()
    {
        var id = new Argument<long>("id") { Description = "The alert id (see 'otsensor alerts')." };
        var output = new Option<string>("-o", "--output") { Description = "The pcap file to write.", Required = true };
        var store = AssetsCommand.StoreOption();
        var cmd = new Command("alert-pcap", "Write the packets kept with an alert (the trigger and the ones of its flow before it) to a pcap file.") { id, output, store };
        cmd.SetAction(parse => Run(parse.GetValue(store)!, parse.GetValue(id), parse.GetValue(output)!, Console.Out, Console.Error));
        return cmd;
    }

    public static int Run(string storePath, long id, string output, TextWriter stdout, TextWriter stderr)
    {
        byte[]? trace;
        bool exists;
        try
        {
            using var st = AlertStore.Open(storePath, readOnly: true);
            trace = st.ReadTrace(id, out exists);
        }
        catch (StoreException ex)
        {
            stderr.WriteLine($"otsensor alert-pcap: {ex.Message}");
            return Program.ExitError;
        }
        if (!exists)
        {
            stderr.WriteLine($"otsensor alert-pcap: no alert {id} in the store.");
            return Program.ExitError;
        }
        if (trace is null)
        {
            stderr.WriteLine($"otsensor alert-pcap: alert {id} kept no packets (they had left the trace buffer).");
            return Program.ExitError;
        }
        try
        {
            File.WriteAllBytes(output, trace);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            stderr.WriteLine($"otsensor alert-pcap: cannot write '{output}': {ex.Message}");
            return Program.ExitError;
        }
        stdout.WriteLine($"wrote {output} ({trace.Length} bytes)");
        return Program.ExitOk;
    }
}
