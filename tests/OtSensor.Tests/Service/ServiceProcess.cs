using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using OtSensor.Tests.Cli;

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

    public static ServiceProcess Start(params string[] args) => StartWith(CliProcess.Dll, args);

    /// <summary>Starts the chosen binary (<see cref="CliProcess.Dll"/> or <see cref="CliProcess.Native"/>).</summary>
    public static ServiceProcess StartWith(string binary, params string[] args)
    {
        var p = Process.Start(CliProcess.StartInfo(binary, args))!;
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
