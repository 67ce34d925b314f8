using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using OtSensor.Core;

namespace OtSensor.Decoding;

public enum DefragResult
{
    /// <summary>The packet is not a fragment: decode it as it is.</summary>
    NotFragment = 0,
    /// <summary>The fragment was stored (or was a duplicate); the datagram is not complete yet.</summary>
    Held = 1,
    /// <summary>The datagram is complete: <see cref="IpDefragmenter.CompletedPacket"/> holds it.</summary>
    Completed = 2,
    /// <summary>The fragment was rejected (invalid, or a bound was hit); see <see cref="DefragStats"/>.</summary>
    Dropped = 3,
}

public sealed class DefragOptions
{
    /// <summary>Datagrams in reassembly at once; a fragment of a new datagram beyond this is dropped (after expiring stale ones).</summary>
    public int MaxDatagrams { get; set; } = 1024;
    /// <summary>Bytes of buffer held by all datagrams in reassembly; a fragment that would exceed it drops its datagram.</summary>
    public long MaxBufferedBytes { get; set; } = 16 << 20;
    /// <summary>Packet-time age (since its first fragment) after which an incomplete datagram is dropped.</summary>
    public long TimeoutNs { get; set; } = 30 * PacketTime.NanosPerSecond;
}

public sealed class DefragStats
{
    /// <summary>Fragments given to <see cref="IpDefragmenter.Process"/>.</summary>
    public long FragmentsSeen { get; internal set; }
    public long DatagramsCompleted { get; internal set; }
    /// <summary>Incomplete datagrams dropped because they outlived the timeout.</summary>
    public long TimedOut { get; internal set; }
    /// <summary>Fragments that overlapped data already received (exact duplicates excluded).</summary>
    public long Overlaps { get; internal set; }
    /// <summary>Overlapping or duplicate fragments whose bytes differ from the data already received (an evasion attempt).</summary>
    public long OverlapMismatches { get; internal set; }
    /// <summary>Fragments that brought no new bytes and matched what was received.</summary>
    public long Duplicates { get; internal set; }
    /// <summary>Fragments (or their datagrams) dropped for a bound: too many datagrams, too many buffered bytes, datagram too large.</summary>
    public long DroppedForBounds { get; internal set; }
    /// <summary>
    /// Fragments rejected as inconsistent: decode error, truncated by the capture, a non-last fragment whose length is not a multiple of 8
    /// or is empty, data beyond the end set by the last fragment, or a second last fragment with another end.
    /// </summary>
    public long Invalid { get; internal set; }
}

/// <summary>
/// Reassembles IPv4 and IPv6 fragments (RFC 791 / RFC 8200) from decoded packets. Not thread-safe: one per worker.
/// </summary>
/// <remarks>
/// <para>Datagrams are keyed by (source, destination, identification, protocol) for IPv4 and (source, destination, identification) for IPv6.
/// Fragments may arrive in any order, duplicated or overlapping.</para>
/// <para>Overlap policy: the first data received wins. A later fragment only fills the bytes still missing; the part that overlaps
/// is compared with what was kept and counted (<see cref="DefragStats.Overlaps"/>, <see cref="DefragStats.OverlapMismatches"/>).
/// This matches what most stacks do for the part already queued (BSD "first"), and keeps the analysis of a datagram stable.</para>
/// <para>The header of the offset-0 fragment (the first one received, if it came more than once) is the template of the
/// reassembled packet: IPv4 gets MF and offset cleared (DF kept), the total length and the header checksum recomputed; IPv6 gets the
/// Fragment header removed, the "next header" that pointed at it set to the fragment's next header, and the payload length recomputed.</para>
/// <para>Buffers come from <see cref="ArrayPool{T}.Shared"/> and go back when a datagram completes, expires or is dropped;
/// call <see cref="Dispose"/> to return everything.</para>
/// </remarks>
public sealed class IpDefragmenter : IDisposable
{
    private const int MaxIpv4TotalLength = 65535;
    private const int MaxIpv6PayloadLength = 65535;

    private readonly DefragOptions _options;
    private readonly Dictionary<FragmentKey, Datagram> _datagrams;
    private readonly Stack<Datagram> _free = new();
    private byte[] _completed = [];
    private int _completedLength;
    private long _bufferedBytes;

    public IpDefragmenter(DefragOptions? options = null)
    {
        _options = options ?? new DefragOptions();
        _datagrams = new Dictionary<FragmentKey, Datagram>(Math.Clamp(_options.MaxDatagrams, 1, 1024));
    }

    public DefragStats Stats { get; } = new();

    /// <summary>The reassembled IP packet after <see cref="DefragResult.Completed"/>; valid until the next Process/Expire call.</summary>
    public ReadOnlySpan<byte> CompletedPacket => _completed.AsSpan(0, _completedLength);

    /// <summary>Datagrams currently in reassembly.</summary>
    public int DatagramsInProgress => _datagrams.Count;

    /// <summary>Bytes of pooled buffer currently held by datagrams in reassembly.</summary>
    public long BufferedBytes => _bufferedBytes;

    public DefragResult Process(in DecodedPacket packet, ReadOnlySpan<byte> frame, long timestampNs)
    {
        _completedLength = 0;
        if (!packet.IsFragment)
            return DefragResult.NotFragment;
        Stats.FragmentsSeen++;

        bool v6 = packet.Network == NetworkLayer.IPv6;
        int l3End = packet.L3Offset + packet.L3Length;
        int dataLength = l3End - packet.FragmentDataOffset;
        int start = packet.FragmentOffset;
        int end = start + dataLength;
        if (packet.Error != DecodeError.None || packet.L3Truncated || dataLength < 0 || l3End > frame.Length
            || (packet.MoreFragments && (dataLength == 0 || (dataLength & 7) != 0)))
        {
            Stats.Invalid++;
            return DefragResult.Dropped;
        }

        var key = new FragmentKey(packet.SrcIp, packet.DstIp, packet.FragmentId, v6 ? (byte)0 : packet.IpProtocol, v6);
        if (_datagrams.TryGetValue(key, out Datagram? d) && timestampNs - d.FirstSeenNs > _options.TimeoutNs)
        {
            Stats.TimedOut++;
            Release(d);
            d = null;
        }

        // The reassembled packet must fit its length field: 65535 bytes in all for IPv4, a 65535-byte payload for IPv6.
        int headerLength = v6 ? packet.Ipv6UnfragmentableLength : packet.FragmentDataOffset - packet.L3Offset;
        int limit = v6 ? MaxIpv6PayloadLength - (headerLength - 40) : MaxIpv4TotalLength - headerLength;
        if (end > limit)
        {
            Stats.DroppedForBounds++;
            if (d != null)
                Release(d);
            return DefragResult.Dropped;
        }

        if (d == null)
        {
            if (_datagrams.Count >= _options.MaxDatagrams)
            {
                ExpireCore(timestampNs);
                if (_datagrams.Count >= _options.MaxDatagrams)
                {
                    Stats.DroppedForBounds++;
                    return DefragResult.Dropped;
                }
            }
            d = _free.Count > 0 ? _free.Pop() : new Datagram();
            d.Key = key;
            d.FirstSeenNs = timestampNs;
            _datagrams.Add(key, d);
        }

        // Consistency with the end set by a last fragment.
        if (d.TotalLength >= 0 ? end > d.TotalLength || (!packet.MoreFragments && end != d.TotalLength)
                               : !packet.MoreFragments && end < d.MaxEnd)
        {
            Stats.Invalid++;
            return DefragResult.Dropped;
        }

        // Buffers: room for the data, and the header template of the offset-0 fragment.
        bool takeHeader = start == 0 && !d.HasHeader;
        long needed = 0;
        int newDataSize = d.Data.Length;
        if (end > d.Data.Length)
        {
            newDataSize = Math.Max(end, Math.Min(2 * d.Data.Length, limit));
            needed += PooledSize(newDataSize) - d.Data.Length;
        }
        if (takeHeader && headerLength > d.Header.Length)
            needed += PooledSize(headerLength) - d.Header.Length;
        if (_bufferedBytes + needed > _options.MaxBufferedBytes)
        {
            Stats.DroppedForBounds++;
            Release(d);
            return DefragResult.Dropped;
        }
        if (newDataSize > d.Data.Length)
            Grow(ref d.Data, newDataSize, d.MaxEnd);
        if (takeHeader)
        {
            if (headerLength > d.Header.Length)
                Grow(ref d.Header, headerLength, 0);
            frame.Slice(packet.L3Offset, headerLength).CopyTo(d.Header);
            d.HeaderLength = headerLength;
            d.HasHeader = true;
            d.IsV6 = v6;
            if (v6)
            {
                d.NextHeaderIndex = packet.Ipv6FragmentNextHeaderOffset - packet.L3Offset;
                d.FragmentNextHeader = frame[packet.L3Offset + headerLength];
            }
        }

        d.Insert(frame.Slice(packet.FragmentDataOffset, dataLength), start, Stats);
        if (!packet.MoreFragments)
            d.TotalLength = end;

        if (!d.IsComplete)
            return DefragResult.Held;

        // The template's header may be longer than the one the bound was checked with.
        int total = d.HeaderLength + d.TotalLength;
        if (d.IsV6 ? total - 40 > MaxIpv6PayloadLength : total > MaxIpv4TotalLength)
        {
            Stats.DroppedForBounds++;
            Release(d);
            return DefragResult.Dropped;
        }
        Build(d);
        Stats.DatagramsCompleted++;
        Release(d);
        return DefragResult.Completed;
    }

    /// <summary>Drops, and counts as <see cref="DefragStats.TimedOut"/>, datagrams whose first fragment is older than the timeout.</summary>
    public void Expire(long nowNs)
    {
        _completedLength = 0;
        ExpireCore(nowNs);
    }

    private void ExpireCore(long nowNs)
    {
        foreach (KeyValuePair<FragmentKey, Datagram> entry in _datagrams)
        {
            if (nowNs - entry.Value.FirstSeenNs > _options.TimeoutNs)
            {
                Stats.TimedOut++;
                Release(entry.Value); // removing the current entry while enumerating is allowed
            }
        }
    }

    /// <summary>Drops every datagram in reassembly (not counted) and returns all buffers to the pool.</summary>
    public void Dispose()
    {
        foreach (KeyValuePair<FragmentKey, Datagram> entry in _datagrams)
            Release(entry.Value);
        if (_completed.Length > 0)
            ArrayPool<byte>.Shared.Return(_completed);
        _completed = [];
        _completedLength = 0;
    }

    private void Build(Datagram d)
    {
        int total = d.HeaderLength + d.TotalLength;
        if (_completed.Length < total)
        {
            if (_completed.Length > 0)
                ArrayPool<byte>.Shared.Return(_completed);
            _completed = ArrayPool<byte>.Shared.Rent(Math.Max(total, 2048));
        }
        Span<byte> o = _completed.AsSpan(0, total);
        d.Header.AsSpan(0, d.HeaderLength).CopyTo(o);
        d.Data.AsSpan(0, d.TotalLength).CopyTo(o.Slice(d.HeaderLength));
        if (d.IsV6)
        {
            BinaryPrimitives.WriteUInt16BigEndian(o.Slice(4), (ushort)(total - 40));
            o[d.NextHeaderIndex] = d.FragmentNextHeader;
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(o.Slice(2), (ushort)total);
            ushort flags = BinaryPrimitives.ReadUInt16BigEndian(o.Slice(6));
            BinaryPrimitives.WriteUInt16BigEndian(o.Slice(6), (ushort)(flags & 0x4000)); // keep DF, clear MF and offset
            BinaryPrimitives.WriteUInt16BigEndian(o.Slice(10), 0);
            BinaryPrimitives.WriteUInt16BigEndian(o.Slice(10), PacketDecoder.Ipv4HeaderChecksum(o.Slice(0, d.HeaderLength), skipChecksumField: true));
        }
        _completedLength = total;
    }

    /// <summary>What <see cref="ArrayPool{T}.Shared"/> hands out for a request: a power of two, at least 16.</summary>
    private static long PooledSize(int size) => (long)BitOperations.RoundUpToPowerOf2((uint)Math.Max(size, 16));

    private void Grow(ref byte[] buffer, int size, int keep)
    {
        byte[] bigger = ArrayPool<byte>.Shared.Rent(size);
        if (buffer.Length > 0)
        {
            buffer.AsSpan(0, keep).CopyTo(bigger);
            _bufferedBytes -= buffer.Length;
            ArrayPool<byte>.Shared.Return(buffer);
        }
        _bufferedBytes += bigger.Length;
        buffer = bigger;
    }

    private void Release(Datagram d)
    {
        _datagrams.Remove(d.Key);
        if (d.Data.Length > 0)
        {
            _bufferedBytes -= d.Data.Length;
            ArrayPool<byte>.Shared.Return(d.Data);
        }
        if (d.Header.Length > 0)
        {
            _bufferedBytes -= d.Header.Length;
            ArrayPool<byte>.Shared.Return(d.Header);
        }
        d.Reset();
        _free.Push(d);
    }

    private readonly record struct FragmentKey(IpAddr Src, IpAddr Dst, uint Id, byte Protocol, bool V6);

    private sealed class Datagram
    {
        public FragmentKey Key;
        public long FirstSeenNs;
        public byte[] Data = [];
        public byte[] Header = [];
        public int HeaderLength;
        public bool HasHeader;
        public bool IsV6;
        public int NextHeaderIndex;
        public byte FragmentNextHeader;
        /// <summary>Length of the fragmentable data, known once the last fragment (MF = 0) arrived; -1 before.</summary>
        public int TotalLength = -1;
        /// <summary>Received byte ranges [start, end) as pairs, sorted, disjoint and not touching.</summary>
        private int[] _ranges = new int[16];
        private int _rangeCount;

        public int MaxEnd => _rangeCount == 0 ? 0 : _ranges[(2 * _rangeCount) - 1];

        public bool IsComplete => HasHeader && TotalLength >= 0 && _rangeCount == 1 && _ranges[0] == 0 && _ranges[1] == TotalLength;

        public void Reset()
        {
            Data = [];
            Header = [];
            HeaderLength = 0;
            HasHeader = false;
            IsV6 = false;
            NextHeaderIndex = 0;
            FragmentNextHeader = 0;
            TotalLength = -1;
            _rangeCount = 0;
        }

        /// <summary>Copies the bytes of [start, start + data.Length) not received yet (first data wins) and records the range.</summary>
        public void Insert(ReadOnlySpan<byte> data, int start, DefragStats stats)
        {
            if (data.IsEmpty)
                return; // an empty last fragment only sets the end
            int end = start + data.Length;
            int cursor = start;
            bool overlap = false;
            bool mismatch = false;
            int first = -1; // first range touching or overlapping [start, end]
            int last = -1;
            for (int i = 0; i < _rangeCount; i++)
            {
                int rs = _ranges[2 * i];
                int re = _ranges[(2 * i) + 1];
                if (re < start)
                    continue;
                if (rs > end)
                    break;
                if (first < 0)
                    first = i;
                last = i;
                int overlapStart = Math.Max(rs, cursor);
                int overlapEnd = Math.Min(re, end);
                if (overlapStart > cursor)
                    data.Slice(cursor - start, overlapStart - cursor).CopyTo(Data.AsSpan(cursor));
                if (overlapEnd > overlapStart)
                {
                    overlap = true;
                    if (!data.Slice(overlapStart - start, overlapEnd - overlapStart).SequenceEqual(Data.AsSpan(overlapStart, overlapEnd - overlapStart)))
                        mismatch = true;
                }
                cursor = Math.Max(cursor, overlapEnd);
            }
            if (cursor < end)
                data.Slice(cursor - start).CopyTo(Data.AsSpan(cursor));

            bool coveredAlready = first >= 0 && _ranges[2 * first] <= start && _ranges[(2 * first) + 1] >= end;
            if (coveredAlready && !mismatch)
                stats.Duplicates++;
            else if (overlap)
                stats.Overlaps++;
            if (mismatch)
                stats.OverlapMismatches++;

            if (first < 0)
            {
                // No range touches [start, end]: insert at the sorted position.
                int at = 0;
                while (at < _rangeCount && _ranges[2 * at] < start)
                    at++;
                if (2 * (_rangeCount + 1) > _ranges.Length)
                    Array.Resize(ref _ranges, _ranges.Length * 2);
                Array.Copy(_ranges, 2 * at, _ranges, 2 * (at + 1), 2 * (_rangeCount - at));
                _ranges[2 * at] = start;
                _ranges[(2 * at) + 1] = end;
                _rangeCount++;
                return;
            }
            // Merge ranges first..last with [start, end].
            int mergedStart = Math.Min(start, _ranges[2 * first]);
            int mergedEnd = Math.Max(end, _ranges[(2 * last) + 1]);
            _ranges[2 * first] = mergedStart;
            _ranges[(2 * first) + 1] = mergedEnd;
            int removed = last - first;
            if (removed > 0)
            {
                Array.Copy(_ranges, 2 * (last + 1), _ranges, 2 * (first + 1), 2 * (_rangeCount - last - 1));
                _rangeCount -= removed;
            }
        }
    }
}
