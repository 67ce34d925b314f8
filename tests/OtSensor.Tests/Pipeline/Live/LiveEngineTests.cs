using System.Text.Json;
using System.Text.Json.Nodes;
using OtSensor.Capture.Live;
using OtSensor.Detection;
using OtSensor.Inventory;
using OtSensor.Output;
using OtSensor.Pipeline;

namespace OtSensor.Tests.Pipeline.Live;

/// <summary>
/// Live capture end to end: tcpreplay sends the project's captures into a veth pair whose other end lives in a network
/// namespace the test creates; the sensor captures with libpcap and must find what an offline replay of the same file
/// finds, without ever transmitting on the capture interface.
/// </summary>
[Collection("live capture")]
public class LiveEngineTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>The pair, or null with a clear message where the machine forbids network namespaces.</summary>
    private VethNamespace? Veth()
    {
        var v = VethNamespace.TryCreate(out string why);
        if (v is null) output.WriteLine("SKIPPED: " + why);
        return v;
    }

    private static string Capture(string name) => OtSensor.Tests.Differential.TestPaths.Capture(name);

    private sealed class Run
    {
        public required ReplayReport Report { get; init; }
        public required AssetInventory Inventory { get; init; }
        public required DetectionEngine Detection { get; init; }
        public required ReplayStats Stats { get; init; }
        public List<IEventConsumer> Consumers => [Report, Inventory, Detection];
    }

    private static (ReplayReport, AssetInventory, DetectionEngine) Consumers()
        => (new ReplayReport(), new AssetInventory(), new DetectionEngine(baseline: BaselineMode.Off));

    private static async Task<Run> Offline(string pcap)
    {
        var (report, inventory, detection) = Consumers();
        var engine = new ReplayEngine(new ReplayOptions { Files = [pcap], Workers = 2 }, [report, inventory, detection]);
        var stats = await engine.RunAsync();
        return new Run { Report = report, Inventory = inventory, Detection = detection, Stats = stats };
    }

    /// <summary>Captures on the pair while <paramref name="send"/> runs; stops once every sent packet went through.</summary>
    private static async Task<(Run Run, LiveEngine Engine, long Sent)> Live(VethNamespace veth, Func<long> send, int ringBytes = 16 << 20, string? bpf = null)
    {
        var (report, inventory, detection) = Consumers();
        var engine = new LiveEngine(new LiveOptions
        {
            Interfaces = [new LiveCaptureOptions { Interface = veth.CaptureInterface, Bpf = bpf }],
            Open = LiveSources.Open,
            RingBytes = ringBytes,
            Workers = 2,
            BatchLatency = TimeSpan.FromMilliseconds(20),
        }, [report, inventory, detection]);
        engine.Open();
        var running = engine.RunAsync();
        long sent = await Task.Run(send);
        // Everything sent is either processed or counted as dropped; wait for it (bounded).
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline)
        {
            var i = engine.Interfaces[0];
            if (i.Captured + i.KernelDropped + i.InterfaceDropped >= sent && engine.ProcessedPackets + i.ApplicationDropped >= i.Captured) break;
            await Task.Delay(50);
        }
        await Task.Delay(100);
        engine.Stop();
        var stats = await running.WaitAsync(TimeSpan.FromSeconds(30));
        return (new Run { Report = report, Inventory = inventory, Detection = detection, Stats = stats }, engine, sent);
    }

    private static JsonNode Summary(Run run)
    {
        var ms = new MemoryStream();
        run.Report.WriteJson(ms, run.Stats, includeTiming: false);
        var node = JsonNode.Parse(ms.ToArray())!;
        return Strip(node)!;
    }

    /// <summary>Drops what depends on when packets were captured (times, latencies) and where they came from.</summary>
    private static JsonNode? Strip(JsonNode? n)
    {
        if (n is JsonObject o)
        {
            foreach (var key in o.Select(p => p.Key).ToList())
            {
                if (key is "files" or "interfaces" or "first_packet" or "last_packet" or "alerts" || key.Contains("latency", StringComparison.Ordinal)
                    || key.Contains("time", StringComparison.Ordinal) || key.EndsWith("_ns", StringComparison.Ordinal) || key.Contains("seen", StringComparison.Ordinal))
                    o.Remove(key);
                else Strip(o[key]);
            }
        }
        else if (n is JsonArray a)
        {
            foreach (var e in a) Strip(e);
        }
        return n;
    }

    private static List<string> Assets(Run run) => [.. run.Inventory.Snapshot().Assets
        .Select(a => $"{a.Key} {a.Mac} [{string.Join(",", a.Ips)}] {string.Join(",", a.Roles)} units {string.Join(",", a.ModbusUnits)} tx {a.PacketsSent} rx {a.PacketsReceived}")
        .Order(StringComparer.Ordinal)];

    private static List<string> Alerts(Run run) => [.. run.Detection.Raised
        .Select(a => $"{a.Type} {a.SrcIp}->{a.DstIp} x{a.Count}")
        .Order(StringComparer.Ordinal)];

    [Theory]
    [InlineData("modbus_pymodbus.pcap")]
    [InlineData("mqtt_mosquitto_auth.pcap")]
    [InlineData("attacks/modbus_request_flood.pcap")]
    [InlineData("attacks/modbus_fc_scan.pcap")]
    [InlineData("attacks/port_scan.pcap")]
    [InlineData("attacks/coap_amplification.pcap")]
    public async Task LiveCapture_FindsWhatAnOfflineReplayFinds_AndNeverTransmits(string name)
    {
        string pcap = Capture(name);
        var offline = await Offline(pcap);
        using var veth = Veth();
        if (veth is null) return;
        var txBefore = InterfaceCounters.Read(veth.CaptureInterface)!.Value.TxPackets;

        var (live, engine, sent) = await Live(veth, () => veth.Replay(pcap, pps: 0));

        var i = engine.Interfaces[0];
        Assert.Equal(offline.Stats.Decode.Packets, sent);
        Assert.Equal(sent, live.Stats.Decode.Packets);
        Assert.Equal(0, i.ApplicationDropped + i.KernelDropped + i.InterfaceDropped);
        Assert.Equal(Summary(offline).ToJsonString(), Summary(live).ToJsonString());
        Assert.Equal(Assets(offline), Assets(live));
        Assert.Equal(Alerts(offline), Alerts(live));
        Assert.Equal(0, engine.InternalErrors);
        Assert.Equal(txBefore, InterfaceCounters.Read(veth.CaptureInterface)!.Value.TxPackets);
    }

    [Fact]
    public async Task Bpf_ExcludesTheFilteredProtocol()
    {
        string modbus = Capture("modbus_pymodbus.pcap"), coap = Capture("coap_libcoap.pcap");
        using var veth = Veth();
        if (veth is null) return;
        var (live, _, _) = await Live(veth, () => veth.Replay(modbus, pps: 20000) + veth.Replay(coap, pps: 20000), bpf: "not udp port 5683");
        Assert.Equal(0, live.Report.Coap.Transactions);
        Assert.True(live.Report.Modbus.Transactions > 0);
    }

    [Fact]
    public async Task TwoInterfaces_AreCapturedAtOnce_IntoOnePipeline()
    {
        string modbus = Capture("modbus_pymodbus.pcap"), coap = Capture("coap_libcoap.pcap");
        using var a = Veth();
        using var b = Veth();
        if (a is null || b is null) return;
        var report = new ReplayReport();
        var engine = new LiveEngine(new LiveOptions
        {
            Interfaces = [new LiveCaptureOptions { Interface = a.CaptureInterface }, new LiveCaptureOptions { Interface = b.CaptureInterface }],
            Open = LiveSources.Open,
            Workers = 2,
            BatchLatency = TimeSpan.FromMilliseconds(20),
        }, [report]);
        engine.Open();
        var running = engine.RunAsync();
        var sendA = Task.Run(() => a.Replay(modbus, pps: 5000));
        var sendB = Task.Run(() => b.Replay(coap, pps: 5000));
        long sent = await sendA + await sendB;
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline && engine.ProcessedPackets < sent) await Task.Delay(50);
        engine.Stop();
        var stats = await running.WaitAsync(TimeSpan.FromSeconds(30));
        var offlineModbus = await Offline(modbus);
        var offlineCoap = await Offline(coap);
        Assert.Equal(sent, stats.Decode.Packets);
        Assert.Equal(2, stats.Interfaces!.Count);
        Assert.All(stats.Interfaces, i => Assert.True(i.Captured > 0));
        Assert.Equal(offlineModbus.Report.Modbus.Transactions, report.Modbus.Transactions);
        Assert.Equal(offlineCoap.Report.Coap.Transactions, report.Coap.Transactions);
    }

    [Fact]
    public async Task Overload_IsCountedAsDrops_AndReceivedPlusDroppedEqualsSent()
    {
        // A ring of 4 KiB holds a few dozen frames: tcpreplay at top speed overflows it.
        string pcap = Capture("attacks/modbus_request_flood.pcap");
        using var veth = Veth();
        if (veth is null) return;
        var (live, engine, sent) = await Live(veth, () =>
        {
            long n = 0;
            for (int k = 0; k < 20; k++) n += veth.Replay(pcap, topSpeed: true);
            return n;
        }, ringBytes: 4096);
        var i = engine.Interfaces[0];
        Assert.True(i.ApplicationDropped > 0, "the tiny ring should have overflowed");
        Assert.Equal(sent, live.Stats.Decode.Packets + i.ApplicationDropped + i.KernelDropped + i.InterfaceDropped);
        Assert.Equal(i.Captured, live.Stats.Decode.Packets + i.ApplicationDropped);
    }

    [Fact]
    public void Open_FailsClearly_ForAMissingInterface_BeforeAnythingRuns()
    {
        var engine = new LiveEngine(new LiveOptions
        {
            Interfaces = [new LiveCaptureOptions { Interface = "nosuchif0" }],
            Open = LiveSources.Open,
        }, [new ReplayReport()]);
        var ex = Assert.Throws<LiveCaptureException>(engine.Open);
        Assert.Contains("nosuchif0", ex.Message, StringComparison.Ordinal);
    }
}

[CollectionDefinition("live capture", DisableParallelization = true)]
public sealed class LiveCaptureCollection;
