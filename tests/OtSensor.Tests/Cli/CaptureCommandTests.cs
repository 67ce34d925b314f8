using System.Text.Json;
using OtSensor.Tests.Pipeline.Live;

namespace OtSensor.Tests.Cli;

[Collection("live capture")]
public class CaptureCommandTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Theory]
    [InlineData("--snaplen", "10", "--snaplen must be between")]
    [InlineData("--duration", "0", "--duration must be a positive number")]
    [InlineData("--ring-mb", "0", "--ring-mb must be between")]
    public void Capture_BadOption_IsAUsageError(string option, string value, string message)
    {
        var (code, _, stderr) = CliProcess.Run("capture", "-i", "lo", option, value, "--no-store");
        Assert.Equal(2, code);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Capture_MissingInterface_FailsClearly_NamingIt()
    {
        var (code, stdout, stderr) = CliProcess.Run("capture", "-i", "nosuchif9", "--no-store", "--duration", "1");
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains("nosuchif9", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CliProcess.Dll)]
    [InlineData(CliProcess.Native)]
    public void Capture_InvalidBpf_FailsClearly_QuotingTheFilter(string binary)
    {
        var (code, _, stderr) = CliProcess.RunWith(binary, "capture", "-i", "lo", "--bpf", "tcp port banana", "--no-store", "--duration", "1");
        Assert.Equal(1, code);
        Assert.Contains("tcp port banana", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(CliProcess.Dll)]
    [InlineData(CliProcess.Native)]
    public async Task Capture_OnAVethPair_ReportsTheTrafficAndTheInterfaceCounters(string binary)
    {
        using var veth = VethNamespace.TryCreate(out string why);
        if (veth is null)
        {
            output.WriteLine("SKIPPED: " + why);
            return;
        }
        string pcap = OtSensor.Tests.Differential.TestPaths.Capture("modbus_pymodbus.pcap");
        string dir = Path.Combine(Path.GetTempPath(), "otsensor-capture-" + Guid.NewGuid().ToString("N"));
        try
        {
            var run = Task.Run(() => CliProcess.RunWith(binary, "capture", "-i", veth.CaptureInterface, "--duration", "10", "--json", "--no-store",
                "--write-pcap", dir));
            // The process needs a moment to start; send the capture a few times while it runs.
            long sent = 0;
            for (int i = 0; i < 3; i++)
            {
                await Task.Delay(2000);
                sent += veth.Replay(pcap, pps: 5000);
            }
            var (code, stdout, stderr) = await run;
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var root = doc.RootElement;
            var iface = root.GetProperty("interfaces")[0];
            Assert.Equal(veth.CaptureInterface, iface.GetProperty("name").GetString());
            long captured = iface.GetProperty("captured").GetInt64();
            Assert.True(captured > 0 && captured <= sent);
            Assert.Equal(captured, root.GetProperty("packets").GetInt64());
            Assert.Equal(0, iface.GetProperty("application_dropped").GetInt64());
            Assert.True(root.GetProperty("modbus").GetProperty("transactions").GetInt64() > 0);
            Assert.Equal(captured, iface.GetProperty("pcap_packets_written").GetInt64());
            Assert.Single(Directory.GetFiles(dir, "otsensor-*.pcap"));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
