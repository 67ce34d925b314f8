using OtSensor.Core;
using OtSensor.Decoding;
using static OtSensor.Tests.Decoding.Frames;

namespace OtSensor.Tests.Decoding;

public class IpDefragmenterTests
{
    private const long Second = PacketTime.NanosPerSecond;

    /// <summary>The unfragmented IPv4 datagram (UDP 2222 -> 3333, 1200 bytes of data) the fragments below come from.</summary>
    private static byte[] Ipv4Whole(ushort id = 0x4242, string src = "10.0.0.1")
        => Ipv4(17, Udp(2222, 3333, Bytes(1200)), src: src, id: id, options: [0x94, 0x04, 0, 0]); // Router Alert option

    /// <summary>Splits an IPv4 datagram into Ethernet frames carrying fragments of at most <paramref name="size"/> data bytes.</summary>
    private static List<byte[]> Ipv4Fragments(byte[] whole, int size = 400)
    {
        int headerLength = (whole[0] & 0xF) * 4;
        byte[] data = whole[headerLength..];
        byte[] options = whole[20..headerLength];
        ushort id = (ushort)((whole[4] << 8) | whole[5]);
        var src = new System.Net.IPAddress(whole[12..16]).ToString();
        var frames = new List<byte[]>();
        for (int offset = 0; offset < data.Length; offset += size)
        {
            int length = Math.Min(size, data.Length - offset);
            bool more = offset + length < data.Length;
            frames.Add(Eth(0x0800, Ipv4(17, data[offset..(offset + length)], src: src, id: id, moreFragments: more, offsetBytes: offset,
                options: offset == 0 ? options : [])));
        }
        return frames;
    }

    /// <summary>The unfragmented IPv6 packet: Hop-by-Hop, then UDP with 1000 data bytes.</summary>
    private static byte[] Ipv6Whole() => Ipv6(0, Cat(Ext(17), Udp(2222, 3333, Bytes(1000))));

    private static List<byte[]> Ipv6Fragments(uint id = 0xABCDEF, int size = 304)
    {
        byte[] data = Udp(2222, 3333, Bytes(1000));
        var frames = new List<byte[]>();
        for (int offset = 0; offset < data.Length; offset += size)
        {
            int length = Math.Min(size, data.Length - offset);
            bool more = offset + length < data.Length;
            frames.Add(Eth(0x86DD, Ipv6(0, Cat(Ext(44), Frag6(17, offset, more, id), data[offset..(offset + length)]))));
        }
        return frames;
    }

    private static DefragResult Feed(IpDefragmenter defrag, byte[] frame, long ts = 0)
    {
        var p = new DecodedPacket();
        Assert.True(PacketDecoder.Decode(LinkType.Ethernet, frame, ref p));
        Assert.True(p.IsFragment);
        return defrag.Process(p, frame, ts);
    }

    private static DefragResult FeedAll(IpDefragmenter defrag, IEnumerable<byte[]> frames, long ts = 0)
    {
        DefragResult last = DefragResult.NotFragment;
        foreach (byte[] f in frames)
        {
            Assert.NotEqual(DefragResult.Completed, last);
            last = Feed(defrag, f, ts);
        }
        return last;
    }

    [Fact]
    public void NonFragment_IsNotFragment()
    {
        using var defrag = new IpDefragmenter();
        var p = new DecodedPacket();
        byte[] frame = EthIpv4Tcp();
        PacketDecoder.Decode(LinkType.Ethernet, frame, ref p);
        Assert.Equal(DefragResult.NotFragment, defrag.Process(p, frame, 0));
        Assert.Equal(0, defrag.Stats.FragmentsSeen);
    }

    [Fact]
    public void Ipv4_InOrder_CompletesWithTheOriginalDatagram()
    {
        using var defrag = new IpDefragmenter();
        byte[] whole = Ipv4Whole();
        var fragments = Ipv4Fragments(whole);
        Assert.Equal(4, fragments.Count);
        Assert.Equal(DefragResult.Held, Feed(defrag, fragments[0]));
        Assert.Equal(DefragResult.Held, Feed(defrag, fragments[1]));
        Assert.Equal(DefragResult.Held, Feed(defrag, fragments[2]));
        Assert.Equal(DefragResult.Completed, Feed(defrag, fragments[3]));
        Assert.Equal(whole, defrag.CompletedPacket.ToArray()); // header fixed up: length, no MF/offset, checksum recomputed
        Assert.Equal(1, defrag.Stats.DatagramsCompleted);
        Assert.Equal(4, defrag.Stats.FragmentsSeen);
        Assert.Equal(0, defrag.DatagramsInProgress);
        Assert.Equal(0, defrag.BufferedBytes);

        var p = new DecodedPacket();
        Assert.True(PacketDecoder.Decode(LinkType.Raw, defrag.CompletedPacket, ref p, DecodeOptions.VerifyIpv4Checksum));
        Assert.False(p.IsFragment);
        Assert.Equal(TransportLayer.Udp, p.Transport);
        Assert.Equal(3333, p.DstPort);
        Assert.Equal(1200, p.PayloadLength);
    }

    [Fact]
    public void Ipv4_Reversed_Completes()
    {
        using var defrag = new IpDefragmenter();
        byte[] whole = Ipv4Whole();
        var fragments = Ipv4Fragments(whole);
        fragments.Reverse();
        Assert.Equal(DefragResult.Completed, FeedAll(defrag, fragments));
        Assert.Equal(whole, defrag.CompletedPacket.ToArray());
    }

    [Fact]
    public void Ipv4_ShuffledEightByteFragments_Complete()
    {
        using var defrag = new IpDefragmenter();
        byte[] whole = Ipv4Whole();
        var fragments = Ipv4Fragments(whole, size: 8);
        var random = new Random(5);
        var shuffled = fragments.OrderBy(_ => random.Next()).ToList();
        Assert.Equal(DefragResult.Completed, FeedAll(defrag, shuffled));
        Assert.Equal(whole, defrag.CompletedPacket.ToArray());
    }

    [Fact]
    public void Ipv4_Duplicates_AreCountedAndHarmless()
    {
        using var defrag = new IpDefragmenter();
        byte[] whole = Ipv4Whole();
        var f = Ipv4Fragments(whole);
        Assert.Equal(DefragResult.Completed, FeedAll(defrag, [f[1], f[1], f[0], f[2], f[0], f[3]]));
        Assert.Equal(whole, defrag.CompletedPacket.ToArray());
        Assert.Equal(2, defrag.Stats.Duplicates);
        Assert.Equal(0, defrag.Stats.Overlaps);
        Assert.Equal(0, defrag.Stats.OverlapMismatches);
    }

    [Fact]
    public void Ipv4_OverlappingFragmentWithOtherData_FirstDataWins_AndIsCounted()
    {
        using var defrag = new IpDefragmenter();
        byte[] whole = Ipv4Whole();
        byte[] data = whole[24..];
        var f = Ipv4Fragments(whole);
        // A forged fragment covering [200, 600) with other bytes, after [0, 400) and before the rest.
        byte[] forged = Eth(0x0800, Ipv4(17, new byte[400], id: 0x4242, moreFragments: true, offsetBytes: 200));
        Assert.Equal(DefragResult.Held, Feed(defrag, f[0]));
        Assert.Equal(DefragResult.Held, Feed(defrag, forged));
        Assert.Equal(DefragResult.Held, Feed(defrag, f[1]));
        Assert.Equal(DefragResult.Held, Feed(defrag, f[2]));
        Assert.Equal(DefragResult.Completed, Feed(defrag, f[3]));
        byte[] result = defrag.CompletedPacket.ToArray();
        Assert.Equal(whole[..24], result[..24]);
        Assert.Equal(data[..400], result[24..424]); // the first fragment's bytes kept
        Assert.All(result[424..624], b => Assert.Equal(0, b)); // the forged bytes filled [400, 600) first
        Assert.Equal(data[600..], result[624..]);
        Assert.Equal(2, defrag.Stats.Overlaps); // the forged fragment over f0, then f1 over the forged bytes
        Assert.Equal(2, defrag.Stats.OverlapMismatches);
    }

    [Fact]
    public void Ipv4_DifferentIdsSourcesAndProtocols_AreSeparateDatagrams()
    {
        using var defrag = new IpDefragmenter();
        var a = Ipv4Fragments(Ipv4Whole(id: 1));
        var b = Ipv4Fragments(Ipv4Whole(id: 2));
        var c = Ipv4Fragments(Ipv4Whole(id: 1, src: "10.0.0.9"));
        Assert.Equal(DefragResult.Held, Feed(defrag, a[0]));
        Assert.Equal(DefragResult.Held, Feed(defrag, b[0]));
        Assert.Equal(DefragResult.Held, Feed(defrag, c[0]));
        Assert.Equal(3, defrag.DatagramsInProgress);
        Assert.Equal(DefragResult.Completed, FeedAll(defrag, b.Skip(1)));
        Assert.Equal(Ipv4Whole(id: 2), defrag.CompletedPacket.ToArray());
        Assert.Equal(2, defrag.DatagramsInProgress);
    }

    [Fact]
    public void Ipv4_TimedOutDatagram_IsDroppedByExpire()
    {
        using var defrag = new IpDefragmenter(new DefragOptions { TimeoutNs = 5 * Second });
        var f = Ipv4Fragments(Ipv4Whole());
        Assert.Equal(DefragResult.Held, Feed(defrag, f[0], ts: 100 * Second));
        defrag.Expire(104 * Second);
        Assert.Equal(1, defrag.DatagramsInProgress);
        defrag.Expire(106 * Second);
        Assert.Equal(0, defrag.DatagramsInProgress);
        Assert.Equal(1, defrag.Stats.TimedOut);
        Assert.Equal(0, defrag.BufferedBytes);
        // The rest arrives too late: it cannot complete without the first fragment.
        Assert.Equal(DefragResult.Held, FeedAll(defrag, f.Skip(1), 107 * Second));
    }

    [Fact]
    public void Ipv4_FragmentOfAStaleDatagram_StartsAFreshOne()
    {
        using var defrag = new IpDefragmenter(new DefragOptions { TimeoutNs = 5 * Second });
        var f = Ipv4Fragments(Ipv4Whole());
        Feed(defrag, f[1], ts: 0);
        Assert.Equal(DefragResult.Held, Feed(defrag, f[0], ts: 10 * Second));
        Assert.Equal(1, defrag.Stats.TimedOut);
        Assert.Equal(DefragResult.Held, Feed(defrag, f[2], ts: 10 * Second));
        Assert.Equal(DefragResult.Held, Feed(defrag, f[3], ts: 10 * Second)); // f[1] was lost with the stale datagram
        Assert.Equal(DefragResult.Completed, Feed(defrag, f[1], ts: 11 * Second));
    }

    [Fact]
    public void Ipv4_MaxDatagrams_DropsNewDatagramsAndCountsThem()
    {
        using var defrag = new IpDefragmenter(new DefragOptions { MaxDatagrams = 2 });
        Assert.Equal(DefragResult.Held, Feed(defrag, Ipv4Fragments(Ipv4Whole(id: 1))[0]));
        Assert.Equal(DefragResult.Held, Feed(defrag, Ipv4Fragments(Ipv4Whole(id: 2))[0]));
        Assert.Equal(DefragResult.Dropped, Feed(defrag, Ipv4Fragments(Ipv4Whole(id: 3))[0]));
        Assert.Equal(1, defrag.Stats.DroppedForBounds);
        Assert.Equal(2, defrag.DatagramsInProgress);
        // Existing datagrams still progress.
        Assert.Equal(DefragResult.Completed, FeedAll(defrag, Ipv4Fragments(Ipv4Whole(id: 2)).Skip(1)));
    }

    [Fact]
    public void Ipv4_MaxDatagrams_ExpiresStaleOnesBeforeDropping()
    {
        using var defrag = new IpDefragmenter(new DefragOptions { MaxDatagrams = 1, TimeoutNs = Second });
        Feed(defrag, Ipv4Fragments(Ipv4Whole(id: 1))[0], ts: 0);
        Assert.Equal(DefragResult.Held, Feed(defrag, Ipv4Fragments(Ipv4Whole(id: 2))[0], ts: 2 * Second));
        Assert.Equal(1, defrag.Stats.TimedOut);
        Assert.Equal(0, defrag.Stats.DroppedForBounds);
    }

    [Fact]
    public void Ipv4_MaxBufferedBytes_DropsTheDatagram()
    {
        using var defrag = new IpDefragmenter(new DefragOptions { MaxBufferedBytes = 1024 });
        var f = Ipv4Fragments(Ipv4Whole());
        Assert.Equal(DefragResult.Held, Feed(defrag, f[0]));
        Assert.Equal(DefragResult.Dropped, Feed(defrag, f[3])); // needs a buffer of 1208+ bytes
        Assert.Equal(1, defrag.Stats.DroppedForBounds);
        Assert.Equal(0, defrag.DatagramsInProgress);
        Assert.Equal(0, defrag.BufferedBytes);
    }

    [Fact]
    public void Ipv4_DatagramBeyond65535Bytes_IsDropped()
    {
        using var defrag = new IpDefragmenter();
        Assert.Equal(DefragResult.Held, Feed(defrag, Eth(0x0800, Ipv4(17, Bytes(1480), id: 9, moreFragments: true))));
        // A fragment ending at 65520 behind a 24-byte header cannot fit 65535 bytes: the decoder flags it, the defragmenter rejects it.
        var p = new DecodedPacket();
        byte[] last = Eth(0x0800, Ipv4(17, Bytes(8), id: 9, offsetBytes: 65512, options: [1, 1, 1, 1]));
        PacketDecoder.Decode(LinkType.Ethernet, last, ref p);
        Assert.Equal(DecodeError.BadFragment, p.Error);
        Assert.Equal(DefragResult.Dropped, defrag.Process(p, last, 0));
        Assert.Equal(1, defrag.Stats.Invalid);

        // A last fragment that fits its own 20-byte header but not the first fragment's 24-byte header.
        using var defrag2 = new IpDefragmenter();
        byte[] first = Eth(0x0800, Ipv4(17, Bytes(8), id: 10, moreFragments: true, options: [1, 1, 1, 1]));
        Assert.Equal(DefragResult.Held, Feed(defrag2, first));
        var middle = new List<byte[]>();
        for (int offset = 8; offset < 65504; offset += 1480)
            middle.Add(Eth(0x0800, Ipv4(17, Bytes(Math.Min(1480, 65504 - offset)), id: 10, moreFragments: true, offsetBytes: offset)));
        Assert.Equal(DefragResult.Held, FeedAll(defrag2, middle));
        Assert.Equal(DefragResult.Dropped, Feed(defrag2, Eth(0x0800, Ipv4(17, Bytes(8), id: 10, offsetBytes: 65504))));
        Assert.Equal(1, defrag2.Stats.DroppedForBounds);
        Assert.Equal(0, defrag2.BufferedBytes);
    }

    [Fact]
    public void Ipv4_DataBeyondTheLastFragmentsEnd_IsInvalid()
    {
        using var defrag = new IpDefragmenter();
        var f = Ipv4Fragments(Ipv4Whole());
        Feed(defrag, f[3]); // ends at 1208
        Assert.Equal(DefragResult.Dropped, Feed(defrag, Eth(0x0800, Ipv4(17, Bytes(16), id: 0x4242, moreFragments: true, offsetBytes: 1200))));
        Assert.Equal(DefragResult.Dropped, Feed(defrag, Eth(0x0800, Ipv4(17, Bytes(8), id: 0x4242, offsetBytes: 1600))));
        Assert.Equal(2, defrag.Stats.Invalid);
        Assert.Equal(DefragResult.Completed, FeedAll(defrag, f.Take(3)));
    }

    [Fact]
    public void Ipv4_FragmentCutBySnapLength_IsInvalid()
    {
        using var defrag = new IpDefragmenter();
        byte[] frame = Ipv4Fragments(Ipv4Whole())[0][..200];
        var p = new DecodedPacket();
        PacketDecoder.Decode(LinkType.Ethernet, frame, ref p);
        Assert.True(p.L3Truncated);
        Assert.Equal(DefragResult.Dropped, defrag.Process(p, frame, 0));
        Assert.Equal(1, defrag.Stats.Invalid);
    }

    [Fact]
    public void Ipv4_ManyDatagrams_ReuseBuffers_AndReturnThemAll()
    {
        using var defrag = new IpDefragmenter();
        for (ushort id = 0; id < 200; id++)
        {
            byte[] whole = Ipv4Whole(id);
            Assert.Equal(DefragResult.Completed, FeedAll(defrag, Ipv4Fragments(whole, 64)));
            Assert.Equal(whole, defrag.CompletedPacket.ToArray());
        }
        Assert.Equal(200, defrag.Stats.DatagramsCompleted);
        Assert.Equal(0, defrag.BufferedBytes);
    }

    [Fact]
    public void Ipv6_InOrder_CompletesWithFragmentHeaderRemoved()
    {
        using var defrag = new IpDefragmenter();
        var f = Ipv6Fragments();
        Assert.Equal(4, f.Count);
        Assert.Equal(DefragResult.Completed, FeedAll(defrag, f));
        Assert.Equal(Ipv6Whole(), defrag.CompletedPacket.ToArray());
        var p = new DecodedPacket();
        Assert.True(PacketDecoder.Decode(LinkType.Raw, defrag.CompletedPacket, ref p));
        Assert.Equal(TransportLayer.Udp, p.Transport);
        Assert.Equal(1000, p.PayloadLength);
    }

    [Fact]
    public void Ipv6_ReversedAndDuplicated_Completes()
    {
        using var defrag = new IpDefragmenter();
        var f = Ipv6Fragments();
        Assert.Equal(DefragResult.Completed, FeedAll(defrag, [f[3], f[2], f[2], f[1], f[3], f[0]]));
        Assert.Equal(Ipv6Whole(), defrag.CompletedPacket.ToArray());
        Assert.Equal(2, defrag.Stats.Duplicates);
    }

    [Fact]
    public void Ipv6_FragmentHeaderRightAfterFixedHeader_PatchesTheFixedHeadersNextHeader()
    {
        using var defrag = new IpDefragmenter();
        byte[] data = Tcp(1, 502, Bytes(100));
        byte[] f0 = Eth(0x86DD, Ipv6(44, Cat(Frag6(6, 0, true, 1), data[..64])));
        byte[] f1 = Eth(0x86DD, Ipv6(44, Cat(Frag6(6, 64, false, 1), data[64..])));
        Assert.Equal(DefragResult.Held, Feed(defrag, f1));
        Assert.Equal(DefragResult.Completed, Feed(defrag, f0));
        Assert.Equal(Ipv6(6, data), defrag.CompletedPacket.ToArray());
    }

    [Fact]
    public void Ipv6_OverlappingFragments_AreCounted()
    {
        using var defrag = new IpDefragmenter();
        var f = Ipv6Fragments();
        byte[] overlapping = Eth(0x86DD, Ipv6(0, Cat(Ext(44), Frag6(17, 296, true, 0xABCDEF), new byte[16])));
        FeedAll(defrag, [f[0], overlapping]);
        Assert.Equal(DefragResult.Completed, FeedAll(defrag, f.Skip(1)));
        Assert.Equal(2, defrag.Stats.Overlaps);
        Assert.Equal(2, defrag.Stats.OverlapMismatches);
        byte[] result = defrag.CompletedPacket.ToArray();
        byte[] whole = Ipv6Whole();
        Assert.Equal(whole[..(48 + 296)], result[..(48 + 296)]);
        Assert.All(result[(48 + 304)..(48 + 312)], b => Assert.Equal(0, b));
    }

    [Fact]
    public void Ipv6_TimesOut()
    {
        using var defrag = new IpDefragmenter(new DefragOptions { TimeoutNs = Second });
        Feed(defrag, Ipv6Fragments()[0], ts: 0);
        defrag.Expire(2 * Second);
        Assert.Equal(1, defrag.Stats.TimedOut);
        Assert.Equal(0, defrag.DatagramsInProgress);
    }

    [Fact]
    public void Ipv6_DifferentIds_AreSeparate_AndDoNotMixWithIpv4()
    {
        using var defrag = new IpDefragmenter();
        Feed(defrag, Ipv6Fragments(id: 1)[0]);
        Feed(defrag, Ipv6Fragments(id: 2)[0]);
        Feed(defrag, Ipv4Fragments(Ipv4Whole(id: 1))[0]);
        Assert.Equal(3, defrag.DatagramsInProgress);
        Assert.Equal(DefragResult.Completed, FeedAll(defrag, Ipv6Fragments(id: 2).Skip(1)));
        Assert.Equal(Ipv6Whole(), defrag.CompletedPacket.ToArray());
    }

    [Fact]
    public void Ipv6_PayloadBeyond65535_IsDropped()
    {
        using var defrag = new IpDefragmenter();
        // With an 8-byte Hop-by-Hop header, data may end at 65527 at most.
        Assert.Equal(DefragResult.Held, Feed(defrag, Eth(0x86DD, Ipv6(0, Cat(Ext(44), Frag6(17, 0, true, 3), Bytes(8))))));
        byte[] last = Eth(0x86DD, Ipv6(0, Cat(Ext(44), Frag6(17, 65520, false, 3), Bytes(8))));
        var p = new DecodedPacket();
        PacketDecoder.Decode(LinkType.Ethernet, last, ref p);
        Assert.Equal(DecodeError.BadFragment, p.Error);
        Assert.Equal(DefragResult.Dropped, defrag.Process(p, last, 0));
    }

    [Fact]
    public void Process_AllocatesNothingPerFragment_OnceWarm()
    {
        using var defrag = new IpDefragmenter();
        var v4 = Ipv4Fragments(Ipv4Whole(), 96);
        var v6 = Ipv6Fragments();
        FeedAll(defrag, v4);
        FeedAll(defrag, v6);
        var decoded4 = v4.Select(f => { var p = new DecodedPacket(); PacketDecoder.Decode(LinkType.Ethernet, f, ref p); return p; }).ToArray();
        var decoded6 = v6.Select(f => { var p = new DecodedPacket(); PacketDecoder.Decode(LinkType.Ethernet, f, ref p); return p; }).ToArray();
        long before = GC.GetAllocatedBytesForCurrentThread();
        int completed = 0;
        for (int round = 0; round < 50; round++)
        {
            for (int i = 0; i < decoded4.Length; i++)
                completed += defrag.Process(decoded4[i], v4[i], round) == DefragResult.Completed ? 1 : 0;
            for (int i = 0; i < decoded6.Length; i++)
                completed += defrag.Process(decoded6[i], v6[i], round) == DefragResult.Completed ? 1 : 0;
        }
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(100, completed);
        // Nothing per fragment; a few KB may come from ArrayPool refilling buckets a parallel test's GC trimmed.
        Assert.True(after - before < 16 * 1024, $"allocated {after - before} bytes for 100 datagrams");
    }

    [Fact]
    public void ScapyIpv4Fragments_ReassembleToScapysOriginalDatagram()
    {
        // scapy: fragment(IP(src=192.168.0.5,dst=192.168.0.6,id=777)/UDP(1111,47808)/("A"*40+"B"*40), fragsize=48), sent reversed
        byte[] f0 = Hex("000000000002000000000001080045000044030920004011d644c0a80005c0a800060457bac00058788441414141414141414141414141414141414141414141414141414141414141414141414141414141");
        byte[] f1 = Hex("00000000000200000000000108004500003c030900064011f646c0a80005c0a8000642424242424242424242424242424242424242424242424242424242424242424242424242424242");
        byte[] whole = Hex("4500006c030900004011f61cc0a80005c0a800060457bac0005878844141414141414141414141414141414141414141414141414141414141414141414141414141414142424242424242424242424242424242424242424242424242424242424242424242424242424242");
        using var defrag = new IpDefragmenter();
        Assert.Equal(DefragResult.Held, Feed(defrag, f1));
        Assert.Equal(DefragResult.Completed, Feed(defrag, f0));
        Assert.Equal(whole, defrag.CompletedPacket.ToArray());
    }

    [Fact]
    public void ScapyIpv6Fragments_ReassembleToScapysOriginalPacket()
    {
        // scapy: fragment6(IPv6(src=fd00::5,dst=fd00::6)/IPv6ExtHdrFragment(id=0x01020304)/UDP(1111,5683)/("C"*60+"D"*60), 120)
        byte[] f0 = Hex("00000000000200000000000186dd6000000000502c40fd000000000000000000000000000005fd0000000000000000000000000000061100000101020304045716330080087643434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343434344444444");
        byte[] f1 = Hex("00000000000200000000000186dd6000000000402c40fd000000000000000000000000000005fd00000000000000000000000000000611000048010203044444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444");
        byte[] whole = Hex("6000000000801140fd000000000000000000000000000005fd0000000000000000000000000000060457163300800876434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343434343444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444444");
        using var defrag = new IpDefragmenter();
        Assert.Equal(DefragResult.Held, Feed(defrag, f0));
        Assert.Equal(DefragResult.Completed, Feed(defrag, f1));
        Assert.Equal(whole, defrag.CompletedPacket.ToArray());
    }
}
