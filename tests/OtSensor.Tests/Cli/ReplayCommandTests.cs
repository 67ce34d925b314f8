using System.Text.Json;
using OtSensor.Tests.Differential;

namespace OtSensor.Tests.Cli;

public class ReplayCommandTests
{
    [Fact]
    public void Replay_Directory_PrintsSummaryAndExitsZero()
    {
        var (code, stdout, stderr) = CliProcess.Run("replay", "--no-progress", "--no-store", TestPaths.CapturesDir);
        Assert.True(code == 0, stderr);
        Assert.Contains("== Modbus/TCP", stdout, StringComparison.Ordinal);
        Assert.Contains("READ_HOLDING_REGISTERS", stdout, StringComparison.Ordinal);
        Assert.Contains("vendor_name=OtSensor Test Devices", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Replay_Json_IsOneParsableObjectWithTheCounters()
    {
        var (code, stdout, _) = CliProcess.Run("replay", "--json", "--no-store", TestPaths.Capture("modbus_pymodbus.pcap"));
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal(287, root.GetProperty("packets").GetInt64());
        Assert.True(root.GetProperty("modbus").GetProperty("transactions").GetInt64() > 100);
        Assert.Equal(0, root.GetProperty("internal_errors").GetInt64());
    }

    [Fact]
    public void Replay_Events_WritesOneJsonObjectPerTransactionWithTheDocumentedFields()
    {
        string events = Path.Combine(Path.GetTempPath(), $"otsensor-events-{Guid.NewGuid():N}.jsonl");
        try
        {
            var (code, _, stderr) = CliProcess.Run("replay", "--no-progress", "--no-store", "--events", events, TestPaths.Capture("modbus_pymodbus.pcap"));
            Assert.True(code == 0, stderr);
            var lines = File.ReadAllLines(events);
            Assert.NotEmpty(lines);
            string[] required = ["ts", "proto", "client_ip", "client_port", "server_ip", "server_port", "vlan", "tid", "unit", "func", "func_name",
                "sub_func", "address", "quantity", "values", "exception", "has_request", "has_response", "latency_ms", "anomalies"];
            int unanswered = 0;
            foreach (var line in lines)
            {
                using var doc = JsonDocument.Parse(line);
                var e = doc.RootElement;
                if (e.GetProperty("event_type").GetString() != "transaction") continue;
                foreach (var f in required) Assert.True(e.TryGetProperty(f, out _), $"missing '{f}' in {line}");
                Assert.Equal("modbus", e.GetProperty("proto").GetString());
                Assert.EndsWith("Z", e.GetProperty("ts").GetString(), StringComparison.Ordinal);
                if (!e.GetProperty("has_response").GetBoolean())
                {
                    unanswered++;
                    Assert.Equal(JsonValueKind.Null, e.GetProperty("latency_ms").ValueKind);
                }
            }
            Assert.True(unanswered >= 2, "the capture ends with requests the server never answers");
        }
        finally
        {
            File.Delete(events);
        }
    }

    [Fact]
    public void Replay_MissingFile_IsAClearErrorWithExitCodeOne()
    {
        var (code, _, stderr) = CliProcess.Run("replay", "--no-progress", "--no-store", "/nonexistent/dir/x.pcap");
        Assert.Equal(1, code);
        Assert.Contains("x.pcap", stderr, StringComparison.Ordinal);
        Assert.Contains("not found", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Replay_TruncatedFile_ReportsTheByteOffsetAndKeepsThePacketsBefore()
    {
        string file = Path.Combine(Path.GetTempPath(), $"otsensor-trunc-{Guid.NewGuid():N}.pcap");
        try
        {
            File.WriteAllBytes(file, File.ReadAllBytes(TestPaths.Capture("modbus_pymodbus.pcap"))[..3000]);
            var (code, stdout, stderr) = CliProcess.Run("replay", "--json", "--no-store", file);
            Assert.Equal(1, code);
            Assert.Contains("byte offset", stderr, StringComparison.Ordinal);
            using var doc = JsonDocument.Parse(stdout);
            Assert.True(doc.RootElement.GetProperty("packets").GetInt64() > 10);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("replay", "--bogus", "x.pcap")]
    [InlineData("replay", "--workers", "0", "x.pcap")]
    [InlineData("replay")]
    [InlineData("no-such-verb")]
    public void BadUsage_ExitsWithCodeTwo(params string[] args)
    {
        var (code, _, _) = CliProcess.Run(args);
        Assert.Equal(2, code);
    }
}
