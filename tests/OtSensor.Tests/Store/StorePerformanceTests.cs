using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using OtSensor.Inventory;
using OtSensor.Store;
using OtSensor.Tests.Differential;
using OtSensor.Tests.Inventory;

namespace OtSensor.Tests.Store;

/// <summary>What the store does to stay cheap must not change what it stores.</summary>
public class StorePerformanceTests
{
    private static readonly JsonSerializerOptions s_reflectionState = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private static readonly JsonSerializerOptions s_reflectionRows = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, Encoder = JavaScriptEncoder.Default };

    private static string[] AllCaptures =>
    [
        .. new[]
        {
            "modbus_crafted.pcap", "modbus_pymodbus.pcap", "modbus_sll.pcap", "mqtt_crafted.pcap", "mqtt_mosquitto.pcap",
            "mqtt_mosquitto_auth.pcap", "coap_crafted.pcap", "coap_libcoap.pcap",
        }.Select(TestPaths.Capture),
    ];

    [Fact]
    public void StoreJson_IsTheReflectionSerialisersText_ForEveryStateAndRowType()
    {
        var inv = InventoryHarness.Run(AllCaptures);
        var snap = inv.Snapshot();
        Assert.NotEmpty(inv.Endpoints);
        Assert.NotEmpty(inv.Links);
        Assert.Contains(inv.Endpoints, e => e.Facts.Count > 0 && e.Services.Count > 0);
        Assert.Contains(inv.Links, l => l.ModbusRanges.Count > 0);
        foreach (var e in inv.Endpoints) Assert.Equal(JsonSerializer.Serialize(e, s_reflectionState), InventoryStore.Serialize(e));
        foreach (var m in inv.Macs) Assert.Equal(JsonSerializer.Serialize(m, s_reflectionState), InventoryStore.Serialize(m));
        foreach (var l in inv.Links) Assert.Equal(JsonSerializer.Serialize(l, s_reflectionState), InventoryStore.Serialize(l));
        foreach (var a in snap.Assets) Assert.Equal(JsonSerializer.Serialize(a, s_reflectionRows), InventoryStore.SerializeRow(a));
        foreach (var l in snap.Links) Assert.Equal(JsonSerializer.Serialize(l, s_reflectionRows), InventoryStore.SerializeRow(l));
    }

    [Fact]
    public void StoreJson_EscapesWireStringsLikeTheReflectionSerialiser()
    {
        var asset = new AssetRecord { Key = "ip:10.0.0.1", Kind = "ip", MqttClientIds = ["<script>&\"'\u00e9\u2028"], Identity = new IdentityRecord { VendorName = "A\\B\u0001" } };
        Assert.Equal(JsonSerializer.Serialize(asset, s_reflectionRows), InventoryStore.SerializeRow(asset));
    }

    [Fact]
    public void Load_ReadsBackTheStateThatWasWritten()
    {
        using var dir = new TempDir();
        string path = dir.File("seed.db");
        AssetInventory live;
        using (var s = InventoryStore.Open(path))
            live = InventoryHarness.Run(AllCaptures, s);
        using var reopened = InventoryStore.Open(path);
        var seed = reopened.Load();
        static List<string> Rows<T>(IEnumerable<T> items) => [.. items.Select(InventoryStore.Serialize).Order(StringComparer.Ordinal)];
        Assert.Equal(Rows(live.Endpoints), Rows(seed.Endpoints));
        Assert.Equal(Rows(live.Macs), Rows(seed.Macs));
        Assert.Equal(Rows(live.Links), Rows(seed.Links));
        Assert.Equal(InventoryFormats.AssetsJson(live.Snapshot().Assets), InventoryFormats.AssetsJson(reopened.ReadAssets()));
        Assert.Equal(InventoryFormats.LinksJson(live.Snapshot().Links), InventoryFormats.LinksJson(reopened.ReadLinks()));
    }

    [Fact]
    public void NewStore_Uses16KiBPages_SoStateRowsNeedNoOverflowPages()
    {
        using var dir = new TempDir();
        string path = dir.File("pages.db");
        using (var s = InventoryStore.Open(path))
            InventoryHarness.Run(AllCaptures, s);
        using var db = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "PRAGMA page_size;";
        Assert.Equal(16384L, (long)cmd.ExecuteScalar()!);
    }

    [Fact]
    public void ExistingStore_KeepsItsPageSize_AndStillOpens()
    {
        using var dir = new TempDir();
        string path = dir.File("old.db");
        using (var db = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; CREATE TABLE t(x);";
            cmd.ExecuteNonQuery();
        }
        using (var s = InventoryStore.Open(path))
            InventoryHarness.Run([TestPaths.Capture("modbus_crafted.pcap")], s);
        using var check = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        check.Open();
        using var q = check.CreateCommand();
        q.CommandText = "PRAGMA page_size;";
        Assert.Equal(4096L, (long)q.ExecuteScalar()!);
        using var s2 = InventoryStore.Open(path, readOnly: true);
        Assert.NotEmpty(s2.ReadAssets());
    }

    [Theory]
    [InlineData(new byte[] { 0x41, 0x42, 0x43 })]
    [InlineData(new byte[] { 0x41, 0x01, 0x0A, 0x7F })]
    [InlineData(new byte[] { 0x80, 0x9F, 0xA0, 0xE9, 0xFF })]
    [InlineData(new byte[] { })]
    public void SameCleanLatin1_AgreesWithCleaningTheDecodedText(byte[] bytes)
    {
        string cleaned = AssetInventory.Clean(Encoding.Latin1.GetString(bytes));
        Assert.True(AssetInventory.SameCleanLatin1(cleaned, bytes));
        Assert.False(AssetInventory.SameCleanLatin1(cleaned + "x", bytes));
        if (bytes.Length > 0)
        {
            var other = (byte[])bytes.Clone();
            other[^1] = (byte)(other[^1] == 0x5A ? 0x59 : 0x5A);
            Assert.False(AssetInventory.SameCleanLatin1(cleaned, other));
        }
    }
}
