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

/// <summary>Edge cases of the field-by-field row writer against the reflection serialiser.</summary>
public class StoreRowWriterTests
{
    private static readonly System.Text.Json.JsonSerializerOptions s_state = new() { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower };

    [Fact]
    public void StateRows_MatchTheSerialiser_ForRoutersNullsAndHostileStrings()
    {
        var mac = new MacState { Mac = new Core.MacAddress(0x0861950000ffUL), IsRouter = true, RouterReason = "more than 3 IPv4 addresses", RouterFrame = 7 };
        mac.Ips.Add(Core.IpAddr.Parse("10.0.0.1"));
        mac.ArpIps.Add(Core.IpAddr.Parse("fe80::1"));
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(mac, s_state), InventoryStore.Serialize(mac));
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(new MacState(), s_state), InventoryStore.Serialize(new MacState()));

        var link = new LinkState { Protocol = null, Transport = "udp", Port = 5683, ClientIp = Core.IpAddr.Parse("10.0.0.2") };
        link.CountOperation("publish:<a>&\"b\"\u2028\\");
        link.CountSlot(3);
        link.ModbusRanges["1/coils/read"] = new RangeSet();
        link.ModbusRanges["1/coils/read"].Add(3, 9);
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(link, s_state), InventoryStore.Serialize(link));

        var ep = new EndpointState { Ip = Core.IpAddr.Parse("10.0.0.3"), Roles = AssetRoles.MqttBroker | AssetRoles.Router };
        ep.Facts["mqtt_client_id"] = new Fact { Value = "id\u0001\"x\"", Source = "mqtt CONNECT" };
        ep.Services.Add(new ServiceState { Port = 1883 });
        ep.MqttUsernames.Add("user<script>");
        ep.Vlans.Add(12);
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(ep, s_state), InventoryStore.Serialize(ep));
    }

    [Fact]
    public void LinkRow_MatchesTheSerialiser_WithFunctionsOperationsAndRanges()
    {
        var rows = new System.Text.Json.JsonSerializerOptions { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Default };
        var l = new LinkRecord { Id = 2, Client = "10.0.0.1", Server = "<x>", Transport = "tcp", Port = 502 };
        l.ModbusFunctions[3] = 5;
        l.ModbusFunctions[100] = 1;
        l.Operations["exception"] = 2;
        l.ModbusRanges.Add(new RangeRecord { Unit = 1, Table = "coils", Access = "read", Ranges = [[0, 15]] });
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(l, rows), InventoryStore.SerializeRow(l));
        var a = new AssetRecord { Key = "mac:x", Kind = "mac", Identity = new IdentityRecord() };
        a.Sources["ip.10.0.0.1"] = new FactRecord { Value = "10.0.0.1", Unit = null };
        a.Services.Add(new ServiceRecord { Transport = "udp", Port = 5683 });
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(a, rows), InventoryStore.SerializeRow(a));
    }
}

/// <summary>The raw state rows a flush hands to the writer (UTF-8, packed in chunks).</summary>
public class StateRowsTests
{
    [Fact]
    public void Rows_AreTheSerialisersText_WholeAndInKeyOrder_AcrossChunksAndForRowsLargerThanAChunk()
    {
        var rows = new StateRows();
        var expected = new List<(string Key, string Json)>();
        for (int i = 0; i < 3000; i++)
        {
            var ep = new EndpointState { Ip = Core.IpAddr.Parse($"10.{i / 250}.{i % 250}.1"), PacketsSent = i };
            if (i % 7 == 0) ep.MqttClientIds.Add(new string('x', i == 700 ? 150_000 : i));
            string key = InventoryStore.EndpointKey(ep.Mac, ep.Ip);
            StoreRowWriter.Add(rows, key, ep);
            expected.Add((key, InventoryStore.Serialize(ep)));
        }
        rows.SortByKey();
        expected.Sort((x, y) => string.CompareOrdinal(x.Key, y.Key));
        Assert.Equal(expected.Count, rows.Count);
        for (int i = 0; i < rows.Count; i++)
        {
            Assert.Equal(expected[i].Key, Encoding.UTF8.GetString(rows.Key(i)));
            Assert.Equal(expected[i].Json, Encoding.UTF8.GetString(rows.Data(i)));
        }
    }
}

/// <summary>The prepared statements the store's bulk writes run on.</summary>
public class SqlStatementTests
{
    [Fact]
    public void Statement_BindsNullEmptyUtf8AndIntegers_FailsWithTheSqliteError_AndStaysUsable()
    {
        using var db = new SqliteConnection("Data Source=:memory:");
        db.Open();
        using (var create = db.CreateCommand())
        {
            create.CommandText = "CREATE TABLE t(a TEXT, b TEXT, c INTEGER, d TEXT NOT NULL UNIQUE);";
            create.ExecuteNonQuery();
        }
        using (var st = new SqlStatement(db, "INSERT INTO t VALUES ($a, $b, $c, $d);"))
        {
            st.Text(1, null); st.Utf8(2, ""u8); st.Int(3, long.MaxValue); st.Utf8(4, "\u00e9\"x"u8);
            st.Run();
            st.Text(1, "z"); st.Utf8(2, "y"u8); st.Int(3, -1); st.Text(4, "\u00e9\"x");
            var ex = Assert.Throws<SqliteException>(st.Run);
            Assert.Equal(19, ex.SqliteErrorCode);
            Assert.Contains("UNIQUE", ex.Message, StringComparison.Ordinal);
            st.Text(4, "other");
            st.Run();
        }
        using var q = db.CreateCommand();
        q.CommandText = "SELECT typeof(a), b, typeof(b), c, d FROM t ORDER BY rowid;";
        using var r = q.ExecuteReader();
        Assert.True(r.Read());
        Assert.Equal(("null", "", "text", long.MaxValue, "\u00e9\"x"), (r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetString(4)));
        Assert.True(r.Read());
        Assert.Equal(("text", "y", -1L, "other"), (r.GetString(0), r.GetString(1), r.GetInt64(3), r.GetString(4)));
    }
}
