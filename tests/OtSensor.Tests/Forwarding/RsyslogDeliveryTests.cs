using System.Text;
using OtSensor.Forwarding;

namespace OtSensor.Tests.Forwarding;

/// <summary>Delivery to a real rsyslogd started by the test on 127.0.0.1 (UDP, TCP octet-counted/newline, TLS).</summary>
public class RsyslogDeliveryTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private static ForwarderOptions Fast => new()
    {
        PollInterval = TimeSpan.FromMilliseconds(50),
        MinBackoff = TimeSpan.FromMilliseconds(50),
        MaxBackoff = TimeSpan.FromMilliseconds(400),
        ConfirmDelay = TimeSpan.FromMilliseconds(300),
    };

    private static async Task DeliverAndCheck(Rsyslog rs, string url, int count, Func<Destination, Destination>? tweak = null)
    {
        var outbox = new MemoryOutbox();
        var expected = new List<string>();
        var d = Destination.Parse(url);
        if (tweak is not null) d = tweak(d);
        var builder = new AlertMessageBuilder(d);
        for (int i = 0; i < count; i++)
        {
            var a = Alerts.Make(i);
            if (i % 5 == 0) a.Evidence["topic"] = "inj|ect=ed\\\r\nCEF:0|x\0y";
            outbox.Add(a);
            expected.Add(Encoding.UTF8.GetString(builder.Build(a)));
        }
        await using var f = new Forwarder(outbox, d, Fast, builder: builder);
        using var cts = new CancellationTokenSource(Wait);
        await f.DrainAsync(cts.Token);
        Assert.Equal(count, outbox.GetCursor(d.Name));
        var lines = await rs.WaitForLinesAsync(count, Wait);
        Assert.Equal(expected, lines);
        foreach (var (line, i) in lines.Select((l, i) => (l, i)))
        {
            var cef = CefRecord.Parse(line);
            Assert.Equal((i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), cef.Ext["externalId"]);
            Assert.Equal("modbus", cef.Ext["app"]);
            Assert.Equal("T0855,T0836", cef.Custom("mitreTechniques"));
        }
    }

    [Fact]
    public async Task Udp_EveryAlertArrivesExactlyAsFormatted()
    {
        using var rs = new Rsyslog();
        await DeliverAndCheck(rs, $"udp://127.0.0.1:{rs.UdpPort}", 20);
    }

    [Fact]
    public async Task TcpOctetCounted_EveryAlertArrivesExactlyAsFormatted()
    {
        using var rs = new Rsyslog();
        await DeliverAndCheck(rs, $"tcp://127.0.0.1:{rs.TcpPort}", 50);
    }

    [Fact]
    public async Task TcpNewlineFramed_Rfc3164_EveryAlertArrives()
    {
        using var rs = new Rsyslog();
        await DeliverAndCheck(rs, $"tcp://127.0.0.1:{rs.TcpPort}?framing=newline&syslog=3164", 20);
    }

    [Fact]
    public async Task Tls_ValidatedAgainstTheCaFile_EveryAlertArrives()
    {
        using var rs = new Rsyslog(tls: true);
        await DeliverAndCheck(rs, $"tls://localhost:{rs.TlsPort}", 30, d => d with { CaFile = rs.Certs!.CaFile });
    }

    [Fact]
    public async Task Tls_UntrustedServerCertificate_IsRefusedWithTheReason()
    {
        using var rs = new Rsyslog(tls: true);
        var d = Destination.Parse($"tls://localhost:{rs.TlsPort}") with { CaFile = rs.Certs!.OtherCaFile };
        await using var t = MessageTransport.Create(d);
        var ex = await Assert.ThrowsAsync<IOException>(() => t.ConnectAsync(CancellationToken.None));
        Assert.Contains("not trusted by the CA file", ex.Message, StringComparison.Ordinal);

        var wrongName = Destination.Parse($"tls://127.0.0.1:{rs.TlsPort}?server_name=siem.example") with { CaFile = rs.Certs.CaFile };
        await using var t2 = MessageTransport.Create(wrongName);
        var ex2 = await Assert.ThrowsAsync<IOException>(() => t2.ConnectAsync(CancellationToken.None));
        Assert.Contains("does not match", ex2.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Outage_ReceiverStoppedAndRestarted_EveryAlertArrives()
    {
        using var rs = new Rsyslog();
        var outbox = new MemoryOutbox();
        var d = Destination.Parse($"tcp://127.0.0.1:{rs.TcpPort}");
        await using var f = new Forwarder(outbox, d, Fast);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var run = f.RunAsync(cts.Token);
        const int total = 300;
        for (int i = 0; i < total; i++)
        {
            outbox.Add(Alerts.Make(i));
            if (i == 100) rs.Stop();
            if (i == 200) rs.Start();
            await Task.Delay(5);
        }
        await Ports.WaitUntilAsync(() => outbox.GetCursor(d.Name) == total, TimeSpan.FromSeconds(30), "the cursor to reach the end");
        var lines = await rs.WaitForLinesAsync(total, Wait, l => l.Contains("CEF:", StringComparison.Ordinal));
        var ids = lines.Select(l => long.Parse(CefRecord.Parse(l).Ext["externalId"], System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
        for (long id = 1; id <= total; id++) Assert.Contains(id, ids);
        Assert.True(f.Stats.Failures > 0, "the outage was noticed");
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
    }

    [Fact]
    public async Task Restart_ForwarderKilledMidwayAndRestarted_ResumesFromTheCursorWithNoneMissing()
    {
        using var rs = new Rsyslog();
        string dir = Path.Combine(rs.Dir, "outbox");
        var outbox = new FileOutbox(dir);
        const int total = 120;
        for (int i = 1; i <= total; i++)
        {
            var a = Alerts.Make(i);
            a.Id = i;
            outbox.Add(a);
        }
        var d = Destination.Parse($"tcp://127.0.0.1:{rs.TcpPort}");
        var slow = new ForwarderOptions { BatchSize = 5, PollInterval = TimeSpan.FromMilliseconds(20), ConfirmDelay = TimeSpan.FromMilliseconds(50), MinBackoff = TimeSpan.FromMilliseconds(50) };
        var gated = new SlowOutbox(new FileOutbox(dir), gateAt: 30);
        var first = new Forwarder(gated, d, slow);
        using (var kill = new CancellationTokenSource())
        {
            var run = Task.Run(() => first.RunAsync(kill.Token)); // never on the test thread: the gate would block it
            // The outbox holds the forwarder once 30 alerts are delivered, however loaded the machine is.
            Assert.True(gated.Reached.Wait(Wait), "the forwarder never delivered 30 alerts");
            await kill.CancelAsync(); // killed mid-way: whatever was unconfirmed is not in the cursor
            gated.Release();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
            await first.DisposeAsync();
        }
        long resumedAt = new FileOutbox(dir).GetCursor(d.Name);
        Assert.InRange(resumedAt, 1, total - 1); // some alerts confirmed, not all: a real mid-way kill

        await using var second = new Forwarder(new FileOutbox(dir), d, slow);
        using var cts = new CancellationTokenSource(Wait);
        await second.DrainAsync(cts.Token);
        Assert.Equal(total, new FileOutbox(dir).GetCursor(d.Name));
        var lines = await rs.WaitForLinesAsync(total, Wait);
        var ids = lines.Select(l => long.Parse(CefRecord.Parse(l).Ext["externalId"], System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
        for (long id = 1; id <= total; id++) Assert.Contains(id, ids);
    }

    /// <summary>Reads take 30 ms; once the forwarder asks past <paramref name="gateAt"/> it is held until released.</summary>
    private sealed class SlowOutbox(OtSensor.Detection.IAlertOutbox inner, long gateAt = long.MaxValue) : OtSensor.Detection.IAlertOutbox
    {
        private readonly ManualResetEventSlim _released = new(false);

        public ManualResetEventSlim Reached { get; } = new(false);

        public void Release() => _released.Set();

        public IReadOnlyList<OtSensor.Detection.Alert> ReadAfter(long afterId, int max)
        {
            Thread.Sleep(30);
            if (afterId >= gateAt)
            {
                Reached.Set();
                // Held until the test has cancelled, however late a loaded machine lets it run: the forwarder must not run ahead.
                _released.Wait(TimeSpan.FromMinutes(5));
            }
            return inner.ReadAfter(afterId, max);
        }

        public long GetCursor(string destination) => inner.GetCursor(destination);

        public void SetCursor(string destination, long deliveredId) => inner.SetCursor(destination, deliveredId);
    }
}
