namespace OtSensor.Detection;

/// <summary>
/// The trace pcaps of one batch of store writes, copied one after the other into a large array instead of one array
/// per alert; reused for a later batch once this one is written (<see cref="Reset"/>). When the array is full, the
/// next one is twice as large: the traces already added keep pointing into the old one, which the batch keeps alive.
/// </summary>
internal sealed class TraceBuffer
{
    private byte[] _buffer = new byte[256 << 10];
    private int _used;

    public ReadOnlyMemory<byte> Add(ReadOnlySpan<byte> trace)
    {
        if (_used + trace.Length > _buffer.Length)
        {
            _buffer = new byte[Math.Max(_buffer.Length * 2, trace.Length)];
            _used = 0;
        }
        var m = _buffer.AsMemory(_used, trace.Length);
        trace.CopyTo(_buffer.AsSpan(_used));
        _used += trace.Length;
        return m;
    }

    /// <summary>Starts a new batch in the largest array (no trace of the previous batch is read any more).</summary>
    public void Reset() => _used = 0;
}
