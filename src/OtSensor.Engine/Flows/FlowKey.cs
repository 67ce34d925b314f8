using System.Numerics;
using OtSensor.Core;
using OtSensor.Decoding;

namespace OtSensor.Flows;

/// <summary>
/// Canonical flow key: the same value for both directions of a conversation (5-tuple + outer/inner VLAN).
/// Endpoint A is the smaller (address, port) pair; <see cref="From(in DecodedPacket, out bool)"/> tells whether the
/// packet's source is A. The hash is computed once, is deterministic across runs, and is symmetric by construction.
/// </summary>
public readonly struct FlowKey : IEquatable<FlowKey>
{
    public readonly IpAddr AddressA;
    public readonly IpAddr AddressB;
    public readonly ushort PortA;
    public readonly ushort PortB;
    public readonly ushort Vlan;
    public readonly ushort InnerVlan;
    public readonly TransportLayer Transport;
    private readonly uint _hash;

    /// <summary>Builds the canonical key of a packet from <paramref name="srcIp"/>:<paramref name="srcPort"/> to <paramref name="dstIp"/>:<paramref name="dstPort"/>.</summary>
    public FlowKey(IpAddr srcIp, ushort srcPort, IpAddr dstIp, ushort dstPort, TransportLayer transport, ushort vlan, ushort innerVlan)
        : this(srcIp, srcPort, dstIp, dstPort, transport, vlan, innerVlan, out _)
    {
    }

    private FlowKey(IpAddr srcIp, ushort srcPort, IpAddr dstIp, ushort dstPort, TransportLayer transport, ushort vlan, ushort innerVlan, out bool sourceIsA)
    {
        int c = srcIp.CompareTo(dstIp);
        sourceIsA = c < 0 || (c == 0 && srcPort <= dstPort);
        if (sourceIsA)
        {
            AddressA = srcIp; PortA = srcPort; AddressB = dstIp; PortB = dstPort;
        }
        else
        {
            AddressA = dstIp; PortA = dstPort; AddressB = srcIp; PortB = srcPort;
        }
        Vlan = vlan;
        InnerVlan = innerVlan;
        Transport = transport;
        _hash = ComputeHash(AddressA, AddressB, PortA, PortB, vlan, innerVlan, transport);
    }

    public static FlowKey From(in DecodedPacket p) => From(p, out _);

    /// <summary>
    /// The <see cref="SymmetricHash"/> of <paramref name="p"/>'s key and its direction, without building the key: the
    /// dispatcher needs only these to pick the worker; the worker rebuilds the key with <see cref="FromClassified"/>.
    /// </summary>
    internal static uint HashOf(in DecodedPacket p, out bool sourceIsA)
    {
        // Branch-free: which side is A follows the packet's direction, which a branch predictor cannot guess.
        ulong sh = p.SrcIp.Hi, sl = p.SrcIp.Lo, dh = p.DstIp.Hi, dl = p.DstIp.Lo;
        uint sp = p.SrcPort, dp = p.DstPort;
        bool a = (sh < dh) | ((sh == dh) & ((sl < dl) | ((sl == dl) & (sp <= dp))));
        sourceIsA = a;
        ulong mask = 0UL - (a ? 1UL : 0UL);
        return ComputeHash(dh ^ ((sh ^ dh) & mask), dl ^ ((sl ^ dl) & mask), sh ^ ((sh ^ dh) & mask), sl ^ ((sl ^ dl) & mask),
            dp ^ ((sp ^ dp) & (uint)mask), sp ^ ((sp ^ dp) & (uint)mask), p.Vlan, p.InnerVlan, p.Transport);
    }

    /// <summary>The key of <paramref name="p"/> from the direction and hash <see cref="HashOf"/> gave for it.</summary>
    internal static FlowKey FromClassified(in DecodedPacket p, bool sourceIsA, uint hash)
        => sourceIsA
            ? new FlowKey(p.SrcIp, p.SrcPort, p.DstIp, p.DstPort, p.Transport, p.Vlan, p.InnerVlan, hash)
            : new FlowKey(p.DstIp, p.DstPort, p.SrcIp, p.SrcPort, p.Transport, p.Vlan, p.InnerVlan, hash);

    private FlowKey(IpAddr a, ushort portA, IpAddr b, ushort portB, TransportLayer transport, ushort vlan, ushort innerVlan, uint hash)
    {
        AddressA = a; PortA = portA; AddressB = b; PortB = portB;
        Vlan = vlan;
        InnerVlan = innerVlan;
        Transport = transport;
        _hash = hash;
    }

    /// <summary>The canonical key of <paramref name="p"/>; <paramref name="sourceIsA"/> is true when the packet's source is endpoint A.</summary>
    public static FlowKey From(in DecodedPacket p, out bool sourceIsA)
        => new(p.SrcIp, p.SrcPort, p.DstIp, p.DstPort, p.Transport, p.Vlan, p.InnerVlan, out sourceIsA);

    /// <summary>Same for both directions, well mixed (the pipeline shards flows over workers by it).</summary>
    public uint SymmetricHash => _hash;

    private static uint ComputeHash(IpAddr a, IpAddr b, ushort portA, ushort portB, ushort vlan, ushort innerVlan, TransportLayer transport)
        => ComputeHash(a.Hi, a.Lo, b.Hi, b.Lo, portA, portB, vlan, innerVlan, transport);

    private static uint ComputeHash(ulong aHi, ulong aLo, ulong bHi, ulong bLo, uint portA, uint portB, ushort vlan, ushort innerVlan, TransportLayer transport)
    {
        // The dispatcher hashes every packet before it can pick the worker, so the dependency chain is kept short:
        // five independent products summed, then one avalanche (a chain of rounds cost about 40 cycles a packet).
        ulong rest = portA | ((ulong)portB << 16) | ((ulong)(vlan & 0xFFF) << 32) | ((ulong)(innerVlan & 0xFFF) << 44) | ((ulong)transport << 56);
        ulong h = ((aHi ^ 0x243F_6A88_85A3_08D3UL) * 0x9E37_79B9_7F4A_7C15UL)
            + ((aLo ^ 0x1319_8A2E_0370_7344UL) * 0xBF58_476D_1CE4_E5B9UL)
            + ((bHi ^ 0xA409_3822_299F_31D0UL) * 0x94D0_49BB_1331_11EBUL)
            + ((bLo ^ 0x082E_FA98_EC4E_6C89UL) * 0xFF51_AFD7_ED55_8CCDUL)
            + ((rest ^ 0x4528_21E6_38D0_1377UL) * 0xC4CE_B9FE_1A85_EC53UL);
        h ^= h >> 31;
        h *= 0xD6E8_FEB8_6659_FD93UL;
        h ^= h >> 32;
        return (uint)h;
    }

    public bool Equals(FlowKey other)
        => _hash == other._hash && PortA == other.PortA && PortB == other.PortB && Transport == other.Transport
            && Vlan == other.Vlan && InnerVlan == other.InnerVlan && AddressA == other.AddressA && AddressB == other.AddressB;

    public override bool Equals(object? obj) => obj is FlowKey k && Equals(k);
    public override int GetHashCode() => (int)_hash;
    public static bool operator ==(FlowKey left, FlowKey right) => left.Equals(right);
    public static bool operator !=(FlowKey left, FlowKey right) => !left.Equals(right);

    public override string ToString() => $"{Transport} {AddressA}:{PortA} <-> {AddressB}:{PortB} vlan {Vlan}/{InnerVlan}";
}
