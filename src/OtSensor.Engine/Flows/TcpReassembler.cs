using System.Buffers;
using OtSensor.Decoding;

namespace OtSensor.Flows;

/// <summary>Receives what a <see cref="TcpReassembler"/> produces, in stream order.</summary>
internal interface IStreamSink
{
    void StreamData(Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta);

    void StreamGap(Direction direction, long missingBytes, in PacketMeta meta);
}

/// <summary>
/// Reassembles one direction of a TCP connection. Sequence numbers are mapped to 64-bit stream offsets
/// (offset 0 = first data byte: ISN + 1, or the first segment seen mid-stream) through signed 32-bit differences
/// from the next expected byte, so wraparound needs no special case.
/// In-order bytes go straight from the frame to the sink; out-of-order bytes are copied into pooled buffers,
/// kept sorted and non-overlapping (the first copy wins), bounded in bytes and in segments.
/// </summary>
internal sealed class TcpReassembler
{
    private struct Segment
    {
        public long Start;
        public int Length;
        public byte[] Buffer;

        public readonly long End => Start + Length;
        public readonly ReadOnlySpan<byte> Span => new(Buffer, 0, Length);
    }

    private readonly Direction _direction;
    private readonly FlowTableStats _stats;
    private readonly int _maxBytes;
    private readonly int _maxSegments;
    private Segment[] _segs = [];
    private int _head;
    private int _count;
    private int _bufferedBytes;
    private uint _base;
    private long _highestEnd;

    public TcpReassembler(Direction direction, FlowTableStats stats, int maxBytes, int maxSegments)
    {
        _direction = direction;
        _stats = stats;
        _maxBytes = Math.Max(0, maxBytes);
        _maxSegments = Math.Max(1, maxSegments);
    }

    /// <summary>A segment (or SYN) has fixed the sequence base.</summary>
    public bool Started { get; private set; }
    public bool SynSeen { get; private set; }
    public uint Isn { get; private set; }
    /// <summary>Stream offset of the next byte to deliver (bytes delivered + gap bytes skipped).</summary>
    public long NextOffset { get; private set; }
    public bool FinSeen { get; private set; }
    /// <summary>Stream offset of the FIN (the stream's length), valid when <see cref="FinSeen"/>.</summary>
    public long FinOffset { get; private set; }
    /// <summary>The FIN was seen and every byte before it was delivered or declared lost.</summary>
    public bool Finished => FinSeen && NextOffset >= FinOffset;
    public int BufferedBytes => _bufferedBytes;
    public int BufferedSegments => _count;

    public void Reset()
    {
        for (int i = 0; i < _count; i++)
        {
            ArrayPool<byte>.Shared.Return(_segs[_head + i].Buffer);
            _segs[_head + i] = default;
        }
        _head = 0;
        _count = 0;
        _bufferedBytes = 0;
        _base = 0;
        _highestEnd = 0;
        Started = false;
        SynSeen = false;
        Isn = 0;
        NextOffset = 0;
        FinSeen = false;
        FinOffset = 0;
    }

    /// <summary>Stream offset of a sequence number (relative to the next expected byte, signed 32-bit distance).</summary>
    public long ToOffset(uint seq)
    {
        uint next = unchecked(_base + (uint)NextOffset);
        return NextOffset + unchecked((int)(seq - next));
    }

    /// <summary>One segment sent in this direction.</summary>
    public void OnSegment(uint seq, TcpFlags flags, ReadOnlySpan<byte> payload, in PacketMeta meta, IStreamSink sink)
    {
        uint dataSeq = seq;
        if ((flags & TcpFlags.Syn) != 0)
        {
            dataSeq = unchecked(seq + 1);
            if (!Started)
            {
                Started = true;
                SynSeen = true;
                Isn = seq;
                _base = dataSeq;
                NextOffset = 0;
            }
        }
        else if (!Started)
        {
            Started = true;
            _base = seq;
            NextOffset = 0;
        }

        long start = ToOffset(dataSeq);
        if (start + payload.Length > _highestEnd)
        {
            _highestEnd = start + payload.Length;
        }
        if (!payload.IsEmpty)
        {
            AddData(start, payload, meta, sink);
        }
        if ((flags & TcpFlags.Fin) != 0 && !FinSeen)
        {
            FinSeen = true;
            FinOffset = start + payload.Length;
        }
    }

    /// <summary>
    /// The peer acknowledged up to <paramref name="ack"/>. If that covers a hole in front of buffered data, the hole's
    /// bytes reached the receiver but not the capture: they are reported as a gap and the buffered data delivered.
    /// An ACK beyond every byte seen from the sender is not trusted (a bogus or misread ACK must not cost data).
    /// </summary>
    public void OnPeerAck(uint ack, in PacketMeta meta, IStreamSink sink)
    {
        if (!Started || _count == 0)
        {
            return;
        }
        long ackOffset = ToOffset(ack);
        if (ackOffset > _highestEnd)
        {
            return;
        }
        while (_count > 0 && ackOffset >= _segs[_head].Start)
        {
            SkipToFirstBuffered(meta, sink);
        }
    }

    /// <summary>End of the flow: report holes, deliver everything buffered, and report bytes missing before a FIN.</summary>
    public void Flush(in PacketMeta meta, IStreamSink sink)
    {
        while (_count > 0)
        {
            SkipToFirstBuffered(meta, sink);
        }
        if (FinSeen && FinOffset > NextOffset)
        {
            long missing = FinOffset - NextOffset;
            NextOffset = FinOffset;
            ReportGap(missing, meta, sink);
        }
    }

    private void AddData(long start, ReadOnlySpan<byte> data, in PacketMeta meta, IStreamSink sink)
    {
        bool countedOutOfOrder = false;
        while (true)
        {
            long end = start + data.Length;
            if (end <= NextOffset)
            {
                _stats.Retransmissions++;
                _stats.RetransmittedBytes += data.Length;
                return;
            }
            if (start <= NextOffset)
            {
                DeliverInOrder(start, data, meta, sink);
                return;
            }

            if (!countedOutOfOrder)
            {
                _stats.OutOfOrderSegments++;
                countedOutOfOrder = true;
            }
            Measure(start, end, out long newBytes, out int pieces);
            if (newBytes == 0)
            {
                // Everything already buffered: a retransmission of out-of-order data.
                _stats.Retransmissions++;
                _stats.RetransmittedBytes += data.Length;
                if (!MatchesBuffered(start, data))
                {
                    _stats.ConflictingOverlaps++;
                }
                return;
            }
            if (_bufferedBytes + newBytes <= _maxBytes && _count + pieces <= _maxSegments)
            {
                Insert(start, data);
                return;
            }

            // Over the bound: the hole in front is declared lost, then retry with what follows.
            _stats.OutOfOrderOverflows++;
            if (_count == 0)
            {
                long missing = start - NextOffset;
                NextOffset = start;
                ReportGap(missing, meta, sink);
            }
            else
            {
                SkipToFirstBuffered(meta, sink);
            }
        }
    }

    /// <summary><paramref name="start"/> &lt;= NextOffset &lt; end: deliver the new part; buffered bytes win where they overlap.</summary>
    private void DeliverInOrder(long start, ReadOnlySpan<byte> data, in PacketMeta meta, IStreamSink sink)
    {
        long end = start + data.Length;
        bool overlapped = false;
        bool conflict = false;
        if (start < NextOffset)
        {
            overlapped = true;
            _stats.RetransmittedBytes += NextOffset - start;
        }
        while (NextOffset < end)
        {
            if (_count > 0 && _segs[_head].Start <= NextOffset)
            {
                // Buffered bytes cover the cursor: they arrived first.
                Segment s = _segs[_head];
                long ovEnd = Math.Min(end, s.End);
                overlapped = true;
                if (!data.Slice((int)(NextOffset - start), (int)(ovEnd - NextOffset))
                        .SequenceEqual(s.Span.Slice((int)(NextOffset - s.Start), (int)(ovEnd - NextOffset))))
                {
                    conflict = true;
                }
                DeliverFirstBuffered(meta, sink);
            }
            else
            {
                long stop = _count > 0 ? Math.Min(end, _segs[_head].Start) : end;
                ReadOnlySpan<byte> part = data.Slice((int)(NextOffset - start), (int)(stop - NextOffset));
                NextOffset = stop;
                sink.StreamData(_direction, part, meta);
            }
        }
        if (overlapped)
        {
            _stats.Overlaps++;
        }
        if (conflict)
        {
            _stats.ConflictingOverlaps++;
        }
        DrainBuffered(meta, sink);
    }

    /// <summary>Delivers the first buffered segment from NextOffset (which is inside or at its start) and drops it.</summary>
    private void DeliverFirstBuffered(in PacketMeta meta, IStreamSink sink)
    {
        Segment s = _segs[_head];
        _segs[_head] = default;
        _head++;
        _count--;
        _bufferedBytes -= s.Length;
        if (_count == 0)
        {
            _head = 0;
        }
        if (s.End > NextOffset)
        {
            int skip = (int)(NextOffset - s.Start);
            NextOffset = s.End;
            sink.StreamData(_direction, s.Span[skip..], meta);
        }
        ArrayPool<byte>.Shared.Return(s.Buffer);
    }

    private void DrainBuffered(in PacketMeta meta, IStreamSink sink)
    {
        while (_count > 0 && _segs[_head].Start <= NextOffset)
        {
            DeliverFirstBuffered(meta, sink);
        }
    }

    private void SkipToFirstBuffered(in PacketMeta meta, IStreamSink sink)
    {
        long missing = _segs[_head].Start - NextOffset;
        if (missing > 0)
        {
            NextOffset = _segs[_head].Start;
            ReportGap(missing, meta, sink);
        }
        DrainBuffered(meta, sink);
    }

    private void ReportGap(long missing, in PacketMeta meta, IStreamSink sink)
    {
        _stats.Gaps++;
        _stats.GapBytes += missing;
        sink.StreamGap(_direction, missing, meta);
    }

    /// <summary>Index (relative to the head) of the first buffered segment ending after <paramref name="offset"/>.</summary>
    private int LowerBound(long offset)
    {
        int lo = 0;
        int hi = _count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_segs[_head + mid].End > offset)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }
        return lo;
    }

    /// <summary>Bytes of [start, end) not yet buffered, and in how many pieces they fall.</summary>
    private void Measure(long start, long end, out long newBytes, out int pieces)
    {
        newBytes = 0;
        pieces = 0;
        long cur = start;
        for (int i = LowerBound(start); cur < end; i++)
        {
            if (i < _count && _segs[_head + i].Start <= cur)
            {
                cur = Math.Min(end, _segs[_head + i].End);
            }
            else
            {
                long pieceEnd = i < _count ? Math.Min(end, _segs[_head + i].Start) : end;
                newBytes += pieceEnd - cur;
                pieces++;
                cur = pieceEnd;
                i--; // the same segment is examined again with the cursor at its start
            }
        }
    }

    private bool MatchesBuffered(long start, ReadOnlySpan<byte> data)
    {
        long end = start + data.Length;
        for (int i = LowerBound(start); i < _count; i++)
        {
            Segment s = _segs[_head + i];
            if (s.Start >= end)
            {
                break;
            }
            long a = Math.Max(start, s.Start);
            long b = Math.Min(end, s.End);
            if (!data.Slice((int)(a - start), (int)(b - a)).SequenceEqual(s.Span.Slice((int)(a - s.Start), (int)(b - a))))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Buffers the parts of [start, start + data.Length) not buffered yet; compares the parts that are.</summary>
    private void Insert(long start, ReadOnlySpan<byte> data)
    {
        long end = start + data.Length;
        bool overlapped = false;
        bool conflict = false;
        long cur = start;
        int i = LowerBound(start);
        while (cur < end)
        {
            if (i < _count && _segs[_head + i].Start <= cur)
            {
                Segment s = _segs[_head + i];
                long ovEnd = Math.Min(end, s.End);
                overlapped = true;
                _stats.RetransmittedBytes += ovEnd - cur;
                if (!data.Slice((int)(cur - start), (int)(ovEnd - cur)).SequenceEqual(s.Span.Slice((int)(cur - s.Start), (int)(ovEnd - cur))))
                {
                    conflict = true;
                }
                cur = ovEnd;
                i++;
            }
            else
            {
                long pieceEnd = i < _count ? Math.Min(end, _segs[_head + i].Start) : end;
                InsertAt(i, cur, data.Slice((int)(cur - start), (int)(pieceEnd - cur)));
                i++;
                cur = pieceEnd;
            }
        }
        if (overlapped)
        {
            _stats.Overlaps++;
        }
        if (conflict)
        {
            _stats.ConflictingOverlaps++;
        }
    }

    private void InsertAt(int index, long start, ReadOnlySpan<byte> bytes)
    {
        if (_head + _count == _segs.Length)
        {
            if (_head > 0)
            {
                Array.Copy(_segs, _head, _segs, 0, _count);
                Array.Clear(_segs, _count, _head);
                _head = 0;
            }
            else
            {
                Array.Resize(ref _segs, Math.Max(8, _segs.Length * 2));
            }
        }
        int at = _head + index;
        if (index < _count)
        {
            Array.Copy(_segs, at, _segs, at + 1, _count - index);
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent(bytes.Length);
        bytes.CopyTo(buffer);
        _segs[at] = new Segment { Start = start, Length = bytes.Length, Buffer = buffer };
        _count++;
        _bufferedBytes += bytes.Length;
    }
}
