using System.Buffers.Binary;
using OtSensor.Core;

namespace OtSensor.Capture;

/// <summary>
/// Writes classic little-endian pcap (magic a1b2c3d4 for microseconds, a1b23c4d for nanoseconds).
/// Output is buffered internally; call <see cref="Flush"/> or dispose to push it to the stream.
/// </summary>
public sealed class PcapWriter : IDisposable
{
    private const int BufferSize = 64 * 1024;

    private readonly Stream _stream;
    private readonly bool _leaveOpen;
    private readonly bool _nanosecond;
    private readonly byte[] _buf;
    private int _len;
    private bool _disposed;

    /// <param name="bufferBytes">Output buffer (64 KiB by default); small writers (an alert's few packets) use less.</param>
    public PcapWriter(Stream stream, LinkType linkType, int snapLength = 262144, bool nanosecond = false, bool leaveOpen = false, int bufferBytes = BufferSize)
    {
        _buf = new byte[Math.Max(256, bufferBytes)];
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(snapLength);
        _stream = stream;
        _leaveOpen = leaveOpen;
        _nanosecond = nanosecond;
        SnapLength = snapLength;
        LinkType = linkType;

        Span<byte> h = _buf.AsSpan(0, 24);
        BinaryPrimitives.WriteUInt32LittleEndian(h, nanosecond ? 0xA1B23C4Du : 0xA1B2C3D4u);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(h[16..], snapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], (ushort)linkType);
        _len = 24;
    }

    public LinkType LinkType { get; }
    public int SnapLength { get; }
    public long PacketsWritten { get; private set; }

    /// <summary>
    /// Writes one record. Data longer than the snap length is cut to it. <paramref name="originalLength"/>
    /// defaults to the data length and is raised to the captured length if smaller.
    /// Timestamps are truncated to microseconds unless the writer is in nanosecond mode.
    /// </summary>
    public void WritePacket(long timestampNs, ReadOnlySpan<byte> data, int originalLength = -1)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int cap = Math.Min(data.Length, SnapLength);
        int orig = originalLength < 0 ? data.Length : Math.Max(originalLength, cap);
        long sec = Math.DivRem(timestampNs, PacketTime.NanosPerSecond, out long rem);
        if (rem < 0)
        {
            sec--;
            rem += PacketTime.NanosPerSecond;
        }
        uint frac = (uint)(_nanosecond ? rem : rem / 1000);

        if (_len + 16 > _buf.Length)
            FlushBuffer();
        Span<byte> h = _buf.AsSpan(_len, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(h, unchecked((uint)sec));
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], frac);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], cap);
        BinaryPrimitives.WriteInt32LittleEndian(h[12..], orig);
        _len += 16;

        ReadOnlySpan<byte> payload = data[..cap];
        if (payload.Length <= _buf.Length - _len)
        {
            payload.CopyTo(_buf.AsSpan(_len));
            _len += payload.Length;
        }
        else
        {
            FlushBuffer();
            if (payload.Length <= _buf.Length)
            {
                payload.CopyTo(_buf);
                _len = payload.Length;
            }
            else
            {
                _stream.Write(payload);
            }
        }
        PacketsWritten++;
    }

    /// <summary>Writes buffered records to the stream and flushes it.</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        FlushBuffer();
        _stream.Flush();
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        try
        {
            FlushBuffer();
            _stream.Flush();
        }
        finally
        {
            _disposed = true;
            if (!_leaveOpen)
                _stream.Dispose();
        }
    }

    private void FlushBuffer()
    {
        if (_len > 0)
        {
            _stream.Write(_buf, 0, _len);
            _len = 0;
        }
    }
}
