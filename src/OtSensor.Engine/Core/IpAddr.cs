using System.Buffers.Binary;
using System.Net;

namespace OtSensor.Core;

/// <summary>
/// An IPv4 or IPv6 address as a 128-bit value type (no allocation). IPv4 addresses are stored
/// IPv4-mapped (::ffff:a.b.c.d) so both families share one representation and one hash.
/// </summary>
public readonly struct IpAddr : IEquatable<IpAddr>, IComparable<IpAddr>
{
    private const ulong V4MappedHi = 0UL;
    private const ulong V4MappedLoPrefix = 0x0000_FFFF_0000_0000UL;

    public readonly ulong Hi;
    public readonly ulong Lo;

    public IpAddr(ulong hi, ulong lo)
    {
        Hi = hi;
        Lo = lo;
    }

    public static IpAddr FromV4(uint addressHostOrder) => new(V4MappedHi, V4MappedLoPrefix | addressHostOrder);

    /// <summary>Reads 4 bytes (network order) as IPv4.</summary>
    public static IpAddr ReadV4(ReadOnlySpan<byte> four) => FromV4(BinaryPrimitives.ReadUInt32BigEndian(four));

    /// <summary>Reads 16 bytes (network order) as IPv6.</summary>
    public static IpAddr ReadV6(ReadOnlySpan<byte> sixteen)
        => new(BinaryPrimitives.ReadUInt64BigEndian(sixteen), BinaryPrimitives.ReadUInt64BigEndian(sixteen[8..]));

    public bool IsV4 => Hi == V4MappedHi && (Lo & 0xFFFF_FFFF_0000_0000UL) == V4MappedLoPrefix;
    public bool IsZero => Hi == 0 && Lo == 0;
    public uint V4 => (uint)Lo;

    public bool IsMulticast => IsV4 ? (V4 >> 28) == 0xE : (Hi >> 56) == 0xFF;
    public bool IsBroadcastV4 => IsV4 && V4 == 0xFFFF_FFFFu;

    public static IpAddr Parse(string text) => FromIPAddress(IPAddress.Parse(text));

    public static IpAddr FromIPAddress(IPAddress address)
    {
        Span<byte> b = stackalloc byte[16];
        if (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(b, out _);
            return ReadV4(b);
        }
        address.TryWriteBytes(b, out _);
        return ReadV6(b);
    }

    public IPAddress ToIPAddress()
    {
        if (IsV4)
        {
            Span<byte> four = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(four, V4);
            return new IPAddress(four);
        }
        Span<byte> b = stackalloc byte[16];
        WriteV6(b);
        return new IPAddress(b);
    }

    public void WriteV6(Span<byte> sixteen)
    {
        BinaryPrimitives.WriteUInt64BigEndian(sixteen, Hi);
        BinaryPrimitives.WriteUInt64BigEndian(sixteen[8..], Lo);
    }

    public bool Equals(IpAddr other) => Hi == other.Hi && Lo == other.Lo;
    public override bool Equals(object? obj) => obj is IpAddr a && Equals(a);
    /// <summary>
    /// Two multiplies of the halves under per-process random keys: addresses key the inventory's, the detection's and
    /// the reports' tables on every event (HashCode.Combine cost about 1% of a default replay), and traffic that chooses
    /// its addresses still cannot aim at one bucket without the keys.
    /// </summary>
    public override int GetHashCode()
    {
        ulong h = ((Hi ^ HashKeys.K0) * 0x9E37_79B9_7F4A_7C15UL) + ((Lo ^ HashKeys.K1) * 0xBF58_476D_1CE4_E5B9UL);
        return (int)(h >> 32) ^ (int)h;
    }

    /// <summary>The hash's keys (a class of their own, so that only the hash pays for their initialisation check).</summary>
    private static class HashKeys
    {
        public static readonly ulong K0 = (ulong)Random.Shared.NextInt64();
        public static readonly ulong K1 = (ulong)Random.Shared.NextInt64();
    }
    public int CompareTo(IpAddr other)
    {
        int c = Hi.CompareTo(other.Hi);
        return c != 0 ? c : Lo.CompareTo(other.Lo);
    }
    public static bool operator ==(IpAddr a, IpAddr b) => a.Equals(b);
    public static bool operator !=(IpAddr a, IpAddr b) => !a.Equals(b);

    /// <summary>Room for any address's text (IPv6 with an embedded IPv4 address is the longest).</summary>
    public const int MaxTextLength = 46;

    /// <summary>The <see cref="ToString"/> text as UTF-8 into <paramref name="utf8"/> (at least <see cref="MaxTextLength"/> bytes); its length.</summary>
    public int FormatUtf8(Span<byte> utf8)
    {
        if (IsV4)
        {
            uint v = V4;
            int n = 0;
            for (int shift = 24; shift >= 0; shift -= 8)
            {
                uint octet = (v >> shift) & 0xFF;
                if (octet >= 100) utf8[n++] = (byte)('0' + octet / 100);
                if (octet >= 10) utf8[n++] = (byte)('0' + octet / 10 % 10);
                utf8[n++] = (byte)('0' + octet % 10);
                if (shift > 0) utf8[n++] = (byte)'.';
            }
            return n;
        }
        return ToIPAddress().TryFormat(utf8, out int written) ? written : System.Text.Encoding.UTF8.GetBytes(ToString(), utf8);
    }

    public override string ToString()
    {
        if (IsV4)
        {
            // The dotted quad from FormatUtf8's digits: an interpolated string cost about 700 instructions per address.
            Span<byte> utf8 = stackalloc byte[15];
            int n = FormatUtf8(utf8);
            return string.Create(n, utf8[..n], static (chars, ascii) =>
            {
                for (int i = 0; i < chars.Length; i++) chars[i] = (char)ascii[i];
            });
        }
        return ToIPAddress().ToString();
    }
}
