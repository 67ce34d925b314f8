using System.Text;
using OtSensor.Capture;
using OtSensor.Core;
using OtSensor.Output;
using OtSensor.Pipeline;
using OtSensor.Tests.Decoding;
using OtSensor.Tests.Pipeline;

namespace OtSensor.Tests.Output;

/// <summary>The replay summary's CoAP section serialized on a thread of its own is the same text as written in line.</summary>
public class SummaryJsonSectionTests
{
    private static string Summary(ReplayRun run, int parallelFrom)
    {
        run.Report.ParallelSectionServers = parallelFrom;
        return run.SummaryJson();
    }

    [Theory]
    [InlineData("coap_libcoap.pcap")]
    [InlineData("coap_crafted.pcap")]
    [InlineData("mqtt_mosquitto.pcap")]
    public void ParallelCoapSection_IsByteIdenticalToTheInlineOne(string capture)
    {
        var run = ReplayHarness.Run([Path.Combine(OtSensor.Tests.Differential.TestPaths.CapturesDir, capture)]);
        string inline = Summary(run, int.MaxValue);
        string parallel = Summary(run, 0);
        Assert.Equal(inline, parallel);
        Assert.Contains("\"coap\": {", parallel, StringComparison.Ordinal);
    }

    [Fact]
    public void ParallelCoapSection_IsByteIdentical_OnManyServers()
    {
        // 1,500 CoAP servers, each asked for a few resources with and without Observe: a section that spans several of
        // the buffer's 1 MiB chunks.
        string path = Path.Combine(Path.GetTempPath(), $"otsensor-sections-{Environment.ProcessId}.pcap");
        try
        {
            using (var file = File.Create(path))
            using (var pcap = new PcapWriter(file, LinkType.Ethernet))
            {
                long t = 1_700_000_000_000_000_000;
                ushort mid = 1;
                for (int server = 0; server < 1500; server++)
                {
                    string serverIp = $"10.{1 + server / 250}.{server % 250}.1", clientIp = $"10.200.{server % 250}.{2 + server / 250}";
                    for (int r = 0; r < 6; r++, mid++)
                    {
                        byte[] token = [(byte)server, (byte)r];
                        byte[] path1 = Encoding.ASCII.GetBytes("sensors"), path2 = Encoding.ASCII.GetBytes($"temp{r}");
                        // CON GET /sensors/tempN (Uri-Path 11 twice), token 2 bytes; r odd adds Observe 0 (option 6).
                        var request = new List<byte> { 0x42, 0x01, (byte)(mid >> 8), (byte)mid };
                        request.AddRange(token);
                        if (r % 2 == 1) request.Add(0x60);
                        request.Add((byte)((r % 2 == 1 ? 0x50 : 0xB0) | path1.Length));
                        request.AddRange(path1);
                        request.Add((byte)path2.Length);
                        request.AddRange(path2);
                        // ACK 2.05 Content, Content-Format 0 (text/plain), payload.
                        var response = new List<byte> { 0x62, 0x45, (byte)(mid >> 8), (byte)mid };
                        response.AddRange(token);
                        response.Add(0xC0);
                        response.Add(0xFF);
                        response.AddRange(Encoding.ASCII.GetBytes($"{20 + r}.5"));
                        pcap.WritePacket(t += 1_000_000, Frames.Eth(0x0800, Frames.Ipv4(17, Frames.Udp((ushort)(40000 + r), 5683, [.. request]), clientIp, serverIp)));
                        pcap.WritePacket(t += 1_000_000, Frames.Eth(0x0800, Frames.Ipv4(17, Frames.Udp(5683, (ushort)(40000 + r), [.. response]), serverIp, clientIp)));
                    }
                }
            }
            var run = ReplayHarness.Run([path]);
            Assert.Equal(1500, run.Report.Coap.ServerCount);
            string inline = Summary(run, int.MaxValue);
            string parallel = Summary(run, 0);
            Assert.True(Encoding.UTF8.GetByteCount(inline) > 2 << 20, $"summary of {inline.Length} chars");
            Assert.Contains("/sensors/temp5", inline, StringComparison.Ordinal);
            Assert.Equal(inline, parallel);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

/// <summary>The replay summary's alerts serialized on a thread of their own are the same text as written in line.</summary>
public class SummaryJsonAlertsSectionTests
{
    private static (ReplayReport Report, ReplayStats Stats) Run(IReadOnlyList<string> files, bool prepare = false)
    {
        var report = new ReplayReport { PrepareJson = prepare };
        var detection = new OtSensor.Detection.DetectionEngine(baseline: OtSensor.Detection.BaselineMode.Off);
        report.Detection = detection;
        var engine = new ReplayEngine(new ReplayOptions { Files = files, Workers = 2 }, [report, detection]);
        var stats = engine.RunAsync().GetAwaiter().GetResult();
        if (engine.FirstInternalError is { } e) throw new InvalidOperationException("internal error in the pipeline", e);
        return (report, stats);
    }

    private static string Summary(ReplayReport report, ReplayStats stats, int parallelFrom)
    {
        report.ParallelSectionAlerts = parallelFrom;
        using var ms = new MemoryStream();
        report.WriteJson(ms, stats, includeTiming: false);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    [Theory]
    [InlineData("plant_attack.pcap")]
    [InlineData("mqtt_policy.pcap")]
    [InlineData("modbus_fc_scan.pcap")]
    public void ParallelAlertsSection_IsByteIdenticalToTheInlineOne(string capture)
    {
        var (report, stats) = Run([Path.Combine(OtSensor.Tests.Differential.TestPaths.CapturesDir, "attacks", capture)]);
        Assert.NotEmpty(report.Detection!.Raised);
        string inline = Summary(report, stats, int.MaxValue);
        string parallel = Summary(report, stats, 0);
        Assert.Equal(inline, parallel);
        Assert.Contains("\"alerts\": [", parallel, StringComparison.Ordinal);
        Assert.Contains("\"internal_errors\": 0", parallel, StringComparison.Ordinal);
    }

    /// <summary>Sections serialized from the completion on (<see cref="ReplayReport.PrepareJson"/>) give the same summary.</summary>
    [Theory]
    [InlineData("attacks/plant_attack.pcap")]
    [InlineData("attacks/mqtt_policy.pcap")]
    [InlineData("coap_libcoap.pcap")]
    [InlineData("modbus_pymodbus.pcap")]
    [InlineData("mqtt_mosquitto.pcap")]
    public void PreparedSections_GiveTheSameSummary(string capture)
    {
        string path = Path.Combine(OtSensor.Tests.Differential.TestPaths.CapturesDir, capture);
        var (inline, inlineStats) = Run([path]);
        var (prepared, preparedStats) = Run([path], prepare: true);
        string expected = Summary(inline, inlineStats, int.MaxValue);
        Assert.Equal(expected, Summary(prepared, preparedStats, int.MaxValue));
        Assert.Contains("\"modbus\": {", expected, StringComparison.Ordinal);
        // Written once: a second summary of the same report is written in line, the same again.
        Assert.Equal(expected, Summary(prepared, preparedStats, int.MaxValue));
    }

    [Fact]
    public void ParallelAlertsSection_IsByteIdentical_WhenEmptyOrLarge()
    {
        // No alert at all: an empty array either way.
        var (quiet, quietStats) = Run([Path.Combine(OtSensor.Tests.Differential.TestPaths.CapturesDir, "modbus_pymodbus.pcap")]);
        Assert.Equal(Summary(quiet, quietStats, int.MaxValue), Summary(quiet, quietStats, 0));

        // 2,500 clients asking one CoAP server for /.well-known/core: 2,500 discovery alerts, an array that spans
        // several of the buffer's 1 MiB chunks.
        string path = Path.Combine(Path.GetTempPath(), $"otsensor-alert-sections-{Environment.ProcessId}.pcap");
        try
        {
            using (var file = File.Create(path))
            using (var pcap = new PcapWriter(file, LinkType.Ethernet))
            {
                long t = 1_700_000_000_000_000_000;
                byte[] wellKnown = Encoding.ASCII.GetBytes(".well-known"), core = Encoding.ASCII.GetBytes("core");
                for (int client = 0; client < 2500; client++)
                {
                    string clientIp = $"10.{20 + client / 250}.{client % 250}.7";
                    ushort mid = (ushort)(client + 1);
                    // CON GET /.well-known/core, token 1 byte.
                    var request = new List<byte> { 0x41, 0x01, (byte)(mid >> 8), (byte)mid, (byte)client, (byte)(0xB0 | wellKnown.Length) };
                    request.AddRange(wellKnown);
                    request.Add((byte)core.Length);
                    request.AddRange(core);
                    var response = new List<byte> { 0x61, 0x45, (byte)(mid >> 8), (byte)mid, (byte)client, 0xC1, 0x28, 0xFF };
                    response.AddRange(Encoding.ASCII.GetBytes("</sensors/temp>;rt=\"temperature\""));
                    pcap.WritePacket(t += 1_000_000, Frames.Eth(0x0800, Frames.Ipv4(17, Frames.Udp(40000, 5683, [.. request]), clientIp, "10.9.9.9")));
                    pcap.WritePacket(t += 1_000_000, Frames.Eth(0x0800, Frames.Ipv4(17, Frames.Udp(5683, 40000, [.. response]), "10.9.9.9", clientIp)));
                }
            }
            var (report, stats) = Run([path]);
            Assert.Equal(2500, report.Detection!.Raised.Count(a => a.Type == "coap_resource_discovery"));
            string inline = Summary(report, stats, int.MaxValue);
            string parallel = Summary(report, stats, 0);
            Assert.True(Encoding.UTF8.GetByteCount(inline) > 2 << 20, $"summary of {inline.Length} chars");
            Assert.Equal(inline, parallel);
        }
        finally
        {
            File.Delete(path);
        }
    }
}

public class ChunkedBufferTests
{
    [Fact]
    public void HoldsWhatWasWritten_AcrossChunks_AndCopiesAnyRange()
    {
        var rng = new Random(7);
        var expected = new MemoryStream();
        using var buffer = new ChunkedBuffer();
        int[] sizes = [1, 17, 4096, 65536, 300_000, 1 << 20, (1 << 20) + 3, 5, 2_000_000, 9];
        foreach (int size in sizes)
        {
            // Ask for room for a write of this size, use only part of it sometimes (as Utf8JsonWriter does).
            var span = buffer.GetSpan(size);
            Assert.True(span.Length >= size);
            int used = size % 3 == 0 ? size / 2 : size;
            var bytes = new byte[used];
            rng.NextBytes(bytes);
            bytes.CopyTo(span);
            buffer.Advance(used);
            expected.Write(bytes);
        }
        byte[] all = expected.ToArray();
        Assert.Equal(all.Length, buffer.Length);
        foreach (var (from, to) in new (long, long)[] { (0, all.Length), (1, all.Length - 1), (1 << 20, (1 << 20) + 10), (all.Length - 1, all.Length), (5, 5) })
        {
            var copy = new MemoryStream();
            buffer.CopyTo(copy, from, to);
            Assert.Equal(all[(int)from..(int)to], copy.ToArray());
        }
        foreach (long at in new long[] { 0, 17, 1 << 20, all.Length - 1 })
            Assert.Equal(all[at], buffer.ByteAt(at)[0]);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Advance(int.MaxValue));
    }
}
