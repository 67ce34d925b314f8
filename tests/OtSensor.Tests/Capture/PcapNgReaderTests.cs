using OtSensor.Capture;
using OtSensor.Core;
using static OtSensor.Tests.Capture.CaptureImages;

namespace OtSensor.Tests.Capture;

public class PcapNgReaderTests
{
    private static PcapNgImage Basic(bool bigEndian)
        => new PcapNgImage().Section(bigEndian)
            .Interface(1, 65535)
            .Epb(0, 1_700_000_000_123_456UL, Frame(60, 1))
            .Epb(0, 1_700_000_001_000_000UL, Frame(61, 2), originalLength: 1500)
            .Epb(0, 1_700_000_002_000_001UL, Frame(3, 3));

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PcapNg_EnhancedPacketBlocks_ReadInBothByteOrders(bool bigEndian)
    {
        var img = Basic(bigEndian);
        var (pkts, err, fmt) = ReadHelper.ReadAll(img.ToArray(), "x.pcapng");
        Assert.Null(err);
        Assert.Equal(CaptureFormat.PcapNg, fmt);
        Assert.Equal(3, pkts.Count);
        Assert.Equal(1_700_000_000_123_456_000L, pkts[0].Ts);
        Assert.Equal(1_700_000_002_000_001_000L, pkts[2].Ts);
        Assert.Equal(Frame(60, 1), pkts[0].Data);
        Assert.Equal(Frame(61, 2), pkts[1].Data);
        Assert.Equal(1500, pkts[1].OriginalLength);
        Assert.Equal(Frame(3, 3), pkts[2].Data);
        using var r = new CaptureFileReader(new MemoryStream(img.ToArray()), "epb");
        Assert.True(r.TryReadPacket(out var first));
        Assert.True(first.HasTimestamp);
        Assert.All(pkts, p => Assert.Equal(LinkType.Ethernet, p.LinkType));
        Assert.Equal(img.BlockOffsets.Skip(2).Select(o => (long)o), pkts.Select(p => p.Offset));
    }

    [Fact]
    public void PcapNg_SectionHeaderOnly_ReturnsNoPacketsAndNoError()
    {
        var (pkts, err, fmt) = ReadHelper.ReadAll(new PcapNgImage().Section().ToArray());
        Assert.Empty(pkts);
        Assert.Null(err);
        Assert.Equal(CaptureFormat.PcapNg, fmt);
    }

    [Fact]
    public void PcapNg_SectionHeaderWithOptions_IsAccepted()
    {
        var opts = new ImageWriter(false).U16(4).U16(6).Raw("x86_64"u8).Pad4().U16(0).U16(0).ToArray();
        var img = new PcapNgImage().Section(options: opts).Interface(1).Epb(0, 1, Frame(10, 1));
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        Assert.Single(pkts);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PcapNg_InterfacesWithDifferentLinkTypesAndResolutions_ConvertTimestampsToNanoseconds(bool bigEndian)
    {
        var img = new PcapNgImage().Section(bigEndian)
            .Interface(1)                                   // default 10^-6
            .Interface(101, tsresol: 9)                     // 10^-9
            .Interface(113, tsresol: 0x80 | 20, tsoffset: 1000) // 2^-20 s, +1000 s
            .Interface(276, tsresol: 3, tsoffset: -10)      // ms, -10 s
            .Interface(1, tsresol: 12)                      // ps
            .Epb(0, 5_000_001UL, Frame(10, 0))
            .Epb(1, 5_000_000_001UL, Frame(11, 1))
            .Epb(2, (3UL << 20) | (1UL << 19), Frame(12, 2)) // 3.5 s
            .Epb(3, 1_234UL, Frame(13, 3))
            .Epb(4, 7_000_000_000_123UL, Frame(14, 4));
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        Assert.Equal([0, 1, 2, 3, 4], pkts.Select(p => p.InterfaceId));
        Assert.Equal([LinkType.Ethernet, LinkType.Raw, LinkType.LinuxSll, LinkType.LinuxSll2, LinkType.Ethernet], pkts.Select(p => p.LinkType));
        Assert.Equal(5_000_001_000L, pkts[0].Ts);
        Assert.Equal(5_000_000_001L, pkts[1].Ts);
        Assert.Equal(1003_500_000_000L, pkts[2].Ts);
        Assert.Equal(1_234_000_000L - 10_000_000_000L, pkts[3].Ts);
        Assert.Equal(7_000_000_000L, pkts[4].Ts);
    }

    [Fact]
    public void PcapNg_Pow2Resolution_HandlesFractions()
    {
        var img = new PcapNgImage().Section().Interface(1, tsresol: 0x80 | 32).Epb(0, (10UL << 32) | 0x8000_0000UL, Frame(4, 0));
        var (pkts, _, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Equal(10_500_000_000L, pkts[0].Ts);
    }

    [Fact]
    public void PcapNg_SimplePacketBlock_CapturedIsMinOfOriginalSnaplenAndRoom()
    {
        var img = new PcapNgImage().Section().Interface(1, snapLength: 40)
            .Spb(1500, Frame(40, 1))  // cut by snaplen
            .Spb(17, Frame(17, 2))    // padded to 20 in the block: orig wins
            .Spb(30, Frame(30, 3));
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        Assert.Equal(3, pkts.Count);
        Assert.Equal(1500, pkts[0].OriginalLength);
        Assert.Equal(Frame(40, 1), pkts[0].Data);
        Assert.Equal(Frame(17, 2), pkts[1].Data);
        Assert.Equal(17, pkts[1].OriginalLength);
        Assert.Equal(Frame(30, 3), pkts[2].Data);
        Assert.All(pkts, p => Assert.Equal(0, p.InterfaceId));
        Assert.All(pkts, p => Assert.Equal(0L, p.Ts));
        using var r = new CaptureFileReader(new MemoryStream(img.ToArray()), "spb");
        Assert.True(r.TryReadPacket(out var first));
        Assert.False(first.HasTimestamp);
    }

    [Fact]
    public void PcapNg_SimplePacketBlock_WithSnaplenZero_UsesBlockRoom()
    {
        var img = new PcapNgImage().Section().Interface(1, snapLength: 0).Spb(5000, Frame(100, 1));
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        Assert.Equal(Frame(100, 1), pkts[0].Data);
        Assert.Equal(5000, pkts[0].OriginalLength);
    }

    [Fact]
    public void PcapNg_SimplePacketBlock_WithoutInterface_IsError()
    {
        var img = new PcapNgImage().Section().Spb(10, Frame(10, 1));
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Empty(pkts);
        Assert.NotNull(err);
        Assert.Equal(img.BlockOffsets[1], err.Offset);
    }

    [Fact]
    public void PcapNg_ObsoletePacketBlock_IsRead()
    {
        var img = new PcapNgImage().Section().Interface(1).Interface(101, tsresol: 9)
            .Opb(1, 42, Frame(33, 1), originalLength: 99);
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        var p = Assert.Single(pkts);
        Assert.Equal(1, p.InterfaceId);
        Assert.Equal(LinkType.Raw, p.LinkType);
        Assert.Equal(42L, p.Ts);
        Assert.Equal(99, p.OriginalLength);
        Assert.Equal(Frame(33, 1), p.Data);
    }

    [Fact]
    public void PcapNg_OtherBlocks_AreSkippedByLength()
    {
        var img = new PcapNgImage().Section().Interface(1)
            .Block(4, new byte[] { 1, 0, 8, 0, 10, 0, 0, 1, 0x61, 0x62, 0x63, 0, 0, 0, 0, 0 })  // NRB
            .Epb(0, 1, Frame(10, 1))
            .Block(5, new byte[20])                  // ISB
            .Block(0x0A, new byte[16])               // DSB
            .Block(0x40000BAD, new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 })  // custom
            .Block(0x12345678, [])                   // unknown, minimal
            .Epb(0, 2, Frame(11, 2));
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        Assert.Equal(2, pkts.Count);
        Assert.Equal(Frame(11, 2), pkts[1].Data);
    }

    [Fact]
    public void PcapNg_SkippedBlockLargerThanReadBuffer_IsStreamedOver()
    {
        var img = new PcapNgImage().Section().Interface(1)
            .Epb(0, 1, Frame(10, 1))
            .Block(0x40000BAD, new byte[3 << 20])
            .Epb(0, 2, Frame(11, 2));
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        Assert.Equal(2, pkts.Count);
        Assert.Equal(img.BlockOffsets[4], pkts[1].Offset);
    }

    [Fact]
    public void PcapNg_MultipleSections_ResetInterfacesAndMaySwitchByteOrder()
    {
        var img = new PcapNgImage()
            .Section(false).Interface(1).Interface(101).Epb(1, 1, Frame(10, 1))
            .Section(true).Interface(113, tsresol: 9).Epb(0, 5, Frame(11, 2))
            .Section(false).Interface(276).Epb(0, 7, Frame(12, 3));
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Null(err);
        Assert.Equal([1, 0, 0], pkts.Select(p => p.InterfaceId));
        Assert.Equal([LinkType.Raw, LinkType.LinuxSll, LinkType.LinuxSll2], pkts.Select(p => p.LinkType));
        Assert.Equal([1000L, 5L, 7000L], pkts.Select(p => p.Ts));
    }

    [Fact]
    public void PcapNg_PacketReferencingInterfaceOfPreviousSection_IsError()
    {
        var img = new PcapNgImage()
            .Section().Interface(1).Interface(1).Epb(1, 1, Frame(10, 1))
            .Section().Interface(1).Epb(1, 1, Frame(10, 2));
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Single(pkts);
        Assert.NotNull(err);
        Assert.Equal(img.BlockOffsets[^1], err.Offset);
        Assert.Equal("packet references undefined interface 1 (the section defines 1)", err.Message);
    }

    [Fact]
    public void PcapNg_BadLengths_StopWithError()
    {
        static CaptureError? ErrorOf(PcapNgImage img)
        {
            var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
            Assert.Single(pkts);
            return err;
        }
        PcapNgImage Start() => new PcapNgImage().Section().Interface(1).Epb(0, 1, Frame(10, 1));

        var e = ErrorOf(Start().Block(5, new byte[8], length: 22));
        Assert.Equal("invalid block length 22 (must be a multiple of 4 and at least 12)", e!.Message);
        e = ErrorOf(Start().Block(5, [], length: 8));
        Assert.Equal("invalid block length 8 (must be a multiple of 4 and at least 12)", e!.Message);
        e = ErrorOf(Start().Block(5, new byte[8], trailingLength: 24));
        Assert.Equal("trailing block length 24 does not match the leading length 20", e!.Message);
        e = ErrorOf(Start().Epb(0, 1, Frame(10, 1), capturedLength: 200));
        Assert.Equal("captured length 200 exceeds the room in the block (24 bytes)", e!.Message);
        e = ErrorOf(Start().Block(6, new byte[8]));
        Assert.Equal("enhanced packet block length 20 is below the minimum 32", e!.Message);
        e = ErrorOf(Start().Block(6, new byte[20], length: 0x7FFF_FFF0));
        Assert.Contains("exceeds the maximum", e!.Message);
        var img = Start().Block(6, new byte[20], trailingLength: 0);
        e = ErrorOf(img);
        Assert.Equal(img.BlockOffsets[^1], e!.Offset);
    }

    [Fact]
    public void PcapNg_BadByteOrderMagicOrVersion_IsError()
    {
        var img = new PcapNgImage().Section().Interface(1).Epb(0, 1, Frame(10, 1)).Section(major: 2);
        var (pkts, err, _) = ReadHelper.ReadAll(img.ToArray());
        Assert.Single(pkts);
        Assert.Equal("unsupported pcapng version 2.0", err!.Message);

        byte[] bad = new PcapNgImage().Section().ToArray();
        bad[8] = 0x99;
        (pkts, err, _) = ReadHelper.ReadAll(bad);
        Assert.Empty(pkts);
        Assert.StartsWith("section header block has a bad byte-order magic", err!.Message);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PcapNg_TruncatedAtEveryBytePosition_ReturnsPacketsBeforeTheCutThenErrorAtDamagedBlock(bool bigEndian)
    {
        var img = new PcapNgImage().Section(bigEndian).Interface(1, tsresol: 9)
            .Epb(0, 1, Frame(21, 1))
            .Block(5, new byte[8])
            .Spb(7, Frame(7, 2))
            .Epb(0, 3, Frame(64, 3));
        byte[] full = img.ToArray();
        var starts = img.BlockOffsets.ToList();
        int[] packetBlocks = [2, 4, 5];
        for (int cut = 0; cut < full.Length; cut++)
        {
            byte[] part = full[..cut];
            if (cut < 4)
            {
                Assert.Throws<CaptureFormatException>(() => new CaptureFileReader(new MemoryStream(part), "cut.pcapng"));
                continue;
            }
            var (pkts, err, _) = ReadHelper.ReadAll(part);
            int expected = packetBlocks.Count(i => End(i) <= cut);
            Assert.Equal(expected, pkts.Count);
            if (starts.Contains(cut))
            {
                Assert.Null(err);
                continue;
            }
            int damaged = starts.Last(s => s < cut);
            Assert.NotNull(err);
            Assert.Equal(damaged, err.Offset);
            Assert.StartsWith("truncated record: need ", err.Message);
            Assert.EndsWith($" bytes, file ends after {cut - damaged}", err.Message);
            if (cut - damaged >= 8 && damaged != 0)
                Assert.Equal($"truncated record: need {End(starts.IndexOf(damaged)) - damaged} bytes, file ends after {cut - damaged}", err.Message);
        }

        int End(int blockIndex) => blockIndex + 1 < starts.Count ? starts[blockIndex + 1] : full.Length;
    }
}
