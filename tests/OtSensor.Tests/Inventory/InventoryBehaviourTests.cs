using OtSensor.Core;
using OtSensor.Inventory;

namespace OtSensor.Tests.Inventory;

public class InventoryBehaviourTests
{
    private static readonly byte[] Host = SyntheticCapture.Mac("00:1d:9c:00:00:05");
    private static readonly byte[] Router = SyntheticCapture.Mac("08:61:95:00:00:01");
    private static readonly byte[] Plc = SyntheticCapture.Mac("08:61:95:00:00:09");

    private static InventorySnapshot Replay(SyntheticCapture cap, InventoryOptions? options = null)
    {
        using var dir = new TempDir();
        var path = cap.Write(dir.File("c.pcap"));
        return InventoryHarness.Run([path], options: options).Snapshot();
    }

    [Fact]
    public void Router_MacCarryingManyIps_BecomesRouterAsset_AndRemoteHostsStaySeparate()
    {
        var cap = new SyntheticCapture().Arp(Router, "10.0.0.1", "10.0.0.5");
        string[] remotes = ["172.16.1.10", "172.16.1.11", "172.16.1.12", "172.16.1.13"];
        ushort port = 40000;
        foreach (var r in remotes) cap.Handshake(Host, "10.0.0.5", port++, Router, r, 502);
        var snap = Replay(cap);

        var router = Assert.Single(snap.Assets, a => a.Roles.Contains("router"));
        Assert.Equal("mac:08:61:95:00:00:01", router.Key);
        Assert.Equal(["10.0.0.1"], router.Ips);
        Assert.NotNull(router.RouterReason);
        foreach (var r in remotes)
        {
            var remote = Assert.Single(snap.Assets, a => a.Key == "ip:" + r);
            Assert.Null(remote.Mac);
            Assert.Equal([r], remote.Ips);
            Assert.Contains(remote.Services, s => s.Transport == "tcp" && s.Port == 502 && s.Source == "handshake");
        }
        var host = Assert.Single(snap.Assets, a => a.Key == "mac:00:1d:9c:00:00:05");
        Assert.Equal(["10.0.0.5"], host.Ips);
        Assert.Equal(6, snap.Assets.Count);
        Assert.Equal(4, snap.Links.Count(l => l.ClientId == host.Id && l.Port == 502 && l.Protocol == "modbus"));
    }

    [Fact]
    public void Router_TwoIpsInDifferentSubnets_IsARouter_ButTwoIpsInOneSubnetIsOneHost()
    {
        var cap = new SyntheticCapture()
            .Handshake(Host, "10.0.0.5", 40000, Router, "172.16.1.10", 502)
            .Handshake(Host, "10.0.0.5", 40001, Router, "192.168.7.10", 502)
            .Handshake(Host, "10.0.0.5", 40002, Plc, "10.0.0.20", 502)
            .Handshake(Host, "10.0.0.5", 40003, Plc, "10.0.0.21", 502);
        var snap = Replay(cap);
        Assert.Contains(snap.Assets, a => a.Key == "mac:08:61:95:00:00:01" && a.Roles.Contains("router") && a.RouterReason!.Contains("subnets"));
        Assert.Contains(snap.Assets, a => a.Key == "ip:172.16.1.10");
        Assert.Contains(snap.Assets, a => a.Key == "ip:192.168.7.10");
        var plc = Assert.Single(snap.Assets, a => a.Key == "mac:08:61:95:00:00:09");
        Assert.Equal(["10.0.0.20", "10.0.0.21"], plc.Ips);
        Assert.DoesNotContain("router", plc.Roles);
    }

    [Fact]
    public void Router_ThresholdIsConfigurable()
    {
        var cap = new SyntheticCapture();
        ushort port = 40000;
        foreach (var r in new[] { "172.16.1.10", "172.16.1.11" }) cap.Handshake(Host, "10.0.0.5", port++, Router, r, 80);
        var snap = Replay(cap, new InventoryOptions { RouterMaxIps = 1 });
        Assert.Contains(snap.Assets, a => a.Roles.Contains("router"));
        Assert.Null(AssetInventory.RouterReason([IpAddr.Parse("10.1.1.1"), IpAddr.Parse("10.1.1.2")], new InventoryOptions()));
        Assert.Null(AssetInventory.RouterReason([IpAddr.Parse("10.1.1.1"), IpAddr.Parse("fe80::1"), IpAddr.Parse("2001:db8::1")], new InventoryOptions()));
    }

    [Fact]
    public void Arp_FillsMacToIp_WithItsFrame()
    {
        var snap = Replay(new SyntheticCapture().Arp(Plc, "10.0.0.20", "10.0.0.1"));
        var plc = Assert.Single(snap.Assets);
        Assert.Equal(["10.0.0.20"], plc.Ips);
        Assert.Equal("arp", plc.Sources["ip.10.0.0.20"].Source);
        Assert.Equal(1, plc.Sources["ip.10.0.0.20"].Frame);
        Assert.Equal("Rockwell Automation", plc.MacVendor);
    }

    [Fact]
    public void MqttAndCoap_RolesInferredFromServerPorts()
    {
        var cap = new SyntheticCapture()
            .Handshake(Host, "10.0.0.5", 40000, Plc, "10.0.0.20", 1883)
            .Udp(Host, "10.0.0.5", 50000, Plc, "10.0.0.20", 5683)
            .Udp(Plc, "10.0.0.20", 5683, Host, "10.0.0.5", 50000);
        var snap = Replay(cap);
        var broker = Assert.Single(snap.Assets, a => a.Key == "mac:08:61:95:00:00:09");
        var client = Assert.Single(snap.Assets, a => a.Key == "mac:00:1d:9c:00:00:05");
        Assert.Contains("mqtt_broker", broker.Roles);
        Assert.Contains("coap_server", broker.Roles);
        Assert.Contains("mqtt_client", client.Roles);
        Assert.Contains("coap_client", client.Roles);
        Assert.Contains(broker.Services, s => s.Transport == "tcp" && s.Port == 1883 && s.Proto == "mqtt");
        Assert.Contains(broker.Services, s => s.Transport == "udp" && s.Port == 5683 && s.Proto == "coap");
        Assert.Empty(client.Services);
    }

    [Fact]
    public void TcpService_NotClaimedWithoutACompletedHandshakeOrAnswer()
    {
        var cap = new SyntheticCapture().Tcp(Host, "10.0.0.5", 40000, Plc, "10.0.0.20", 502, 0x02);
        var snap = Replay(cap);
        Assert.All(snap.Assets, a => Assert.Empty(a.Services));
        Assert.Empty(snap.Links);
    }

    [Fact]
    public void Vlans_AndCounters_AreRecorded()
    {
        var tagged = Decoding.Frames.Cat([0x81, 0x00], Decoding.Frames.U16(42), [0x08, 0x00], Decoding.Frames.Ipv4(17, Decoding.Frames.Udp(1000, 2000, [1]), "10.0.0.5", "10.0.0.20"));
        var cap = new SyntheticCapture().Frame(Plc, Host, 0x8100, tagged[2..]);
        var snap = Replay(cap);
        var host = Assert.Single(snap.Assets, a => a.Key == "mac:00:1d:9c:00:00:05");
        Assert.Equal([42], host.Vlans);
        Assert.Equal(1, host.PacketsSent);
        Assert.Equal(0, host.PacketsReceived);
        Assert.True(host.BytesSent > 40);
    }

    [Fact]
    public void SllCapture_GivesOneAssetPerDevice()
    {
        var snap = InventoryHarness.Run([Differential.TestPaths.Capture("modbus_sll.pcap")]).Snapshot();
        Assert.Equal(snap.Assets.Count, snap.Assets.SelectMany(a => a.Ips).Distinct().Count() + snap.Assets.Count(a => a.Ips.Count == 0));
        Assert.Contains(snap.Assets, a => a.Roles.Contains("modbus_server"));
    }

    [Fact]
    public void RangeSet_MergesOverlappingAndAdjacentRanges_AndStaysBounded()
    {
        var r = new RangeSet();
        r.Add(10, 19);
        r.Add(20, 29);
        r.Add(5, 12);
        r.Add(100, 100);
        Assert.Equal([[5, 29], [100, 100]], r.Ranges);
        for (int i = 0; i < 1000; i++) r.Add(1000 + i * 3, 1000 + i * 3);
        Assert.True(r.Ranges.Count <= RangeSet.MaxRanges);
        Assert.Equal(5, r.Ranges[0][0]);
        Assert.Equal(1000 + 999 * 3, r.Ranges[^1][1]);
    }

    [Fact]
    public void ModbusRanges_ArePerUnitTableAndAccess()
    {
        var snap = InventoryHarness.Run([Differential.TestPaths.Capture("modbus_pymodbus.pcap")]).Snapshot();
        var link = Assert.Single(snap.Links);
        Assert.Contains(link.ModbusRanges, r => r.Table == "holding_registers" && r.Access == "read");
        Assert.Contains(link.ModbusRanges, r => r.Table == "coils" && r.Access == "write");
        Assert.All(link.ModbusRanges, r => Assert.True(r.Ranges.Zip(r.Ranges.Skip(1)).All(p => p.First[1] + 1 < p.Second[0])));
    }
}
