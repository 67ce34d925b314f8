using System.Buffers;
using System.Numerics;

namespace OtSensor.Core;

/// <summary>
/// A small per-thread cache of byte arrays in front of <see cref="ArrayPool{T}.Shared"/>, for the dissectors' buffers
/// (pending exchanges, reassembly). The shared pool keeps one array per size per thread; a worker with many exchanges
/// open at once then goes to its locked per-core stacks on every rent and return (about 2% of a mixed replay's time
/// went to that lock). Arrays are the shared pool's power-of-two sizes, so either may take back what the other gave.
/// </summary>
internal static class ThreadBufferCache
{
    private const int MinShift = 4;              // 16 bytes
    private const int MaxShift = 16;             // 64 KiB: larger arrays go straight to the shared pool
    private const int BytesPerBucket = 256 * 1024;
    private const int MinPerBucket = 4;
    private const int MaxPerBucket = 64;

    [ThreadStatic] private static Bucket[]? t_buckets;

    private sealed class Bucket(int capacity)
    {
        public readonly byte[][] Items = new byte[capacity][];
        public int Count;
    }

    /// <summary>An array of at least <paramref name="minimumLength"/> bytes (its contents are not cleared).</summary>
    public static byte[] Rent(int minimumLength)
    {
        int shift = ShiftOf(Math.Max(minimumLength, 1 << MinShift));
        if (shift <= MaxShift && t_buckets?[shift - MinShift] is { Count: > 0 } b)
        {
            var a = b.Items[--b.Count];
            b.Items[b.Count] = null!;
            return a;
        }
        return ArrayPool<byte>.Shared.Rent(Math.Max(minimumLength, 1 << MinShift));
    }

    /// <summary>Gives back an array from <see cref="Rent"/> (or from the shared pool).</summary>
    public static void Return(byte[] array)
    {
        int length = array.Length;
        if (length >= 1 << MinShift && length <= 1 << MaxShift && BitOperations.IsPow2(length))
        {
            var buckets = t_buckets ??= new Bucket[MaxShift - MinShift + 1];
            int i = ShiftOf(length) - MinShift;
            var b = buckets[i] ??= new Bucket(Math.Clamp(BytesPerBucket >> (i + MinShift), MinPerBucket, MaxPerBucket));
            if (b.Count < b.Items.Length)
            {
                b.Items[b.Count++] = array;
                return;
            }
        }
        ArrayPool<byte>.Shared.Return(array);
    }

    private static int ShiftOf(int length) => BitOperations.Log2((uint)length - 1) + 1;
}
