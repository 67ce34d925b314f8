using System.Diagnostics;
using System.Text.Json;
using OtSensor.Cli.Commands;
using OtSensor.Detection;
using OtSensor.Tests.Differential;
using Xunit;

namespace OtSensor.Tests.Detection;

public class AlertStoreTests
{
    private static (string Db, DetectionEngine Engine) Replay(string capture)
    {
        string db = DetectionHarness.TempStore();
        using var s = AlertStore.Open(db);
        var e = DetectionHarness.Run(capture, store: s);
        return (db, e);
    }

    [Fact]
    public void AlertsCommand_Json_HasTheDocumentedFields()
    {
        var (db, e) = Replay(TestPaths.Capture("modbus_crafted.pcap"));
        try
        {
            var o = new StringWriter();
            Assert.Equal(0, AlertsCommand.Run(db, json: true, csv: false, since: null, minSeverity: 0, o, TextWriter.Null));
            using var doc = JsonDocument.Parse(o.ToString());
            Assert.Equal(e.Raised.Count, doc.RootElement.GetArrayLength());
            var a = doc.RootElement.EnumerateArray().First(x => x.GetProperty("type").GetString() == "modbus_diag_force_listen_only");
            foreach (var f in new[] { "id", "type", "signature_id", "name", "severity", "category", "mitre", "first_seen", "last_seen", "count", "proto",
                "src_ip", "src_mac", "src_port", "dst_ip", "dst_mac", "dst_port", "message", "evidence" })
            {
                Assert.True(a.TryGetProperty(f, out _), f);
            }
            Assert.Equal(JsonValueKind.Array, a.GetProperty("mitre").ValueKind);
            Assert.Equal(JsonValueKind.Object, a.GetProperty("evidence").ValueKind);
            Assert.Equal("2024-01-01T00:00:24", a.GetProperty("first_seen").GetString()![..19]);
            Assert.EndsWith("Z", a.GetProperty("last_seen").GetString(), StringComparison.Ordinal);
            Assert.Equal(502, a.GetProperty("dst_port").GetInt32());
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
        }
    }

    [Fact]
    public void AlertsCommand_FiltersBySeverityAndTime_AndWritesCsv()
    {
        var (db, e) = Replay(TestPaths.Capture("modbus_crafted.pcap"));
        try
        {
            var o = new StringWriter();
            Assert.Equal(0, AlertsCommand.Run(db, true, false, null, 9, o, TextWriter.Null));
            using (var doc = JsonDocument.Parse(o.ToString()))
            {
                Assert.All(doc.RootElement.EnumerateArray(), a => Assert.True(a.GetProperty("severity").GetInt32() >= 9));
                Assert.Equal(e.Raised.Count(a => a.Severity >= 9), doc.RootElement.GetArrayLength());
            }
            o = new StringWriter();
            Assert.Equal(0, AlertsCommand.Run(db, true, false, "2024-01-01T00:00:25Z", 0, o, TextWriter.Null));
            using (var doc = JsonDocument.Parse(o.ToString()))
            {
                Assert.Equal(e.Raised.Count(a => a.LastSeenNs >= 1_704_067_225_000_000_000L), doc.RootElement.GetArrayLength());
            }
            o = new StringWriter();
            Assert.Equal(0, AlertsCommand.Run(db, false, true, null, 0, o, TextWriter.Null));
            Assert.StartsWith("id,type,signature_id", o.ToString(), StringComparison.Ordinal);
            Assert.Equal(e.Raised.Count + 1, o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            Assert.Equal(2, AlertsCommand.Run(db, false, false, "yesterday-ish", 0, TextWriter.Null, TextWriter.Null));
            Assert.Equal(2, AlertsCommand.Run(db, true, true, null, 0, TextWriter.Null, TextWriter.Null));
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
        }
    }

    [Fact]
    public void Outbox_ReadsAfterACursor_AndCursorsOnlyMoveForward()
    {
        var (db, e) = Replay(DetectionHarness.Attack("mqtt_policy.pcap"));
        try
        {
            using var s = AlertStore.Open(db);
            IAlertOutbox box = s;
            var all = box.ReadAfter(0, 100);
            Assert.Equal(4, all.Count);
            Assert.Equal(all.Select(a => a.Id).Order(), all.Select(a => a.Id));
            Assert.Equal(2, box.ReadAfter(all[1].Id, 100).Count);
            Assert.Single(box.ReadAfter(0, 1));
            Assert.Equal(0, box.GetCursor("siem-a"));
            box.SetCursor("siem-a", all[2].Id);
            box.SetCursor("siem-a", all[0].Id);
            Assert.Equal(all[2].Id, box.GetCursor("siem-a"));
            Assert.Equal(0, box.GetCursor("siem-b"));
            Assert.Equal(e.Raised.Select(a => a.Type), all.Select(a => a.Type));
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
        }
    }

    [Theory]
    [InlineData("modbus_crafted.pcap", "modbus_diag_force_listen_only", "modbus.func_code == 8")]
    [InlineData("attacks/port_scan.pcap", "ics_port_scan", "tcp.flags.syn == 1")]
    [InlineData("mqtt_crafted.pcap", "mqtt_double_connect", "mqtt.msgtype == 1")]
    public void AlertPcap_OpensInTshark_AndEndsWithTheTriggerPacket(string capture, string type, string filter)
    {
        string path = capture.StartsWith("attacks/", StringComparison.Ordinal) ? DetectionHarness.Attack(capture[8..]) : TestPaths.Capture(capture);
        var (db, e) = Replay(path);
        string pcap = Path.GetTempFileName();
        try
        {
            var alert = e.Raised.First(a => a.Type == type);
            Assert.Equal(0, AlertPcapCommand.Run(db, alert.Id, pcap, TextWriter.Null, TextWriter.Null));
            var bytes = File.ReadAllBytes(pcap);
            Assert.Equal(e.TraceOf(alert), bytes);

            var (code, stdout) = Tshark("-r", pcap, "-T", "fields", "-e", "frame.number");
            Assert.Equal(0, code);
            Assert.Equal(alert.TracePackets.Count, stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
            // The trigger is the last packet kept, and it is the one tshark finds the protocol fact in.
            var (code2, matched) = Tshark("-r", pcap, "-d", "tcp.port==18830,mqtt", "-Y", filter, "-T", "fields", "-e", "frame.number");
            Assert.Equal(0, code2);
            Assert.NotEmpty(matched.Trim());
            var (_, original) = Tshark("-r", path, "-Y", $"frame.number == {alert.TracePackets[^1]}", "-T", "fields", "-e", "frame.len");
            var (_, last) = Tshark("-r", pcap, "-Y", $"frame.number == {alert.TracePackets.Count}", "-T", "fields", "-e", "frame.len");
            Assert.Equal(original.Trim(), last.Trim());
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
            File.Delete(pcap);
        }
    }

    [Fact]
    public void AlertPcap_UnknownAlert_IsAnError()
    {
        var (db, _) = Replay(DetectionHarness.Attack("port_scan.pcap"));
        try
        {
            var err = new StringWriter();
            Assert.Equal(1, AlertPcapCommand.Run(db, 999, Path.Combine(Path.GetTempPath(), "never.pcap"), TextWriter.Null, err));
            Assert.Contains("no alert 999", err.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
        }
    }

    [Fact]
    public void RulesCommand_Json_ListsTheWholeCatalog()
    {
        var o = new StringWriter();
        Assert.Equal(0, RulesCommand.Run(json: true, rulesConfig: null, o, TextWriter.Null));
        using var doc = JsonDocument.Parse(o.ToString());
        Assert.Equal(AlertCatalog.All.Select(t => t.Id), doc.RootElement.EnumerateArray().Select(r => r.GetProperty("id").GetString()));
        var scan = doc.RootElement.EnumerateArray().First(r => r.GetProperty("id").GetString() == "modbus_points_scan");
        Assert.Equal(10, scan.GetProperty("threshold").GetDouble());
        Assert.Equal("T0861", scan.GetProperty("mitre")[0].GetString());
    }

    private static (int Code, string Stdout) Tshark(params string[] args)
    {
        var psi = new ProcessStartInfo("tshark") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var so = p.StandardOutput.ReadToEndAsync();
        var se = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        _ = se.Result;
        return (p.ExitCode, so.Result);
    }
}
