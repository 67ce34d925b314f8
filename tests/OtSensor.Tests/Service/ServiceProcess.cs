using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace OtSensor.Tests.Service;

/// <summary>The real `otsensor run` as a child process, stopped with SIGTERM like systemd does.</summary>
internal sealed partial class ServiceProcess : IDisposable
{
    private readonly Process _p;
    private readonly ConcurrentQueue<string> _out = new();

    private ServiceProcess(Process p)
    {
        _p = p;
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) _out.Enqueue(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) _out.Enqueue(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
    }

    public static ServiceProcess Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "otsensor.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.StandardInput.Close();
        return new ServiceProcess(p);
    }

    public string Output => string.Join('\n', _out);
    public bool HasExited => _p.HasExited;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int sig);

    /// <summary>Sends SIGTERM and waits for the exit; the exit code.</summary>
    public int Terminate(TimeSpan timeout)
    {
        if (!_p.HasExited) Assert.Equal(0, Kill(_p.Id, 15));
        if (!_p.WaitForExit(timeout))
        {
            _p.Kill(entireProcessTree: true);
            throw new TimeoutException("otsensor run did not stop within " + timeout + " after SIGTERM:\n" + Output);
        }
        _p.WaitForExit(); // flush the output events
        return _p.ExitCode;
    }

    public void Dispose()
    {
        if (!_p.HasExited) _p.Kill(entireProcessTree: true);
        _p.Dispose();
    }
}

/// <summary>A veth pair, one end in a network namespace of its own: tcpreplay sends into the far end, the sensor captures on the near one.</summary>
internal sealed class VethPair : IDisposable
{
    public string Namespace { get; }
    public string Near { get; }
    public string Far { get; }

    private VethPair(string ns, string near, string far)
    {
        Namespace = ns;
        Near = near;
        Far = far;
    }

    /// <summary>Null (with the reason) where the machine forbids network namespaces or veth devices.</summary>
    public static VethPair? TryCreate(out string why)
    {
        string id = Guid.NewGuid().ToString("N")[..6];
        var v = new VethPair("otsns" + id, "otsa" + id, "otsb" + id);
        var (rc, err) = Sh("ip", "netns", "add", v.Namespace);
        if (rc != 0)
        {
            why = "cannot create a network namespace (ip netns add): " + err.Trim();
            return null;
        }
        // No IPv6 autoconfiguration noise (router solicitations, MLD) from the far side.
        Sh("ip", "netns", "exec", v.Namespace, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
        foreach (var cmd in new[]
        {
            new[] { "ip", "link", "add", v.Near, "type", "veth", "peer", "name", v.Far, "netns", v.Namespace },
            ["sysctl", "-qw", $"net.ipv6.conf.{v.Near}.disable_ipv6=1"],
            ["ip", "link", "set", v.Near, "up"],
            ["ip", "netns", "exec", v.Namespace, "ip", "link", "set", v.Far, "up"],
        })
        {
            (rc, err) = Sh(cmd);
            if (rc != 0)
            {
                v.Dispose();
                why = $"cannot set up the veth pair ({string.Join(' ', cmd)}): {err.Trim()}";
                return null;
            }
        }
        why = "";
        return v;
    }

    /// <summary>Sends a capture into the far end (it arrives on <see cref="Near"/>).</summary>
    public void Replay(string pcap)
    {
        var (rc, err) = Sh("ip", "netns", "exec", Namespace, "tcpreplay", "-q", "--pps=2000", "-i", Far, pcap);
        Assert.True(rc == 0, "tcpreplay failed: " + err);
    }

    public static (int ExitCode, string Stderr) Sh(params string[] args)
    {
        var psi = new ProcessStartInfo(args[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in args.Skip(1)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        _ = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(20)))
        {
            p.Kill();
            return (-1, "timed out");
        }
        return (p.ExitCode, err.Result);
    }

    public void Dispose()
    {
        Sh("ip", "link", "del", Near);
        Sh("ip", "netns", "del", Namespace);
    }
}
