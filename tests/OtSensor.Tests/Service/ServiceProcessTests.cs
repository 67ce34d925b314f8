using System.Diagnostics;
using Microsoft.Data.Sqlite;
using OtSensor.Detection;
using OtSensor.Service;
using OtSensor.Tests.Cli;
using Xunit.Abstractions;

namespace OtSensor.Tests.Service;

/// <summary>The real service process: fail-fast on a bad configuration, and live capture across a SIGTERM and a restart.</summary>
public sealed class ServiceProcessTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("otsensor-service-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    [Theory]
    [InlineData(CliProcess.Dll)]
    [InlineData(CliProcess.Native)]
    public void Run_InvalidConfig_FailsFastWithExit2AndTheKey(string binary)
    {
        string cfg = Path.Combine(_dir, "bad.yaml");
        string store = Path.Combine(_dir, "data", "s.db");
        File.WriteAllText(cfg, $"interfaces: [lo]\nstore: {store}\nretention:\n  max_alert: 5\n");
        var sw = Stopwatch.StartNew();
        var (code, stdout, stderr) = CliProcess.RunWith(binary, "run", "--config", cfg);
        Assert.Equal(2, code);
        Assert.Equal($"otsensor run: invalid configuration: {cfg}: line 4: 'retention.max_alert': unknown key", stderr.Trim());
        Assert.Equal("", stdout);
        Assert.False(File.Exists(store), "nothing may start on an invalid configuration");
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(15));
    }

    [Fact]
    public void Run_UnknownInterface_FailsWithExit2()
    {
        string cfg = Path.Combine(_dir, "c.json");
        File.WriteAllText(cfg, $$"""{ "interfaces": ["otsnope0"], "store": "{{Path.Combine(_dir, "s.db")}}" }""");
        var (code, _, stderr) = CliProcess.Run("run", "--config", cfg);
        Assert.Equal(2, code);
        Assert.Contains($"{cfg}: 'interfaces[0].name': no interface 'otsnope0' on this machine", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CliProcess.Dll)]
    [InlineData(CliProcess.Native)]
    public void Run_Check_ValidatesWithoutStarting(string binary)
    {
        string cfg = Path.Combine(_dir, "c.json");
        File.WriteAllText(cfg, $$"""{ "interfaces": ["lo"], "store": "{{Path.Combine(_dir, "s.db")}}" }""");
        var (code, stdout, _) = CliProcess.RunWith(binary, "run", "--config", cfg, "--check");
        Assert.Equal(0, code);
        Assert.Contains("configuration is valid", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Status_NoService_Exit1WithAClearMessage()
    {
        string sock = Path.Combine(_dir, "none.sock");
        var (code, stdout, stderr) = CliProcess.Run("status", "--socket", sock);
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains($"otsensor status: no status socket at '{sock}'", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CliProcess.Dll)]
    [InlineData(CliProcess.Native)]
    public void Run_LiveOnVeth_SurvivesSigtermAndRestart_StoreKeepsAssetsAndAlerts(string binary)
    {
        using var veth = OtSensor.Tests.Pipeline.Live.VethNamespace.TryCreate(out string why);
        if (veth is null)
        {
            output.WriteLine("SKIPPED: " + why);
            return;
        }
        string repo = ServiceConfigTests.FindRepo();
        string pcap = Path.Combine(repo, "captures", "attacks", "modbus_fc_scan.pcap");
        long sent = 0;
        using (var reader = OtSensor.Capture.CaptureFileReader.Open(pcap))
        {
            while (reader.TryReadPacket(out _)) sent++;
        }
        string store = Path.Combine(_dir, "store", "otsensor.db");
        string sock = Path.Combine(_dir, "status.sock");
        string siem = Path.Combine(_dir, "siem.jsonl");
        string cfg = Path.Combine(_dir, "otsensor.json");
        File.WriteAllText(cfg, $$"""
            {
              "interfaces": [ { "name": "{{veth.CaptureInterface}}", "buffer_mb": 32 } ],
              "ring_mb": 4,
              "workers": 1,
              "store": "{{store}}",
              "status_socket": "{{sock}}",
              "stats_interval_seconds": 1,
              "siem": { "destinations": [ { "url": "file://{{siem}}", "inventory": false } ] }
            }
            """);

        // First run: capture the replayed attack, then SIGTERM.
        ServiceStatusSnapshot status;
        using (var svc = ServiceProcess.StartWith(binary, "run", "--config", cfg))
        {
            WaitForStatus(svc, sock, s => s.Interfaces.Count == 1);
            veth.Replay(pcap, pps: 2000);
            // Every replayed packet is captured and analysed (the store is written when the pipeline flushes).
            status = WaitForStatus(svc, sock, s => s.Packets >= sent && s.ProcessedPackets >= sent);
            Assert.Equal(0, status.ApplicationDropped + status.KernelDropped);
            var (code, json, _) = CliProcess.RunWith(binary, "status", "--socket", sock, "--json");
            Assert.Equal(0, code);
            Assert.Contains("\"interfaces\"", json, StringComparison.Ordinal);
            Assert.Equal(0, svc.Terminate(TimeSpan.FromSeconds(25)));
            output.WriteLine(svc.Output);
            Assert.Contains("otsensor service stopped", svc.Output, StringComparison.Ordinal);
            Assert.Contains("stats: ", svc.Output, StringComparison.Ordinal);
        }
        var (assets, alerts) = Counts(store);
        Assert.True(assets >= 2, $"assets in the store after SIGTERM: {assets}");
        Assert.True(alerts >= 1, $"alerts in the store after SIGTERM: {alerts}");
        // The forwarder delivered every committed alert before the service exited.
        Assert.Contains("modbus_function_code_scan", File.ReadAllText(siem), StringComparison.Ordinal);
        Assert.Equal(alerts, File.ReadAllLines(siem).Length);
        Assert.False(File.Exists(sock), "the status socket is removed on exit");

        // Restart on the same store: everything from before is still there, and nothing is forwarded twice.
        long delivered = File.ReadAllLines(siem).Length;
        using (var svc = ServiceProcess.StartWith(binary, "run", "--config", cfg))
        {
            var again = WaitForStatus(svc, sock, s => s.Interfaces.Count == 1);
            Assert.Equal(assets, again.Assets);
            Assert.Equal(alerts, again.Alerts);
            Assert.Equal(0, again.Destinations[0].Backlog);
            Assert.Equal(0, svc.Terminate(TimeSpan.FromSeconds(25)));
        }
        Assert.Equal((assets, alerts), Counts(store));
        Assert.Equal(delivered, File.ReadAllLines(siem).Length);
    }

    [Fact]
    public async Task Run_DiskFull_KeepsCapturing_TellsTheSiem_AndWritesWhatWaitedOnceTheStoreIsBack()
    {
        using var veth = OtSensor.Tests.Pipeline.Live.VethNamespace.TryCreate(out string why);
        if (veth is null)
        {
            output.WriteLine("SKIPPED: " + why);
            return;
        }
        string disk = Path.Combine(_dir, "disk");
        Directory.CreateDirectory(disk);
        try
        {
            OtSensor.Tests.Pipeline.Live.VethNamespace.Run("mount", $"-t tmpfs -o size=4m tmpfs {disk}");
        }
        catch (InvalidOperationException ex)
        {
            output.WriteLine("SKIPPED: cannot mount a small tmpfs: " + ex.Message);
            return;
        }
        try
        {
            string pcap = Path.Combine(ServiceConfigTests.FindRepo(), "captures", "attacks", "modbus_fc_scan.pcap");
            long sent = 0;
            using (var reader = OtSensor.Capture.CaptureFileReader.Open(pcap))
            {
                while (reader.TryReadPacket(out _)) sent++;
            }
            string store = Path.Combine(disk, "otsensor.db");
            string sock = Path.Combine(_dir, "status.sock");
            string siem = Path.Combine(_dir, "siem.jsonl");
            string cfg = Path.Combine(_dir, "otsensor.json");
            // A UDP receiver on 127.0.0.1 stands for the SIEM that must hear of the outage while the store is full.
            using var siemUdp = new System.Net.Sockets.UdpClient(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
            int udpPort = ((System.Net.IPEndPoint)siemUdp.Client.LocalEndPoint!).Port;
            var heard = new System.Collections.Concurrent.ConcurrentQueue<string>();
            using var stopListening = new CancellationTokenSource();
            var listening = Task.Run(async () =>
            {
                try
                {
                    while (true) heard.Enqueue(System.Text.Encoding.UTF8.GetString((await siemUdp.ReceiveAsync(stopListening.Token)).Buffer));
                }
                catch (OperationCanceledException)
                {
                    // Done.
                }
            });
            File.WriteAllText(cfg, $$"""
                {
                  "interfaces": [ "{{veth.CaptureInterface}}" ],
                  "workers": 1,
                  "store": "{{store}}",
                  "status_socket": "{{sock}}",
                  "stats_interval_seconds": 1,
                  "siem": { "destinations": [ { "url": "file://{{siem}}", "inventory": false }, { "url": "udp://127.0.0.1:{{udpPort}}", "inventory": false } ] }
                }
                """);
            using var svc = ServiceProcess.Start("run", "--config", cfg);
            WaitForStatus(svc, sock, s => s.Interfaces.Count == 1);
            // Fill the disk, then send traffic that makes assets and alerts.
            string filler = Path.Combine(disk, "filler");
            using (var f = File.Create(filler))
            {
                var chunk = new byte[64 * 1024];
                try
                {
                    while (true) f.Write(chunk);
                }
                catch (IOException)
                {
                    // Full.
                }
            }
            veth.Replay(pcap, pps: 2000);
            var failing = WaitForStatus(svc, sock, s => s.ProcessedPackets >= sent && s.StoreErrors >= 1, seconds: 30);
            Assert.Equal(sent, failing.ProcessedPackets);
            Assert.Equal((0L, 0L), CountsOrZero(store));

            // Space comes back: the alerts that waited reach the store (and the SIEM) without a restart.
            File.Delete(filler);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (CountsOrZero(store).Alerts == 0 && DateTime.UtcNow < deadline) Thread.Sleep(250);
            Assert.True(CountsOrZero(store).Alerts >= 1, "the alerts raised while the disk was full never reached the store\n" + svc.Output);
            Assert.Equal(0, svc.Terminate(TimeSpan.FromSeconds(25)));
            output.WriteLine(svc.Output);
            Assert.Contains("store takes writes again", svc.Output, StringComparison.Ordinal);
            var (assets, alerts) = Counts(store);
            Assert.True(assets >= 2, $"assets seen while the disk was full: {assets}");
            // The SIEM heard of the outage and of its end straight away (not through the full store), then got every alert.
            await stopListening.CancelAsync();
            await listening;
            Assert.Single(heard, m => m.Contains("sensor_store_failure", StringComparison.Ordinal));
            Assert.Single(heard, m => m.Contains("sensor_store_recovered", StringComparison.Ordinal));
            Assert.Equal(alerts, File.ReadAllLines(siem).Length);
        }
        finally
        {
            try
            {
                OtSensor.Tests.Pipeline.Live.VethNamespace.Run("umount", disk);
            }
            catch (InvalidOperationException)
            {
                // Already unmounted.
            }
        }
    }

    /// <summary>The counts, or zero while the tables do not exist yet.</summary>
    private static (long Assets, long Alerts) CountsOrZero(string store)
    {
        try
        {
            return Counts(store);
        }
        catch (SqliteException)
        {
            return (0, 0);
        }
    }

    private static ServiceStatusSnapshot WaitForStatus(ServiceProcess svc, string sock, Func<ServiceStatusSnapshot, bool> ready, int seconds = 15)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        ServiceStatusSnapshot? last = null;
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(svc.HasExited, "otsensor run exited:\n" + svc.Output);
            if (StatusSocketClient.TryQuery(sock, TimeSpan.FromSeconds(2), out var s, out _))
            {
                last = s;
                if (ready(s!)) return s!;
            }
            Thread.Sleep(200);
        }
        throw new TimeoutException("the service did not reach the expected state; last status:\n" + last?.ToJson() + "\n" + svc.Output);
    }

    private static (long Assets, long Alerts) Counts(string store)
    {
        using var db = new SqliteConnection($"Data Source={store};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var a = db.CreateCommand();
        a.CommandText = "SELECT count(*) FROM assets;";
        using var b = db.CreateCommand();
        b.CommandText = "SELECT count(*) FROM alerts;";
        return ((long)a.ExecuteScalar()!, (long)b.ExecuteScalar()!);
    }
}
