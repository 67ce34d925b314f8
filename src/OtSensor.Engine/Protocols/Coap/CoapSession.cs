using OtSensor.Core;
using OtSensor.Flows;

namespace OtSensor.Protocols.Coap;

/// <summary>Bounds and timeouts of a <see cref="CoapSession"/>.</summary>
public sealed class CoapOptions
{
    /// <summary>Payload bytes copied into events (payload_prefix); 0 disables.</summary>
    public int PayloadPrefixBytes { get; set; } = 64;

    /// <summary>Open exchanges per flow; beyond it the oldest is reported unanswered.</summary>
    public int MaxPending { get; set; } = 256;

    /// <summary>EXCHANGE_LIFETIME (RFC 7252 §4.8.2): open exchanges and duplicate detection expire after it.</summary>
    public long ExchangeLifetimeNs { get; set; } = 247L * 1_000_000_000L;

    /// <summary>A block-wise transfer larger than this is flagged and no longer followed.</summary>
    public long MaxBlockTransferBytes { get; set; } = 1 << 20;

    /// <summary>Observe relations followed per flow.</summary>
    public int MaxObserveRelations { get; set; } = 64;

    /// <summary>Link-format bytes reassembled from a block-wise transfer (beyond: parsed as far as kept).</summary>
    public int MaxLinkFormatBytes { get; set; } = 64 * 1024;

    /// <summary>Resources written into one event.</summary>
    public int MaxResourcesPerEvent { get; set; } = 128;

    /// <summary>Block-wise transfers followed at once per flow (oldest evicted).</summary>
    public int MaxTransfers { get; set; } = 16;
}

/// <summary>
/// Per-flow CoAP over UDP dissector (RFC 7252, 7641, 7959, 6690): message-layer matching (CON ↔ ACK/RST by message
/// id, either direction), request/response matching by token (piggybacked or separate), duplicate detection,
/// Observe relations and notifications, block-wise transfer totals, link-format resource discovery. Every exchange
/// becomes one <see cref="IEventSink.Transaction"/> call with a field blob (<see cref="CoapFields"/>).
/// Not thread-safe: a flow belongs to one worker.
/// </summary>
public sealed class CoapSession : IFlowDissector
{
    private const int BlobCapacity = 4096;
    private const int MaxBlobCapacity = 32 * 1024;
    private const int BlobReserve = 256;
    private const int RecentCapacity = 64;
    private const int MaxRelationPath = 256;

    private readonly IEventSink _sink;
    private readonly CoapOptions _options;
    private readonly List<Exchange> _open = [];
    /// <summary>One finished exchange kept for the next (most flows have one exchange open at a time).</summary>
    private Exchange? _spare;
    private readonly List<Relation> _relations = [];
    private readonly List<Transfer> _transfers = [];
    /// <summary>
    /// The last <see cref="RecentCapacity"/> messages (a ring once full). It starts small and grows: most CoAP flows are
    /// one exchange from an ephemeral port, and a full ring per flow was most of what a busy capture allocated.
    /// </summary>
    private Recent[] _recent = [];
    private int _recentCount;
    private int _recentNext;

    public CoapSession(IEventSink sink, CoapOptions options)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(options);
        _sink = sink;
        _options = options;
    }

    /// <summary>Exchanges waiting for a response (or for the ACK of a confirmable response).</summary>
    public int PendingCount => _open.Count;

    /// <summary>Observe relations currently followed.</summary>
    public int ObserveRelationCount => _relations.Count;

    /// <summary>Block-wise transfers in progress.</summary>
    public int TransferCount => _transfers.Count;

    /// <summary>Duplicate messages (retransmissions) recognised after their exchange was reported.</summary>
    public long Duplicates { get; private set; }

    /// <summary>Datagrams that were not CoAP (bad header).</summary>
    public long InvalidDatagrams { get; private set; }

    private sealed class Exchange
    {
        public byte[] Blob = [];
        public int Length;
        public Direction RequestDir;
        public CoapMessageType Type;
        public ushort Mid;
        public ulong Token;
        public byte TokenLength;
        public bool HasRequest;
        public bool HasResponse;
        public bool AwaitingAck;
        public bool Acked;
        public bool IsPing;
        public bool Registers;
        public bool TransferWritten;
        public ushort ResponseMid;
        public Direction ResponseDir;
        public long RequestTs;
        public long RequestPacket;
        public long ResponseTs;
        public long ResponsePacket;
        public ulong Anomalies;
        public int Retransmissions;
        public int ResponseRetransmissions;
        public uint ResourceHash;
        public Relation? Notifies;
        /// <summary>SZX of the request's Block1 / Block2 option, or 255.</summary>
        public byte RequestBlock1Szx;
        public byte RequestBlock2Szx;
    }

    private sealed class Relation
    {
        public Direction ClientDir;
        public ulong Token;
        public byte TokenLength;
        public readonly byte[] Path = new byte[MaxRelationPath];
        public int PathLength;
        public uint ResourceHash;
        public long Notifications;
    }

    private sealed class Transfer
    {
        public bool Block1;
        public Direction RequestDir;
        public uint Hash;
        public long Expected;
        public long Total;
        public int Blocks;
        public bool FromStart;
        public bool OutOfOrder;
        public bool LinkFormat;
        public byte[]? Link;
        public int LinkLength;
        public long LastTs;
    }

    private struct Recent
    {
        public long Ts;
        public ulong Token;
        public ushort Mid;
        public Direction Dir;
        public CoapMessageType Type;
        public bool Valid;
        public bool Notification;
    }

    private static Direction Opposite(Direction d) => d == Direction.ToServer ? Direction.ToClient : Direction.ToServer;

    private static ulong PackToken(ReadOnlySpan<byte> token)
    {
        ulong v = 0;
        foreach (byte b in token)
        {
            v = (v << 8) | b;
        }

        return v;
    }

    public void OnStreamData(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta)
    {
        // CoAP over TCP (RFC 8323) is not dissected.
    }

    public void OnStreamGap(FlowContext flow, Direction direction, long missingBytes, in PacketMeta meta)
    {
    }

    public void OnDatagram(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta)
    {
        flow.Protocol = ProtocolId.Coap;
        var status = CoapReader.TryRead(data, out var m, out var error);
        if (status == CoapReadStatus.Invalid)
        {
            InvalidDatagrams++;
            // A datagram with a whole 4-byte header is still a wire message of its type and code (tshark and the
            // peers count it): mark the record so the report can count it.
            long detail = error == CoapAnomaly.TruncatedMessage ? (long)error : CoapAnomalies.DuplicateDetail(m.Header) | CoapAnomalies.CountedMessageFlag;
            Report(flow, direction, CoapAnomaly.Malformed, detail, meta);
            Report(flow, direction, error, error == CoapAnomaly.InvalidVersion ? m.Header.Version : m.Header.TokenLength, meta);
            return;
        }

        ulong bits = CoapValidation.Check(m, out var s);
        var h = m.Header;
        if (h.IsEmpty)
        {
            HandleEmpty(flow, direction, m, bits, meta);
        }
        else if (h.IsRequest)
        {
            HandleRequest(flow, direction, m, bits, s, meta);
        }
        else
        {
            HandleResponse(flow, direction, m, bits, s, meta);
        }
    }

    /// <summary>
    /// After <see cref="OnClose"/>: back to the state of a new session for another flow, keeping the capacity of its
    /// lists and ring (and the spare exchange object).
    /// </summary>
    internal void ResetForReuse()
    {
        foreach (var t in _transfers) ReleaseTransfer(t);
        _transfers.Clear();
        foreach (var ex in _open) ReleaseBlob(ex);
        _open.Clear();
        _relations.Clear();
        if (_spare is not null) ReleaseBlob(_spare);
        Array.Clear(_recent);
        _recentCount = 0;
        _recentNext = 0;
        Duplicates = 0;
        InvalidDatagrams = 0;
    }

    private static void ReleaseBlob(Exchange ex)
    {
        if (ex.Blob.Length > 0)
        {
            ThreadBufferCache.Return(ex.Blob);
            ex.Blob = [];
        }

        ex.Notifies = null;
    }

    public void OnTick(FlowContext flow, long nowNs)
    {
        long life = _options.ExchangeLifetimeNs;
        for (int i = 0; i < _open.Count; i++)
        {
            var ex = _open[i];
            long ts = ex.HasResponse ? ex.ResponseTs : ex.RequestTs;
            if (nowNs - ts > life)
            {
                _open.RemoveAt(i--);
                Emit(flow, ex);
            }
        }

        for (int i = 0; i < _transfers.Count; i++)
        {
            if (nowNs - _transfers[i].LastTs > life)
            {
                ReleaseTransfer(_transfers[i]);
                _transfers.RemoveAt(i--);
            }
        }
    }

    public void OnClose(FlowContext flow, FlowCloseReason reason, long nowNs)
    {
        foreach (var ex in _open)
        {
            Emit(flow, ex);
        }

        _open.Clear();
        foreach (var t in _transfers)
        {
            ReleaseTransfer(t);
        }

        _transfers.Clear();
        _relations.Clear();
        if (_spare is not null) ReleaseBlob(_spare);
        Array.Clear(_recent);
    }

    private void HandleEmpty(FlowContext flow, Direction dir, scoped in CoapMessage m, ulong bits, in PacketMeta meta)
    {
        var h = m.Header;
        if (h.Type == CoapMessageType.Confirmable)
        {
            // CoAP ping: answered by RST (or ACK).
            var open = FindByMid(dir, h.MessageId, requestOpen: true);
            if (open is not null)
            {
                open.Retransmissions++;
                return;
            }

            if (IsRecent(dir, h.Type, h.MessageId, meta.TimestampNs, out _))
            {
                Duplicate(flow, dir, h, meta);
                return;
            }

            var ex = StartRequest(flow, dir, m, bits, default, meta);
            ex.IsPing = true;
            Remember(dir, h, 0, false, meta);
            return;
        }

        if (h.Type == CoapMessageType.NonConfirmable)
        {
            var bad = StartRequest(flow, dir, m, bits, default, meta);
            _open.Remove(bad);
            Emit(flow, bad);
            return;
        }

        // ACK or RST from dir: answers a CON sent by the peer.
        var peer = Opposite(dir);
        var name = CoapReader.TypeName(h.Type);
        for (int i = 0; i < _open.Count; i++)
        {
            var ex = _open[i];
            if (ex.AwaitingAck && ex.ResponseDir == peer && ex.ResponseMid == h.MessageId)
            {
                AppendString(ex, CoapFields.ResponseAck, name);
                ex.Anomalies |= bits;
                if (h.Type == CoapMessageType.Reset && ex.Notifies is not null)
                {
                    _relations.Remove(ex.Notifies);
                }

                _open.RemoveAt(i);
                Emit(flow, ex);
                Remember(dir, h, 0, false, meta);
                return;
            }
        }

        var req = FindByMid(peer, h.MessageId, requestOpen: true);
        if (req is not null && req.Type == CoapMessageType.Confirmable)
        {
            if (req.IsPing || h.Type == CoapMessageType.Reset)
            {
                _open.Remove(req);
                Complete(req, dir, m, bits, default, meta, separate: false);
                Emit(flow, req);
            }
            else if (!req.Acked)
            {
                req.Acked = true;
                req.Anomalies |= bits;
                AppendString(req, CoapFields.RequestAck, name);
            }
            else
            {
                Duplicate(flow, dir, h, meta);
            }

            Remember(dir, h, 0, false, meta);
            return;
        }

        if (IsRecent(dir, h.Type, h.MessageId, meta.TimestampNs, out _))
        {
            Duplicate(flow, dir, h, meta);
            return;
        }

        bool notification = false;
        Relation? rel = null;
        if (h.Type == CoapMessageType.Reset && IsRecent(peer, CoapMessageType.NonConfirmable, h.MessageId, meta.TimestampNs, out var sent))
        {
            // RST to a NON message: the receiver rejects it (for a notification: deregistration).
            notification = sent.Notification;
            rel = notification ? FindRelation(peer, sent.Token) : null;
            if (rel is not null)
            {
                _relations.Remove(rel);
            }
        }
        else
        {
            bits |= CoapAnomalies.Bit(h.Type == CoapMessageType.Reset ? CoapAnomaly.RstUnsolicited : CoapAnomaly.UnsolicitedResponse);
        }

        var alone = StartResponseOnly(dir, m, bits, meta, rel);
        if (notification)
        {
            AppendBool(alone, CoapFields.Notification, true);
        }

        Remember(dir, h, 0, false, meta);
        Emit(flow, alone);
    }

    private void HandleRequest(FlowContext flow, Direction dir, scoped in CoapMessage m, ulong bits, in CoapSummary s, in PacketMeta meta)
    {
        var h = m.Header;
        ulong token = PackToken(m.Token);
        if (h.Type is CoapMessageType.Acknowledgement or CoapMessageType.Reset)
        {
            var bad = StartRequest(flow, dir, m, bits, s, meta);
            _open.Remove(bad);
            Emit(flow, bad);
            return;
        }

        var open = FindByMid(dir, h.MessageId, requestOpen: false);
        if (open is not null && open.HasRequest && !open.HasResponse && open.Type == h.Type)
        {
            open.Retransmissions++;
            return;
        }

        if (IsRecent(dir, h.Type, h.MessageId, meta.TimestampNs, out _))
        {
            Duplicate(flow, dir, h, meta);
            return;
        }

        for (int i = 0; i < _open.Count; i++)
        {
            var o = _open[i];
            if (o.HasRequest && !o.HasResponse && !o.IsPing && o.RequestDir == dir && o.Token == token && o.TokenLength == h.TokenLength)
            {
                _open.RemoveAt(i);
                o.Anomalies |= CoapAnomalies.Bit(CoapAnomaly.DuplicateToken);
                Emit(flow, o);
                break;
            }
        }

        var ex = StartRequest(flow, dir, m, bits, s, meta);
        if (s.HasObserve && h.Code is 1 or 5)
        {
            var rel = FindRelation(Opposite(dir), token, h.TokenLength);
            if (s.Observe == 0)
            {
                if (rel is null)
                {
                    if (_relations.Count < Math.Max(0, _options.MaxObserveRelations))
                    {
                        rel = new Relation { ClientDir = dir, Token = token, TokenLength = h.TokenLength, ResourceHash = s.ResourceHash };
                        rel.PathLength = CopyPath(m, rel.Path);
                        _relations.Add(rel);
                    }
                    else
                    {
                        ex.Anomalies |= CoapAnomalies.Bit(CoapAnomaly.ObserveLimitExceeded);
                    }
                }

                ex.Registers = rel is not null;
            }
            else if (s.Observe == 1 && rel is not null)
            {
                _relations.Remove(rel);
            }
        }

        if (s.HasBlock1 && !s.Block1.IsReservedSize && (s.Block1.More || s.Block1.Number > 0))
        {
            var t = UpdateTransfer(true, dir, s.ResourceHash, s.Block1, m.Payload, false, ref ex.Anomalies, meta, out bool final);
            if (t is not null && final)
            {
                WriteTransfer(ex, t, 1);
                RemoveTransfer(t);
            }
        }

        Remember(dir, h, token, false, meta);
    }

    private void HandleResponse(FlowContext flow, Direction dir, scoped in CoapMessage m, ulong bits, in CoapSummary s, in PacketMeta meta)
    {
        var h = m.Header;
        var peer = Opposite(dir);
        ulong token = PackToken(m.Token);
        if (h.Type == CoapMessageType.Acknowledgement)
        {
            var req = FindByMid(peer, h.MessageId, requestOpen: true);
            if (req is not null && req.Type == CoapMessageType.Confirmable && !req.IsPing)
            {
                if (req.Token != token || req.TokenLength != h.TokenLength)
                {
                    bits |= CoapAnomalies.Bit(CoapAnomaly.TokenMismatch);
                }

                _open.Remove(req);
                Complete(req, dir, m, bits, s, meta, separate: false);
                Emit(flow, req);
                Remember(dir, h, token, false, meta);
                return;
            }

            if (IsRecent(dir, h.Type, h.MessageId, meta.TimestampNs, out _))
            {
                Duplicate(flow, dir, h, meta);
                return;
            }

            bits |= CoapAnomalies.Bit(CoapAnomaly.UnsolicitedResponse);
            var alone = StartResponseOnly(dir, m, bits, meta, null);
            Remember(dir, h, token, false, meta);
            Emit(flow, alone);
            return;
        }

        if (h.Type == CoapMessageType.Reset)
        {
            var alone = StartResponseOnly(dir, m, bits, meta, null);
            Remember(dir, h, token, false, meta);
            Emit(flow, alone);
            return;
        }

        // CON or NON response: separate response, notification or unsolicited.
        if (IsRecent(dir, h.Type, h.MessageId, meta.TimestampNs, out _))
        {
            foreach (var o in _open)
            {
                if (o.AwaitingAck && o.ResponseDir == dir && o.ResponseMid == h.MessageId)
                {
                    o.ResponseRetransmissions++;
                    return;
                }
            }

            Duplicate(flow, dir, h, meta);
            return;
        }

        Exchange? ex = null;
        foreach (var o in _open)
        {
            if (o.HasRequest && !o.HasResponse && !o.IsPing && o.RequestDir == peer && o.Token == token && o.TokenLength == h.TokenLength)
            {
                ex = o;
                break;
            }
        }

        bool notification = false;
        if (ex is not null)
        {
            _open.Remove(ex);
            Complete(ex, dir, m, bits, s, meta, separate: ex.Type == CoapMessageType.Confirmable);
        }
        else
        {
            var rel = FindRelation(dir, token, h.TokenLength);
            notification = rel is not null;
            if (rel is null)
            {
                bits |= CoapAnomalies.Bit(CoapAnomaly.UnsolicitedResponse);
            }
            else
            {
                rel.Notifications++;
            }

            ex = StartResponseOnly(dir, m, bits, meta, rel);
            _open.Remove(ex);
            if (rel is not null)
            {
                AppendBool(ex, CoapFields.Notification, true);
                if (s.HasBlock2)
                {
                    ContinueBlock2(ex, rel.ResourceHash, peer, m, s, meta);
                }
            }
        }

        Remember(dir, h, token, notification, meta);
        if (h.Type == CoapMessageType.Confirmable)
        {
            ex.AwaitingAck = true;
            ex.ResponseMid = h.MessageId;
            ex.ResponseDir = dir;
            AddOpen(flow, ex);
        }
        else
        {
            Emit(flow, ex);
        }
    }

    /// <summary>Adds the response side to an exchange (fields, observe outcome, block2 transfer, link-format).</summary>
    private void Complete(Exchange ex, Direction dir, scoped in CoapMessage m, ulong bits, in CoapSummary s, in PacketMeta meta, bool separate)
    {
        ex.HasResponse = true;
        ex.ResponseTs = meta.TimestampNs;
        ex.ResponsePacket = meta.PacketNumber;
        ex.ResponseDir = dir;
        ex.ResponseMid = m.Header.MessageId;
        ex.Anomalies |= bits;
        if (m.Header.CodeClass == 2 && ((s.HasBlock2 && ex.RequestBlock2Szx != 255 && s.Block2.Szx > ex.RequestBlock2Szx)
            || (s.HasBlock1 && ex.RequestBlock1Szx != 255 && s.Block1.Szx > ex.RequestBlock1Szx)))
        {
            ex.Anomalies |= CoapAnomalies.Bit(CoapAnomaly.BlockSizeIncreased);
        }

        var w = new EventFieldWriter(ex.Blob.AsSpan(ex.Length));
        CoapEventFields.Write(ref w, m, response: true, withToken: false, _options.PayloadPrefixBytes);
        if (separate)
        {
            w.WriteBool(CoapFields.SeparateResponse, true);
        }

        ex.Length += w.Length;
        if (ex.Registers)
        {
            var rel = FindRelation(dir, ex.Token, ex.TokenLength);
            if (rel is not null && (!s.HasObserve || m.Header.CodeClass != 2))
            {
                // The server did not accept the registration.
                _relations.Remove(rel);
            }
        }

        ContinueBlock2(ex, ex.ResourceHash, ex.RequestDir, m, s, meta);
    }

    private void ContinueBlock2(Exchange ex, uint hash, Direction requestDir, scoped in CoapMessage m, in CoapSummary s, in PacketMeta meta)
    {
        bool link = s.ContentFormat == 40 && m.Header.Code == 0x45;
        if (s.HasBlock2 && !s.Block2.IsReservedSize && m.Header.CodeClass == 2 && (s.Block2.More || s.Block2.Number > 0))
        {
            var t = UpdateTransfer(false, requestDir, hash, s.Block2, m.Payload, link, ref ex.Anomalies, meta, out bool final);
            if (t is not null && final)
            {
                if (!ex.TransferWritten)
                {
                    WriteTransfer(ex, t, 2);
                }

                if (t.LinkFormat && t.Link is not null)
                {
                    WriteResources(ex, t.Link.AsSpan(0, t.LinkLength));
                }

                RemoveTransfer(t);
            }
        }
        else if (link)
        {
            WriteResources(ex, m.Payload);
        }
    }

    private void WriteResources(Exchange ex, ReadOnlySpan<byte> payload)
    {
        // Room for the resources (about the document's size plus per-field overhead), bounded.
        int want = Math.Min(MaxBlobCapacity, ex.Length + (2 * payload.Length) + 1024);
        if (want > ex.Blob.Length)
        {
            var bigger = ThreadBufferCache.Rent(want);
            ex.Blob.AsSpan(0, ex.Length).CopyTo(bigger);
            ThreadBufferCache.Return(ex.Blob);
            ex.Blob = bigger;
        }

        var span = ex.Blob.AsSpan(ex.Length);
        var w = new EventFieldWriter(span);
        if (!CoapLinkFormat.Write(ref w, payload, span.Length, BlobReserve, _options.MaxResourcesPerEvent, out _))
        {
            ex.Anomalies |= CoapAnomalies.Bit(CoapAnomaly.InvalidLinkFormat);
        }

        ex.Length += w.Length;
    }

    private void WriteTransfer(Exchange ex, Transfer t, int option)
    {
        var w = new EventFieldWriter(ex.Blob.AsSpan(ex.Length));
        w.BeginObject(CoapFields.Transfer);
        w.WriteInt(CoapFields.BlockOption, option);
        w.WriteInt(CoapFields.Blocks, t.Blocks);
        w.WriteInt(CoapFields.TotalSize, t.Total);
        w.WriteBool(CoapFields.Complete, t.FromStart && !t.OutOfOrder);
        w.EndObject();
        ex.Length += w.Length;
        ex.TransferWritten = true;
    }

    private Transfer? UpdateTransfer(bool block1, Direction requestDir, uint hash, CoapBlock b, ReadOnlySpan<byte> payload, bool linkFormat,
        ref ulong anomalies, in PacketMeta meta, out bool final)
    {
        final = false;
        Transfer? t = null;
        foreach (var x in _transfers)
        {
            if (x.Block1 == block1 && x.RequestDir == requestDir && x.Hash == hash)
            {
                t = x;
                break;
            }
        }

        if (t is null || b.Number == 0)
        {
            if (t is null)
            {
                if (_transfers.Count >= Math.Max(1, _options.MaxTransfers))
                {
                    RemoveTransfer(_transfers[0]);
                }

                t = new Transfer { Block1 = block1, RequestDir = requestDir, Hash = hash };
                _transfers.Add(t);
            }

            t.FromStart = b.Number == 0;
            t.OutOfOrder = false;
            t.Expected = b.Offset;
            t.Total = 0;
            t.Blocks = 0;
            t.LinkLength = 0;
            t.LinkFormat = linkFormat;
        }

        if (b.Offset != t.Expected)
        {
            t.OutOfOrder = true;
            anomalies |= CoapAnomalies.Bit(CoapAnomaly.BlockOutOfOrder);
        }

        if ((b.More && payload.Length != b.Size) || payload.Length > b.Size)
        {
            anomalies |= CoapAnomalies.Bit(CoapAnomaly.BlockSizeMismatch);
        }

        t.Total += payload.Length;
        t.Blocks++;
        t.Expected = b.Offset + payload.Length;
        t.LastTs = meta.TimestampNs;
        if (t.Total > _options.MaxBlockTransferBytes)
        {
            anomalies |= CoapAnomalies.Bit(CoapAnomaly.BlockTransferTooLarge);
            RemoveTransfer(t);
            return null;
        }

        if (t.LinkFormat)
        {
            int room = _options.MaxLinkFormatBytes - t.LinkLength;
            int n = Math.Min(room, payload.Length);
            if (n > 0)
            {
                if (t.Link is null || t.Link.Length < t.LinkLength + n)
                {
                    var bigger = ThreadBufferCache.Rent(Math.Max(1024, Math.Min(_options.MaxLinkFormatBytes, 2 * (t.LinkLength + n))));
                    if (t.Link is not null)
                    {
                        t.Link.AsSpan(0, t.LinkLength).CopyTo(bigger);
                        ThreadBufferCache.Return(t.Link);
                    }

                    t.Link = bigger;
                }

                payload[..n].CopyTo(t.Link.AsSpan(t.LinkLength));
                t.LinkLength += n;
            }
        }

        final = !b.More;
        return t;
    }

    private void RemoveTransfer(Transfer t)
    {
        _transfers.Remove(t);
        ReleaseTransfer(t);
    }

    private static void ReleaseTransfer(Transfer t)
    {
        if (t.Link is not null)
        {
            ThreadBufferCache.Return(t.Link);
            t.Link = null;
        }
    }

    private Exchange Rent()
    {
        var ex = _spare ?? new Exchange();
        _spare = null;
        if (ex.Blob.Length == 0)
        {
            ex.Blob = ThreadBufferCache.Rent(BlobCapacity);
        }

        ex.Length = 0;
        ex.HasRequest = ex.HasResponse = ex.AwaitingAck = ex.Acked = ex.IsPing = ex.Registers = ex.TransferWritten = false;
        ex.Anomalies = 0;
        ex.Retransmissions = ex.ResponseRetransmissions = 0;
        ex.RequestTs = ex.RequestPacket = ex.ResponseTs = ex.ResponsePacket = 0;
        ex.Token = 0;
        ex.TokenLength = 0;
        ex.Mid = ex.ResponseMid = 0;
        ex.ResourceHash = 0;
        ex.Notifies = null;
        ex.RequestBlock1Szx = ex.RequestBlock2Szx = 255;
        return ex;
    }

    private void AddOpen(FlowContext flow, Exchange ex)
    {
        int max = Math.Max(1, _options.MaxPending);
        if (_open.Count >= max)
        {
            var oldest = _open[0];
            _open.RemoveAt(0);
            oldest.Anomalies |= CoapAnomalies.Bit(CoapAnomaly.PendingOverflow);
            Emit(flow, oldest);
        }

        _open.Add(ex);
    }

    private Exchange StartRequest(FlowContext flow, Direction dir, scoped in CoapMessage m, ulong bits, in CoapSummary s, in PacketMeta meta)
    {
        var ex = Rent();
        var h = m.Header;
        ex.HasRequest = true;
        ex.RequestDir = dir;
        ex.Type = h.Type;
        ex.Mid = h.MessageId;
        ex.Token = PackToken(m.Token);
        ex.TokenLength = h.TokenLength;
        ex.RequestTs = meta.TimestampNs;
        ex.RequestPacket = meta.PacketNumber;
        ex.Anomalies = bits;
        ex.ResourceHash = s.ResourceHash;
        ex.RequestBlock1Szx = s.HasBlock1 ? s.Block1.Szx : (byte)255;
        ex.RequestBlock2Szx = s.HasBlock2 ? s.Block2.Szx : (byte)255;
        var w = new EventFieldWriter(ex.Blob);
        CoapEventFields.Write(ref w, m, response: false, withToken: true, _options.PayloadPrefixBytes);
        ex.Length = w.Length;
        AddOpen(flow, ex);
        return ex;
    }

    private Exchange StartResponseOnly(Direction dir, scoped in CoapMessage m, ulong bits, in PacketMeta meta, Relation? rel)
    {
        var ex = Rent();
        var h = m.Header;
        ex.HasResponse = true;
        ex.RequestDir = Opposite(dir);
        ex.ResponseDir = dir;
        ex.ResponseMid = h.MessageId;
        ex.Token = PackToken(m.Token);
        ex.TokenLength = h.TokenLength;
        ex.ResponseTs = meta.TimestampNs;
        ex.ResponsePacket = meta.PacketNumber;
        ex.Anomalies = bits;
        ex.Notifies = rel;
        var w = new EventFieldWriter(ex.Blob);
        if (rel is not null && rel.PathLength > 0)
        {
            w.WriteString(CoapFields.UriPath, rel.Path.AsSpan(0, rel.PathLength));
        }

        CoapEventFields.Write(ref w, m, response: true, withToken: true, _options.PayloadPrefixBytes);
        ex.Length = w.Length;
        return ex;
    }

    private static void AppendString(Exchange ex, byte field, ReadOnlySpan<byte> value)
    {
        var w = new EventFieldWriter(ex.Blob.AsSpan(ex.Length));
        w.WriteString(field, value);
        ex.Length += w.Length;
    }

    private static void AppendBool(Exchange ex, byte field, bool value)
    {
        var w = new EventFieldWriter(ex.Blob.AsSpan(ex.Length));
        w.WriteBool(field, value);
        ex.Length += w.Length;
    }

    private void Emit(FlowContext flow, Exchange ex)
    {
        var w = new EventFieldWriter(ex.Blob.AsSpan(ex.Length));
        if (ex.Retransmissions > 0)
        {
            w.WriteInt(CoapFields.Retransmissions, ex.Retransmissions);
        }

        if (ex.ResponseRetransmissions > 0)
        {
            w.WriteInt(CoapFields.ResponseRetransmissions, ex.ResponseRetransmissions);
        }

        ex.Length += w.Length;
        var tx = new TransactionRecord
        {
            Protocol = ProtocolId.Coap,
            HasRequest = ex.HasRequest,
            HasResponse = ex.HasResponse,
            RequestTs = ex.RequestTs,
            ResponseTs = ex.ResponseTs,
            RequestPacket = ex.RequestPacket,
            ResponsePacket = ex.ResponsePacket,
            Key = ex.HasRequest ? ex.Mid : ex.ResponseMid,
            Anomalies = ex.Anomalies,
            FieldsEncoded = true,
        };
        _sink.Transaction(flow, tx, ex.Blob.AsSpan(0, ex.Length), default);
        ex.Notifies = null;

        // Blobs go back to the pool at once: an idle flow keeps no buffer.
        ThreadBufferCache.Return(ex.Blob);
        ex.Blob = [];
        _spare ??= ex;
    }

    private Exchange? FindByMid(Direction requestDir, ushort mid, bool requestOpen)
    {
        foreach (var ex in _open)
        {
            if (ex.HasRequest && ex.RequestDir == requestDir && ex.Mid == mid && (!requestOpen || !ex.HasResponse))
            {
                return ex;
            }
        }

        return null;
    }

    private Relation? FindRelation(Direction serverDir, ulong token, byte tokenLength = 255)
    {
        var clientDir = Opposite(serverDir);
        foreach (var r in _relations)
        {
            if (r.ClientDir == clientDir && r.Token == token && (tokenLength == 255 || r.TokenLength == tokenLength))
            {
                return r;
            }
        }

        return null;
    }

    private void Remember(Direction dir, CoapHeader h, ulong token, bool notification, in PacketMeta meta)
    {
        if (_recentCount < RecentCapacity && _recentCount == _recent.Length)
            Array.Resize(ref _recent, Math.Clamp(_recent.Length * 2, 4, RecentCapacity));
        if (_recentCount < RecentCapacity) _recentCount++;
        _recent[_recentNext] = new Recent
        {
            Dir = dir,
            Type = h.Type,
            Mid = h.MessageId,
            Ts = meta.TimestampNs,
            Token = token,
            Notification = notification,
            Valid = true,
        };
        _recentNext = (_recentNext + 1) % RecentCapacity;
    }

    private bool IsRecent(Direction dir, CoapMessageType type, ushort mid, long now, out Recent found)
    {
        for (int i = 0; i < _recentCount; i++)
        {
            ref var r = ref _recent[i];
            if (r.Valid && r.Mid == mid && r.Dir == dir && r.Type == type && now - r.Ts <= _options.ExchangeLifetimeNs)
            {
                found = r;
                return true;
            }
        }

        found = default;
        return false;
    }

    private static int CopyPath(scoped in CoapMessage m, byte[] dest)
    {
        int len = 0;
        var r = m.Options;
        while (r.TryRead(out var o))
        {
            if (o.Number != CoapOptionNumber.UriPath || len >= dest.Length)
            {
                continue;
            }

            dest[len++] = (byte)'/';
            int n = Math.Min(o.Value.Length, dest.Length - len);
            o.Value[..n].CopyTo(dest.AsSpan(len));
            len += n;
        }

        if (len == 0)
        {
            dest[0] = (byte)'/';
            len = 1;
        }

        return len;
    }

    private void Duplicate(FlowContext flow, Direction dir, CoapHeader h, in PacketMeta meta)
    {
        Duplicates++;
        Report(flow, dir, CoapAnomaly.DuplicateMessage, CoapAnomalies.DuplicateDetail(h), meta);
    }

    private void Report(FlowContext flow, Direction direction, CoapAnomaly anomaly, long detail, in PacketMeta meta)
    {
        var record = new AnomalyRecord
        {
            Protocol = ProtocolId.Coap,
            AnomalyId = (int)anomaly,
            Direction = direction,
            Ts = meta.TimestampNs,
            PacketNumber = meta.PacketNumber,
            Detail = detail,
        };
        _sink.Anomaly(flow, record);
    }
}
