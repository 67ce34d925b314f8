namespace OtSensor.Flows;

internal enum FlowList : byte
{
    None = 0,
    TcpLive = 1,
    Udp = 2,
    /// <summary>TCP after FIN both ways or RST, waiting out the closed timeout.</summary>
    TcpClosed = 3,
}

internal enum SelectState : byte
{
    Pending = 0,
    Selected = 1,
    None = 2,
}

/// <summary>
/// A flow's table-side state: its context, the two reassemblers, the dissector and the intrusive list links.
/// Pooled by the table: allocated once, reset and reused.
/// </summary>
internal sealed class FlowEntry : IStreamSink
{
    private readonly FlowTable _table;

    public FlowEntry(FlowTable table, FlowTableOptions options, FlowTableStats stats)
    {
        _table = table;
        ToServer = new TcpReassembler(Direction.ToServer, stats, options.MaxOutOfOrderBytesPerDirection, options.MaxOutOfOrderSegmentsPerDirection);
        ToClient = new TcpReassembler(Direction.ToClient, stats, options.MaxOutOfOrderBytesPerDirection, options.MaxOutOfOrderSegmentsPerDirection);
    }

    public FlowContext Context { get; } = new();
    public TcpReassembler ToServer { get; }
    public TcpReassembler ToClient { get; }
    public FlowKey Key;
    /// <summary>The client is endpoint A of <see cref="Key"/>.</summary>
    public bool ClientIsA;
    public IFlowDissector? Dissector;
    public SelectState Select;
    public int SelectAttempts;
    public bool ResetSeen;
    public long LastPacketNumber;

    // Recency list (one of the table's per-timeout lists).
    public FlowList List;
    /// <summary>The entry's slot in the table's recency links (fixed for the entry's life: entries are pooled).</summary>
    public int Slot;

    // Dissected flows, ascending FlowId (ticks).
    public bool InTickList;
    public FlowEntry? TickPrev;
    public FlowEntry? TickNext;

    public TcpReassembler Stream(Direction direction) => direction == Direction.ToServer ? ToServer : ToClient;

    public void Reset()
    {
        Context.Reset();
        ToServer.Reset();
        ToClient.Reset();
        Key = default;
        ClientIsA = false;
        Dissector = null;
        Select = SelectState.Pending;
        SelectAttempts = 0;
        ResetSeen = false;
        LastPacketNumber = 0;
        List = FlowList.None;
        InTickList = false;
        TickPrev = null;
        TickNext = null;
    }

    public void StreamData(Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta)
    {
        if (Dissector is null && !_table.TrySelect(this, direction, data))
        {
            return;
        }
        Dissector!.OnStreamData(Context, direction, data, meta);
    }

    public void StreamGap(Direction direction, long missingBytes, in PacketMeta meta)
        => Dissector?.OnStreamGap(Context, direction, missingBytes, meta);
}
