using OtSensor.Core;

namespace OtSensor.Decoding;

public enum NetworkLayer : byte
{
    None = 0,
    IPv4 = 4,
    IPv6 = 6,
    Arp = 1,
    /// <summary>An EtherType the sensor does not decode (LLDP, PROFINET, ...): counted, not an error.</summary>
    Other = 2,
}

public enum TransportLayer : byte
{
    None = 0,
    Tcp = 6,
    Udp = 17,
    /// <summary>An IP protocol the sensor does not decode further (ICMP, GRE, ...).</summary>
    Other = 255,
}

[Flags]
public enum TcpFlags : byte
{
    None = 0,
    Fin = 0x01,
    Syn = 0x02,
    Rst = 0x04,
    Psh = 0x08,
    Ack = 0x10,
    Urg = 0x20,
    Ece = 0x40,
    Cwr = 0x80,
}

/// <summary>
/// The result of decoding one frame from layer 2 to layer 4. All offsets index the frame that was decoded.
/// A plain mutable struct so the decoder fills it in place (no allocation); reset by the decoder on every call.
/// </summary>
public struct DecodedPacket
{
    public DecodeError Error;

    // ---- Layer 2 ----
    public bool HasEthernet;
    public MacAddress SrcMac;
    public MacAddress DstMac;
    /// <summary>Outer VLAN id (12 bits) or 0 when untagged.</summary>
    public ushort Vlan;
    /// <summary>Inner VLAN id of a stacked (802.1ad / QinQ) frame, or 0.</summary>
    public ushort InnerVlan;
    public byte VlanCount;
    /// <summary>Linux SLL / SLL2: the ARPHRD_ hardware type of the link-layer address (1 = Ethernet); 0 for other link types.</summary>
    public ushort LinkAddressType;
    /// <summary>Linux SLL / SLL2 packet type (0 to us, 1 broadcast, 2 multicast, 3 to someone else, 4 sent by us); 0 for other link types.</summary>
    public byte LinkPacketType;
    /// <summary>
    /// EtherType of the payload after VLAN tags (0x0800, 0x86DD, 0x0806, ...). For raw IP / loopback link types, set from the IP version or
    /// address family. For an IEEE 802.3 frame (length field &lt; 0x0600, LLC follows) it holds that raw length value and Network is Other.
    /// </summary>
    public ushort EtherType;

    // ---- Layer 3 ----
    public NetworkLayer Network;
    public IpAddr SrcIp;
    public IpAddr DstIp;
    /// <summary>The upper-layer protocol number (after IPv6 extension headers).</summary>
    public byte IpProtocol;
    public byte Ttl;
    public int L3Offset;
    /// <summary>Length of the IP packet as declared by its header (total length / payload length + 40), clipped to what was captured.</summary>
    public int L3Length;

    /// <summary>True when this IP packet is a fragment (IPv4 MF set or offset &gt; 0; IPv6 Fragment header) and needs reassembly.</summary>
    public bool IsFragment;
    public bool MoreFragments;
    /// <summary>Fragment offset in bytes.</summary>
    public int FragmentOffset;
    /// <summary>IPv4 identification or IPv6 fragment identification.</summary>
    public uint FragmentId;
    /// <summary>Offset, in the frame, of the fragmentable part (IPv4: after the header; IPv6: after the Fragment header).</summary>
    public int FragmentDataOffset;
    /// <summary>
    /// IPv6 fragments: length in bytes, counted from <see cref="L3Offset"/>, of the unfragmentable part (the fixed header and
    /// the extension headers before the Fragment header), i.e. the Fragment header starts at L3Offset + Ipv6UnfragmentableLength. 0 for IPv4.
    /// </summary>
    public int Ipv6UnfragmentableLength;
    /// <summary>IPv6 fragments: offset, in the frame, of the "next header" byte that holds 44 (points at the Fragment header). 0 for IPv4.</summary>
    public int Ipv6FragmentNextHeaderOffset;
    /// <summary>True when the capture (snap length) cut the IP packet short of the length its header declares.</summary>
    public bool L3Truncated;

    // ---- Layer 4 ----
    public TransportLayer Transport;
    public int L4Offset;
    public ushort SrcPort;
    public ushort DstPort;
    public uint Seq;
    public uint Ack;
    public TcpFlags Flags;
    public ushort Window;
    /// <summary>Application payload (TCP segment data / UDP datagram data), clipped to what was captured.</summary>
    public int PayloadOffset;
    public int PayloadLength;
    /// <summary>True when the snap length cut the payload short of what the headers declare.</summary>
    public bool PayloadTruncated;

    // ---- ARP ----
    public ushort ArpOperation;
    public MacAddress ArpSenderMac;
    public IpAddr ArpSenderIp;
    public MacAddress ArpTargetMac;
    public IpAddr ArpTargetIp;

    public readonly bool IsTcp => Transport == TransportLayer.Tcp;
    public readonly bool IsUdp => Transport == TransportLayer.Udp;
}
