using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace OtSensor.Tests.Differential;

/// <summary>
/// Runs tshark as the reference Modbus/TCP dissector:
/// <c>tshark -n [side-file args] [extra args] -r FILE -T fields -E separator=/t -E occurrence=a -E aggregator=,
/// -e frame.number -e tcp.srcport -e tcp.dstport -e mbtcp.trans_id -e mbtcp.unit_id -e modbus.func_code
/// -e modbus.exception_code</c>.
/// </summary>
public static partial class TsharkReference
{
    /// <summary>Time allowed for one tshark run.</summary>
    public static TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>tshark executable (env OTSENSOR_TSHARK overrides; default "tshark" from PATH).</summary>
    public static string Executable =>
        Environment.GetEnvironmentVariable("OTSENSOR_TSHARK") is { Length: > 0 } p ? p : "tshark";

    private static readonly string[] Fields =
    [
        "frame.number", "tcp.srcport", "tcp.dstport", "mbtcp.trans_id", "mbtcp.unit_id",
        "modbus.func_code", "modbus.exception_code",
    ];

    private static readonly Lazy<string?> Version = new(ProbeVersion);

    // Same file + same arguments (+ same size/mtime) => same output: run tshark once per test run.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<string>> Cache = new();

    /// <summary>True when tshark can be started.</summary>
    public static bool IsAvailable => Version.Value is not null;

    /// <summary>The first line of <c>tshark --version</c>, or null when tshark is missing.</summary>
    public static string? VersionLine => Version.Value;

    /// <summary>
    /// Call at the start of a test that needs tshark: returns true when it is available. When it is
    /// missing the test FAILS if the CI environment variable is set, otherwise it writes a message and
    /// returns false so the caller can return early (xunit 2 has no dynamic skip).
    /// </summary>
    public static bool EnsureAvailable(ITestOutputHelper? output = null)
    {
        if (IsAvailable)
        {
            return true;
        }

        var message = $"tshark ('{Executable}') is not installed or does not start: differential check NOT run " +
                      "(apt-get install tshark, or set OTSENSOR_TSHARK).";
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable("CI")))
        {
            Assert.Fail(message + " CI is set, so this is a failure.");
        }

        output?.WriteLine("SKIPPED: " + message);
        Console.Error.WriteLine("SKIPPED: " + message);
        return false;
    }

    /// <summary>
    /// Modbus/TCP summary of <paramref name="path"/> according to tshark. Arguments from a side file
    /// <c>path + ".tshark-args"</c> (one per line, e.g. "-d" / "tcp.port==5020,mbtcp") are added first,
    /// then <paramref name="extraArgs"/> (an identical "-d X" pair is not repeated). Every
    /// <c>tcp.port==N,mbtcp</c> Decode-As makes N a server port besides 502.
    /// </summary>
    public static ModbusReference Modbus(string path, params string[] extraArgs)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException("capture not found", path);
        }

        var args = MergeArgs(ReadSideFile(path), extraArgs ?? []);
        var serverPorts = new SortedSet<int> { 502 };
        foreach (var a in args)
        {
            var m = DecodeAsMbtcp().Match(a);
            if (m.Success)
            {
                serverPorts.Add(int.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture));
            }
        }

        var cmd = new List<string> { "-n" };
        cmd.AddRange(args);
        cmd.AddRange(["-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a", "-E", "aggregator=,"]);
        foreach (var f in Fields)
        {
            cmd.Add("-e");
            cmd.Add(f);
        }

        var info = new FileInfo(path);
        var cacheKey = string.Join('\u0001', cmd) + $"\u0001{info.Length}\u0001{info.LastWriteTimeUtc.Ticks}";
        var stdout = Cache.GetOrAdd(cacheKey, _ => new Lazy<string>(() => Run(cmd))).Value;
        return Parse(path, stdout, serverPorts);
    }

    /// <summary>Parses tshark's field output (exposed for tests of the parser itself).</summary>
    public static ModbusReference Parse(string path, string fieldsOutput, IReadOnlyCollection<int> serverPorts)
    {
        ArgumentNullException.ThrowIfNull(fieldsOutput);
        ArgumentNullException.ThrowIfNull(serverPorts);
        var fcs = new Dictionary<int, int>();
        var excs = new Dictionary<int, int>();
        var adus = new Dictionary<ModbusAduKey, int>();
        int frames = 0, requests = 0, responses = 0, unknown = 0;
        foreach (var line in fieldsOutput.Split('\n'))
        {
            var l = line.TrimEnd('\r');
            if (l.Length == 0)
            {
                continue;
            }

            frames++;
            var cols = l.Split('\t');
            string Col(int i) => i < cols.Length ? cols[i] : "";
            var sp = FirstInt(Col(1));
            var dp = FirstInt(Col(2));
            var dir = sp is int s && serverPorts.Contains(s) && !(dp is int d1 && serverPorts.Contains(d1))
                ? ModbusDirection.Response
                : dp is int d && serverPorts.Contains(d) && !(sp is int s1 && serverPorts.Contains(s1))
                    ? ModbusDirection.Request
                    : ModbusDirection.Unknown;
            var tids = Ints(Col(3));
            var units = Ints(Col(4));
            for (var i = 0; i < tids.Count; i++)
            {
                var key = new ModbusAduKey(tids[i], i < units.Count ? units[i] : -1, dir);
                adus[key] = adus.GetValueOrDefault(key) + 1;
            }

            foreach (var fc in Ints(Col(5)))
            {
                fcs[fc & 0x7F] = fcs.GetValueOrDefault(fc & 0x7F) + 1;
                switch (dir)
                {
                    case ModbusDirection.Request: requests++; break;
                    case ModbusDirection.Response: responses++; break;
                    default: unknown++; break;
                }
            }

            foreach (var e in Ints(Col(6)))
            {
                excs[e] = excs.GetValueOrDefault(e) + 1;
            }
        }

        return new ModbusReference(path, frames, fcs, excs, requests, responses, unknown, adus, [.. serverPorts]);
    }

    private static List<string> ReadSideFile(string path)
    {
        var side = path + ".tshark-args";
        return File.Exists(side)
            ? [.. File.ReadAllLines(side).Select(x => x.Trim()).Where(x => x.Length > 0)]
            : [];
    }

    private static List<string> MergeArgs(List<string> first, string[] second)
    {
        var result = new List<string>(first);
        for (var i = 0; i < second.Length; i++)
        {
            if (second[i] == "-d" && i + 1 < second.Length && ContainsPair(result, "-d", second[i + 1]))
            {
                i++;
                continue;
            }

            result.Add(second[i]);
        }

        return result;
    }

    private static bool ContainsPair(List<string> list, string a, string b)
    {
        for (var i = 0; i + 1 < list.Count; i++)
        {
            if (list[i] == a && list[i + 1] == b)
            {
                return true;
            }
        }

        return false;
    }

    private static int? FirstInt(string field)
    {
        var l = Ints(field);
        return l.Count > 0 ? l[0] : null;
    }

    private static List<int> Ints(string field)
    {
        var result = new List<int>();
        foreach (var part in field.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(part.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var h))
            {
                result.Add(h);
            }
            else if (int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            {
                result.Add(v);
            }
        }

        return result;
    }

    private static string? ProbeVersion()
    {
        try
        {
            var output = Run(["--version"]);
            return output.Split('\n')[0].Trim();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or TimeoutException)
        {
            return null;
        }
    }

    private static string Run(IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            CreateNoWindow = true,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment["LC_ALL"] = "C";
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {Executable}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(Timeout))
        {
            try
            {
                p.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // already exited
            }

            throw new TimeoutException($"{Executable} {string.Join(' ', psi.ArgumentList)} did not finish within {Timeout}");
        }

        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"{Executable} {string.Join(' ', psi.ArgumentList)} exited with {p.ExitCode}: {stderr.Result}");
        }

        return stdout.Result;
    }

    [GeneratedRegex(@"^tcp\.port==(\d+),mbtcp$")]
    private static partial Regex DecodeAsMbtcp();
}
