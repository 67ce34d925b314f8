using System.Diagnostics;
using OtSensor.Tests.Differential;

namespace OtSensor.Tests.Benchmarks;

/// <summary>The dissection benchmarks must measure real work: one operation of each yields 500 transactions.</summary>
public class BenchmarkSelfTest
{
    [Fact]
    public void DissectionBenchmarks_EachOperationProducesTransactions()
    {
        string config = AppContext.BaseDirectory.Contains("/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        string dll = Path.Combine(TestPaths.RepositoryRoot, "benchmarks", "OtSensor.Benchmarks", "bin", config, "net10.0", "OtSensor.Benchmarks.dll");
        Assert.True(File.Exists(dll), $"{dll} not built (the solution build builds it)");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(dll);
        psi.ArgumentList.Add("selftest");
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd();
        string stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(1)), "selftest hung");
        Assert.True(p.ExitCode == 0, stdout + stderr);
        Assert.Contains("modbus 500, mqtt 500, coap 500", stdout, StringComparison.Ordinal);
    }
}
