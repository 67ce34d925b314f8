using OtSensor.Core;
using OtSensor.Decoding;
using static OtSensor.Tests.Decoding.Frames;

namespace OtSensor.Tests.Decoding;

public class PacketDecoderRobustnessTests
{
    private static readonly DecodeError[] TruncationKinds =
    [
        DecodeError.TruncatedLinkHeader, DecodeError.TruncatedVlan, DecodeError.TruncatedArp, DecodeError.TruncatedIpv4,
        DecodeError.TruncatedIpv6, DecodeError.TruncatedTcp, DecodeError.TruncatedUdp,
    ];

    public static TheoryData<string, LinkType, byte[]> ValidFrames()
    {
        byte[] sll = Cat(U16(0), U16(1), U16(6), MacA, [0, 0]);
        byte[] sll2Header = Cat(U16(0x0800), U16(0), U32(1), U16(1), [0, 6], MacA, [0, 0]);
        byte[] tcpWithOptions = Tcp(40000, 502, Bytes(20), options: [2, 4, 5, 0xB4, 1, 1, 4, 2]);
        return new TheoryData<string, LinkType, byte[]>
        {
            { "eth-ipv4-tcp", LinkType.Ethernet, EthIpv4Tcp() },
            { "eth-qinq-ipv4opts-tcpopts", LinkType.Ethernet,
                EthVlan([(0x88A8, 10), (0x8100, 20)], 0x0800, Ipv4(6, tcpWithOptions, options: [1, 1, 1, 0])) },
            { "eth-arp", LinkType.Ethernet, Eth(0x0806, Arp(1, MacA, "10.0.0.1", MacB, "10.0.0.2")) },
            { "eth-ipv6-ext-udp", LinkType.Ethernet,
                Eth(0x86DD, Ipv6(0, Cat(Ext(43), Ext(60, 16), Ext(51), Ah(135, 12), Ext(139), Ext(140), Ext(17), Udp(1, 2, Bytes(9))))) },
            { "eth-ipv6-frag-first", LinkType.Ethernet, Eth(0x86DD, Ipv6(60, Cat(Ext(44), Frag6(17, 0, true, 5), Udp(1, 2, Bytes(40))[..32]))) },
            { "eth-ipv4-frag-later", LinkType.Ethernet, Eth(0x0800, Ipv4(17, Bytes(24), moreFragments: true, offsetBytes: 8)) },
            { "sll-ipv4-udp", LinkType.LinuxSll, Cat(sll, U16(0x0800), Ipv4(17, Udp(5, 6, Bytes(11)))) },
            { "sll2-ipv4-tcp", LinkType.LinuxSll2, Cat(sll2Header, Ipv4(6, tcpWithOptions)) },
            { "null-ipv6-tcp", LinkType.Null, Cat([30, 0, 0, 0], Ipv6(6, tcpWithOptions)) },
            { "loop-ipv4-tcp", LinkType.Loop, Cat([0, 0, 0, 2], Ipv4(6, tcpWithOptions)) },
            { "raw-ipv4-udp", LinkType.Raw, Ipv4(17, Udp(5, 6, Bytes(3))) },
            { "ipv4-tcp", LinkType.Ipv4, Ipv4(6, tcpWithOptions) },
            { "ipv6-udp", LinkType.Ipv6, Ipv6(17, Udp(5, 6, Bytes(3))) },
        };
    }

    [Theory]
    [MemberData(nameof(ValidFrames))]
    public void EveryPrefixOfAValidFrame_DecodesWithoutThrowing_AndFailsOnlyWithTruncationKinds(string name, LinkType linkType, byte[] frame)
    {
        var p = new DecodedPacket();
        Assert.True(PacketDecoder.Decode(linkType, frame, ref p), name);
        for (int length = 0; length <= frame.Length; length++)
        {
            PacketDecoder.Decode(linkType, frame.AsSpan(0, length), ref p);
            if (p.Error != DecodeError.None)
                Assert.Contains(p.Error, TruncationKinds);
            Assert.InRange(p.PayloadOffset + p.PayloadLength, 0, length);
            Assert.InRange(p.L3Offset + p.L3Length, 0, length);
        }
    }

    [Theory]
    [MemberData(nameof(ValidFrames))]
    public void RandomlyCorruptedFrames_NeverThrow_AndKeepOffsetsInsideTheFrame(string name, LinkType linkType, byte[] frame)
    {
        var random = new Random(name.Length * 7919);
        var p = new DecodedPacket();
        var copy = new byte[frame.Length];
        for (int round = 0; round < 2000; round++)
        {
            frame.CopyTo(copy, 0);
            int flips = random.Next(1, 4);
            for (int i = 0; i < flips; i++)
                copy[random.Next(copy.Length)] = (byte)random.Next(256);
            int length = random.Next(copy.Length + 1);
            PacketDecoder.Decode(linkType, copy.AsSpan(0, length), ref p, DecodeOptions.VerifyIpv4Checksum);
            Assert.InRange(p.PayloadOffset + p.PayloadLength, 0, length);
            Assert.InRange(p.PayloadLength, 0, length);
            Assert.InRange(p.L3Offset + p.L3Length, 0, length);
            if (p.IsFragment)
                Assert.InRange(p.FragmentDataOffset, p.L3Offset, p.L3Offset + p.L3Length);
        }
    }

    [Fact]
    public void EveryDecodeErrorKind_IsProducedBySomeFrame()
    {
        byte[] eth = EthIpv4Tcp();
        var cases = new List<(DecodeError Expected, LinkType Link, byte[] Frame, DecodeOptions Options)>
        {
            (DecodeError.None, LinkType.Ethernet, eth, DecodeOptions.None),
            (DecodeError.UnsupportedLinkType, (LinkType)105, eth, DecodeOptions.None),
            (DecodeError.TruncatedLinkHeader, LinkType.Ethernet, eth[..10], DecodeOptions.None),
            (DecodeError.TruncatedVlan, LinkType.Ethernet, EthVlan([(0x8100, 1)], 0x0800, [])[..15], DecodeOptions.None),
            (DecodeError.TooManyVlanTags, LinkType.Ethernet,
                EthVlan(Enumerable.Repeat(((ushort)0x8100, (ushort)1), 9).ToArray(), 0x0800, []), DecodeOptions.None),
            (DecodeError.TruncatedArp, LinkType.Ethernet, Eth(0x0806, [0, 1, 8, 0, 6]), DecodeOptions.None),
            (DecodeError.BadIpVersion, LinkType.Raw, [0x15, 0, 0, 0], DecodeOptions.None),
            (DecodeError.TruncatedIpv4, LinkType.Ethernet, eth[..30], DecodeOptions.None),
            (DecodeError.BadIpv4Version, LinkType.Ipv4, Ipv6(59, []), DecodeOptions.None),
            (DecodeError.BadIpv4HeaderLength, LinkType.Raw, Cat([0x43], Ipv4(6, [])[1..]), DecodeOptions.None),
            (DecodeError.BadIpv4TotalLength, LinkType.Raw, Ipv4(6, [], totalLength: 10), DecodeOptions.None),
            (DecodeError.BadIpv4Checksum, LinkType.Raw, Cat(Ipv4(6, [])[..10], [0, 0], Ipv4(6, [])[12..]), DecodeOptions.VerifyIpv4Checksum),
            (DecodeError.TruncatedIpv6, LinkType.Ipv6, Ipv6(59, [])[..39], DecodeOptions.None),
            (DecodeError.BadIpv6Version, LinkType.Ipv6, Ipv4(6, new byte[40]), DecodeOptions.None),
            (DecodeError.BadIpv6ExtensionHeader, LinkType.Ipv6, Ipv6(60, Ext(59, 16), payloadLength: 8), DecodeOptions.None),
            (DecodeError.TruncatedTcp, LinkType.Raw, Ipv4(6, new byte[10]), DecodeOptions.None),
            (DecodeError.BadTcpDataOffset, LinkType.Raw, Ipv4(6, Tcp(1, 2, [], dataOffsetWords: 2)), DecodeOptions.None),
            (DecodeError.TruncatedUdp, LinkType.Raw, Ipv6(17, new byte[4])[..44], DecodeOptions.None),
            (DecodeError.BadUdpLength, LinkType.Raw, Ipv6(17, Udp(1, 2, [], length: 3)), DecodeOptions.None),
            (DecodeError.BadFragment, LinkType.Raw, Ipv4(17, Bytes(12), moreFragments: true), DecodeOptions.None),
        };
        var seen = new HashSet<DecodeError>();
        foreach (var c in cases)
        {
            var p = new DecodedPacket();
            PacketDecoder.Decode(c.Link, c.Frame, ref p, c.Options);
            Assert.Equal(c.Expected, p.Error);
            seen.Add(p.Error);
        }
        var missing = Enum.GetValues<DecodeError>().Where(e => !seen.Contains(e)).ToList();
        Assert.Empty(missing);
    }

    [Fact]
    public void Decode_AllocatesNothingPerPacket()
    {
        byte[][] frames =
        [
            EthIpv4Tcp(),
            EthVlan([(0x88A8, 1), (0x8100, 2)], 0x86DD, Ipv6(0, Cat(Ext(60), Ext(17), Udp(1, 2, Bytes(30))))),
            Eth(0x0806, Arp(1, MacA, "10.0.0.1", MacB, "10.0.0.2")),
        ];
        var p = new DecodedPacket();
        foreach (byte[] f in frames)
            PacketDecoder.Decode(LinkType.Ethernet, f, ref p);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
            PacketDecoder.Decode(LinkType.Ethernet, frames[i % frames.Length], ref p);
        long after = GC.GetAllocatedBytesForCurrentThread();
        Assert.Equal(0, after - before);
    }
}
