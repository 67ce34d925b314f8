using OtSensor.Inventory;
using OtSensor.Tests.Differential;

namespace OtSensor.Tests.Inventory;

/// <summary>
/// Inventory of each sample capture compared with tests/OtSensor.Tests/Golden/inventory/NAME.json.
/// Set OTSENSOR_UPDATE_GOLDEN=1 to rewrite them after a reviewed change.
/// </summary>
public class InventoryGoldenTests
{
    public static TheoryData<string> Captures() => ["modbus_pymodbus.pcap", "modbus_crafted.pcap", "modbus_sll.pcap", "modbus_sll2.pcap", "mqtt_mosquitto.pcap", "mqtt_mosquitto_auth.pcap", "coap_libcoap.pcap"];

    internal static void AssertGolden(string name, string actual)
    {
        actual = actual.ReplaceLineEndings("\n") + "\n";
        string dir = Path.Combine(TestPaths.RepositoryRoot, "tests", "OtSensor.Tests", "Golden", "inventory");
        string golden = Path.Combine(dir, name);
        if (Environment.GetEnvironmentVariable("OTSENSOR_UPDATE_GOLDEN") == "1")
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(golden, actual);
        }
        Assert.True(File.Exists(golden), $"no golden file {golden}: run the tests once with OTSENSOR_UPDATE_GOLDEN=1 and review it");
        Assert.Equal(File.ReadAllText(golden).ReplaceLineEndings("\n"), actual);
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Inventory_MatchesGolden(string capture)
    {
        var inv = InventoryHarness.Run([TestPaths.Capture(capture)]);
        var snap = inv.Snapshot();
        string json = "{\"assets\": " + InventoryFormats.AssetsJson(snap.Assets) + ",\n\"links\": " + InventoryFormats.LinksJson(snap.Links) + "}";
        AssertGolden(capture + ".json", json);
    }

    [Fact]
    public void Pymodbus_LoopbackServerHasUnits_1_2_17_AndItsIdentity()
    {
        var snap = InventoryHarness.Run([TestPaths.Capture("modbus_pymodbus.pcap")]).Snapshot();
        var server = Assert.Single(snap.Assets, a => a.Roles.Contains("modbus_server"));
        Assert.Equal("ip:127.0.0.1", server.Key);
        Assert.Null(server.Mac);
        Assert.Equal([1, 2, 17], server.ModbusUnits.Where(u => u is 1 or 2 or 17));
        Assert.False(server.Identity.IsEmpty);
        Assert.True(server.Sources["identity.vendor_name"].Frame > 0);
        Assert.Equal("modbus_fc43", server.Sources["identity.vendor_name"].Source);
        Assert.Contains(server.Services, s => s.Transport == "tcp" && s.Proto == "modbus");
    }

    [Fact]
    public void Inventory_IsIdenticalWhateverTheNumberOfWorkers()
    {
        var one = InventoryHarness.Run([TestPaths.Capture("modbus_crafted.pcap")], workers: 1).Snapshot();
        var three = InventoryHarness.Run([TestPaths.Capture("modbus_crafted.pcap")], workers: 3).Snapshot();
        Assert.Equal(InventoryFormats.AssetsJson(one.Assets), InventoryFormats.AssetsJson(three.Assets));
        Assert.Equal(InventoryFormats.LinksJson(one.Links), InventoryFormats.LinksJson(three.Links));
    }
}
