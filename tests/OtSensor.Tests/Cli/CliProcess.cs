using System.Diagnostics;
using OtSensor.Tests.Differential;

namespace OtSensor.Tests.Cli;

/// <summary>
/// Runs the real `otsensor` command as a child process: the JIT-compiled otsensor.dll built beside the tests (what the
/// test run just compiled), or the Native AOT executable ./install published to out/ (what ships).
/// </summary>
internal static class CliProcess
{
    /// <summary>The binaries a test can name in its data: "dll" (dotnet otsensor.dll) or "native" (out/otsensor).</summary>
    public const string Dll = "dll";
    public const string Native = "native";

    /// <summary>out/otsensor at the repository root.</summary>
    public static string NativePath => Path.Combine(TestPaths.RepositoryRoot, "out", "otsensor");

    public static (int ExitCode, string Stdout, string Stderr) Run(params string[] args) => RunWith(Dll, args);

    public static (int ExitCode, string Stdout, string Stderr) RunWith(string binary, params string[] args)
    {
        using var p = Process.Start(StartInfo(binary, args))!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException("otsensor did not finish in 2 minutes: " + string.Join(' ', args));
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>A start-info for the chosen binary with redirected standard streams; fails clearly when out/otsensor is missing.</summary>
    public static ProcessStartInfo StartInfo(string binary, IEnumerable<string> args)
    {
        ProcessStartInfo psi;
        if (binary == Native)
        {
            Assert.True(File.Exists(NativePath), $"{NativePath} is missing: run ./install (it publishes the Native AOT otsensor to out/)");
            psi = new ProcessStartInfo(NativePath);
        }
        else
        {
            Assert.Equal(Dll, binary);
            psi = new ProcessStartInfo("dotnet");
            psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "otsensor.dll"));
        }
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.RedirectStandardInput = true;
        psi.UseShellExecute = false;
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }
}
