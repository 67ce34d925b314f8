using System.Buffers.Binary;
using OtSensor.Capture;
using OtSensor.Core;
using OtSensor.Decoding;

namespace OtSensor.Benchmarks.Tools;

/// <summary>
/// Builds a large capture for end-to-end throughput runs by replaying the packets of small source captures many
/// times over, each copy with its own IPv4 addresses (checksums fixed), interleaving many copies so that many flows
/// are live at once, as on a plant network with many masters and slaves.
/// </summary>
public static class LargeCaptureBuilder
{
    public static long Build(IReadOnlyList<string> sources, string output, long minPackets, int concurrentCopies = 64)
    {
        var packets = new List<(long Ts, byte[] Data, LinkType Link)>();
        foreach (var s in sources)
        {
            using var r = CaptureFileReader.Open(s);
            while (r.TryReadPacket(out var p))
            {
                var d = new DecodedPacket();
                if (!PacketDecoder.Decode(p.LinkType, p.Data, ref d) || d.Network != NetworkLayer.IPv4 || !d.HasEthernet) continue;
                packets.Add((p.TimestampNs, p.Data.ToArray(), p.LinkType));
            }
        }
        if (packets.Count == 0) throw new InvalidOperationException("no Ethernet/IPv4 packets in the source captures");
        long t0 = packets[0].Ts;
        long span = Math.Max(1, packets[^1].Ts - t0);

        using var fs = File.Create(output);
        using var w = new PcapWriter(fs, LinkType.Ethernet);
        long written = 0;
        int copy = 0;
        long baseTime = 1_700_000_000L * PacketTime.NanosPerSecond;
        var buf = new byte[65536];
        while (written < minPackets)
        {
            // One round: `concurrentCopies` copies interleaved packet by packet.
            for (int i = 0; i < packets.Count && written < minPackets; i++)
            {
                for (int c = 0; c < concurrentCopies && written < minPackets; c++)
                {
                    var (ts, data, _) = packets[i];
                    int k = copy + c;
                    data.CopyTo(buf, 0);
                    var frame = buf.AsSpan(0, data.Length);
                    Rewrite(frame, k);
                    long t = baseTime + (long)(copy / concurrentCopies) * (span + PacketTime.NanosPerSecond) + (ts - t0) + c * 1000L;
                    w.WritePacket(t, frame);
                    written++;
                }
            }
            copy += concurrentCopies;
        }
        return written;
    }

    /// <summary>Gives copy <paramref name="k"/> its own addresses: 10.(k/250).(k%250).x for both ends, keeping the host byte.</summary>
    private static void Rewrite(Span<byte> frame, int k)
    {
        var d = new DecodedPacket();
        if (!PacketDecoder.Decode(LinkType.Ethernet, frame, ref d) || d.Network != NetworkLayer.IPv4) return;
        var ip = frame[d.L3Offset..];
        int ihl = (ip[0] & 0xF) * 4;
        byte b1 = (byte)(10 + (k / 62500 % 200)), b2 = (byte)(k / 250 % 250), b3 = (byte)(k % 250);
        foreach (int at in new[] { 12, 16 })
        {
            ip[at] = b1;
            ip[at + 1] = b2;
            ip[at + 2] = b3;
        }
        ip[10] = 0;
        ip[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum(ip[..ihl], 0));
        if (d.Transport == TransportLayer.Tcp || d.Transport == TransportLayer.Udp)
        {
            int total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
            if (total > ip.Length) return; // snaplen-cut: leave the L4 checksum alone
            var l4 = ip[ihl..total];
            int sumAt = d.Transport == TransportLayer.Tcp ? 16 : 6;
            if (l4.Length < sumAt + 2) return;
            l4[sumAt] = 0;
            l4[sumAt + 1] = 0;
            uint pseudo = 0;
            pseudo += BinaryPrimitives.ReadUInt16BigEndian(ip[12..]) + (uint)BinaryPrimitives.ReadUInt16BigEndian(ip[14..]);
            pseudo += BinaryPrimitives.ReadUInt16BigEndian(ip[16..]) + (uint)BinaryPrimitives.ReadUInt16BigEndian(ip[18..]);
            pseudo += ip[9];
            pseudo += (uint)l4.Length;
            ushort sum = Checksum(l4, pseudo);
            if (sum == 0 && d.Transport == TransportLayer.Udp) sum = 0xFFFF;
            BinaryPrimitives.WriteUInt16BigEndian(l4[sumAt..], sum);
        }
    }

    private static ushort Checksum(ReadOnlySpan<byte> data, uint initial)
    {
        ulong sum = initial;
        int i = 0;
        for (; i + 1 < data.Length; i += 2) sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        if (i < data.Length) sum += (uint)(data[i] << 8);
        while ((sum >> 16) != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }
}
