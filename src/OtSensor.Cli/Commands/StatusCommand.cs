using System.CommandLine;
using OtSensor.Service;

namespace OtSensor.Cli.Commands;

/// <summary><c>otsensor status</c>: the running service's counters, read from its local status socket.</summary>
internal static class StatusCommand
{
    public static Command Create()
    {
        var socket = new Option<string?>("--socket") { Description = $"Status socket of the service (default: from --config, else {ServiceConfig.DefaultStatusSocket})." };
        var config = new Option<string?>("--config", "-c") { Description = $"The service's configuration, to find its status socket (default {RunCommand.DefaultConfig} when it exists)." };
        var json = new Option<bool>("--json") { Description = "Print the counters as JSON (for scripts)." };
        var timeout = new Option<double>("--timeout") { Description = "Seconds to wait for the service's answer.", DefaultValueFactory = _ => 5 };
        var cmd = new Command("status", "Show the running service's health: uptime, pps, drops, queue, assets, alerts, forwarder backlog, interface errors.")
        {
            socket, config, json, timeout,
        };
        cmd.SetAction(parse =>
        {
            const string me = "otsensor status";
            string? path = parse.GetValue(socket);
            if (path is null)
            {
                string? cfg = parse.GetValue(config);
                if (cfg is null && File.Exists(RunCommand.DefaultConfig)) cfg = RunCommand.DefaultConfig;
                if (cfg is not null)
                {
                    try
                    {
                        path = ServiceConfig.Load(cfg).EffectiveStatusSocket;
                    }
                    catch (ConfigException ex)
                    {
                        Console.Error.WriteLine($"{me}: {ex.Message}");
                        return Program.ExitUsage;
                    }
                }
                else
                {
                    path = ServiceConfig.DefaultStatusSocket;
                }
            }
            double secs = parse.GetValue(timeout);
            if (secs is <= 0 or > 600)
            {
                Console.Error.WriteLine($"{me}: --timeout must be between 0 and 600 seconds.");
                return Program.ExitUsage;
            }
            if (!StatusSocketClient.TryQuery(path, TimeSpan.FromSeconds(secs), out var status, out string error))
            {
                Console.Error.WriteLine($"{me}: {error}");
                return Program.ExitError;
            }
            Console.Out.Write(parse.GetValue(json) ? status!.ToJson() + Environment.NewLine : status!.ToText());
            return Program.ExitOk;
        });
        return cmd;
    }
}
