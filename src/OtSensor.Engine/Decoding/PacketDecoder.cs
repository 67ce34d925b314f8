using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using OtSensor.Core;

namespace OtSensor.Decoding;

/// <summary>Optional decoder behaviour.</summary>
[Flags]
public enum DecodeOptions
{
    None = 0,
    /// <summary>
    /// Verify the IPv4 header checksum (off by default: captures taken on the sending host often carry offloaded, unfilled checksums).
    /// A mismatch sets <see cref="DecodeError.BadIpv4Checksum"/> after the IPv4 fields are filled; layer 4 is then not decoded.
    /// </summary>
    VerifyIpv4Checksum = 1,
}

/// <summary>
/// Decodes one captured frame from layer 2 to layer 4 into a <see cref="DecodedPacket"/>: span indexing only, no allocation, no exception.
/// </summary>
/// <remarks>
/// Semantics worth knowing:
/// <list type="bullet">
/// <item>Unknown EtherTypes, address families and IP protocols are not errors: Network = Other / Transport = Other.</item>
/// <item>Lengths declared by headers are clipped to the captured bytes; <see cref="DecodedPacket.L3Truncated"/> and
/// <see cref="DecodedPacket.PayloadTruncated"/> say when the capture cut the packet. Bytes after the declared IP length
/// (Ethernet padding) are ignored.</item>
/// <item>IPv4 total length 0 is taken as "use the captured length" (TCP segmentation offload on the capturing host), like Wireshark.</item>
/// <item>Fragments: L4 is decoded only for the first fragment (offset 0), best-effort: a header that does not fit the fragment
/// leaves Transport = None without an error (the reassembled packet is what gets checked). Non-first fragments keep Transport = None.</item>
/// <item>On an error, the layers decoded before the failing one stay filled, and the failing layer's Network/Transport kind is set.</item>
/// </list>
/// </remarks>
public static class PacketDecoder
{
    /// <summary>Maximum number of stacked VLAN tags; one more is <see cref="DecodeError.TooManyVlanTags"/>.</summary>
    public const int MaxVlanTags = 8;
    /// <summary>Maximum number of IPv6 extension headers in a chain; one more is <see cref="DecodeError.BadIpv6ExtensionHeader"/>.</summary>
    public const int MaxIpv6ExtensionHeaders = 16;

    public const ushort EtherTypeIpv4 = 0x0800;
    public const ushort EtherTypeArp = 0x0806;
    public const ushort EtherTypeIpv6 = 0x86DD;

    private const int ArphrdNetlink = 824;
    private const int MaxIpv4Length = 65535;

    public static bool Decode(LinkType linkType, ReadOnlySpan<byte> frame, ref DecodedPacket packet)
        => Decode(linkType, frame, ref packet, DecodeOptions.None);

    public static bool Decode(LinkType linkType, ReadOnlySpan<byte> frame, ref DecodedPacket packet, DecodeOptions options)
    {
        packet = default;
        DecodeError error = linkType switch
        {
            LinkType.Ethernet => DecodeEthernet(frame, ref packet, options),
            LinkType.Raw => DecodeRaw(frame, ref packet, options),
            LinkType.Ipv4 => DecodeIpv4(frame, 0, ref packet, options),
            LinkType.Ipv6 => DecodeIpv6(frame, 0, ref packet),
            LinkType.LinuxSll => DecodeSll(frame, ref packet, options),
            LinkType.LinuxSll2 => DecodeSll2(frame, ref packet, options),
            LinkType.Null => DecodeNull(frame, ref packet, options, networkOrderOnly: false),
            LinkType.Loop => DecodeNull(frame, ref packet, options, networkOrderOnly: true),
            _ => DecodeError.UnsupportedLinkType,
        };
        packet.Error = error;
        return error == DecodeError.None;
    }

    // ---------------------------------------------------------------- layer 2

    private static DecodeError DecodeEthernet(ReadOnlySpan<byte> f, ref DecodedPacket p, DecodeOptions o)
    {
        if (f.Length < 14)
            return DecodeError.TruncatedLinkHeader;
        p.HasEthernet = true;
        p.DstMac = MacAddress.Read(f);
        p.SrcMac = MacAddress.Read(f.Slice(6));
        ushort type = BinaryPrimitives.ReadUInt16BigEndian(f.Slice(12));
        return DecodeEtherType(f, 14, type, ref p, o);
    }

    private static DecodeError DecodeSll(ReadOnlySpan<byte> f, ref DecodedPacket p, DecodeOptions o)
    {
        // packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
        if (f.Length < 16)
            return DecodeError.TruncatedLinkHeader;
        p.LinkPacketType = (byte)BinaryPrimitives.ReadUInt16BigEndian(f);
        ushort arphrd = BinaryPrimitives.ReadUInt16BigEndian(f.Slice(2));
        ushort addressLength = BinaryPrimitives.ReadUInt16BigEndian(f.Slice(4));
        ushort protocol = BinaryPrimitives.ReadUInt16BigEndian(f.Slice(14));
        return DecodeCookedPayload(f, 16, arphrd, addressLength, 6, protocol, ref p, o);
    }

    private static DecodeError DecodeSll2(ReadOnlySpan<byte> f, ref DecodedPacket p, DecodeOptions o)
    {
        // protocol(2) reserved(2) interface index(4) ARPHRD(2) packet type(1) address length(1) address(8)
        if (f.Length < 20)
            return DecodeError.TruncatedLinkHeader;
        ushort protocol = BinaryPrimitives.ReadUInt16BigEndian(f);
        ushort arphrd = BinaryPrimitives.ReadUInt16BigEndian(f.Slice(8));
        p.LinkPacketType = f[10];
        return DecodeCookedPayload(f, 20, arphrd, f[11], 12, protocol, ref p, o);
    }

    private static DecodeError DecodeCookedPayload(ReadOnlySpan<byte> f, int offset, ushort arphrd, int addressLength, int addressOffset,
        ushort protocol, ref DecodedPacket p, DecodeOptions o)
    {
        p.LinkAddressType = arphrd;
        if (arphrd == 1 && addressLength == 6)
            p.SrcMac = MacAddress.Read(f.Slice(addressOffset)); // the sender's address (HasEthernet stays false: no destination)
        if (arphrd == ArphrdNetlink || protocol < 0x0600)
        {
            // Netlink family, or an SLL pseudo-protocol (802.2 LLC, 802.3 Novell, CAN, ...).
            p.EtherType = protocol;
            p.Network = NetworkLayer.Other;
            return DecodeError.None;
        }
        return DecodeEtherType(f, offset, protocol, ref p, o);
    }

    private static DecodeError DecodeNull(ReadOnlySpan<byte> f, ref DecodedPacket p, DecodeOptions o, bool networkOrderOnly)
    {
        if (f.Length < 4)
            return DecodeError.TruncatedLinkHeader;
        uint family;
        if (networkOrderOnly)
        {
            family = BinaryPrimitives.ReadUInt32BigEndian(f);
        }
        else
        {
            // Host order of the capturing machine, which may not be ours: families are small, so the non-zero half tells the order.
            family = BinaryPrimitives.ReadUInt32LittleEndian(f);
            if ((family & 0xFFFF_0000u) != 0)
                family = BinaryPrimitives.ReverseEndianness(family);
        }
        switch (family)
        {
            case 2:
                p.EtherType = EtherTypeIpv4;
                return DecodeIpv4(f, 4, ref p, o);
            case 24:
            case 28:
            case 30:
                p.EtherType = EtherTypeIpv6;
                return DecodeIpv6(f, 4, ref p);
            default:
                p.Network = NetworkLayer.Other;
                return DecodeError.None;
        }
    }

    private static DecodeError DecodeRaw(ReadOnlySpan<byte> f, ref DecodedPacket p, DecodeOptions o)
    {
        if (f.IsEmpty)
            return DecodeError.TruncatedIpv4;
        switch (f[0] >> 4)
        {
            case 4:
                return DecodeIpv4(f, 0, ref p, o);
            case 6:
                return DecodeIpv6(f, 0, ref p);
            default:
                return DecodeError.BadIpVersion;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsVlanTpid(ushort type) => type is 0x8100 or 0x88A8 or 0x9100 or 0x9200;

    private static DecodeError DecodeEtherType(ReadOnlySpan<byte> f, int offset, ushort type, ref DecodedPacket p, DecodeOptions o)
    {
        while (IsVlanTpid(type))
        {
            if (p.VlanCount >= MaxVlanTags)
                return DecodeError.TooManyVlanTags;
            if (f.Length - offset < 4)
                return DecodeError.TruncatedVlan;
            ushort id = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(f.Slice(offset)) & 0x0FFF);
            if (p.VlanCount == 0)
                p.Vlan = id;
            else if (p.VlanCount == 1)
                p.InnerVlan = id;
            p.VlanCount++;
            type = BinaryPrimitives.ReadUInt16BigEndian(f.Slice(offset + 2));
            offset += 4;
        }
        p.EtherType = type;
        switch (type)
        {
            case EtherTypeIpv4:
                return DecodeIpv4(f, offset, ref p, o);
            case EtherTypeIpv6:
                return DecodeIpv6(f, offset, ref p);
            case EtherTypeArp:
                return DecodeArp(f, offset, ref p);
            default:
                // Another EtherType (LLDP, PROFINET, GOOSE, ...) or an 802.3 length field (LLC follows): not decoded, not an error.
                p.Network = NetworkLayer.Other;
                p.L3Offset = offset;
                return DecodeError.None;
        }
    }

    private static DecodeError DecodeArp(ReadOnlySpan<byte> f, int off, ref DecodedPacket p)
    {
        p.Network = NetworkLayer.Arp;
        p.L3Offset = off;
        int avail = f.Length - off;
        if (avail < 8)
            return DecodeError.TruncatedArp;
        ReadOnlySpan<byte> a = f.Slice(off);
        ushort htype = BinaryPrimitives.ReadUInt16BigEndian(a);
        ushort ptype = BinaryPrimitives.ReadUInt16BigEndian(a.Slice(2));
        int hlen = a[4];
        int plen = a[5];
        p.ArpOperation = BinaryPrimitives.ReadUInt16BigEndian(a.Slice(6));
        int need = 8 + (2 * (hlen + plen));
        if (avail < need)
            return DecodeError.TruncatedArp;
        p.L3Length = need;
        if (htype == 1 && ptype == EtherTypeIpv4 && hlen == 6 && plen == 4)
        {
            p.ArpSenderMac = MacAddress.Read(a.Slice(8));
            p.ArpSenderIp = IpAddr.ReadV4(a.Slice(14));
            p.ArpTargetMac = MacAddress.Read(a.Slice(18));
            p.ArpTargetIp = IpAddr.ReadV4(a.Slice(24));
        }
        return DecodeError.None;
    }

    // ---------------------------------------------------------------- layer 3

    private static DecodeError DecodeIpv4(ReadOnlySpan<byte> f, int off, ref DecodedPacket p, DecodeOptions o)
    {
        p.Network = NetworkLayer.IPv4;
        p.EtherType = EtherTypeIpv4;
        p.L3Offset = off;
        int avail = f.Length - off;
        if (avail < 20)
            return DecodeError.TruncatedIpv4;
        ReadOnlySpan<byte> h = f.Slice(off);
        byte versionIhl = h[0];
        if (versionIhl >> 4 != 4)
            return DecodeError.BadIpv4Version;
        p.Ttl = h[8];
        byte protocol = h[9];
        p.IpProtocol = protocol;
        p.SrcIp = IpAddr.ReadV4(h.Slice(12));
        p.DstIp = IpAddr.ReadV4(h.Slice(16));
        int headerLength = (versionIhl & 0x0F) * 4;
        if (headerLength < 20)
            return DecodeError.BadIpv4HeaderLength;
        if (headerLength > avail)
            return DecodeError.TruncatedIpv4;
        int total = BinaryPrimitives.ReadUInt16BigEndian(h.Slice(2));
        if (total == 0)
            total = avail; // TCP segmentation offload: the capturing host left the length unset.
        else if (total < headerLength)
            return DecodeError.BadIpv4TotalLength;
        int captured = Math.Min(total, avail);
        p.L3Length = captured;
        p.L3Truncated = total > avail;

        ushort flagsOffset = BinaryPrimitives.ReadUInt16BigEndian(h.Slice(6));
        bool more = (flagsOffset & 0x2000) != 0;
        int fragmentOffset = (flagsOffset & 0x1FFF) * 8;
        p.FragmentId = BinaryPrimitives.ReadUInt16BigEndian(h.Slice(4));
        p.FragmentDataOffset = off + headerLength;
        bool fragment = more || fragmentOffset != 0;
        if (fragment)
        {
            p.IsFragment = true;
            p.MoreFragments = more;
            p.FragmentOffset = fragmentOffset;
            if (!FragmentLayoutValid(more, fragmentOffset, total - headerLength, MaxIpv4Length - headerLength))
                return DecodeError.BadFragment;
        }

        if ((o & DecodeOptions.VerifyIpv4Checksum) != 0 && !Ipv4HeaderChecksumValid(h.Slice(0, headerLength)))
            return DecodeError.BadIpv4Checksum;

        if (fragmentOffset != 0)
            return DecodeError.None; // not the first fragment: its data does not start with an L4 header.

        return DecodeTransport(f, off + headerLength, off + captured, off + total, protocol, fragment, ref p);
    }

    /// <summary>
    /// A fragment must fit the reassembled length field (65535 bytes: IPv4 total length, IPv6 payload length) and, unless it is the last,
    /// carry a non-empty multiple of 8 bytes (RFC 791, RFC 8200).
    /// </summary>
    private static bool FragmentLayoutValid(bool more, int fragmentOffset, int dataLength, int maxEnd)
        => fragmentOffset + dataLength <= maxEnd && (!more || (dataLength > 0 && (dataLength & 7) == 0));

    /// <summary>True when the one's-complement sum of the header (checksum included) is 0xFFFF.</summary>
    public static bool Ipv4HeaderChecksumValid(ReadOnlySpan<byte> header) => Ipv4HeaderChecksum(header, skipChecksumField: false) == 0;

    /// <summary>The Internet checksum of an IPv4 header; with <paramref name="skipChecksumField"/> the stored checksum is treated as 0.</summary>
    public static ushort Ipv4HeaderChecksum(ReadOnlySpan<byte> header, bool skipChecksumField)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < header.Length; i += 2)
        {
            if (skipChecksumField && i == 10)
                continue;
            sum += BinaryPrimitives.ReadUInt16BigEndian(header.Slice(i));
        }
        while (sum > 0xFFFF)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    private static DecodeError DecodeIpv6(ReadOnlySpan<byte> f, int off, ref DecodedPacket p)
    {
        p.Network = NetworkLayer.IPv6;
        p.EtherType = EtherTypeIpv6;
        p.L3Offset = off;
        int avail = f.Length - off;
        if (avail < 40)
            return DecodeError.TruncatedIpv6;
        ReadOnlySpan<byte> h = f.Slice(off);
        if (h[0] >> 4 != 6)
            return DecodeError.BadIpv6Version;
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(h.Slice(4));
        byte nextHeader = h[6];
        p.Ttl = h[7];
        p.SrcIp = IpAddr.ReadV6(h.Slice(8));
        p.DstIp = IpAddr.ReadV6(h.Slice(24));
        int total = 40 + payloadLength;
        if (payloadLength == 0 && nextHeader == 0)
            total = avail; // jumbogram: the real length is in a Hop-by-Hop option; use what was captured.
        int capEnd = off + Math.Min(total, avail);
        int declEnd = off + total;
        p.L3Length = capEnd - off;
        p.L3Truncated = total > avail;
        p.IpProtocol = nextHeader;

        int pos = off + 40;
        int nextHeaderPos = off + 6;
        bool fragment = false;
        byte fragmentNext = 0;
        DecodeError error = DecodeError.None;
        for (int count = 0; ; count++)
        {
            if (nextHeader is 0 or 43 or 60 or 51 or 135 or 139 or 140 or 44)
            {
                if (count >= MaxIpv6ExtensionHeaders)
                {
                    error = DecodeError.BadIpv6ExtensionHeader;
                    break;
                }
                int declared = declEnd - pos;
                int captured = capEnd - pos;
                int minimum = nextHeader == 44 ? 8 : 2;
                if (captured < minimum)
                {
                    error = declared < minimum ? DecodeError.BadIpv6ExtensionHeader : DecodeError.TruncatedIpv6;
                    break;
                }
                int length = nextHeader switch
                {
                    44 => 8,
                    51 => (f[pos + 1] + 2) * 4,
                    _ => (f[pos + 1] + 1) * 8,
                };
                if (length > declared)
                {
                    error = DecodeError.BadIpv6ExtensionHeader;
                    break;
                }
                if (length > captured)
                {
                    error = DecodeError.TruncatedIpv6;
                    break;
                }
                byte next = f[pos];
                if (nextHeader == 44)
                {
                    if (fragment)
                    {
                        error = DecodeError.BadIpv6ExtensionHeader; // a second Fragment header
                        break;
                    }
                    ushort offsetField = BinaryPrimitives.ReadUInt16BigEndian(f.Slice(pos + 2));
                    int fragmentOffset = offsetField & 0xFFF8;
                    bool more = (offsetField & 1) != 0;
                    if (fragmentOffset != 0 || more)
                    {
                        fragment = true;
                        fragmentNext = next;
                        p.IsFragment = true;
                        p.MoreFragments = more;
                        p.FragmentOffset = fragmentOffset;
                        p.FragmentId = BinaryPrimitives.ReadUInt32BigEndian(f.Slice(pos + 4));
                        p.FragmentDataOffset = pos + 8;
                        p.Ipv6UnfragmentableLength = pos - off;
                        p.Ipv6FragmentNextHeaderOffset = nextHeaderPos;
                        if (!FragmentLayoutValid(more, fragmentOffset, declEnd - (pos + 8), MaxIpv4Length - (pos - off - 40)))
                            return DecodeError.BadFragment;
                        if (fragmentOffset != 0)
                        {
                            p.IpProtocol = next;
                            return DecodeError.None;
                        }
                    }
                    // An atomic fragment (offset 0, M = 0) is a whole packet: skip the header and go on.
                }
                nextHeaderPos = pos;
                nextHeader = next;
                pos += length;
                continue;
            }
            p.IpProtocol = nextHeader;
            if (nextHeader == 59)
                return DecodeError.None; // No Next Header
            error = DecodeTransport(f, pos, capEnd, declEnd, nextHeader, fragment, ref p);
            break;
        }
        if (fragment && error != DecodeError.None)
        {
            // First fragment: what follows the Fragment header is checked after reassembly.
            p.IpProtocol = fragmentNext;
            ClearTransport(ref p);
            return DecodeError.None;
        }
        return error;
    }

    // ---------------------------------------------------------------- layer 4

    private static void ClearTransport(ref DecodedPacket p)
    {
        p.Transport = TransportLayer.None;
        p.L4Offset = 0;
        p.SrcPort = 0;
        p.DstPort = 0;
        p.Seq = 0;
        p.Ack = 0;
        p.Flags = TcpFlags.None;
        p.Window = 0;
        p.PayloadOffset = 0;
        p.PayloadLength = 0;
        p.PayloadTruncated = false;
    }

    /// <param name="l4">Start of the L4 header in the frame.</param>
    /// <param name="capEnd">End of the captured part of the IP packet.</param>
    /// <param name="declEnd">End of the IP packet as declared by its header (may lie beyond the frame).</param>
    /// <param name="fragment">The IP packet is a first fragment: L4 errors are not reported (the L4 fields are cleared).</param>
    private static DecodeError DecodeTransport(ReadOnlySpan<byte> f, int l4, int capEnd, int declEnd, byte protocol, bool fragment, ref DecodedPacket p)
    {
        DecodeError error;
        switch (protocol)
        {
            case 6:
                error = DecodeTcp(f, l4, capEnd, declEnd, ref p);
                break;
            case 17:
                error = DecodeUdp(f, l4, capEnd, declEnd, fragment, ref p);
                break;
            default:
                p.Transport = TransportLayer.Other;
                p.L4Offset = l4;
                return DecodeError.None;
        }
        if (fragment && error != DecodeError.None)
        {
            ClearTransport(ref p);
            return DecodeError.None;
        }
        return error;
    }

    private static DecodeError DecodeTcp(ReadOnlySpan<byte> f, int l4, int capEnd, int declEnd, ref DecodedPacket p)
    {
        p.Transport = TransportLayer.Tcp;
        p.L4Offset = l4;
        int captured = capEnd - l4;
        int declared = declEnd - l4;
        if (captured < 20)
            return DecodeError.TruncatedTcp;
        ReadOnlySpan<byte> t = f.Slice(l4);
        p.SrcPort = BinaryPrimitives.ReadUInt16BigEndian(t);
        p.DstPort = BinaryPrimitives.ReadUInt16BigEndian(t.Slice(2));
        p.Seq = BinaryPrimitives.ReadUInt32BigEndian(t.Slice(4));
        p.Ack = BinaryPrimitives.ReadUInt32BigEndian(t.Slice(8));
        int dataOffset = (t[12] >> 4) * 4;
        p.Flags = (TcpFlags)t[13];
        p.Window = BinaryPrimitives.ReadUInt16BigEndian(t.Slice(14));
        if (dataOffset < 20 || dataOffset > declared)
            return DecodeError.BadTcpDataOffset;
        if (dataOffset > captured)
            return DecodeError.TruncatedTcp;
        p.PayloadOffset = l4 + dataOffset;
        p.PayloadLength = captured - dataOffset;
        p.PayloadTruncated = declEnd > capEnd;
        return DecodeError.None;
    }

    private static DecodeError DecodeUdp(ReadOnlySpan<byte> f, int l4, int capEnd, int declEnd, bool fragment, ref DecodedPacket p)
    {
        p.Transport = TransportLayer.Udp;
        p.L4Offset = l4;
        int captured = capEnd - l4;
        int declared = declEnd - l4;
        if (captured < 8)
            return DecodeError.TruncatedUdp;
        ReadOnlySpan<byte> u = f.Slice(l4);
        p.SrcPort = BinaryPrimitives.ReadUInt16BigEndian(u);
        p.DstPort = BinaryPrimitives.ReadUInt16BigEndian(u.Slice(2));
        int udpLength = BinaryPrimitives.ReadUInt16BigEndian(u.Slice(4));
        // In a first fragment the UDP length covers the whole datagram, beyond this fragment: that is expected.
        bool bad = udpLength < 8 || (udpLength > declared && !fragment);
        int length = Math.Max(8, Math.Min(udpLength, declared));
        p.PayloadOffset = l4 + 8;
        p.PayloadLength = Math.Min(length, captured) - 8;
        p.PayloadTruncated = length > captured;
        return bad ? DecodeError.BadUdpLength : DecodeError.None;
    }
}
