using System.Buffers.Binary;

namespace OtSensor.Core;

/// <summary>A multiply-xor hash over 8 bytes at a time, for picking a slot in a small cache (any spread will do).</summary>
internal static class BytesHash
{
    private const ulong K = 0x9E37_79B9_7F4A_7C15UL;

    /// <summary>Mixes <paramref name="bytes"/> (and their length) into <paramref name="h"/>; the high bits are the best mixed.</summary>
    public static ulong Mix(ulong h, ReadOnlySpan<byte> bytes)
    {
        int i = 0;
        for (; i + 8 <= bytes.Length; i += 8) h = (h ^ BinaryPrimitives.ReadUInt64LittleEndian(bytes[i..])) * K;
        ulong tail = 0;
        for (int shift = 0; i < bytes.Length; i++, shift += 8) tail |= (ulong)bytes[i] << shift;
        return (h ^ tail ^ (ulong)bytes.Length) * K;
    }

    /// <summary>The top <paramref name="bits"/> bits of <paramref name="bytes"/>' hash.</summary>
    public static int Slot(ReadOnlySpan<byte> bytes, int bits) => (int)(Mix(K, bytes) >> (64 - bits));
}
