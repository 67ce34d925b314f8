namespace OtSensor.Detection;

/// <summary>
/// The pcap traces of the last <see cref="Capacity"/> alerts, packed one after the other into chunks of a fixed size
/// instead of one array per alert (used when no store takes the traces): once there are enough chunks for the kept
/// traces, an alert's trace allocates nothing. A chunk is reused when its last trace is dropped; a trace larger than a
/// chunk gets a chunk of its own. The last <see cref="Capacity"/> traces are always kept whatever their sizes, and
/// growing never copies the traces already kept (no buffer twice as large, so no large allocations while alerts
/// accumulate). Alert ids must be added in increasing order.
/// </summary>
internal sealed class TraceArena
{
    private readonly long[] _ids;
    private readonly int[] _chunkOf;
    private readonly int[] _offsets;
    private readonly int[] _lengths;
    private int _first;
    private int _count;
    private readonly int _chunkBytes;
    private readonly List<byte[]?> _chunks = [];
    private readonly List<int> _live = [];      // traces kept per chunk
    private readonly Stack<int> _freeChunks = new(); // standard chunks with no trace (reused)
    private readonly Stack<int> _freeIndexes = new(); // indexes of released oversized chunks
    private int _current = -1; // the chunk being filled
    private int _used;         // bytes used in it
    private long _bufferBytes;

    public TraceArena(int capacity, int initialBytes = 256 << 10)
    {
        _ids = new long[capacity];
        _chunkOf = new int[capacity];
        _offsets = new int[capacity];
        _lengths = new int[capacity];
        _chunkBytes = Math.Max(initialBytes, 1024);
    }

    public int Capacity => _ids.Length;
    public int Count => _count;

    /// <summary>Bytes of the chunks currently held.</summary>
    public int BufferBytes => (int)Math.Min(_bufferBytes, int.MaxValue);

    /// <summary>Reserves <paramref name="length"/> bytes for the trace of alert <paramref name="id"/> (dropping the oldest trace when full); the caller writes the trace there.</summary>
    public Span<byte> Add(long id, int length)
    {
        if (_count == _ids.Length)
        {
            int dropped = _chunkOf[_first];
            _first = _first + 1 == _ids.Length ? 0 : _first + 1;
            _count--;
            if (--_live[dropped] == 0 && dropped != _current) Release(dropped);
        }
        int chunk;
        int offset;
        if (length > _chunkBytes)
        {
            chunk = NewChunk(length);
            offset = 0;
        }
        else
        {
            if (_current < 0 || _used + length > _chunkBytes)
            {
                int previous = _current;
                _current = TakeChunk();
                _used = 0;
                if (previous >= 0 && _live[previous] == 0) Release(previous);
            }
            chunk = _current;
            offset = _used;
            _used += length;
        }
        _live[chunk]++;
        int slot = _first + _count;
        if (slot >= _ids.Length) slot -= _ids.Length;
        _ids[slot] = id;
        _chunkOf[slot] = chunk;
        _offsets[slot] = offset;
        _lengths[slot] = length;
        _count++;
        return _chunks[chunk].AsSpan(offset, length);
    }

    /// <summary>A copy of the trace of alert <paramref name="id"/>, or null when it is not (or no longer) kept.</summary>
    public byte[]? Get(long id)
    {
        int lo = 0, hi = _count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            int slot = (_first + mid) % _ids.Length;
            long v = _ids[slot];
            if (v == id) return _chunks[_chunkOf[slot]].AsSpan(_offsets[slot], _lengths[slot]).ToArray();
            if (v < id) lo = mid + 1;
            else hi = mid - 1;
        }
        return null;
    }

    private int TakeChunk() => _freeChunks.Count > 0 ? _freeChunks.Pop() : NewChunk(_chunkBytes);

    private int NewChunk(int bytes)
    {
        var chunk = new byte[bytes];
        _bufferBytes += bytes;
        if (_freeIndexes.Count > 0)
        {
            int i = _freeIndexes.Pop();
            _chunks[i] = chunk;
            _live[i] = 0;
            return i;
        }
        _chunks.Add(chunk);
        _live.Add(0);
        return _chunks.Count - 1;
    }

    /// <summary>A chunk with no trace left: a standard one is kept for reuse, an oversized one is let go.</summary>
    private void Release(int chunk)
    {
        var c = _chunks[chunk]!;
        if (c.Length == _chunkBytes)
        {
            _freeChunks.Push(chunk);
            return;
        }
        _bufferBytes -= c.Length;
        _chunks[chunk] = null;
        _freeIndexes.Push(chunk);
    }
}
