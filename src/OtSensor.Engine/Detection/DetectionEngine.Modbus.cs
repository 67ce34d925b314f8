using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using OtSensor.Core;
using OtSensor.Pipeline;
using OtSensor.Protocols.Modbus;

namespace OtSensor.Detection;

public sealed partial class DetectionEngine
{
    /// <summary>Per (client, server) Modbus counters for scans and floods (one object per pair, reused).</summary>
    private sealed class ModbusPair
    {
        public long FcStart;
        // Function codes 0-127 seen in the window, as two words (not UInt128: methods using it are not precompiled
        // ReadyToRun, so they would start in unoptimised code and be compiled again at run time).
        public ulong FcsLow;
        public ulong FcsHigh;
        public int IllegalFunction;
        public long AddrStart;
        public int IllegalAddress;
        // Sized for a poll cycle's blocks: a new pair's set does not grow by steps.
        public readonly HashSet<int> Blocks = new(16);
        public long UnitStart;
        public Bits256 Units;
        public long BusyStart;
        public int Busy;
        public long FloodStart;
        public int Requests;
    }

    /// <summary>
    /// Per-flow cache (by <see cref="FlowEndpoints.FlowId"/>, one lookup per event, then no hashing): the flow's
    /// client/server pair counters and which codes on the flow's service are already fully in the baseline. Only a
    /// cache: clearing it changes no result. A slot's object is reused for the next flow that takes the slot
    /// (<see cref="Reset"/>): no object per flow.
    /// </summary>
    private sealed class FlowCache(long flowId, ServiceKey service)
    {
        public long FlowId = flowId;
        public ServiceKey Service = service;
        public ModbusPair? Pair;
        public int PairGeneration;
        public bool KnownWithoutCode;
        /// <summary>The flow's assets, link and service are in the baseline (learning adds them once per flow, not once per new code).</summary>
        public bool KnownEndpoints;
        public Bits256 KnownCodes; // codes 0-255
        /// <summary>Units (0-255) whose (client, server, unit) writer is already in the baseline.</summary>
        public Bits256 KnownWriters;
        /// <summary>The (client, server) pair's last request times; valid once <see cref="PollsResolved"/>.</summary>
        public PollPair? Polls;
        public bool PollsResolved;

        /// <summary>The cache of another flow: every field as a new one's.</summary>
        public void Reset(long flowId, in ServiceKey service)
        {
            FlowId = flowId;
            Service = service;
            Pair = null;
            PairGeneration = 0;
            KnownWithoutCode = false;
            KnownEndpoints = false;
            KnownCodes = default;
            KnownWriters = default;
            Polls = null;
            PollsResolved = false;
        }
    }

    /// <summary>
    /// The values learned since the last <see cref="FlushLearning"/> of one block of <see cref="RegBlockSize"/>
    /// consecutive registers (server, unit, aligned address block; read or written), in a direct-mapped cache of
    /// blocks in front of <see cref="BaselineModel.Read"/> / <see cref="BaselineModel.Written"/>: a repeated poll
    /// finds its block once and updates each register's range in it, instead of hashing each register into a large
    /// table. A register is put in the table (or found missing from a full one, for good: tables only grow) when it
    /// enters its block, exactly as without the cache; the values of later hits are merged at a flush, so the
    /// table's keys and ranges are the same.
    /// </summary>
    private struct RegBlock
    {
        public IpAddr Server;
        /// <summary>(written &lt;&lt; 24 | unit &lt;&lt; 16 | block's first address) + 1; 0: empty.</summary>
        public int Key;
        /// <summary>Bit i: register i of the block entered it (it was looked up in the table).</summary>
        public byte Seen;
        /// <summary>Bit i: register i is in the table (else the table was full: it never will be).</summary>
        public byte InTable;
        /// <summary>Bit i: <see cref="Acc"/>[i] holds values not merged yet (exactly the non-empty ones).</summary>
        public byte Dirty;
        public Ranges8 Acc;
    }

    private const int RegBlockSize = 8;

    [InlineArray(RegBlockSize)]
    private struct Ranges8
    {
        private ValueRange _e0;
    }

    /// <summary>256 bits inline (no array object per flow or pair).</summary>
    [InlineArray(4)]
    private struct Bits256
    {
        private ulong _e0;
    }

    private const int RegCacheBits = 11;
    private readonly RegBlock[] _regCache = new RegBlock[1 << RegCacheBits];
    private bool _regCacheDirty;
    /// <summary>Dirty poll slots kept before they are merged (bounds the memory of a long live run).</summary>
    private const int MaxDirtyPolls = 8192;
    private readonly List<PollSlot> _dirtyPolls = [];

    /// <summary>Merges the accumulated register values and poll periods into the baseline; <paramref name="dropCache"/>: empty the register cache too (the caller may change the model).</summary>
    private void FlushLearning(bool dropCache)
    {
        if (_regCacheDirty || dropCache)
        {
            var cache = _regCache;
            for (int i = 0; i < cache.Length; i++)
            {
                ref var slot = ref cache[i];
                if (slot.Dirty != 0) MergeBlock(ref slot);
                if (dropCache) slot = default;
            }
            _regCacheDirty = false;
        }
        if (dropCache)
        {
            _knownTopics.Clear();
            _knownResources.Clear();
            _knownClients.Clear();
        }
        foreach (var slot in _dirtyPolls) FlushPoll(slot);
        _dirtyPolls.Clear();
    }

    private void MergeBlock(ref RegBlock slot)
    {
        int key = slot.Key - 1;
        var table = key >> 24 != 0 ? _baseline.Written : _baseline.Read;
        for (int m = slot.Dirty; m != 0; m &= m - 1)
        {
            int k = System.Numerics.BitOperations.TrailingZeroCount(m);
            ref var r = ref CollectionsMarshal.GetValueRefOrNullRef(table, new RegisterKey(slot.Server, (byte)(key >> 16), (ushort)(key + k)));
            if (!Unsafe.IsNullRef(ref r)) r.Add(in slot.Acc[k]);
            slot.Acc[k] = default;
        }
        slot.Dirty = 0;
    }

    /// <summary>Learns register values (the same as <see cref="Learn"/> on each register, merged later).</summary>
    private void LearnRegisters(bool written, IpAddr server, byte unit, int start, ReadOnlySpan<int> values)
    {
        var cache = _regCache;
        var table = written ? _baseline.Written : _baseline.Read;
        ulong ipHash = (server.Hi ^ server.Lo) * 0x9E3779B97F4A7C15UL;
        int prefix = (written ? 1 : 0) << 24 | unit << 16;
        int i = 0;
        while (i < values.Length)
        {
            // One block at a time: the registers of this event in the block of the next one.
            int first = (ushort)(start + i) & ~(RegBlockSize - 1);
            int key = (prefix | first) + 1;
            int idx = (int)(((ipHash ^ (uint)key) * 0x9E3779B97F4A7C15UL) >> (64 - RegCacheBits));
            ref var slot = ref cache[idx];
            bool mine = slot.Key == key && slot.Server == server;
            if (!mine && slot.Dirty == 0)
            {
                // A slot holding values not merged yet keeps them (merging now would cost lookups, and when more
                // blocks are polled than the cache holds, every block would pay them): this block's registers are
                // then learned straight in the table, as without the cache. A clean slot is taken over.
                slot.Server = server;
                slot.Key = key;
                slot.Seen = 0;
                slot.InTable = 0;
                mine = true;
            }
            int end = Math.Min(values.Length, i + RegBlockSize - ((ushort)(start + i) - first));
            for (; i < end; i++)
            {
                ushort address = (ushort)(start + i);
                int k = address - first;
                int bit = 1 << k;
                if (mine && (slot.Seen & bit) != 0)
                {
                    if ((slot.InTable & bit) != 0)
                    {
                        slot.Acc[k].Add(values[i]);
                        slot.Dirty |= (byte)bit;
                        _regCacheDirty = true;
                    }
                    continue;
                }
                var rk = new RegisterKey(server, unit, address);
                ref var r = ref table.Count < BaselineModel.MaxItems
                    ? ref CollectionsMarshal.GetValueRefOrAddDefault(table, rk, out _)
                    : ref CollectionsMarshal.GetValueRefOrNullRef(table, rk);
                bool inTable = !Unsafe.IsNullRef(ref r);
                if (inTable) r.Add(values[i]);
                if (mine)
                {
                    slot.Seen |= (byte)bit;
                    if (inTable) slot.InTable |= (byte)bit;
                }
            }
        }
    }

    private void FlushLearningIfPending()
    {
        if (_regCacheDirty || _dirtyPolls.Count > 0) FlushLearning(dropCache: false);
    }

    private void FlushPoll(PollSlot slot)
    {
        if (!slot.Dirty) return;
        slot.Dirty = false;
        ref var ps = ref CollectionsMarshal.GetValueRefOrNullRef(_baseline.Polls, slot.Key);
        if (!Unsafe.IsNullRef(ref ps)) ps.Add(in slot.Acc);
        slot.Acc = default;
    }


    /// <summary>
    /// Last request time of each poll (function, unit, address) between one client and one server, keyed by the
    /// packed poll (<see cref="PollSlotKey"/>): the pair is found once per flow through the flow cache, so a
    /// transaction hashes one long in a small table instead of a <see cref="PollKey"/> in a table of every poll.
    /// Entries are never removed and at most <see cref="DetectionOptions.MaxTrackers"/> exist over all pairs (a pair
    /// object exists only with at least one entry).
    /// </summary>
    private sealed class PollPair
    {
        public readonly Dictionary<long, PollSlot> Slots = [];
    }

    private sealed class PollSlot(long last)
    {
        public long Last = last;
        /// <summary>0: not yet learned from; 1: its key is in <see cref="BaselineModel.Polls"/>; 2: it is not (the table was full).</summary>
        public byte State;
        public bool Dirty;
        public PollKey Key;
        /// <summary>Intervals learned since the last <see cref="FlushLearning"/> (state 1).</summary>
        public PollStats Acc;
    }

    private static long PollSlotKey(byte fc, byte unit, int address) => ((long)fc << 40) | ((long)unit << 32) | (uint)address;

    /// <summary>
    /// The flow caches, direct-mapped by flow id: a flow finds its cache with one multiply and one compare. A flow
    /// whose slot another flow took starts a new cache (only a cache: the same results, some lookups again).
    /// </summary>
    private const int FlowCacheBits = 13;
    private readonly FlowCache?[] _flowCache = new FlowCache?[1 << FlowCacheBits];
    private int _pairGeneration;

    private FlowCache CacheOf(in FlowEndpoints flow, in ServiceKey svc)
    {
        int i = (int)(((ulong)flow.FlowId * 0x9E3779B97F4A7C15UL) >> (64 - FlowCacheBits));
        var c = _flowCache[i];
        if (c is not null && c.FlowId == flow.FlowId && c.Service == svc) return c;
        // Nothing keeps a flow's cache beyond the event it is used for: the slot's object becomes the new flow's.
        if (c is not null)
        {
            c.Reset(flow.FlowId, in svc);
            return c;
        }
        c = new FlowCache(flow.FlowId, svc);
        _flowCache[i] = c;
        return c;
    }

    private static ServiceKey ServiceOf(in FlowEndpoints flow) => new(flow.ClientIp, flow.ServerIp, (byte)flow.Transport, flow.ServerPort, flow.Protocol);

    private static bool IsKnown(FlowCache c, int code, bool hasCode)
        => hasCode ? (uint)code < 256 && (c.KnownCodes[code >> 6] & (1UL << (code & 63))) != 0 : c.KnownWithoutCode;

    private static void SetKnown(FlowCache c, int code, bool hasCode)
    {
        if (!hasCode) c.KnownWithoutCode = true;
        else if ((uint)code < 256) c.KnownCodes[code >> 6] |= 1UL << (code & 63);
    }
    private readonly Dictionary<PairKey, ModbusPair> _modbusPairs = [];
    private readonly Dictionary<PairKey, PollPair> _pollPairs = [];
    private int _pollSlots;
    private PairKey _lastPairKey;
    private ModbusPair? _lastPair;

    private ModbusPair Pair(FlowCache c, in FlowEndpoints flow)
    {
        if (c.Pair is not null && c.PairGeneration == _pairGeneration) return c.Pair;
        var p = Pair(flow.ClientIp, flow.ServerIp);
        c.Pair = p;
        c.PairGeneration = _pairGeneration;
        return p;
    }

    private ModbusPair Pair(IpAddr client, IpAddr server)
    {
        var key = new PairKey(client, server);
        if (_lastPair is not null && _lastPairKey == key) return _lastPair;
        if (!_modbusPairs.TryGetValue(key, out var p))
        {
            if (_modbusPairs.Count >= _options.MaxTrackers)
            {
                TrackersDropped += _modbusPairs.Count;
                _modbusPairs.Clear();
                _pairGeneration++;
            }
            p = new ModbusPair();
            _modbusPairs.Add(key, p);
        }
        _lastPairKey = key;
        _lastPair = p;
        return p;
    }

    private static bool IsWrite(byte fc) => fc is 5 or 6 or 15 or 16 or 22 or 23;


    private void OnModbus(in EventEntry e, EventBuffer buffer)
    {
        ref readonly var tx = ref e.Transaction;
        var (ts, packet) = When(in tx);
        if (tx.Anomalies != 0) TransactionAnomalies(in e, tx.Anomalies, ts, packet);
        var req = tx.HasRequest ? buffer.Slice(e.RequestOffset, e.RequestLength) : default;
        var resp = tx.HasResponse ? buffer.Slice(e.ResponseOffset, e.ResponseLength) : default;
        if (!ModbusTransactionFields.TryExtract(req, resp, out var f)) return;
        ref readonly var flow = ref e.Flow;
        byte fc = (byte)(f.Function & 0x7F);
        byte unit = f.UnitId;
        bool hasReq = req.Length >= 8;
        long reqTs = tx.RequestTs != 0 ? tx.RequestTs : ts;
        // The flow's cache, once per transaction (pair counters, known codes, poll table).
        var svc = ServiceOf(in flow);
        var cache = CacheOf(in flow, in svc);

        if (hasReq)
        {
            Signatures(in e, ref f, req, fc, unit, ts, packet);
            var p = Pair(cache, in flow);
            Scans(in e, ref f, p, fc, unit, ts, packet);
        }
        else if (f.IsException)
        {
            var p = Pair(cache, in flow);
            Scans(in e, ref f, p, fc, unit, ts, packet);
        }

        if (Mode == BaselineMode.Off) return;
        if (Learning) StartLearning(ts);
        Common(in flow, in svc, cache, fc, ts, packet, hasReq || f.IsException);
        if (!hasReq) return;
        ModbusBaseline(in e, ref f, cache, fc, unit, reqTs, ts, packet);
    }

    // The per-transaction methods keep the alerts' messages and evidence in separate methods: building them needs
    // large stack temporaries (interpolation handlers, evidence tuples) that every call would otherwise clear.
    private void Signatures(in EventEntry e, ref ModbusTransactionFields f, ReadOnlySpan<byte> req, byte fc, byte unit, long ts, long packet)
    {
        ref readonly var flow = ref e.Flow;
        if (fc == 8 && f.SubFunction is int sub)
        {
            string type = sub switch
            {
                4 => "modbus_diag_force_listen_only",
                1 => "modbus_diag_restart_comm",
                10 or 20 => "modbus_diag_clear_counters",
                _ => "modbus_diagnostics_other",
            };
            if (!Handled(type, flow.ClientIp, flow.ServerIp, ts, out var t)) DiagnosticsAlert(t, in flow, ref f, sub, unit, ts, packet);
        }

        if (IsProgramTransfer(fc, req, out string? what))
        {
            if (!Handled("modbus_program_download", flow.ClientIp, flow.ServerIp, ts, out var t)) ProgramTransferAlert(t, in flow, ref f, req, what, fc, unit, ts, packet);
        }

        if (unit == 0 && IsWrite(fc))
        {
            if (!Handled("modbus_broadcast_write", flow.ClientIp, flow.ServerIp, ts, out var t)) BroadcastWriteAlert(t, in flow, ref f, fc, ts, packet);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void DiagnosticsAlert(AlertType t, in FlowEndpoints flow, ref ModbusTransactionFields f, int sub, byte unit, long ts, long packet)
    {
        Create(t, Client(in flow), Server(in flow), "modbus", ts, packet,
            $"{t.Name}: client {Ip(flow.ClientIp)} sent FC 8 sub-function {sub} to unit {unit} of {Ip(flow.ServerIp)}",
            Ev(("unit", unit), ("function", 8), ("sub_function", sub), ("answered", f.HasResponse ? "true" : "false")));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ProgramTransferAlert(AlertType t, in FlowEndpoints flow, ref ModbusTransactionFields f, ReadOnlySpan<byte> req, string? what, byte fc, byte unit, long ts, long packet)
    {
        Create(t, Client(in flow), Server(in flow), "modbus", ts, packet,
            $"Modbus program/firmware transfer ({what}) from {Ip(flow.ClientIp)} to unit {unit} of {Ip(flow.ServerIp)}",
            Ev(("unit", unit), ("function", fc), ("function_name", f.FunctionName), ("operation", what),
                ("umas_function", fc == 90 && req.Length >= 10 ? req[9] : null)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void BroadcastWriteAlert(AlertType t, in FlowEndpoints flow, ref ModbusTransactionFields f, byte fc, long ts, long packet)
    {
        Create(t, Client(in flow), Server(in flow), "modbus", ts, packet,
            $"Modbus broadcast write: {f.FunctionName} to unit 0 of {Ip(flow.ServerIp)} from {Ip(flow.ClientIp)}",
            Ev(("unit", 0), ("function", fc), ("function_name", f.FunctionName), ("address", f.Address), ("quantity", f.Quantity)));
    }

    /// <summary>UMAS (FC 90) program download/upload and PLC start/stop, FC 0x7D/0x7E firmware functions, FC 21 file record write.</summary>
    private static bool IsProgramTransfer(byte fc, ReadOnlySpan<byte> req, out string? what)
    {
        what = null;
        if (fc == 21)
        {
            what = "write file record";
            return true;
        }
        if (fc is 0x7D or 0x7E)
        {
            what = "firmware function " + fc.ToString(CultureInfo.InvariantCulture);
            return true;
        }
        if (fc == 90 && req.Length >= 10)
        {
            what = req[9] switch
            {
                0x30 => "UMAS initialize download",
                0x31 => "UMAS download block",
                0x32 => "UMAS end download",
                0x33 => "UMAS initialize upload",
                0x34 => "UMAS upload block",
                0x35 => "UMAS end upload",
                0x40 => "UMAS start PLC",
                0x41 => "UMAS stop PLC",
                _ => null,
            };
            return what is not null;
        }
        return false;
    }

    private void Scans(in EventEntry e, ref ModbusTransactionFields f, ModbusPair p, byte fc, byte unit, long ts, long packet)
    {
        ref readonly var flow = ref e.Flow;
        bool hasReq = f.HasRequest;

        // Function code scan: many distinct function codes, with ILLEGAL_FUNCTION answers.
        long w = WindowNs(s_modbusFunctionCodeScan);
        if (ts - p.FcStart > w)
        {
            p.FcStart = ts;
            p.FcsLow = 0;
            p.FcsHigh = 0;
            p.IllegalFunction = 0;
        }
        int bit = fc & 127;
        if (bit < 64) p.FcsLow |= 1UL << bit;
        else p.FcsHigh |= 1UL << (bit - 64);
        if (f.ExceptionCode == 1) p.IllegalFunction++;
        double th = Threshold(s_modbusFunctionCodeScan);
        int distinct = System.Numerics.BitOperations.PopCount(p.FcsLow) + System.Numerics.BitOperations.PopCount(p.FcsHigh);
        if (distinct >= th && p.IllegalFunction >= th / 2 && !Handled("modbus_function_code_scan", flow.ClientIp, flow.ServerIp, ts, out var t1))
        {
            FunctionCodeScanAlert(t1, in flow, p, distinct, unit, ts, packet);
        }

        // Points scan: ILLEGAL_DATA_ADDRESS answers, or many distinct 100-address blocks read.
        w = WindowNs(s_modbusPointsScan);
        if (ts - p.AddrStart > w)
        {
            p.AddrStart = ts;
            p.IllegalAddress = 0;
            p.Blocks.Clear();
        }
        if (f.ExceptionCode == 2) p.IllegalAddress++;
        if (hasReq && f.Address is int addr && p.Blocks.Count < 4096) p.Blocks.Add((fc << 16) | (addr / 100));
        th = Threshold(s_modbusPointsScan);
        if ((p.IllegalAddress >= th || p.Blocks.Count >= th * 3) && !Handled("modbus_points_scan", flow.ClientIp, flow.ServerIp, ts, out var t2))
        {
            PointsScanAlert(t2, in flow, ref f, p, fc, unit, ts, packet);
        }

        // Unit id scan.
        w = WindowNs(s_modbusUnitIdScan);
        if (ts - p.UnitStart > w)
        {
            p.UnitStart = ts;
            p.Units = default;
        }
        if (hasReq) p.Units[unit >> 6] |= 1UL << (unit & 63);
        int units = 0;
        foreach (ulong u in p.Units) units += System.Numerics.BitOperations.PopCount(u);
        th = Threshold(s_modbusUnitIdScan);
        if (units >= th && !Handled("modbus_unit_id_scan", flow.ClientIp, flow.ServerIp, ts, out var t3))
        {
            UnitIdScanAlert(t3, in flow, units, unit, ts, packet);
        }

        // Exception burst: ACKNOWLEDGE (5) / SLAVE_DEVICE_BUSY (6).
        if (f.ExceptionCode is 5 or 6)
        {
            w = WindowNs(s_modbusExceptionBurst);
            if (ts - p.BusyStart > w)
            {
                p.BusyStart = ts;
                p.Busy = 0;
            }
            p.Busy++;
            th = Threshold(s_modbusExceptionBurst);
            if (p.Busy >= th && !Handled("modbus_exception_burst", flow.ServerIp, flow.ClientIp, ts, out var t4))
            {
                ExceptionBurstAlert(t4, in flow, ref f, p, unit, ts, packet);
            }
        }

        // Request flood.
        if (hasReq)
        {
            w = WindowNs(s_modbusRequestFlood);
            if (ts - p.FloodStart > w)
            {
                p.FloodStart = ts;
                p.Requests = 0;
            }
            p.Requests++;
            th = Threshold(s_modbusRequestFlood);
            if (p.Requests >= th && !Handled("modbus_request_flood", flow.ClientIp, flow.ServerIp, ts, out var t5))
            {
                RequestFloodAlert(t5, in flow, p, w, fc, unit, ts, packet);
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void FunctionCodeScanAlert(AlertType t, in FlowEndpoints flow, ModbusPair p, int distinct, byte unit, long ts, long packet)
    {
        Create(t, Client(in flow), Server(in flow), "modbus", ts, packet,
            $"Modbus function code scan: {Ip(flow.ClientIp)} tried {distinct} function codes on {Ip(flow.ServerIp)} ({p.IllegalFunction} ILLEGAL_FUNCTION)",
            Ev(("distinct_function_codes", distinct), ("illegal_function_exceptions", p.IllegalFunction), ("unit", unit)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PointsScanAlert(AlertType t, in FlowEndpoints flow, ref ModbusTransactionFields f, ModbusPair p, byte fc, byte unit, long ts, long packet)
    {
        Create(t, Client(in flow), Server(in flow), "modbus", ts, packet,
            $"Modbus points scan: {Ip(flow.ClientIp)} swept addresses of {Ip(flow.ServerIp)} ({p.IllegalAddress} ILLEGAL_DATA_ADDRESS, {p.Blocks.Count} address blocks)",
            Ev(("illegal_data_address_exceptions", p.IllegalAddress), ("address_blocks", p.Blocks.Count), ("unit", unit), ("last_address", f.Address), ("function", fc)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void UnitIdScanAlert(AlertType t, in FlowEndpoints flow, int units, byte unit, long ts, long packet)
    {
        Create(t, Client(in flow), Server(in flow), "modbus", ts, packet,
            $"Modbus unit id scan: {Ip(flow.ClientIp)} addressed {units} unit ids behind {Ip(flow.ServerIp)}",
            Ev(("distinct_unit_ids", units), ("last_unit", unit)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ExceptionBurstAlert(AlertType t, in FlowEndpoints flow, ref ModbusTransactionFields f, ModbusPair p, byte unit, long ts, long packet)
    {
        Create(t, Server(in flow), Client(in flow), "modbus", ts, packet,
            $"Modbus exception burst: {Ip(flow.ServerIp)} answered {p.Busy} busy/acknowledge exceptions to {Ip(flow.ClientIp)}",
            Ev(("exceptions", p.Busy), ("last_exception_code", f.ExceptionCode), ("unit", unit)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RequestFloodAlert(AlertType t, in FlowEndpoints flow, ModbusPair p, long w, byte fc, byte unit, long ts, long packet)
    {
        Create(t, Client(in flow), Server(in flow), "modbus", ts, packet,
            $"Modbus request flood: {Ip(flow.ClientIp)} sent {p.Requests} requests to {Ip(flow.ServerIp)} within {w / 1e9:0.###} s",
            Ev(("requests", p.Requests), ("window_seconds", w / 1e9), ("unit", unit), ("function", fc)));
    }

    // ------------------------------------------------------------------ baseline (all protocols + Modbus specifics)

    /// <summary>Assets, link, service and function code of one event: learn, or raise the first thing that is new.</summary>
    private void Common(in FlowEndpoints flow, int code, long ts, long packet, bool hasCode)
    {
        var svc = ServiceOf(in flow);
        Common(in flow, in svc, CacheOf(in flow, in svc), code, ts, packet, hasCode);
    }

    private void Common(in FlowEndpoints flow, in ServiceKey svc, FlowCache cache, int code, long ts, long packet, bool hasCode)
    {
        // The same poll repeats: once its assets, link, service and code are all in the baseline, learning adds
        // nothing and protection raises nothing (the tables only grow), so the flow's cache skips the five lookups.
        if (IsKnown(cache, code, hasCode)) return;
        CommonNew(in flow, in svc, cache, code, ts, packet, hasCode);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CommonNew(in FlowEndpoints flow, in ServiceKey svc, FlowCache cache, int code, long ts, long packet, bool hasCode)
    {
        var b = _baseline;
        var ck = new CodeKey(flow.ClientIp, flow.ServerIp, flow.Protocol, code);
        if (Learning)
        {
            if (b.ItemCount >= BaselineModel.MaxItems) return;
            // The tables only grow: once this flow added its assets, link and service, adding them again changes nothing.
            if (!cache.KnownEndpoints)
            {
                if (!flow.ClientIp.IsZero) b.Assets.TryAdd(flow.ClientIp, flow.ClientMac);
                if (!flow.ServerIp.IsZero) b.Assets.TryAdd(flow.ServerIp, flow.ServerMac);
                b.Links.Add(new PairKey(flow.ClientIp, flow.ServerIp));
                b.Services.Add(svc);
                cache.KnownEndpoints = true;
            }
            if (hasCode) b.Codes.Add(ck);
            SetKnown(cache, code, hasCode);
            return;
        }
        if (!Protecting) return;
        if ((flow.ClientIp.IsZero || b.Assets.ContainsKey(flow.ClientIp)) && (flow.ServerIp.IsZero || b.Assets.ContainsKey(flow.ServerIp))
            && b.Links.Contains(new PairKey(flow.ClientIp, flow.ServerIp)) && b.Services.Contains(svc) && (!hasCode || b.Codes.Contains(ck)))
        {
            SetKnown(cache, code, hasCode);
            return;
        }
        CommonAlerts(in flow, in svc, code, ts, packet, hasCode);
    }

    /// <summary>Protecting: raises the first thing of the event that is not in the baseline.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void CommonAlerts(in FlowEndpoints flow, in ServiceKey svc, int code, long ts, long packet, bool hasCode)
    {
        var b = _baseline;
        var ck = new CodeKey(flow.ClientIp, flow.ServerIp, flow.Protocol, code);
        string proto = ProtoName(flow.Protocol);
        bool newAsset = false;
        if (!flow.ClientIp.IsZero && !b.Assets.ContainsKey(flow.ClientIp))
        {
            newAsset = true;
            if (!Handled("new_asset", flow.ClientIp, flow.ServerIp, ts, out var t))
            {
                Create(t, Client(in flow), Server(in flow), proto, ts, packet, $"New asset {Ip(flow.ClientIp)} ({Mac(flow.ClientMac)}) talking {proto} to {Ip(flow.ServerIp)}",
                    Ev(("asset_ip", Ip(flow.ClientIp)), ("asset_mac", Mac(flow.ClientMac)), ("role", "client"), ("protocol", proto), ("port", flow.ServerPort)));
            }
        }
        if (!flow.ServerIp.IsZero && !b.Assets.ContainsKey(flow.ServerIp))
        {
            newAsset = true;
            if (!Handled("new_asset", flow.ServerIp, flow.ClientIp, ts, out var t))
            {
                Create(t, Server(in flow), Client(in flow), proto, ts, packet, $"New asset {Ip(flow.ServerIp)} ({Mac(flow.ServerMac)}) serving {proto} to {Ip(flow.ClientIp)}",
                    Ev(("asset_ip", Ip(flow.ServerIp)), ("asset_mac", Mac(flow.ServerMac)), ("role", "server"), ("protocol", proto), ("port", flow.ServerPort)));
            }
        }
        if (newAsset) return;
        if (!b.Links.Contains(new PairKey(flow.ClientIp, flow.ServerIp)))
        {
            if (!Handled("new_link", flow.ClientIp, flow.ServerIp, ts, out var t))
            {
                Create(t, Client(in flow), Server(in flow), proto, ts, packet, $"New link {Ip(flow.ClientIp)} → {Ip(flow.ServerIp)} ({proto} port {flow.ServerPort})",
                    Ev(("protocol", proto), ("port", flow.ServerPort)));
            }
            return;
        }
        if (!b.Services.Contains(svc))
        {
            if (!Handled("new_protocol", flow.ClientIp, flow.ServerIp, ts, out var t))
            {
                Create(t, Client(in flow), Server(in flow), proto, ts, packet, $"New protocol on link {Ip(flow.ClientIp)} → {Ip(flow.ServerIp)}: {proto} port {flow.ServerPort}",
                    Ev(("protocol", proto), ("port", flow.ServerPort), ("transport", flow.Transport.ToString().ToLowerInvariant())));
            }
            return;
        }
        if (hasCode && !b.Codes.Contains(ck))
        {
            if (!Handled("new_function_code", flow.ClientIp, flow.ServerIp, ts, out var t))
            {
                Create(t, Client(in flow), Server(in flow), proto, ts, packet, $"New {proto} {CodeWord(flow.Protocol)} {CodeName(flow.Protocol, code)} on link {Ip(flow.ClientIp)} → {Ip(flow.ServerIp)}",
                    Ev(("protocol", proto), ("code", code), ("code_name", CodeName(flow.Protocol, code))));
            }
        }
    }

    private static string CodeWord(ProtocolId p) => p switch
    {
        ProtocolId.Modbus => "function code",
        ProtocolId.Mqtt => "packet type",
        ProtocolId.Coap => "method",
        _ => "code",
    };

    private static string CodeName(ProtocolId p, int code) => p switch
    {
        ProtocolId.Modbus => $"{code} ({ModbusFunctions.Name((byte)code)})",
        ProtocolId.Mqtt => Protocols.Mqtt.MqttFields.PacketTypeName((Protocols.Mqtt.MqttPacketType)code).ToUpperInvariant(),
        ProtocolId.Coap => CoapMethodName(code),
        _ => code.ToString(CultureInfo.InvariantCulture),
    };

    private const int MaxValuesPerEvent = 32;

    [SkipLocalsInit] // values: only the part each event writes is read
    private void ModbusBaseline(in EventEntry e, ref ModbusTransactionFields f, FlowCache cache, byte fc, byte unit, long reqTs, long ts, long packet)
    {
        ref readonly var flow = ref e.Flow;
        var b = _baseline;
        Span<int> values = stackalloc int[MaxValuesPerEvent];

        // Polling period per (client, server, function, unit, address): the pair's table through the flow cache.
        int address = f.Address ?? -1;
        if (!cache.PollsResolved)
        {
            cache.Polls = _pollPairs.GetValueOrDefault(new PairKey(flow.ClientIp, flow.ServerIp));
            // No pair object while the tables are full: none can be added later (entries are never removed).
            cache.PollsResolved = cache.Polls is not null || _pollSlots >= _options.MaxTrackers;
        }
        PollSlot? slot = null;
        long slotKey = PollSlotKey(fc, unit, address);
        cache.Polls?.Slots.TryGetValue(slotKey, out slot);
        if (slot is not null && reqTs > slot.Last)
        {
            long interval = reqTs - slot.Last;
            if (Learning)
            {
                // The first interval puts the poll in the table (or finds it full, for good); later ones accumulate
                // in the slot until FlushLearning merges them.
                if (slot.State == 1)
                {
                    slot.Acc.Add(interval);
                    if (!slot.Dirty)
                    {
                        slot.Dirty = true;
                        _dirtyPolls.Add(slot);
                        if (_dirtyPolls.Count >= MaxDirtyPolls) FlushLearning(dropCache: false);
                    }
                }
                else if (slot.State == 0)
                {
                    var pk = new PollKey(flow.ClientIp, flow.ServerIp, ProtocolId.Modbus, fc, unit, address);
                    ref var ps = ref b.Polls.Count < BaselineModel.MaxItems
                        ? ref CollectionsMarshal.GetValueRefOrAddDefault(b.Polls, pk, out _)
                        : ref CollectionsMarshal.GetValueRefOrNullRef(b.Polls, pk);
                    if (!Unsafe.IsNullRef(ref ps))
                    {
                        ps.Add(interval);
                        slot.Key = pk;
                        slot.State = 1;
                    }
                    else
                    {
                        slot.State = 2;
                    }
                }
            }
            else if (Protecting)
            {
                PollDeviation(in flow, ref f, fc, unit, address, interval, ts, packet);
            }
        }
        if (slot is not null)
        {
            slot.Last = reqTs;
        }
        else if (_pollSlots < _options.MaxTrackers)
        {
            if (cache.Polls is null)
            {
                cache.Polls = new PollPair();
                cache.PollsResolved = true;
                _pollPairs.Add(new PairKey(flow.ClientIp, flow.ServerIp), cache.Polls);
            }
            cache.Polls.Slots.Add(slotKey, new PollSlot(reqTs));
            _pollSlots++;
        }

        // Writes.
        if (IsWrite(fc) && unit != 0)
        {
            int n;
            int start;
            if (fc == 23)
            {
                n = f.CopyWriteValues(values);
                start = f.WriteAddress ?? 0;
            }
            else if (fc == 22)
            {
                n = 0;
                start = f.Address ?? 0;
            }
            else
            {
                n = f.CopyValues(values);
                start = f.Address ?? 0;
            }
            var wk = new WriterKey(flow.ClientIp, flow.ServerIp, unit);
            if (Learning)
            {
                // The writers table only grows: once this flow's writer is in it, adding again changes nothing.
                ulong bit = 1UL << (unit & 63);
                if ((cache.KnownWriters[unit >> 6] & bit) == 0)
                {
                    b.Writers.Add(wk);
                    cache.KnownWriters[unit >> 6] |= bit;
                }
                if (fc == 22 && f.Address is int a22) Learn(b.Written, new RegisterKey(flow.ServerIp, unit, (ushort)a22), null);
                LearnRegisters(written: true, flow.ServerIp, unit, start, values[..n]);
            }
            else if (Protecting)
            {
                ProtectWrite(in flow, ref f, wk, fc, unit, start, values[..n], ts, packet);
            }
        }

        // Holding register values read (FC 3, FC 23).
        if ((fc == 3 || fc == 23) && f.HasResponse && !f.IsException && f.Address is int ra)
        {
            int n = f.CopyValues(values);
            if (Learning)
            {
                LearnRegisters(written: false, flow.ServerIp, unit, ra, values[..n]);
                return;
            }
            if (Protecting) ProtectRead(in flow, fc, unit, ra, values[..n], ts, packet);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void PollDeviation(in FlowEndpoints flow, ref ModbusTransactionFields f, byte fc, byte unit, int address, long interval, long ts, long packet)
    {
        if (PolledStats(new PollKey(flow.ClientIp, flow.ServerIp, ProtocolId.Modbus, fc, unit, address), out var ps) && ps.Intervals >= 5 && ps.MaxNs <= 3 * Math.Max(1, ps.MinNs))
        {
            double factor = Math.Max(1.5, Threshold(s_pollingCycleDeviation));
            if (interval < ps.MinNs / factor || interval > ps.MaxNs * factor)
            {
                if (!Handled("polling_cycle_deviation", flow.ClientIp, flow.ServerIp, ts, out var t))
                {
                    Create(t, Client(in flow), Server(in flow), "modbus", ts, packet,
                        string.Create(CultureInfo.InvariantCulture, $"Polling cycle deviation {Ip(flow.ClientIp)} → {Ip(flow.ServerIp)} FC {fc} unit {unit}: {interval / 1e6:0.###} ms, learned {ps.MinNs / 1e6:0.###}-{ps.MaxNs / 1e6:0.###} ms (mean {ps.MeanNs / 1e6:0.###} ms)"),
                        Ev(("function", fc), ("unit", unit), ("address", f.Address), ("interval_ms", interval / 1e6), ("learned_min_ms", ps.MinNs / 1e6),
                            ("learned_max_ms", ps.MaxNs / 1e6), ("learned_mean_ms", ps.MeanNs / 1e6)));
                }
            }
        }
    }

    /// <summary>Protecting: a write by an unknown master, to an address never written, or of a value out of the learned range.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ProtectWrite(in FlowEndpoints flow, ref ModbusTransactionFields f, WriterKey wk, byte fc, byte unit, int start, scoped ReadOnlySpan<int> values, long ts, long packet)
    {
        var b = _baseline;
        int n = values.Length;
        FlushLearningIfPending();
        if (!b.Writers.Contains(wk))
        {
            if (!Handled("modbus_write_unauthorized_master", flow.ClientIp, flow.ServerIp, ts, out var t))
            {
                Create(t, Client(in flow), Server(in flow), "modbus", ts, packet,
                    $"Modbus write by {Ip(flow.ClientIp)}, which never wrote to unit {unit} of {Ip(flow.ServerIp)}: {f.FunctionName} address {start}",
                    Ev(("unit", unit), ("function", fc), ("function_name", f.FunctionName), ("address", start), ("quantity", f.Quantity ?? n)));
            }
        }
        else
        {
            int count = fc == 22 ? 1 : n;
            for (int i = 0; i < count; i++)
            {
                var rk = new RegisterKey(flow.ServerIp, unit, (ushort)(start + i));
                if (!b.Written.TryGetValue(rk, out var range))
                {
                    if (!Handled("modbus_write_new_range", flow.ClientIp, flow.ServerIp, ts, out var t))
                    {
                        Create(t, Client(in flow), Server(in flow), "modbus", ts, packet,
                            $"Modbus write to address {start + i} of unit {unit} of {Ip(flow.ServerIp)}, never written while learning ({f.FunctionName})",
                            Ev(("unit", unit), ("function", fc), ("address", start + i), ("write_start", start), ("quantity", count)));
                    }
                    break;
                }
                if (fc == 22 || range.Samples == 0) continue;
                int margin = (int)Threshold(s_modbusWriteValueOutOfRange);
                if (values[i] < range.Min - margin || values[i] > range.Max + margin)
                {
                    if (!Handled("modbus_write_value_out_of_range", flow.ClientIp, flow.ServerIp, ts, out var t))
                    {
                        Create(t, Client(in flow), Server(in flow), "modbus", ts, packet,
                            $"Modbus write of {values[i]} to unit {unit} address {start + i} of {Ip(flow.ServerIp)}: outside the learned range {range.Min}..{range.Max}",
                            Ev(("unit", unit), ("function", fc), ("address", start + i), ("value", values[i]), ("learned_min", range.Min), ("learned_max", range.Max)));
                    }
                    break;
                }
            }
        }
    }

    /// <summary>Protecting: a holding register value read out of its learned range.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ProtectRead(in FlowEndpoints flow, byte fc, byte unit, int ra, ReadOnlySpan<int> values, long ts, long packet)
    {
        var b = _baseline;
        FlushLearningIfPending();
        for (int i = 0; i < values.Length; i++)
        {
            var rk = new RegisterKey(flow.ServerIp, unit, (ushort)(ra + i));
            if (b.Read.TryGetValue(rk, out var range) && range.Samples >= 5)
            {
                int margin = Math.Max((int)Threshold(s_processValueOutOfRange), (range.Max - range.Min) / 10);
                if (values[i] < range.Min - margin || values[i] > range.Max + margin)
                {
                    if (!Handled("process_value_out_of_range", flow.ServerIp, flow.ClientIp, ts, out var t))
                    {
                        Create(t, Server(in flow), Client(in flow), "modbus", ts, packet,
                            $"Process value {values[i]} at unit {unit} holding register {ra + i} of {Ip(flow.ServerIp)}: outside the learned range {range.Min}..{range.Max}",
                            Ev(("unit", unit), ("function", fc), ("address", ra + i), ("value", values[i]), ("learned_min", range.Min), ("learned_max", range.Max)));
                    }
                    break;
                }
            }
        }
    }

    private bool PolledStats(PollKey key, out PollStats stats)
    {
        FlushLearningIfPending();
        return _baseline.Polls.TryGetValue(key, out stats);
    }

    private static void Learn(Dictionary<RegisterKey, ValueRange> table, RegisterKey key, int? value)
    {
        // One hash lookup: find-or-add while there is room, find only when the table is full.
        ref var r = ref table.Count < BaselineModel.MaxItems
            ? ref CollectionsMarshal.GetValueRefOrAddDefault(table, key, out _)
            : ref CollectionsMarshal.GetValueRefOrNullRef(table, key);
        if (Unsafe.IsNullRef(ref r)) return;
        if (value is int v) r.Add(v);
    }
}
