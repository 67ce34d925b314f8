namespace OtSensor.Capture;

/// <summary>
/// Read-only pass-through stream that first replays bytes already taken from the inner stream (the sniffed
/// magic) and counts every byte handed out, so a reader on top of a decompressor can report how far it is
/// in the compressed file.
/// </summary>
internal sealed class CountingReadStream : Stream
{
    private readonly Stream _inner;
    private readonly byte[] _prefix;
    private int _prefixPos;

    public CountingReadStream(Stream inner, byte[] prefix)
    {
        _inner = inner;
        _prefix = prefix;
    }

    /// <summary>Bytes handed out so far (prefix included).</summary>
    public long Count { get; private set; }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => Count;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (buffer.IsEmpty)
            return 0;
        int n;
        if (_prefixPos < _prefix.Length)
        {
            n = Math.Min(buffer.Length, _prefix.Length - _prefixPos);
            _prefix.AsSpan(_prefixPos, n).CopyTo(buffer);
            _prefixPos += n;
        }
        else
        {
            n = _inner.Read(buffer);
        }
        Count += n;
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
