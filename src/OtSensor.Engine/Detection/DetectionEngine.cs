using System.Diagnostics;
using System.Globalization;
using System.Text;
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Pipeline;
using OtSensor.Protocols.Coap;
using OtSensor.Protocols.Modbus;
using OtSensor.Protocols.Mqtt;
using OtSensor.Store;

namespace OtSensor.Detection;

/// <summary>How the learned baseline is used during a replay.</summary>
public enum BaselineMode
{
    /// <summary>No baseline (signatures and protocol violations only).</summary>
    Off = 0,
    /// <summary>Follow the store: learn until the learning period ends or the baseline is locked, then protect.</summary>
    Auto = 1,
    /// <summary>Learn during this replay whatever the learning period.</summary>
    Learn = 2,
    /// <summary>Protect during this replay (locks the baseline).</summary>
    Protect = 3,
}

/// <summary>
/// The detection stage (an <see cref="IEventConsumer"/> on one analysis thread, deterministic, no locks):
/// protocol violations from the dissectors' anomalies, policy and attack signatures with configurable thresholds,
/// and the learned baseline. Alerts are aggregated (type + source + destination within the aggregation window),
/// keep a trace of their packets, and are written to the store in batches on a background task.
/// </summary>
public sealed partial class DetectionEngine : IEventConsumer
{
    private sealed class OpenAlert(Alert alert)
    {
        public Alert Alert { get; } = alert;
        public bool Dirty { get; set; }
    }

    private readonly record struct Party(IpAddr Ip, MacAddress Mac, ushort Port);

    private readonly DetectionOptions _options;
    private readonly AlertStore? _store;
    private readonly AlertStoreWriter? _writer;
    private readonly TraceRing _ring;
    private readonly long _aggregationNs;
    private readonly bool[] _enabled;
    // Per alert type (by AlertType.Index), resolved once from the options: no string lookups per event.
    private readonly double[] _thresholds;
    private readonly long[] _windowsNs;
    private readonly int[] _severities;
    private readonly bool[] _learnable;
    private readonly Dictionary<(int Type, IpAddr Src, IpAddr Dst), OpenAlert> _open = [];
    private readonly List<OpenAlert> _dirty = [];
    private readonly List<(int Type, IpAddr Src, IpAddr Dst)> _expired = [];
    private List<AlertWrite> _pending = [];
    private readonly List<Alert> _raised = [];
    private readonly TraceArena _traceArena = new(MaxTracesKept);
    // The traces of the pending store writes, and of the batch submitted last (reused once it is written).
    private TraceBuffer _traceBuffer = new();
    private TraceBuffer? _spareTraceBuffer;
    private readonly List<long> _tracePackets = [];
    private readonly HashSet<(int Type, IpAddr Src, IpAddr Dst)> _findings = [];
    private long _nextId;
    private long _lastFlushTicks = Stopwatch.GetTimestamp();
    private bool _baselineDirty;

    public DetectionEngine(DetectionOptions? options = null, AlertStore? store = null, BaselineMode baseline = BaselineMode.Auto)
    {
        _options = options ?? new DetectionOptions();
        _store = store;
        _writer = store is null ? null : new AlertStoreWriter(store);
        _ring = new TraceRing(_options.TraceRingBytes, _options.TraceRingFrames);
        _aggregationNs = (long)(_options.AggregationWindowSeconds * 1e9);
        _enabled = new bool[AlertCatalog.All.Count];
        _thresholds = new double[AlertCatalog.All.Count];
        _windowsNs = new long[AlertCatalog.All.Count];
        _severities = new int[AlertCatalog.All.Count];
        _learnable = new bool[AlertCatalog.All.Count];
        foreach (var t in AlertCatalog.All)
        {
            _enabled[t.Index] = _options.IsEnabled(t.Id);
            _thresholds[t.Index] = _options.Threshold(t.Id);
            _windowsNs[t.Index] = _options.WindowNs(t.Id);
            _severities[t.Index] = _options.SeverityOf(t);
            _learnable[t.Index] = s_learnable.Contains(t.Id);
        }
        Mode = baseline;
        _baseline = store?.ReadBaseline() ?? new BaselineModel();
        BaselineState = store?.ReadBaselineState() ?? new BaselineState();
        foreach (var f in _baseline.Findings) AddFindingKey(f);
        if (baseline == BaselineMode.Protect && BaselineState.Mode != BaselineState.Protecting)
        {
            BaselineState.Mode = BaselineState.Protecting;
            _baselineDirty = true;
        }
        else if (baseline == BaselineMode.Learn && BaselineState.Mode != BaselineState.Learning)
        {
            BaselineState.Mode = BaselineState.Learning;
            BaselineState.LearnUntilNs = 0;
            _baselineDirty = true;
        }
        if (store is not null)
        {
            _nextId = store.MaxAlertId() + 1;
            foreach (var a in store.ReadAfter(Math.Max(0, _nextId - 1 - _options.MaxOpenAlerts), _options.MaxOpenAlerts))
            {
                if (!AlertCatalog.TryGet(a.Type, out var t)) continue;
                _open[(t.Index, ParseIp(a.SrcIp), ParseIp(a.DstIp))] = new OpenAlert(a);
            }
        }
        else
        {
            _nextId = 1;
        }
    }

    public DetectionOptions Options => _options;

    /// <summary>
    /// The inventory's asset keys (<c>mac:…</c> / <c>ip:…</c>) for the alerts' <see cref="Alert.SrcAsset"/> /
    /// <see cref="Alert.DstAsset"/>, as the inventory named the endpoints at the packet or event that raised the
    /// alert. Null (the default, no inventory running): the fields stay empty. The inventory must come before this
    /// engine in the consumers' order (it did when both ran on one thread: it had handled each point first).
    /// </summary>
    public OtSensor.Inventory.AssetNaming? Naming { get; set; }

    /// <summary>
    /// Detection reads no other consumer's state (the inventory's asset keys come through <see cref="Naming"/>, which
    /// is safe to read from another thread): it runs on an analysis thread of its own, and the alerts are the same (it
    /// sees the same batches and events in the same order).
    /// </summary>
    public bool RunsApart => true;

    // Where the consumers' order is (see AssetNaming): the batch and the index of the event being handled.
    private long _batchSequence;
    private long _eventIndex;

    /// <summary>Alerts created since the last naming, with their endpoints and the point they were raised at.</summary>
    private readonly List<(Alert Alert, MacAddress SrcMac, IpAddr SrcIp, MacAddress DstMac, IpAddr DstIp, long Stamp)> _unnamed = [];

    /// <summary>
    /// Names the assets of the alerts created since the last call, once the inventory has got as far as the last of
    /// them (<paramref name="wait"/> false: it has finished, at the end of the run).
    /// </summary>
    private void NameAssets(bool wait)
    {
        var naming = Naming;
        if (naming is null) return;
        lock (_namingLock)
        {
            if (_unnamed.Count == 0) return;
            if (wait && !naming.WaitFor(_unnamed[^1].Stamp, NamingTimeout)) NamingTimeouts++;
            foreach (var (a, srcMac, srcIp, dstMac, dstIp, stamp) in _unnamed)
            {
                a.SrcAsset = naming.Name(srcMac, srcIp, stamp);
                a.DstAsset = naming.Name(dstMac, dstIp, stamp);
            }
            _unnamed.Clear();
        }
    }

    private readonly Lock _namingLock = new();

    /// <summary>How long writing alerts waits for the inventory to reach their point before naming from what it knows.</summary>
    internal static TimeSpan NamingTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Alert writes that named assets without the inventory having reached the alerts' point (a bug, or an inventory not in the pipeline): 0 in a sound run.</summary>
    public long NamingTimeouts { get; private set; }

    /// <summary>
    /// Once every analysis lane is done (the replay's packets and events all handled): names the assets of the alerts
    /// still unnamed, from any thread (the summary serializes the alerts while <see cref="Complete"/> runs). After it,
    /// every alert of <see cref="Raised"/> has its asset keys.
    /// </summary>
    public void NameAssetsAfterAnalysis() => NameAssets(wait: false);

    /// <summary>
    /// Completing writes the alerts still pending and the baseline: nothing of the inventory is read then (asset names
    /// were taken when the alerts were made), so it runs beside the inventory's final store write.
    /// </summary>
    public bool CompletesApart => true;

    private static readonly AlertType s_coapAmplification = AlertCatalog.Get("coap_amplification");
    private static readonly AlertType s_icsPortScan = AlertCatalog.Get("ics_port_scan");
    private static readonly AlertType s_modbusExceptionBurst = AlertCatalog.Get("modbus_exception_burst");
    private static readonly AlertType s_modbusFunctionCodeScan = AlertCatalog.Get("modbus_function_code_scan");
    private static readonly AlertType s_modbusPointsScan = AlertCatalog.Get("modbus_points_scan");
    private static readonly AlertType s_modbusRequestFlood = AlertCatalog.Get("modbus_request_flood");
    private static readonly AlertType s_modbusUnitIdScan = AlertCatalog.Get("modbus_unit_id_scan");
    private static readonly AlertType s_modbusWriteValueOutOfRange = AlertCatalog.Get("modbus_write_value_out_of_range");
    private static readonly AlertType s_mqttAuthBruteforce = AlertCatalog.Get("mqtt_auth_bruteforce");
    private static readonly AlertType s_mqttOversizePayload = AlertCatalog.Get("mqtt_oversize_payload");
    private static readonly AlertType s_pollingCycleDeviation = AlertCatalog.Get("polling_cycle_deviation");
    private static readonly AlertType s_processValueOutOfRange = AlertCatalog.Get("process_value_out_of_range");

    private double Threshold(AlertType t) => _thresholds[t.Index];
    private long WindowNs(AlertType t) => _windowsNs[t.Index];
    public BaselineMode Mode { get; }
    private readonly BaselineModel _baseline;

    /// <summary>
    /// The learned baseline. Repeated register values and poll periods are accumulated per flow while learning and
    /// merged into it lazily: reading this property merges them first (and drops the per-flow learning state, so the
    /// caller may change the model).
    /// </summary>
    public BaselineModel Baseline
    {
        get
        {
            FlushLearning(dropCache: true);
            return _baseline;
        }
    }
    public BaselineState BaselineState { get; }

    /// <summary>True while the baseline is learning (no baseline alerts).</summary>
    public bool Learning => Mode != BaselineMode.Off && BaselineState.Mode == BaselineState.Learning;

    /// <summary>True while the baseline is protecting (baseline alerts raised).</summary>
    public bool Protecting => Mode != BaselineMode.Off && BaselineState.Mode == BaselineState.Protecting;

    /// <summary>Alerts created during this run, in creation (id) order; their counts keep growing with repeats.</summary>
    public IReadOnlyList<Alert> Raised => _raised;

    /// <summary>The first store write error (alerts or baseline), or null.</summary>
    public StoreException? StoreError { get; private set; }

    public long AlertsDropped { get; private set; }

    /// <summary>True while the store refuses writes (the alerts wait in memory, bounded, and are retried).</summary>
    public bool StoreFailing => _writer?.Failing ?? false;

    /// <summary>Alert writes given up while the store was failing (beyond the retained bound).</summary>
    public long StoreWritesDropped => _writer?.Dropped ?? 0;
    public long TrackersDropped { get; private set; }

    /// <summary>New alerts that start a store write before the next once-a-second flush.</summary>
    public const int FlushWrites = 2048;

    /// <summary>Traces kept in memory for <see cref="TraceOf"/> (the store keeps every alert's trace).</summary>
    public const int MaxTracesKept = 4096;

    /// <summary>The trace pcap of an alert created during this run (one of the last <see cref="MaxTracesKept"/>), or null.</summary>
    public byte[]? TraceOf(Alert alert) => _traceArena.Get(alert.Id);

    // Direct-mapped caches of endpoint texts (an endpoint usually appears in several alerts: their addresses,
    // messages and learned findings): a hit formats nothing and allocates nothing. Only a cache: same text either way.
    private const int TextCacheBits = 10;
    private readonly IpAddr[] _ipKeys = new IpAddr[1 << TextCacheBits];
    private readonly string?[] _ipTexts = new string?[1 << TextCacheBits];
    private readonly ulong[] _macKeys = new ulong[1 << TextCacheBits];
    private readonly string?[] _macTexts = new string?[1 << TextCacheBits];

    /// <summary><paramref name="ip"/>.ToString(), cached.</summary>
    private string Ip(IpAddr ip)
    {
        int i = (int)(((ip.Hi ^ ip.Lo) * 0x9E3779B97F4A7C15UL) >> (64 - TextCacheBits));
        var text = _ipTexts[i];
        if (text is not null && _ipKeys[i] == ip) return text;
        text = ip.ToString();
        _ipKeys[i] = ip;
        _ipTexts[i] = text;
        return text;
    }

    /// <summary><paramref name="mac"/>.ToString(), cached.</summary>
    private string Mac(MacAddress mac)
    {
        int i = (int)((mac.Value * 0x9E3779B97F4A7C15UL) >> (64 - TextCacheBits));
        var text = _macTexts[i];
        if (text is not null && _macKeys[i] == mac.Value) return text;
        text = mac.ToString();
        _macKeys[i] = mac.Value;
        _macTexts[i] = text;
        return text;
    }

    private static IpAddr ParseIp(string? s)
    {
        if (s is null) return default;
        return System.Net.IPAddress.TryParse(s, out var a) ? IpAddr.FromIPAddress(a) : default;
    }

    // ------------------------------------------------------------------ pipeline

    public void OnPackets(PacketBatch batch)
    {
        _batchSequence = batch.Sequence;
        _eventIndex = 0;
        var slots = batch.Slots;
        var decoded = batch.Decoded;
        if (batch.Count > 0) Clock(slots[0].TimestampNs);
        for (int i = 0; i < batch.Count; i++)
        {
            ref readonly var slot = ref slots[i];
            ref readonly var d = ref decoded[i];
            _ring.Add(in slot, in d, batch.Data.AsSpan(slot.Offset, slot.Length));
            if (d.Transport == TransportLayer.Tcp && (d.Flags & (TcpFlags.Syn | TcpFlags.Ack)) == TcpFlags.Syn && d.Error == DecodeError.None)
            {
                OnSyn(in d, slot.TimestampNs, slot.PacketNumber);
            }
        }
        // At most one write a second, checked on every batch (one timestamp read per batch): on a quiet live port
        // batches come once a second, and an alert must not wait for 64 of them to reach the store and the SIEM.
        if (Stopwatch.GetTimestamp() - _lastFlushTicks >= Stopwatch.Frequency) Flush(wait: false);
    }

    public void OnEvent(in EventEntry entry, EventBuffer buffer, PacketBatch batch)
    {
        _eventIndex++;
        if (entry.Kind == EventKind.Anomaly)
        {
            ref readonly var an = ref entry.Anomaly;
            OnAnomaly(in entry, an.Protocol, an.AnomalyId, an.Ts, an.PacketNumber, an.Detail);
            return;
        }
        ref readonly var tx = ref entry.Transaction;
        if (Mode == BaselineMode.Auto) Clock(Math.Max(tx.RequestTs, tx.ResponseTs));
        switch (tx.Protocol)
        {
            case ProtocolId.Modbus:
                OnModbus(in entry, buffer);
                break;
            case ProtocolId.Mqtt:
                if (tx.FieldsEncoded) OnMqtt(in entry, buffer);
                break;
            case ProtocolId.Coap:
                if (tx.FieldsEncoded) OnCoap(in entry, buffer);
                break;
        }
    }

    public void OnComplete(ReplayStats stats) => Complete();

    /// <summary>Writes everything pending (alerts, baseline) and waits for the store.</summary>
    public void Complete()
    {
        // Every lane is done: the inventory has recorded everything.
        NameAssetsAfterAnalysis();
        // The baseline's JSON is built while the last alerts are being written, then written after them.
        Flush(wait: false, force: true);
        FlushLearning(dropCache: false);
        byte[]? baselineJson = _store is not null && (_baselineDirty || Learning) ? _baseline.ToJsonUtf8() : null;
        if (_writer is not null)
        {
            _writer.WaitIdle();
            StoreError ??= _writer.Error;
        }
        if (_store is not null && baselineJson is not null && StoreError is null)
        {
            try
            {
                _store.WriteBaseline(baselineJson, BaselineState);
                _baselineDirty = false;
            }
            catch (StoreException ex)
            {
                StoreError ??= ex;
            }
        }
    }

    private void Flush(bool wait) => Flush(wait, force: wait);

    private void Flush(bool wait, bool force)
    {
        _lastFlushTicks = Stopwatch.GetTimestamp();
        if (_writer is not null) NameAssets(wait: true);
        foreach (var o in _dirty)
        {
            o.Dirty = false;
            _pending.Add(new AlertWrite(o.Alert, o.Alert.Count, o.Alert.LastSeenNs, IsNew: false, Trace: null));
        }
        _dirty.Clear();
        if (_writer is null)
        {
            _pending.Clear();
            return;
        }
        if (_pending.Count > 0 || _writer.Retained > 0)
        {
            // The previous batch is written once the writer is idle; its trace buffer is free unless its writes failed
            // and are retained (they still point into it).
            _writer.WaitIdle();
            var spare = _writer.Retained == 0 ? _spareTraceBuffer : null;
            _writer.Submit(_pending, force);
            _pending = [];
            _spareTraceBuffer = _traceBuffer;
            _traceBuffer = spare ?? new TraceBuffer();
            _traceBuffer.Reset();
        }
        if (wait) _writer.WaitIdle();
        StoreError ??= _writer.Error;
    }

    // ------------------------------------------------------------------ baseline clock

    private void Clock(long ts)
    {
        if (Mode != BaselineMode.Auto || BaselineState.Mode != BaselineState.Learning || ts <= 0) return;
        if (BaselineState.LearnUntilNs == 0)
        {
            if (BaselineState.LearnStartNs == 0) BaselineState.LearnStartNs = ts;
            BaselineState.LearnUntilNs = BaselineState.LearnStartNs + (long)(_options.LearningHours * 3600e9);
            _baselineDirty = true;
        }
        else if (ts > BaselineState.LearnUntilNs)
        {
            BaselineState.Mode = BaselineState.Protecting;
            _baselineDirty = true;
        }
    }

    private void StartLearning(long ts)
    {
        if (BaselineState.LearnStartNs == 0 && ts > 0)
        {
            BaselineState.LearnStartNs = ts;
            _baselineDirty = true;
        }
    }

    // ------------------------------------------------------------------ alerts

    private static readonly HashSet<string> s_learnable = new(StringComparer.Ordinal)
    {
        "modbus_diag_restart_comm", "modbus_diag_clear_counters", "modbus_diagnostics_other", "modbus_broadcast_write",
        "mqtt_anonymous_connect", "mqtt_cleartext_credentials", "mqtt_wildcard_subscribe", "mqtt_sys_topic_access",
        "coap_resource_discovery", "coap_unauthenticated_state_change", "modbus_program_download",
    };

    private void AddFindingKey(string finding)
    {
        var p = finding.Split('|');
        if (p.Length == 3 && AlertCatalog.TryGet(p[0], out var t)) _findings.Add((t.Index, ParseIp(p[1]), ParseIp(p[2])));
    }

    /// <summary>
    /// True when nothing more is to be done for this sighting: the type is disabled, accepted by the baseline, or
    /// aggregated into an open alert (count and last seen updated). False: the caller creates the alert.
    /// </summary>
    private bool Handled(string typeId, IpAddr src, IpAddr dst, long ts, out AlertType type)
    {
        type = AlertCatalog.Get(typeId);
        return Handled(type, src, dst, ts);
    }

    private bool Handled(AlertType type, IpAddr src, IpAddr dst, long ts)
    {
        if (!_enabled[type.Index]) return true;
        var key = (type.Index, src, dst);
        if (_learnable[type.Index])
        {
            if (Learning && _findings.Add(key))
            {
                _baseline.Findings.Add(string.Concat(type.Id, "|", Ip(src), "|", Ip(dst)));
                _baselineDirty = true;
            }
            else if (Protecting && _options.SuppressLearnedPolicyAlerts && _findings.Contains(key))
            {
                return true;
            }
        }
        if (_open.TryGetValue(key, out var o))
        {
            var a = o.Alert;
            if (ts - a.LastSeenNs <= _aggregationNs && a.FirstSeenNs - ts <= _aggregationNs)
            {
                a.Count++;
                if (ts > a.LastSeenNs) a.LastSeenNs = ts;
                // Dirty alerts are rewritten to the store on the next flush: nothing to track without one.
                if (!o.Dirty && _writer is not null)
                {
                    o.Dirty = true;
                    _dirty.Add(o);
                }
                return true;
            }
        }
        return false;
    }

    private Alert Create(AlertType type, Party src, Party dst, string proto, long ts, long packet, string message,
        AlertEvidence evidence, bool hostTrace = false)
    {
        long id = _nextId++;
        int traceSize = _ring.Pick(packet, src.Ip, hostTrace ? (ushort)0 : src.Port, dst.Ip, hostTrace ? (ushort)0 : dst.Port, hostTrace, _options.TracePackets, _tracePackets);
        ReadOnlyMemory<byte>? trace = null;
        if (traceSize > 0)
        {
            // The last traces are kept in the arena; the store's copy goes in the pending writes' buffer.
            var span = _traceArena.Add(id, traceSize);
            _ring.WritePicked(span, _tracePackets);
            if (_writer is not null) trace = _traceBuffer.Add(span);
        }
        var alert = new Alert
        {
            Id = id,
            Type = type.Id,
            SignatureId = type.SignatureId,
            Name = type.Name,
            Severity = _severities[type.Index],
            Category = type.Category,
            Mitre = type.Mitre,
            FirstSeenNs = ts,
            LastSeenNs = ts,
            Count = 1,
            Proto = proto,
            SrcIp = src.Ip.IsZero ? null : Ip(src.Ip),
            SrcMac = src.Mac.IsZero ? null : Mac(src.Mac),
            SrcPort = src.Port == 0 ? null : src.Port,
            DstIp = dst.Ip.IsZero ? null : Ip(dst.Ip),
            DstMac = dst.Mac.IsZero ? null : Mac(dst.Mac),
            DstPort = dst.Port == 0 ? null : dst.Port,
            Message = message,
            Evidence = evidence,
            TracePackets = [.. _tracePackets],
        };
        if (Naming is not null) _unnamed.Add((alert, src.Mac, src.Ip, dst.Mac, dst.Ip, OtSensor.Inventory.AssetNaming.Stamp(_batchSequence, _eventIndex)));
        var key = (type.Index, src.Ip, dst.Ip);
        if (_open.Count >= _options.MaxOpenAlerts && !_open.ContainsKey(key))
        {
            var expired = _expired;
            expired.Clear();
            foreach (var kv in _open)
            {
                if (ts - kv.Value.Alert.LastSeenNs > _aggregationNs) expired.Add(kv.Key);
            }
            foreach (var k in expired) _open.Remove(k);
            expired.Clear();
            if (_open.Count >= _options.MaxOpenAlerts)
            {
                AlertsDropped += _open.Count;
                _open.Clear();
            }
        }
        _open[key] = new OpenAlert(alert);
        _raised.Add(alert);
        if (_writer is not null)
        {
            _pending.Add(new AlertWrite(alert, 1, ts, IsNew: true, trace));
            // A burst of alerts goes to the store while the replay goes on, not all at its end (bounded memory, and
            // the write overlaps the analysis instead of following it).
            if (_pending.Count >= FlushWrites) Flush(wait: false);
        }
        return alert;
    }

    private static AlertEvidence Ev(params (string Key, object? Value)[] items)
    {
        int n = 0;
        foreach (var (_, v) in items)
        {
            if (v is not null) n++;
        }
        var d = new AlertEvidence(n);
        foreach (var (k, v) in items)
        {
            if (v is null) continue;
            d[k] = v is IFormattable f ? f.ToString(null, CultureInfo.InvariantCulture) : Sanitize(v.ToString() ?? "");
        }
        return d;
    }

    /// <summary>Wire text made safe for messages and evidence: control characters escaped, at most 200 characters.</summary>
    internal static string Sanitize(string s)
    {
        if (s.Length > 200) s = s[..200] + "…";
        bool clean = true;
        foreach (char c in s)
        {
            if (char.IsControl(c))
            {
                clean = false;
                break;
            }
        }
        if (clean) return s;
        var sb = new StringBuilder(s.Length + 8);
        foreach (char c in s)
        {
            if (char.IsControl(c)) sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        return sb.ToString();
    }

    private static Party Client(in FlowEndpoints f) => new(f.ClientIp, f.ClientMac, f.ClientPort);
    private static Party Server(in FlowEndpoints f) => new(f.ServerIp, f.ServerMac, f.ServerPort);

    private static string ProtoName(ProtocolId p) => p switch
    {
        ProtocolId.Modbus => "modbus",
        ProtocolId.Mqtt => "mqtt",
        ProtocolId.Coap => "coap",
        ProtocolId.MqttTls => "mqtt-tls",
        ProtocolId.CoapDtls => "coap-dtls",
        _ => "unknown",
    };

    // ------------------------------------------------------------------ protocol violations

    private static string? ModbusViolation(int anomaly) => (ModbusAnomaly)anomaly switch
    {
        ModbusAnomaly.InvalidProtocolId => "modbus_invalid_protocol_id",
        ModbusAnomaly.LengthMismatch or ModbusAnomaly.MalformedPdu or ModbusAnomaly.ByteCountMismatch => "modbus_length_mismatch",
        ModbusAnomaly.OversizePdu => "modbus_oversize_pdu",
        ModbusAnomaly.InvalidFunctionCode => "modbus_invalid_function_code",
        ModbusAnomaly.IllegalQuantity or ModbusAnomaly.AddressOverflow => "modbus_illegal_quantity",
        ModbusAnomaly.InvalidCoilValue => "modbus_invalid_coil_value",
        ModbusAnomaly.NonModbusOnPort or ModbusAnomaly.DissectionAbandoned => "modbus_non_modbus_on_port",
        ModbusAnomaly.UnsolicitedResponse => "modbus_unsolicited_response",
        ModbusAnomaly.ResponseMismatch or ModbusAnomaly.EchoMismatch => "modbus_response_mismatch",
        _ => null,
    };

    private static string? MqttViolation(int anomaly) => (MqttAnomaly)anomaly switch
    {
        MqttAnomaly.MalformedRemainingLength => "mqtt_malformed_remaining_length",
        MqttAnomaly.ReservedPacketType => "mqtt_reserved_packet_type",
        MqttAnomaly.InvalidFlags => "mqtt_invalid_flags",
        MqttAnomaly.InvalidQos => "mqtt_invalid_qos",
        MqttAnomaly.PublishBeforeConnect => "mqtt_publish_before_connect",
        MqttAnomaly.DoubleConnect => "mqtt_double_connect",
        MqttAnomaly.MalformedPacket or MqttAnomaly.MalformedUtf8 or MqttAnomaly.MalformedProperty or MqttAnomaly.ConnectReservedFlag
            or MqttAnomaly.UnknownProtocolVersion or MqttAnomaly.InvalidConnectFlags or MqttAnomaly.InvalidTopic
            or MqttAnomaly.UnknownTopicAlias or MqttAnomaly.EmptySubscription or MqttAnomaly.MissingPacketId
            or MqttAnomaly.InvalidSubscriptionOptions or MqttAnomaly.WrongDirection => "mqtt_malformed_packet",
        _ => null,
    };

    private static string? CoapViolation(int anomaly)
    {
        var a = (CoapAnomaly)anomaly;
        if (CoapAnomalies.IsFormatError(a)) return "coap_malformed";
        return a switch
        {
            CoapAnomaly.InvalidOption or CoapAnomaly.ReservedCode or CoapAnomaly.UnknownCriticalOption or CoapAnomaly.InvalidBlockSize
                or CoapAnomaly.InvalidMessageType or CoapAnomaly.RepeatedOption => "coap_malformed",
            CoapAnomaly.UnsolicitedResponse or CoapAnomaly.RstUnsolicited => "coap_unsolicited_response",
            _ => null,
        };
    }

    private static string AnomalyName(ProtocolId p, int id) => p switch
    {
        ProtocolId.Modbus => ModbusAnomalies.Info((ModbusAnomaly)id).Id,
        ProtocolId.Mqtt => MqttAnomalies.Info((MqttAnomaly)id).Id,
        ProtocolId.Coap => CoapAnomalies.Info((CoapAnomaly)id).Id,
        _ => id.ToString(CultureInfo.InvariantCulture),
    };

    private void OnAnomaly(in EventEntry e, ProtocolId protocol, int id, long ts, long packet, long detail)
    {
        string? type = protocol switch
        {
            ProtocolId.Modbus => ModbusViolation(id),
            ProtocolId.Mqtt => MqttViolation(id),
            ProtocolId.Coap => CoapViolation(id),
            _ => null,
        };
        if (type is null) return;
        bool fromServer = e.Kind == EventKind.Anomaly ? e.Anomaly.Direction == Flows.Direction.ToClient : type.EndsWith("unsolicited_response", StringComparison.Ordinal);
        ref readonly var f = ref e.Flow;
        var src = fromServer ? Server(in f) : Client(in f);
        var dst = fromServer ? Client(in f) : Server(in f);
        var t = AlertCatalog.Get(type);
        if (Handled(t, src.Ip, dst.Ip, ts)) return;
        // Message and evidence only for a new alert (repeats aggregate without them).
        string anomalyName = AnomalyName(protocol, id);
        Create(t, src, dst, ProtoName(f.Protocol), ts, packet, $"{t.Name} ({anomalyName})", Ev(("anomaly", anomalyName), ("detail", detail == 0 ? null : detail)));
    }

    private void TransactionAnomalies(in EventEntry e, ulong mask, long ts, long packet)
    {
        for (ulong m = mask; m != 0; m &= m - 1)
        {
            int id = System.Numerics.BitOperations.TrailingZeroCount(m);
            OnAnomaly(in e, e.Transaction.Protocol, id, ts, packet, 0);
        }
    }

    private static (long Ts, long Packet) When(in TransactionRecord tx)
    {
        long ts = Math.Max(tx.RequestTs, tx.ResponseTs);
        long packet = Math.Max(tx.RequestPacket, tx.ResponsePacket);
        return (ts, packet);
    }
}
