using System.Buffers.Binary;
using OtSensor.Capture;
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Pipeline;

namespace OtSensor.Detection;

/// <summary>
/// The last frames of the replay (bounded in frames and bytes, all flows together), with each frame's addresses, so
/// an alert can keep its trigger packet and the packets of the same flow before it. Filled from
/// <see cref="IEventConsumer.OnPackets"/> with one copy per frame and no allocation; searched only when an alert is
/// created. Frames between the same two addresses are chained (newest first, per hash bucket of the unordered
/// address pair), so collecting a flow's trace visits only that pair's frames, not every recent frame.
/// <para>
/// Only the last <see cref="MaxScan"/> frames are ever searched, so only they are kept: the configured byte and frame
/// bounds decide which of them are still valid (the same positions as a ring of that size, counted, not stored), while
/// their bytes live in a small buffer that grows to what those frames need. The ring stays in the caches instead of
/// streaming every frame through megabytes of memory.
/// </para>
/// </summary>
public sealed class TraceRing
{
    private struct Entry
    {
        public long PacketNumber;
        public long TimestampNs;
        public long DataStart; // absolute byte position in the configured ring (decides validity)
        public long PhysStart; // absolute byte position in _phys
        public long PrevInBucket; // sequence number of the previous frame of the same address-pair bucket, -1 none
        public int Length;
        public int OriginalLength;
        public LinkType LinkType;
        public IpAddr A;
        public IpAddr B;
        public ushort PortA;
        public ushort PortB;
        public byte Transport;
    }

    private const int BucketBits = 12;
    private const int InitialPhysBytes = 1 << 18;
    private const int SnapLength = 262144;

    private readonly int _bytes; // the configured byte bound
    private byte[] _phys;        // the bytes of the kept frames (power-of-two size)
    private long _physWritten;   // absolute bytes written to _phys
    private readonly Entry[] _entries; // the last min(frames, MaxScan) frames
    private readonly long[] _heads = new long[1 << BucketBits]; // newest sequence number per bucket, -1 none
    private readonly List<int> _picked = [];
    private LinkType _pickedLink;
    private long _written; // absolute bytes written
    private long _count;   // frames written
    private int _at;       // _written % _bytes
    private int _slot;     // _count % _entries.Length
    private readonly int _maxFrame;

    public TraceRing(int bytes, int frames)
    {
        _bytes = bytes;
        _phys = new byte[Math.Min(InitialPhysBytes, (int)Math.Min(System.Numerics.BitOperations.RoundUpToPowerOf2((uint)bytes), 1u << 30))];
        _entries = new Entry[Math.Min(frames, MaxScan)];
        _maxFrame = Math.Min(bytes / 4, 65535);
        Array.Fill(_heads, -1L);
    }

    public long Frames => _count;

    private static int Bucket(IpAddr a, IpAddr b)
    {
        // Symmetric in (a, b): a frame and its reply land in the same bucket.
        ulong x = (a.Hi ^ a.Lo) + (b.Hi ^ b.Lo);
        return (int)((x * 0x9E3779B97F4A7C15UL) >> (64 - BucketBits));
    }

    public void Add(in PacketSlot slot, in DecodedPacket d, ReadOnlySpan<byte> frame)
    {
        // Positions advance incrementally (_at = _written % bytes, _slot = _count % frames): no division per frame.
        int len = Math.Min(frame.Length, _maxFrame);
        int at = _at;
        if (at + len > _bytes)
        {
            _written += _bytes - at; // wrap: frames are stored contiguously
            at = 0;
        }
        long physStart = PlacePhys(len);
        if (!PhysKept(physStart + len, _written + len)) physStart = GrowPhys(len, _written + len);
        frame[..len].CopyTo(_phys.AsSpan((int)(physStart & (_phys.Length - 1)), len));
        ref var e = ref _entries[_slot];
        int bucket = Bucket(d.SrcIp, d.DstIp);
        e.PacketNumber = slot.PacketNumber;
        e.TimestampNs = slot.TimestampNs;
        e.DataStart = _written;
        e.PhysStart = physStart;
        e.PrevInBucket = _heads[bucket];
        e.Length = len;
        e.OriginalLength = slot.OriginalLength;
        e.LinkType = slot.LinkType;
        e.A = d.SrcIp;
        e.B = d.DstIp;
        e.PortA = d.SrcPort;
        e.PortB = d.DstPort;
        e.Transport = (byte)d.Transport;
        _heads[bucket] = _count;
        _written += len;
        _at = at + len;
        _physWritten = physStart + len;
        _count++;
        _slot = _slot + 1 == _entries.Length ? 0 : _slot + 1;
    }

    /// <summary>Where the next frame of <paramref name="len"/> bytes goes in <see cref="_phys"/> (contiguous: one that would cross the end starts at the beginning).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private long PlacePhys(int len)
    {
        int pos = (int)(_physWritten & (_phys.Length - 1));
        return pos + len > _phys.Length ? _physWritten + (_phys.Length - pos) : _physWritten;
    }

    /// <summary>
    /// True when writing up to <paramref name="physEnd"/> keeps the bytes of every frame that stays searchable and
    /// valid once the next frame is added (<paramref name="writtenAfter"/>: the configured ring's position then). Frames
    /// are overwritten oldest first, so only the oldest such frame needs to be looked at.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private bool PhysKept(long physEnd, long writtenAfter)
    {
        int n = WindowAfterAdd(out int idx);
        for (int k = 0; k < n; k++)
        {
            ref readonly var e = ref _entries[idx];
            if (e.DataStart >= writtenAfter - _bytes) return e.PhysStart >= physEnd - _phys.Length;
            idx = idx + 1 == _entries.Length ? 0 : idx + 1;
        }
        return true;
    }

    /// <summary>The number of frames already kept that stay in the search window once the next one is added, and the slot of the oldest.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private int WindowAfterAdd(out int oldestSlot)
    {
        if (_count + 1 > _entries.Length)
        {
            oldestSlot = _slot + 1 == _entries.Length ? 0 : _slot + 1;
            return _entries.Length - 1;
        }
        oldestSlot = 0;
        return (int)_count;
    }

    /// <summary>Moves the frames that stay valid into a buffer large enough for them and a frame of <paramref name="len"/> bytes; returns the frame's position.</summary>
    private long GrowPhys(int len, long writtenAfter)
    {
        int n = WindowAfterAdd(out int first);
        long live = len;
        int idx = first;
        for (int k = 0; k < n; k++)
        {
            ref readonly var e = ref _entries[idx];
            if (e.DataStart >= writtenAfter - _bytes) live += e.Length;
            idx = idx + 1 == _entries.Length ? 0 : idx + 1;
        }
        long size = Math.Max((long)_phys.Length * 2, (long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)(live * 2)));
        var next = new byte[(int)Math.Min(size, 1L << 30)];
        long at = 0;
        idx = first;
        for (int k = 0; k < n; k++)
        {
            ref var e = ref _entries[idx];
            if (e.DataStart >= writtenAfter - _bytes)
            {
                _phys.AsSpan((int)(e.PhysStart & (_phys.Length - 1)), e.Length).CopyTo(next.AsSpan((int)at));
                e.PhysStart = at;
                at += e.Length;
            }
            idx = idx + 1 == _entries.Length ? 0 : idx + 1;
        }
        _phys = next;
        _physWritten = at;
        return at;
    }

    private bool Valid(in Entry e) => e.DataStart >= _written - _bytes && e.Length >= 0;

    /// <summary>Frames looked at, newest first, when collecting an alert's trace.</summary>
    public const int MaxScan = 2048;

    /// <summary>
    /// Writes a pcap of the last <paramref name="max"/> frames up to <paramref name="triggerPacket"/> (inclusive)
    /// between the two endpoints (ports 0 = any port; <paramref name="hostOnly"/>: every frame from or to
    /// <paramref name="a"/>), among the last <see cref="MaxScan"/> frames. Returns null when none is still kept;
    /// <paramref name="packets"/> gets their frame numbers.
    /// </summary>
    public byte[]? Collect(long triggerPacket, IpAddr a, ushort portA, IpAddr b, ushort portB, bool hostOnly, int max, List<long> packets)
    {
        int size = Pick(triggerPacket, a, portA, b, portB, hostOnly, max, packets);
        if (size == 0) return null;
        var pcap = new byte[size];
        WritePicked(pcap, packets);
        return pcap;
    }

    /// <summary>
    /// The first half of <see cref="Collect"/>: picks the frames and returns the size of their pcap (0: none kept);
    /// <see cref="WritePicked"/> then writes it into a buffer of that size (before any other frame is added).
    /// </summary>
    public int Pick(long triggerPacket, IpAddr a, ushort portA, IpAddr b, ushort portB, bool hostOnly, int max, List<long> packets)
    {
        packets.Clear();
        _picked.Clear();
        if (_count == 0) return 0;
        var picked = _picked;
        picked.Clear();
        // The trigger is at most a batch behind the newest frame: look back through a bounded window only, so an
        // alert costs the same however large the ring is.
        long oldest = Math.Max(0, _count - Math.Min(_entries.Length, MaxScan));
        LinkType link = default;
        bool haveLink = false;
        // Host traces match any peer: scan the window. Pair traces follow the pair's bucket chain.
        long i = hostOnly ? _count - 1 : _heads[Bucket(a, b)];
        while (i >= oldest && picked.Count < max)
        {
            int idx = (int)(i % _entries.Length);
            ref readonly var e = ref _entries[idx];
            if (!Valid(e)) break;
            i = hostOnly ? i - 1 : e.PrevInBucket;
            if (e.PacketNumber > triggerPacket) continue;
            bool match = hostOnly
                ? e.A == a || e.B == a
                : (e.A == a && e.B == b && (portA == 0 || e.PortA == portA) && (portB == 0 || e.PortB == portB))
                  || (e.A == b && e.B == a && (portB == 0 || e.PortA == portB) && (portA == 0 || e.PortB == portA));
            if (!match) continue;
            if (!haveLink)
            {
                link = e.LinkType;
                haveLink = true;
            }
            if (e.LinkType != link) continue;
            picked.Add(idx);
        }
        if (picked.Count == 0) return 0;
        _pickedLink = link;
        int size = 24;
        foreach (int idx in picked) size += 16 + Math.Min(_entries[idx].Length, SnapLength);
        return size;
    }

    /// <summary>Writes the pcap of the frames <see cref="Pick"/> chose into <paramref name="span"/> (exactly its size); <paramref name="packets"/> gets their frame numbers.</summary>
    public void WritePicked(Span<byte> span, List<long> packets)
    {
        packets.Clear();
        var picked = _picked;
        var link = _pickedLink;
        // The same bytes PcapWriter writes (little-endian, nanosecond magic).
        span[..24].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(span, 0xA1B23C4Du);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(span[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], SnapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(span[20..], (ushort)link);
        int at = 24;
        for (int k = picked.Count - 1; k >= 0; k--)
        {
            ref readonly var e = ref _entries[picked[k]];
            int cap = Math.Min(e.Length, SnapLength);
            int orig = e.OriginalLength < 0 ? cap : Math.Max(e.OriginalLength, cap);
            long sec = Math.DivRem(e.TimestampNs, PacketTime.NanosPerSecond, out long rem);
            if (rem < 0)
            {
                sec--;
                rem += PacketTime.NanosPerSecond;
            }
            var h = span.Slice(at, 16);
            BinaryPrimitives.WriteUInt32LittleEndian(h, unchecked((uint)sec));
            BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)rem);
            BinaryPrimitives.WriteInt32LittleEndian(h[8..], cap);
            BinaryPrimitives.WriteInt32LittleEndian(h[12..], orig);
            at += 16;
            _phys.AsSpan((int)(e.PhysStart & (_phys.Length - 1)), cap).CopyTo(span[at..]);
            at += cap;
            packets.Add(e.PacketNumber);
        }
    }
}
