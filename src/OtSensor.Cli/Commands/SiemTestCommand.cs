using System.CommandLine;
using System.Globalization;
using System.Text;
using OtSensor.Detection;
using OtSensor.Forwarding;

namespace OtSensor.Cli.Commands;

/// <summary><c>otsensor siem-test --to URL</c>: sends one test event and reports success or the exact error.</summary>
public static class SiemTestCommand
{
    public static Command Create()
    {
        var o = new DestinationCliOptions(multiple: false);
        var cmd = new Command("siem-test", "Send one test event to a SIEM destination and report success or the exact error.");
        o.AddTo(cmd);
        cmd.SetAction(async (parse, ct) =>
        {
            const string me = "otsensor siem-test";
            if (!o.TryBuild(parse, me, out var destinations, out var tls)) return Program.ExitUsage;
            int failed = 0;
            for (int i = 0; i < destinations.Count; i++)
            {
                if (!await TestOne(destinations[i], tls[i], me, ct).ConfigureAwait(false)) failed++;
            }
            return failed == 0 ? Program.ExitOk : Program.ExitError;
        });
        return cmd;
    }

    private static async Task<bool> TestOne(Destination d, TlsSettings? tlsSettings, string me, CancellationToken ct)
    {
        var alert = TestAlert();
        var message = new AlertMessageBuilder(d).Build(alert);
        string? error = await DirectSend.SendAsync(d, tlsSettings, message, TimeSpan.FromSeconds(20), m => Console.Error.WriteLine($"{me}: {m}"), ct).ConfigureAwait(false);
        if (error is not null)
        {
            await Console.Error.WriteLineAsync($"{me}: {d.Url}: {error}").ConfigureAwait(false);
            return false;
        }
        string how = d.Kind == TransportKind.Udp ? " (UDP: delivery cannot be confirmed; no ICMP port-unreachable came back)" : "";
        await Console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"sent a test event ({message.Length} bytes) to {d.Url}{how}:")).ConfigureAwait(false);
        await Console.Out.WriteLineAsync(Encoding.UTF8.GetString(message)).ConfigureAwait(false);
        return true;
    }

    internal static Alert TestAlert()
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
        return new Alert
        {
            Type = "otsensor_siem_test",
            Name = "OtSensor SIEM test event",
            Severity = 1,
            Category = "test",
            FirstSeenNs = now,
            LastSeenNs = now,
            Proto = "",
            Message = $"Test event from otsensor siem-test on {Environment.MachineName}",
            Evidence = new() { ["test_id"] = Guid.NewGuid().ToString("N") },
        };
    }
}
