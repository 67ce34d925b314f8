using System.Net.Sockets;
using System.Text;
using OtSensor.Service;

namespace OtSensor.Tests.Service;

public sealed class StatusAndMetricsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("otsensor-status-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    internal static ServiceStatusSnapshot Sample() => new()
    {
        Version = "1.0.0",
        Pid = 42,
        Config = "/etc/otsensor/otsensor.json",
        Store = "/var/lib/otsensor/otsensor.db",
        UptimeSeconds = 3725,
        Pps = 1234.5,
        Mbps = 9.75,
        Packets = 100_000,
        ProcessedPackets = 99_000,
        KernelDropped = 3,
        InterfaceDropped = 1,
        ApplicationDropped = 7,
        QueueBytes = 4096,
        BatchesInFlight = 2,
        Assets = 12,
        Alerts = 5,
        StoreErrors = 1,
        LastStoreError = "database or disk is full",
        Interfaces =
        [
            new() { Name = "eth1", Captured = 60_000, Bytes = 6_000_000, KernelDropped = 3, InterfaceDropped = 1, ApplicationDropped = 7, QueueBytes = 4096, QueueCapacity = 1 << 20 },
            new() { Name = "eth\"2", Captured = 40_000, Error = "interface went down" },
        ],
        Destinations = [new() { Name = "forward:udp://127.0.0.1:514", Url = "udp://127.0.0.1:514", Backlog = 2, Sent = 3, Failures = 1 }],
    };

    [Fact]
    public void Prometheus_EveryMetricHasHelpAndTypeBeforeItsSamples()
    {
        string text = PrometheusFormatter.Format(Sample());
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var typed = new HashSet<string>(StringComparer.Ordinal);
        var helped = new HashSet<string>(StringComparer.Ordinal);
        foreach (var l in lines)
        {
            if (l.StartsWith("# HELP ", StringComparison.Ordinal)) helped.Add(l.Split(' ')[2]);
            else if (l.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var p = l.Split(' ');
                Assert.Contains(p[3], new[] { "counter", "gauge" });
                typed.Add(p[2]);
            }
            else
            {
                string name = l.Split('{', ' ')[0];
                Assert.StartsWith("otsensor_", name, StringComparison.Ordinal);
                Assert.Contains(name, typed);
                Assert.Contains(name, helped);
            }
        }
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Prometheus_DropsAreLabelledByInterfaceAndKind()
    {
        string text = PrometheusFormatter.Format(Sample());
        Assert.Contains("otsensor_dropped_packets_total{interface=\"eth1\",kind=\"interface\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("otsensor_dropped_packets_total{interface=\"eth1\",kind=\"kernel\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("otsensor_dropped_packets_total{interface=\"eth1\",kind=\"application\"} 7\n", text, StringComparison.Ordinal);
        Assert.Contains("otsensor_packets_per_second 1234.5\n", text, StringComparison.Ordinal);
        Assert.Contains("otsensor_assets 12\n", text, StringComparison.Ordinal);
        Assert.Contains("otsensor_store_errors_total 1\n", text, StringComparison.Ordinal);
        Assert.Contains("otsensor_forward_backlog{destination=\"forward:udp://127.0.0.1:514\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("otsensor_interface_up{interface=\"eth1\"} 1\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Prometheus_LabelValuesAreEscaped()
    {
        Assert.Contains("otsensor_interface_up{interface=\"eth\\\"2\"} 0\n", PrometheusFormatter.Format(Sample()), StringComparison.Ordinal);
        Assert.Equal("a\\\\b\\\"c\\nd", PrometheusFormatter.EscapeLabel("a\\b\"c\nd"));
    }

    [Fact]
    public async Task StatusSocket_RoundTripsTheSnapshot()
    {
        string path = Path.Combine(_dir, "status.sock");
        var snapshot = Sample();
        await using (var server = StatusSocketServer.Start(path, () => snapshot))
        {
            Assert.True(StatusSocketClient.TryQuery(path, TimeSpan.FromSeconds(5), out var got, out string error), error);
            Assert.Equal(snapshot.ToJson(), got!.ToJson());
            Assert.Equal("eth1", got.Interfaces[0].Name);
            Assert.Equal("interface went down", got.Interfaces[1].Error);
            Assert.Equal(2, got.Destinations[0].Backlog);
            // Several clients in a row each get an answer.
            Assert.True(StatusSocketClient.TryQuery(path, TimeSpan.FromSeconds(5), out _, out _));
        }
        Assert.False(File.Exists(path));
        Assert.False(StatusSocketClient.TryQuery(path, TimeSpan.FromSeconds(1), out _, out string gone));
        Assert.Contains("no status socket at", gone, StringComparison.Ordinal);
    }

    [Fact]
    public void StatusSocket_StaleFileWithNobodyListening_IsReportedAsNoService()
    {
        string path = Path.Combine(_dir, "stale.sock");
        File.WriteAllText(path, ""); // a leftover file where the socket was
        Assert.True(File.Exists(path));
        Assert.False(StatusSocketClient.TryQuery(path, TimeSpan.FromSeconds(1), out _, out string error));
        Assert.StartsWith($"no otsensor service answers on '{path}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StatusSocket_ReplacesAStaleFile_ButNotALiveService()
    {
        string path = Path.Combine(_dir, "s.sock");
        File.WriteAllText(path, ""); // a leftover file where the socket was
        await using var first = StatusSocketServer.Start(path, Sample);
        Assert.True(StatusSocketClient.TryQuery(path, TimeSpan.FromSeconds(5), out _, out _));
        var ex = Assert.Throws<IOException>(() => StatusSocketServer.Start(path, Sample));
        Assert.Contains("another otsensor service already answers", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void StatusText_ShowsDropsBacklogAndInterfaceErrors()
    {
        string text = Sample().ToText();
        Assert.Contains("up 01:02:05", text, StringComparison.Ordinal);
        Assert.Contains("drops   interface 1, kernel 3, application 7", text, StringComparison.Ordinal);
        Assert.Contains("forward udp://127.0.0.1:514: backlog 2", text, StringComparison.Ordinal);
        Assert.Contains("error: interface went down", text, StringComparison.Ordinal);
        Assert.Contains("store errors 1 (last: database or disk is full)", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MetricsServer_ServesMetricsOnLoopbackOnly()
    {
        await using var m = MetricsServer.Start(0, Sample);
        string ok = await HttpGet(m.Port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", ok, StringComparison.Ordinal);
        Assert.Contains("Content-Type: text/plain; version=0.0.4", ok, StringComparison.Ordinal);
        Assert.Contains("\r\n\r\n# HELP otsensor_uptime_seconds", ok, StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 404", await HttpGet(m.Port, "GET / HTTP/1.1\r\n\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 405", await HttpGet(m.Port, "POST /metrics HTTP/1.1\r\n\r\n"), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 400", await HttpGet(m.Port, "garbage\r\n\r\n"), StringComparison.Ordinal);
        // Not reachable on another local address (bound to 127.0.0.1, not 0.0.0.0).
        var other = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(n => n.GetIPProperties().UnicastAddresses).Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !System.Net.IPAddress.IsLoopback(a));
        if (other is not null)
        {
            using var c = new TcpClient();
            await Assert.ThrowsAnyAsync<SocketException>(() => c.ConnectAsync(other, m.Port));
        }
    }

    private static async Task<string> HttpGet(int port, string request)
    {
        using var c = new TcpClient();
        await c.ConnectAsync(System.Net.IPAddress.Loopback, port);
        var s = c.GetStream();
        await s.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var ms = new MemoryStream();
        await s.CopyToAsync(ms);
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}
