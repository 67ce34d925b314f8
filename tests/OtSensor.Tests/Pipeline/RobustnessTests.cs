using OtSensor.Capture;
using OtSensor.Core;
using OtSensor.Tests.Differential;

namespace OtSensor.Tests.Pipeline;

/// <summary>
/// Fuzz-style robustness: thousands of mutated and truncated packets and damaged files go through the whole
/// pipeline; nothing escapes as an exception, every failure is counted.
/// </summary>
public class RobustnessTests
{
    private static List<(long Ts, LinkType Link, byte[] Data)> LoadPackets()
    {
        var list = new List<(long, LinkType, byte[])>();
        foreach (var f in OtSensor.Pipeline.CaptureFiles.Expand([TestPaths.CapturesDir]))
        {
            using var r = CaptureFileReader.Open(f);
            while (r.TryReadPacket(out var p)) list.Add((p.TimestampNs, p.LinkType, p.Data.ToArray()));
        }
        return list;
    }

    [Fact]
    public void Pipeline_SurvivesThousandsOfMutatedPackets()
    {
        var packets = LoadPackets().Where(p => p.Link == LinkType.Ethernet).ToList();
        Assert.NotEmpty(packets);
        var rng = new Random(20261122);
        string dir = Directory.CreateTempSubdirectory("otsensor-fuzz").FullName;
        try
        {
            var files = new List<string>();
            for (int round = 0; round < 6; round++)
            {
                string file = Path.Combine(dir, $"mutated-{round}.pcap");
                using (var fs = File.Create(file))
                using (var w = new PcapWriter(fs, LinkType.Ethernet))
                {
                    foreach (var (ts, _, data) in packets)
                    {
                        var copy = (byte[])data.Clone();
                        int kind = rng.Next(6);
                        if (kind == 0 && copy.Length > 14)
                        {
                            for (int i = 0; i < 1 + rng.Next(4); i++) copy[14 + rng.Next(copy.Length - 14)] = (byte)rng.Next(256);
                        }
                        else if (kind == 1)
                        {
                            copy = copy[..rng.Next(copy.Length + 1)];
                        }
                        else if (kind == 2 && copy.Length > 54)
                        {
                            // Payload bytes only: keeps the flow, hurts the dissector.
                            for (int i = 0; i < 1 + rng.Next(8); i++) copy[54 + rng.Next(copy.Length - 54)] = (byte)rng.Next(256);
                        }
                        w.WritePacket(ts + rng.Next(-1000, 1000), copy);
                        if (kind == 3) w.WritePacket(ts, copy); // duplicate
                    }
                }
                files.Add(file);
            }
            var run = ReplayHarness.Run(files, workers: 2);
            Assert.Equal(0, run.InternalErrors);
            Assert.True(run.Stats.Decode.Packets >= packets.Count * 6);
            Assert.True(run.Stats.Decode.ErrorTotal > 0, "truncated frames must be counted as decode errors");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Pipeline_ReportsDamagedFilesAndKeepsWhatCameBefore()
    {
        string source = OtSensor.Pipeline.CaptureFiles.Expand([TestPaths.CapturesDir]).First(f => f.EndsWith(".pcap", StringComparison.Ordinal));
        byte[] bytes = File.ReadAllBytes(source);
        var rng = new Random(7);
        string dir = Directory.CreateTempSubdirectory("otsensor-damage").FullName;
        try
        {
            var full = ReplayHarness.Run([source], workers: 1);
            for (int i = 0; i < 25; i++)
            {
                string file = Path.Combine(dir, $"damaged-{i}.pcap");
                byte[] damaged = (byte[])bytes.Clone();
                int cut = 24 + rng.Next(bytes.Length - 24);
                if (i % 2 == 0)
                {
                    damaged = damaged[..cut];
                }
                else
                {
                    for (int k = 0; k < 4; k++) damaged[cut + k < damaged.Length ? cut + k : cut] = 0xFF;
                }
                File.WriteAllBytes(file, damaged);
                var run = ReplayHarness.Run([file], workers: 2);
                Assert.Equal(0, run.InternalErrors);
                Assert.True(run.Stats.Decode.Packets <= full.Stats.Decode.Packets + 1);
            }
            string garbage = Path.Combine(dir, "garbage.pcap");
            File.WriteAllBytes(garbage, [.. Enumerable.Range(0, 4096).Select(_ => (byte)rng.Next(256))]);
            var g = ReplayHarness.Run([garbage], workers: 1);
            Assert.NotNull(g.Stats.Files[0].Error);
            var missing = ReplayHarness.Run([Path.Combine(dir, "does-not-exist.pcap")], workers: 1);
            Assert.Contains("does-not-exist.pcap", missing.Stats.Files[0].Error, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
