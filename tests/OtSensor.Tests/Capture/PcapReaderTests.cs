using OtSensor.Capture;
using OtSensor.Core;
using static OtSensor.Tests.Capture.CaptureImages;

namespace OtSensor.Tests.Capture;

internal sealed record Pkt(long Ts, LinkType LinkType, int InterfaceId, int OriginalLength, byte[] Data, long Offset);

internal static class ReadHelper
{
    public static (List<Pkt> Packets, CaptureError? Error, CaptureFormat Format) ReadAll(byte[] image, string name = "test.pcap")
    {
        using var reader = new CaptureFileReader(new MemoryStream(image), name);
        var list = ReadAll(reader);
        return (list, reader.Error, reader.Format);
    }

    public static List<Pkt> ReadAll(CaptureFileReader reader)
    {
        var list = new List<Pkt>();
        while (reader.TryReadPacket(out var p))
            list.Add(new Pkt(p.TimestampNs, p.LinkType, p.InterfaceId, p.OriginalLength, p.Data.ToArray(), p.FileOffset));
        Assert.Equal(list.Count, reader.PacketsRead);
        return list;
    }
}

public class PcapReaderTests
{
    private static PcapImage ThreePackets(bool bigEndian, bool nano)
        => new PcapImage(bigEndian, nano)
            .Record(1_700_000_000, nano ? 123_456_789u : 123_456u, Frame(60, 1))
            .Record(1_700_000_001, 0, Frame(1, 2))
            .Record(1_700_000_002, nano ? 999_999_999u : 999_999u, Frame(1514, 3));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Pcap_Microseconds_ReadsPacketsTimestampsAndOffsets_InBothByteOrders(bool bigEndian)
    {
        var img = ThreePackets(bigEndian, nano: false);
        var (pkts, err, fmt) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        Assert.Equal(CaptureFormat.Pcap, fmt);
        Assert.Equal(3, pkts.Count);
        Assert.Equal(1_700_000_000_123_456_000L, pkts[0].Ts);
        Assert.Equal(1_700_000_001_000_000_000L, pkts[1].Ts);
        Assert.Equal(1_700_000_002_999_999_000L, pkts[2].Ts);
        Assert.Equal(Frame(60, 1), pkts[0].Data);
        Assert.Equal(Frame(1, 2), pkts[1].Data);
        Assert.Equal(Frame(1514, 3), pkts[2].Data);
        Assert.All(pkts, p => Assert.Equal(LinkType.Ethernet, p.LinkType));
        Assert.All(pkts, p => Assert.Equal(0, p.InterfaceId));
        Assert.Equal(img.RecordOffsets.Select(o => (long)o), pkts.Select(p => p.Offset));
        Assert.Equal(24L, pkts[0].Offset);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Pcap_NanosecondMagic_KeepsNanoseconds_InBothByteOrders(bool bigEndian)
    {
        var (pkts, err, _) = ReadHelper.ReadAll(ThreePackets(bigEndian, nano: true).ToArray());
        Assert.Null(err);
        Assert.Equal(1_700_000_000_123_456_789L, pkts[0].Ts);
        Assert.Equal(1_700_000_002_999_999_999L, pkts[2].Ts);
    }

    [Fact]
    public void Pcap_SnaplenTruncatedRecord_ReportsWireLengthAndCapturedBytes()
    {
        var img = new PcapImage(snapLength: 64).Record(1, 0, Frame(64, 9), originalLength: 1500);
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        var p = Assert.Single(pkts);
        Assert.Equal(1500, p.OriginalLength);
        Assert.Equal(64, p.Data.Length);
    }

    [Fact]
    public void Pcap_LinkTypeUsesLow16Bits_WhenFcsBitsAreSet()
    {
        // FCS present flag and length in the upper bits (draft-ietf-opsawg-pcap LinkType and additional information)
        uint field = 0x1000_0000u | 0x0400_0000u | 113u;
        var img = new PcapImage(linkType: field).Record(1, 0, Frame(20, 1));
        using var r = new CaptureFileReader(new MemoryStream(img.ToArray()), "x");
        Assert.Equal(LinkType.LinuxSll, r.LinkType);
        Assert.True(r.TryReadPacket(out var p));
        Assert.Equal(LinkType.LinuxSll, p.LinkType);
    }

    [Fact]
    public void Pcap_UnknownLinkType_PassesThroughAsRawValue()
    {
        var img = new PcapImage(linkType: 147).Record(1, 0, Frame(20, 1));
        var (pkts, _, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Equal((LinkType)147, pkts[0].LinkType);
    }

    [Fact]
    public void Pcap_ModifiedMagic_ReadsExtendedRecordHeaders()
    {
        var w = new ImageWriter(false).U32(0xA1B2CD34).U16(2).U16(4).U32(0).U32(0).U32(65535).U32(1);
        w.U32(5).U32(6).U32(3).U32(3).U32(0).U16(0).U8(0).U8(0).Raw([1, 2, 3]);
        var (pkts, err, _) = ReadHelper.ReadAll(w.ToArray());
        Assert.Null(err);
        var p = Assert.Single(pkts);
        Assert.Equal(new byte[] { 1, 2, 3 }, p.Data);
        Assert.Equal(5_000_006_000L, p.Ts);
    }

    [Fact]
    public void Pcap_HeaderOnly_ReturnsNoPacketsAndNoError()
    {
        var (pkts, err, fmt) = ReadHelper.ReadAll(new PcapImage().ToArray());
        Assert.Empty(pkts);
        Assert.Null(err);
        Assert.Equal(CaptureFormat.Pcap, fmt);
    }

    [Fact]
    public void Pcap_CorruptRecordLength_StopsWithErrorAtRecordHeader()
    {
        var img = new PcapImage(snapLength: 65535).Record(1, 0, Frame(60, 1)).Record(2, 0, Frame(60, 2), inclLength: 3221225472u);
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray(), "bad.pcap");
        Assert.Single(pkts);
        Assert.NotNull(err);
        Assert.Equal(img.RecordOffsets[1], err.Offset);
        Assert.Equal("record length 3221225472 exceeds the maximum 262144 (corrupt or truncated file)", err.Message);
        Assert.Equal($"bad.pcap: byte offset {img.RecordOffsets[1]}: {err.Message}", err.ToString());
    }

    [Fact]
    public void Pcap_RecordLargerThanSnaplenButWithinSaneBound_IsAccepted()
    {
        var img = new PcapImage(snapLength: 1500).Record(1, 0, Frame(9000, 1));
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        Assert.Equal(9000, Assert.Single(pkts).Data.Length);
    }

    [Fact]
    public void Pcap_RecordLargerThanReadBuffer_GrowsBuffer_WhenSnaplenAllowsIt()
    {
        var big = Frame(3 << 20, 5);
        var img = new PcapImage(snapLength: 8 << 20).Record(1, 0, Frame(100, 1)).Record(2, 0, big).Record(3, 0, Frame(100, 2));
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        Assert.Equal(3, pkts.Count);
        Assert.Equal(big, pkts[1].Data);
        Assert.Equal(Frame(100, 2), pkts[2].Data);
    }

    [Fact]
    public void Pcap_HugeSnaplen_StillBoundsRecordsAt16MiB()
    {
        var img = new PcapImage(snapLength: uint.MaxValue).Record(1, 0, [], inclLength: (16u << 20) + 1);
        var (_, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.NotNull(err);
        Assert.Equal($"record length {(16 << 20) + 1} exceeds the maximum {16 << 20} (corrupt or truncated file)", err.Message);
    }

    [Fact]
    public void Pcap_TruncatedAtEveryBytePosition_ReturnsPacketsBeforeTheCutThenErrorAtDamagedRecord()
    {
        var img = ThreePackets(false, false);
        byte[] full = img.ToArray();
        var starts = img.RecordOffsets.ToList();
        for (int cut = 0; cut < full.Length; cut++)
        {
            byte[] part = full[..cut];
            if (cut < 4)
            {
                Assert.Throws<CaptureFormatException>(() => new CaptureFileReader(new MemoryStream(part), "cut.pcap"));
                continue;
            }
            var (pkts, err, _) = ReadHelper.ReadAll(part);
            if (cut < 24)
            {
                Assert.Empty(pkts);
                Assert.NotNull(err);
                Assert.Equal(0, err.Offset);
                Assert.Equal($"truncated file header: need 24 bytes, file ends after {cut}", err.Message);
                continue;
            }
            int complete = starts.Count(s => s < cut && NextStart(s) <= cut);
            Assert.Equal(complete, pkts.Count);
            if (starts.Contains(cut) || cut == 24)
            {
                Assert.Null(err); // cut exactly between records: indistinguishable from a clean end
                continue;
            }
            int damaged = starts.Last(s => s < cut);
            Assert.NotNull(err);
            Assert.Equal(damaged, err.Offset);
            int need = NextStart(damaged) - damaged;
            int headerNeed = cut - damaged < 16 ? 16 : need;
            Assert.Equal($"truncated record: need {headerNeed} bytes, file ends after {cut - damaged}", err.Message);
        }

        int NextStart(int s)
        {
            int i = starts.IndexOf(s);
            return i + 1 < starts.Count ? starts[i + 1] : full.Length;
        }
    }

    [Fact]
    public void Open_EmptyFile_ThrowsNotACaptureNamingTheFile()
    {
        var ex = Assert.Throws<CaptureFormatException>(() => new CaptureFileReader(new MemoryStream([]), "empty.pcap"));
        Assert.Contains("empty.pcap", ex.Message);
        Assert.Contains("not a pcap or pcapng file", ex.Message);
    }

    [Fact]
    public void Open_GarbageFile_ThrowsWithMagicInMessage()
    {
        var ex = Assert.Throws<CaptureFormatException>(() => new CaptureFileReader(new MemoryStream("GET / HTTP/1.1\r\n"u8.ToArray()), "junk.bin"));
        Assert.Equal("junk.bin: not a pcap or pcapng file (magic 0x47455420)", ex.Message);
    }

    [Fact]
    public void Open_MissingFile_ThrowsNamingThePath()
    {
        string path = Path.Combine(Path.GetTempPath(), "otsensor-no-such-file-" + Guid.NewGuid() + ".pcap");
        var ex = Assert.Throws<CaptureFormatException>(() => CaptureFileReader.Open(path));
        Assert.Contains(path, ex.Message);
        Assert.Contains("not found", ex.Message);
    }

    [Fact]
    public void Open_RealFile_ReportsLengthAndPositionReachesIt()
    {
        string path = Path.Combine(Path.GetTempPath(), "otsensor-cap-" + Guid.NewGuid() + ".pcap");
        byte[] img = ThreePackets(false, false).ToArray();
        File.WriteAllBytes(path, img);
        try
        {
            using var r = CaptureFileReader.Open(path);
            Assert.Equal(path, r.DisplayName);
            Assert.Equal(img.Length, r.Length);
            Assert.Equal(3, ReadHelper.ReadAll(r).Count);
            Assert.Null(r.Error);
            Assert.Equal(img.Length, r.Position);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Gzip_PcapAndPcapNg_AreReadTransparently_AndPositionIsCompressed()
    {
        byte[] pcap = ThreePackets(true, true).ToArray();
        byte[] ng = new PcapNgImage().Section().Interface(1).Epb(0, 5, Frame(70, 1)).ToArray();
        foreach (var (plain, fmt) in new[] { (pcap, CaptureFormat.Pcap), (ng, CaptureFormat.PcapNg) })
        {
            byte[] gz = Gzip(plain);
            using var r = new CaptureFileReader(new MemoryStream(gz), "x.gz");
            Assert.Equal(fmt, r.Format);
            var got = ReadHelper.ReadAll(r);
            Assert.Null(r.Error);
            Assert.Equal(ReadHelper.ReadAll(plain).Packets, got, PktComparer.Instance);
            Assert.Equal(gz.Length, r.Length);
            Assert.Equal(gz.Length, r.Position);
        }
    }

    [Fact]
    public void Gzip_OfGarbage_ThrowsNotACapture()
    {
        var ex = Assert.Throws<CaptureFormatException>(() => new CaptureFileReader(new MemoryStream(Gzip("hello world"u8.ToArray())), "g.gz"));
        Assert.Contains("not a pcap or pcapng file (gzip-compressed, magic 0x68656c6c)", ex.Message);
    }

    [Fact]
    public void Gzip_Truncated_ReturnsEarlierPacketsThenStopsWithoutThrowing()
    {
        var img = new PcapImage();
        for (int i = 0; i < 200; i++)
            img.Record((uint)i, 0, Frame(200 + i, (byte)i));
        byte[] gz = Gzip(img.ToArray());
        for (int cut = 30; cut < gz.Length; cut += 97)
        {
            using var r = new CaptureFileReader(new MemoryStream(gz[..cut]), "t.gz");
            var pkts = ReadHelper.ReadAll(r);
            Assert.True(pkts.Count < 200);
            for (int i = 0; i < pkts.Count; i++)
                Assert.Equal(Frame(200 + i, (byte)i), pkts[i].Data);
        }
    }

    [Fact]
    public void IoErrorFromStream_BecomesErrorNotException()
    {
        var img = new PcapImage();
        for (int i = 0; i < 100; i++)
            img.Record((uint)i, 0, Frame(1000, (byte)i));
        using var r = new CaptureFileReader(new FailingStream(img.ToArray(), failAfter: 50_000), "io.pcap");
        var pkts = ReadHelper.ReadAll(r);
        Assert.NotNull(r.Error);
        Assert.StartsWith("read error: ", r.Error.Message);
        Assert.True(pkts.Count < 100);
        Assert.False(r.TryReadPacket(out _));
    }

    [Fact]
    public void TryReadPacket_AfterDispose_ReturnsFalse()
    {
        var r = new CaptureFileReader(new MemoryStream(ThreePackets(false, false).ToArray()), "x");
        r.Dispose();
        Assert.False(r.TryReadPacket(out _));
    }

    [Fact]
    public void ReadingManyPackets_AllocatesNothingPerPacket()
    {
        var img = new PcapImage();
        for (int i = 0; i < 20_000; i++)
            img.Record((uint)i, 0, Frame(60 + (i % 200), (byte)i));
        using var r = new CaptureFileReader(new MemoryStream(img.ToArray()), "alloc.pcap");
        Assert.True(r.TryReadPacket(out _)); // warm up
        long before = GC.GetAllocatedBytesForCurrentThread();
        long n = 0, bytes = 0;
        while (r.TryReadPacket(out var p))
        {
            n++;
            bytes += p.Data.Length;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(19_999, n);
        Assert.True(bytes > 0);
        Assert.True(allocated < 1024, $"allocated {allocated} bytes for {n} packets");
    }

    private sealed class FailingStream(byte[] data, int failAfter) : MemoryStream(data)
    {
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (Position >= failAfter)
                throw new IOException("simulated disk error");
            return base.Read(buffer, offset, Math.Min(count, failAfter - (int)Position));
        }
    }
}

internal sealed class PktComparer : IEqualityComparer<Pkt>
{
    public static readonly PktComparer Instance = new();

    public bool Equals(Pkt? x, Pkt? y)
        => x != null && y != null && x.Ts == y.Ts && x.LinkType == y.LinkType && x.InterfaceId == y.InterfaceId
           && x.OriginalLength == y.OriginalLength && x.Offset == y.Offset && x.Data.AsSpan().SequenceEqual(y.Data);

    public int GetHashCode(Pkt obj) => obj.Ts.GetHashCode();
}
