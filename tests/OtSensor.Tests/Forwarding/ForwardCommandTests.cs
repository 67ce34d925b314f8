using System.CommandLine;
using OtSensor.Cli.Commands;

namespace OtSensor.Tests.Forwarding;

/// <summary>The forward / siem-test commands run in-process (console output captured) with an in-memory outbox.</summary>
[Collection("Console")]
public class ForwardCommandTests
{
    private static async Task<(int Code, string Out, string Err)> Run(MemoryOutbox outbox, params string[] args)
    {
        var root = new RootCommand { ForwardCommand.Create(_ => outbox), SiemTestCommand.Create() };
        var o = Console.Out;
        var e = Console.Error;
        using var sw = new StringWriter();
        using var ew = new StringWriter();
        Console.SetOut(sw);
        Console.SetError(ew);
        try
        {
            var parse = root.Parse(args);
            if (parse.Errors.Count > 0) return (2, "", string.Join("\n", parse.Errors.Select(x => x.Message)));
            int code = await parse.InvokeAsync();
            return (code, sw.ToString(), ew.ToString());
        }
        finally
        {
            Console.SetOut(o);
            Console.SetError(e);
        }
    }

    [Fact]
    public async Task ForwardOnce_ToAFileAndRsyslog_DeliversEverythingAndExitsZero()
    {
        using var rs = new Rsyslog();
        var outbox = new MemoryOutbox();
        for (int i = 0; i < 10; i++) outbox.Add(Alerts.Make(i, severity: i));
        string file = Path.Combine(rs.Dir, "alerts.jsonl");
        var (code, stdout, stderr) = await Run(outbox, "forward", "--store", "x.db", "--once", "--timeout", "20",
            "--to", $"tcp://127.0.0.1:{rs.TcpPort}?min_severity=5", "--to", "file://" + file);
        Assert.True(code == 0, stderr + stdout);
        Assert.Equal(10, File.ReadAllLines(file).Length);
        var lines = await rs.WaitForLinesAsync(5, TimeSpan.FromSeconds(10));
        Assert.Equal(5, lines.Length);
        Assert.Equal(10, outbox.GetCursor($"forward:tcp://127.0.0.1:{rs.TcpPort}"));
        Assert.Contains("filtered 5", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ForwardOnce_UnreachableReceiver_ExitsOneWithTheReason()
    {
        var outbox = new MemoryOutbox();
        outbox.Add(Alerts.Make(1));
        int port = Ports.Free();
        var (code, stdout, stderr) = await Run(outbox, "forward", "--once", "--timeout", "2", "--to", $"tcp://127.0.0.1:{port}");
        Assert.Equal(1, code);
        Assert.Contains("Connection refused", stderr + stdout, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, outbox.GetCursor($"forward:tcp://127.0.0.1:{port}"));
    }

    [Theory]
    [InlineData("ftp://x:1", "unknown scheme")]
    [InlineData("tcp://x:1?format=xml", "unknown format")]
    [InlineData("tls://x:1", "cannot read CA file", "--ca", "/nonexistent/ca.pem")]
    public async Task Forward_BadConfiguration_ExitsTwoWithAClearError(string url, string expected, params string[] extra)
    {
        var (code, _, stderr) = await Run(new MemoryOutbox(), ["forward", "--to", url, .. extra]);
        Assert.Equal(2, code);
        Assert.Contains(expected, stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SiemTest_SendsOneEventToRsyslog()
    {
        using var rs = new Rsyslog();
        var (code, stdout, stderr) = await Run(new MemoryOutbox(), "siem-test", "--to", $"tcp://127.0.0.1:{rs.TcpPort}");
        Assert.True(code == 0, stderr);
        Assert.Contains("sent a test event", stdout, StringComparison.Ordinal);
        var lines = await rs.WaitForLinesAsync(1, TimeSpan.FromSeconds(10));
        Assert.Equal("OtSensor SIEM test event", CefRecord.Parse(lines[0]).Header[5]);
    }

    [Fact]
    public async Task SiemTest_RefusedPort_ReportsTheExactError()
    {
        var (code, stdout, stderr) = await Run(new MemoryOutbox(), "siem-test", "--to", $"tcp://127.0.0.1:{Ports.Free()}");
        Assert.True(code == 1, $"{code} [{stderr}] [{stdout}]");
        Assert.Contains("Connection refused", stderr, StringComparison.OrdinalIgnoreCase);
    }
}
