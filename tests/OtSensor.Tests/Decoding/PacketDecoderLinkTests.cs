using OtSensor.Core;
using OtSensor.Decoding;
using static OtSensor.Tests.Decoding.Frames;

namespace OtSensor.Tests.Decoding;

public class PacketDecoderLinkTests
{
    private static DecodedPacket Decode(LinkType linkType, byte[] frame, bool expectOk = true)
    {
        var p = new DecodedPacket();
        bool ok = PacketDecoder.Decode(linkType, frame, ref p);
        Assert.Equal(expectOk, ok);
        Assert.Equal(ok, p.Error == DecodeError.None);
        return p;
    }

    private static void AssertModbusTcp(in DecodedPacket p, int l3Offset)
    {
        Assert.Equal(NetworkLayer.IPv4, p.Network);
        Assert.Equal(0x0800, p.EtherType);
        Assert.Equal(l3Offset, p.L3Offset);
        Assert.Equal(IpAddr.Parse("10.0.0.1"), p.SrcIp);
        Assert.Equal(IpAddr.Parse("10.0.0.2"), p.DstIp);
        Assert.Equal(TransportLayer.Tcp, p.Transport);
        Assert.Equal(40000, p.SrcPort);
        Assert.Equal(502, p.DstPort);
        Assert.Equal(l3Offset + 40, p.PayloadOffset);
        Assert.Equal(12, p.PayloadLength);
    }

    private static byte[] Ipv4Tcp() => Ipv4(6, Tcp(40000, 502, Hex("000100000006010300000002")));

    [Fact]
    public void Ethernet_DecodesMacsAndIpv4Tcp()
    {
        var p = Decode(LinkType.Ethernet, EthIpv4Tcp());
        Assert.True(p.HasEthernet);
        Assert.Equal("00:11:22:33:44:55", p.DstMac.ToString());
        Assert.Equal("00:1d:9c:aa:bb:cc", p.SrcMac.ToString());
        Assert.Equal(0, p.VlanCount);
        AssertModbusTcp(p, 14);
    }

    [Fact]
    public void Ethernet_8023LengthFrameWithLlc_IsNetworkOtherNotAnError()
    {
        byte[] llc = [0x42, 0x42, 0x03, 0, 0, 0, 0, 0]; // STP BPDU start
        var p = Decode(LinkType.Ethernet, Cat(MacB, MacA, U16(llc.Length), llc));
        Assert.Equal(NetworkLayer.Other, p.Network);
        Assert.Equal(llc.Length, p.EtherType);
        Assert.True(p.HasEthernet);
    }

    [Fact]
    public void Ethernet_UnknownEtherType_IsNetworkOtherNotAnError()
    {
        var p = Decode(LinkType.Ethernet, Eth(0x8892, Bytes(40))); // PROFINET RT
        Assert.Equal(NetworkLayer.Other, p.Network);
        Assert.Equal(0x8892, p.EtherType);
        Assert.Equal(TransportLayer.None, p.Transport);
    }

    [Fact]
    public void Ethernet_SingleVlan_SetsVlanId()
    {
        var p = Decode(LinkType.Ethernet, EthVlan([(0x8100, 100)], 0x0800, Ipv4Tcp()));
        Assert.Equal(100, p.Vlan);
        Assert.Equal(0, p.InnerVlan);
        Assert.Equal(1, p.VlanCount);
        AssertModbusTcp(p, 18);
    }

    [Theory]
    [InlineData(0x88A8)]
    [InlineData(0x9100)]
    [InlineData(0x9200)]
    [InlineData(0x8100)]
    public void Ethernet_DoubleVlan_SetsOuterAndInner(int outerTpid)
    {
        var p = Decode(LinkType.Ethernet, EthVlan([((ushort)outerTpid, 300), (0x8100, 4000)], 0x0800, Ipv4Tcp()));
        Assert.Equal(300, p.Vlan);
        Assert.Equal(4000, p.InnerVlan);
        Assert.Equal(2, p.VlanCount);
        AssertModbusTcp(p, 22);
    }

    [Fact]
    public void Ethernet_EightVlanTags_AreAccepted_AndCounted()
    {
        var tags = Enumerable.Range(1, PacketDecoder.MaxVlanTags).Select(i => ((ushort)0x8100, (ushort)i)).ToArray();
        var p = Decode(LinkType.Ethernet, EthVlan(tags, 0x0800, Ipv4Tcp()));
        Assert.Equal(PacketDecoder.MaxVlanTags, p.VlanCount);
        Assert.Equal(1, p.Vlan);
        Assert.Equal(2, p.InnerVlan);
        AssertModbusTcp(p, 14 + (4 * PacketDecoder.MaxVlanTags));
    }

    [Fact]
    public void Ethernet_NineVlanTags_IsTooManyVlanTags()
    {
        var tags = Enumerable.Range(1, PacketDecoder.MaxVlanTags + 1).Select(i => ((ushort)0x88A8, (ushort)i)).ToArray();
        var p = Decode(LinkType.Ethernet, EthVlan(tags, 0x0800, Ipv4Tcp()), expectOk: false);
        Assert.Equal(DecodeError.TooManyVlanTags, p.Error);
        Assert.True(p.HasEthernet);
        Assert.Equal(1, p.Vlan);
    }

    [Fact]
    public void Arp_Request_DecodesOperationAndAddresses()
    {
        var p = Decode(LinkType.Ethernet, Eth(0x0806, Arp(1, MacA, "192.168.1.10", new byte[6], "192.168.1.1")));
        Assert.Equal(NetworkLayer.Arp, p.Network);
        Assert.Equal(1, p.ArpOperation);
        Assert.Equal("00:1d:9c:aa:bb:cc", p.ArpSenderMac.ToString());
        Assert.Equal(IpAddr.Parse("192.168.1.10"), p.ArpSenderIp);
        Assert.True(p.ArpTargetMac.IsZero);
        Assert.Equal(IpAddr.Parse("192.168.1.1"), p.ArpTargetIp);
    }

    [Fact]
    public void Arp_NonEthernetIpv4Types_IsArpWithoutAddresses()
    {
        // Hardware type 6 (IEEE 802), 8-byte hardware addresses.
        byte[] arp = Cat(U16(6), U16(0x0800), [8, 4], U16(2), Bytes(8), Ip("1.2.3.4"), Bytes(8), Ip("5.6.7.8"));
        var p = Decode(LinkType.Ethernet, Eth(0x0806, arp));
        Assert.Equal(NetworkLayer.Arp, p.Network);
        Assert.Equal(2, p.ArpOperation);
        Assert.True(p.ArpSenderIp.IsZero);
        Assert.True(p.ArpSenderMac.IsZero);
    }

    [Fact]
    public void Arp_ShorterThanItsAddresses_IsTruncatedArp()
    {
        byte[] arp = Arp(1, MacA, "192.168.1.10", new byte[6], "192.168.1.1");
        var p = Decode(LinkType.Ethernet, Eth(0x0806, arp[..27]), expectOk: false);
        Assert.Equal(DecodeError.TruncatedArp, p.Error);
        Assert.Equal(NetworkLayer.Arp, p.Network);
        Assert.Equal(1, p.ArpOperation);
    }

    [Fact]
    public void LinuxSll_DecodesProtocolAtOffset14_AndSenderMac()
    {
        byte[] header = Cat(U16(4), U16(1), U16(6), MacA, [0, 0], U16(0x0800));
        var p = Decode(LinkType.LinuxSll, Cat(header, Ipv4Tcp()));
        Assert.Equal(1, p.LinkAddressType);
        Assert.Equal(4, p.LinkPacketType);
        Assert.Equal("00:1d:9c:aa:bb:cc", p.SrcMac.ToString());
        Assert.False(p.HasEthernet);
        AssertModbusTcp(p, 16);
    }

    [Fact]
    public void LinuxSll_WithVlanProtocol_DecodesTag()
    {
        byte[] header = Cat(U16(0), U16(1), U16(6), MacA, [0, 0], U16(0x8100), U16(42), U16(0x0800));
        var p = Decode(LinkType.LinuxSll, Cat(header, Ipv4Tcp()));
        Assert.Equal(42, p.Vlan);
        AssertModbusTcp(p, 20);
    }

    [Fact]
    public void LinuxSll_LlcPseudoProtocol_IsNetworkOther()
    {
        byte[] header = Cat(U16(0), U16(1), U16(6), MacA, [0, 0], U16(0x0004));
        var p = Decode(LinkType.LinuxSll, Cat(header, Bytes(20)));
        Assert.Equal(NetworkLayer.Other, p.Network);
        Assert.Equal(4, p.EtherType);
    }

    [Fact]
    public void LinuxSll_Netlink_IsNetworkOther()
    {
        byte[] header = Cat(U16(4), U16(824), U16(0), new byte[8], U16(0x0800)); // netlink family 0x0800 is not IPv4
        var p = Decode(LinkType.LinuxSll, Cat(header, Bytes(20)));
        Assert.Equal(NetworkLayer.Other, p.Network);
    }

    [Fact]
    public void LinuxSll2_DecodesProtocolAtOffset0()
    {
        byte[] header = Cat(U16(0x86DD), U16(0), U32(3), U16(1), [0, 6], MacA, [0, 0]);
        var p = Decode(LinkType.LinuxSll2, Cat(header, Ipv6(17, Udp(5683, 5683, Bytes(10)))));
        Assert.Equal(NetworkLayer.IPv6, p.Network);
        Assert.Equal(20, p.L3Offset);
        Assert.Equal(TransportLayer.Udp, p.Transport);
        Assert.Equal(5683, p.DstPort);
        Assert.Equal(10, p.PayloadLength);
        Assert.Equal("00:1d:9c:aa:bb:cc", p.SrcMac.ToString());
        Assert.Equal(1, p.LinkAddressType);
    }

    [Theory]
    [InlineData(LinkType.Raw)]
    [InlineData(LinkType.Ipv4)]
    public void RawAndIpv4LinkTypes_DecodeIpv4(LinkType linkType)
    {
        var p = Decode(linkType, Ipv4Tcp());
        AssertModbusTcp(p, 0);
        Assert.False(p.HasEthernet);
    }

    [Theory]
    [InlineData(LinkType.Raw)]
    [InlineData(LinkType.Ipv6)]
    public void RawAndIpv6LinkTypes_DecodeIpv6(LinkType linkType)
    {
        var p = Decode(linkType, Ipv6(6, Tcp(1, 502, Bytes(5))));
        Assert.Equal(NetworkLayer.IPv6, p.Network);
        Assert.Equal(0x86DD, p.EtherType);
        Assert.Equal(TransportLayer.Tcp, p.Transport);
        Assert.Equal(60, p.PayloadOffset);
        Assert.Equal(5, p.PayloadLength);
    }

    [Fact]
    public void Raw_UnknownVersionNibble_IsBadIpVersion()
    {
        byte[] frame = Ipv4Tcp();
        frame[0] = 0x55;
        Assert.Equal(DecodeError.BadIpVersion, Decode(LinkType.Raw, frame, expectOk: false).Error);
    }

    [Theory]
    [InlineData(new byte[] { 2, 0, 0, 0 })]
    [InlineData(new byte[] { 0, 0, 0, 2 })]
    public void Null_Family2InEitherByteOrder_IsIpv4(byte[] family)
    {
        var p = Decode(LinkType.Null, Cat(family, Ipv4Tcp()));
        AssertModbusTcp(p, 4);
    }

    [Theory]
    [InlineData(24)]
    [InlineData(28)]
    [InlineData(30)]
    public void Null_Ipv6FamiliesInEitherByteOrder_AreIpv6(int family)
    {
        byte[] ip6 = Ipv6(17, Udp(1, 2, Bytes(3)));
        foreach (byte[] header in new[] { new byte[] { (byte)family, 0, 0, 0 }, [0, 0, 0, (byte)family] })
        {
            var p = Decode(LinkType.Null, Cat(header, ip6));
            Assert.Equal(NetworkLayer.IPv6, p.Network);
            Assert.Equal(4, p.L3Offset);
            Assert.Equal(TransportLayer.Udp, p.Transport);
        }
    }

    [Fact]
    public void Null_UnknownFamily_IsNetworkOther()
    {
        var p = Decode(LinkType.Null, Cat([7, 0, 0, 0], Bytes(20)));
        Assert.Equal(NetworkLayer.Other, p.Network);
    }

    [Fact]
    public void Loop_FamilyInNetworkOrder_IsIpv4()
    {
        var p = Decode(LinkType.Loop, Cat([0, 0, 0, 2], Ipv4Tcp()));
        AssertModbusTcp(p, 4);
    }

    [Fact]
    public void Loop_FamilyInLittleEndian_IsNotIpv4()
    {
        var p = Decode(LinkType.Loop, Cat([2, 0, 0, 0], Ipv4Tcp()));
        Assert.Equal(NetworkLayer.Other, p.Network);
    }

    [Fact]
    public void UnknownLinkType_IsUnsupportedLinkType()
    {
        var p = Decode((LinkType)147, EthIpv4Tcp(), expectOk: false);
        Assert.Equal(DecodeError.UnsupportedLinkType, p.Error);
        Assert.Equal(NetworkLayer.None, p.Network);
    }

    [Theory]
    [InlineData(LinkType.Ethernet, 13)]
    [InlineData(LinkType.LinuxSll, 15)]
    [InlineData(LinkType.LinuxSll2, 19)]
    [InlineData(LinkType.Null, 3)]
    [InlineData(LinkType.Loop, 0)]
    public void ShortLinkHeader_IsTruncatedLinkHeader(LinkType linkType, int length)
    {
        var p = Decode(linkType, new byte[length], expectOk: false);
        Assert.Equal(DecodeError.TruncatedLinkHeader, p.Error);
    }

    [Fact]
    public void Decode_ResetsThePacketBetweenCalls()
    {
        var p = new DecodedPacket();
        Assert.True(PacketDecoder.Decode(LinkType.Ethernet, EthVlan([(0x8100, 7)], 0x0800, Ipv4Tcp()), ref p));
        Assert.True(PacketDecoder.Decode(LinkType.Ethernet, Eth(0x0806, Arp(2, MacA, "1.1.1.1", MacB, "2.2.2.2")), ref p));
        Assert.Equal(0, p.Vlan);
        Assert.Equal(TransportLayer.None, p.Transport);
        Assert.Equal(0, p.SrcPort);
        Assert.True(p.SrcIp.IsZero);
    }

    [Fact]
    public void ScapyFrame_DoubleVlanIpv4OptionsTcpOptions_DecodesLikeScapyBuiltIt()
    {
        // scapy: Ether()/Dot1Q(vlan=100)/Dot1Q(vlan=200)/IP(src=192.168.1.10,dst=192.168.1.20,options=[RR(1.2.3.4)],ttl=33,id=77)
        //        /TCP(sport=40000,dport=502,seq=1000,ack=2000,flags=PA,window=512,options=[MSS,NOP,WScale,SAckOK])/12-byte Modbus request
        byte[] frame = Hex("001122334455001d9caabbcc81000064810000c8080047000048004d0000210602eac0a8010ac0a8011407070401020304009c4001f6000003e8000007d0801802003f7f0000020405b4010303070402000000010000000601030000000a");
        var p = Decode(LinkType.Ethernet, frame);
        Assert.Equal(100, p.Vlan);
        Assert.Equal(200, p.InnerVlan);
        Assert.Equal(22, p.L3Offset);
        Assert.Equal(72, p.L3Length);
        Assert.Equal(33, p.Ttl);
        Assert.Equal(77u, p.FragmentId);
        Assert.False(p.IsFragment);
        Assert.Equal(IpAddr.Parse("192.168.1.10"), p.SrcIp);
        Assert.Equal(IpAddr.Parse("192.168.1.20"), p.DstIp);
        Assert.Equal(22 + 28, p.L4Offset); // IHL 7: Record Route (7 bytes) + End of Options
        Assert.Equal(40000, p.SrcPort);
        Assert.Equal(502, p.DstPort);
        Assert.Equal(1000u, p.Seq);
        Assert.Equal(2000u, p.Ack);
        Assert.Equal(TcpFlags.Psh | TcpFlags.Ack, p.Flags);
        Assert.Equal(512, p.Window);
        Assert.Equal(22 + 28 + 32, p.PayloadOffset);
        Assert.Equal(12, p.PayloadLength);
        Assert.Equal(0x0A, frame[p.PayloadOffset + p.PayloadLength - 1]);
    }

    [Fact]
    public void ScapyFrame_Ipv6HopByHopDestOptsRoutingUdp_DecodesLikeScapyBuiltIt()
    {
        byte[] frame = Hex("333300000001001d9caabbcc86dd60000000003a0007fe80000000000000000000000000000120010db80000000000000000000000023c000104000000002b00010400000000110200010000000020010db80000000000000000000000091633163300129e4e68656c6c6f20636f6170");
        var p = Decode(LinkType.Ethernet, frame);
        Assert.Equal(NetworkLayer.IPv6, p.Network);
        Assert.Equal(7, p.Ttl);
        Assert.Equal(IpAddr.Parse("fe80::1"), p.SrcIp);
        Assert.Equal(IpAddr.Parse("2001:db8::2"), p.DstIp);
        Assert.Equal(17, p.IpProtocol);
        Assert.Equal(14 + 40 + 8 + 8 + 24, p.L4Offset);
        Assert.Equal(5683, p.SrcPort);
        Assert.Equal("hello coap", System.Text.Encoding.ASCII.GetString(frame, p.PayloadOffset, p.PayloadLength));
    }

    [Fact]
    public void ScapyFrame_CookedLinuxUdp_DecodesLikeScapyBuiltIt()
    {
        byte[] frame = Hex("000400010006001d9caabbcc000008004500002200010000401164c60a0101010a01010204d2bac0000efef66261636e6574");
        var p = Decode(LinkType.LinuxSll, frame);
        Assert.Equal(4, p.LinkPacketType);
        Assert.Equal(TransportLayer.Udp, p.Transport);
        Assert.Equal(47808, p.DstPort);
        Assert.Equal("bacnet", System.Text.Encoding.ASCII.GetString(frame, p.PayloadOffset, p.PayloadLength));
    }

    [Fact]
    public void ScapyFrame_ArpRequest_DecodesLikeScapyBuiltIt()
    {
        byte[] frame = Hex("ffffffffffff001d9caabbcc08060001080006040001001d9caabbccc0a8010a000000000000c0a80101");
        var p = Decode(LinkType.Ethernet, frame);
        Assert.True(p.DstMac.IsBroadcast);
        Assert.Equal(1, p.ArpOperation);
        Assert.Equal(IpAddr.Parse("192.168.1.10"), p.ArpSenderIp);
        Assert.Equal(IpAddr.Parse("192.168.1.1"), p.ArpTargetIp);
    }
}
