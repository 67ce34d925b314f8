using OtSensor.Core;
using OtSensor.Flows;

namespace OtSensor.Protocols.Modbus;

/// <summary>Bounds and timeouts of a <see cref="ModbusSession"/>.</summary>
public sealed class ModbusOptions
{
    /// <summary>Requests waiting for a response per flow; beyond it the oldest is reported unanswered.</summary>
    public int MaxPendingPerFlow { get; set; } = 256;

    /// <summary>A request unanswered for longer than this (packet time) is reported unanswered on the next tick.</summary>
    public long RequestTimeoutNs { get; set; } = 15L * 1_000_000_000L;

    /// <summary>
    /// Largest ADU (declared by an MBAP length above 254) that is skipped without buffering, then followed; a larger
    /// declaration is treated as garbage and resynchronised. 65541 covers every MBAP length.
    /// </summary>
    public int MaxBufferedBytes { get; set; } = ModbusFraming.MaxDeclaredAduLength;

    /// <summary>Bytes scanned without finding a plausible MBAP header before a direction stops being dissected.</summary>
    public int MaxResyncScanBytes { get; set; } = 64 * 1024;
}

/// <summary>
/// Per-flow Modbus/TCP dissector: MBAP framing per direction (partial ADUs across segments, several ADUs per
/// segment), request/response matching by (transaction id, unit id), oversize ADUs (kept truncated, the rest
/// skipped), resynchronisation after gaps and garbage. Every complete ADU ends up in exactly one
/// <see cref="IEventSink.Transaction"/> call.
/// <para>
/// The session exists because the flow is on a Modbus port (or the payload probe already matched), so a header whose
/// MBAP length frames the stream cleanly is taken as Modbus whatever its function code or protocol id; those are
/// flagged on the transaction (<see cref="ModbusAnomaly.InvalidFunctionCode"/>, <see cref="ModbusAnomaly.InvalidProtocolId"/>).
/// Data that does not frame (HTTP, TLS, random bytes) is <see cref="ModbusAnomaly.NonModbusOnPort"/>.
/// </para>
/// Not thread-safe: a flow belongs to one worker.
/// </summary>
public sealed class ModbusSession : IFlowDissector
{
    private const int BufferCapacity = 512;

    private readonly IEventSink _sink;
    private readonly ModbusOptions _options;
    private readonly DirectionState _toServer = new();
    private readonly DirectionState _toClient = new();
    private PendingRequest[] _pending = [];
    private int _pendingCount;
    private byte[][] _freeSlots = [];
    private int _freeCount;
    private bool _established;
    private bool _nonModbusReported;

    public ModbusSession(IEventSink sink, ModbusOptions options)
        : this(sink, options, serverIsFlowClient: false)
    {
    }

    /// <summary>
    /// A session whose Modbus server may be the flow's client side: when <paramref name="serverIsFlowClient"/>, the
    /// bytes the flow calls <see cref="Direction.ToClient"/> are Modbus requests and <see cref="Direction.ToServer"/>
    /// are responses (the TCP connection was opened from the Modbus port, e.g. a SYN from port 502).
    /// </summary>
    public ModbusSession(IEventSink sink, ModbusOptions options, bool serverIsFlowClient)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(options);
        _sink = sink;
        _options = options;
        ServerIsFlowClient = serverIsFlowClient;
    }

    /// <summary>True when requests travel <see cref="Direction.ToClient"/> (the Modbus server opened the connection).</summary>
    public bool ServerIsFlowClient { get; }

    /// <summary>Requests currently waiting for a response.</summary>
    public int PendingCount => _pendingCount;

    /// <summary>True once at least one well-framed Modbus ADU was seen on the flow.</summary>
    public bool Established => _established;

    /// <summary>True when the direction stopped being dissected after too much non-Modbus data.</summary>
    public bool IsAbandoned(Direction direction) => State(direction).Abandoned;

    private sealed class DirectionState
    {
        /// <summary>First bytes of an oversize ADU, handled once its declared length has gone by.</summary>
        public byte[]? Held;
        public int HeldLength;
        public ulong HeldFlags;
        public byte[]? Buffer;
        public int Count;
        public long SkipRemaining;
        public bool Resync;
        public long ResyncSkipped;
        public long ScannedBytes;
        public bool Abandoned;
    }

    private struct PendingRequest
    {
        public uint Key;
        public long Ts;
        public long Packet;
        public ulong Anomalies;
        public byte[] Adu;
        public int Length;
        public bool Truncated;
    }

    private enum HeaderDecision
    {
        /// <summary>A normal ADU of <c>aduLength</c> bytes (maybe not all there yet).</summary>
        Accept,
        /// <summary>MBAP length above 254: keep the first bytes, skip the rest.</summary>
        Oversize,
        /// <summary>MBAP length 1: a 7-byte ADU without function code, framed but unusable.</summary>
        NoFunction,
        /// <summary>Not decidable with the bytes present.</summary>
        NeedMore,
        Invalid,
    }

    private enum FrameCheck
    {
        Clean,
        NeedMore,
        Broken,
    }

    private DirectionState State(Direction d) => d == Direction.ToServer ? _toServer : _toClient;

    /// <summary>True when <paramref name="d"/> carries requests (client to Modbus server).</summary>
    private bool IsRequest(Direction d) => (d == Direction.ToServer) != ServerIsFlowClient;

    public void OnStreamData(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta)
    {
        flow.Protocol = ProtocolId.Modbus;
        var st = State(direction);
        bool segmentStart = true;
        while (!data.IsEmpty && !st.Abandoned)
        {
            bool atSegmentStart = segmentStart;
            segmentStart = false;
            if (atSegmentStart && st.Resync && st.Count > 0 && IsHeaderAtSegmentStart(data))
            {
                // The bytes kept while scanning are older than a segment that starts in sync: drop them.
                st.ResyncSkipped += st.Count;
                st.ScannedBytes += st.Count;
                st.Count = 0;
            }

            if (st.Count == 0)
            {
                int consumed = Process(flow, direction, st, data, meta, final: false, atSegmentStart);
                data = data[consumed..];
                if (!data.IsEmpty)
                {
                    // Leftover is a partial ADU or resync candidate (< 261 bytes by construction).
                    st.Buffer ??= ThreadBufferCache.Rent(BufferCapacity);
                    int n = Math.Min(data.Length, st.Buffer.Length);
                    data[..n].CopyTo(st.Buffer);
                    st.Count = n;
                    data = data[n..];
                }

                continue;
            }

            var buf = st.Buffer!;
            int take = Math.Min(buf.Length - st.Count, data.Length);
            data[..take].CopyTo(buf.AsSpan(st.Count));
            st.Count += take;
            data = data[take..];
            int used = Process(flow, direction, st, buf.AsSpan(0, st.Count), meta);
            if (used == 0 && st.Count == buf.Length)
            {
                // Cannot happen with ADUs of at most 260 bytes; never loop forever on a logic error.
                used = 1;
                EnterResync(flow, direction, st, meta, ModbusAnomaly.LengthMismatch, 0);
            }

            if (used > 0)
            {
                st.Count -= used;
                buf.AsSpan(used, st.Count).CopyTo(buf);
            }

            if (st.Abandoned)
            {
                st.Count = 0;
            }
        }
    }

    public void OnStreamGap(FlowContext flow, Direction direction, long missingBytes, in PacketMeta meta)
    {
        var st = State(direction);
        if (st.Abandoned)
        {
            return;
        }

        if (st.SkipRemaining > 0 && st.Count == 0 && missingBytes <= st.SkipRemaining)
        {
            // The lost bytes belong to the oversize ADU being skipped: still in sync.
            st.SkipRemaining -= missingBytes;
            if (st.SkipRemaining == 0)
            {
                CompleteHeld(flow, direction, st, meta);
            }

            return;
        }

        DropHeld(flow, direction, st, meta);
        if (st.Count > 0)
        {
            Report(flow, direction, ModbusAnomaly.StreamGap, st.Count, meta);
        }

        st.Count = 0;
        st.SkipRemaining = 0;
        if (!st.Resync)
        {
            st.Resync = true;
            st.ResyncSkipped = 0;
        }
    }

    public void OnDatagram(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta)
    {
        // Modbus over UDP: every datagram holds whole ADUs. Frame it like a stream, then drop any tail.
        flow.Protocol = ProtocolId.Modbus;
        var st = State(direction);
        if (st.Abandoned)
        {
            return;
        }

        int consumed = Process(flow, direction, st, data, meta, final: true);
        if (consumed < data.Length && !st.Abandoned)
        {
            Report(flow, direction, ModbusAnomaly.MalformedPdu, data.Length - consumed, meta);
        }

        DropHeld(flow, direction, st, meta);
        st.Count = 0;
        st.SkipRemaining = 0;
        st.Resync = false;
    }

    public void OnTick(FlowContext flow, long nowNs)
    {
        if (_pendingCount == 0)
        {
            return;
        }

        int kept = 0;
        for (int i = 0; i < _pendingCount; i++)
        {
            ref var p = ref _pending[i];
            if (nowNs - p.Ts > _options.RequestTimeoutNs)
            {
                EmitUnanswered(flow, ref p, 0);
            }
            else
            {
                _pending[kept++] = p;
            }
        }

        for (int i = kept; i < _pendingCount; i++)
        {
            _pending[i] = default;
        }

        _pendingCount = kept;
    }

    public void OnClose(FlowContext flow, FlowCloseReason reason, long nowNs)
    {
        for (int i = 0; i < _pendingCount; i++)
        {
            EmitUnanswered(flow, ref _pending[i], 0);
            _pending[i] = default;
        }

        _pendingCount = 0;
        CloseDirection(flow, Direction.ToServer, _toServer, nowNs);
        CloseDirection(flow, Direction.ToClient, _toClient, nowNs);
        for (int i = 0; i < _freeCount; i++)
        {
            ThreadBufferCache.Return(_freeSlots[i]);
            _freeSlots[i] = null!;
        }

        _freeCount = 0;
    }

    private void CloseDirection(FlowContext flow, Direction direction, DirectionState st, long nowNs)
    {
        var meta = new PacketMeta(nowNs, 0);
        DropHeld(flow, direction, st, meta);
        if (st.Count > 0 && !st.Abandoned && !st.Resync)
        {
            // A partial ADU at the end of the flow: it never completed.
            Report(flow, direction, ModbusAnomaly.MalformedPdu, st.Count, meta);
        }

        st.Count = 0;
        if (st.Buffer is not null)
        {
            ThreadBufferCache.Return(st.Buffer);
            st.Buffer = null;
        }
    }

    /// <summary>
    /// Frames and handles as much of <paramref name="span"/> as possible; returns the bytes consumed.
    /// <paramref name="final"/>: no byte will follow (a datagram), so nothing waits for more data.
    /// </summary>
    private int Process(FlowContext flow, Direction direction, DirectionState st, ReadOnlySpan<byte> span, in PacketMeta meta, bool final = false, bool segmentStart = false)
    {
        bool request = IsRequest(direction);
        int pos = 0;
        while (pos < span.Length)
        {
            if (st.Abandoned)
            {
                return span.Length;
            }

            if (st.SkipRemaining > 0)
            {
                int n = (int)Math.Min(st.SkipRemaining, span.Length - pos);
                st.SkipRemaining -= n;
                pos += n;
                if (st.SkipRemaining == 0)
                {
                    CompleteHeld(flow, direction, st, meta);
                }

                continue;
            }

            var rest = span[pos..];
            if (st.Resync)
            {
                bool found;
                int skipped;
                if (pos == 0 && (segmentStart || final) && IsHeaderAtSegmentStart(rest))
                {
                    // Senders write whole ADUs: after a gap or garbage, a segment that starts with a header that
                    // frames cleanly is back in sync, whatever its function code.
                    found = true;
                    skipped = 0;
                }
                else
                {
                    skipped = Scan(rest, request, out found);
                }

                pos += skipped;
                st.ResyncSkipped += skipped;
                st.ScannedBytes += skipped;
                if (found)
                {
                    st.Resync = false;
                    st.ScannedBytes = 0;
                    Report(flow, direction, ModbusAnomaly.StreamResync, st.ResyncSkipped, meta);
                    continue;
                }

                if (st.ScannedBytes > _options.MaxResyncScanBytes)
                {
                    st.Abandoned = true;
                    Report(flow, direction, ModbusAnomaly.DissectionAbandoned, st.ScannedBytes, meta);
                    return span.Length;
                }

                return pos;
            }

            if (rest.Length < ModbusFraming.HeaderLength)
            {
                return pos;
            }

            var decision = Decide(rest, request, final, out int aduLength, out ulong flags, out ModbusAnomaly invalidReason, out long detail);
            switch (decision)
            {
                case HeaderDecision.Accept:
                    if (rest.Length < aduLength)
                    {
                        return pos;
                    }

                    _established = true;
                    HandleAdu(flow, direction, rest[..aduLength], flags, meta, truncated: false);
                    pos += aduLength;
                    break;
                case HeaderDecision.Oversize:
                    {
                        int keep = Math.Min(ModbusFraming.MaxAduLength, aduLength);
                        if (rest.Length < keep)
                        {
                            if (!final)
                            {
                                return pos;
                            }

                            keep = rest.Length;
                        }

                        _established = true;
                        Hold(st, rest[..keep], flags | ModbusAnomalies.Bit(ModbusAnomaly.OversizePdu));
                        pos += keep;
                        st.SkipRemaining = aduLength - keep;
                        break;
                    }

                case HeaderDecision.NoFunction:
                    // MBAP length 1: unit id only. Framed (the stream stays in sync) but carries no PDU.
                    Report(flow, direction, ModbusAnomaly.LengthMismatch, detail, meta);
                    pos += aduLength;
                    break;
                case HeaderDecision.NeedMore:
                    return pos;
                default:
                    EnterResync(flow, direction, st, meta, invalidReason, detail);
                    pos += 1;
                    st.ResyncSkipped = 1;
                    st.ScannedBytes = 1;
                    break;
            }
        }

        return pos;
    }

    /// <summary>Keeps the first bytes of an oversize ADU until its declared length has gone by.</summary>
    private void Hold(DirectionState st, ReadOnlySpan<byte> adu, ulong flags)
    {
        st.Held ??= RentSlot();
        adu.CopyTo(st.Held);
        st.HeldLength = adu.Length;
        st.HeldFlags = flags;
    }

    /// <summary>The oversize ADU is complete: handle its kept bytes as a truncated message.</summary>
    private void CompleteHeld(FlowContext flow, Direction direction, DirectionState st, in PacketMeta meta)
    {
        if (st.HeldLength == 0 || st.Held is null)
        {
            return;
        }

        int n = st.HeldLength;
        st.HeldLength = 0;
        HandleAdu(flow, direction, st.Held.AsSpan(0, n), st.HeldFlags, meta, truncated: true);
    }

    /// <summary>An oversize ADU that never completed (gap, end of flow, short datagram): report it, drop it.</summary>
    private void DropHeld(FlowContext flow, Direction direction, DirectionState st, in PacketMeta meta)
    {
        if (st.HeldLength > 0 && st.Held is not null)
        {
            var h = ModbusFraming.ReadHeader(st.Held);
            Report(flow, direction, ModbusAnomaly.OversizePdu, h.Length, meta);
        }

        st.HeldLength = 0;
        if (st.Held is not null)
        {
            ReleaseSlot(st.Held);
            st.Held = null;
        }
    }

    private void EnterResync(FlowContext flow, Direction direction, DirectionState st, in PacketMeta meta, ModbusAnomaly reason, long detail)
    {
        if (reason == ModbusAnomaly.NonModbusOnPort)
        {
            if (!_nonModbusReported)
            {
                _nonModbusReported = true;
                Report(flow, direction, reason, detail, meta);
            }
        }
        else
        {
            Report(flow, direction, reason, detail, meta);
        }

        st.Resync = true;
        st.ResyncSkipped = 0;
        st.ScannedBytes = 0;
    }

    /// <summary>
    /// Decides what the MBAP header at the start of <paramref name="rest"/> (at least 7 bytes) announces.
    /// <list type="bullet">
    /// <item>Length 2..254: an ADU. On an established flow with protocol id 0 the length is trusted. Otherwise (first
    /// ADU of the flow, or protocol id not 0) the length must frame the stream cleanly: the ADU ends where the bytes
    /// end, or the next bytes start a header with the same protocol id. Function code and protocol id are not
    /// judged here: they are flagged on the transaction.</item>
    /// <item>A protocol id other than 0 never opens a direction of a flow whose other direction was non-Modbus.</item>
    /// <item>Length above 254 with protocol id 0: an oversize ADU (bytes present must not contradict it).</item>
    /// <item>Length 1 with protocol id 0, framing cleanly: an ADU without function code.</item>
    /// </list>
    /// </summary>
    private HeaderDecision Decide(ReadOnlySpan<byte> rest, bool request, bool final, out int aduLength, out ulong flags, out ModbusAnomaly invalidReason, out long detail)
    {
        var h = ModbusFraming.ReadHeader(rest);
        flags = 0;
        invalidReason = ModbusAnomaly.None;
        detail = h.Length;
        aduLength = h.Length + 6;
        bool pidZero = h.ProtocolId == 0;
        if (h.Length is >= 2 and <= ModbusFraming.MaxMbapLength)
        {
            if (!pidZero)
            {
                flags = ModbusAnomalies.Bit(ModbusAnomaly.InvalidProtocolId);
            }

            if (_established && pidZero)
            {
                return HeaderDecision.Accept;
            }

            if (rest.Length <= ModbusFraming.HeaderLength)
            {
                return final ? HeaderDecision.Invalid : HeaderDecision.NeedMore;
            }

            if (_established && ModbusFraming.IsPlausibleFunction(rest[7], request))
            {
                return HeaderDecision.Accept;
            }

            // A protocol id other than 0 opening a direction is Modbus only while the flow is not known to carry
            // other data: a device that answers a scanner's HTTP or TLS with an "exception" echoing the garbage's
            // first bytes as MBAP header is replying to non-Modbus, not holding a Modbus conversation.
            if (pidZero || _established || !_nonModbusReported)
            {
                switch (CheckFraming(rest, aduLength, h.ProtocolId, final))
                {
                    case FrameCheck.Clean:
                        return HeaderDecision.Accept;
                    case FrameCheck.NeedMore:
                        return HeaderDecision.NeedMore;
                }
            }
        }
        else if (h.Length == 1 && pidZero)
        {
            switch (CheckFraming(rest, aduLength, 0, final))
            {
                case FrameCheck.Clean:
                    return HeaderDecision.NoFunction;
                case FrameCheck.NeedMore:
                    return HeaderDecision.NeedMore;
            }
        }
        else if (h.Length > ModbusFraming.MaxMbapLength && pidZero && aduLength <= _options.MaxBufferedBytes)
        {
            if (_established || rest.Length <= aduLength)
            {
                return HeaderDecision.Oversize;
            }

            switch (CheckFraming(rest, aduLength, 0, final))
            {
                case FrameCheck.Clean:
                    return HeaderDecision.Oversize;
                case FrameCheck.NeedMore:
                    return HeaderDecision.NeedMore;
            }
        }

        if (!_established)
        {
            invalidReason = ModbusAnomaly.NonModbusOnPort;
        }
        else if (!pidZero)
        {
            invalidReason = ModbusAnomaly.InvalidProtocolId;
            detail = h.ProtocolId;
        }
        else
        {
            invalidReason = ModbusAnomaly.LengthMismatch;
        }

        return HeaderDecision.Invalid;
    }

    /// <summary>
    /// Whether an ADU of <paramref name="aduLength"/> bytes at the start of <paramref name="rest"/> frames cleanly:
    /// it ends exactly where the bytes end, or it is followed by an MBAP header with the same protocol id and a
    /// length of at least 1.
    /// </summary>
    private static FrameCheck CheckFraming(ReadOnlySpan<byte> rest, int aduLength, ushort protocolId, bool final)
    {
        if (rest.Length == aduLength)
        {
            return FrameCheck.Clean;
        }

        if (rest.Length < aduLength + ModbusFraming.HeaderLength)
        {
            return final ? FrameCheck.Broken : FrameCheck.NeedMore;
        }

        var next = ModbusFraming.ReadHeader(rest[aduLength..]);
        return next.ProtocolId == protocolId && next.Length >= 1 ? FrameCheck.Clean : FrameCheck.Broken;
    }

    /// <summary>
    /// True when a segment starts with an MBAP header (protocol id 0, length 2..254) whose whole ADU is in the
    /// segment. Senders write whole ADUs, so after a gap or garbage this is where the stream is back in sync.
    /// </summary>
    private static bool IsHeaderAtSegmentStart(ReadOnlySpan<byte> segment)
        => IsFramedHeader(segment) && segment.Length >= ((segment[4] << 8) | segment[5]) + 6;

    /// <summary>True when at least 8 bytes start with protocol id 0 and an MBAP length of 2..254 (any function code).</summary>
    private static bool IsFramedHeader(ReadOnlySpan<byte> c)
    {
        if (c.Length < ModbusFraming.HeaderLength + 1 || c[2] != 0 || c[3] != 0)
        {
            return false;
        }

        int len = (c[4] << 8) | c[5];
        return len is >= 2 and <= ModbusFraming.MaxMbapLength;
    }

    /// <summary>
    /// Looks for an MBAP header to resynchronise on: protocol id 0, length 2..254, a PDU that decodes exactly, and
    /// either a plausible function code (public or user-defined) with the next header plausible when its bytes are
    /// there, or any function code (vendor codes such as UMAS 0x5A) followed by a second well-framed header.
    /// Returns the bytes before it (or the bytes that can be discarded when not found: everything but a short tail
    /// that may start a header).
    /// </summary>
    private static int Scan(ReadOnlySpan<byte> rest, bool request, out bool found)
    {
        found = false;
        int i = 0;
        while (rest.Length - i >= ModbusFraming.HeaderLength + 1)
        {
            var c = rest[i..];
            if (!IsFramedHeader(c))
            {
                i++;
                continue;
            }

            bool plausible = ModbusFraming.IsPlausibleFunction(c[7], request);
            int adu = ((c[4] << 8) | c[5]) + 6;
            if (c.Length < adu)
            {
                if (plausible)
                {
                    // Candidate not complete yet: keep it and wait for more bytes.
                    return i;
                }

                i++;
                continue;
            }

            var pdu = c.Slice(ModbusFraming.HeaderLength, adu - ModbusFraming.HeaderLength);
            var status = request
                ? ModbusPduReader.TryReadRequest(pdu, out _)
                : ModbusPduReader.TryReadResponse(pdu, 0, out _);
            if (status != PduStatus.Ok)
            {
                i++;
                continue;
            }

            bool nextThere = c.Length >= adu + ModbusFraming.HeaderLength + 1;
            bool ok = plausible
                ? !nextThere || ModbusFraming.IsPlausibleHeader(c[adu..], request)
                : nextThere && IsFramedHeader(c[adu..]);
            if (!ok)
            {
                i++;
                continue;
            }

            found = true;
            return i;
        }

        return i;
    }

    private void HandleAdu(FlowContext flow, Direction direction, ReadOnlySpan<byte> adu, ulong flags, in PacketMeta meta, bool truncated)
    {
        var header = ModbusFraming.ReadHeader(adu);
        var pdu = adu[ModbusFraming.HeaderLength..];
        if (IsRequest(direction))
        {
            var status = ModbusPduReader.TryReadRequest(pdu, out var req);
            flags |= truncated ? ModbusValidation.CheckTruncatedRequest(status, req) : ModbusValidation.CheckRequest(status, req);
            AddPending(flow, header.Key, adu, flags, meta, truncated);
            return;
        }

        int index = FindPending(header.Key);
        if (index < 0)
        {
            var rs = ModbusPduReader.TryReadResponse(pdu, 0, out var resp);
            flags |= ModbusValidation.CheckResponse(ModbusValidation.EffectiveStatus(rs, truncated), resp, false, PduStatus.Empty, default);
            flags |= ModbusAnomalies.Bit(ModbusAnomaly.UnsolicitedResponse);
            var record = new TransactionRecord
            {
                Protocol = ProtocolId.Modbus,
                HasResponse = true,
                ResponseTs = meta.TimestampNs,
                ResponsePacket = meta.PacketNumber,
                Key = header.Key,
                Anomalies = flags,
                ResponseTruncated = truncated,
            };
            _sink.Transaction(flow, record, ReadOnlySpan<byte>.Empty, adu);
            return;
        }

        var p = _pending[index];
        RemovePendingAt(index);
        var reqAdu = p.Adu.AsSpan(0, p.Length);
        var reqStatus = ModbusPduReader.TryReadRequest(reqAdu[ModbusFraming.HeaderLength..], out var request);
        var respStatus = ModbusPduReader.TryReadResponse(pdu, request.FunctionByte, out var response);
        flags |= p.Anomalies | ModbusValidation.CheckResponse(
            ModbusValidation.EffectiveStatus(respStatus, truncated), response, true, ModbusValidation.EffectiveStatus(reqStatus, p.Truncated), request);
        var tx = new TransactionRecord
        {
            Protocol = ProtocolId.Modbus,
            HasRequest = true,
            HasResponse = true,
            RequestTs = p.Ts,
            ResponseTs = meta.TimestampNs,
            RequestPacket = p.Packet,
            ResponsePacket = meta.PacketNumber,
            Key = header.Key,
            Anomalies = flags,
            RequestTruncated = p.Truncated,
            ResponseTruncated = truncated,
        };
        _sink.Transaction(flow, tx, reqAdu, adu);
        ReleaseSlot(p.Adu);
    }
    private int FindPending(uint key)
    {
        for (int i = 0; i < _pendingCount; i++)
        {
            if (_pending[i].Key == key)
            {
                return i;
            }
        }

        return -1;
    }

    private void AddPending(FlowContext flow, uint key, ReadOnlySpan<byte> adu, ulong flags, in PacketMeta meta, bool truncated)
    {
        int dup = FindPending(key);
        if (dup >= 0)
        {
            var old = _pending[dup];
            RemovePendingAt(dup);
            EmitUnanswered(flow, ref old, ModbusAnomalies.Bit(ModbusAnomaly.DuplicateTransactionId));
        }

        int max = Math.Max(1, _options.MaxPendingPerFlow);
        if (_pendingCount >= max)
        {
            var oldest = _pending[0];
            RemovePendingAt(0);
            EmitUnanswered(flow, ref oldest, ModbusAnomalies.Bit(ModbusAnomaly.PendingOverflow));
        }

        if (_pendingCount == _pending.Length)
        {
            int size = Math.Min(max, Math.Max(4, _pending.Length * 2));
            Array.Resize(ref _pending, size);
        }

        var slot = RentSlot();
        adu.CopyTo(slot);
        _pending[_pendingCount++] = new PendingRequest
        {
            Key = key,
            Ts = meta.TimestampNs,
            Packet = meta.PacketNumber,
            Anomalies = flags,
            Adu = slot,
            Length = adu.Length,
            Truncated = truncated,
        };
    }

    private void RemovePendingAt(int index)
    {
        _pendingCount--;
        if (index < _pendingCount)
        {
            Array.Copy(_pending, index + 1, _pending, index, _pendingCount - index);
        }

        _pending[_pendingCount] = default;
    }

    /// <summary>Emits a request without response and releases its slot.</summary>
    private void EmitUnanswered(FlowContext flow, ref PendingRequest p, ulong extra)
    {
        var tx = new TransactionRecord
        {
            Protocol = ProtocolId.Modbus,
            HasRequest = true,
            RequestTs = p.Ts,
            RequestPacket = p.Packet,
            Key = p.Key,
            Anomalies = p.Anomalies | extra,
            RequestTruncated = p.Truncated,
        };
        _sink.Transaction(flow, tx, p.Adu.AsSpan(0, p.Length), ReadOnlySpan<byte>.Empty);
        ReleaseSlot(p.Adu);
        p.Adu = null!;
    }

    private byte[] RentSlot()
    {
        if (_freeCount > 0)
        {
            var s = _freeSlots[--_freeCount];
            _freeSlots[_freeCount] = null!;
            return s;
        }

        return ThreadBufferCache.Rent(ModbusFraming.MaxAduLength);
    }

    private void ReleaseSlot(byte[] slot)
    {
        if (_freeCount == _freeSlots.Length)
        {
            Array.Resize(ref _freeSlots, Math.Max(4, _freeSlots.Length * 2));
        }

        _freeSlots[_freeCount++] = slot;
    }

    private void Report(FlowContext flow, Direction direction, ModbusAnomaly anomaly, long detail, in PacketMeta meta)
    {
        var record = new AnomalyRecord
        {
            Protocol = ProtocolId.Modbus,
            AnomalyId = (int)anomaly,
            Direction = direction,
            Ts = meta.TimestampNs,
            PacketNumber = meta.PacketNumber,
            Detail = detail,
        };
        _sink.Anomaly(flow, record);
    }
}
