using OtSensor.Decoding;

namespace OtSensor.Flows;

/// <summary>
/// One worker's flows: finds or creates the flow of each packet, orients it client → server, reassembles TCP per
/// direction and drives the flow's <see cref="IFlowDissector"/>. Single-threaded by design (a flow always lands on
/// the same worker). No allocation per packet once warm: flows, contexts and reassemblers are pooled.
/// Flows sit in one of three recency lists (TCP live, UDP, TCP closed), so expiry and eviction only look at list heads.
/// </summary>
public sealed class FlowTable
{
    private readonly FlowTableOptions _options;
    private readonly IDissectorFactory _factory;
    private readonly FlowMap _flows;
    private readonly Stack<FlowEntry> _pool = new();
    private readonly RecencyLinks _links = new();
    private readonly RecencyList _tcpLive;
    private readonly RecencyList _udp;
    private readonly RecencyList _tcpClosed;
    private readonly List<FlowEntry> _scratch = [];
    private FlowEntry? _tickHead;
    private FlowEntry? _tickTail;
    private bool _ticked;
    private long _lastTickNs;

    public FlowTable(FlowTableOptions options, IDissectorFactory factory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(factory);
        if (options.MaxFlows < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "MaxFlows must be at least 1.");
        }
        _options = options;
        _factory = factory;
        _flows = new FlowMap(Math.Min(options.MaxFlows, 4096));
        _tcpLive = new RecencyList(_links);
        _udp = new RecencyList(_links);
        _tcpClosed = new RecencyList(_links);
    }

    public FlowTableStats Stats { get; } = new();

    public int Count => _flows.Count;

    /// <summary>
    /// Accounts one decoded packet to its flow (created when needed) and feeds its payload to reassembly and the
    /// dissector. Returns the flow, or null for a packet that is not TCP or UDP. Never throws on odd input.
    /// </summary>
    public FlowContext? Process(in DecodedPacket packet, ReadOnlySpan<byte> frame, in PacketMeta meta)
    {
        if (packet.Transport is not (TransportLayer.Tcp or TransportLayer.Udp))
        {
            Stats.PacketsNotTcpUdp++;
            return null;
        }
        var key = FlowKey.From(packet, out bool sourceIsA);
        return Process(packet, key, sourceIsA, frame, meta);
    }

    /// <summary>
    /// <see cref="Process(in DecodedPacket, ReadOnlySpan{byte}, in PacketMeta)"/> for a TCP or UDP packet whose flow key
    /// was already computed (<c>FlowKey.From(packet, out sourceIsA)</c>): the pipeline computes it once, to pick the worker.
    /// </summary>
    public FlowContext? Process(in DecodedPacket packet, in FlowKey key, bool sourceIsA, ReadOnlySpan<byte> frame, in PacketMeta meta)
    {
        if (packet.Transport is not (TransportLayer.Tcp or TransportLayer.Udp))
        {
            Stats.PacketsNotTcpUdp++;
            return null;
        }

        ReadOnlySpan<byte> payload = default;
        int offset = packet.PayloadOffset;
        int length = packet.PayloadLength;
        if (length > 0 && offset >= 0 && offset <= frame.Length)
        {
            payload = frame.Slice(offset, Math.Min(length, frame.Length - offset));
        }

        bool tcp = packet.Transport == TransportLayer.Tcp;
        FlowEntry? entry = _flows.Find(key);
        if (entry is not null)
        {
            if (meta.TimestampNs - entry.Context.LastSeenNs > Timeout(entry.List))
            {
                Close(entry, entry.List == FlowList.TcpClosed ? FlowCloseReason.Closed : FlowCloseReason.IdleTimeout, meta.TimestampNs);
                entry = null;
            }
            else if (tcp && (packet.Flags & (TcpFlags.Syn | TcpFlags.Ack)) == TcpFlags.Syn && IsNewConnection(entry, packet, sourceIsA))
            {
                Close(entry, FlowCloseReason.Closed, meta.TimestampNs);
                entry = null;
            }
        }
        entry ??= Create(key, packet, sourceIsA, meta);

        FlowContext flow = entry.Context;
        Direction direction = sourceIsA == entry.ClientIsA ? Direction.ToServer : Direction.ToClient;
        if (direction == Direction.ToServer)
        {
            flow.PacketsToServer++;
            flow.BytesToServer += payload.Length;
        }
        else
        {
            flow.PacketsToClient++;
            flow.BytesToClient += payload.Length;
        }
        if (meta.TimestampNs > flow.LastSeenNs)
        {
            flow.LastSeenNs = meta.TimestampNs;
        }
        entry.LastPacketNumber = meta.PacketNumber;

        if (tcp)
        {
            ProcessTcp(entry, packet, direction, payload, meta);
            if (entry.List == FlowList.TcpLive && (entry.ResetSeen || (entry.ToServer.FinSeen && entry.ToClient.FinSeen)))
            {
                _tcpLive.Remove(entry);
                entry.List = FlowList.TcpClosed;
                _tcpClosed.AddLast(entry);
            }
            else
            {
                ListOf(entry.List).MoveToEnd(entry);
            }
        }
        else
        {
            ProcessUdp(entry, direction, payload, meta);
            _udp.MoveToEnd(entry);
        }
        return flow;
    }

    /// <summary>
    /// Packet time moved to <paramref name="nowNs"/>: closes flows idle (or closed) for longer than their timeout,
    /// in ascending FlowId order, then ticks dissected flows (ascending FlowId, at most once per TickIntervalNs).
    /// Cost: the expired flows plus one look at each list head (plus the tick round when due).
    /// </summary>
    public void Advance(long nowNs)
    {
        _scratch.Clear();
        CollectExpired(_tcpLive, nowNs, _options.TcpIdleTimeoutNs);
        CollectExpired(_udp, nowNs, _options.UdpIdleTimeoutNs);
        CollectExpired(_tcpClosed, nowNs, _options.TcpClosedTimeoutNs);
        if (_scratch.Count > 0)
        {
            _scratch.Sort(FlowIdComparer.Instance);
            foreach (FlowEntry e in _scratch)
            {
                Close(e, e.List == FlowList.TcpClosed ? FlowCloseReason.Closed : FlowCloseReason.IdleTimeout, nowNs);
            }
            _scratch.Clear();
        }

        if (_tickHead is not null && (!_ticked || nowNs - _lastTickNs >= _options.TickIntervalNs))
        {
            _ticked = true;
            _lastTickNs = nowNs;
            for (FlowEntry? e = _tickHead; e is not null; e = e.TickNext)
            {
                e.Dissector!.OnTick(e.Context, nowNs);
            }
        }
    }

    /// <summary>End of capture: flushes reassembly (gaps, buffered data) and closes every flow, ascending FlowId.</summary>
    public void CloseAll(long nowNs)
    {
        _scratch.Clear();
        _flows.CopyTo(_scratch);
        _scratch.Sort(FlowIdComparer.Instance);
        foreach (FlowEntry e in _scratch)
        {
            Close(e, FlowCloseReason.EndOfCapture, nowNs);
        }
        _scratch.Clear();
    }

    /// <summary>Offers a payload to the factory while the flow is undecided. True when a dissector is now set.</summary>
    internal bool TrySelect(FlowEntry entry, Direction direction, ReadOnlySpan<byte> payload)
    {
        if (entry.Select != SelectState.Pending || payload.IsEmpty)
        {
            return false;
        }
        entry.SelectAttempts++;
        DissectorChoice choice = _factory.Select(entry.Context, direction, payload, out IFlowDissector? dissector);
        if (choice == DissectorChoice.Selected && dissector is not null)
        {
            entry.Select = SelectState.Selected;
            entry.Dissector = dissector;
            AddToTickList(entry);
            return true;
        }
        if (choice != DissectorChoice.Undecided || entry.SelectAttempts >= _options.MaxSelectAttempts)
        {
            entry.Select = SelectState.None;
        }
        return false;
    }

    private void ProcessTcp(FlowEntry entry, in DecodedPacket packet, Direction direction, ReadOnlySpan<byte> payload, in PacketMeta meta)
    {
        if (entry.ResetSeen)
        {
            Stats.PacketsAfterReset++;
            return;
        }
        TcpFlags flags = packet.Flags;
        TcpReassembler sender = entry.Stream(direction);
        TcpReassembler receiver = entry.Stream(direction == Direction.ToServer ? Direction.ToClient : Direction.ToServer);
        if ((flags & TcpFlags.Ack) != 0)
        {
            receiver.OnPeerAck(packet.Ack, meta, entry);
        }
        if ((flags & TcpFlags.Rst) != 0)
        {
            entry.ResetSeen = true;
            return;
        }
        sender.OnSegment(packet.Seq, flags, payload, meta, entry);
    }

    private void ProcessUdp(FlowEntry entry, Direction direction, ReadOnlySpan<byte> payload, in PacketMeta meta)
    {
        if (entry.Dissector is null && !TrySelect(entry, direction, payload))
        {
            return;
        }
        entry.Dissector!.OnDatagram(entry.Context, direction, payload, meta);
    }

    /// <summary>A SYN (without ACK) on a flow that finished (FIN or RST) with another ISN: the 5-tuple is reused.</summary>
    private static bool IsNewConnection(FlowEntry entry, in DecodedPacket packet, bool sourceIsA)
    {
        bool finished = entry.ResetSeen || entry.ToServer.FinSeen || entry.ToClient.FinSeen;
        if (!finished)
        {
            return false;
        }
        TcpReassembler sender = entry.Stream(sourceIsA == entry.ClientIsA ? Direction.ToServer : Direction.ToClient);
        return !sender.SynSeen || sender.Isn != packet.Seq;
    }

    private FlowEntry Create(FlowKey key, in DecodedPacket packet, bool sourceIsA, in PacketMeta meta)
    {
        if (_flows.Count >= _options.MaxFlows)
        {
            EvictOne(meta.TimestampNs);
        }
        FlowEntry entry = _pool.Count > 0 ? _pool.Pop() : _links.Register(new FlowEntry(this, _options, Stats));
        bool tcp = packet.Transport == TransportLayer.Tcp;

        bool clientIsSource;
        bool fromHandshake = false;
        TcpFlags synAck = packet.Flags & (TcpFlags.Syn | TcpFlags.Ack);
        // A SYN that also carries FIN or RST is no handshake (scanners, fuzzers): orient by ports instead.
        if ((packet.Flags & (TcpFlags.Fin | TcpFlags.Rst)) != 0) synAck = TcpFlags.None;
        if (tcp && synAck == TcpFlags.Syn)
        {
            clientIsSource = true;
            fromHandshake = true;
        }
        else if (tcp && synAck == (TcpFlags.Syn | TcpFlags.Ack))
        {
            clientIsSource = false;
            fromHandshake = true;
        }
        else
        {
            clientIsSource = tcp ? GuessClientIsSource(packet.SrcPort, packet.DstPort) : GuessUdpClientIsSource(packet.SrcPort, packet.DstPort);
            if (tcp)
            {
                Stats.MidstreamPickups++;
            }
        }

        entry.Key = key;
        entry.ClientIsA = clientIsSource == sourceIsA;
        FlowContext c = entry.Context;
        c.FlowId = meta.PacketNumber;
        c.Transport = packet.Transport;
        c.Vlan = packet.Vlan;
        c.InnerVlan = packet.InnerVlan;
        if (clientIsSource)
        {
            c.ClientIp = packet.SrcIp; c.ClientPort = packet.SrcPort; c.ClientMac = packet.SrcMac;
            c.ServerIp = packet.DstIp; c.ServerPort = packet.DstPort; c.ServerMac = packet.DstMac;
        }
        else
        {
            c.ClientIp = packet.DstIp; c.ClientPort = packet.DstPort; c.ClientMac = packet.DstMac;
            c.ServerIp = packet.SrcIp; c.ServerPort = packet.SrcPort; c.ServerMac = packet.SrcMac;
        }
        c.OrientationFromHandshake = fromHandshake;
        c.FirstSeenNs = meta.TimestampNs;
        c.LastSeenNs = meta.TimestampNs;

        _flows.Add(entry);
        Stats.FlowsCreated++;
        Stats.ActiveFlows = _flows.Count;
        if (tcp)
        {
            Stats.TcpFlows++;
            entry.List = FlowList.TcpLive;
            _tcpLive.AddLast(entry);
        }
        else
        {
            Stats.UdpFlows++;
            entry.List = FlowList.Udp;
            _udp.AddLast(entry);
        }
        return entry;
    }

    /// <summary>
    /// Mid-stream / UDP orientation: a well-known port on exactly one side marks the server; otherwise the lower
    /// port is the server; equal ports: the first packet's destination is the server.
    /// </summary>
    internal static bool GuessClientIsSource(ushort srcPort, ushort dstPort)
    {
        bool srcKnown = WellKnownPorts.IsServerPort(srcPort);
        bool dstKnown = WellKnownPorts.IsServerPort(dstPort);
        if (srcKnown != dstKnown)
        {
            return dstKnown;
        }
        return srcPort >= dstPort;
    }

    /// <summary>
    /// UDP has no handshake, but its first datagram is almost always the request: unless exactly one port is a
    /// well-known service port (or only the destination is below 1024), its sender is the client.
    /// </summary>
    internal static bool GuessUdpClientIsSource(ushort srcPort, ushort dstPort)
    {
        bool srcKnown = WellKnownPorts.IsServerPort(srcPort);
        bool dstKnown = WellKnownPorts.IsServerPort(dstPort);
        if (srcKnown != dstKnown) return dstKnown;
        if ((srcPort < 1024) != (dstPort < 1024)) return dstPort < 1024;
        return true;
    }

    /// <summary>Makes room for one flow: the oldest closed flow if any (it is finished anyway), else the least recently seen.</summary>
    private void EvictOne(long nowNs)
    {
        if (_tcpClosed.Head is { } closed)
        {
            Close(closed, FlowCloseReason.Closed, nowNs);
            return;
        }
        FlowEntry? victim = _tcpLive.Head;
        FlowEntry? udp = _udp.Head;
        if (victim is null || (udp is not null && (udp.Context.LastSeenNs < victim.Context.LastSeenNs
            || (udp.Context.LastSeenNs == victim.Context.LastSeenNs && udp.Context.FlowId < victim.Context.FlowId))))
        {
            victim = udp;
        }
        if (victim is not null)
        {
            Close(victim, FlowCloseReason.Evicted, nowNs);
        }
    }

    private void Close(FlowEntry entry, FlowCloseReason reason, long nowNs)
    {
        FlowContext flow = entry.Context;
        if (flow.Transport == TransportLayer.Tcp)
        {
            var meta = new PacketMeta(nowNs, entry.LastPacketNumber);
            entry.ToServer.Flush(meta, entry);
            entry.ToClient.Flush(meta, entry);
        }
        if (entry.Dissector is { } dissector)
        {
            dissector.OnClose(flow, reason, nowNs);
            _factory.Release(dissector);
        }

        switch (reason)
        {
            case FlowCloseReason.Closed: Stats.FlowsClosed++; break;
            case FlowCloseReason.IdleTimeout: Stats.FlowsTimedOut++; break;
            case FlowCloseReason.Evicted: Stats.FlowsEvicted++; break;
            default: Stats.FlowsEndOfCapture++; break;
        }

        _flows.Remove(entry);
        ListOf(entry.List).Remove(entry);
        RemoveFromTickList(entry);
        Stats.ActiveFlows = _flows.Count;
        entry.Reset();
        _pool.Push(entry);
    }

    private void CollectExpired(RecencyList list, long nowNs, long timeoutNs)
    {
        var entries = _links.Entries;
        var next = _links.Next;
        for (int slot = list.HeadSlot; slot >= 0; slot = next[slot])
        {
            FlowEntry e = entries[slot];
            if (nowNs - e.Context.LastSeenNs <= timeoutNs) break;
            _scratch.Add(e);
        }
    }

    private long Timeout(FlowList list) => list switch
    {
        FlowList.TcpLive => _options.TcpIdleTimeoutNs,
        FlowList.Udp => _options.UdpIdleTimeoutNs,
        _ => _options.TcpClosedTimeoutNs,
    };

    private RecencyList ListOf(FlowList list) => list switch
    {
        FlowList.TcpLive => _tcpLive,
        FlowList.Udp => _udp,
        _ => _tcpClosed,
    };

    /// <summary>Keeps the tick list sorted by FlowId; a new dissector is usually on a recent flow, so search from the tail.</summary>
    private void AddToTickList(FlowEntry entry)
    {
        if (entry.InTickList)
        {
            return;
        }
        entry.InTickList = true;
        long id = entry.Context.FlowId;
        FlowEntry? after = _tickTail;
        while (after is not null && after.Context.FlowId > id)
        {
            after = after.TickPrev;
        }
        entry.TickPrev = after;
        entry.TickNext = after is null ? _tickHead : after.TickNext;
        if (entry.TickNext is null)
        {
            _tickTail = entry;
        }
        else
        {
            entry.TickNext.TickPrev = entry;
        }
        if (after is null)
        {
            _tickHead = entry;
        }
        else
        {
            after.TickNext = entry;
        }
    }

    private void RemoveFromTickList(FlowEntry entry)
    {
        if (!entry.InTickList)
        {
            return;
        }
        if (entry.TickPrev is null)
        {
            _tickHead = entry.TickNext;
        }
        else
        {
            entry.TickPrev.TickNext = entry.TickNext;
        }
        if (entry.TickNext is null)
        {
            _tickTail = entry.TickPrev;
        }
        else
        {
            entry.TickNext.TickPrev = entry.TickPrev;
        }
        entry.TickPrev = null;
        entry.TickNext = null;
        entry.InTickList = false;
    }

    /// <summary>Intrusive doubly linked list of flows, least recently seen first.</summary>
    /// <summary>
    /// The links of the recency lists, by entry slot: integers in arrays rather than references in the entries, so that
    /// moving a flow to the end of its list on each of its packets writes a few ints (no GC write barriers) and does not
    /// touch the neighbouring flows' objects.
    /// </summary>
    private sealed class RecencyLinks
    {
        public FlowEntry[] Entries = new FlowEntry[64];
        public int[] Prev = new int[64];
        public int[] Next = new int[64];
        private int _count;

        /// <summary>Gives a new entry its slot (entries are pooled, so a slot lives as long as the table).</summary>
        public FlowEntry Register(FlowEntry e)
        {
            if (_count == Entries.Length)
            {
                Array.Resize(ref Entries, _count * 2);
                Array.Resize(ref Prev, _count * 2);
                Array.Resize(ref Next, _count * 2);
            }
            e.Slot = _count;
            Entries[_count] = e;
            Prev[_count] = Next[_count] = -1;
            _count++;
            return e;
        }
    }

    private sealed class RecencyList(RecencyLinks links)
    {
        private int _head = -1;
        private int _tail = -1;

        public int HeadSlot => _head;

        public FlowEntry? Head => _head < 0 ? null : links.Entries[_head];

        public void AddLast(FlowEntry e)
        {
            int s = e.Slot;
            links.Prev[s] = _tail;
            links.Next[s] = -1;
            if (_tail < 0)
            {
                _head = s;
            }
            else
            {
                links.Next[_tail] = s;
            }
            _tail = s;
        }

        public void Remove(FlowEntry e)
        {
            int s = e.Slot;
            int prev = links.Prev[s], next = links.Next[s];
            if (prev < 0)
            {
                _head = next;
            }
            else
            {
                links.Next[prev] = next;
            }
            if (next < 0)
            {
                _tail = prev;
            }
            else
            {
                links.Prev[next] = prev;
            }
            links.Prev[s] = links.Next[s] = -1;
        }

        public void MoveToEnd(FlowEntry e)
        {
            if (_tail == e.Slot)
            {
                return;
            }
            Remove(e);
            AddLast(e);
        }
    }

    private sealed class FlowIdComparer : IComparer<FlowEntry>
    {
        public static readonly FlowIdComparer Instance = new();

        public int Compare(FlowEntry? x, FlowEntry? y) => x!.Context.FlowId.CompareTo(y!.Context.FlowId);
    }
}
