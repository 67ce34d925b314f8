using System.Buffers;

namespace OtSensor.Output;

/// <summary>
/// A buffer writer of pooled 1 MiB chunks: megabytes of output are held without the copies and fresh pages of a buffer
/// that grows by doubling. Disposing returns the chunks to the pool.
/// </summary>
internal sealed class ChunkedBuffer : IBufferWriter<byte>, IDisposable
{
    private const int ChunkSize = 1 << 20;
    private readonly List<(byte[] Chunk, int Length)> _chunks = [];
    private byte[]? _current;
    private int _used;
    private long _full;

    /// <summary>Bytes written so far.</summary>
    public long Length => _full + _used;

    /// <summary>Where the caller's part of the content starts and ends (free for the owner to set).</summary>
    public long Start { get; set; }
    public long End { get; set; }

    public void Advance(int count)
    {
        if (count < 0 || _current is null || count > _current.Length - _used) throw new ArgumentOutOfRangeException(nameof(count));
        _used += count;
    }

    public Memory<byte> GetMemory(int sizeHint = 0) => Reserve(sizeHint).AsMemory(_used);

    public Span<byte> GetSpan(int sizeHint = 0) => Reserve(sizeHint).AsSpan(_used);

    private byte[] Reserve(int sizeHint)
    {
        int need = Math.Max(1, sizeHint);
        if (_current is null || _current.Length - _used < need)
        {
            if (_current is not null)
            {
                _chunks.Add((_current, _used));
                _full += _used;
            }
            _current = ArrayPool<byte>.Shared.Rent(Math.Max(ChunkSize, need));
            _used = 0;
        }
        return _current;
    }

    /// <summary>The byte at <paramref name="position"/>, as a one-byte span.</summary>
    public ReadOnlySpan<byte> ByteAt(long position)
    {
        foreach (var (chunk, length) in Segments())
        {
            if (position < length) return chunk.AsSpan((int)position, 1);
            position -= length;
        }
        throw new ArgumentOutOfRangeException(nameof(position));
    }

    /// <summary>Writes the bytes from <paramref name="from"/> up to <paramref name="to"/> (exclusive) to <paramref name="output"/>.</summary>
    public void CopyTo(Stream output, long from, long to)
    {
        long offset = 0;
        foreach (var (chunk, length) in Segments())
        {
            long start = Math.Max(from, offset), end = Math.Min(to, offset + length);
            if (start < end) output.Write(chunk, (int)(start - offset), (int)(end - start));
            offset += length;
        }
    }

    private IEnumerable<(byte[] Chunk, int Length)> Segments()
    {
        foreach (var c in _chunks) yield return c;
        if (_current is not null) yield return (_current, _used);
    }

    public void Dispose()
    {
        foreach (var (c, _) in _chunks) ArrayPool<byte>.Shared.Return(c);
        _chunks.Clear();
        if (_current is not null) ArrayPool<byte>.Shared.Return(_current);
        _current = null;
        _used = 0;
        _full = 0;
    }
}
