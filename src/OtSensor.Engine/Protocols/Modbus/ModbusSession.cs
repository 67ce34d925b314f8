using System.Buffers;
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
/// segment), request/response matching by (transaction id, unit id), oversize skipping, resynchronisation after gaps
/// and garbage. Every complete ADU ends up in exactly one <see cref="IEventSink.Transaction"/> call.
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
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(options);
        _sink = sink;
        _options = options;
    }

    /// <summary>Requests currently waiting for a response.</summary>
    public int PendingCount => _pendingCount;

    /// <summary>True once at least one well-framed Modbus ADU was seen on the flow.</summary>
    public bool Established => _established;

    /// <summary>True when the direction stopped being dissected after too much non-Modbus data.</summary>
    public bool IsAbandoned(Direction direction) => State(direction).Abandoned;

    private sealed class DirectionState
    {
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
    }

    private enum HeaderDecision
    {
        Accept,
        Oversize,
        Invalid,
    }

    private DirectionState State(Direction d) => d == Direction.ToServer ? _toServer : _toClient;

    public void OnStreamData(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta)
    {
        flow.Protocol = ProtocolId.Modbus;
        var st = State(direction);
        while (!data.IsEmpty && !st.Abandoned)
        {
            if (st.Count == 0)
            {
                int consumed = Process(flow, direction, st, data, meta);
                data = data[consumed..];
                if (!data.IsEmpty)
                {
                    // Leftover is a partial ADU or resync candidate (< 261 bytes by construction).
                    st.Buffer ??= ArrayPool<byte>.Shared.Rent(BufferCapacity);
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
            return;
        }

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

        int consumed = Process(flow, direction, st, data, meta);
        if (consumed < data.Length && !st.Abandoned)
        {
            Report(flow, direction, ModbusAnomaly.MalformedPdu, data.Length - consumed, meta);
        }

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
            ArrayPool<byte>.Shared.Return(_freeSlots[i]);
            _freeSlots[i] = null!;
        }

        _freeCount = 0;
    }

    private void CloseDirection(FlowContext flow, Direction direction, DirectionState st, long nowNs)
    {
        if (st.Count > 0 && !st.Abandoned && !st.Resync)
        {
            // A partial ADU at the end of the flow: it never completed.
            var meta = new PacketMeta(nowNs, 0);
            Report(flow, direction, ModbusAnomaly.MalformedPdu, st.Count, meta);
        }

        st.Count = 0;
        if (st.Buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(st.Buffer);
            st.Buffer = null;
        }
    }

    /// <summary>Frames and handles as much of <paramref name="span"/> as possible; returns the bytes consumed.</summary>
    private int Process(FlowContext flow, Direction direction, DirectionState st, ReadOnlySpan<byte> span, in PacketMeta meta)
    {
        bool request = direction == Direction.ToServer;
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
                continue;
            }

            var rest = span[pos..];
            if (st.Resync)
            {
                int skipped = Scan(rest, request, out bool found);
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

            if (rest.Length < ModbusFraming.HeaderLength + 1)
            {
                return pos;
            }

            var decision = Decide(rest, request, out int aduLength, out ulong flags, out ModbusAnomaly invalidReason, out long detail);
            switch (decision)
            {
                case HeaderDecision.Accept:
                    if (rest.Length < aduLength)
                    {
                        return pos;
                    }

                    _established = true;
                    HandleAdu(flow, direction, rest[..aduLength], flags, meta);
                    pos += aduLength;
                    break;
                case HeaderDecision.Oversize:
                    Report(flow, direction, ModbusAnomaly.OversizePdu, detail, meta);
                    st.SkipRemaining = aduLength;
                    break;
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

    private HeaderDecision Decide(ReadOnlySpan<byte> rest, bool request, out int aduLength, out ulong flags, out ModbusAnomaly invalidReason, out long detail)
    {
        var h = ModbusFraming.ReadHeader(rest);
        flags = 0;
        invalidReason = ModbusAnomaly.None;
        detail = h.Length;
        aduLength = h.Length + 6;
        bool plausibleFunction = ModbusFraming.IsPlausibleFunction(rest[7], request);
        if (ModbusFraming.TryGetAduLength(rest, out _) == FrameStatus.Complete)
        {
            if (h.Length <= ModbusFraming.MaxMbapLength)
            {
                if (h.ProtocolId == 0 && (_established || plausibleFunction))
                {
                    return HeaderDecision.Accept;
                }

                if (h.ProtocolId != 0 && _established && plausibleFunction)
                {
                    flags = ModbusAnomalies.Bit(ModbusAnomaly.InvalidProtocolId);
                    return HeaderDecision.Accept;
                }
            }
            else if (h.ProtocolId == 0 && (_established || plausibleFunction) && aduLength <= _options.MaxBufferedBytes)
            {
                return HeaderDecision.Oversize;
            }
        }

        if (!_established)
        {
            invalidReason = ModbusAnomaly.NonModbusOnPort;
        }
        else if (h.ProtocolId != 0)
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
    /// Looks for a plausible MBAP header (protocol id 0, length 2..254, plausible function, PDU that decodes, and the
    /// next header plausible when its bytes are there). Returns the bytes before it (or the bytes that can be
    /// discarded when not found: everything but a short tail that may start a header).
    /// </summary>
    private static int Scan(ReadOnlySpan<byte> rest, bool request, out bool found)
    {
        found = false;
        int i = 0;
        while (rest.Length - i >= ModbusFraming.HeaderLength + 1)
        {
            var c = rest[i..];
            if (!ModbusFraming.IsPlausibleHeader(c, request))
            {
                i++;
                continue;
            }

            int adu = ((c[4] << 8) | c[5]) + 6;
            if (c.Length < adu)
            {
                // Candidate not complete yet: keep it and wait for more bytes.
                return i;
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

            if (c.Length >= adu + ModbusFraming.HeaderLength + 1 && !ModbusFraming.IsPlausibleHeader(c[adu..], request))
            {
                i++;
                continue;
            }

            found = true;
            return i;
        }

        return i;
    }

    private void HandleAdu(FlowContext flow, Direction direction, ReadOnlySpan<byte> adu, ulong flags, in PacketMeta meta)
    {
        var header = ModbusFraming.ReadHeader(adu);
        var pdu = adu[ModbusFraming.HeaderLength..];
        if (direction == Direction.ToServer)
        {
            var status = ModbusPduReader.TryReadRequest(pdu, out var req);
            flags |= ModbusValidation.CheckRequest(status, req);
            AddPending(flow, header.Key, adu, flags, meta);
            return;
        }

        int index = FindPending(header.Key);
        if (index < 0)
        {
            var rs = ModbusPduReader.TryReadResponse(pdu, 0, out var resp);
            flags |= ModbusValidation.CheckResponse(rs, resp, false, PduStatus.Empty, default);
            flags |= ModbusAnomalies.Bit(ModbusAnomaly.UnsolicitedResponse);
            var record = new TransactionRecord
            {
                Protocol = ProtocolId.Modbus,
                HasResponse = true,
                ResponseTs = meta.TimestampNs,
                ResponsePacket = meta.PacketNumber,
                Key = header.Key,
                Anomalies = flags,
            };
            _sink.Transaction(flow, record, ReadOnlySpan<byte>.Empty, adu);
            return;
        }

        var p = _pending[index];
        RemovePendingAt(index);
        var reqAdu = p.Adu.AsSpan(0, p.Length);
        var reqStatus = ModbusPduReader.TryReadRequest(reqAdu[ModbusFraming.HeaderLength..], out var request);
        var respStatus = ModbusPduReader.TryReadResponse(pdu, request.FunctionByte, out var response);
        flags |= p.Anomalies | ModbusValidation.CheckResponse(respStatus, response, true, reqStatus, request);
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

    private void AddPending(FlowContext flow, uint key, ReadOnlySpan<byte> adu, ulong flags, in PacketMeta meta)
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

        return ArrayPool<byte>.Shared.Rent(ModbusFraming.MaxAduLength);
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
