using OtSensor.Inventory;

namespace OtSensor.Tests.Inventory;

/// <summary>The pure comparison of a snapshot with the committed asset rows.</summary>
public class InventoryChangeDetectorTests
{
    private static AssetRecord Asset(string mac, string ip, Action<AssetRecord>? with = null)
    {
        var a = new AssetRecord
        {
            Id = 1, Key = "mac:" + mac, Kind = "mac", Mac = mac, Ips = [ip],
            FirstSeen = "2023-11-14T22:13:20.000000Z", LastSeen = "2023-11-14T22:13:30.000000Z",
        };
        with?.Invoke(a);
        return a;
    }

    private static Dictionary<string, AssetFacts> State(params AssetRecord[] assets) => assets.ToDictionary(a => a.Key, AssetFacts.Of);

    private static List<InventoryChange> Detect(AssetRecord[] before, params AssetRecord[] now)
        => InventoryChangeDetector.Detect(now, State(before), out _);

    [Fact]
    public void SameSnapshot_GivesNoChange_AndTheNextStateIsTheSnapshot()
    {
        var a = Asset("00:11:22:33:44:55", "10.0.0.5", x => { x.Roles = ["modbus_server"]; x.Identity.Revision = "1.0"; x.MqttClientIds = ["c1"]; });
        Assert.Empty(InventoryChangeDetector.Detect([a], State(a), out var next));
        Assert.Equal(["mac:00:11:22:33:44:55"], next.Keys);
    }

    [Fact]
    public void UnknownKey_IsAssetNew_Only()
    {
        var a = Asset("00:11:22:33:44:55", "10.0.0.5", x => { x.Roles = ["modbus_server"]; x.Identity.VendorName = "ACME"; });
        var c = Assert.Single(Detect([], a));
        Assert.Equal(("asset_new", 5401, "asset", "10.0.0.5", "ACME"), (c.Type, c.SignatureId, c.Attribute, c.NewValue, c.Vendor));
        Assert.Equal("new", c.Action);
        Assert.Equal(1_700_000_000_000_000_000, c.TimeNs);
    }

    [Fact]
    public void RevisionChange_IsFirmwareChanged_OtherIdentityChange_IsIdentityChanged_FirstValue_IsIdentityNew()
    {
        var before = Asset("00:11:22:33:44:55", "10.0.0.5", x => { x.Identity.Revision = "1.0"; x.Identity.ProductName = "PLC"; });
        var after = Asset("00:11:22:33:44:55", "10.0.0.5", x =>
        {
            x.Identity.Revision = "1.1"; x.Identity.ProductName = "PLC-2"; x.Identity.VendorName = "ACME";
            x.Sources["identity.revision"] = new FactRecord { Value = "1.1", Frame = 42, Time = "2023-11-14T22:13:25.000000Z" };
        });
        var changes = Detect([before], after);
        Assert.Equal(["asset_identity_new", "asset_firmware_changed", "asset_identity_changed"], changes.Select(c => c.Type));
        var fw = changes[1];
        Assert.Equal(("identity.revision", "1.0", "1.1", 42L, 1_700_000_005_000_000_000L), (fw.Attribute, fw.OldValue, fw.NewValue, fw.Frame, fw.TimeNs));
        Assert.Equal("changed", fw.Action);
        Assert.Equal(("identity.product_name", "PLC", "PLC-2"), (changes[2].Attribute, changes[2].OldValue, changes[2].NewValue));
        Assert.Equal(("identity.vendor_name", null, "ACME"), (changes[0].Attribute, changes[0].OldValue, changes[0].NewValue));
    }

    [Fact]
    public void NewMqttClientIdUserRoleAndService_AreEachOneChange()
    {
        var before = Asset("00:11:22:33:44:55", "10.0.0.5", x =>
        {
            x.MqttClientIds = ["sensor-1"]; x.Roles = ["mqtt_client"];
            x.Services = [new ServiceRecord { Transport = "tcp", Port = 502, Proto = "modbus" }];
        });
        var after = Asset("00:11:22:33:44:55", "10.0.0.5", x =>
        {
            x.MqttClientIds = ["sensor-1", "sensor-2"]; x.MqttUsernames = ["admin"]; x.Roles = ["mqtt_client", "mqtt_publisher"];
            x.Services = [new ServiceRecord { Transport = "tcp", Port = 502, Proto = "modbus" }, new ServiceRecord { Transport = "tcp", Port = 1883, Proto = "mqtt", FirstSeen = "2023-11-14T22:13:21.000000Z" }];
        });
        var changes = Detect([before], after);
        Assert.Equal(
            [("asset_mqtt_identity_new", "mqtt_client_id", "sensor-2"), ("asset_mqtt_identity_new", "mqtt_username", "admin"),
             ("asset_role_new", "role", "mqtt_publisher"), ("asset_service_new", "service", "tcp/1883 (mqtt)")],
            changes.Select(c => (c.Type, c.Attribute, c.NewValue)));
        Assert.Equal("sensor-1", changes[0].OldValue);
        Assert.Equal("tcp/502", changes[3].OldValue);
        Assert.Equal(1_700_000_001_000_000_000, changes[3].TimeNs);
    }

    [Fact]
    public void IpKnownOnOneMac_ShowingUpOnAnother_IsIpMoved()
    {
        var old = Asset("00:11:22:33:44:55", "10.0.0.5");
        var newcomer = Asset("66:77:88:99:aa:bb", "10.0.0.5", x => x.Id = 2);
        var changes = Detect([old], old, newcomer);
        Assert.Equal(["asset_new", "asset_ip_moved"], changes.Select(c => c.Type));
        var m = changes[1];
        Assert.Equal(("ip", "10.0.0.5", "00:11:22:33:44:55", "66:77:88:99:aa:bb", "moved"), (m.Attribute, m.Ip, m.OldValue, m.NewValue, m.Action));
        Assert.Equal(5408, m.SignatureId);
    }

    [Fact]
    public void TwoNewMacsWithOneIp_InOneFlush_IsOneIpMoved_OnTheLaterOne()
    {
        var first = Asset("00:11:22:33:44:55", "10.0.0.5");
        var later = Asset("66:77:88:99:aa:bb", "10.0.0.5", x => { x.Id = 2; x.FirstSeen = "2023-11-14T22:13:29.000000Z"; });
        var moved = Assert.Single(Detect([], first, later), c => c.Type == "asset_ip_moved");
        Assert.Equal(("00:11:22:33:44:55", "66:77:88:99:aa:bb"), (moved.OldValue, moved.NewValue));
    }

    [Fact]
    public void RoutersAndIpKeyedAssets_NeverMoveIps()
    {
        var router = Asset("00:11:22:33:44:55", "10.0.0.5", x => x.Roles = ["router"]);
        var host = Asset("66:77:88:99:aa:bb", "10.0.0.5", x => x.Id = 2);
        Assert.DoesNotContain(Detect([router], router, host), c => c.Type == "asset_ip_moved");
        var remote = new AssetRecord { Id = 3, Key = "ip:10.0.0.5", Kind = "ip", Ips = ["10.0.0.5"] };
        Assert.DoesNotContain(Detect([host], host, remote), c => c.Type == "asset_ip_moved");
    }

    [Fact]
    public void Catalog_IdsAreUnique_AndOutsideTheAlertRange()
    {
        var all = InventoryChangeCatalog.All;
        Assert.Equal(all.Count, all.Select(t => t.Id).Distinct().Count());
        Assert.Equal(all.Count, all.Select(t => t.SignatureId).Distinct().Count());
        Assert.All(all, t => Assert.InRange(t.SignatureId, 5400, 5499));
        Assert.All(OtSensor.Detection.AlertCatalog.All, a => Assert.DoesNotContain(all, t => t.SignatureId == a.SignatureId || t.Id == a.Id));
        Assert.All(all, t => Assert.InRange(t.Severity, 0, 10));
    }

    [Theory]
    [InlineData("2023-11-14T22:13:23.613144Z")]
    [InlineData("2024-02-29T23:59:59.999999Z")]
    [InlineData("1970-01-01T00:00:00.000000Z")]
    [InlineData("1000-01-01T00:00:00.000001Z")]
    [InlineData("9999-12-31T23:59:59.999999Z")]
    [InlineData("2023-02-29T00:00:00.000000Z")]
    [InlineData("2023-13-01T00:00:00.000000Z")]
    [InlineData("2023-11-14T24:00:00.000000Z")]
    [InlineData("2023-11-14 22:13:23.613144Z")]
    [InlineData("2023-11-14T22:13:23.6131440")]
    [InlineData("2023-11-14T22:13:23.613+00:00")]
    [InlineData("2023-11-14T22:13:23Z")]
    [InlineData("")]
    [InlineData(null)]
    public void ParseTime_IsTheGeneralParsersTime_ForTheInventorysOwnFormAndAnyOther(string? text)
    {
        long expected = string.IsNullOrEmpty(text) || !DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
            System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var t)
            ? 0 : (t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
        Assert.Equal(expected, InventoryChangeDetector.ParseTime(text));
    }

    [Fact]
    public void ParseTime_ReadsBackWhatTheInventoryWrites()
    {
        foreach (long ns in new[] { 1_700_000_003_613_144_000L, 1_709_251_199_999_999_000L, 1_000L, 86_400_000_000_000L })
            Assert.Equal(ns, InventoryChangeDetector.ParseTime(InventoryMaterializer.Time(ns)));
    }
}
