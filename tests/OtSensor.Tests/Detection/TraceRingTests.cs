using OtSensor.Capture;
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Detection;
using OtSensor.Pipeline;

namespace OtSensor.Tests.Detection;

public class TraceRingTests
{
    private static (PacketSlot Slot, DecodedPacket D, byte[] Frame) Frame(long number, uint a, ushort pa, uint b, ushort pb, int len)
    {
        var slot = new PacketSlot { PacketNumber = number, TimestampNs = 1_700_000_000_000_000_000L + number * 1000, Length = len, OriginalLength = len + 3, LinkType = LinkType.Ethernet };
        var d = new DecodedPacket { SrcIp = IpAddr.FromV4(a), DstIp = IpAddr.FromV4(b), SrcPort = pa, DstPort = pb, Transport = TransportLayer.Tcp };
        var frame = new byte[len];
        for (int i = 0; i < len; i++) frame[i] = (byte)(number + i);
        return (slot, d, frame);
    }

    /// <summary>The plain definition: newest first over the last MaxScan frames, the same pair (ports 0 = any), trigger and older.</summary>
    private static List<long> Expected(List<(PacketSlot Slot, DecodedPacket D, byte[] Frame)> all, long trigger, IpAddr a, ushort pa, IpAddr b, ushort pb, int max)
    {
        var picked = new List<long>();
        for (int i = all.Count - 1; i >= Math.Max(0, all.Count - TraceRing.MaxScan) && picked.Count < max; i--)
        {
            var (s, d, _) = all[i];
            if (s.PacketNumber > trigger) continue;
            bool match = (d.SrcIp == a && d.DstIp == b && (pa == 0 || d.SrcPort == pa) && (pb == 0 || d.DstPort == pb))
                || (d.SrcIp == b && d.DstIp == a && (pb == 0 || d.SrcPort == pb) && (pa == 0 || d.DstPort == pa));
            if (match) picked.Add(s.PacketNumber);
        }
        picked.Reverse();
        return picked;
    }

    [Fact]
    public void Collect_FindsTheSameFramesAsAScanOfTheWindow_WhenManyPairsInterleave()
    {
        var rng = new Random(7);
        var ring = new TraceRing(1 << 20, 8192);
        var all = new List<(PacketSlot, DecodedPacket, byte[])>();
        int found = 0;
        for (long n = 1; n <= 6000; n++)
        {
            uint client = 0x0A000000u + (uint)rng.Next(40);
            uint server = 0x0A010000u + (uint)rng.Next(3);
            ushort cport = (ushort)(40000 + rng.Next(3));
            var f = rng.Next(2) == 0 ? Frame(n, client, cport, server, 502, 60 + rng.Next(40)) : Frame(n, server, 502, client, cport, 60 + rng.Next(40));
            ring.Add(in f.Slot, in f.D, f.Frame);
            all.Add(f);
            if (n % 97 != 0) continue;
            var (_, d, _) = f;
            var packets = new List<long>();
            foreach (var (pa, pb) in new (ushort, ushort)[] { (d.SrcPort, d.DstPort), (0, 0), (d.SrcPort, 0) })
            {
                long trigger = n - rng.Next(3);
                var pcap = ring.Collect(trigger, d.SrcIp, pa, d.DstIp, pb, hostOnly: false, 16, packets);
                Assert.Equal(Expected(all, trigger, d.SrcIp, pa, d.DstIp, pb, 16), packets);
                Assert.Equal(packets.Count == 0, pcap is null);
                found += packets.Count;
            }
        }
        Assert.True(found > 500, $"only {found} frames collected");
    }

    [Fact]
    public void Collect_WritesTheSamePcapAsPcapWriter()
    {
        var ring = new TraceRing(1 << 16, 256);
        var frames = new List<(PacketSlot Slot, DecodedPacket D, byte[] Frame)>();
        for (long n = 1; n <= 40; n++)
        {
            var f = n % 3 == 0 ? Frame(n, 0x0A000009, 1234, 0x0A000001, 502, 70) : n % 2 == 0 ? Frame(n, 0x0A000001, 502, 0x0A000002, 40000, 64) : Frame(n, 0x0A000002, 40000, 0x0A000001, 502, 66);
            ring.Add(in f.Slot, in f.D, f.Frame);
            frames.Add(f);
        }
        var packets = new List<long>();
        var pcap = ring.Collect(39, IpAddr.FromV4(0x0A000002), 40000, IpAddr.FromV4(0x0A000001), 502, hostOnly: false, 5, packets);

        var expected = frames.Where(f => f.Slot.PacketNumber <= 39 && f.Slot.PacketNumber % 3 != 0).TakeLast(5).ToList();
        Assert.Equal(expected.Select(f => f.Slot.PacketNumber), packets);
        using var ms = new MemoryStream();
        using (var w = new PcapWriter(ms, LinkType.Ethernet, nanosecond: true, leaveOpen: true))
        {
            foreach (var f in expected) w.WritePacket(f.Slot.TimestampNs, f.Frame, f.Slot.OriginalLength);
        }
        Assert.Equal(ms.ToArray(), pcap);
    }

    [Fact]
    public void Collect_ReturnsNull_WhenThePairHasNoFrameLeftInTheWindow()
    {
        var ring = new TraceRing(1 << 16, 64);
        var first = Frame(1, 0x0A000001, 502, 0x0A000002, 40000, 60);
        ring.Add(in first.Slot, in first.D, first.Frame);
        for (long n = 2; n <= 200; n++)
        {
            var f = Frame(n, 0x0A000003, 502, 0x0A000004, 40000, 60);
            ring.Add(in f.Slot, in f.D, f.Frame);
        }
        var packets = new List<long>();
        Assert.Null(ring.Collect(200, IpAddr.FromV4(0x0A000001), 502, IpAddr.FromV4(0x0A000002), 40000, hostOnly: false, 16, packets));
        Assert.Empty(packets);
    }
    /// <summary>
    /// The frames kept are those of a ring of the configured size (each frame stored contiguously, one that would
    /// cross the end starting at the beginning), whatever buffer the ring keeps their bytes in: large frames make it
    /// grow, a small byte bound drops the oldest frames of the window.
    /// </summary>
    [Theory]
    [InlineData(1 << 16, 4096, 60, 3000)]
    [InlineData(1 << 23, 32768, 300, 1600)]
    [InlineData(1 << 20, 1000, 60, 9000)]
    public void Collect_KeepsTheFramesOfARingOfTheConfiguredSize(int bytes, int frames, int minLen, int maxLen)
    {
        var rng = new Random(bytes ^ frames);
        var ring = new TraceRing(bytes, frames);
        int maxFrame = Math.Min(bytes / 4, 65535);
        var all = new List<(PacketSlot Slot, DecodedPacket D, byte[] Frame, long Start)>();
        long written = 0;
        int at = 0;
        int checkedPcaps = 0;
        for (long n = 1; n <= 5000; n++)
        {
            uint client = 0x0A000000u + (uint)rng.Next(4);
            var f = rng.Next(2) == 0 ? Frame(n, client, 40000, 0x0A010001, 502, rng.Next(minLen, maxLen)) : Frame(n, 0x0A010001, 502, client, 40000, rng.Next(minLen, maxLen));
            ring.Add(in f.Slot, in f.D, f.Frame);
            int len = Math.Min(f.Frame.Length, maxFrame);
            if (at + len > bytes)
            {
                written += bytes - at;
                at = 0;
            }
            all.Add((f.Slot, f.D, f.Frame, written));
            written += len;
            at += len;
            if (n % 37 != 0) continue;
            var packets = new List<long>();
            var pcap = ring.Collect(n, f.D.SrcIp, 0, f.D.DstIp, 0, hostOnly: false, 16, packets);
            var expected = new List<(PacketSlot Slot, byte[] Frame)>();
            for (int i = all.Count - 1; i >= Math.Max(0, all.Count - Math.Min(frames, TraceRing.MaxScan)) && expected.Count < 16; i--)
            {
                var (s, d, fr, start) = all[i];
                if (start < written - bytes) break;
                if ((d.SrcIp == f.D.SrcIp && d.DstIp == f.D.DstIp) || (d.SrcIp == f.D.DstIp && d.DstIp == f.D.SrcIp)) expected.Add((s, fr));
            }
            expected.Reverse();
            Assert.Equal(expected.Select(e => e.Slot.PacketNumber), packets);
            if (expected.Count == 0)
            {
                Assert.Null(pcap);
                continue;
            }
            using var ms = new MemoryStream();
            using (var w = new PcapWriter(ms, LinkType.Ethernet, nanosecond: true, leaveOpen: true))
            {
                foreach (var (s, fr) in expected) w.WritePacket(s.TimestampNs, fr.AsSpan(0, Math.Min(fr.Length, maxFrame)), s.OriginalLength);
            }
            Assert.Equal(ms.ToArray(), pcap);
            checkedPcaps++;
        }
        Assert.True(checkedPcaps > 100, $"only {checkedPcaps} traces checked");
    }
}
