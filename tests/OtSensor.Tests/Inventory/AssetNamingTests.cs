using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Inventory;
using OtSensor.Pipeline;
using OtSensor.Store;
using OtSensor.Tests.Differential;

namespace OtSensor.Tests.Inventory;

/// <summary>
/// The asset keys another thread gets from <see cref="AssetNaming"/> at a point of the replay are exactly those
/// <see cref="AssetInventory.AssetKeyOf"/> gave on the inventory's own thread at that point.
/// </summary>
public class AssetNamingTests
{
    /// <summary>Runs right after the inventory on its thread and asks it for the key of every endpoint it sees.</summary>
    private sealed class Probe(AssetInventory inventory) : IEventConsumer
    {
        public readonly List<(MacAddress Mac, IpAddr Ip, long Stamp, string? Key)> Asked = [];
        private long _sequence, _index;

        public void OnPackets(PacketBatch batch)
        {
            _sequence = batch.Sequence;
            _index = 0;
            long stamp = AssetNaming.Stamp(_sequence, 0);
            for (int i = 0; i < batch.Count; i++)
            {
                ref readonly var d = ref batch.Decoded[i];
                Ask(d.SrcMac, d.SrcIp, stamp);
                Ask(d.DstMac, d.DstIp, stamp);
                if (d.Network == NetworkLayer.Arp) Ask(d.ArpSenderMac, d.ArpSenderIp, stamp);
            }
        }

        public void OnEvent(in EventEntry entry, EventBuffer buffer, PacketBatch batch)
        {
            long stamp = AssetNaming.Stamp(_sequence, ++_index);
            Ask(entry.Flow.ClientMac, entry.Flow.ClientIp, stamp);
            Ask(entry.Flow.ServerMac, entry.Flow.ServerIp, stamp);
        }

        private void Ask(MacAddress mac, IpAddr ip, long stamp) => Asked.Add((mac, ip, stamp, inventory.AssetKeyOf(mac, ip)));

        public void OnComplete(ReplayStats stats) { }
    }

    private static Probe Run(IReadOnlyList<string> files, AssetInventory inventory, int batchPackets)
    {
        var probe = new Probe(inventory);
        var engine = new ReplayEngine(new ReplayOptions { Files = files, Workers = 2, BatchPackets = batchPackets }, [inventory, probe]);
        engine.RunAsync().GetAwaiter().GetResult();
        Assert.Equal(0, engine.InternalErrors);
        return probe;
    }

    private static void AssertSameKeys(Probe probe, AssetNaming naming)
    {
        Assert.NotEmpty(probe.Asked);
        foreach (var (mac, ip, stamp, key) in probe.Asked) Assert.Equal(key, naming.Name(mac, ip, stamp));
    }

    private static readonly byte[] Host = SyntheticCapture.Mac("00:1d:9c:00:00:05");
    private static readonly byte[] Router = SyntheticCapture.Mac("08:61:95:00:00:01");

    /// <summary>A MAC that becomes a router part way (its remote hosts then get ip: keys), then announces one of them in ARP.</summary>
    private static SyntheticCapture RouterCapture()
    {
        var cap = new SyntheticCapture().Arp(Router, "10.0.0.1", "10.0.0.5");
        ushort port = 40000;
        string[] remotes = ["172.16.1.10", "172.16.1.11", "172.16.1.12", "172.16.1.13", "172.16.1.14"];
        foreach (var r in remotes) cap.Handshake(Host, "10.0.0.5", port++, Router, r, 502);
        cap.Arp(Router, "172.16.1.12", "10.0.0.5");
        foreach (var r in remotes) cap.Handshake(Host, "10.0.0.5", port++, Router, r, 502);
        return cap;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(64)]
    public void KeysAtEachPoint_AreTheInventorysOwn_AsARouterAppearsAndAnnouncesAnAddress(int batchPackets)
    {
        using var dir = new TempDir();
        string path = RouterCapture().Write(dir.File("router.pcap"));
        var inventory = new AssetInventory();
        var probe = Run([path], inventory, batchPackets);
        AssertSameKeys(probe, inventory.Naming);
        // With a batch a packet, the capture shows all three answers: a remote host by the router's MAC before it is
        // known as one, then remote hosts by IP, and the announced address by the router's MAC again (with larger
        // batches the inventory has seen more of the batch's packets at its first point: fewer answers, the same rule).
        var r12 = IpAddr.Parse("172.16.1.12");
        var r14 = IpAddr.Parse("172.16.1.14");
        var routerMac = new MacAddress(0x086195000001UL);
        if (batchPackets == 1)
        {
            Assert.Contains(probe.Asked, a => a.Mac == routerMac && a.Ip == r12 && a.Key == "mac:08:61:95:00:00:01");
            Assert.Contains(probe.Asked, a => a.Mac == routerMac && a.Ip == r14 && a.Key == "ip:172.16.1.14");
            Assert.Contains(probe.Asked, a => a.Mac == routerMac && a.Ip == r12 && a.Key == "ip:172.16.1.12");
        }
        long last = probe.Asked[^1].Stamp;
        Assert.True(inventory.Naming.Reached(last));
        Assert.Equal("mac:08:61:95:00:00:01", inventory.Naming.Name(routerMac, r12, last));
    }

    [Fact]
    public void KeysAtEachPoint_AreTheInventorysOwn_OnRealCaptures_AndWithAStoreSeed()
    {
        string[] files =
        [
            TestPaths.Capture("modbus_pymodbus.pcap"), TestPaths.Capture("mqtt_mosquitto.pcap"), TestPaths.Capture("coap_libcoap.pcap"),
            Path.Combine(TestPaths.CapturesDir, "attacks", "plant_normal.pcap"), Path.Combine(TestPaths.CapturesDir, "attacks", "port_scan.pcap"),
        ];
        var inventory = new AssetInventory();
        AssertSameKeys(Run(files, inventory, 32), inventory.Naming);

        // A second run seeded from a store that already knows the router: its facts hold from the first point on.
        using var dir = new TempDir();
        string path = RouterCapture().Write(dir.File("router.pcap"));
        string db = dir.File("s.db");
        using (var store = InventoryStore.Open(db, readOnly: false))
        {
            var first = new AssetInventory(null, store);
            Run([path], first, 16);
            first.OnComplete(new ReplayStats());
        }
        using (var store = InventoryStore.Open(db, readOnly: false))
        {
            var seeded = new AssetInventory(null, store);
            var probe = Run([path], seeded, 16);
            AssertSameKeys(probe, seeded.Naming);
            Assert.Contains(probe.Asked, a => a.Ip == IpAddr.Parse("172.16.1.10") && a.Key == "ip:172.16.1.10" && a.Stamp == AssetNaming.Stamp(0, 0));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public async Task Alerts_CarryTheInventorysAssetKeys_InTheStoreToo(int workers)
    {
        string[] files =
        [
            Path.Combine(TestPaths.CapturesDir, "attacks", "port_scan.pcap"), Path.Combine(TestPaths.CapturesDir, "attacks", "plant_attack.pcap"),
            Path.Combine(TestPaths.CapturesDir, "attacks", "mqtt_policy.pcap"), Path.Combine(TestPaths.CapturesDir, "attacks", "coap_amplification.pcap"),
        ];
        using var dir = new TempDir();
        string db = dir.File("s.db");
        List<OtSensor.Detection.Alert> raised;
        using (var inventoryStore = InventoryStore.Open(db, readOnly: false))
        using (var alertStore = OtSensor.Detection.AlertStore.Open(db))
        {
            var inventory = new AssetInventory(null, inventoryStore);
            var detection = new OtSensor.Detection.DetectionEngine(null, alertStore, OtSensor.Detection.BaselineMode.Off) { Naming = inventory.Naming };
            Assert.True(detection.RunsApart);
            var engine = new ReplayEngine(new ReplayOptions { Files = files, Workers = workers, BatchPackets = 64 }, [inventory, detection]);
            await engine.RunAsync();
            Assert.Equal(0, engine.InternalErrors);
            raised = [.. detection.Raised];
        }
        Assert.True(raised.Count >= 4, $"{raised.Count} alerts");
        // No routers in these captures: an endpoint with a MAC is its MAC's asset, one without is its IP's.
        foreach (var a in raised)
        {
            Assert.Equal(a.SrcMac is not null ? "mac:" + a.SrcMac : a.SrcIp is null ? null : "ip:" + a.SrcIp, a.SrcAsset);
            Assert.Equal(a.DstMac is not null ? "mac:" + a.DstMac : a.DstIp is null ? null : "ip:" + a.DstIp, a.DstAsset);
        }
        using var reopened = OtSensor.Detection.AlertStore.Open(db);
        var stored = reopened.ReadAfter(0, 100_000).ToDictionary(a => a.Id);
        Assert.Equal(raised.Count, stored.Count);
        foreach (var a in raised)
        {
            Assert.Equal(a.SrcAsset, stored[a.Id].SrcAsset);
            Assert.Equal(a.DstAsset, stored[a.Id].DstAsset);
        }
    }

    /// <summary>Reads the alerts at the completion, before the detection engine's own completion has named them.</summary>
    private sealed class EarlyReader(Func<OtSensor.Detection.DetectionEngine> detection) : IEventConsumer
    {
        public List<(string? Src, string? Dst, string? SrcMac, string? DstMac)> Seen { get; } = [];

        public void OnPackets(PacketBatch batch) { }

        public void OnEvent(in EventEntry entry, EventBuffer buffer, PacketBatch batch) { }

        public void OnComplete(ReplayStats stats)
        {
            var d = detection();
            d.NameAssetsAfterAnalysis();
            foreach (var a in d.Raised) Seen.Add((a.SrcAsset, a.DstAsset, a.SrcMac, a.DstMac));
        }
    }

    /// <summary>
    /// The summary serializes the alerts while the detection engine completes: asking for the names once the analysis
    /// is over gives every alert its keys, whichever thread asks first (the native build's summary once showed nulls).
    /// </summary>
    [Fact]
    public async Task AlertsReadAtTheCompletion_HaveTheirAssetNames_AndSoDoesThePreparedSummary()
    {
        string[] files = [Path.Combine(TestPaths.CapturesDir, "attacks", "plant_attack.pcap"), Path.Combine(TestPaths.CapturesDir, "attacks", "mqtt_policy.pcap")];
        for (int round = 0; round < 5; round++)
        {
            var inventory = new AssetInventory();
            var detection = new OtSensor.Detection.DetectionEngine(null, null, OtSensor.Detection.BaselineMode.Off) { Naming = inventory.Naming };
            var reader = new EarlyReader(() => detection);
            var report = new OtSensor.Output.ReplayReport { PrepareJson = true, Detection = detection, Inventory = inventory };
            var engine = new ReplayEngine(new ReplayOptions { Files = files }, [report, inventory, reader, detection]);
            var stats = await engine.RunAsync();
            Assert.NotEmpty(reader.Seen);
            foreach (var (src, dst, srcMac, dstMac) in reader.Seen)
            {
                Assert.Equal(srcMac is null ? src : "mac:" + srcMac, src);
                Assert.Equal(dstMac is null ? dst : "mac:" + dstMac, dst);
                Assert.True(srcMac is null || src is not null);
            }
            using var ms = new MemoryStream();
            report.WriteJson(ms, stats, includeTiming: false);
            using var doc = System.Text.Json.JsonDocument.Parse(ms.ToArray());
            foreach (var a in doc.RootElement.GetProperty("alerts").EnumerateArray())
            {
                if (a.GetProperty("src_mac").ValueKind == System.Text.Json.JsonValueKind.String)
                    Assert.Equal("mac:" + a.GetProperty("src_mac").GetString(), a.GetProperty("src_asset").GetString());
            }
        }
    }

    [Fact]
    public async Task WaitFor_ReturnsWhenReached_AndGivesUpAfterItsTimeout()
    {
        var naming = new AssetNaming();
        Assert.True(naming.WaitFor(AssetNaming.Before, TimeSpan.Zero));
        Assert.False(naming.WaitFor(AssetNaming.Stamp(3, 1), TimeSpan.FromMilliseconds(50)));
        var publisher = Task.Run(async () =>
        {
            await Task.Delay(50);
            naming.Publish(AssetNaming.Stamp(3, 2));
        });
        Assert.True(naming.WaitFor(AssetNaming.Stamp(3, 1), TimeSpan.FromSeconds(30)));
        await publisher;
        // Stamps published only grow.
        naming.Publish(AssetNaming.Stamp(1, 0));
        Assert.True(naming.Reached(AssetNaming.Stamp(3, 2)));
    }

    /// <summary>An engine given the naming of an inventory that is not in the pipeline names its alerts anyway (the MAC keys) instead of hanging.</summary>
    [Fact]
    public async Task NamingOfAnInventoryOutsideThePipeline_DoesNotHang()
    {
        using var dir = new TempDir();
        string db = dir.File("s.db");
        var previous = OtSensor.Detection.DetectionEngine.NamingTimeout;
        OtSensor.Detection.DetectionEngine.NamingTimeout = TimeSpan.FromMilliseconds(100);
        try
        {
            using var alertStore = OtSensor.Detection.AlertStore.Open(db);
            var outside = new AssetInventory();
            var detection = new OtSensor.Detection.DetectionEngine(new OtSensor.Detection.DetectionOptions(), alertStore, OtSensor.Detection.BaselineMode.Off) { Naming = outside.Naming };
            var engine = new ReplayEngine(new ReplayOptions { Files = [Path.Combine(TestPaths.CapturesDir, "attacks", "port_scan.pcap")] }, [detection]);
            await engine.RunAsync();
            Assert.NotEmpty(detection.Raised);
            Assert.All(detection.Raised, a => Assert.Equal(a.SrcMac is null ? (a.SrcIp is null ? null : "ip:" + a.SrcIp) : "mac:" + a.SrcMac, a.SrcAsset));
        }
        finally
        {
            OtSensor.Detection.DetectionEngine.NamingTimeout = previous;
        }
    }
}
