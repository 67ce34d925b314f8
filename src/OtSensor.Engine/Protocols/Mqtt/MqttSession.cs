using OtSensor.Core;
using OtSensor.Flows;

namespace OtSensor.Protocols.Mqtt;

/// <summary>Bounds and timeouts of an <see cref="MqttSession"/>.</summary>
public sealed class MqttOptions
{
    /// <summary>PUBLISH payload bytes copied into the event (<c>payload_prefix</c>).</summary>
    public int PayloadPrefixBytes { get; set; } = 256;

    /// <summary>
    /// Largest packet buffered whole. A larger packet has its head (up to <see cref="OversizeHeadBytes"/>) decoded,
    /// is reported with <c>mqtt_oversize_packet</c>, and the rest is skipped.
    /// </summary>
    public int MaxPacketBytes { get; set; } = 256 * 1024;

    /// <summary>Bytes of an oversize packet kept for decoding its head (topic, packet id, properties).</summary>
    public int OversizeHeadBytes { get; set; } = 4096;

    /// <summary>Requests waiting for their acknowledgement per flow; beyond it the oldest is reported unanswered.</summary>
    public int MaxPending { get; set; } = 256;

    /// <summary>A request unanswered for longer than this (packet time) is reported unanswered on the next tick.</summary>
    public long RequestTimeoutNs { get; set; } = 30L * 1_000_000_000L;

    /// <summary>Topic aliases remembered per direction (MQTT 5).</summary>
    public int MaxTopicAliases { get; set; } = 64;

    /// <summary>Bytes scanned without finding a plausible packet before a direction stops being dissected.</summary>
    public int MaxResyncScanBytes { get; set; } = 64 * 1024;
}

/// <summary>
/// Per-flow MQTT dissector (3.1, 3.1.1, 5.0): framing per direction (partial packets across segments, several
/// packets per segment), version tracking, topic aliases, and exchanges folded into transactions matched by packet id:
/// CONNECT+CONNACK, PUBLISH (QoS 0 alone, QoS 1 + PUBACK, QoS 2 + PUBREC + PUBREL + PUBCOMP) in both directions,
/// SUBSCRIBE+SUBACK, UNSUBSCRIBE+UNSUBACK, PINGREQ+PINGRESP, DISCONNECT and AUTH alone. Events carry their decoded
/// fields as an <see cref="EventFieldWriter"/> blob named by <see cref="MqttFields"/>. Passwords are never stored.
/// Not thread-safe: a flow belongs to one worker.
/// </summary>
public sealed class MqttSession : IFlowDissector
{
    private const int InitialBuffer = 1024;
    private const int ResyncMaxCandidate = 8192;
    /// <summary>The event blob bound (what the shared pool handed out for the former 12 KiB request).</summary>
    private const int ScratchSize = 16 * 1024;
    private const int RequestPart = 8 * 1024;
    private const int MaxStringProperty = 128;
    private const int MaxUserProperties = 8;
    private const int MaxListedFilters = 64;

    private const ulong ResyncRejects = (1UL << (int)MqttAnomaly.MalformedUtf8) | (1UL << (int)MqttAnomaly.ReservedPacketType)
        | (1UL << (int)MqttAnomaly.InvalidFlags) | (1UL << (int)MqttAnomaly.InvalidQos) | (1UL << (int)MqttAnomaly.UnknownProtocolVersion);

    private readonly IEventSink _sink;
    private readonly MqttOptions _options;
    private readonly DirectionState _toServer = new();
    private readonly DirectionState _toClient = new();
    private Pending[] _pending = [];
    private int _pendingCount;
    /// <summary>
    /// Where an event blob is assembled before it is emitted (never kept across calls): one per thread, since a worker
    /// runs its sessions one at a time. One per session, rented from the shared pool, missed the pool's caches when
    /// thousands of sessions were open and allocated instead.
    /// </summary>
    [ThreadStatic]
    private static byte[]? t_scratch;
    private int _version;
    private bool _connectSeen;

    public MqttSession(IEventSink sink, MqttOptions options)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(options);
        _sink = sink;
        _options = options;
    }

    /// <summary>Protocol version in use: 3, 4 or 5 from CONNECT (or switched to 5 mid-stream); 0 while guessing 3.1.1.</summary>
    public int Version => _version;

    /// <summary>Requests currently waiting for an acknowledgement.</summary>
    public int PendingCount => _pendingCount;

    /// <summary>True when the direction stopped being dissected after too much non-MQTT data.</summary>
    public bool IsAbandoned(Direction direction) => State(direction).Abandoned;

    private int DecodeVersion => _version == 0 ? 4 : _version;

    private sealed class DirectionState
    {
        public byte[]? Buffer;
        public int Count;
        public long SkipRemaining;
        /// <summary>False until a packet was validated (start of flow, after a gap): then the stream is scanned.</summary>
        public bool Synced;
        /// <summary>True when the scan follows a gap or garbage (a found packet is reported as a resync).</summary>
        public bool AfterGap;
        /// <summary>True once the direction received its first byte.</summary>
        public bool Started;
        /// <summary>Packets after a scan that must still decode cleanly before the position is trusted.</summary>
        public int Tentative;
        /// <summary>Scan results that the following packets disproved (bounded: then the direction is abandoned).</summary>
        public int FalseStarts;
        public long Skipped;
        public bool Abandoned;
        public Dictionary<ushort, byte[]>? Aliases;

        /// <summary>Every field back to its initial value (a session reused for another flow).</summary>
        public void Reset()
        {
            if (Buffer is not null) ThreadBufferCache.Return(Buffer);
            Buffer = null;
            Count = 0;
            SkipRemaining = 0;
            Synced = false;
            AfterGap = false;
            Started = false;
            Tentative = 0;
            FalseStarts = 0;
            Skipped = 0;
            Abandoned = false;
            Aliases = null;
        }
    }

    private struct Pending
    {
        public MqttPacketType Kind;
        public Direction InitDir;
        public ushort PacketId;
        public int Qos;
        /// <summary>QoS 2: 0 = PUBLISH seen, 1 = PUBREC seen, 2 = PUBREL seen.</summary>
        public int Stage;
        public long Ts;
        public long Packet;
        public long RespTs;
        public long RespPacket;
        public bool HasResponse;
        public ulong Anomalies;
        public int FilterCount;
        public byte ReasonCode;
        public bool HasReason;
        public ulong PacketTypes;
        public int PacketCount;
        public byte[] Blob;
        public int BlobLength;
    }

    private DirectionState State(Direction d) => d == Direction.ToServer ? _toServer : _toClient;

    private static Direction Opposite(Direction d) => d == Direction.ToServer ? Direction.ToClient : Direction.ToServer;

    public void OnStreamData(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta)
    {
        flow.Protocol = ProtocolId.Mqtt;
        var st = State(direction);
        while (!data.IsEmpty && !st.Abandoned)
        {
            if (st.Count == 0)
            {
                int consumed = Process(flow, direction, st, data, meta);
                data = data[consumed..];
                if (!data.IsEmpty && !st.Abandoned)
                {
                    EnsureCapacity(st, Math.Min(data.Length, NeededCapacity(data)));
                    int n = Math.Min(data.Length, st.Buffer!.Length);
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
            if (used > 0)
            {
                st.Count -= used;
                buf.AsSpan(used, st.Count).CopyTo(buf);
            }
            else if (st.Count == buf.Length)
            {
                int need = NeededCapacity(buf.AsSpan(0, st.Count));
                if (need > buf.Length)
                {
                    EnsureCapacity(st, need);
                }
                else
                {
                    // Never loop forever: drop a byte and look for the next packet.
                    st.Count -= 1;
                    st.Buffer.AsSpan(1, st.Count).CopyTo(st.Buffer);
                    EnterResync(flow, direction, st, MqttAnomaly.MalformedPacket, 0, meta);
                }
            }

            if (st.Abandoned)
            {
                st.Count = 0;
            }
            else if (st.Count == 0 && st.Buffer!.Length > InitialBuffer * 4)
            {
                ThreadBufferCache.Return(st.Buffer);
                st.Buffer = null;
            }
        }
    }

    /// <summary>Buffer size needed to make progress on the bytes starting at <paramref name="pending"/>.</summary>
    private int NeededCapacity(ReadOnlySpan<byte> pending)
    {
        int cap = Math.Max(InitialBuffer, pending.Length);
        if (MqttFraming.TryGetPacketLength(pending, out int len) == MqttFrameStatus.Complete)
        {
            int max = Math.Max(_options.MaxPacketBytes, Math.Max(_options.OversizeHeadBytes, ResyncMaxCandidate));
            cap = Math.Max(cap, Math.Min(len, max));
        }

        return cap;
    }

    private static void EnsureCapacity(DirectionState st, int size)
    {
        if (st.Buffer is not null && st.Buffer.Length >= size)
        {
            return;
        }

        var nb = ThreadBufferCache.Rent(Math.Max(size, InitialBuffer));
        if (st.Buffer is not null)
        {
            st.Buffer.AsSpan(0, st.Count).CopyTo(nb);
            ThreadBufferCache.Return(st.Buffer);
        }

        st.Buffer = nb;
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
            // The lost bytes belong to the oversize packet being skipped: still in sync.
            st.SkipRemaining -= missingBytes;
            return;
        }

        Report(flow, direction, MqttAnomaly.StreamGap, missingBytes, meta);
        st.Count = 0;
        st.SkipRemaining = 0;
        st.Synced = false;
        st.AfterGap = true;
        st.Skipped = 0;
    }

    public void OnDatagram(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta)
    {
        // MQTT runs over streams; a datagram is framed like a segment holding whole packets.
        flow.Protocol = ProtocolId.Mqtt;
        var st = State(direction);
        if (st.Abandoned)
        {
            return;
        }

        int consumed = Process(flow, direction, st, data, meta);
        if (consumed < data.Length && !st.Abandoned && st.Synced)
        {
            Report(flow, direction, MqttAnomaly.MalformedPacket, data.Length - consumed, meta);
        }

        st.SkipRemaining = 0;
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
            if (nowNs - _pending[i].Ts > _options.RequestTimeoutNs)
            {
                EmitPending(flow, ref _pending[i], 0);
                ThreadBufferCache.Return(_pending[i].Blob);
            }
            else
            {
                _pending[kept++] = _pending[i];
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
            EmitPending(flow, ref _pending[i], 0);
            ThreadBufferCache.Return(_pending[i].Blob);
            _pending[i] = default;
        }

        _pendingCount = 0;
        CloseDirection(flow, Direction.ToServer, _toServer, nowNs);
        CloseDirection(flow, Direction.ToClient, _toClient, nowNs);
    }

    /// <summary>After <see cref="OnClose"/>: back to the state of a new session for another flow (the pending array keeps its capacity).</summary>
    internal void ResetForReuse()
    {
        for (int i = 0; i < _pendingCount; i++)
        {
            if (_pending[i].Blob is { } blob) ThreadBufferCache.Return(blob);
            _pending[i] = default;
        }

        _pendingCount = 0;
        _toServer.Reset();
        _toClient.Reset();
        _version = 0;
        _connectSeen = false;
    }

    private void CloseDirection(FlowContext flow, Direction direction, DirectionState st, long nowNs)
    {
        if (st.Count > 0 && !st.Abandoned && st.Synced)
        {
            Report(flow, direction, MqttAnomaly.MalformedPacket, st.Count, new PacketMeta(nowNs, 0));
        }

        st.Count = 0;
        st.Aliases = null;
        if (st.Buffer is not null)
        {
            ThreadBufferCache.Return(st.Buffer);
            st.Buffer = null;
        }
    }

    private void EnterResync(FlowContext flow, Direction direction, DirectionState st, MqttAnomaly reason, long detail, in PacketMeta meta)
    {
        Report(flow, direction, reason, detail, meta);
        st.Synced = false;
        st.AfterGap = true;
        st.Skipped = 0;
    }

    /// <summary>Frames and handles as much of <paramref name="span"/> as possible; returns the bytes consumed.</summary>
    private int Process(FlowContext flow, Direction direction, DirectionState st, ReadOnlySpan<byte> span, in PacketMeta meta)
    {
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
            if (!st.Started)
            {
                st.Started = true;
                if (flow.OrientationFromHandshake)
                {
                    // Seen from the first byte: a packet starts here, unless it is not MQTT at all.
                    st.Synced = MqttFraming.IsPlausibleFirstByte(rest[0], direction == Direction.ToServer, _version);
                    if (!st.Synced)
                    {
                        EnterResync(flow, direction, st, MqttAnomaly.MalformedPacket, rest[0], meta);
                    }
                }
            }

            if (!st.Synced)
            {
                int skipped = Scan(rest, direction == Direction.ToServer, out bool found);
                pos += skipped;
                st.Skipped += skipped;
                if (found)
                {
                    st.Synced = true;
                    st.Tentative = 2;
                    if (st.AfterGap || st.Skipped > 0)
                    {
                        Report(flow, direction, MqttAnomaly.StreamResync, st.Skipped, meta);
                    }

                    st.AfterGap = false;
                    st.Skipped = 0;
                    continue;
                }

                if (st.Skipped > _options.MaxResyncScanBytes)
                {
                    st.Abandoned = true;
                    Report(flow, direction, MqttAnomaly.DissectionAbandoned, st.Skipped, meta);
                    return span.Length;
                }

                return pos;
            }

            var status = MqttFraming.TryGetPacketLength(rest, out int length);
            if (status == MqttFrameStatus.NeedMoreData)
            {
                return pos;
            }

            if (status == MqttFrameStatus.Invalid)
            {
                EnterResync(flow, direction, st, MqttAnomaly.MalformedRemainingLength, rest[0], meta);
                pos += 1;
                st.Skipped = 1;
                continue;
            }

            if (length > _options.MaxPacketBytes)
            {
                int head = Math.Max(2, Math.Min(length, Math.Min(_options.OversizeHeadBytes, _options.MaxPacketBytes)));
                if (rest.Length < head)
                {
                    return pos;
                }

                HandlePacket(flow, direction, rest[..head], length, meta);
                st.SkipRemaining = length - head;
                pos += head;
                continue;
            }

            if (rest.Length < length)
            {
                return pos;
            }

            if (st.Tentative > 0)
            {
                if (!DecodesCleanly(rest[..length]))
                {
                    // The packet found by the scan was a coincidence: keep scanning, quietly.
                    st.Synced = false;
                    st.Tentative = 0;
                    st.Skipped = 1;
                    pos += 1;
                    if (++st.FalseStarts > 16)
                    {
                        st.Abandoned = true;
                        Report(flow, direction, MqttAnomaly.DissectionAbandoned, st.FalseStarts, meta);
                        return span.Length;
                    }

                    continue;
                }

                st.Tentative--;
            }

            HandlePacket(flow, direction, rest[..length], 0, meta);
            pos += length;
        }

        return pos;
    }

    /// <summary>
    /// Looks for a plausible packet: a fixed header valid for the direction, a whole packet (at most 8 KiB) that
    /// decodes without rule violations, and the next fixed header plausible when its byte is there. Returns the bytes
    /// before it (or the bytes that can be discarded when not found).
    /// </summary>
    private int Scan(ReadOnlySpan<byte> rest, bool fromClient, out bool found)
    {
        found = false;
        int i = 0;
        while (rest.Length - i >= 2)
        {
            var c = rest[i..];
            if (!MqttFraming.IsPlausibleFirstByte(c[0], fromClient, _version))
            {
                i++;
                continue;
            }

            var status = MqttFraming.TryGetPacketLength(c, out int length, out int headerLength);
            if (status == MqttFrameStatus.NeedMoreData)
            {
                return i;
            }

            if (status == MqttFrameStatus.Invalid || !IsPlausiblePrefix(c, headerLength, length - headerLength))
            {
                i++;
                continue;
            }

            if (length > ResyncMaxCandidate)
            {
                // A large packet (a PUBLISH carrying a file): judge it by its topic, it will not be buffered whole.
                var big = LargePublishHead(c, headerLength, length);
                if (big == 0)
                {
                    return i;
                }

                if (big < 0)
                {
                    i++;
                    continue;
                }

                found = true;
                return i;
            }

            if (c.Length < length)
            {
                return i;
            }

            if (!DecodesCleanly(c[..length]))
            {
                i++;
                continue;
            }

            if (c.Length > length)
            {
                // Not at a segment boundary: the next packet must look right too.
                var next = c[length..];
                var ns = MqttFraming.TryGetPacketLength(next, out int nextLength, out int nextHeader);
                if (next.Length < 2 || ns == MqttFrameStatus.NeedMoreData)
                {
                    return i;
                }

                bool ok = ns == MqttFrameStatus.Complete && MqttFraming.IsPlausibleFirstByte(next[0], fromClient, _version)
                    && IsPlausiblePrefix(next, nextHeader, nextLength - nextHeader)
                    && (next.Length < nextLength || nextLength > ResyncMaxCandidate || DecodesCleanly(next[..nextLength]));
                if (!ok)
                {
                    i++;
                    continue;
                }
            }

            found = true;
            return i;
        }

        return i;
    }

    /// <summary>
    /// Cheap checks on the first bytes of a candidate packet (used before it is whole, so that the scan does not wait
    /// for a bogus length): fixed-size packets have their size, reason codes are defined, the protocol name of a
    /// CONNECT is right, a PUBLISH topic fits.
    /// </summary>
    private bool IsPlausiblePrefix(ReadOnlySpan<byte> c, int hl, int rl)
    {
        var type = MqttFraming.TypeOf(c[0]);
        bool maybe5 = _version is 0 or 5;
        bool only5 = _version == 5;
        var body = c[hl..];
        switch (type)
        {
            case MqttPacketType.PingReq or MqttPacketType.PingResp:
                return rl == 0;
            case MqttPacketType.PubAck or MqttPacketType.PubRec or MqttPacketType.PubRel or MqttPacketType.PubComp:
                if (rl == 2) return true;
                if (!maybe5 || rl > 512) return false;
                if (body.Length >= 3 && !MqttReasonCodes.IsDefined(type, body[2], 5)) return false;
                if (rl >= 4 && body.Length >= 4)
                {
                    var st = MqttFraming.TryReadVarInt(body[3..], out int pl, out int used);
                    if (st == MqttFrameStatus.Invalid || (st == MqttFrameStatus.Complete && 3 + used + pl != rl)) return false;
                }

                return true;
            case MqttPacketType.ConnAck:
                if (rl == 2 && !only5) return body.Length < 2 || (body[0] <= 1 && body[1] <= 5);
                if (!maybe5 || rl < 3 || rl > 4096) return false;
                return body.Length < 2 || (body[0] <= 1 && MqttReasonCodes.IsDefined(type, body[1], 5));
            case MqttPacketType.Disconnect:
                if (rl == 0) return true;
                return maybe5 && (body.Length < 1 || MqttReasonCodes.IsDefined(type, body[0], 5));
            case MqttPacketType.Connect:
                ReadOnlySpan<byte> mqtt = [0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T'];
                ReadOnlySpan<byte> isdp = [0, 6, (byte)'M', (byte)'Q', (byte)'I', (byte)'s', (byte)'d', (byte)'p'];
                int n = Math.Min(body.Length, 2);
                if (n == 2 && body[1] == 4) return mqtt.StartsWith(body[..Math.Min(body.Length, mqtt.Length)]);
                return isdp.StartsWith(body[..Math.Min(body.Length, isdp.Length)]) && rl >= 12;
            case MqttPacketType.Publish:
                return body.Length < 2 || ((body[0] << 8) | body[1]) + 2 <= rl;
            case MqttPacketType.Subscribe or MqttPacketType.Unsubscribe or MqttPacketType.SubAck or MqttPacketType.UnsubAck:
                return rl >= 2;
            default:
                return true;
        }
    }

    /// <summary>1 when a large PUBLISH starts with a clean topic, 0 when more bytes are needed, -1 when implausible.</summary>
    private static int LargePublishHead(ReadOnlySpan<byte> c, int headerLength, int length)
    {
        if (MqttFraming.TypeOf(c[0]) != MqttPacketType.Publish)
        {
            return -1;
        }

        var body = c[headerLength..];
        if (body.Length < 2)
        {
            return 0;
        }

        int topicLength = (body[0] << 8) | body[1];
        if (topicLength == 0 || topicLength + 2 > length - headerLength || topicLength > 4096)
        {
            return -1;
        }

        if (body.Length < 2 + topicLength)
        {
            return 0;
        }

        var topic = body.Slice(2, topicLength);
        return MqttReader.IsValidMqttUtf8(topic) && topic.IndexOfAny((byte)'+', (byte)'#') < 0 ? 1 : -1;
    }

    private bool DecodesCleanly(ReadOnlySpan<byte> packet)
    {
        ulong bits = 0;
        var type = MqttFraming.TypeOf(packet[0]);
        MqttReadStatus status;
        int v = DecodeVersion;
        switch (type)
        {
            case MqttPacketType.Connect:
                status = MqttReader.TryReadConnect(packet, out _, ref bits);
                break;
            case MqttPacketType.ConnAck:
                status = MqttReader.TryReadConnAck(packet, v, out _, ref bits);
                if (status != MqttReadStatus.Ok && _version == 0) status = MqttReader.TryReadConnAck(packet, 5, out _, ref bits);
                break;
            case MqttPacketType.Publish:
                status = MqttReader.TryReadPublish(packet, v, out _, ref bits);
                break;
            default:
                status = MqttReader.TryReadGeneric(packet, v, out _, ref bits);
                if (status != MqttReadStatus.Ok && _version == 0)
                {
                    bits = 0;
                    status = MqttReader.TryReadGeneric(packet, 5, out _, ref bits);
                }

                break;
        }

        return status == MqttReadStatus.Ok && (bits & ResyncRejects) == 0;
    }

    private static Span<byte> Scratch => t_scratch ??= new byte[ScratchSize];

    private void HandlePacket(FlowContext flow, Direction direction, ReadOnlySpan<byte> packet, int declaredLength, in PacketMeta meta)
    {
        var type = MqttFraming.TypeOf(packet[0]);
        bool fromClient = direction == Direction.ToServer;
        ulong bits = 0;
        if (declaredLength > 0)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.OversizePacket);
        }

        if (fromClient && type != MqttPacketType.Connect && !_connectSeen && flow.OrientationFromHandshake)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.PublishBeforeConnect);
        }

        bool wrong = type switch
        {
            MqttPacketType.Connect or MqttPacketType.Subscribe or MqttPacketType.Unsubscribe or MqttPacketType.PingReq => !fromClient,
            MqttPacketType.ConnAck or MqttPacketType.SubAck or MqttPacketType.UnsubAck or MqttPacketType.PingResp => fromClient,
            _ => false,
        };
        if (wrong)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.WrongDirection);
        }

        if (type == MqttPacketType.Connect)
        {
            HandleConnect(flow, direction, packet, declaredLength, bits, meta);
            return;
        }

        bits |= MqttReader.CheckFixedHeader(packet[0], _version);
        switch (type)
        {
            case MqttPacketType.ConnAck:
                HandleConnAck(flow, direction, packet, declaredLength, bits, meta);
                break;
            case MqttPacketType.Publish:
                HandlePublish(flow, direction, packet, declaredLength, bits, meta);
                break;
            case MqttPacketType.Reserved:
                EmitSingle(flow, direction, type, packet, bits, meta, isResponse: false);
                break;
            default:
                HandleGeneric(flow, direction, type, packet, declaredLength, bits, meta);
                break;
        }
    }

    // ---- CONNECT / CONNACK ----

    private void HandleConnect(FlowContext flow, Direction direction, ReadOnlySpan<byte> packet, int declaredLength, ulong bits, in PacketMeta meta)
    {
        if (_connectSeen)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.DoubleConnect);
        }

        _connectSeen = true;
        bits |= MqttReader.CheckFixedHeader(packet[0], 4);
        var w = new EventFieldWriter(Scratch[..RequestPart]);
        WriteCommon(ref w, MqttPacketType.Connect, direction);
        MqttConnect c = default;
        var status = declaredLength > 0 ? MqttReadStatus.Malformed : MqttReader.TryReadConnect(packet, out c, ref bits);
        if (status == MqttReadStatus.Ok)
        {
            _version = c.Version;
            w.WriteInt(MqttFields.Version, c.Version);
            w.WriteString(MqttFields.ProtocolName, c.ProtocolName);
            w.WriteInt(MqttFields.ProtocolLevel, c.ProtocolLevel);
            w.WriteInt(MqttFields.ConnectFlags, c.ConnectFlags);
            w.WriteString(MqttFields.ClientId, c.ClientId);
            if (c.UsernameFlag) w.WriteString(MqttFields.Username, c.Username);
            // Only the presence of a password is ever recorded.
            w.WriteBool(MqttFields.PasswordPresent, c.PasswordPresent);
            w.WriteInt(MqttFields.KeepAlive, c.KeepAlive);
            w.WriteBool(MqttFields.CleanSession, c.CleanSession);
            if (c.WillFlag)
            {
                w.BeginObject(MqttFields.Will);
                w.WriteString(MqttFields.Topic, c.WillTopic);
                w.WriteInt(MqttFields.Qos, c.WillQos);
                w.WriteBool(MqttFields.Retain, c.WillRetain);
                w.WriteInt(MqttFields.PayloadLen, c.WillPayloadLength);
                WriteProperties(ref w, MqttFields.Properties, c.WillProperties);
                w.EndObject();
            }

            WriteProperties(ref w, MqttFields.Properties, c.Properties);
        }
        else if (declaredLength > 0)
        {
            w.WriteBool(MqttFields.Oversize, true);
        }
        else
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.MalformedPacket);
            w.WriteBool(MqttFields.Malformed, true);
        }

        // One CONNECT awaits its CONNACK: an older one is reported unanswered.
        int old = FindPending(MqttPacketType.Connect, Direction.ToServer, 0);
        if (old >= 0)
        {
            EmitAndRemove(flow, old, 0);
        }

        AddPending(flow, MqttPacketType.Connect, direction, 0, 0, 0, bits, ref w, meta);
    }

    private void HandleConnAck(FlowContext flow, Direction direction, ReadOnlySpan<byte> packet, int declaredLength, ulong bits, in PacketMeta meta)
    {
        var status = MqttReadStatus.Malformed;
        MqttConnAck ack = default;
        if (declaredLength == 0)
        {
            ulong b2 = 0;
            status = MqttReader.TryReadConnAck(packet, DecodeVersion, out ack, ref b2);
            if (status != MqttReadStatus.Ok && _version == 0)
            {
                b2 = 0;
                status = MqttReader.TryReadConnAck(packet, 5, out ack, ref b2);
                if (status == MqttReadStatus.Ok) _version = 5;
            }

            bits |= b2;
        }

        if (status != MqttReadStatus.Ok)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.MalformedPacket);
        }

        int index = FindPending(MqttPacketType.Connect, Opposite(direction), 0);
        Span<byte> blob = Scratch;
        int len;
        if (index >= 0)
        {
            ref var p = ref _pending[index];
            AddPacket(ref p, MqttPacketType.ConnAck, meta);
            p.Anomalies |= bits;
            p.Blob.AsSpan(0, p.BlobLength).CopyTo(blob);
            len = p.BlobLength;
        }
        else
        {
            if (_connectSeen) bits |= MqttAnomalies.Bit(MqttAnomaly.UnexpectedResponse);
            var w0 = new EventFieldWriter(blob[..RequestPart]);
            WriteCommon(ref w0, MqttPacketType.ConnAck, direction);
            len = w0.Length;
        }

        var w = new EventFieldWriter(blob[len..]);
        w.WriteString(MqttFields.ResponseType, "connack"u8);
        if (status == MqttReadStatus.Ok)
        {
            w.WriteBool(MqttFields.SessionPresent, ack.SessionPresent);
            w.WriteInt(MqttFields.ReasonCode, ack.ReasonCode);
            WriteProperties(ref w, MqttFields.ResponseProperties, ack.Properties);
        }

        if (index >= 0)
        {
            ref var p = ref _pending[index];
            FinishAndEmit(flow, ref p, ref w, len);
            RemovePendingAt(index);
        }
        else
        {
            WritePackets(ref w, (ulong)MqttPacketType.ConnAck, 1);
            EmitBlob(flow, bits, 0, false, 0, 0, true, meta.TimestampNs, meta.PacketNumber, blob[..(len + w.Length)], w.Overflowed);
        }
    }

    // ---- PUBLISH ----

    private void HandlePublish(FlowContext flow, Direction direction, ReadOnlySpan<byte> packet, int declaredLength, ulong bits, in PacketMeta meta)
    {
        ulong b2 = 0;
        var status = MqttReader.TryReadPublish(packet, DecodeVersion, out var pub, ref b2, declaredLength);
        if (_version == 0)
        {
            // Guessing 3.1.1: a PUBLISH whose 5.0 reading is clean and carries properties shows MQTT 5.
            ulong b5 = 0;
            if (MqttReader.TryReadPublish(packet, 5, out var pub5, ref b5, declaredLength) == MqttReadStatus.Ok
                && (status != MqttReadStatus.Ok || (!pub5.Properties.IsEmpty && (b5 & ResyncRejects) == 0)))
            {
                _version = 5;
                pub = pub5;
                b2 = b5;
                status = MqttReadStatus.Ok;
            }
        }

        bits |= b2;
        var w = new EventFieldWriter(Scratch[..RequestPart]);
        WriteCommon(ref w, MqttPacketType.Publish, direction);
        if (status != MqttReadStatus.Ok)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.MalformedPacket);
            w.WriteBool(MqttFields.Malformed, true);
            int qosBits = (packet[0] >> 1) & 3;
            AddOrEmitPublish(flow, direction, 0, qosBits, bits, ref w, meta);
            return;
        }

        ReadOnlySpan<byte> topic = pub.Topic;
        if (_version == 5 && MqttProperties.TryGetInt(pub.Properties, MqttProperties.TopicAlias, out long alias))
        {
            w.WriteInt(MqttFields.TopicAlias, alias);
            topic = ResolveAlias(State(direction), (ushort)alias, topic, ref bits);
        }

        w.WriteString(MqttFields.Topic, topic);
        w.WriteInt(MqttFields.Qos, pub.Qos);
        w.WriteBool(MqttFields.Retain, pub.Retain);
        w.WriteBool(MqttFields.Dup, pub.Dup);
        if (pub.Qos > 0) w.WriteInt(MqttFields.PacketId, pub.PacketId);
        w.WriteInt(MqttFields.PayloadLen, pub.PayloadLength);
        var prefix = pub.Payload;
        if (prefix.Length > _options.PayloadPrefixBytes) prefix = prefix[.._options.PayloadPrefixBytes];
        w.WriteString(MqttFields.PayloadPrefix, prefix);
        if (declaredLength > 0) w.WriteBool(MqttFields.Oversize, true);
        WriteProperties(ref w, MqttFields.Properties, pub.Properties);
        AddOrEmitPublish(flow, direction, pub.PacketId, pub.Qos, bits, ref w, meta);
    }

    private void AddOrEmitPublish(FlowContext flow, Direction direction, ushort id, int qos, ulong bits, ref EventFieldWriter w, in PacketMeta meta)
    {
        if (qos is 1 or 2)
        {
            AddPending(flow, MqttPacketType.Publish, direction, id, qos, 0, bits, ref w, meta);
            return;
        }

        int len = w.Length;
        bool overflow = w.Overflowed;
        var tail = new EventFieldWriter(Scratch[len..]);
        WritePackets(ref tail, (ulong)MqttPacketType.Publish, 1);
        EmitBlob(flow, bits, id, true, meta.TimestampNs, meta.PacketNumber, false, 0, 0, Scratch[..(len + tail.Length)], overflow || tail.Overflowed);
    }

    private ReadOnlySpan<byte> ResolveAlias(DirectionState st, ushort alias, ReadOnlySpan<byte> topic, scoped ref ulong bits)
    {
        if (alias == 0)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.UnknownTopicAlias);
            return topic;
        }

        if (!topic.IsEmpty)
        {
            st.Aliases ??= [];
            if (st.Aliases.TryGetValue(alias, out var existing))
            {
                if (!topic.SequenceEqual(existing)) st.Aliases[alias] = topic.ToArray();
            }
            else if (st.Aliases.Count < _options.MaxTopicAliases)
            {
                st.Aliases[alias] = topic.ToArray();
            }

            return topic;
        }

        if (st.Aliases is not null && st.Aliases.TryGetValue(alias, out var resolved))
        {
            // The empty topic made the reader flag nothing: the alias resolves it.
            return resolved;
        }

        if (_connectSeen)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.UnknownTopicAlias);
        }

        return topic;
    }

    // ---- Everything else ----

    private void HandleGeneric(FlowContext flow, Direction direction, MqttPacketType type, ReadOnlySpan<byte> packet, int declaredLength, ulong bits, in PacketMeta meta)
    {
        MqttGeneric g = default;
        var status = MqttReadStatus.Malformed;
        if (declaredLength == 0)
        {
            ulong b2 = 0;
            status = MqttReader.TryReadGeneric(packet, DecodeVersion, out g, ref b2);
            if (status != MqttReadStatus.Ok && _version == 0)
            {
                b2 = 0;
                status = MqttReader.TryReadGeneric(packet, 5, out g, ref b2);
                if (status == MqttReadStatus.Ok) _version = 5;
            }

            bits |= b2;
        }

        if (status != MqttReadStatus.Ok)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.MalformedPacket);
            EmitSingle(flow, direction, type, packet, bits, meta, isResponse: type is not (MqttPacketType.Subscribe or MqttPacketType.Unsubscribe or MqttPacketType.PingReq or MqttPacketType.Disconnect or MqttPacketType.Auth));
            return;
        }

        switch (type)
        {
            case MqttPacketType.Subscribe or MqttPacketType.Unsubscribe:
                HandleSubscribe(flow, direction, type, g, bits, meta);
                break;
            case MqttPacketType.SubAck or MqttPacketType.UnsubAck:
                HandleSubAck(flow, direction, type, g, bits, meta);
                break;
            case MqttPacketType.PingReq:
            {
                var w = new EventFieldWriter(Scratch[..RequestPart]);
                WriteCommon(ref w, type, direction);
                AddPending(flow, type, direction, 0, 0, 0, bits, ref w, meta);
                break;
            }

            case MqttPacketType.PingResp:
                Respond(flow, direction, MqttPacketType.PingReq, Opposite(direction), 0, type, bits, g, meta);
                break;
            case MqttPacketType.PubAck or MqttPacketType.PubRec or MqttPacketType.PubComp:
                HandlePublishAck(flow, direction, type, g, bits, meta);
                break;
            case MqttPacketType.PubRel:
                HandlePubRel(flow, direction, g, bits, meta);
                break;
            default:
            {
                // DISCONNECT and AUTH: one event each.
                var w = new EventFieldWriter(Scratch[..RequestPart]);
                WriteCommon(ref w, type, direction);
                if (_version == 5) w.WriteInt(MqttFields.ReasonCode, g.ReasonCode);
                WriteProperties(ref w, MqttFields.Properties, g.Properties);
                WritePackets(ref w, (ulong)type, 1);
                EmitBlob(flow, bits, 0, true, meta.TimestampNs, meta.PacketNumber, false, 0, 0, Scratch[..w.Length], w.Overflowed);
                break;
            }
        }
    }

    private void HandleSubscribe(FlowContext flow, Direction direction, MqttPacketType type, MqttGeneric g, ulong bits, in PacketMeta meta)
    {
        var w = new EventFieldWriter(Scratch[..RequestPart]);
        WriteCommon(ref w, type, direction);
        w.WriteInt(MqttFields.PacketId, g.PacketId);
        int count = 0;
        int pos = 0;
        bool sub = type == MqttPacketType.Subscribe;
        w.BeginArray(MqttFields.Topics);
        ulong ignored = 0;
        while (pos < g.Payload.Length
            && MqttReader.TryReadTopicFilter(g.Payload[pos..], sub, DecodeVersion, out var f, out int used, ref ignored) == MqttReadStatus.Ok)
        {
            pos += used;
            if (count++ >= MaxListedFilters) continue;
            w.BeginObject();
            w.WriteString(MqttFields.Filter, f.Filter);
            if (sub)
            {
                w.WriteInt(MqttFields.Qos, f.Qos);
                if (_version == 5)
                {
                    w.WriteBool(MqttFields.NoLocal, f.NoLocal);
                    w.WriteBool(MqttFields.RetainAsPublished, f.RetainAsPublished);
                    w.WriteInt(MqttFields.RetainHandling, f.RetainHandling);
                }
            }

            w.EndObject();
        }

        w.EndArray();
        w.WriteInt(MqttFields.TopicCount, count);
        WriteProperties(ref w, MqttFields.Properties, g.Properties);
        AddPending(flow, type, direction, g.PacketId, 0, count, bits, ref w, meta);
    }

    private void HandleSubAck(FlowContext flow, Direction direction, MqttPacketType type, MqttGeneric g, ulong bits, in PacketMeta meta)
    {
        var requestType = type == MqttPacketType.SubAck ? MqttPacketType.Subscribe : MqttPacketType.Unsubscribe;
        Respond(flow, direction, requestType, Opposite(direction), g.PacketId, type, bits, g, meta);
    }

    private void HandlePublishAck(FlowContext flow, Direction direction, MqttPacketType type, MqttGeneric g, ulong bits, in PacketMeta meta)
    {
        var initDir = Opposite(direction);
        int index = FindPending(MqttPacketType.Publish, initDir, g.PacketId);
        if (index >= 0)
        {
            ref var p = ref _pending[index];
            bool fits = type switch
            {
                MqttPacketType.PubAck => p.Qos == 1,
                MqttPacketType.PubRec => p.Qos == 2 && p.Stage == 0,
                _ => p.Qos == 2 && p.Stage == 2,
            };
            if (fits)
            {
                p.Anomalies |= bits;
                AddPacket(ref p, type, meta);
                if (_version == 5 && (!p.HasReason || g.ReasonCode >= 0x80))
                {
                    p.ReasonCode = g.ReasonCode;
                    p.HasReason = true;
                }

                if (type == MqttPacketType.PubRec && g.ReasonCode < 0x80)
                {
                    p.Stage = 1;
                    return;
                }

                EmitAndRemove(flow, index, 0);
                return;
            }
        }

        EmitUnexpected(flow, direction, type, g, bits, meta);
    }

    private void HandlePubRel(FlowContext flow, Direction direction, MqttGeneric g, ulong bits, in PacketMeta meta)
    {
        int index = FindPending(MqttPacketType.Publish, direction, g.PacketId);
        if (index >= 0 && _pending[index].Qos == 2 && _pending[index].Stage is 1 or 2)
        {
            ref var p = ref _pending[index];
            p.Anomalies |= bits;
            p.Stage = 2;
            AddPacket(ref p, MqttPacketType.PubRel, meta);
            return;
        }

        EmitUnexpected(flow, direction, MqttPacketType.PubRel, g, bits, meta);
    }

    /// <summary>Completes the pending request of <paramref name="requestType"/> with a response, or reports it unexpected.</summary>
    private void Respond(FlowContext flow, Direction direction, MqttPacketType requestType, Direction initDir, ushort id, MqttPacketType type, ulong bits, MqttGeneric g, in PacketMeta meta)
    {
        int index = FindPending(requestType, initDir, id);
        if (index < 0)
        {
            EmitUnexpected(flow, direction, type, g, bits, meta);
            return;
        }

        ref var p = ref _pending[index];
        p.Anomalies |= bits;
        AddPacket(ref p, type, meta);
        if (type is MqttPacketType.SubAck or MqttPacketType.UnsubAck && (g.Payload.Length != p.FilterCount) && (type == MqttPacketType.SubAck || _version == 5))
        {
            p.Anomalies |= MqttAnomalies.Bit(MqttAnomaly.AckCountMismatch);
        }

        var blob = Scratch;
        p.Blob.AsSpan(0, p.BlobLength).CopyTo(blob);
        int len = p.BlobLength;
        var w = new EventFieldWriter(blob[len..]);
        WriteResponseFields(ref w, type, g);
        FinishAndEmit(flow, ref p, ref w, len);
        RemovePendingAt(index);
    }

    private void WriteResponseFields(ref EventFieldWriter w, MqttPacketType type, MqttGeneric g)
    {
        w.WriteString(MqttFields.ResponseType, MqttFields.PacketTypeNameUtf8(type));
        if (type == MqttPacketType.SubAck)
        {
            w.BeginArray(MqttFields.GrantedQos);
            int n = 0;
            foreach (byte code in g.Payload)
            {
                if (n++ >= MaxListedFilters) break;
                w.WriteInt(MqttFields.GrantedQos, code);
            }

            w.EndArray();
        }
        else if (type == MqttPacketType.UnsubAck && _version == 5)
        {
            w.BeginArray(MqttFields.ReasonCodes);
            int n = 0;
            foreach (byte code in g.Payload)
            {
                if (n++ >= MaxListedFilters) break;
                w.WriteInt(MqttFields.ReasonCodes, code);
            }

            w.EndArray();
        }

        WriteProperties(ref w, MqttFields.ResponseProperties, g.Properties);
    }

    private void EmitUnexpected(FlowContext flow, Direction direction, MqttPacketType type, MqttGeneric g, ulong bits, in PacketMeta meta)
    {
        if (_connectSeen)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.UnexpectedResponse);
        }

        var w = new EventFieldWriter(Scratch[..RequestPart]);
        WriteCommon(ref w, type, direction);
        w.WriteInt(MqttFields.PacketId, g.PacketId);
        if (_version == 5 && type is not (MqttPacketType.SubAck or MqttPacketType.UnsubAck or MqttPacketType.PingResp))
        {
            w.WriteInt(MqttFields.ReasonCode, g.ReasonCode);
        }

        WriteResponseFields(ref w, type, g);
        WritePackets(ref w, (ulong)type, 1);
        EmitBlob(flow, bits, g.PacketId, false, 0, 0, true, meta.TimestampNs, meta.PacketNumber, Scratch[..w.Length], w.Overflowed);
    }

    /// <summary>A packet that starts no exchange and completes none (reserved type, malformed packet).</summary>
    private void EmitSingle(FlowContext flow, Direction direction, MqttPacketType type, ReadOnlySpan<byte> packet, ulong bits, in PacketMeta meta, bool isResponse)
    {
        var w = new EventFieldWriter(Scratch[..RequestPart]);
        WriteCommon(ref w, type, direction);
        if (MqttAnomalies.Has(bits, MqttAnomaly.MalformedPacket)) w.WriteBool(MqttFields.Malformed, true);
        WritePackets(ref w, (ulong)type, 1);
        long ts = meta.TimestampNs, pk = meta.PacketNumber;
        EmitBlob(flow, bits, 0, !isResponse, isResponse ? 0 : ts, isResponse ? 0 : pk, isResponse, isResponse ? ts : 0, isResponse ? pk : 0, Scratch[..w.Length], w.Overflowed);
    }

    // ---- Pending table ----

    private int FindPending(MqttPacketType kind, Direction initDir, ushort id)
    {
        for (int i = 0; i < _pendingCount; i++)
        {
            ref var p = ref _pending[i];
            if (p.Kind == kind && p.InitDir == initDir && p.PacketId == id)
            {
                return i;
            }
        }

        return -1;
    }

    private void AddPending(FlowContext flow, MqttPacketType kind, Direction direction, ushort id, int qos, int filterCount, ulong bits, ref EventFieldWriter w, in PacketMeta meta)
    {
        if (kind != MqttPacketType.PingReq && kind != MqttPacketType.Connect)
        {
            int dup = FindPending(kind, direction, id);
            if (dup >= 0)
            {
                EmitAndRemove(flow, dup, MqttAnomalies.Bit(MqttAnomaly.DuplicatePacketId));
            }
        }

        int max = Math.Max(1, _options.MaxPending);
        if (_pendingCount >= max)
        {
            EmitAndRemove(flow, 0, MqttAnomalies.Bit(MqttAnomaly.PendingOverflow));
        }

        if (_pendingCount == _pending.Length)
        {
            Array.Resize(ref _pending, Math.Min(max, Math.Max(4, _pending.Length * 2)));
        }

        ReadOnlySpan<byte> written = w.Overflowed ? Minimal(kind, direction, id) : w.Written;
        var slot = ThreadBufferCache.Rent(Math.Max(16, written.Length));
        written.CopyTo(slot);
        _pending[_pendingCount++] = new Pending
        {
            Kind = kind,
            InitDir = direction,
            PacketId = id,
            Qos = qos,
            Ts = meta.TimestampNs,
            Packet = meta.PacketNumber,
            Anomalies = bits,
            FilterCount = filterCount,
            PacketTypes = (ulong)kind,
            PacketCount = 1,
            Blob = slot,
            BlobLength = written.Length,
        };
    }

    /// <summary>A blob with only the key fields, used when the full one did not fit the scratch buffer.</summary>
    private ReadOnlySpan<byte> Minimal(MqttPacketType kind, Direction direction, ushort id)
    {
        var w = new EventFieldWriter(Scratch[..256]);
        WriteCommon(ref w, kind, direction);
        w.WriteInt(MqttFields.PacketId, id);
        w.WriteBool(MqttFields.FieldsTruncated, true);
        return Scratch[..w.Length];
    }

    private static void AddPacket(ref Pending p, MqttPacketType type, in PacketMeta meta)
    {
        if (p.PacketCount < 16)
        {
            p.PacketTypes |= (ulong)type << (4 * p.PacketCount);
            p.PacketCount++;
        }

        p.HasResponse = true;
        p.RespTs = meta.TimestampNs;
        p.RespPacket = meta.PacketNumber;
    }

    private void RemovePendingAt(int index)
    {
        ThreadBufferCache.Return(_pending[index].Blob);
        _pendingCount--;
        if (index < _pendingCount)
        {
            Array.Copy(_pending, index + 1, _pending, index, _pendingCount - index);
        }

        _pending[_pendingCount] = default;
    }

    private void EmitAndRemove(FlowContext flow, int index, ulong extra)
    {
        EmitPending(flow, ref _pending[index], extra);
        RemovePendingAt(index);
    }

    /// <summary>Emits a pending exchange as it stands (unanswered, or folded with the acknowledgements seen).</summary>
    private void EmitPending(FlowContext flow, ref Pending p, ulong extra)
    {
        p.Anomalies |= extra;
        var blob = Scratch;
        p.Blob.AsSpan(0, p.BlobLength).CopyTo(blob);
        int len = p.BlobLength;
        var w = new EventFieldWriter(blob[len..]);
        if (p.HasResponse)
        {
            w.WriteString(MqttFields.ResponseType, MqttFields.PacketTypeNameUtf8((MqttPacketType)((p.PacketTypes >> (4 * (p.PacketCount - 1))) & 0xF)));
        }

        FinishAndEmit(flow, ref p, ref w, len);
    }

    private void FinishAndEmit(FlowContext flow, ref Pending p, ref EventFieldWriter w, int requestLength)
    {
        if (p.Kind == MqttPacketType.Publish && p.HasReason && _version == 5)
        {
            w.WriteInt(MqttFields.ReasonCode, p.ReasonCode);
        }

        WritePackets(ref w, p.PacketTypes, p.PacketCount);
        var blob = Scratch[..(requestLength + w.Length)];
        EmitBlob(flow, p.Anomalies, p.PacketId, true, p.Ts, p.Packet, p.HasResponse, p.RespTs, p.RespPacket, blob, w.Overflowed);
    }

    private void EmitBlob(FlowContext flow, ulong anomalies, ushort key, bool hasRequest, long reqTs, long reqPacket, bool hasResponse, long respTs, long respPacket, ReadOnlySpan<byte> blob, bool overflowed)
    {
        var record = new TransactionRecord
        {
            Protocol = ProtocolId.Mqtt,
            HasRequest = hasRequest,
            HasResponse = hasResponse,
            RequestTs = reqTs,
            RequestPacket = reqPacket,
            ResponseTs = respTs,
            ResponsePacket = respPacket,
            Key = key,
            Anomalies = anomalies,
            FieldsEncoded = true,
            RequestTruncated = overflowed,
        };
        _sink.Transaction(flow, record, blob, default);
    }

    // ---- Field helpers ----

    /// <summary>type, direction and (except for CONNECT, which writes the version it declares) the version in use.</summary>
    private void WriteCommon(ref EventFieldWriter w, MqttPacketType type, Direction direction)
    {
        w.WriteString(MqttFields.Type, MqttFields.PacketTypeNameUtf8(type));
        w.WriteString(MqttFields.Direction, direction == Direction.ToServer ? "to_server"u8 : "to_client"u8);
        if (type != MqttPacketType.Connect)
        {
            w.WriteInt(MqttFields.Version, DecodeVersion);
        }
    }

    private static void WritePackets(ref EventFieldWriter w, ulong packed, int count)
    {
        w.BeginArray(MqttFields.Packets);
        for (int i = 0; i < count; i++)
        {
            w.WriteInt(MqttFields.Packets, (long)((packed >> (4 * i)) & 0xF));
        }

        w.EndArray();
    }

    /// <summary>Writes a v5 property block as an object (property name → value; user properties as a list of {key, value}).</summary>
    private static void WriteProperties(ref EventFieldWriter w, byte field, ReadOnlySpan<byte> block)
    {
        if (block.IsEmpty)
        {
            return;
        }

        w.BeginObject(field);
        ulong seen = 0;
        int users = 0;
        var r = new MqttPropertyReader(block);
        while (r.TryRead(out var p))
        {
            if (p.Id == MqttProperties.UserProperty)
            {
                users++;
                continue;
            }

            ulong bit = 1UL << p.Id;
            if ((seen & bit) != 0) continue;
            seen |= bit;
            byte id = (byte)(MqttFields.PropertyBase + p.Id);
            switch (p.Type)
            {
                case MqttPropertyType.Utf8String:
                    w.WriteString(id, p.Value.Length > MaxStringProperty ? p.Value[..MaxStringProperty] : p.Value);
                    break;
                case MqttPropertyType.BinaryData:
                    if (p.Id == MqttProperties.AuthenticationData) w.WriteInt(MqttFields.AuthenticationDataLen, p.Value.Length);
                    else w.WriteBytes(id, p.Value.Length > MaxStringProperty ? p.Value[..MaxStringProperty] : p.Value);
                    break;
                default:
                    w.WriteInt(id, p.IntValue);
                    break;
            }
        }

        if (users > 0)
        {
            w.BeginArray(MqttFields.PropertyBase + MqttProperties.UserProperty);
            var u = new MqttPropertyReader(block);
            int n = 0;
            while (u.TryRead(out var p) && n < MaxUserProperties)
            {
                if (p.Id != MqttProperties.UserProperty) continue;
                n++;
                w.BeginObject();
                w.WriteString(MqttFields.Key, p.Value.Length > MaxStringProperty ? p.Value[..MaxStringProperty] : p.Value);
                w.WriteString(MqttFields.Value, p.Value2.Length > MaxStringProperty ? p.Value2[..MaxStringProperty] : p.Value2);
                w.EndObject();
            }

            w.EndArray();
        }

        w.EndObject();
    }

    private void Report(FlowContext flow, Direction direction, MqttAnomaly anomaly, long detail, in PacketMeta meta)
    {
        var record = new AnomalyRecord
        {
            Protocol = ProtocolId.Mqtt,
            AnomalyId = (int)anomaly,
            Direction = direction,
            Ts = meta.TimestampNs,
            PacketNumber = meta.PacketNumber,
            Detail = detail,
        };
        _sink.Anomaly(flow, record);
    }
}
