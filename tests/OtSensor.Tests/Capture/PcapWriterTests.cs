using OtSensor.Capture;
using OtSensor.Core;
using static OtSensor.Tests.Capture.CaptureImages;

namespace OtSensor.Tests.Capture;

public class PcapWriterTests
{
    [Fact]
    public void Writer_HeaderIsLittleEndianPcapWithLinkTypeAndSnaplen()
    {
        var ms = new MemoryStream();
        using (new PcapWriter(ms, LinkType.LinuxSll, snapLength: 1234, leaveOpen: true))
        {
        }
        byte[] b = ms.ToArray();
        Assert.Equal(24, b.Length);
        Assert.Equal(new byte[] { 0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0 }, b[..8]);
        Assert.Equal(new byte[] { 0xD2, 0x04, 0, 0, 113, 0, 0, 0 }, b[16..24]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Writer_RoundTripsThroughReader_ManyPacketsAcrossReadBufferBoundaries(bool nanosecond)
    {
        var ms = new MemoryStream();
        var expected = new List<(long Ts, byte[] Data, int Orig)>();
        using (var w = new PcapWriter(ms, LinkType.Ethernet, nanosecond: nanosecond, leaveOpen: true))
        {
            for (int i = 0; i < 3000; i++)
            {
                long ts = 1_700_000_000_000_000_000L + i * 1_000_123_457L;
                byte[] data = Frame(1 + (i * 37 % 1514), (byte)i);
                int orig = i % 5 == 0 ? data.Length + 100 : -1;
                w.WritePacket(ts, data, orig);
                expected.Add((nanosecond ? ts : ts / 1000 * 1000, data, orig < 0 ? data.Length : orig));
            }
            Assert.Equal(3000, w.PacketsWritten);
        }
        Assert.True(ms.Length > 2 * CaptureFileReader.DefaultBufferSize);
        ms.Position = 0;
        using var r = new CaptureFileReader(ms, "rt.pcap");
        var got = ReadHelper.ReadAll(r);
        Assert.Null(r.Error);
        Assert.Equal(expected.Count, got.Count);
        for (int i = 0; i < got.Count; i++)
        {
            Assert.Equal(expected[i].Ts, got[i].Ts);
            Assert.Equal(expected[i].Data, got[i].Data);
            Assert.Equal(expected[i].Orig, got[i].OriginalLength);
            Assert.Equal(LinkType.Ethernet, got[i].LinkType);
        }
    }

    [Fact]
    public void Writer_CutsDataToSnaplen_AndKeepsOriginalLength()
    {
        var ms = new MemoryStream();
        using (var w = new PcapWriter(ms, LinkType.Raw, snapLength: 16, leaveOpen: true))
            w.WritePacket(5_000_000_000, Frame(100, 1));
        ms.Position = 0;
        var (pkts, err, _) = ReadHelper.ReadAll(ms.ToArray());
        Assert.Null(err);
        var p = Assert.Single(pkts);
        Assert.Equal(Frame(100, 1)[..16], p.Data);
        Assert.Equal(100, p.OriginalLength);
        Assert.Equal(LinkType.Raw, p.LinkType);
        Assert.Equal(5_000_000_000L, p.Ts);
    }

    [Fact]
    public void Writer_PacketLargerThanItsBuffer_IsWrittenWhole()
    {
        var ms = new MemoryStream();
        byte[] big = Frame(200_000, 3);
        using (var w = new PcapWriter(ms, LinkType.Ethernet, leaveOpen: true))
        {
            w.WritePacket(1, Frame(10, 1));
            w.WritePacket(2, big);
            w.WritePacket(3, Frame(10, 2));
        }
        var (pkts, err, _) = ReadHelper.ReadAll(ms.ToArray());
        Assert.Null(err);
        Assert.Equal(3, pkts.Count);
        Assert.Equal(big, pkts[1].Data);
    }
}
