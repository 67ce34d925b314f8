using Microsoft.Data.Sqlite;
using OtSensor.Inventory;
using OtSensor.Store;
using OtSensor.Tests.Inventory;

namespace OtSensor.Tests.Store;

/// <summary>Inventory changes detected where the inventory is committed to the store, against what the store held.</summary>
public class InventoryChangeStoreTests
{
    private static (long Recorded, List<InventoryChange> All) ReplayInto(string store, string capture)
    {
        long recorded;
        using (var s = InventoryStore.Open(store))
        {
            InventoryHarness.Run([capture], s);
            recorded = s.ChangesRecorded;
        }
        using var changes = InventoryChangeStore.Open(store, readOnly: true);
        return (recorded, changes.Query());
    }

    [Fact]
    public void FirstReplay_EveryAssetIsNew_WithItsIdentity()
    {
        using var dir = new TempDir();
        var cap = IdentityCapture.Write(dir.File("v1.pcap"), "Schneider Electric", "BMX P34 2020", "V2.1", modelName: "Modicon M340");
        var (recorded, all) = ReplayInto(dir.File("s.db"), cap);
        Assert.Equal(2, recorded);
        Assert.All(all, c => Assert.Equal("asset_new", c.Type));
        Assert.Equal([1L, 2L], all.Select(c => c.Id));
        var plc = Assert.Single(all, c => c.Ip == IdentityCapture.PlcIp);
        Assert.Equal(5401, plc.SignatureId);
        Assert.Equal("Schneider Electric", plc.Vendor);
        Assert.Equal("Modicon M340", plc.Model);
        Assert.Equal("00:80:f4:01:02:03", plc.Mac);
        Assert.Equal("mac:00:80:f4:01:02:03", plc.AssetKey);
        Assert.Equal(1_700_000_000_000_000_000, plc.TimeNs); // first seen: the SYN
    }

    [Fact]
    public void ReReplayOfTheSameCapture_AddsNoChange()
    {
        using var dir = new TempDir();
        var cap = IdentityCapture.Write(dir.File("v1.pcap"), "Schneider Electric", "BMX P34 2020", "V2.1");
        var first = ReplayInto(dir.File("s.db"), cap);
        var second = ReplayInto(dir.File("s.db"), cap);
        var third = ReplayInto(dir.File("s.db"), cap);
        Assert.Equal(0, second.Recorded);
        Assert.Equal(0, third.Recorded);
        Assert.Equal(first.All.Select(c => c.Id), third.All.Select(c => c.Id));
    }

    [Fact]
    public void NewFirmwareRevision_InALaterCapture_IsAssetFirmwareChanged_WithOldAndNewValueAndTheProvingPacket()
    {
        using var dir = new TempDir();
        var v1 = IdentityCapture.Write(dir.File("v1.pcap"), "Schneider Electric", "BMX P34 2020", "V2.1");
        var v2 = IdentityCapture.Write(dir.File("v2.pcap"), "Schneider Electric", "BMX P34 2020", "V3.0");
        var first = ReplayInto(dir.File("s.db"), v1);
        var (recorded, all) = ReplayInto(dir.File("s.db"), v2);
        Assert.Equal(1, recorded);
        var c = all[^1];
        Assert.Equal(first.All.Count + 1, all.Count);
        Assert.Equal("asset_firmware_changed", c.Type);
        Assert.Equal(5404, c.SignatureId);
        Assert.Equal("identity.revision", c.Attribute);
        Assert.Equal("V2.1", c.OldValue);
        Assert.Equal("V3.0", c.NewValue);
        Assert.Equal(IdentityCapture.PlcIp, c.Ip);
        Assert.Equal("Schneider Electric", c.Vendor);
        Assert.Equal(IdentityCapture.ResponseFrame, c.Frame);
        Assert.Equal(IdentityCapture.ResponseTimeNs, c.TimeNs);
        Assert.Contains("V2.1", c.Message, StringComparison.Ordinal);

        // And back to the same capture again: nothing new (and going back to V2.1 would be a change again).
        Assert.Equal(0, ReplayInto(dir.File("s.db"), v2).Recorded);
        var back = ReplayInto(dir.File("s.db"), v1);
        Assert.Equal(1, back.Recorded);
        Assert.Equal(("V3.0", "V2.1"), (back.All[^1].OldValue, back.All[^1].NewValue));
    }

    [Fact]
    public void ChangedVendorAndLearnedModel_AreIdentityChangedAndIdentityNew()
    {
        using var dir = new TempDir();
        ReplayInto(dir.File("s.db"), IdentityCapture.Write(dir.File("v1.pcap"), "Schneider Electric", "BMX P34 2020", "V2.1"));
        var (recorded, all) = ReplayInto(dir.File("s.db"), IdentityCapture.Write(dir.File("v2.pcap"), "Evil Corp", "BMX P34 2020", "V2.1", modelName: "M340"));
        Assert.Equal(2, recorded);
        var changed = Assert.Single(all, c => c.Type == "asset_identity_changed");
        Assert.Equal(("identity.vendor_name", "Schneider Electric", "Evil Corp"), (changed.Attribute, changed.OldValue, changed.NewValue));
        var learned = Assert.Single(all, c => c.Type == "asset_identity_new");
        Assert.Equal(("identity.model_name", null, "M340"), (learned.Attribute, learned.OldValue, learned.NewValue));
    }

    [Fact]
    public void StoreOfSchemaVersion1_IsMigrated_AndItsAssetsAreNotNew()
    {
        using var dir = new TempDir();
        string db = dir.File("s.db");
        var cap = IdentityCapture.Write(dir.File("v1.pcap"), "Schneider Electric", "BMX P34 2020", "V2.1");
        ReplayInto(db, cap);
        // What a store written by the previous version looks like: no change tables, version 1.
        using (var c = new SqliteConnection($"Data Source={db};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "DROP TABLE inventory_changes; DROP TABLE inventory_change_cursors; UPDATE schema_version SET version = 1;";
            cmd.ExecuteNonQuery();
        }
        var v2 = IdentityCapture.Write(dir.File("v2.pcap"), "Schneider Electric", "BMX P34 2020", "V3.0");
        var (recorded, all) = ReplayInto(db, v2);
        Assert.Equal(1, recorded);
        Assert.Equal("asset_firmware_changed", Assert.Single(all).Type);
        using var s = InventoryStore.Open(db, readOnly: true);
        Assert.Equal(2, s.SchemaVersion);
    }

    [Fact]
    public void FailedWrite_CommitsNeitherTheSnapshotNorItsChanges_AndTheNextWriteRecordsThemOnce()
    {
        using var dir = new TempDir();
        string db = dir.File("s.db");
        var cap = IdentityCapture.Write(dir.File("v1.pcap"), "Schneider Electric", "BMX P34 2020", "V2.1");
        var inventory = InventoryHarness.Run([cap]);
        using var s = InventoryStore.Open(db, busyTimeoutMs: 100);
        // Another connection holds the write lock: the write fails as a whole (busy), like a crash before the commit.
        using (var blocker = new SqliteConnection($"Data Source={db};Pooling=False"))
        {
            blocker.Open();
            using var tx = blocker.BeginTransaction(deferred: false);
            Assert.Throws<StoreException>(() => s.Write(new StoreBatch { Snapshot = inventory.Snapshot() }));
            Assert.Equal(0, s.ChangesRecorded);
        }
        using (var c = new SqliteConnection($"Data Source={db};Pooling=False"))
        {
            c.Open();
            using var cmd = c.CreateCommand();
            cmd.CommandText = "SELECT (SELECT count(*) FROM inventory_changes) + (SELECT count(*) FROM assets);";
            Assert.Equal(0L, cmd.ExecuteScalar());
        }
        s.Write(new StoreBatch { Snapshot = inventory.Snapshot() });
        s.Write(new StoreBatch { Snapshot = inventory.Snapshot() });
        Assert.Equal(2, s.ChangesRecorded);
        using var changes = InventoryChangeStore.Open(db, readOnly: true);
        Assert.Equal(2, changes.Query().Count);
        Assert.Equal(2, s.ReadAssets().Count);
    }

    [Fact]
    public void Cursors_MoveForwardOnly_AndAreKeptPerDestination()
    {
        using var dir = new TempDir();
        ReplayInto(dir.File("s.db"), IdentityCapture.Write(dir.File("v1.pcap"), "V", "P", "1"));
        using var o = InventoryChangeStore.Open(dir.File("s.db"));
        Assert.Equal(0, o.GetCursor("a"));
        o.SetCursor("a", 2);
        o.SetCursor("a", 1);
        Assert.Equal(2, o.GetCursor("a"));
        Assert.Equal(0, o.GetCursor("b"));
        Assert.Equal([2L], o.ReadAfter(1, 10).Select(c => c.Id));
        Assert.Empty(o.ReadAfter(2, 10));
    }
}
