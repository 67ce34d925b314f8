using OtSensor.Capture;
using OtSensor.Core;

namespace OtSensor.Benchmarks;

/// <summary>Sample packets for the benchmarks, read from the project's own captures.</summary>
internal static class BenchData
{
    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "OtSensor.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("OtSensor.sln not found above " + AppContext.BaseDirectory);
    }

    public static string Capture(string name) => Path.Combine(RepoRoot(), "captures", name);

    public static List<(long Ts, LinkType Link, byte[] Data)> Packets(string name)
    {
        var list = new List<(long, LinkType, byte[])>();
        using var r = CaptureFileReader.Open(Capture(name));
        while (r.TryReadPacket(out var p)) list.Add((p.TimestampNs, p.LinkType, p.Data.ToArray()));
        return list;
    }
}
