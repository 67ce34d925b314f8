using OtSensor.Capture;
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Pipeline;

namespace OtSensor.Detection;

/// <summary>
/// The last frames of the replay (bounded in frames and bytes, all flows together), with each frame's addresses, so
/// an alert can keep its trigger packet and the packets of the same flow before it. Filled from
/// <see cref="IEventConsumer.OnPackets"/> with one copy per frame and no allocation; searched only when an alert is
/// created.
/// </summary>
public sealed class TraceRing
{
    private struct Entry
    {
        public long PacketNumber;
        public long TimestampNs;
        public long DataStart; // absolute byte position
        public int Length;
        public int OriginalLength;
        public LinkType LinkType;
        public IpAddr A;
        public IpAddr B;
        public ushort PortA;
        public ushort PortB;
        public byte Transport;
    }

    private readonly byte[] _data;
    private readonly Entry[] _entries;
    private long _written; // absolute bytes written
    private long _count;   // frames written

    public TraceRing(int bytes, int frames)
    {
        _data = new byte[bytes];
        _entries = new Entry[frames];
    }

    public long Frames => _count;

    public void Add(in PacketSlot slot, in DecodedPacket d, ReadOnlySpan<byte> frame)
    {
        int len = Math.Min(frame.Length, Math.Min(_data.Length / 4, 65535));
        int at = (int)(_written % _data.Length);
        if (at + len > _data.Length)
        {
            _written += _data.Length - at; // wrap: frames are stored contiguously
            at = 0;
        }
        frame[..len].CopyTo(_data.AsSpan(at));
        ref var e = ref _entries[_count % _entries.Length];
        e.PacketNumber = slot.PacketNumber;
        e.TimestampNs = slot.TimestampNs;
        e.DataStart = _written;
        e.Length = len;
        e.OriginalLength = slot.OriginalLength;
        e.LinkType = slot.LinkType;
        e.A = d.SrcIp;
        e.B = d.DstIp;
        e.PortA = d.SrcPort;
        e.PortB = d.DstPort;
        e.Transport = (byte)d.Transport;
        _written += len;
        _count++;
    }

    private bool Valid(in Entry e) => e.DataStart >= _written - _data.Length && e.Length >= 0;

    /// <summary>
    /// Writes a pcap of the last <paramref name="max"/> frames up to <paramref name="triggerPacket"/> (inclusive)
    /// between the two endpoints (ports 0 = any port; <paramref name="hostOnly"/>: every frame from or to
    /// <paramref name="a"/>). Returns null when none is still kept; <paramref name="packets"/> gets their frame numbers.
    /// </summary>
    /// <summary>Frames looked at, newest first, when collecting an alert's trace.</summary>
    public const int MaxScan = 2048;

    public byte[]? Collect(long triggerPacket, IpAddr a, ushort portA, IpAddr b, ushort portB, bool hostOnly, int max, List<long> packets)
    {
        packets.Clear();
        if (_count == 0) return null;
        var picked = new List<int>();
        // The trigger is at most a batch behind the newest frame: look back through a bounded window only, so an
        // alert costs the same however large the ring is.
        long oldest = Math.Max(0, _count - Math.Min(_entries.Length, MaxScan));
        LinkType link = default;
        bool haveLink = false;
        for (long i = _count - 1; i >= oldest && picked.Count < max; i--)
        {
            int idx = (int)(i % _entries.Length);
            ref readonly var e = ref _entries[idx];
            if (!Valid(e)) break;
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
        if (picked.Count == 0) return null;
        picked.Reverse();
        int size = 24;
        foreach (int idx in picked) size += 16 + _entries[idx].Length;
        using var ms = new MemoryStream(size);
        using (var w = new PcapWriter(ms, link, nanosecond: true, leaveOpen: true, bufferBytes: Math.Min(size, 64 * 1024)))
        {
            foreach (int idx in picked)
            {
                ref readonly var e = ref _entries[idx];
                int at = (int)(e.DataStart % _data.Length);
                w.WritePacket(e.TimestampNs, _data.AsSpan(at, e.Length), e.OriginalLength);
                packets.Add(e.PacketNumber);
            }
        }
        return ms.ToArray();
    }
}
