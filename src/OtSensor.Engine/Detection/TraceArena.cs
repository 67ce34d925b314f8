namespace OtSensor.Detection;

/// <summary>
/// The pcap traces of the last <see cref="Capacity"/> alerts, in one circular byte buffer instead of one array per
/// alert (used when no store takes the traces): once the buffer has grown to what the kept traces need, an alert's
/// trace allocates nothing. The buffer grows (never shrinks) when the kept traces need more room, so the last
/// <see cref="Capacity"/> traces are always kept whatever their sizes. Alert ids must be added in increasing order.
/// </summary>
internal sealed class TraceArena
{
    private readonly long[] _ids;
    private readonly long[] _starts; // absolute byte positions
    private readonly int[] _lengths;
    private int _first;
    private int _count;
    private byte[] _buffer;
    private long _head; // absolute position of the next write

    public TraceArena(int capacity, int initialBytes = 64 << 10)
    {
        _ids = new long[capacity];
        _starts = new long[capacity];
        _lengths = new int[capacity];
        _buffer = new byte[Math.Max(initialBytes, 1024)];
    }

    public int Capacity => _ids.Length;
    public int Count => _count;
    public int BufferBytes => _buffer.Length;

    /// <summary>Reserves <paramref name="length"/> bytes for the trace of alert <paramref name="id"/> (dropping the oldest trace when full); the caller writes the trace there.</summary>
    public Span<byte> Add(long id, int length)
    {
        if (_count == _ids.Length)
        {
            _first = (_first + 1) % _ids.Length;
            _count--;
        }
        long start = Place(length);
        if (length > _buffer.Length || (_count > 0 && _starts[_first] < start + length - _buffer.Length))
        {
            Grow(length);
            start = Place(length);
        }
        int slot = (_first + _count) % _ids.Length;
        _ids[slot] = id;
        _starts[slot] = start;
        _lengths[slot] = length;
        _count++;
        _head = start + length;
        return _buffer.AsSpan((int)(start % _buffer.Length), length);
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
            if (v == id) return _buffer.AsSpan((int)(_starts[slot] % _buffer.Length), _lengths[slot]).ToArray();
            if (v < id) lo = mid + 1;
            else hi = mid - 1;
        }
        return null;
    }

    // Traces are stored contiguously: one that would cross the end of the buffer starts at its beginning.
    private long Place(int length)
    {
        int pos = (int)(_head % _buffer.Length);
        return pos + length > _buffer.Length ? _head + (_buffer.Length - pos) : _head;
    }

    private void Grow(int length)
    {
        long live = 0;
        for (int k = 0; k < _count; k++) live += _lengths[(_first + k) % _ids.Length];
        long need = live + length;
        long size = Math.Max((long)_buffer.Length * 2, need * 2);
        var next = new byte[(int)Math.Min(size, Array.MaxLength)];
        long at = 0;
        for (int k = 0; k < _count; k++)
        {
            int slot = (_first + k) % _ids.Length;
            _buffer.AsSpan((int)(_starts[slot] % _buffer.Length), _lengths[slot]).CopyTo(next.AsSpan((int)at));
            _starts[slot] = at;
            at += _lengths[slot];
        }
        _buffer = next;
        _head = at;
    }
}
