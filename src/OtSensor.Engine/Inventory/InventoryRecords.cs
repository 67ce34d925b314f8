using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using OtSensor.Core;
using OtSensor.Protocols.Modbus;

namespace OtSensor.Inventory;

/// <summary>Identity objects a device reported (Modbus FC 43/14 basic and regular objects).</summary>
public sealed class IdentityRecord
{
    public string? VendorName { get; set; }
    public string? ProductCode { get; set; }
    public string? Revision { get; set; }
    public string? VendorUrl { get; set; }
    public string? ProductName { get; set; }
    public string? ModelName { get; set; }
    public string? UserApplicationName { get; set; }

    [JsonIgnore]
    public bool IsEmpty => VendorName is null && ProductCode is null && Revision is null && VendorUrl is null && ProductName is null && ModelName is null && UserApplicationName is null;

    internal void Set(string name, string value)
    {
        switch (name)
        {
            case "vendor_name": VendorName = value; break;
            case "product_code": ProductCode = value; break;
            case "revision": Revision = value; break;
            case "vendor_url": VendorUrl = value; break;
            case "product_name": ProductName = value; break;
            case "model_name": ModelName = value; break;
            case "user_application_name": UserApplicationName = value; break;
        }
    }

    public override string ToString()
        => string.Join(" ", new[] { VendorName, ProductName ?? ProductCode, ModelName, Revision }.Where(s => !string.IsNullOrEmpty(s)));
}

/// <summary>Which packet proved an attribute, when, and how far to trust it.</summary>
public sealed class FactRecord
{
    public string Value { get; set; } = "";
    public string Source { get; set; } = "";
    public long Frame { get; set; }
    public string? Time { get; set; }
    public string Confidence { get; set; } = "";
    public int? Unit { get; set; }
}

public sealed class ServiceRecord
{
    public string Transport { get; set; } = "";
    public int Port { get; set; }
    public string? Proto { get; set; }
    public string? FirstSeen { get; set; }
    public string? LastSeen { get; set; }
    public string? Source { get; set; }
}

/// <summary>One asset (the declared output schema: JSON fields, CSV columns, store rows).</summary>
public sealed class AssetRecord
{
    public long Id { get; set; }
    /// <summary>"mac:aa:bb:cc:dd:ee:ff" (local segment) or "ip:10.0.0.5" (behind a router, or no MAC seen).</summary>
    public string Key { get; set; } = "";
    public string Kind { get; set; } = "";
    public string? Mac { get; set; }
    public string? MacVendor { get; set; }
    public List<string> Ips { get; set; } = [];
    public List<int> Vlans { get; set; } = [];
    public string? FirstSeen { get; set; }
    public string? LastSeen { get; set; }
    public long PacketsSent { get; set; }
    public long PacketsReceived { get; set; }
    public long BytesSent { get; set; }
    public long BytesReceived { get; set; }
    public List<string> Roles { get; set; } = [];
    public List<int> ModbusUnits { get; set; } = [];
    public IdentityRecord Identity { get; set; } = new();
    public List<string> MqttClientIds { get; set; } = [];
    public List<string> MqttUsernames { get; set; } = [];
    public List<string> CoapResources { get; set; } = [];
    public List<ServiceRecord> Services { get; set; } = [];
    public string? RouterReason { get; set; }
    /// <summary>Attribute → proof ("identity.vendor_name", "ip.10.0.0.5" from ARP, "mqtt_client_id"...).</summary>
    public SortedDictionary<string, FactRecord> Sources { get; set; } = new(StringComparer.Ordinal);

    /// <summary>A short display name: the first IP, else the MAC.</summary>
    [JsonIgnore]
    public string Label => Ips.Count > 0 ? Ips[0] : Mac ?? Key;
}

public sealed class RangeRecord
{
    public int Unit { get; set; }
    public string Table { get; set; } = "";
    public string Access { get; set; } = "";
    public List<int[]> Ranges { get; set; } = [];
}

/// <summary>One edge of the communication map: client asset → server asset on a protocol and server port.</summary>
public sealed class LinkRecord
{
    public long Id { get; set; }
    public long ClientId { get; set; }
    public long ServerId { get; set; }
    public string Client { get; set; } = "";
    public string Server { get; set; } = "";
    public string? Protocol { get; set; }
    public string Transport { get; set; } = "";
    public int Port { get; set; }
    public string? FirstSeen { get; set; }
    public string? LastSeen { get; set; }
    public long Packets { get; set; }
    public long Bytes { get; set; }
    public long Transactions { get; set; }
    /// <summary>Modbus requests per function code ("3": 120).</summary>
    public SortedDictionary<int, long> ModbusFunctions { get; set; } = [];
    /// <summary>Other operations: "exception", MQTT packet types, CoAP method + code...</summary>
    public SortedDictionary<string, long> Operations { get; set; } = new(StringComparer.Ordinal);
    public List<RangeRecord> ModbusRanges { get; set; } = [];

    [JsonIgnore]
    public string ProtocolLabel => Protocol ?? $"{Transport}/{Port.ToString(CultureInfo.InvariantCulture)}";
}

public sealed class InventorySnapshot
{
    public List<AssetRecord> Assets { get; set; } = [];
    public List<LinkRecord> Links { get; set; } = [];
}

/// <summary>Turns (MAC, IP) endpoints into assets and endpoint links into asset links.</summary>
public static class InventoryMaterializer
{
    private static readonly string[] s_identityKeys = ["vendor_name", "product_code", "revision", "vendor_url", "product_name", "model_name", "user_application_name"];

    private static bool Usable(MacAddress mac) => !mac.IsZero && !mac.IsMulticast;

    /// <summary>
    /// An asset's identity before it is formatted: by MAC (local segment) or by IP. The keys here are classes, not
    /// structs: the dictionaries over them share the framework's precompiled reference-type code, where a struct key
    /// costs each replay the JIT compiling a dictionary for it (this runs once per flush, not per packet).
    /// </summary>
    private sealed record AssetKey(bool ByMac, MacAddress Mac, IpAddr Ip)
    {
        public string Text => ByMac ? "mac:" + Mac : "ip:" + Ip;
    }

    public static InventorySnapshot Build(IEnumerable<EndpointState> endpoints, IEnumerable<MacState> macs, IEnumerable<LinkState> links,
        Dictionary<string, long> assetIds, OuiRegistry oui)
        => Build(endpoints, macs, links, assetIds, () => oui);

    /// <summary>As above, the vendor registry asked for only when an asset has a MAC.</summary>
    public static InventorySnapshot Build(IEnumerable<EndpointState> endpoints, IEnumerable<MacState> macs, IEnumerable<LinkState> links,
        Dictionary<string, long> assetIds, Func<OuiRegistry> oui)
    {
        var routers = new Dictionary<MacAddress, MacState>();
        foreach (var m in macs)
            if (m.IsRouter) routers[m.Mac] = m;
        var eps = endpoints as IReadOnlyCollection<EndpointState> ?? [.. endpoints];
        var ipToMac = new Dictionary<IpAddr, MacAddress?>();
        foreach (var e in eps)
        {
            if (!Usable(e.Mac) || e.Ip.IsZero) continue;
            if (routers.TryGetValue(e.Mac, out var rm) && !rm.ArpIps.Contains(e.Ip)) continue;
            ipToMac[e.Ip] = ipToMac.TryGetValue(e.Ip, out var prev) && prev != e.Mac ? null : e.Mac;
        }

        AssetKey? KeyFor(MacAddress mac, IpAddr ip)
        {
            if (Usable(mac))
            {
                if (!routers.TryGetValue(mac, out var r) || ip.IsZero || r.ArpIps.Contains(ip)) return new AssetKey(true, mac, default);
                return new AssetKey(false, default, ip);
            }
            if (ip.IsZero) return null;
            if (ipToMac.TryGetValue(ip, out var owner) && owner is { } m) return new AssetKey(true, m, default);
            return new AssetKey(false, default, ip);
        }

        var builders = new Dictionary<AssetKey, Builder>(eps.Count);
        Builder Get(AssetKey key)
        {
            if (!builders.TryGetValue(key, out var b))
            {
                b = new Builder(key.Text);
                if (key.ByMac) b.Mac = key.Mac;
                builders[key] = b;
            }
            return b;
        }

        foreach (var e in eps)
        {
            if (KeyFor(e.Mac, e.Ip) is not { } key) continue;
            var b = Get(key);
            b.Add(e, counters: true);
            if (Usable(e.Mac) && routers.ContainsKey(e.Mac) && !(key.ByMac && key.Mac == e.Mac))
            {
                // Traffic forwarded by the router: counted on the router too (its attributes stay with the remote host).
                Get(new AssetKey(true, e.Mac, default)).AddCounters(e);
            }
        }
        foreach (var (mac, m) in routers)
        {
            var rb = Get(new AssetKey(true, mac, default));
            rb.Roles |= AssetRoles.Router;
            rb.RouterReason = m.RouterReason;
            foreach (var ip in m.ArpIps) rb.Ips.Add(ip);
        }

        var ordered = new Builder[builders.Count];
        builders.Values.CopyTo(ordered, 0);
        Array.Sort(ordered, static (x, y) => string.CompareOrdinal(x.Key, y.Key));

        // Stable ids: known keys keep theirs; new keys get the next ids in key order.
        long next = 1;
        foreach (var id in assetIds.Values)
            if (id >= next) next = id + 1;
        foreach (var b in ordered)
        {
            if (!assetIds.TryGetValue(b.Key, out long id))
            {
                id = next++;
                assetIds[b.Key] = id;
            }
            b.Id = id;
        }

        var snap = new InventorySnapshot { Assets = new List<AssetRecord>(ordered.Length) };
        foreach (var b in ordered)
        {
            b.Record = b.ToRecord(b.Id, oui);
            snap.Assets.Add(b.Record);
        }

        var linkMap = new Dictionary<LinkMapKey, LinkBuilder>();
        foreach (var l in links)
        {
            if (KeyFor(l.ClientMac, l.ClientIp) is not { } ck || KeyFor(l.ServerMac, l.ServerIp) is not { } sk
                || !builders.TryGetValue(ck, out var cb) || !builders.TryGetValue(sk, out var sb)) continue;
            var lk = new LinkMapKey(cb.Id, sb.Id, l.Protocol, l.Transport, l.Port);
            if (!linkMap.TryGetValue(lk, out var r))
            {
                r = new LinkBuilder(cb.Record!, sb.Record!, l);
                linkMap[lk] = r;
            }
            r.Merge(l);
        }
        var linkOrder = new LinkBuilder[linkMap.Count];
        linkMap.Values.CopyTo(linkOrder, 0);
        Array.Sort(linkOrder, static (x, y) =>
        {
            int c = x.Record.ClientId.CompareTo(y.Record.ClientId);
            if (c == 0) c = x.Record.ServerId.CompareTo(y.Record.ServerId);
            return c != 0 ? c : string.CompareOrdinal(x.SortTail, y.SortTail);
        });
        snap.Links = new List<LinkRecord>(linkOrder.Length);
        long lid = 1;
        foreach (var r in linkOrder) r.Record.Id = lid++;
        MakeLinkRecords(linkOrder);
        foreach (var r in linkOrder) snap.Links.Add(r.Record);
        return snap;
    }

    /// <summary>Below this many links the records are made on the calling thread only.</summary>
    private const int ParallelLinkRecords = 256;

    /// <summary>
    /// Makes every link record (<see cref="LinkBuilder.ToRecord"/>: each reads its own endpoint links and writes only its
    /// own record). A large view shares them with a thread-pool helper, each taking the next one not taken (at the end of a
    /// replay the other core is otherwise idle while this thread makes them). The helper is waited for only once it has
    /// started: one that has not run by the time this thread is done is told to do nothing, so a busy pool never holds the
    /// caller up.
    /// </summary>
    private static void MakeLinkRecords(LinkBuilder[] builders)
    {
        if (builders.Length < ParallelLinkRecords)
        {
            foreach (var b in builders) b.ToRecord();
            return;
        }
        var work = new LinkRecordWork(builders);
        var helper = Task.Run(work.Help);
        work.Run();
        if (work.Finish()) helper.GetAwaiter().GetResult();
    }

    private sealed class LinkRecordWork(LinkBuilder[] builders)
    {
        private int _next = -1;
        /// <summary>0: the helper has not started, 1: it runs, 2: it must not start.</summary>
        private int _helper;

        public void Run()
        {
            for (int i = Interlocked.Increment(ref _next); i < builders.Length; i = Interlocked.Increment(ref _next)) builders[i].ToRecord();
        }

        public void Help()
        {
            if (Interlocked.CompareExchange(ref _helper, 1, 0) == 0) Run();
        }

        /// <summary>True when the helper started (its last record may still be being made: wait for it).</summary>
        public bool Finish() => Interlocked.CompareExchange(ref _helper, 2, 0) == 1;
    }

    /// <summary>RFC 3339 UTC with microseconds: <see cref="PacketTime.ToRfc3339"/> (formatted by hand there).</summary>
    internal static string Time(long ns) => PacketTime.ToRfc3339(ns);

    /// <summary>One asset link: client and server asset ids, protocol, transport, port.</summary>
    private sealed record LinkMapKey(long ClientId, long ServerId, string? Protocol, string Transport, int Port);

    /// <summary>A parsed "unit/table/access" range key.</summary>
    private sealed record RangeKeyParts(int Unit, string Table, string Access);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, RangeKeyParts?> s_rangeKeys = new(StringComparer.Ordinal);

    /// <summary>"unit/table/access" parsed (cached: the keys come from a small set), or null when malformed.</summary>
    private static RangeKeyParts? RangeKey(string key)
    {
        if (s_rangeKeys.TryGetValue(key, out var parsed)) return parsed;
        var parts = key.Split('/');
        parsed = parts.Length == 3 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int unit) ? new RangeKeyParts(unit, parts[1], parts[2]) : null;
        if (s_rangeKeys.Count < 4096) s_rangeKeys.TryAdd(key, parsed);
        return parsed;
    }

    /// <summary>Accumulates the endpoint links that map to one asset link (formatted once, at the end).</summary>
    /// <remarks>
    /// Most asset links have one endpoint link: its operations and ranges are then read from it when the record is made,
    /// without copying them into dictionaries first (what copying gives for one link is the same keys in the same order).
    /// The dictionaries are made when a second endpoint link is merged.
    /// </remarks>
    private sealed class LinkBuilder
    {
        private long _first;
        private long _last;
        private LinkState? _single;
        private Dictionary<string, long>? _operations;
        private Dictionary<string, RangeSet>? _ranges;

        public LinkBuilder(AssetRecord client, AssetRecord server, LinkState l)
        {
            Record = new LinkRecord { ClientId = client.Id, ServerId = server.Id, Client = client.Label, Server = server.Label, Protocol = l.Protocol, Transport = l.Transport, Port = l.Port };
            SortTail = string.Create(CultureInfo.InvariantCulture, $"{l.Protocol}|{l.Transport}|{l.Port:D5}");
        }

        public LinkRecord Record { get; }
        public string SortTail { get; }

        public void Merge(LinkState l)
        {
            if (l.FirstSeenNs > 0 && (_first == 0 || l.FirstSeenNs < _first)) _first = l.FirstSeenNs;
            if (l.LastSeenNs > 0 && l.LastSeenNs > _last) _last = l.LastSeenNs;
            Record.Packets += l.Packets;
            Record.Bytes += l.Bytes;
            Record.Transactions += l.Transactions;
            if (_operations is null)
            {
                if (_single is null)
                {
                    _single = l;
                    return;
                }
                _operations = new Dictionary<string, long>(StringComparer.Ordinal);
                _ranges = new Dictionary<string, RangeSet>(StringComparer.Ordinal);
                AddDetails(_single);
                _single = null;
            }
            AddDetails(l);
        }

        private void AddDetails(LinkState l)
        {
            foreach (var (op, n) in l.Operations)
            {
                _operations![op] = _operations.GetValueOrDefault(op) + n;
            }
            foreach (var (key, set) in l.ModbusRanges)
            {
                if (!_ranges!.TryGetValue(key, out var acc))
                {
                    acc = new RangeSet();
                    _ranges[key] = acc;
                }
                acc.AddAll(set);
            }
        }

        /// <summary>Function code and other operation counts of the record being made, added to its sorted maps at once (<see cref="AddFunctions"/>).</summary>
        [ThreadStatic] private static List<KeyValuePair<int, long>>? t_functions;
        [ThreadStatic] private static List<KeyValuePair<string, long>>? t_operations;

        private static void AddOperation(List<KeyValuePair<int, long>> functions, List<KeyValuePair<string, long>> operations, string op, long n)
        {
            if (op.Length > 2 && op.StartsWith("fc", StringComparison.Ordinal) && int.TryParse(op.AsSpan(2), NumberStyles.None, CultureInfo.InvariantCulture, out int fc))
                functions.Add(new(fc, n));
            else operations.Add(new(op, n));
        }

        /// <summary>
        /// The other operations into the record's sorted map. They come from one dictionary (an endpoint link's, or the
        /// merged one), so their keys are distinct and each is new to a fresh map: added as they come, without sorting
        /// them first or looking each up (the map orders them; a map already holding some adds to its counts).
        /// </summary>
        private static void AddOperations(LinkRecord r, List<KeyValuePair<string, long>> operations)
        {
            var map = r.Operations;
            bool fresh = map.Count == 0;
            foreach (var (op, n) in operations)
            {
                if (fresh || !map.TryGetValue(op, out long known)) map.Add(op, n);
                else map[op] = known + n;
            }
            operations.Clear();
        }

        /// <summary>
        /// The function code counts in ascending code order, a code's counts summed: one insertion each into the sorted
        /// map instead of a lookup and an insertion per operation (the map holds the same sums either way).
        /// </summary>
        private static void AddFunctions(LinkRecord r, List<KeyValuePair<int, long>> functions)
        {
            if (functions.Count > 1) functions.Sort(static (x, y) => x.Key.CompareTo(y.Key));
            var map = r.ModbusFunctions;
            bool fresh = map.Count == 0; // then every (merged) code is new to it
            for (int i = 0; i < functions.Count;)
            {
                int fc = functions[i].Key;
                long sum = 0;
                for (; i < functions.Count && functions[i].Key == fc; i++) sum += functions[i].Value;
                if (fresh || !map.TryGetValue(fc, out long known)) map.Add(fc, sum);
                else map[fc] = known + sum;
            }
            functions.Clear();
        }

        private void AddRanges(string key, RangeSet set)
        {
            if (RangeKey(key) is not (var unit, var table, var access)) return;
            var r = Record;
            RangeRecord? rr = null;
            foreach (var x in r.ModbusRanges)
                if (x.Unit == unit && x.Table == table && x.Access == access) { rr = x; break; }
            if (rr is null)
            {
                rr = new RangeRecord { Unit = unit, Table = table, Access = access };
                r.ModbusRanges.Add(rr);
            }
            foreach (var x in rr.Ranges) set.Add(x[0], x[1]);
            rr.Ranges = set.Ranges;
        }

        public LinkRecord ToRecord()
        {
            var r = Record;
            // Times are compared at microsecond precision, as the formatted text was.
            if (_first > 0) r.FirstSeen = Time(_first);
            if (_last > 0) r.LastSeen = Time(_last);
            var functions = t_functions ??= [];
            var operations = t_operations ??= [];
            functions.Clear();
            operations.Clear();
            if (_single is { } l)
            {
                // One endpoint link: its own operations and ranges (each range set copied, as merging into an empty one does).
                foreach (var (op, n) in l.Operations) AddOperation(functions, operations, op, n);
                foreach (var (key, set) in l.ModbusRanges)
                {
                    var copy = new RangeSet();
                    copy.AddAll(set);
                    AddRanges(key, copy);
                }
            }
            else if (_operations is not null)
            {
                foreach (var (op, n) in _operations) AddOperation(functions, operations, op, n);
                foreach (var (key, set) in _ranges!) AddRanges(key, set);
            }
            AddFunctions(r, functions);
            AddOperations(r, operations);
            r.ModbusRanges.Sort(static (a, b) =>
            {
                int c = a.Unit.CompareTo(b.Unit);
                if (c == 0) c = string.CompareOrdinal(a.Table, b.Table);
                return c != 0 ? c : string.CompareOrdinal(a.Access, b.Access);
            });
            return r;
        }
    }

    private sealed class Builder(string key)
    {
        public string Key { get; } = key;
        public long Id { get; set; }
        public AssetRecord? Record { get; set; }
        public MacAddress? Mac { get; set; }
        // Plain lists (most assets have one endpoint): sorted and deduplicated once, in ToRecord.
        public List<IpAddr> Ips { get; } = [];
        public List<int> Vlans { get; } = [];
        public long First { get; set; }
        public long Last { get; set; }
        public long PacketsSent, PacketsReceived, BytesSent, BytesReceived;
        public AssetRoles Roles { get; set; }
        public ulong[] Units { get; } = new ulong[4];
        public Dictionary<string, Fact> Facts { get; } = new(StringComparer.Ordinal);
        public List<string> ClientIds { get; } = [];
        public List<string> Usernames { get; } = [];
        public List<string> Resources { get; } = [];
        public List<ServiceState> Services { get; } = [];
        public string? RouterReason { get; set; }

        public void AddCounters(EndpointState e)
        {
            if (e.FirstSeenNs > 0 && (First == 0 || e.FirstSeenNs < First)) First = e.FirstSeenNs;
            if (e.LastSeenNs > Last) Last = e.LastSeenNs;
            PacketsSent += e.PacketsSent;
            PacketsReceived += e.PacketsReceived;
            BytesSent += e.BytesSent;
            BytesReceived += e.BytesReceived;
        }

        public void Add(EndpointState e, bool counters)
        {
            if (counters) AddCounters(e);
            if (!e.Ip.IsZero) Ips.Add(e.Ip);
            foreach (var v in e.Vlans) Vlans.Add(v);
            Roles |= e.Roles;
            for (int i = 0; i < 4 && i < e.ModbusUnits.Length; i++) Units[i] |= e.ModbusUnits[i];
            foreach (var (k, f) in e.Facts)
            {
                string key = k == "arp_ip" ? "ip." + f.Value : k;
                if (!Facts.TryGetValue(key, out var cur) || Better(f, cur)) Facts[key] = f;
            }
            ClientIds.AddRange(e.MqttClientIds);
            Usernames.AddRange(e.MqttUsernames);
            Resources.AddRange(e.CoapResources);
            foreach (var s in e.Services)
            {
                ServiceState? cur = null;
                foreach (var x in Services)
                    if (x.Port == s.Port && x.Transport == s.Transport) { cur = x; break; }
                if (cur is null)
                {
                    Services.Add(new ServiceState { Transport = s.Transport, Port = s.Port, Proto = s.Proto, FirstSeenNs = s.FirstSeenNs, LastSeenNs = s.LastSeenNs, Source = s.Source, Frame = s.Frame });
                    continue;
                }
                if (s.FirstSeenNs > 0 && (cur.FirstSeenNs == 0 || s.FirstSeenNs < cur.FirstSeenNs)) cur.FirstSeenNs = s.FirstSeenNs;
                if (s.LastSeenNs > cur.LastSeenNs) cur.LastSeenNs = s.LastSeenNs;
                cur.Proto ??= s.Proto;
            }
        }

        /// <summary>Sorted (ordinal), duplicates removed: what a sorted set held.</summary>
        private static List<string> Distinct(List<string> values)
        {
            if (values.Count <= 1) return [.. values];
            var sorted = values.ToArray();
            Array.Sort(sorted, StringComparer.Ordinal);
            var list = new List<string>(sorted.Length);
            foreach (var v in sorted)
                if (list.Count == 0 || !string.Equals(list[^1], v, StringComparison.Ordinal)) list.Add(v);
            return list;
        }

        private static List<int> Distinct(List<int> values)
        {
            if (values.Count <= 1) return [.. values];
            values.Sort();
            var list = new List<int>(values.Count);
            foreach (var v in values)
                if (list.Count == 0 || list[^1] != v) list.Add(v);
            return list;
        }

        private static List<string> IpTexts(List<IpAddr> ips)
        {
            if (ips.Count > 1) ips.Sort();
            var list = new List<string>(ips.Count);
            for (int i = 0; i < ips.Count; i++)
                if (i == 0 || ips[i] != ips[i - 1]) list.Add(ips[i].ToString());
            return list;
        }

        private static bool Better(Fact a, Fact b)
        {
            if (a.Unit != b.Unit) return a.Unit >= 0 && (b.Unit < 0 || a.Unit < b.Unit);
            return a.TimeNs < b.TimeNs;
        }

        public AssetRecord ToRecord(long id, Func<OuiRegistry> oui)
        {
            var a = new AssetRecord
            {
                Id = id,
                Key = Key,
                Kind = Key.StartsWith("mac:", StringComparison.Ordinal) ? "mac" : "ip",
                Mac = Mac?.ToString(),
                MacVendor = Mac is { } m ? oui().Describe(m) : null,
                Ips = IpTexts(Ips),
                Vlans = Distinct(Vlans),
                FirstSeen = First > 0 ? Time(First) : null,
                LastSeen = Last > 0 ? Time(Last) : null,
                PacketsSent = PacketsSent,
                PacketsReceived = PacketsReceived,
                BytesSent = BytesSent,
                BytesReceived = BytesReceived,
                Roles = AssetRoleNames.Names(Roles),
                MqttClientIds = Distinct(ClientIds),
                MqttUsernames = Distinct(Usernames),
                CoapResources = Distinct(Resources),
                RouterReason = RouterReason,
            };
            for (int u = 0; u < 256; u++)
                if ((Units[u >> 6] & (1UL << (u & 63))) != 0) a.ModbusUnits.Add(u);
            foreach (var k in s_identityKeys)
                if (Facts.TryGetValue(k, out var f)) a.Identity.Set(k, f.Value);
            foreach (var (k, f) in Facts)
            {
                string name = Array.IndexOf(s_identityKeys, k) >= 0 ? "identity." + k : k;
                a.Sources[name] = new FactRecord
                {
                    Value = f.Value, Source = f.Source, Frame = f.Frame, Time = f.TimeNs > 0 ? Time(f.TimeNs) : null,
                    Confidence = f.Confidence, Unit = f.Unit >= 0 ? f.Unit : null,
                };
            }
            // The order of a sorted (transport, port) map: transport with the default string comparer, then port.
            if (Services.Count > 1)
                Services.Sort(static (x, y) =>
                {
                    int c = Comparer<string>.Default.Compare(x.Transport, y.Transport);
                    return c != 0 ? c : x.Port.CompareTo(y.Port);
                });
            foreach (var s in Services)
            {
                a.Services.Add(new ServiceRecord
                {
                    Transport = s.Transport, Port = s.Port, Proto = s.Proto, Source = s.Source,
                    FirstSeen = s.FirstSeenNs > 0 ? Time(s.FirstSeenNs) : null,
                    LastSeen = s.LastSeenNs > 0 ? Time(s.LastSeenNs) : null,
                });
            }
            return a;
        }
    }
}

/// <summary>JSON and CSV forms of assets and links for scripts.</summary>
public static class InventoryFormats
{
    /// <summary>
    /// Snake-case names, indented, the default encoder (<see cref="JavaScriptEncoder.Default"/>); compile-time metadata
    /// (<see cref="InventoryJsonContext"/>) for assets and links, no reflection.
    /// </summary>
    public static JsonSerializerOptions Json => InventoryJsonContext.Default.Options;

    public static string AssetsJson(IReadOnlyList<AssetRecord> assets) => JsonSerializer.Serialize(assets, InventoryJsonContext.Default.IReadOnlyListAssetRecord);

    public static string LinksJson(IReadOnlyList<LinkRecord> links) => JsonSerializer.Serialize(links, InventoryJsonContext.Default.IReadOnlyListLinkRecord);

    internal static AssetRecord? ReadAsset(string json) => JsonSerializer.Deserialize(json, InventoryJsonContext.Default.AssetRecord);

    internal static LinkRecord? ReadLink(string json) => JsonSerializer.Deserialize(json, InventoryJsonContext.Default.LinkRecord);

    /// <summary>One CSV field (RFC 4180 quoting; a leading =, +, -, @ is prefixed with ' so spreadsheets do not run it as a formula).</summary>
    public static string CsvField(string? value)
    {
        if (string.IsNullOrEmpty(value)) return "";
        if (value[0] is '=' or '+' or '-' or '@' or '\t' or '\r') value = "'" + value;
        if (value.AsSpan().IndexOfAny(",\"\r\n") < 0) return value;
        return "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    public static string AssetsCsv(IReadOnlyList<AssetRecord> assets)
    {
        var sb = new StringBuilder();
        sb.Append("id,kind,mac,mac_vendor,ips,vlans,first_seen,last_seen,roles,modbus_units,vendor_name,product_code,revision,vendor_url,product_name,model_name,user_application_name,mqtt_client_ids,mqtt_usernames,coap_resources,services,packets_sent,packets_received,bytes_sent,bytes_received\n");
        var ci = CultureInfo.InvariantCulture;
        foreach (var a in assets)
        {
            string[] f =
            [
                a.Id.ToString(ci), a.Kind, a.Mac ?? "", a.MacVendor ?? "", string.Join(' ', a.Ips), string.Join(' ', a.Vlans.Select(v => v.ToString(ci))),
                a.FirstSeen ?? "", a.LastSeen ?? "", string.Join(' ', a.Roles), string.Join(' ', a.ModbusUnits.Select(v => v.ToString(ci))),
                a.Identity.VendorName ?? "", a.Identity.ProductCode ?? "", a.Identity.Revision ?? "", a.Identity.VendorUrl ?? "",
                a.Identity.ProductName ?? "", a.Identity.ModelName ?? "", a.Identity.UserApplicationName ?? "",
                string.Join(' ', a.MqttClientIds), string.Join(' ', a.MqttUsernames), string.Join(' ', a.CoapResources),
                string.Join(' ', a.Services.Select(s => $"{s.Transport}/{s.Port.ToString(ci)}{(s.Proto is null ? "" : "/" + s.Proto)}")),
                a.PacketsSent.ToString(ci), a.PacketsReceived.ToString(ci), a.BytesSent.ToString(ci), a.BytesReceived.ToString(ci),
            ];
            sb.AppendJoin(',', f.Select(CsvField)).Append('\n');
        }
        return sb.ToString();
    }

    public static string LinksCsv(IReadOnlyList<LinkRecord> links)
    {
        var sb = new StringBuilder();
        sb.Append("id,client_id,client,server_id,server,protocol,transport,port,first_seen,last_seen,packets,bytes,transactions,modbus_functions,modbus_ranges\n");
        var ci = CultureInfo.InvariantCulture;
        foreach (var l in links)
        {
            string[] f =
            [
                l.Id.ToString(ci), l.ClientId.ToString(ci), l.Client, l.ServerId.ToString(ci), l.Server, l.Protocol ?? "", l.Transport,
                l.Port.ToString(ci), l.FirstSeen ?? "", l.LastSeen ?? "", l.Packets.ToString(ci), l.Bytes.ToString(ci), l.Transactions.ToString(ci),
                string.Join(' ', l.ModbusFunctions.Select(kv => $"{kv.Key.ToString(ci)}:{kv.Value.ToString(ci)}")),
                string.Join(' ', l.ModbusRanges.Select(r => $"{r.Unit.ToString(ci)}/{r.Table}/{r.Access}=" + string.Join(';', r.Ranges.Select(x => $"{x[0].ToString(ci)}-{x[1].ToString(ci)}")))),
            ];
            sb.AppendJoin(',', f.Select(CsvField)).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>A Modbus function code's name, for display.</summary>
    public static string FunctionName(int fc) => ModbusFunctions.Name((byte)fc);
}

/// <summary>Compile-time JSON metadata for the scripts' form of assets and links (<see cref="InventoryFormats.Json"/>).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true)]
[JsonSerializable(typeof(AssetRecord))]
[JsonSerializable(typeof(LinkRecord))]
[JsonSerializable(typeof(IReadOnlyList<AssetRecord>))]
[JsonSerializable(typeof(IReadOnlyList<LinkRecord>))]
internal sealed partial class InventoryJsonContext : JsonSerializerContext;
