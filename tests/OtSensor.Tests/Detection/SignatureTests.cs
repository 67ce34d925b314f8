using System.Collections.Concurrent;
using OtSensor.Detection;
using OtSensor.Tests.Differential;
using Xunit;

namespace OtSensor.Tests.Detection;

public class SignatureTests
{
    private static readonly ConcurrentDictionary<string, Lazy<DetectionEngine>> s_runs = new();

    /// <summary>Each capture is replayed once for all the tests that read it (signatures and violations only).</summary>
    internal static DetectionEngine RunOnce(string path) => s_runs.GetOrAdd(path, p => new Lazy<DetectionEngine>(() => DetectionHarness.Run(p))).Value;

    private static string Resolve(string capture) => capture.StartsWith("attacks/", StringComparison.Ordinal)
        ? DetectionHarness.Attack(capture["attacks/".Length..])
        : TestPaths.Capture(capture);

    public static TheoryData<string, string> Cases => new()
    {
        { "modbus_crafted.pcap", "modbus_invalid_protocol_id" },
        { "modbus_crafted.pcap", "modbus_length_mismatch" },
        { "modbus_crafted.pcap", "modbus_oversize_pdu" },
        { "modbus_crafted.pcap", "modbus_invalid_function_code" },
        { "modbus_crafted.pcap", "modbus_illegal_quantity" },
        { "modbus_crafted.pcap", "modbus_invalid_coil_value" },
        { "modbus_crafted.pcap", "modbus_non_modbus_on_port" },
        { "modbus_crafted.pcap", "modbus_unsolicited_response" },
        { "modbus_crafted.pcap", "modbus_response_mismatch" },
        { "modbus_crafted.pcap", "modbus_diag_force_listen_only" },
        { "modbus_crafted.pcap", "modbus_diag_restart_comm" },
        { "modbus_crafted.pcap", "modbus_diag_clear_counters" },
        { "modbus_crafted.pcap", "modbus_broadcast_write" },
        { "modbus_pymodbus.pcap", "modbus_diagnostics_other" },
        { "attacks/modbus_program_download.pcap", "modbus_program_download" },
        { "attacks/modbus_fc_scan.pcap", "modbus_function_code_scan" },
        { "attacks/modbus_points_scan.pcap", "modbus_points_scan" },
        { "attacks/modbus_unit_id_scan.pcap", "modbus_unit_id_scan" },
        { "attacks/modbus_exception_burst.pcap", "modbus_exception_burst" },
        { "attacks/modbus_request_flood.pcap", "modbus_request_flood" },
        { "mqtt_crafted.pcap", "mqtt_malformed_remaining_length" },
        { "mqtt_crafted.pcap", "mqtt_reserved_packet_type" },
        { "mqtt_crafted.pcap", "mqtt_invalid_flags" },
        { "mqtt_crafted.pcap", "mqtt_invalid_qos" },
        { "mqtt_crafted.pcap", "mqtt_publish_before_connect" },
        { "mqtt_crafted.pcap", "mqtt_double_connect" },
        { "mqtt_crafted.pcap", "mqtt_malformed_packet" },
        { "attacks/mqtt_policy.pcap", "mqtt_anonymous_connect" },
        { "mqtt_mosquitto_auth.pcap", "mqtt_cleartext_credentials" },
        { "attacks/mqtt_bruteforce.pcap", "mqtt_auth_bruteforce" },
        { "attacks/mqtt_policy.pcap", "mqtt_wildcard_subscribe" },
        { "attacks/mqtt_policy.pcap", "mqtt_sys_topic_access" },
        { "attacks/mqtt_policy.pcap", "mqtt_oversize_payload" },
        { "coap_crafted.pcap", "coap_malformed" },
        { "coap_crafted.pcap", "coap_unsolicited_response" },
        { "coap_libcoap.pcap", "coap_resource_discovery" },
        { "coap_libcoap.pcap", "coap_unauthenticated_state_change" },
        { "attacks/coap_amplification.pcap", "coap_amplification" },
        { "attacks/coap_reflection.pcap", "coap_amplification" },
        { "attacks/port_scan.pcap", "ics_port_scan" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Capture_RaisesAlertType(string capture, string type)
    {
        var e = RunOnce(Resolve(capture));
        var alerts = e.Raised.Where(a => a.Type == type).ToList();
        Assert.NotEmpty(alerts);
        var t = AlertCatalog.Get(type);
        foreach (var a in alerts)
        {
            Assert.Equal(t.SignatureId, a.SignatureId);
            Assert.Equal(t.Category, a.Category);
            Assert.Equal(t.Severity, a.Severity);
            Assert.True(a.Count >= 1);
            Assert.True(a.FirstSeenNs > 0 && a.LastSeenNs >= a.FirstSeenNs);
            Assert.False(string.IsNullOrWhiteSpace(a.Message));
            Assert.NotEmpty(a.TracePackets);
        }
    }

    [Fact]
    public void EveryCatalogType_IsCoveredByACaptureTest()
    {
        var covered = Cases.Select(c => (string)c[1]).Concat(BaselineTests.AttackTypes).ToHashSet(StringComparer.Ordinal);
        var missing = AlertCatalog.All.Select(t => t.Id).Where(id => !covered.Contains(id)).ToList();
        Assert.Empty(missing);
    }

    public static TheoryData<string, string[]> ExactCases => new()
    {
        { "modbus_points_scan.pcap", ["modbus_points_scan"] },
        { "modbus_unit_id_scan.pcap", ["modbus_unit_id_scan"] },
        { "modbus_exception_burst.pcap", ["modbus_exception_burst"] },
        { "modbus_request_flood.pcap", ["modbus_request_flood"] },
        { "modbus_program_download.pcap", ["modbus_program_download"] },
        { "mqtt_bruteforce.pcap", ["mqtt_auth_bruteforce", "mqtt_cleartext_credentials"] },
        { "mqtt_policy.pcap", ["mqtt_anonymous_connect", "mqtt_oversize_payload", "mqtt_sys_topic_access", "mqtt_wildcard_subscribe"] },
        { "coap_amplification.pcap", ["coap_amplification", "coap_resource_discovery"] },
        { "coap_reflection.pcap", ["coap_amplification", "coap_unsolicited_response"] },
        { "port_scan.pcap", ["ics_port_scan"] },
    };

    [Theory]
    [MemberData(nameof(ExactCases))]
    public void Attack_RaisesTheTypesThatDescribeIt_AndNothingElse(string capture, string[] types)
    {
        var e = RunOnce(DetectionHarness.Attack(capture));
        Assert.Equal(types.Order(StringComparer.Ordinal), DetectionHarness.Types(e));
    }

    [Theory]
    [InlineData("modbus_request_flood.pcap", "modbus_request_flood")]
    [InlineData("mqtt_bruteforce.pcap", "mqtt_auth_bruteforce")]
    [InlineData("mqtt_bruteforce.pcap", "mqtt_cleartext_credentials")]
    [InlineData("port_scan.pcap", "ics_port_scan")]
    [InlineData("modbus_points_scan.pcap", "modbus_points_scan")]
    public void Repeats_AreAggregatedIntoOneAlert(string capture, string type)
    {
        var e = RunOnce(DetectionHarness.Attack(capture));
        var a = Assert.Single(e.Raised, x => x.Type == type);
        Assert.True(a.Count > 1, $"count {a.Count}");
        Assert.True(a.LastSeenNs > a.FirstSeenNs);
    }

    [Fact]
    public void ModbusForceListenOnly_CarriesEndpointsEvidenceAndMitre()
    {
        var e = RunOnce(TestPaths.Capture("modbus_crafted.pcap"));
        var a = Assert.Single(e.Raised, x => x.Type == "modbus_diag_force_listen_only");
        Assert.Equal("10.20.0.34", a.SrcIp);
        Assert.Equal("192.168.50.34", a.DstIp);
        Assert.Equal(502, a.DstPort);
        Assert.Equal("02:00:0a:14:00:18", a.SrcMac);
        Assert.Equal("modbus", a.Proto);
        Assert.Equal("4", a.Evidence["sub_function"]);
        Assert.Equal("8", a.Evidence["function"]);
        Assert.Contains("T0814", a.Mitre);
    }

    [Fact]
    public void ProgramDownload_NamesTheUmasOperation()
    {
        var e = RunOnce(DetectionHarness.Attack("modbus_program_download.pcap"));
        var umas = Assert.Single(e.Raised, a => a.Type == "modbus_program_download" && a.SrcIp == "10.60.0.71");
        Assert.Equal("UMAS initialize download", umas.Evidence["operation"]);
        Assert.Equal(6, umas.Count); // 0x30, 3x 0x31, 0x32, 0x40
        var fc21 = Assert.Single(e.Raised, a => a.Type == "modbus_program_download" && a.SrcIp == "10.60.0.72");
        Assert.Equal("21", fc21.Evidence["function"]);
    }

    [Fact]
    public void PortScan_IsFromTheScanner_WithItsTargets()
    {
        var a = Assert.Single(RunOnce(DetectionHarness.Attack("port_scan.pcap")).Raised);
        Assert.Equal("10.60.0.99", a.SrcIp);
        Assert.Null(a.DstIp);
        Assert.Equal("6", a.Evidence["ics_targets"]);
        Assert.Equal(20, a.Count + 5); // the 6th new target raised it, the 14 after it were aggregated
    }

    [Fact]
    public void CoapAmplification_IsFromTheReflectorToTheVictim()
    {
        var a = Assert.Single(RunOnce(DetectionHarness.Attack("coap_amplification.pcap")).Raised, x => x.Type == "coap_amplification");
        Assert.Equal("10.70.0.9", a.SrcIp);
        Assert.Equal("10.70.0.5", a.DstIp);
    }

    [Fact]
    public void BenignPlantTraffic_RaisesOnlyTheCleartextCredentialsPolicy_WithoutBaseline()
    {
        var e = DetectionHarness.Run(DetectionHarness.Attack("plant_normal.pcap"));
        Assert.Equal(["mqtt_cleartext_credentials"], DetectionHarness.Types(e));
    }

    [Fact]
    public void DisabledType_IsNotRaised_AndSeverityOverrideApplies()
    {
        var o = DetectionOptions.Parse("""{ "rules": { "mqtt_cleartext_credentials": { "enabled": false }, "mqtt_auth_bruteforce": { "severity": 10, "threshold": 8 } } }""");
        var e = DetectionHarness.Run(DetectionHarness.Attack("mqtt_bruteforce.pcap"), o);
        var a = Assert.Single(e.Raised);
        Assert.Equal("mqtt_auth_bruteforce", a.Type);
        Assert.Equal(10, a.Severity);
        Assert.Equal(1, a.Count); // raised at the 8th refusal only
    }

    [Fact]
    public void Threshold_AboveTheAttack_RaisesNothing()
    {
        var o = DetectionOptions.Parse("""{ "rules": { "modbus_request_flood": { "threshold": 1000 } } }""");
        Assert.Empty(DetectionHarness.Run(DetectionHarness.Attack("modbus_request_flood.pcap"), o).Raised);
    }

    [Theory]
    [InlineData("""{ "rules": { "no_such_rule": { "enabled": false } } }""")]
    [InlineData("""{ "rules": { "new_asset": { "severity": 11 } } }""")]
    [InlineData("""{ "unknown_setting": 1 }""")]
    [InlineData("""{ "rules": """)]
    public void RulesConfig_Invalid_IsAFormatError(string json) => Assert.Throws<FormatException>(() => DetectionOptions.Parse(json));

    [Fact]
    public void Catalog_IdsAndSignatureIdsAreUnique_SeveritiesInRange()
    {
        Assert.Equal(AlertCatalog.All.Count, AlertCatalog.All.Select(t => t.Id).Distinct().Count());
        Assert.Equal(AlertCatalog.All.Count, AlertCatalog.All.Select(t => t.SignatureId).Distinct().Count());
        string[] categories = ["protocol-violation", "policy", "reconnaissance", "baseline-deviation", "process-deviation", "denial-of-service"];
        foreach (var t in AlertCatalog.All)
        {
            Assert.InRange(t.Severity, 0, 10);
            Assert.Contains(t.Category, categories);
            Assert.All(t.Mitre, m => Assert.Matches("^T08[0-9]{2}$", m));
        }
    }
}
