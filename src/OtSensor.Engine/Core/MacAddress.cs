using System.Buffers.Binary;

namespace OtSensor.Core;

/// <summary>A 48-bit IEEE MAC address kept in the low 48 bits of a <see cref="ulong"/>.</summary>
public readonly struct MacAddress : IEquatable<MacAddress>, IComparable<MacAddress>
{
    public readonly ulong Value;

    public MacAddress(ulong value) => Value = value & 0xFFFF_FFFF_FFFFUL;

    public static MacAddress Read(ReadOnlySpan<byte> six)
        => new(((ulong)BinaryPrimitives.ReadUInt16BigEndian(six) << 32) | BinaryPrimitives.ReadUInt32BigEndian(six[2..]));

    public bool IsZero => Value == 0;
    public bool IsBroadcast => Value == 0xFFFF_FFFF_FFFFUL;
    /// <summary>I/G bit: group (multicast or broadcast) address.</summary>
    public bool IsMulticast => (Value & 0x0100_0000_0000UL) != 0;
    /// <summary>U/L bit: locally administered (randomised, virtual) address.</summary>
    public bool IsLocallyAdministered => (Value & 0x0200_0000_0000UL) != 0;
    /// <summary>The 24-bit organisationally unique identifier.</summary>
    public uint Oui => (uint)(Value >> 24);

    public void WriteTo(Span<byte> six)
    {
        BinaryPrimitives.WriteUInt16BigEndian(six, (ushort)(Value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(six[2..], (uint)Value);
    }

    public bool Equals(MacAddress other) => Value == other.Value;
    public override bool Equals(object? obj) => obj is MacAddress m && Equals(m);
    public override int GetHashCode() => Value.GetHashCode();
    public int CompareTo(MacAddress other) => Value.CompareTo(other.Value);
    public static bool operator ==(MacAddress a, MacAddress b) => a.Value == b.Value;
    public static bool operator !=(MacAddress a, MacAddress b) => a.Value != b.Value;

    /// <summary>The length of the text form (aa:bb:cc:dd:ee:ff).</summary>
    public const int TextLength = 17;

    public override string ToString() => string.Create(TextLength, Value, static (dst, v) =>
    {
        for (int i = 0; i < TextLength; i++) dst[i] = (char)TextByte(v, i);
    });

    /// <summary>The <see cref="ToString"/> text as UTF-8 into the first <see cref="TextLength"/> bytes of <paramref name="utf8"/>.</summary>
    public int FormatUtf8(Span<byte> utf8)
    {
        _ = utf8[TextLength - 1];
        for (int i = 0; i < TextLength; i++) utf8[i] = TextByte(Value, i);
        return TextLength;
    }

    /// <summary>Character <paramref name="i"/> of the text form: two lower-case hex digits per byte, ':' between.</summary>
    private static byte TextByte(ulong v, int i)
    {
        if (i % 3 == 2) return (byte)':';
        int b = (int)(v >> (40 - 8 * (i / 3))) & 0xFF;
        return "0123456789abcdef"u8[i % 3 == 0 ? b >> 4 : b & 0xF];
    }
}
