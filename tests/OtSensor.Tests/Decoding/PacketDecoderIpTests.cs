using OtSensor.Core;
using OtSensor.Decoding;
using static OtSensor.Tests.Decoding.Frames;

namespace OtSensor.Tests.Decoding;

public class PacketDecoderIpTests
{
    private static DecodedPacket Decode(byte[] frame, DecodeError expected = DecodeError.None, LinkType linkType = LinkType.Ethernet,
        DecodeOptions options = DecodeOptions.None)
    {
        var p = new DecodedPacket();
        bool ok = PacketDecoder.Decode(linkType, frame, ref p, options);
        Assert.Equal(expected, p.Error);
        Assert.Equal(expected == DecodeError.None, ok);
        return p;
    }

    // ---------------------------------------------------------------- IPv4

    [Fact]
    public void Ipv4_WithOptions_SkipsThemToReachTcp()
    {
        byte[] options = [0x07, 0x07, 0x04, 1, 2, 3, 4, 0x00]; // Record Route + End of list
        var p = Decode(Eth(0x0800, Ipv4(6, Tcp(1, 502, Bytes(4)), options: options, ttl: 17)));
        Assert.Equal(17, p.Ttl);
        Assert.Equal(6, p.IpProtocol);
        Assert.Equal(14 + 28, p.L4Offset);
        Assert.Equal(14 + 28 + 20, p.PayloadOffset);
        Assert.Equal(4, p.PayloadLength);
        Assert.Equal(14 + 28, p.FragmentDataOffset);
    }

    [Fact]
    public void Ipv4_EthernetPadding_IsNotPartOfThePayload()
    {
        byte[] frame = Cat(Eth(0x0800, Ipv4(6, Tcp(1, 502, []))), new byte[6]); // 54 bytes padded to 60
        var p = Decode(frame);
        Assert.Equal(40, p.L3Length);
        Assert.Equal(0, p.PayloadLength);
        Assert.False(p.PayloadTruncated);
        Assert.False(p.L3Truncated);
    }

    [Fact]
    public void Ipv4_UdpWithEthernetPadding_UsesUdpLength()
    {
        byte[] frame = Cat(Eth(0x0800, Ipv4(17, Udp(1, 161, Bytes(2)))), new byte[16]);
        var p = Decode(frame);
        Assert.Equal(2, p.PayloadLength);
    }

    [Fact]
    public void Ipv4_TotalLengthBeyondCapture_ClipsAndFlagsTruncation()
    {
        byte[] frame = Eth(0x0800, Ipv4(6, Tcp(1, 502, Bytes(100))))[..(14 + 40 + 30)];
        var p = Decode(frame);
        Assert.Equal(70, p.L3Length);
        Assert.True(p.L3Truncated);
        Assert.True(p.PayloadTruncated);
        Assert.Equal(30, p.PayloadLength);
    }

    [Fact]
    public void Ipv4_TotalLengthZero_IsTakenAsCapturedLength_ForSegmentationOffload()
    {
        var p = Decode(Eth(0x0800, Ipv4(6, Tcp(1, 502, Bytes(3000)), totalLength: 0)));
        Assert.Equal(3040, p.L3Length);
        Assert.Equal(3000, p.PayloadLength);
        Assert.False(p.PayloadTruncated);
    }

    [Fact]
    public void Ipv4_TotalLengthBelowHeaderLength_IsBadIpv4TotalLength_WithAddressesKept()
    {
        var p = Decode(Eth(0x0800, Ipv4(6, Tcp(1, 502, []), totalLength: 19)), DecodeError.BadIpv4TotalLength);
        Assert.Equal(NetworkLayer.IPv4, p.Network);
        Assert.Equal(IpAddr.Parse("10.0.0.1"), p.SrcIp);
        Assert.True(p.HasEthernet);
    }

    [Fact]
    public void Ipv4_WrongVersion_IsBadIpv4Version()
    {
        byte[] frame = EthIpv4Tcp();
        frame[14] = 0x65;
        Decode(frame, DecodeError.BadIpv4Version);
    }

    [Fact]
    public void Ipv4_HeaderLengthBelowFive_IsBadIpv4HeaderLength()
    {
        byte[] frame = EthIpv4Tcp();
        frame[14] = 0x44;
        Decode(frame, DecodeError.BadIpv4HeaderLength);
    }

    [Fact]
    public void Ipv4_HeaderLengthBeyondCapture_IsTruncatedIpv4()
    {
        byte[] frame = Eth(0x0800, Ipv4(6, [], options: new byte[20]))[..(14 + 30)];
        Decode(frame, DecodeError.TruncatedIpv4);
    }

    [Fact]
    public void Ipv4_BadChecksum_IsIgnoredByDefault()
    {
        byte[] frame = EthIpv4Tcp();
        frame[14 + 10] ^= 0xFF;
        Decode(frame);
    }

    [Fact]
    public void Ipv4_BadChecksum_IsReportedWhenVerificationIsOn()
    {
        byte[] frame = EthIpv4Tcp();
        Decode(frame, options: DecodeOptions.VerifyIpv4Checksum);
        frame[14 + 10] ^= 0xFF;
        var p = Decode(frame, DecodeError.BadIpv4Checksum, options: DecodeOptions.VerifyIpv4Checksum);
        Assert.Equal(IpAddr.Parse("10.0.0.2"), p.DstIp);
        Assert.Equal(TransportLayer.None, p.Transport);
    }

    [Fact]
    public void Ipv4_UnknownProtocol_IsTransportOther()
    {
        var p = Decode(Eth(0x0800, Ipv4(1, [8, 0, 0, 0, 0, 0, 0, 0]))); // ICMP echo
        Assert.Equal(TransportLayer.Other, p.Transport);
        Assert.Equal(1, p.IpProtocol);
        Assert.Equal(34, p.L4Offset);
    }

    [Fact]
    public void Ipv4_FirstFragment_IsFragment_AndDecodesL4BestEffort()
    {
        byte[] udp = Udp(1000, 2000, Bytes(1000));
        var p = Decode(Eth(0x0800, Ipv4(17, udp[..512], id: 0x1234, moreFragments: true)));
        Assert.True(p.IsFragment);
        Assert.True(p.MoreFragments);
        Assert.Equal(0, p.FragmentOffset);
        Assert.Equal(0x1234u, p.FragmentId);
        Assert.Equal(34, p.FragmentDataOffset);
        Assert.Equal(TransportLayer.Udp, p.Transport); // UDP length 1008 exceeds the fragment: not an error here
        Assert.Equal(2000, p.DstPort);
        Assert.Equal(504, p.PayloadLength);
    }

    [Fact]
    public void Ipv4_TinyFirstFragment_LeavesTransportNoneWithoutError()
    {
        byte[] tcp = Tcp(1000, 502, Bytes(100));
        var p = Decode(Eth(0x0800, Ipv4(6, tcp[..8], moreFragments: true)));
        Assert.True(p.IsFragment);
        Assert.Equal(TransportLayer.None, p.Transport);
        Assert.Equal(0, p.SrcPort);
        Assert.Equal(6, p.IpProtocol);
    }

    [Fact]
    public void Ipv4_NonFirstFragment_DoesNotDecodeL4()
    {
        var p = Decode(Eth(0x0800, Ipv4(6, Bytes(64), moreFragments: false, offsetBytes: 1480)));
        Assert.True(p.IsFragment);
        Assert.False(p.MoreFragments);
        Assert.Equal(1480, p.FragmentOffset);
        Assert.Equal(6, p.IpProtocol);
        Assert.Equal(TransportLayer.None, p.Transport);
        Assert.Equal(0, p.SrcPort);
    }

    [Fact]
    public void Ipv4_FragmentEndingBeyond65535_IsBadFragment()
    {
        var p = Decode(Eth(0x0800, Ipv4(17, Bytes(16), offsetBytes: 65520)), DecodeError.BadFragment);
        Assert.True(p.IsFragment);
        Assert.Equal(65520, p.FragmentOffset);
    }

    [Fact]
    public void Ipv4_NonLastFragmentNotMultipleOf8_IsBadFragment()
        => Decode(Eth(0x0800, Ipv4(17, Bytes(13), moreFragments: true, offsetBytes: 8)), DecodeError.BadFragment);

    [Fact]
    public void Ipv6_NonLastFragmentNotMultipleOf8_IsBadFragment()
        => Decode(Eth(0x86DD, Ipv6(44, Cat(Frag6(17, 8, true, 1), Bytes(12)))), DecodeError.BadFragment);

    [Fact]
    public void Ipv4_DontFragmentAlone_IsNotAFragment()
    {
        var p = Decode(Eth(0x0800, Ipv4(6, Tcp(1, 2, []), dontFragment: true)));
        Assert.False(p.IsFragment);
    }

    // ---------------------------------------------------------------- IPv6

    [Theory]
    [InlineData(0)]
    [InlineData(43)]
    [InlineData(60)]
    [InlineData(135)]
    [InlineData(139)]
    [InlineData(140)]
    public void Ipv6_EachLengthIn8ByteUnitsExtensionHeader_IsSkipped(int headerType)
    {
        byte[] ext = Ext(6, 16);
        var p = Decode(Eth(0x86DD, Ipv6((byte)headerType, Cat(ext, Tcp(1, 502, Bytes(7))))));
        Assert.Equal(6, p.IpProtocol);
        Assert.Equal(14 + 40 + 16, p.L4Offset);
        Assert.Equal(502, p.DstPort);
        Assert.Equal(7, p.PayloadLength);
    }

    [Fact]
    public void Ipv6_AuthenticationHeader_LengthIn4ByteUnitsPlusTwo()
    {
        var p = Decode(Eth(0x86DD, Ipv6(51, Cat(Ah(17, 24), Udp(1, 2, Bytes(5))))));
        Assert.Equal(14 + 40 + 24, p.L4Offset);
        Assert.Equal(5, p.PayloadLength);
    }

    [Fact]
    public void Ipv6_ChainOfSeveralHeaders_ReachesTransport()
    {
        byte[] payload = Cat(Ext(43), Ext(44), Frag6(60, 0, false, 9), Ext(51, 8), Ah(17, 12), Udp(7, 8, Bytes(1)));
        var p = Decode(Eth(0x86DD, Ipv6(0, payload)));
        Assert.False(p.IsFragment); // atomic fragment
        Assert.Equal(TransportLayer.Udp, p.Transport);
        Assert.Equal(14 + 40 + 8 + 8 + 8 + 8 + 12, p.L4Offset);
    }

    [Fact]
    public void Ipv6_NoNextHeader_IsTransportNone()
    {
        var p = Decode(Eth(0x86DD, Ipv6(60, Ext(59))));
        Assert.Equal(59, p.IpProtocol);
        Assert.Equal(TransportLayer.None, p.Transport);
    }

    [Fact]
    public void Ipv6_Icmpv6_IsTransportOther()
    {
        var p = Decode(Eth(0x86DD, Ipv6(58, [128, 0, 0, 0, 0, 1, 0, 1])));
        Assert.Equal(TransportLayer.Other, p.Transport);
        Assert.Equal(58, p.IpProtocol);
    }

    [Fact]
    public void Ipv6_SixteenExtensionHeaders_AreAccepted_SeventeenAreNot()
    {
        static byte[] Chain(int n)
        {
            var parts = new List<byte[]>();
            for (int i = 0; i < n; i++)
                parts.Add(Ext(i == n - 1 ? (byte)59 : (byte)60));
            return Ipv6(60, Cat([.. parts]));
        }
        Decode(Eth(0x86DD, Chain(PacketDecoder.MaxIpv6ExtensionHeaders)));
        var p = Decode(Eth(0x86DD, Chain(PacketDecoder.MaxIpv6ExtensionHeaders + 1)), DecodeError.BadIpv6ExtensionHeader);
        Assert.Equal(NetworkLayer.IPv6, p.Network);
    }

    [Fact]
    public void Ipv6_ExtensionHeaderBeyondPayloadLength_IsBadIpv6ExtensionHeader()
    {
        byte[] ip = Ipv6(60, Cat(Ext(6, 24), Tcp(1, 2, [])), payloadLength: 16);
        Decode(Eth(0x86DD, ip), DecodeError.BadIpv6ExtensionHeader);
    }

    [Fact]
    public void Ipv6_ExtensionHeaderBeyondCapture_IsTruncatedIpv6()
    {
        byte[] frame = Eth(0x86DD, Ipv6(60, Cat(Ext(6, 24), Tcp(1, 2, []))))[..(14 + 40 + 20)];
        Decode(frame, DecodeError.TruncatedIpv6);
    }

    [Fact]
    public void Ipv6_WrongVersion_IsBadIpv6Version()
    {
        byte[] frame = Eth(0x86DD, Ipv6(59, []));
        frame[14] = 0x40;
        Decode(frame, DecodeError.BadIpv6Version);
    }

    [Fact]
    public void Ipv6_Padding_IsIgnored()
    {
        var p = Decode(Cat(Eth(0x86DD, Ipv6(6, Tcp(1, 2, Bytes(2)))), new byte[10]));
        Assert.Equal(62, p.L3Length);
        Assert.Equal(2, p.PayloadLength);
    }

    [Fact]
    public void Ipv6_JumbogramWithZeroPayloadLength_UsesCapturedLength()
    {
        byte[] hopByHop = [6, 0, 0xC2, 4, 0, 0, 0x10, 0x00]; // Jumbo Payload option (length 4096, not checked)
        var p = Decode(Eth(0x86DD, Ipv6(0, Cat(hopByHop, Tcp(1, 2, Bytes(50))), payloadLength: 0)));
        Assert.Equal(40 + 8 + 70, p.L3Length);
        Assert.Equal(50, p.PayloadLength);
    }

    [Fact]
    public void Ipv6_FirstFragment_RecordsUnfragmentablePartAndNextHeaderOffset()
    {
        byte[] payload = Cat(Ext(44), Frag6(17, 0, true, 0xABCDEF), Udp(5, 6, Bytes(100))[..64]);
        var p = Decode(Eth(0x86DD, Ipv6(0, payload)));
        Assert.True(p.IsFragment);
        Assert.True(p.MoreFragments);
        Assert.Equal(0xABCDEFu, p.FragmentId);
        Assert.Equal(0, p.FragmentOffset);
        Assert.Equal(48, p.Ipv6UnfragmentableLength);
        Assert.Equal(14 + 40, p.Ipv6FragmentNextHeaderOffset); // the Hop-by-Hop header's next header byte
        Assert.Equal(14 + 48 + 8, p.FragmentDataOffset);
        Assert.Equal(TransportLayer.Udp, p.Transport);
        Assert.Equal(6, p.DstPort);
    }

    [Fact]
    public void Ipv6_NonFirstFragment_StopsAtTheFragmentHeader()
    {
        var p = Decode(Eth(0x86DD, Ipv6(44, Cat(Frag6(6, 1448, false, 77), Bytes(80)))));
        Assert.True(p.IsFragment);
        Assert.False(p.MoreFragments);
        Assert.Equal(1448, p.FragmentOffset);
        Assert.Equal(6, p.IpProtocol);
        Assert.Equal(14 + 6, p.Ipv6FragmentNextHeaderOffset);
        Assert.Equal(40, p.Ipv6UnfragmentableLength);
        Assert.Equal(TransportLayer.None, p.Transport);
    }

    // ---------------------------------------------------------------- TCP / UDP

    [Fact]
    public void Tcp_HeaderFields_AndOptionsSkipped()
    {
        byte[] options = [2, 4, 5, 0xB4, 1, 3, 3, 7, 4, 2, 1, 1];
        var p = Decode(Eth(0x0800, Ipv4(6, Tcp(502, 40000, Bytes(9), seq: 0xFFFFFFF0, ack: 7, flags: 0x12, options: options, window: 65535))));
        Assert.Equal(502, p.SrcPort);
        Assert.Equal(40000, p.DstPort);
        Assert.Equal(0xFFFFFFF0u, p.Seq);
        Assert.Equal(7u, p.Ack);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, p.Flags);
        Assert.Equal(65535, p.Window);
        Assert.Equal(34, p.L4Offset);
        Assert.Equal(34 + 32, p.PayloadOffset);
        Assert.Equal(9, p.PayloadLength);
    }

    [Fact]
    public void Tcp_DataOffsetBelowFive_IsBadTcpDataOffset_WithPortsKept()
    {
        var p = Decode(Eth(0x0800, Ipv4(6, Tcp(1, 502, Bytes(10), dataOffsetWords: 4))), DecodeError.BadTcpDataOffset);
        Assert.Equal(TransportLayer.Tcp, p.Transport);
        Assert.Equal(502, p.DstPort);
        Assert.Equal(NetworkLayer.IPv4, p.Network);
    }

    [Fact]
    public void Tcp_DataOffsetBeyondSegment_IsBadTcpDataOffset()
        => Decode(Eth(0x0800, Ipv4(6, Tcp(1, 502, Bytes(10), dataOffsetWords: 10))), DecodeError.BadTcpDataOffset);

    [Fact]
    public void Tcp_DataOffsetBeyondCaptureButWithinSegment_IsTruncatedTcp()
    {
        byte[] frame = Eth(0x0800, Ipv4(6, Tcp(1, 502, Bytes(10), options: new byte[20])))[..(34 + 30)];
        Decode(frame, DecodeError.TruncatedTcp);
    }

    [Fact]
    public void Tcp_ShorterThanHeader_IsTruncatedTcp()
        => Decode(Eth(0x0800, Ipv4(6, new byte[19])), DecodeError.TruncatedTcp);

    [Fact]
    public void Udp_FieldsAndPayload()
    {
        var p = Decode(Eth(0x0800, Ipv4(17, Udp(47808, 47808, Bytes(21)))));
        Assert.Equal(TransportLayer.Udp, p.Transport);
        Assert.Equal(47808, p.SrcPort);
        Assert.Equal(42, p.PayloadOffset);
        Assert.Equal(21, p.PayloadLength);
    }

    [Fact]
    public void Udp_LengthShorterThanIpPayload_UsesUdpLength()
    {
        var p = Decode(Eth(0x0800, Ipv4(17, Udp(1, 2, Bytes(20), length: 12))));
        Assert.Equal(4, p.PayloadLength);
    }

    [Fact]
    public void Udp_LengthBelowEight_IsBadUdpLength()
    {
        var p = Decode(Eth(0x0800, Ipv4(17, Udp(1, 2, Bytes(4), length: 7))), DecodeError.BadUdpLength);
        Assert.Equal(2, p.DstPort);
        Assert.Equal(0, p.PayloadLength);
    }

    [Fact]
    public void Udp_LengthBeyondIpPayload_IsBadUdpLength_WithPayloadClippedToIp()
    {
        var p = Decode(Eth(0x0800, Ipv4(17, Udp(1, 2, Bytes(4), length: 100))), DecodeError.BadUdpLength);
        Assert.Equal(4, p.PayloadLength);
    }

    [Fact]
    public void Udp_ShorterThanHeader_IsTruncatedUdp()
        => Decode(Eth(0x0800, Ipv4(17, new byte[7])), DecodeError.TruncatedUdp);

    [Fact]
    public void Udp_CutBySnapLength_FlagsPayloadTruncated()
    {
        var p = Decode(Eth(0x86DD, Ipv6(17, Udp(1, 2, Bytes(100))))[..(14 + 40 + 8 + 10)]);
        Assert.Equal(10, p.PayloadLength);
        Assert.True(p.PayloadTruncated);
    }

    [Fact]
    public void Vlan_TagCutShort_IsTruncatedVlan()
    {
        byte[] frame = EthVlan([(0x8100, 5)], 0x0800, [])[..16];
        var p = Decode(frame, DecodeError.TruncatedVlan);
        Assert.True(p.HasEthernet);
    }
}
