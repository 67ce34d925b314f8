namespace OtSensor.Pipeline;

/// <summary>
/// A bounded single-producer single-consumer ring of packets between a capture thread and the ingest thread. The
/// producer never waits: a packet that does not fit is refused (the caller counts it as an application drop).
/// Records are [length:int32][original length:int32][timestamp:int64][data, padded to 8 bytes]; a length of -1
/// marks the unused tail of the buffer before the writer wrapped to its start.
/// </summary>
public sealed class PacketRing
{
    private const int HeaderBytes = 16;
    private const int WrapMarker = -1;
    private readonly byte[] _buffer;
    private readonly int _capacity;
    private long _head; // total bytes published by the producer
    private long _tail; // total bytes released by the consumer

    public PacketRing(int capacityBytes)
    {
        if (capacityBytes < 4096) throw new ArgumentOutOfRangeException(nameof(capacityBytes), "a packet ring needs at least 4 KiB");
        _capacity = capacityBytes & ~7;
        _buffer = GC.AllocateUninitializedArray<byte>(_capacity, pinned: false);
        MaxPacketBytes = _capacity / 4 - HeaderBytes;
    }

    public int Capacity => _capacity;
    /// <summary>Largest packet the ring takes (a quarter of it), so one jumbo frame cannot starve the others.</summary>
    public int MaxPacketBytes { get; }
    /// <summary>Bytes waiting for the consumer (safe from any thread).</summary>
    public long UsedBytes => Volatile.Read(ref _head) - Volatile.Read(ref _tail);

    /// <summary>Producer: copies the packet in; false when it does not fit (the ring is full or the packet too large).</summary>
    public bool TryWrite(ReadOnlySpan<byte> data, int originalLength, long timestampNs)
    {
        if (data.Length > MaxPacketBytes) return false;
        int record = HeaderBytes + ((data.Length + 7) & ~7);
        long head = _head;
        int pos = (int)(head % _capacity);
        int skip = _capacity - pos < record ? _capacity - pos : 0;
        if (head + skip + record - Volatile.Read(ref _tail) > _capacity) return false;
        var buf = _buffer.AsSpan();
        if (skip > 0)
        {
            BitConverter.TryWriteBytes(buf.Slice(pos, 4), WrapMarker);
            pos = 0;
        }
        BitConverter.TryWriteBytes(buf.Slice(pos, 4), data.Length);
        BitConverter.TryWriteBytes(buf.Slice(pos + 4, 4), originalLength);
        BitConverter.TryWriteBytes(buf.Slice(pos + 8, 8), timestampNs);
        data.CopyTo(buf.Slice(pos + HeaderBytes));
        Volatile.Write(ref _head, head + skip + record);
        return true;
    }

    /// <summary>
    /// Consumer: the oldest packet, left in place until <see cref="Release"/>; false when the ring is empty.
    /// </summary>
    public bool TryPeek(out ReadOnlySpan<byte> data, out int originalLength, out long timestampNs)
    {
        long tail = _tail;
        while (true)
        {
            if (tail == Volatile.Read(ref _head))
            {
                data = default;
                originalLength = 0;
                timestampNs = 0;
                return false;
            }
            int pos = (int)(tail % _capacity);
            int length = BitConverter.ToInt32(_buffer, pos);
            if (length == WrapMarker)
            {
                tail += _capacity - pos;
                Volatile.Write(ref _tail, tail);
                continue;
            }
            originalLength = BitConverter.ToInt32(_buffer, pos + 4);
            timestampNs = BitConverter.ToInt64(_buffer, pos + 8);
            data = _buffer.AsSpan(pos + HeaderBytes, length);
            return true;
        }
    }

    /// <summary>Consumer: frees the packet returned by the last <see cref="TryPeek"/>.</summary>
    public void Release()
    {
        long tail = _tail;
        int pos = (int)(tail % _capacity);
        int length = BitConverter.ToInt32(_buffer, pos);
        Volatile.Write(ref _tail, tail + HeaderBytes + ((length + 7) & ~7));
    }
}
