using System.Text.Json;
using OtSensor.Cli;
using OtSensor.Cli.Commands;

namespace OtSensor.Tests.Capture.Live;

public class InterfacesCommandTests
{
    [Fact]
    public void Interfaces_Json_ListsLoopbackWithItsFlagsAndAddresses()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int rc = InterfacesCommand.Run(json: true, stdout, stderr);
        Assert.Equal(Program.ExitOk, rc);
        Assert.Equal("", stderr.ToString());
        using var doc = JsonDocument.Parse(stdout.ToString());
        var lo = doc.RootElement.EnumerateArray().Single(e => e.GetProperty("name").GetString() == "lo");
        Assert.True(lo.GetProperty("is_loopback").GetBoolean());
        Assert.True(lo.GetProperty("is_up").GetBoolean());
        Assert.Contains("127.0.0.1", lo.GetProperty("addresses").EnumerateArray().Select(a => a.GetString()));
    }

    [Fact]
    public void Interfaces_Table_ShowsLoopbackAndTheLibpcapVersion()
    {
        var stdout = new StringWriter();
        int rc = InterfacesCommand.Run(json: false, stdout, new StringWriter());
        Assert.Equal(Program.ExitOk, rc);
        string text = stdout.ToString();
        Assert.Contains(" lo ", text, StringComparison.Ordinal);
        Assert.Contains("up,running,loopback", text, StringComparison.Ordinal);
        Assert.Contains("libpcap version", text, StringComparison.Ordinal);
    }
}
