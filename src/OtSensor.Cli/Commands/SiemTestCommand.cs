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
        var transport = MessageTransport.Create(d, tlsSettings, m => Console.Error.WriteLine($"{me}: {m}"));
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            limit.CancelAfter(TimeSpan.FromSeconds(20));
            await transport.ConnectAsync(limit.Token).ConfigureAwait(false);
            await transport.SendAsync(message, limit.Token).ConfigureAwait(false);
            await transport.FlushAsync(limit.Token).ConfigureAwait(false);
            if (transport is UdpTransport udp)
            {
                await udp.CheckRefusedAsync(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
            }
            else
            {
                await Task.Delay(500, limit.Token).ConfigureAwait(false);
                if (transport.PeerClosed) throw new IOException("the receiver closed the connection right after the event was sent");
            }
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException
            || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            string why = ex is OperationCanceledException ? "timed out" : ex.Message;
            await Console.Error.WriteLineAsync($"{me}: {d.Url}: {why}").ConfigureAwait(false);
            return false;
        }
        finally
        {
            await transport.DisposeAsync().ConfigureAwait(false);
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
            Evidence = new(StringComparer.Ordinal) { ["test_id"] = Guid.NewGuid().ToString("N") },
        };
    }
}
