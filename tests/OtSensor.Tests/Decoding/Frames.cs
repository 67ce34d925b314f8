using System.Buffers.Binary;
using System.Net;

namespace OtSensor.Tests.Decoding;

/// <summary>Byte helpers that build test frames layer by layer (checksums filled where the decoder could check them).</summary>
internal static class Frames
{
    public static readonly byte[] MacA = [0x00, 0x1D, 0x9C, 0xAA, 0xBB, 0xCC];
    public static readonly byte[] MacB = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];

    public static byte[] Cat(params byte[][] parts)
    {
        var result = new List<byte>();
        foreach (byte[] p in parts)
            result.AddRange(p);
        return [.. result];
    }

    public static byte[] Hex(string hex) => Convert.FromHexString(hex);

    public static byte[] U16(int v) => [(byte)(v >> 8), (byte)v];

    public static byte[] U32(uint v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];

    public static byte[] Ip(string text) => IPAddress.Parse(text).GetAddressBytes();

    public static byte[] Eth(ushort type, byte[] payload) => Cat(MacB, MacA, U16(type), payload);

    /// <summary>Ethernet with VLAN tags: (tpid, vlan id) pairs, outermost first.</summary>
    public static byte[] EthVlan((ushort Tpid, ushort Id)[] tags, ushort type, byte[] payload)
    {
        var parts = new List<byte[]> { MacB, MacA };
        for (int i = 0; i < tags.Length; i++)
        {
            parts.Add(U16(tags[i].Tpid));
            parts.Add(U16((5 << 13) | tags[i].Id)); // PCP 5 must not leak into the id
        }
        parts.Add(U16(type));
        parts.Add(payload);
        return Cat([.. parts]);
    }

    public static byte[] Ipv4(byte protocol, byte[] payload, string src = "10.0.0.1", string dst = "10.0.0.2", byte[]? options = null,
        ushort id = 1, bool moreFragments = false, int offsetBytes = 0, bool dontFragment = false, byte ttl = 64, int? totalLength = null)
    {
        options ??= [];
        int headerLength = 20 + options.Length;
        var h = new byte[headerLength];
        h[0] = (byte)(0x40 | (headerLength / 4));
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), (ushort)(totalLength ?? (headerLength + payload.Length)));
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(4), id);
        int flags = (dontFragment ? 0x4000 : 0) | (moreFragments ? 0x2000 : 0) | (offsetBytes / 8);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(6), (ushort)flags);
        h[8] = ttl;
        h[9] = protocol;
        Ip(src).CopyTo(h, 12);
        Ip(dst).CopyTo(h, 16);
        options.CopyTo(h, 20);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(10), Checksum(h));
        return Cat(h, payload);
    }

    public static ushort Checksum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < data.Length; i += 2)
            sum += BinaryPrimitives.ReadUInt16BigEndian(data.Slice(i));
        while (sum > 0xFFFF)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    public static byte[] Ipv6(byte nextHeader, byte[] payload, string src = "2001:db8::1", string dst = "2001:db8::2", byte hopLimit = 64,
        int? payloadLength = null)
    {
        var h = new byte[40];
        h[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(4), (ushort)(payloadLength ?? payload.Length));
        h[6] = nextHeader;
        h[7] = hopLimit;
        Ip(src).CopyTo(h, 8);
        Ip(dst).CopyTo(h, 24);
        return Cat(h, payload);
    }

    /// <summary>A generic extension header (Hop-by-Hop, Routing, Destination Options, ...) of <paramref name="length"/> bytes (multiple of 8).</summary>
    public static byte[] Ext(byte nextHeader, int length = 8)
    {
        var h = new byte[length];
        h[0] = nextHeader;
        h[1] = (byte)((length / 8) - 1);
        h[2] = 1; // PadN option
        h[3] = (byte)(length - 4);
        return h;
    }

    /// <summary>An Authentication Header of <paramref name="length"/> bytes (multiple of 4, at least 12).</summary>
    public static byte[] Ah(byte nextHeader, int length = 16)
    {
        var h = new byte[length];
        h[0] = nextHeader;
        h[1] = (byte)((length / 4) - 2);
        return h;
    }

    public static byte[] Frag6(byte nextHeader, int offsetBytes, bool more, uint id)
        => Cat([nextHeader, 0], U16(offsetBytes | (more ? 1 : 0)), U32(id));

    public static byte[] Tcp(ushort srcPort, ushort dstPort, byte[] payload, uint seq = 1000, uint ack = 2000, byte flags = 0x18,
        byte[]? options = null, ushort window = 8192, int? dataOffsetWords = null)
    {
        options ??= [];
        var h = new byte[20 + options.Length];
        BinaryPrimitives.WriteUInt16BigEndian(h, srcPort);
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(2), dstPort);
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(4), seq);
        BinaryPrimitives.WriteUInt32BigEndian(h.AsSpan(8), ack);
        h[12] = (byte)((dataOffsetWords ?? (h.Length / 4)) << 4);
        h[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(h.AsSpan(14), window);
        options.CopyTo(h, 20);
        return Cat(h, payload);
    }

    public static byte[] Udp(ushort srcPort, ushort dstPort, byte[] payload, int? length = null)
        => Cat(U16(srcPort), U16(dstPort), U16(length ?? (8 + payload.Length)), U16(0), payload);

    public static byte[] Arp(ushort operation, byte[] senderMac, string senderIp, byte[] targetMac, string targetIp)
        => Cat(U16(1), U16(0x0800), [6, 4], U16(operation), senderMac, Ip(senderIp), targetMac, Ip(targetIp));

    public static byte[] Bytes(int count, int seed = 0)
    {
        var b = new byte[count];
        for (int i = 0; i < count; i++)
            b[i] = (byte)((i * 7) + seed);
        return b;
    }

    /// <summary>A typical valid frame: Ethernet / IPv4 / TCP 40000 -> 502 with a 12-byte Modbus request.</summary>
    public static byte[] EthIpv4Tcp()
        => Eth(0x0800, Ipv4(6, Tcp(40000, 502, Hex("000100000006010300000002"))));
}
