using System.Text.Json.Nodes;
using OtSensor.Tests.Differential;
using OtSensor.Tests.Inventory;

namespace OtSensor.Tests.Cli;

/// <summary>
/// The shipped command is the Native AOT executable ./install publishes to out/. These tests run it beside the
/// JIT-compiled otsensor.dll of the same build on the same inputs and require the same exit codes and the same bytes
/// out (summaries, events, store queries, map files, alert traces, baseline files, errors): whatever trimming or AOT
/// compilation could change (reflection, serialisation, P/Invoke marshalling, static initialisation) shows up here.
/// Live capture and the service under the native binary are covered by the [Theory] cases of CaptureCommandTests and
/// ServiceProcessTests.
/// </summary>
public sealed partial class NativeBinaryTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Native_IsASelfContainedExecutableOfThisBuild()
    {
        string native = CliProcess.NativePath;
        Assert.True(File.Exists(native), $"{native} is missing: run ./install");
        var head = new byte[4];
        using (var f = File.OpenRead(native)) f.ReadExactly(head);
        Assert.Equal("\u007fELF"u8.ToArray(), head);
        // A framework-dependent build would have its IL beside the host; the native build has none.
        Assert.False(File.Exists(Path.Combine(Path.GetDirectoryName(native)!, "otsensor.dll")), "out/ holds a framework-dependent build");
        var (nativeCode, nativeVersion, _) = CliProcess.RunWith(CliProcess.Native, "--version");
        var (dllCode, dllVersion, _) = CliProcess.Run("--version");
        Assert.Equal(0, nativeCode);
        Assert.Equal(0, dllCode);
        // The version carries the commit: a binary published from an earlier commit is stale (run ./install again).
        Assert.True(dllVersion == nativeVersion, $"out/otsensor is version {nativeVersion.Trim()}, this build is {dllVersion.Trim()}: run ./install to publish it again");
    }

    [Fact]
    public void ReplayIntoAStore_AndEveryQueryCommand_GiveTheSameBytesAsTheDll()
    {
        string[] inputs = [TestPaths.CapturesDir, Path.Combine(TestPaths.CapturesDir, "attacks")];
        var results = new Dictionary<string, Outputs>();
        foreach (var binary in new[] { CliProcess.Dll, CliProcess.Native })
        {
            string d = Path.Combine(_dir.PathName, binary);
            Directory.CreateDirectory(d);
            string store = Path.Combine(d, "s.db");
            var o = new Outputs(d);
            o.Run(binary, "replay-json", ["replay", "--no-progress", "--json", "--store", store, "--events", Path.Combine(d, "events.jsonl"), .. inputs]);
            o.Run(binary, "replay-text", ["replay", "--no-progress", "--no-store", TestPaths.Capture("modbus_pymodbus.pcap"), TestPaths.Capture("mqtt_mosquitto.pcap"), TestPaths.Capture("coap_libcoap.pcap")]);
            foreach (var c in new[] { "assets", "links", "alerts", "changes" })
            {
                o.Run(binary, c + "-json", [c, "--store", store, "--json"]);
                o.Run(binary, c + "-text", [c, "--store", store]);
            }
            foreach (var c in new[] { "assets", "links", "alerts" }) o.Run(binary, c + "-csv", [c, "--store", store, "--csv"]);
            o.Run(binary, "alerts-filtered", ["alerts", "--store", store, "--json", "--min-severity", "7"]);
            o.Run(binary, "rules-json", ["rules", "--json"]);
            o.Run(binary, "rules-text", ["rules"]);
            foreach (var f in new[] { "dot", "svg", "html" })
            {
                o.Run(binary, "map-" + f, ["map", "--store", store, "--format", f, "-o", Path.Combine(d, "map." + f)]);
                o.File("map." + f);
            }
            o.Run(binary, "alert-pcap", ["alert-pcap", "1", "--store", store, "-o", Path.Combine(d, "alert1.pcap")]);
            o.File("alert1.pcap");
            o.Run(binary, "baseline-status", ["baseline", "status", "--store", store]);
            o.Run(binary, "baseline-export", ["baseline", "export", "--store", store, Path.Combine(d, "baseline.json")]);
            o.File("baseline.json");
            o.Run(binary, "baseline-reset", ["baseline", "reset", "--store", store]);
            o.Run(binary, "baseline-import", ["baseline", "import", "--store", store, Path.Combine(d, "baseline.json")]);
            o.Run(binary, "baseline-lock", ["baseline", "lock", "--store", store]);
            // Protection on the learned store: the baseline alerts of a later capture.
            o.Run(binary, "replay-protect", ["replay", "--no-progress", "--json", "--store", store, Path.Combine(TestPaths.CapturesDir, "attacks", "plant_attack.pcap")]);
            o.Run(binary, "alerts-after-protect", ["alerts", "--store", store, "--json"]);
            o.Run(binary, "forward", ["forward", "--store", store, "--once", "--timeout", "30", "--to", "file://" + Path.Combine(d, "siem.jsonl")]);
            o.Lines("siem.jsonl");
            // The test event carries the time it was sent and a random id: those are masked, the rest must match.
            o.Run(binary, "siem-test", ["siem-test", "--to", "file://" + Path.Combine(d, "siem-test.jsonl")], SiemTestVolatile());
            o.Lines("siem-test.jsonl", SiemTestVolatile());
            o.File("events.jsonl");
            results[binary] = o;
        }
        var dll = results[CliProcess.Dll];
        var native = results[CliProcess.Native];
        Assert.Equal(dll.Keys, native.Keys);
        foreach (var key in dll.Keys) Assert.True(dll[key] == native[key], $"{key} differs between otsensor.dll and out/otsensor:\n--- dll\n{Clip(dll[key])}\n--- native\n{Clip(native[key])}");
        // The run did real work (not two identical error messages).
        Assert.Contains("\"modbus\"", dll["replay-json"], StringComparison.Ordinal);
        Assert.Contains("modbus_function_code_scan", dll["alerts-json"], StringComparison.Ordinal);
        Assert.StartsWith("exit 0", dll["alert-pcap"], StringComparison.Ordinal);
        Assert.True(dll["file alert1.pcap"].Length > 40, "alert-pcap wrote no packets");
    }

    [Theory]
    [InlineData("replay", "--no-progress", "--no-store", "/nonexistent/none.pcap")]
    [InlineData("replay", "--no-progress", "--no-store", "--json", "{captures}/modbus_pymodbus.pcap", "--workers", "0")]
    [InlineData("assets", "--store", "{dir}/not-a-store.db", "--json")]
    [InlineData("alert-pcap", "999", "--store", "{dir}/missing.db", "-o", "{dir}/x.pcap")]
    [InlineData("baseline", "import", "--store", "{dir}/b.db", "{dir}/not-a-store.db")]
    [InlineData("no-such-command")]
    public void BadInput_GivesTheSameErrorAndExitCode(params string[] args)
    {
        File.WriteAllText(Path.Combine(_dir.PathName, "not-a-store.db"), "this is not an SQLite database, it is text\n");
        string[] a = [.. args.Select(x => x.Replace("{dir}", _dir.PathName, StringComparison.Ordinal).Replace("{captures}", TestPaths.CapturesDir, StringComparison.Ordinal))];
        var dll = CliProcess.RunWith(CliProcess.Dll, a);
        var native = CliProcess.RunWith(CliProcess.Native, a);
        Assert.NotEqual(0, dll.ExitCode);
        Assert.Equal(dll.ExitCode, native.ExitCode);
        Assert.Equal(dll.Stdout, native.Stdout);
        Assert.Equal(dll.Stderr, native.Stderr);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("replay", "--help")]
    [InlineData("capture", "--help")]
    [InlineData("assets", "--help")]
    [InlineData("links", "--help")]
    [InlineData("map", "--help")]
    [InlineData("alerts", "--help")]
    [InlineData("rules", "--help")]
    [InlineData("baseline", "--help")]
    [InlineData("baseline", "export", "--help")]
    [InlineData("alert-pcap", "--help")]
    [InlineData("forward", "--help")]
    [InlineData("changes", "--help")]
    [InlineData("siem-test", "--help")]
    [InlineData("interfaces", "--help")]
    [InlineData("run", "--help")]
    [InlineData("status", "--help")]
    public void Help_IsTheSame(params string[] args)
    {
        var dll = CliProcess.RunWith(CliProcess.Dll, args);
        var native = CliProcess.RunWith(CliProcess.Native, args);
        Assert.Equal(0, dll.ExitCode);
        Assert.Equal(dll.ExitCode, native.ExitCode);
        Assert.Equal(dll.Stdout, native.Stdout);
        Assert.Contains("Usage:", native.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedCapture_SameRecoveredPacketsAndError()
    {
        byte[] whole = File.ReadAllBytes(TestPaths.Capture("modbus_pymodbus.pcap"));
        string cut = Path.Combine(_dir.PathName, "cut.pcap");
        File.WriteAllBytes(cut, whole.AsSpan(0, whole.Length * 2 / 3 + 5).ToArray());
        var dll = CliProcess.RunWith(CliProcess.Dll, "replay", "--no-progress", "--no-store", "--json", cut);
        var native = CliProcess.RunWith(CliProcess.Native, "replay", "--no-progress", "--no-store", "--json", cut);
        Assert.Equal(dll.ExitCode, native.ExitCode);
        Assert.Equal(Normalise(dll.Stdout, _dir.PathName), Normalise(native.Stdout, _dir.PathName));
        Assert.Equal(dll.Stderr, native.Stderr);
        Assert.Contains(cut, dll.Stdout + dll.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Interfaces_ListsTheSameInterfacesThroughLibpcap()
    {
        var dll = CliProcess.RunWith(CliProcess.Dll, "interfaces", "--json");
        var native = CliProcess.RunWith(CliProcess.Native, "interfaces", "--json");
        Assert.True(dll.ExitCode == 0, dll.Stderr);
        Assert.True(native.ExitCode == 0, native.Stderr);
        var names = (string s) => JsonNode.Parse(s)!.AsArray().Select(i => i!["name"]!.GetValue<string>()).Order(StringComparer.Ordinal).ToList();
        Assert.Contains("lo", names(native.Stdout));
        Assert.Equal(names(dll.Stdout), names(native.Stdout));
    }

    /// <summary>Removes what differs between two runs of the same build: timings and the folder each run wrote into.</summary>
    internal static string Normalise(string text, string dir)
    {
        text = text.Replace(dir, "{dir}", StringComparison.Ordinal);
        var lines = text.Split('\n').Where(l => !l.Contains("\"elapsed_ms\"", StringComparison.Ordinal)
            && !l.Contains("\"packets_per_second\"", StringComparison.Ordinal)
            && !l.Contains("stage busy time", StringComparison.Ordinal)
            && !l.Contains(" elapsed ", StringComparison.Ordinal));
        return string.Join('\n', lines);
    }

    [System.Text.RegularExpressions.GeneratedRegex("(\"(?:first_seen_ns|last_seen_ns|test_id)\":)(?:\"[0-9a-f]+\"|[0-9]+)")]
    private static partial System.Text.RegularExpressions.Regex SiemTestVolatile();

    private static string Clip(string s) => s.Length <= 4000 ? s : s[..4000] + "\n…";

    /// <summary>Named outputs of one binary: exit code + normalised stdout/stderr of each command, and the files it wrote.</summary>
    private sealed class Outputs(string dir) : Dictionary<string, string>
    {
        public void Run(string binary, string name, string[] args, System.Text.RegularExpressions.Regex? mask = null)
        {
            var (code, stdout, stderr) = CliProcess.RunWith(binary, args);
            string text = $"exit {code}\n{Normalise(stdout, dir)}\n--- stderr\n{Normalise(stderr, dir)}";
            this[name] = mask is null ? text : mask.Replace(text, "$1?");
        }

        public void File(string name) => this["file " + name] = Convert.ToHexString(System.IO.File.ReadAllBytes(Path.Combine(dir, name)));

        /// <summary>A JSON-lines file a SIEM destination received, without the sending time each line carries.</summary>
        public void Lines(string name, System.Text.RegularExpressions.Regex? mask = null)
        {
            var lines = System.IO.File.ReadAllLines(Path.Combine(dir, name)).Select(l =>
            {
                var o = JsonNode.Parse(l)!.AsObject();
                foreach (var k in o.Select(p => p.Key).Where(IsSendTime).ToList()) o.Remove(k);
                string json = o.ToJsonString();
                return mask is null ? json : mask.Replace(json, "$1?");
            });
            this["lines " + name] = string.Join('\n', lines);
        }

        private static bool IsSendTime(string key) => key is "sent_at" or "sensor_time" or "forwarded_at" or "emitted_at";
    }
}
