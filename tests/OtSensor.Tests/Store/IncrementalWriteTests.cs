using OtSensor.Core;
using OtSensor.Inventory;
using OtSensor.Store;
using OtSensor.Tests.Differential;
using OtSensor.Tests.Inventory;

namespace OtSensor.Tests.Store;

public class IncrementalWriteTests
{
    private static string Crafted => TestPaths.Capture("modbus_crafted.pcap");

    [Fact]
    public void Write_SkipsAssetRowsThatDidNotChange_AndReadsBackTheSameView()
    {
        using var dir = new TempDir();
        using var s = InventoryStore.Open(dir.File("inc.db"));
        var inv = InventoryHarness.Run([Crafted]);
        var snap = inv.Snapshot();
        s.Write(new StoreBatch { Snapshot = snap });
        long first = s.AssetRowsWritten;
        Assert.Equal(snap.Assets.Count, first);
        s.Write(new StoreBatch { Snapshot = snap });
        Assert.Equal(first, s.AssetRowsWritten);
        Assert.Equal(InventoryFormats.AssetsJson(snap.Assets), InventoryFormats.AssetsJson(s.ReadAssets()));
        Assert.Equal(InventoryFormats.LinksJson(snap.Links), InventoryFormats.LinksJson(s.ReadLinks()));
    }

    [Fact]
    public void Write_RemovesAssetsAndLinksNoLongerInTheView()
    {
        using var dir = new TempDir();
        using var s = InventoryStore.Open(dir.File("shrink.db"));
        var snap = InventoryHarness.Run([Crafted]).Snapshot();
        s.Write(new StoreBatch { Snapshot = snap });
        var smaller = new InventorySnapshot { Assets = snap.Assets.Take(1).ToList(), Links = snap.Links.Take(1).ToList() };
        s.Write(new StoreBatch { Snapshot = smaller });
        Assert.Equal([snap.Assets[0].Key], s.ReadAssets().Select(a => a.Key));
        Assert.Single(s.ReadLinks());
    }

    [Fact]
    public void Snapshot_IsReusedUntilTheInventoryChanges()
    {
        var inv = InventoryHarness.Run([Crafted]);
        var a = inv.Snapshot();
        Assert.Same(a, inv.Snapshot());
        var flow = new OtSensor.Pipeline.FlowEndpoints { ClientIp = IpAddr.Parse("192.0.2.200"), ServerIp = IpAddr.Parse("192.0.2.201"), ServerPort = 502 };
        Assert.NotNull(inv.LinkOf(in flow, 1_700_000_000_000_000_000, 1));
        var b = inv.Snapshot();
        Assert.NotSame(a, b);
        Assert.Contains(b.Assets, x => x.Key == "ip:192.0.2.200");
    }

    [Theory]
    [InlineData(1_700_000_000_123_456_789L)]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(4_102_444_799_999_999_999L)]
    public void MaterializerTime_IsTheSameTextAsPacketTime(long ns)
        => Assert.Equal(PacketTime.ToRfc3339(ns), InventoryMaterializer.Time(ns));
}
