using System.Diagnostics;

namespace OtSensor.Tests.Pipeline.Live;

/// <summary>
/// A veth pair made for one test: the capture end stays in this namespace (no address, IPv6 off, so the kernel has no
/// reason to transmit on it), the sending end lives in a network namespace of its own, where tcpreplay runs. Nothing
/// leaves the machine; disposing deletes the namespace, which deletes both ends.
/// </summary>
public sealed class VethNamespace : IDisposable
{
    private static int s_next;

    /// <summary>Null (with the reason) where the machine forbids network namespaces or veth devices.</summary>
    public static VethNamespace? TryCreate(out string why)
    {
        try
        {
            why = "";
            return new VethNamespace();
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            why = "cannot create a network namespace with a veth pair: " + ex.Message.Trim();
            return null;
        }
    }

    public VethNamespace()
    {
        int n = Interlocked.Increment(ref s_next);
        string tag = $"{Environment.ProcessId % 100000}x{n}";
        Namespace = "otst" + tag;
        CaptureInterface = "otc" + tag;
        SendInterface = "ots" + tag;
        Run("ip", $"netns add {Namespace}");
        try
        {
            Run("ip", $"link add {CaptureInterface} type veth peer name {SendInterface} netns {Namespace}");
            Run("sysctl", $"-q -w net.ipv6.conf.{CaptureInterface}.disable_ipv6=1");
            Run("ip", $"netns exec {Namespace} sysctl -q -w net.ipv6.conf.{SendInterface}.disable_ipv6=1");
            Run("ip", $"link set {CaptureInterface} up");
            Run("ip", $"netns exec {Namespace} ip link set {SendInterface} up");
            Run("ip", $"netns exec {Namespace} ip link set lo up");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public string Namespace { get; }
    /// <summary>The end the sensor captures on (in the test's own namespace).</summary>
    public string CaptureInterface { get; }
    /// <summary>The end tcpreplay sends from (inside <see cref="Namespace"/>).</summary>
    public string SendInterface { get; }

    /// <summary>
    /// Sends a capture file into the pair with tcpreplay: at the capture's own timing (<paramref name="pps"/> 0), at a
    /// fixed rate, or as fast as it can; returns the packets it sent.
    /// </summary>
    public long Replay(string pcap, int pps = 0, bool topSpeed = false)
    {
        string rate = topSpeed ? "--topspeed" : pps > 0 ? $"--pps={pps}" : "";
        string output = Run("ip", $"netns exec {Namespace} tcpreplay -q {rate} -i {SendInterface} {pcap}");
        // "Actual: 123 packets (4567 bytes) sent in ..."
        var m = System.Text.RegularExpressions.Regex.Match(output, @"Actual:\s+(\d+) packets");
        if (!m.Success) throw new InvalidOperationException("tcpreplay printed no packet count: " + output);
        return long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
    }

    public static string Run(string file, string args, int timeoutMs = 120_000)
    {
        var psi = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {args} did not finish in {timeoutMs} ms");
        }
        string output = stdout.Result + stderr.Result;
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {args} failed ({p.ExitCode}): {output}");
        return output;
    }

    public void Dispose()
    {
        try
        {
            Run("ip", $"netns del {Namespace}", 10_000);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        try
        {
            Run("ip", $"link del {CaptureInterface}", 10_000);
        }
        catch (InvalidOperationException)
        {
            // Deleting the namespace deleted the pair.
        }
    }
}
