using System.Text.Json;
using System.Text.Json.Serialization;
using OtSensor.Core;

namespace OtSensor.Inventory;

/// <summary>Roles an asset plays, each proved by traffic. Stable bit values (persisted).</summary>
[Flags]
public enum AssetRoles
{
    None = 0,
    ModbusClient = 1 << 0,
    ModbusServer = 1 << 1,
    MqttBroker = 1 << 2,
    MqttPublisher = 1 << 3,
    MqttSubscriber = 1 << 4,
    CoapServer = 1 << 5,
    CoapClient = 1 << 6,
    Router = 1 << 7,
    /// <summary>Connected to an MQTT broker (publisher / subscriber not yet known).</summary>
    MqttClient = 1 << 8,
}

public static class AssetRoleNames
{
    private static readonly (AssetRoles Role, string Name)[] s_names =
    [
        (AssetRoles.ModbusClient, "modbus_client"),
        (AssetRoles.ModbusServer, "modbus_server"),
        (AssetRoles.MqttBroker, "mqtt_broker"),
        (AssetRoles.MqttClient, "mqtt_client"),
        (AssetRoles.MqttPublisher, "mqtt_publisher"),
        (AssetRoles.MqttSubscriber, "mqtt_subscriber"),
        (AssetRoles.CoapServer, "coap_server"),
        (AssetRoles.CoapClient, "coap_client"),
        (AssetRoles.Router, "router"),
    ];

    public static List<string> Names(AssetRoles roles)
    {
        var list = new List<string>();
        foreach (var (r, n) in s_names)
            if ((roles & r) != 0) list.Add(n);
        return list;
    }
}

/// <summary>Where a fact came from: the packet that proved it, when, how, and how far to trust it.</summary>
public sealed class Fact
{
    public string Value { get; set; } = "";
    /// <summary>What proved it: "modbus_fc43", "arp", "mqtt_connect"...</summary>
    public string Source { get; set; } = "";
    /// <summary>1-based frame number of the proving packet (in the replay that saw it).</summary>
    public long Frame { get; set; }
    /// <summary>Packet time (ns since the Unix epoch).</summary>
    public long TimeNs { get; set; }
    /// <summary>"high" (the device said so), "medium" (inferred from a well-known port), "low".</summary>
    public string Confidence { get; set; } = "high";
    /// <summary>Modbus unit id for FC 43/14 identity objects, else -1.</summary>
    public int Unit { get; set; } = -1;
}

/// <summary>A caller-supplied fact origin (the lead wires MQTT / CoAP dissector events through it).</summary>
public readonly record struct FactSource(string Source, long Frame, long TimeNs, string Confidence = "high");

/// <summary>A listening TCP/UDP service on an endpoint.</summary>
public sealed class ServiceState
{
    public string Transport { get; set; } = "tcp";
    public int Port { get; set; }
    public string? Proto { get; set; }
    public long FirstSeenNs { get; set; }
    public long LastSeenNs { get; set; }
    /// <summary>How it was proved: "handshake", "response", "udp_reply".</summary>
    public string Source { get; set; } = "";
    public long Frame { get; set; }
}

/// <summary>
/// Everything seen for one (MAC, IP) pair. Assets are built from endpoints when the inventory is read
/// (<see cref="InventoryMaterializer"/>): by MAC on the local segment, by IP behind a router or without a MAC.
/// </summary>
public sealed class EndpointState
{
    public const int MaxVlans = 16;
    public const int MaxStrings = 32;
    public const int MaxServices = 64;

    [JsonConverter(typeof(MacJsonConverter))]
    public MacAddress Mac { get; set; }
    [JsonConverter(typeof(IpJsonConverter))]
    public IpAddr Ip { get; set; }
    public long FirstSeenNs { get; set; }
    public long LastSeenNs { get; set; }
    public long PacketsSent { get; set; }
    public long PacketsReceived { get; set; }
    public long BytesSent { get; set; }
    public long BytesReceived { get; set; }
    public List<int> Vlans { get; set; } = [];
    public AssetRoles Roles { get; set; }
    public ulong[] ModbusUnits { get; set; } = new ulong[4];
    /// <summary>Identity and other attributes (vendor_name, product_code..., arp_ip), each with its source.</summary>
    public Dictionary<string, Fact> Facts { get; set; } = [];
    public List<string> MqttClientIds { get; set; } = [];
    public List<string> MqttUsernames { get; set; } = [];
    public List<string> CoapResources { get; set; } = [];
    public List<ServiceState> Services { get; set; } = [];

    [JsonIgnore] public bool Dirty { get; set; }
    [JsonIgnore] internal int LastVlan { get; set; } = -1;

    internal void Seen(long ts)
    {
        if (FirstSeenNs == 0 || ts < FirstSeenNs) FirstSeenNs = ts;
        if (ts > LastSeenNs) LastSeenNs = ts;
    }

    internal void AddVlan(int vlan)
    {
        if (vlan == LastVlan) return;
        LastVlan = vlan;
        if (Vlans.Count < MaxVlans && !Vlans.Contains(vlan))
        {
            Vlans.Add(vlan);
            Vlans.Sort();
        }
    }

    internal void AddUnit(byte unit) => ModbusUnits[unit >> 6] |= 1UL << (unit & 63);

    public IEnumerable<int> Units()
    {
        for (int u = 0; u < 256; u++)
            if (ModbusUnits.Length > (u >> 6) && (ModbusUnits[u >> 6] & (1UL << (u & 63))) != 0) yield return u;
    }

    internal static bool AddBounded(List<string> list, string value)
    {
        if (list.Count >= MaxStrings || list.Contains(value, StringComparer.Ordinal)) return false;
        list.Add(value);
        return true;
    }

    internal ServiceState Service(string transport, int port)
    {
        foreach (var s in Services)
            if (s.Port == port && s.Transport == transport) return s;
        var n = new ServiceState { Transport = transport, Port = port };
        if (Services.Count < MaxServices) Services.Add(n);
        return n;
    }
}

/// <summary>What is known about one MAC: the IPs seen behind it (bounded) and whether it is a router.</summary>
public sealed class MacState
{
    public const int MaxIps = 64;

    [JsonConverter(typeof(MacJsonConverter))]
    public MacAddress Mac { get; set; }
    [JsonConverter(typeof(IpListJsonConverter))]
    public List<IpAddr> Ips { get; set; } = [];
    /// <summary>IPs the MAC claimed in ARP (its own addresses, even when it is a router).</summary>
    [JsonConverter(typeof(IpListJsonConverter))]
    public List<IpAddr> ArpIps { get; set; } = [];
    public bool IsRouter { get; set; }
    public string? RouterReason { get; set; }
    public long RouterFrame { get; set; }
    [JsonIgnore] public bool Dirty { get; set; }
}

/// <summary>Merged, bounded set of [first, last] address ranges.</summary>
public sealed class RangeSet
{
    public const int MaxRanges = 64;

    /// <summary>Sorted, non-overlapping, non-adjacent [first, last] pairs.</summary>
    public List<int[]> Ranges { get; set; } = [];

    public void Add(int first, int last)
    {
        if (last < first) (first, last) = (last, first);
        var r = Ranges;
        int i = 0;
        while (i < r.Count && r[i][1] < first - 1) i++;
        if (i == r.Count || r[i][0] > last + 1)
        {
            r.Insert(i, [first, last]);
        }
        else
        {
            r[i][0] = Math.Min(r[i][0], first);
            r[i][1] = Math.Max(r[i][1], last);
            while (i + 1 < r.Count && r[i + 1][0] <= r[i][1] + 1)
            {
                r[i][1] = Math.Max(r[i][1], r[i + 1][1]);
                r.RemoveAt(i + 1);
            }
        }
        while (r.Count > MaxRanges)
        {
            // Bound: merge the two neighbours with the smallest gap.
            int best = 0;
            long gap = long.MaxValue;
            for (int k = 0; k + 1 < r.Count; k++)
            {
                long g = (long)r[k + 1][0] - r[k][1];
                if (g < gap) { gap = g; best = k; }
            }
            r[best][1] = r[best + 1][1];
            r.RemoveAt(best + 1);
        }
    }

    public void AddAll(RangeSet other)
    {
        var src = other.Ranges;
        if (Ranges.Count == 0 && IsNormalized(src))
        {
            // Adding sorted, separated ranges one by one to an empty set appends each as it is: copy them at once.
            var r = Ranges;
            r.Capacity = src.Count;
            foreach (var x in src) r.Add([x[0], x[1]]);
            return;
        }
        foreach (var x in src) Add(x[0], x[1]);
    }

    /// <summary>Pairs, each first &lt;= last, sorted, neither overlapping nor adjacent, within the bound: what <see cref="Add"/> keeps.</summary>
    private static bool IsNormalized(List<int[]> ranges)
    {
        if (ranges.Count > MaxRanges) return false;
        long previousLast = long.MinValue;
        foreach (var x in ranges)
        {
            if (x.Length != 2 || x[0] > x[1] || x[0] <= previousLast + 1) return false;
            previousLast = x[1];
        }
        return true;
    }
}

/// <summary>Client endpoint → server endpoint on one transport port: what went over it.</summary>
public sealed class LinkState
{
    public const int MaxOperations = 256;
    public const int MaxRangeKeys = 256;

    [JsonConverter(typeof(MacJsonConverter))] public MacAddress ClientMac { get; set; }
    [JsonConverter(typeof(IpJsonConverter))] public IpAddr ClientIp { get; set; }
    [JsonConverter(typeof(MacJsonConverter))] public MacAddress ServerMac { get; set; }
    [JsonConverter(typeof(IpJsonConverter))] public IpAddr ServerIp { get; set; }
    public string Transport { get; set; } = "tcp";
    public int Port { get; set; }
    public string? Protocol { get; set; }
    public long FirstSeenNs { get; set; }
    public long LastSeenNs { get; set; }
    public long Packets { get; set; }
    public long Bytes { get; set; }
    public long Transactions { get; set; }
    /// <summary>Counts per operation: Modbus "fc3", MQTT "PUBLISH", CoAP "GET 2.05"...</summary>
    public Dictionary<string, long> Operations
    {
        get
        {
            if (_hasPending) FlushPendingOperations();
            return _operations;
        }
        set
        {
            if (_hasPending) FlushPendingOperations();
            _operations = value;
            _known0 = _known1 = _known2 = 0;
        }
    }

    /// <summary>Modbus ranges keyed "unit/table/access" (table: coils, discrete_inputs, holding_registers, input_registers; access: read, write).</summary>
    public Dictionary<string, RangeSet> ModbusRanges
    {
        get => _modbusRanges;
        set
        {
            _modbusRanges = value;
            RangeCache = null;
        }
    }

    private Dictionary<string, long> _operations = [];
    private Dictionary<string, RangeSet> _modbusRanges = [];

    /// <summary>The <see cref="ModbusRanges"/> sets by (unit &lt;&lt; 3 | table &lt;&lt; 1 | write): no string key per request.</summary>
    [JsonIgnore] internal Dictionary<int, RangeSet>? RangeCache { get; set; }

    /// <summary>The operation key of a counter slot: "fc0".."fc127", then "exception" (slot 128).</summary>
    internal static readonly string[] SlotKeys =
        [.. Enumerable.Range(0, 128).Select(i => "fc" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)), "exception"];
    internal const int ExceptionSlot = 128;

    /// <summary>
    /// Counts not yet added to <see cref="Operations"/>, by slot (its key is already in the dictionary, so the order in
    /// which keys first appeared and the <see cref="MaxOperations"/> bound are kept). Added when Operations is read.
    /// </summary>
    private long[]? _pending;
    private bool _hasPending;
    /// <summary>Slots whose key is in <see cref="_operations"/>.</summary>
    private ulong _known0, _known1, _known2;

    /// <summary>Counts one Modbus function code (slot 0-127) or exception (slot 128) without a string lookup.</summary>
    internal void CountSlot(int slot)
    {
        ref ulong known = ref slot < 64 ? ref _known0 : ref slot < 128 ? ref _known1 : ref _known2;
        ulong bit = 1UL << (slot & 63);
        if ((known & bit) == 0)
        {
            string key = SlotKeys[slot];
            if (!_operations.ContainsKey(key))
            {
                if (_operations.Count >= MaxOperations) return;
                _operations[key] = 0;
            }
            known |= bit;
        }
        (_pending ??= new long[SlotKeys.Length])[slot]++;
        _hasPending = true;
    }

    /// <summary>Adds the pending slot counts to <see cref="Operations"/> (the inventory calls it before the state is read from other threads).</summary>
    internal void FlushPendingOperations()
    {
        if (!_hasPending) return;
        _hasPending = false;
        var p = _pending!;
        for (int i = 0; i < p.Length; i++)
        {
            if (p[i] == 0) continue;
            string key = SlotKeys[i];
            if (_operations.TryGetValue(key, out long c)) _operations[key] = c + p[i];
            p[i] = 0;
        }
    }
    [JsonIgnore] public bool Dirty { get; set; }
    /// <summary>The server's service record, to keep its last-seen time current.</summary>
    [JsonIgnore] internal ServiceState? Service { get; set; }

    internal void Seen(long ts)
    {
        if (FirstSeenNs == 0 || ts < FirstSeenNs) FirstSeenNs = ts;
        if (ts > LastSeenNs) LastSeenNs = ts;
    }

    /// <summary>As <see cref="CountOperation(string, long)"/>, the key as characters: a string is made only for a new key.</summary>
    internal void CountOperation(ReadOnlySpan<char> op)
    {
        if (!_operations.TryGetAlternateLookup<ReadOnlySpan<char>>(out var lookup))
        {
            CountOperation(op.ToString());
            return;
        }
        // One lookup for a known key (its count incremented in place), not a lookup and then a store.
        ref long count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(lookup, op);
        if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref count)) count++;
        else if (_operations.Count < MaxOperations) _operations[op.ToString()] = 1;
    }

    public void CountOperation(string op, long n = 1)
    {
        ref long count = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_operations, op);
        if (!System.Runtime.CompilerServices.Unsafe.IsNullRef(ref count)) count += n;
        else if (_operations.Count < MaxOperations) _operations[op] = n;
    }
}

internal sealed class MacJsonConverter : JsonConverter<MacAddress>
{
    public override MacAddress Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var s = reader.GetString();
        if (string.IsNullOrEmpty(s)) return default;
        ulong v = 0;
        foreach (var part in s.Split(':')) v = (v << 8) | Convert.ToByte(part, 16);
        return new MacAddress(v);
    }

    public override void Write(Utf8JsonWriter writer, MacAddress value, JsonSerializerOptions options)
        => writer.WriteStringValue(value.IsZero ? "" : value.ToString());
}

internal sealed class IpJsonConverter : JsonConverter<IpAddr>
{
    public override IpAddr Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var s = reader.GetString();
        return string.IsNullOrEmpty(s) ? default : IpAddr.Parse(s);
    }

    public override void Write(Utf8JsonWriter writer, IpAddr value, JsonSerializerOptions options)
        => writer.WriteStringValue(value.IsZero ? "" : value.ToString());
}

internal sealed class IpListJsonConverter : JsonConverter<List<IpAddr>>
{
    public override List<IpAddr> Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var list = new List<IpAddr>();
        if (reader.TokenType != JsonTokenType.StartArray) throw new JsonException("array expected");
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            var s = reader.GetString();
            if (!string.IsNullOrEmpty(s)) list.Add(IpAddr.Parse(s));
        }
        return list;
    }

    public override void Write(Utf8JsonWriter writer, List<IpAddr> value, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (var ip in value) writer.WriteStringValue(ip.ToString());
        writer.WriteEndArray();
    }
}
