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
/// The detection stage (an <see cref="IEventConsumer"/> on the single analysis thread, deterministic, no locks):
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
    private readonly Dictionary<(int Type, IpAddr Src, IpAddr Dst), OpenAlert> _open = [];
    private readonly List<OpenAlert> _dirty = [];
    private List<AlertWrite> _pending = [];
    private readonly List<Alert> _raised = [];
    private readonly Dictionary<long, byte[]> _traces = [];
    private readonly List<long> _tracePackets = [];
    private readonly HashSet<(int Type, IpAddr Src, IpAddr Dst)> _findings = [];
    private long _nextId;
    private long _batches;
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
        foreach (var t in AlertCatalog.All) _enabled[t.Index] = _options.IsEnabled(t.Id);
        Mode = baseline;
        Baseline = store?.ReadBaseline() ?? new BaselineModel();
        BaselineState = store?.ReadBaselineState() ?? new BaselineState();
        foreach (var f in Baseline.Findings) AddFindingKey(f);
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
    public BaselineMode Mode { get; }
    public BaselineModel Baseline { get; }
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
    public long TrackersDropped { get; private set; }

    /// <summary>The trace pcap of an alert created during this run, or null.</summary>
    public byte[]? TraceOf(Alert alert) => _traces.GetValueOrDefault(alert.Id);

    private static IpAddr ParseIp(string? s)
    {
        if (s is null) return default;
        return System.Net.IPAddress.TryParse(s, out var a) ? IpAddr.FromIPAddress(a) : default;
    }

    // ------------------------------------------------------------------ pipeline

    public void OnPackets(PacketBatch batch)
    {
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
        if ((++_batches & 63) == 0 && Stopwatch.GetElapsedTime(_lastFlushTicks).TotalSeconds >= 1) Flush(wait: false);
    }

    public void OnEvent(in EventEntry entry, EventBuffer buffer, PacketBatch batch)
    {
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
        Flush(wait: true);
        if (_store is not null && (_baselineDirty || Learning) && StoreError is null)
        {
            try
            {
                _store.WriteBaseline(Baseline, BaselineState);
                _baselineDirty = false;
            }
            catch (StoreException ex)
            {
                StoreError ??= ex;
            }
        }
    }

    private void Flush(bool wait)
    {
        _lastFlushTicks = Stopwatch.GetTimestamp();
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
        if (_pending.Count > 0)
        {
            _writer.Submit(_pending);
            _pending = [];
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
        if (!_enabled[type.Index]) return true;
        var key = (type.Index, src, dst);
        if (s_learnable.Contains(typeId))
        {
            if (Learning && _findings.Add(key))
            {
                Baseline.Findings.Add($"{typeId}|{src}|{dst}");
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
                if (!o.Dirty)
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
        SortedDictionary<string, string> evidence, bool hostTrace = false)
    {
        var trace = _ring.Collect(packet, src.Ip, hostTrace ? (ushort)0 : src.Port, dst.Ip, hostTrace ? (ushort)0 : dst.Port, hostTrace, _options.TracePackets, _tracePackets);
        var alert = new Alert
        {
            Id = _nextId++,
            Type = type.Id,
            SignatureId = type.SignatureId,
            Name = type.Name,
            Severity = _options.SeverityOf(type),
            Category = type.Category,
            Mitre = type.Mitre,
            FirstSeenNs = ts,
            LastSeenNs = ts,
            Count = 1,
            Proto = proto,
            SrcIp = src.Ip.IsZero ? null : src.Ip.ToString(),
            SrcMac = src.Mac.IsZero ? null : src.Mac.ToString(),
            SrcPort = src.Port == 0 ? null : src.Port,
            DstIp = dst.Ip.IsZero ? null : dst.Ip.ToString(),
            DstMac = dst.Mac.IsZero ? null : dst.Mac.ToString(),
            DstPort = dst.Port == 0 ? null : dst.Port,
            Message = message,
            Evidence = evidence,
            TracePackets = [.. _tracePackets],
        };
        if (trace is not null) _traces[alert.Id] = trace;
        var key = (type.Index, src.Ip, dst.Ip);
        if (_open.Count >= _options.MaxOpenAlerts && !_open.ContainsKey(key))
        {
            foreach (var k in _open.Where(kv => ts - kv.Value.Alert.LastSeenNs > _aggregationNs).Select(kv => kv.Key).ToList()) _open.Remove(k);
            if (_open.Count >= _options.MaxOpenAlerts)
            {
                AlertsDropped += _open.Count;
                _open.Clear();
            }
        }
        _open[key] = new OpenAlert(alert);
        _raised.Add(alert);
        _pending.Add(new AlertWrite(alert, 1, ts, IsNew: true, trace));
        return alert;
    }

    private static SortedDictionary<string, string> Ev(params (string Key, object? Value)[] items)
    {
        var d = new SortedDictionary<string, string>(StringComparer.Ordinal);
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

    /// <summary>Raises a simple client → server alert with the flow's endpoints.</summary>
    private void RaiseFlow(string typeId, in FlowEndpoints f, long ts, long packet, string message, Func<SortedDictionary<string, string>> evidence)
    {
        if (Handled(typeId, f.ClientIp, f.ServerIp, ts, out var t)) return;
        Create(t, Client(in f), Server(in f), ProtoName(f.Protocol), ts, packet, message, evidence());
    }

    /// <summary>Like <see cref="RaiseFlow"/> with source and destination swapped (server → client).</summary>
    private void RaiseFlowReverse(string typeId, in FlowEndpoints f, long ts, long packet, string message, Func<SortedDictionary<string, string>> evidence)
    {
        if (Handled(typeId, f.ServerIp, f.ClientIp, ts, out var t)) return;
        Create(t, Server(in f), Client(in f), ProtoName(f.Protocol), ts, packet, message, evidence());
    }

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
        var f = e.Flow;
        string anomalyName = AnomalyName(protocol, id);
        string msg = $"{AlertCatalog.Get(type).Name} ({anomalyName})";
        if (fromServer) RaiseFlowReverse(type, in f, ts, packet, msg, () => Ev(("anomaly", anomalyName), ("detail", detail == 0 ? null : detail)));
        else RaiseFlow(type, in f, ts, packet, msg, () => Ev(("anomaly", anomalyName), ("detail", detail == 0 ? null : detail)));
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
