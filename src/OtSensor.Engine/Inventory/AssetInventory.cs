using System.Diagnostics;
using System.Text;
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;
using OtSensor.Output;
using OtSensor.Pipeline;
using OtSensor.Protocols.Modbus;
using OtSensor.Store;

namespace OtSensor.Inventory;

public sealed class InventoryOptions
{
    /// <summary>A MAC seen with more than this many distinct IPv4 addresses (or IPv6 /64 prefixes) is a router.</summary>
    public int RouterMaxIps { get; init; } = 3;
    /// <summary>A MAC whose IPv4 addresses fall in different subnets of this prefix length is a router.</summary>
    public int RouterSubnetPrefixV4 { get; init; } = 24;
    /// <summary>
    /// How often (wall clock) dirty state is handed to the store during a replay. Each flush rebuilds the asset view, so
    /// the wait also grows to 10x what the previous flush cost (except with <see cref="TimeSpan.Zero"/>: every batch).
    /// </summary>
    public TimeSpan FlushInterval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Bound on half-open TCP handshakes and unanswered UDP datagrams tracked for service detection.</summary>
    public int MaxPending { get; init; } = 16384;
    public int MaxEndpoints { get; init; } = 1_000_000;
    public int MaxLinks { get; init; } = 1_000_000;
}

/// <summary>
/// The asset inventory and communication map, built on the analysis thread (single-threaded, no locks) from packets
/// (addresses, VLANs, ARP, handshakes) and events (Modbus transactions, FC 43/14 identities; MQTT / CoAP via the
/// Add* methods). State is kept per (MAC, IP) endpoint and turned into assets by <see cref="InventoryMaterializer"/>.
/// With a store, the state is seeded from it and dirty state is written in the background periodically and at the end.
/// </summary>
public sealed class AssetInventory : IEventConsumer
{
    private const int CacheBits = 14;
    private const int CacheSize = 1 << CacheBits;
    private readonly InventoryOptions _options;
    private readonly Dictionary<(MacAddress, IpAddr), EndpointState> _endpoints = [];
    private readonly Dictionary<MacAddress, MacState> _macs = [];
    private readonly Dictionary<LinkKey, LinkState> _links = [];
    private readonly Dictionary<(IpAddr Ip, byte Transport, ushort Port), string?> _services = [];
    private readonly Dictionary<(IpAddr, ushort, IpAddr, ushort), long> _tcpPending = [];
    private readonly Dictionary<(IpAddr, ushort, IpAddr, ushort), long> _udpPending = [];
    private readonly CacheEntry[] _cache = new CacheEntry[CacheSize];
    private readonly Dictionary<string, long> _assetIds = new(StringComparer.Ordinal);
    private readonly InventoryStoreWriter? _writer;
    private long _lastFlush = Stopwatch.GetTimestamp();
    /// <summary>Analysis-thread time of the last flush (snapshot + serialising dirty state).</summary>
    private TimeSpan _lastFlushCost;
    /// <summary>A periodic flush waits at least this many times what the previous one cost (analysis + writer), so it stays under ~10%.</summary>
    private const int FlushCostRatio = 10;
    private int _generation;

    private static readonly string[] s_tables = ["coils", "discrete_inputs", "holding_registers", "input_registers"];
    private readonly Dictionary<int, string> _rangeKeys = [];

    public AssetInventory(InventoryOptions? options = null, InventoryStore? store = null)
    {
        _options = options ?? new InventoryOptions();
        if (store is not null)
        {
            var seed = store.Load();
            foreach (var e in seed.Endpoints) _endpoints[(e.Mac, e.Ip)] = e;
            foreach (var m in seed.Macs)
            {
                _macs[m.Mac] = m;
                if (m.IsRouter) Naming.Router(m.Mac, AssetNaming.Before);
                foreach (var ip in m.ArpIps) Naming.ArpIp(m.Mac, ip, AssetNaming.Before);
            }
            foreach (var l in seed.Links) _links[LinkKey.Of(l)] = l;
            foreach (var (k, id) in seed.AssetIds) _assetIds[k] = id;
            foreach (var e in _endpoints.Values)
                foreach (var s in e.Services)
                    _services[(e.Ip, s.Transport == "udp" ? (byte)17 : (byte)6, (ushort)s.Port)] = s.Proto;
            SeededAssets = seed.AssetIds.Count;
            _writer = new InventoryStoreWriter(store);
            foreach (var e in _endpoints.Values)
                if (Usable(e.Mac)) { RequestVendors(); break; }
        }
    }

    private bool _vendorsRequested;

    /// <summary>
    /// The first endpoint with a usable MAC: the vendor registry (a 5 MB text file) is loaded in the background while
    /// the pipeline runs, for the snapshot. Without such an endpoint no asset has a MAC and it is never read.
    /// </summary>
    private void RequestVendors()
    {
        if (_vendorsRequested) return;
        _vendorsRequested = true;
        _ = Task.Run(() => OuiRegistry.Default);
    }

    public InventoryOptions Options => _options;

    /// <summary>
    /// The key of the asset an endpoint belongs to, as the inventory names assets now: <c>mac:…</c> on the local
    /// segment (a usable MAC that is not a router's, or the router's own address), <c>ip:…</c> behind a router or
    /// without a MAC; null for neither. For detection (alerts' src_asset / dst_asset), on the analysis thread.
    /// </summary>
    public string? AssetKeyOf(MacAddress mac, IpAddr ip)
    {
        if (!mac.IsZero && !mac.IsMulticast)
        {
            if (!_macs.TryGetValue(mac, out var m) || !m.IsRouter || ip.IsZero || m.ArpIps.Contains(ip)) return "mac:" + mac;
            return "ip:" + ip;
        }
        return ip.IsZero ? null : "ip:" + ip;
    }
    public IReadOnlyCollection<EndpointState> Endpoints => _endpoints.Values;
    public IReadOnlyCollection<MacState> Macs => _macs.Values;
    public IReadOnlyCollection<LinkState> Links => _links.Values;
    /// <summary>Assets already in the store when the run started.</summary>
    public int SeededAssets { get; }
    /// <summary>Pending handshakes / datagrams dropped to respect <see cref="InventoryOptions.MaxPending"/>, and endpoints / links not created past their bound.</summary>
    public long Dropped { get; private set; }
    /// <summary>The first store failure (the replay goes on; nothing committed before it is lost), or null.</summary>
    public StoreException? StoreError => _writer?.Error;

    // ------------------------------------------------------------------ packets

    /// <summary>
    /// The asset keys of this inventory for another analysis thread (the detection engine's alerts), as
    /// <see cref="AssetKeyOf"/> gives them at the same point of the replay.
    /// </summary>
    public AssetNaming Naming { get; } = new();

    // Where the consumers' order is (see AssetNaming): the batch and the index of the event being handled.
    private long _batchSequence;
    private long _eventIndex;
    private long _stamp;

    public void OnPackets(PacketBatch batch)
    {
        _batchSequence = batch.Sequence;
        _eventIndex = 0;
        _stamp = AssetNaming.Stamp(_batchSequence, 0);
        try
        {
            OnPacketsOf(batch);
        }
        finally
        {
            // Published before the periodic flush: another thread may be waiting to name alerts of this batch.
            Naming.Publish(_stamp);
        }
        MaybeFlush(final: false);
    }

    private void OnPacketsOf(PacketBatch batch)
    {
        _version++;
        for (int i = 0; i < batch.Count; i++)
        {
            ref readonly var slot = ref batch.Slots[i];
            ref readonly var d = ref batch.Decoded[i];
            long ts = slot.TimestampNs;
            int len = slot.OriginalLength;
            if (d.Network is NetworkLayer.IPv4 or NetworkLayer.IPv6 && !d.SrcIp.IsZero)
            {
                OnIpPacket(in d, ts, len, slot.PacketNumber);
            }
            else if (d.Network == NetworkLayer.Arp)
            {
                OnArp(in d, ts, len, slot.PacketNumber);
            }
            else if (Usable(d.SrcMac))
            {
                var ep = Endpoint(d.SrcMac, default, ts, slot.PacketNumber);
                if (ep is not null) Sent(ep, ts, len, d.Vlan);
            }
        }
    }

    private static bool Usable(MacAddress mac) => !mac.IsZero && !mac.IsMulticast;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void Sent(EndpointState ep, long ts, int len, ushort vlan)
    {
        ep.PacketsSent++;
        ep.BytesSent += len;
        ep.Seen(ts);
        ep.Dirty = true;
        if (vlan != 0) ep.AddVlan(vlan);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static void Received(EndpointState ep, long ts, int len, ushort vlan)
    {
        ep.PacketsReceived++;
        ep.BytesReceived += len;
        ep.Seen(ts);
        ep.Dirty = true;
        if (vlan != 0) ep.AddVlan(vlan);
    }

    private void OnArp(in DecodedPacket d, long ts, int len, long frame)
    {
        var mac = Usable(d.ArpSenderMac) ? d.ArpSenderMac : d.SrcMac;
        if (!Usable(mac)) return;
        var ip = d.ArpSenderIp;
        var ep = Endpoint(mac, ip, ts, frame);
        if (ep is null) return;
        Sent(ep, ts, len, d.Vlan);
        if (ip.IsZero || ip.IsMulticast || ip.IsBroadcastV4) return;
        if (!ep.Facts.ContainsKey("arp_ip"))
            ep.Facts["arp_ip"] = new Fact { Value = ip.ToString(), Source = "arp", Frame = frame, TimeNs = ts, Confidence = "high" };
        var ms = Mac(mac);
        if (!ms.ArpIps.Contains(ip) && ms.ArpIps.Count < MacState.MaxIps)
        {
            ms.ArpIps.Add(ip);
            ms.Dirty = true;
            Naming.ArpIp(mac, ip, _stamp);
        }
    }

    private void OnIpPacket(in DecodedPacket d, long ts, int len, long frame)
    {
        byte transport = d.Transport switch
        {
            TransportLayer.Tcp when !d.IsFragment => 6,
            TransportLayer.Udp when !d.IsFragment => 17,
            _ => 0,
        };
        ushort sp = transport != 0 ? d.SrcPort : (ushort)0;
        ushort dp = transport != 0 ? d.DstPort : (ushort)0;
        var src = d.SrcIp;
        var dst = d.DstIp;
        var srcMac = d.SrcMac.IsMulticast ? default : d.SrcMac;
        var dstMac = d.DstMac.IsMulticast ? default : d.DstMac;
        ref var e = ref _cache[CacheIndex(src, dst, sp, dp, srcMac)];
        if (!(e.Valid && e.Src == src && e.Dst == dst && e.SPort == sp && e.DPort == dp && e.Transport == transport && e.SrcMac == srcMac && e.DstMac == dstMac))
        {
            e.Valid = true;
            e.Src = src; e.Dst = dst; e.SPort = sp; e.DPort = dp; e.Transport = transport; e.SrcMac = srcMac; e.DstMac = dstMac;
            e.SrcEp = Endpoint(srcMac, src, ts, frame);
            e.DstEp = dst.IsZero || dst.IsMulticast || dst.IsBroadcastV4 ? null : Endpoint(dstMac, dst, ts, frame);
            e.Link = null;
            e.Generation = -1;
        }
        if (e.SrcEp is { } s) Sent(s, ts, len, d.Vlan);
        if (e.DstEp is { } r) Received(r, ts, len, d.Vlan);
        if (transport == 0) return;

        if (transport == 6)
        {
            var flags = d.Flags;
            if ((flags & (TcpFlags.Syn | TcpFlags.Ack)) == (TcpFlags.Syn | TcpFlags.Ack))
            {
                if (!_services.ContainsKey((src, 6, sp)))
                {
                    if (_tcpPending.Count >= _options.MaxPending) { _tcpPending.Clear(); Dropped++; }
                    _tcpPending[(dst, dp, src, sp)] = frame;
                }
            }
            else if (e.Link is null && _tcpPending.Count > 0 && (flags & (TcpFlags.Ack | TcpFlags.Syn | TcpFlags.Rst)) == TcpFlags.Ack
                && _tcpPending.Remove((src, sp, dst, dp)) && e.DstEp is { } server)
            {
                RegisterService(server, dst, 6, dp, GuessProtocol(6, dp), "handshake", frame, ts);
            }
        }

        if (e.Link is null || e.Generation != _generation)
        {
            e.Generation = _generation;
            e.Link = ResolveLink(ref e, ts, frame, out e.ToServer);
        }
        if (e.Link is { } link)
        {
            link.Packets++;
            link.Bytes += len;
            link.Seen(ts);
            link.Dirty = true;
            if (link.Service is { } svc && ts > svc.LastSeenNs) svc.LastSeenNs = ts;
        }
    }

    /// <summary>
    /// The packet cache slot of a (source, destination, ports, source MAC): every bit of every field mixed in, so flows
    /// whose addresses differ only in high bits (10.x.y.1 pairs, one client port) do not share slots and evict each
    /// other on every packet (a miss costs two endpoint lookups and a link resolution).
    /// </summary>
    private static int CacheIndex(IpAddr src, IpAddr dst, ushort sp, ushort dp, MacAddress srcMac)
    {
        const ulong K = 0x9E3779B97F4A7C15UL;
        ulong x = (src.Lo * K) ^ src.Hi ^ ((dst.Lo ^ (dst.Hi * K)) * 0xC2B2AE3D27D4EB4FUL) ^ (((ulong)sp << 16 | dp) * 0x165667B19E3779F9UL) ^ srcMac.Value;
        x ^= x >> 31;
        x *= K;
        return (int)(x >> (64 - CacheBits));
    }

    private LinkState? ResolveLink(ref CacheEntry e, long ts, long frame, out bool toServer)
    {
        toServer = false;
        if (e.SrcEp is null || e.DstEp is null) return null;
        EndpointState client, server;
        ushort port;
        if (_services.TryGetValue((e.Dst, e.Transport, e.DPort), out var proto))
        {
            client = e.SrcEp; server = e.DstEp; port = e.DPort; toServer = true;
        }
        else if (_services.TryGetValue((e.Src, e.Transport, e.SPort), out proto))
        {
            client = e.DstEp; server = e.SrcEp; port = e.SPort;
        }
        else
        {
            if (e.Transport == 17 && DetectUdpService(ref e, ts, frame)) return ResolveLink(ref e, ts, frame, out toServer);
            return null;
        }
        var link = Link(client, server, e.Transport, port, ts);
        if (link is null) return null;
        if (link.Protocol is null && proto is not null) link.Protocol = proto;
        link.Service ??= server.Service(e.Transport == 17 ? "udp" : "tcp", port);
        ApplyPortRoles(client, server, link.Protocol);
        return link;
    }

    /// <summary>True when this datagram answered an earlier one and a UDP service was registered.</summary>
    private bool DetectUdpService(ref CacheEntry e, long ts, long frame)
    {
        if (_udpPending.Remove((e.Dst, e.DPort, e.Src, e.SPort)))
        {
            // A reply: the side on a well-known port (else the lower port; the responder on a tie) is the server.
            bool srcWk = WellKnownPorts.IsServerPort(e.SPort), dstWk = WellKnownPorts.IsServerPort(e.DPort);
            bool srcIsServer = srcWk != dstWk ? srcWk : e.SPort <= e.DPort;
            if (srcIsServer) RegisterService(e.SrcEp!, e.Src, 17, e.SPort, GuessProtocol(17, e.SPort), "udp_reply", frame, ts);
            else RegisterService(e.DstEp!, e.Dst, 17, e.DPort, GuessProtocol(17, e.DPort), "udp_reply", frame, ts);
            return true;
        }
        if (_udpPending.Count >= _options.MaxPending) { _udpPending.Clear(); Dropped++; }
        _udpPending.TryAdd((e.Src, e.SPort, e.Dst, e.DPort), frame);
        return false;
    }

    /// <summary>A protocol name from a well-known port (medium confidence), or null.</summary>
    public static string? GuessProtocol(byte transport, ushort port) => (transport, port) switch
    {
        (6, 502) => "modbus",
        (6, 802) => "modbus_tls",
        (6, 1883) => "mqtt",
        (6, 8883) => "mqtt_tls",
        (17, 5683) => "coap",
        (17, 5684) => "coap_dtls",
        _ => null,
    };

    public static string? ProtocolName(ProtocolId id) => id switch
    {
        ProtocolId.Modbus => "modbus",
        ProtocolId.Mqtt => "mqtt",
        ProtocolId.MqttTls => "mqtt_tls",
        ProtocolId.Coap => "coap",
        ProtocolId.CoapDtls => "coap_dtls",
        _ => null,
    };

    private static void ApplyPortRoles(EndpointState client, EndpointState server, string? proto)
    {
        AssetRoles c = AssetRoles.None, s = AssetRoles.None;
        switch (proto)
        {
            case "mqtt" or "mqtt_tls": s = AssetRoles.MqttBroker; c = AssetRoles.MqttClient; break;
            case "coap" or "coap_dtls": s = AssetRoles.CoapServer; c = AssetRoles.CoapClient; break;
        }
        if ((client.Roles & c) != c) { client.Roles |= c; client.Dirty = true; }
        if ((server.Roles & s) != s) { server.Roles |= s; server.Dirty = true; }
    }

    /// <summary>Records a service on <paramref name="server"/>; returns its record when the endpoint keeps it (null past the bound).</summary>
    private ServiceState? RegisterService(EndpointState server, IpAddr ip, byte transport, ushort port, string? proto, string source, long frame, long ts)
    {
        var key = (ip, transport, port);
        if (!_services.TryGetValue(key, out var known))
        {
            _services[key] = proto;
            _generation++;
        }
        else if (known is null && proto is not null)
        {
            _services[key] = proto;
            _generation++;
        }
        var svc = server.Service(transport == 17 ? "udp" : "tcp", port);
        if (svc.FirstSeenNs == 0 || ts < svc.FirstSeenNs) svc.FirstSeenNs = ts;
        if (ts > svc.LastSeenNs) svc.LastSeenNs = ts;
        if (svc.Source.Length == 0) { svc.Source = source; svc.Frame = frame; }
        if (proto is not null && (svc.Proto is null || source == "response")) svc.Proto = proto;
        server.Dirty = true;
        return server.Services.Contains(svc) ? svc : null;
    }

    private MacState Mac(MacAddress mac)
    {
        if (!_macs.TryGetValue(mac, out var ms))
        {
            ms = new MacState { Mac = mac, Dirty = true };
            _macs[mac] = ms;
        }
        return ms;
    }

    /// <summary>The endpoint for (mac, ip), created on first sight (null past the bound).</summary>
    private EndpointState? Endpoint(MacAddress mac, IpAddr ip, long ts, long frame)
    {
        if (_endpoints.TryGetValue((mac, ip), out var ep)) return ep;
        if (_endpoints.Count >= _options.MaxEndpoints) { Dropped++; return null; }
        ep = new EndpointState { Mac = mac, Ip = ip, FirstSeenNs = ts, LastSeenNs = ts, Dirty = true };
        _endpoints[(mac, ip)] = ep;
        if (!_vendorsRequested && Usable(mac)) RequestVendors();
        if (Usable(mac) && !ip.IsZero) TrackMacIp(Mac(mac), ip, frame);
        return ep;
    }

    private void TrackMacIp(MacState ms, IpAddr ip, long frame)
    {
        if (ms.Ips.Contains(ip)) return;
        if (ms.Ips.Count < MacState.MaxIps) ms.Ips.Add(ip);
        ms.Dirty = true;
        if (ms.IsRouter) return;
        var reason = RouterReason(ms.Ips, _options);
        if (reason is not null)
        {
            ms.IsRouter = true;
            ms.RouterReason = reason;
            ms.RouterFrame = frame;
            Naming.Router(ms.Mac, _stamp);
        }
    }

    /// <summary>Why a MAC carrying these IPs is a router, or null when it looks like one host.</summary>
    public static string? RouterReason(IReadOnlyList<IpAddr> ips, InventoryOptions options)
    {
        int v4 = 0;
        uint? subnet = null;
        bool manySubnets = false;
        var v6Prefixes = new HashSet<ulong>();
        int prefix = Math.Clamp(options.RouterSubnetPrefixV4, 1, 32);
        uint mask = prefix == 32 ? uint.MaxValue : ~(uint.MaxValue >> prefix);
        foreach (var ip in ips)
        {
            if (ip.IsMulticast || ip.IsBroadcastV4 || ip.IsZero) continue;
            if (ip.IsV4)
            {
                uint a = ip.V4;
                if ((a >> 16) == 0xA9FE || (a >> 24) == 127) continue; // link-local, loopback
                v4++;
                if (subnet is null) subnet = a & mask;
                else if (subnet != (a & mask)) manySubnets = true;
            }
            else if ((ip.Hi >> 54) != 0x3FA) // not fe80::/10
            {
                v6Prefixes.Add(ip.Hi);
            }
        }
        if (v4 > options.RouterMaxIps) return $"more than {options.RouterMaxIps} IPv4 addresses";
        if (v6Prefixes.Count > options.RouterMaxIps) return $"more than {options.RouterMaxIps} IPv6 /64 prefixes";
        if (manySubnets) return $"IPv4 addresses in different /{prefix} subnets";
        return null;
    }

    private LinkState? Link(EndpointState client, EndpointState server, byte transport, ushort port, long ts)
    {
        var key = new LinkKey(client.Mac, client.Ip, server.Mac, server.Ip, transport, port);
        if (_links.TryGetValue(key, out var link)) return link;
        if (_links.Count >= _options.MaxLinks) { Dropped++; return null; }
        link = new LinkState
        {
            ClientMac = client.Mac, ClientIp = client.Ip, ServerMac = server.Mac, ServerIp = server.Ip,
            Transport = transport == 17 ? "udp" : "tcp", Port = port, FirstSeenNs = ts, LastSeenNs = ts, Dirty = true,
        };
        _links[key] = link;
        return link;
    }

    // ------------------------------------------------------------------ events

    public void OnEvent(in EventEntry entry, EventBuffer buffer, PacketBatch batch)
    {
        _stamp = AssetNaming.Stamp(_batchSequence, ++_eventIndex);
        try
        {
            OnEventOf(in entry, buffer);
        }
        finally
        {
            Naming.Publish(_stamp);
        }
    }

    private void OnEventOf(in EventEntry entry, EventBuffer buffer)
    {
        _version++;
        if (entry.Kind != EventKind.Transaction) return;
        ref readonly var tx = ref entry.Transaction;
        long ts = tx.HasResponse ? tx.ResponseTs : tx.RequestTs;
        long frame = tx.HasResponse ? tx.ResponsePacket : tx.RequestPacket;
        ref readonly var flow = ref entry.Flow;
        // The flow's endpoints, link and service are looked up once per flow (endpoints and links are never removed).
        ref var fc = ref _flowCache[(int)((ulong)(flow.FlowId * unchecked((long)0x9E3779B97F4A7C15)) >> (64 - FlowCacheBits))];
        if (!(fc.Client is not null && fc.FlowId == flow.FlowId && fc.ServerPort == flow.ServerPort && fc.Transport == flow.Transport
            && fc.ClientIp == flow.ClientIp && fc.ServerIp == flow.ServerIp && fc.ClientMac == flow.ClientMac && fc.ServerMac == flow.ServerMac))
        {
            fc = default;
            var c = ClientOf(in flow, ts, frame);
            var sv = ServerOf(in flow, ts, frame);
            if (c is null || sv is null) return;
            fc.FlowId = flow.FlowId; fc.ServerPort = flow.ServerPort; fc.Transport = flow.Transport;
            fc.ClientIp = flow.ClientIp; fc.ServerIp = flow.ServerIp; fc.ClientMac = flow.ClientMac; fc.ServerMac = flow.ServerMac;
            fc.Client = c; fc.Server = sv;
        }
        var client = fc.Client;
        var server = fc.Server!;
        byte transport = flow.Transport == TransportLayer.Udp ? (byte)17 : (byte)6;
        string? proto = ProtocolName(tx.Protocol);
        if (tx.HasResponse)
        {
            if (proto is not null && ReferenceEquals(proto, fc.ServiceProto) && fc.Service is { } svc)
            {
                // Registered by an earlier response of this flow: the services map cannot change any more (it only
                // changes from unknown or null), so only the service record is updated, as RegisterService would.
                if (svc.FirstSeenNs == 0 || ts < svc.FirstSeenNs) svc.FirstSeenNs = ts;
                if (ts > svc.LastSeenNs) svc.LastSeenNs = ts;
                svc.Proto = proto;
                server.Dirty = true;
            }
            else
            {
                fc.Service = RegisterService(server, flow.ServerIp, transport, flow.ServerPort, proto, "response", frame, ts);
                fc.ServiceProto = proto;
            }
        }
        var link = fc.Link ??= Link(client, server, transport, flow.ServerPort, ts);
        if (link is not null)
        {
            if (proto is not null) link.Protocol = proto;
            link.Service ??= server.Service(transport == 17 ? "udp" : "tcp", entry.Flow.ServerPort);
            link.Transactions++;
            link.Seen(ts);
            link.Dirty = true;
        }
        switch (tx.Protocol)
        {
            case ProtocolId.Modbus when !tx.FieldsEncoded:
                OnModbus(in entry, buffer, client, server, link, ts, frame);
                break;
            case ProtocolId.Mqtt when tx.FieldsEncoded:
                OnMqtt(buffer.Slice(entry.RequestOffset, entry.RequestLength), client, server, link, ts, frame);
                break;
            case ProtocolId.Mqtt or ProtocolId.MqttTls:
                ApplyPortRoles(client, server, "mqtt");
                break;
            case ProtocolId.Coap when tx.FieldsEncoded:
                OnCoap(buffer.Slice(entry.RequestOffset, entry.RequestLength), client, server, link, ts, frame);
                break;
            case ProtocolId.Coap or ProtocolId.CoapDtls:
                ApplyPortRoles(client, server, "coap");
                break;
        }
    }

    private static string Text(ReadOnlySpan<byte> utf8) => Encoding.UTF8.GetString(utf8.Length > 256 ? utf8[..256] : utf8);

    /// <summary>MQTT facts from an event's fields: client ids and users (CONNECT), publishers, subscribers, topics.</summary>
    private void OnMqtt(ReadOnlySpan<byte> blob, EndpointState client, EndpointState broker, LinkState? link, long ts, long frame)
    {
        if (!EventFieldReader.TryFind(blob, Protocols.Mqtt.MqttFields.Type, out _, out var type)) return;
        bool fromClient = !EventFieldReader.TryFind(blob, Protocols.Mqtt.MqttFields.Direction, out _, out var dir) || dir.SequenceEqual("to_server"u8);
        if (type.SequenceEqual("connect"u8))
        {
            string? id = EventFieldReader.TryFind(blob, Protocols.Mqtt.MqttFields.ClientId, out _, out var cid) && !cid.IsEmpty ? Text(cid) : null;
            string? user = EventFieldReader.TryFind(blob, Protocols.Mqtt.MqttFields.Username, out _, out var u) ? Text(u) : null;
            AddMqttClient(client, broker, id, user, new FactSource("mqtt CONNECT", frame, ts));
        }
        else if (type.SequenceEqual("publish"u8))
        {
            if (fromClient) AddMqttPublisher(client, broker);
            else AddMqttSubscriber(client, broker);
            if (link is not null && EventFieldReader.TryFind(blob, Protocols.Mqtt.MqttFields.Topic, out _, out var topic))
                CountTopic(link, topic, publish: fromClient);
        }
        else if (type.SequenceEqual("subscribe"u8))
        {
            AddMqttSubscriber(client, broker);
            if (link is null) return;
            foreach (var filter in Protocols.Mqtt.MqttTopicFilters.Of(blob)) CountTopic(link, filter, publish: false);
        }
        else
        {
            ApplyPortRoles(client, broker, "mqtt");
        }
    }

    /// <summary>CoAP facts: requested resources, methods and codes per link, and /.well-known/core resource lists.</summary>
    private void OnCoap(ReadOnlySpan<byte> blob, EndpointState client, EndpointState server, LinkState? link, long ts, long frame)
    {
        ApplyPortRoles(client, server, "coap");
        if (EventFieldReader.TryFind(blob, Protocols.Coap.CoapFields.UriPath, out _, out var path) && !path.IsEmpty)
            AddCoapResource(client, server, Text(path), new FactSource("coap request", frame, ts));
        if (link is not null && EventFieldReader.TryFind(blob, Protocols.Coap.CoapFields.Method, out _, out var method))
        {
            // CountOperation(link, Text(method) + " " + Text(code)) (or the method alone), the key made in a stack buffer.
            Span<char> key = stackalloc char[256 + 1 + 256];
            int n = Encoding.UTF8.GetChars(method.Length > 256 ? method[..256] : method, key);
            if (EventFieldReader.TryFind(blob, Protocols.Coap.CoapFields.Code, out _, out var code))
            {
                key[n++] = ' ';
                n += Encoding.UTF8.GetChars(code.Length > 256 ? code[..256] : code, key[n..]);
            }
            CountCleaned(link, key[..n]);
        }
        if (EventFieldReader.TryFind(blob, Protocols.Coap.CoapFields.Resources, out _, out _))
        {
            var r = new EventFieldReader(blob);
            while (r.Read())
                if (r.Field == Protocols.Coap.CoapFields.Path && r.Kind == EventFieldKind.String)
                    AddCoapResource(client, server, Text(r.Value), new FactSource("coap /.well-known/core", frame, ts));
        }
    }

    private static AssetInventory Changed(AssetInventory inventory)
    {
        inventory._version++;
        return inventory;
    }

    /// <summary>The client endpoint of an event's flow (created if new).</summary>
    public EndpointState? ClientOf(in FlowEndpoints flow, long ts, long frame)
        => Changed(this).Endpoint(flow.ClientMac.IsMulticast ? default : flow.ClientMac, flow.ClientIp, ts, frame);

    /// <summary>The server endpoint of an event's flow (created if new).</summary>
    public EndpointState? ServerOf(in FlowEndpoints flow, long ts, long frame)
        => Changed(this).Endpoint(flow.ServerMac.IsMulticast ? default : flow.ServerMac, flow.ServerIp, ts, frame);

    /// <summary>The link of an event's flow (created if new); for per-operation counts (MQTT packet type, CoAP method + code).</summary>
    public LinkState? LinkOf(in FlowEndpoints flow, long ts, long frame)
    {
        var c = ClientOf(in flow, ts, frame);
        var s = ServerOf(in flow, ts, frame);
        if (c is null || s is null) return null;
        return Link(c, s, flow.Transport == TransportLayer.Udp ? (byte)17 : (byte)6, flow.ServerPort, ts);
    }

    /// <summary>An MQTT CONNECT: the client's id and user name (strings off the wire: bounded, control characters replaced).</summary>
    public void AddMqttClient(EndpointState client, EndpointState broker, string? clientId, string? username, FactSource source)
    {
        _version++;
        ApplyPortRoles(client, broker, "mqtt");
        if (clientId is not null) EndpointState.AddBounded(client.MqttClientIds, Clean(clientId));
        if (username is not null) EndpointState.AddBounded(client.MqttUsernames, Clean(username));
        if (clientId is not null && !client.Facts.ContainsKey("mqtt_client_id"))
            client.Facts["mqtt_client_id"] = new Fact { Value = Clean(clientId), Source = source.Source, Frame = source.Frame, TimeNs = source.TimeNs, Confidence = source.Confidence };
        client.Dirty = true;
    }

    /// <summary>An MQTT PUBLISH from <paramref name="client"/> (to the broker) proves a publisher.</summary>
    public void AddMqttPublisher(EndpointState client, EndpointState broker)
    {
        _version++;
        ApplyPortRoles(client, broker, "mqtt");
        client.Roles |= AssetRoles.MqttPublisher;
        client.Dirty = true;
    }

    /// <summary>An MQTT SUBSCRIBE (or a PUBLISH delivered to it) proves a subscriber.</summary>
    public void AddMqttSubscriber(EndpointState client, EndpointState broker)
    {
        _version++;
        ApplyPortRoles(client, broker, "mqtt");
        client.Roles |= AssetRoles.MqttSubscriber;
        client.Dirty = true;
    }

    /// <summary>
    /// As <see cref="AddMqttTopic"/> with the topic off the wire (UTF-8): the operation key is made in a stack buffer (the
    /// same text: at most 256 bytes decoded, control characters replaced) and looked up as it is, so a topic the link
    /// already counts costs no string.
    /// </summary>
    private static void CountTopic(LinkState link, ReadOnlySpan<byte> utf8, bool publish)
    {
        ReadOnlySpan<char> prefix = publish ? "publish:" : "subscribe:";
        if (utf8.Length > 256) utf8 = utf8[..256];
        Span<char> key = stackalloc char[10 + 256];
        prefix.CopyTo(key);
        // A UTF-8 sequence never decodes to more chars than it has bytes (invalid bytes each become one U+FFFD).
        int n = Encoding.UTF8.GetChars(utf8, key[prefix.Length..]);
        var text = key.Slice(prefix.Length, n);
        for (int i = 0; i < text.Length; i++)
            if (char.IsControl(text[i])) text[i] = '?';
        link.CountOperation(key[..(prefix.Length + n)]);
        link.Dirty = true;
    }

    /// <summary>As <see cref="CountOperation"/>: the text cleaned in place (at most 256 characters, control characters replaced).</summary>
    private static void CountCleaned(LinkState link, Span<char> text)
    {
        if (text.Length > 256) text = text[..256];
        for (int i = 0; i < text.Length; i++)
            if (char.IsControl(text[i])) text[i] = '?';
        link.CountOperation(text);
        link.Dirty = true;
    }

    /// <summary>A topic a client published or subscribed to, counted on the link as an operation "topic:NAME" (bounded).</summary>
    public static void AddMqttTopic(LinkState link, string topic, bool publish)
    {
        link.CountOperation((publish ? "publish:" : "subscribe:") + Clean(topic));
        link.Dirty = true;
    }

    /// <summary>A CoAP resource (URI path) served by <paramref name="server"/>.</summary>
    public void AddCoapResource(EndpointState client, EndpointState server, string path, FactSource source)
    {
        _version++;
        _ = source;
        ApplyPortRoles(client, server, "coap");
        EndpointState.AddBounded(server.CoapResources, Clean(path));
        server.Dirty = true;
    }

    /// <summary>An operation on a link: MQTT packet type ("PUBLISH"), CoAP method + code ("GET 2.05").</summary>
    public static void CountOperation(LinkState link, string operation)
    {
        link.CountOperation(Clean(operation));
        link.Dirty = true;
    }

    /// <summary>True when <c>Clean(Latin1(bytes))</c> would equal <paramref name="text"/> (bytes of at most 256).</summary>
    internal static bool SameCleanLatin1(string text, ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > 256 || text.Length != bytes.Length) return false;
        for (int i = 0; i < bytes.Length; i++)
        {
            char c = (char)bytes[i];
            if ((char.IsControl(c) ? '?' : c) != text[i]) return false;
        }
        return true;
    }

    internal static string Clean(string s)
    {
        if (s.Length > 256) s = s[..256];
        bool control = false;
        foreach (char c in s)
        {
            if (char.IsControl(c)) { control = true; break; }
        }
        if (!control) return s;
        var sb = new StringBuilder(s.Length);
        foreach (char c in s) sb.Append(char.IsControl(c) ? '?' : c);
        return sb.ToString();
    }

    /// <summary>
    /// A Modbus transaction: roles, units, function / exception counts and the request's address ranges. Only the bytes
    /// the inventory uses are read (MBAP unit id, function byte, the request's address and quantity fields), with the
    /// same rules as <see cref="ModbusTransactionFields.TryExtract"/> (a side counts with at least a function byte after
    /// the header; unit and function from the request when there is one; ranges only from a request long enough to hold
    /// its fields), without decoding the rest of both PDUs on every transaction.
    /// </summary>
    private void OnModbus(in EventEntry entry, EventBuffer buffer, EndpointState client, EndpointState server, LinkState? link, long ts, long frame)
    {
        ref readonly var tx = ref entry.Transaction;
        const int H = ModbusFraming.HeaderLength;
        var req = buffer.Slice(entry.RequestOffset, entry.RequestLength);
        var resp = buffer.Slice(entry.ResponseOffset, entry.ResponseLength);
        bool hasRequest = req.Length > H, hasResponse = resp.Length > H;
        if (!hasRequest && !hasResponse) return;
        byte unit = hasRequest ? req[H - 1] : resp[H - 1];
        byte function = hasRequest ? req[H] : (byte)(resp[H] & 0x7F);
        if (hasRequest && (client.Roles & AssetRoles.ModbusClient) == 0) { client.Roles |= AssetRoles.ModbusClient; client.Dirty = true; }
        if (hasResponse)
        {
            server.Roles |= AssetRoles.ModbusServer;
            server.AddUnit(unit);
            server.Dirty = true;
        }
        if (link is null) return;
        link.CountSlot(function & 0x7F);
        if (hasResponse && (resp[H] & 0x80) != 0)
        {
            link.CountSlot(LinkState.ExceptionSlot);
            return;
        }
        if (hasRequest) AddRequestRanges(link, unit, function, req[H..]);
        if (hasResponse && resp.Length > 9 && resp[7] == 43 && resp[8] == ModbusFunctions.MeiReadDeviceIdentification)
            OnIdentity(server, unit, resp[7..], ts, tx.ResponsePacket == 0 ? frame : tx.ResponsePacket);
    }

    /// <summary>
    /// The coils / registers a request reads or writes (table: 0 coils, 1 discrete inputs, 2 holding, 3 input registers),
    /// where <see cref="ModbusPduReader.TryReadRequest"/> finds an address: FC 1-4 and 5 / 6 with 5 PDU bytes, 15 / 16 with
    /// 6, 22 with 7, 23 with 10.
    /// </summary>
    private void AddRequestRanges(LinkState link, byte unit, byte function, ReadOnlySpan<byte> pdu)
    {
        int n = pdu.Length;
        switch (function)
        {
            case 1 or 2 or 3 or 4 when n >= 5: AddRange(link, unit, function - 1, false, U16(pdu, 1), U16(pdu, 3)); break;
            case 5 when n >= 5: AddRange(link, unit, 0, true, U16(pdu, 1), 1); break;
            case 6 when n >= 5: AddRange(link, unit, 2, true, U16(pdu, 1), 1); break;
            case 15 when n >= 6: AddRange(link, unit, 0, true, U16(pdu, 1), U16(pdu, 3)); break;
            case 16 when n >= 6: AddRange(link, unit, 2, true, U16(pdu, 1), U16(pdu, 3)); break;
            case 22 when n >= 7: AddRange(link, unit, 2, true, U16(pdu, 1), 1); break;
            case 23 when n >= 10:
                AddRange(link, unit, 2, false, U16(pdu, 1), U16(pdu, 3));
                AddRange(link, unit, 2, true, U16(pdu, 5), U16(pdu, 7));
                break;
        }
    }

    private static int U16(ReadOnlySpan<byte> pdu, int at) => System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(pdu[at..]);

    private void AddRange(LinkState link, byte unit, int table, bool write, int a, int q)
    {
        if (q <= 0) return;
        int k = (unit << 3) | (table << 1) | (write ? 1 : 0);
        var cache = link.RangeCache ??= [];
        if (!cache.TryGetValue(k, out var set))
        {
            if (!_rangeKeys.TryGetValue(k, out var key))
            {
                key = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{unit}/{s_tables[table]}/{(write ? "write" : "read")}");
                _rangeKeys[k] = key;
            }
            if (!link.ModbusRanges.TryGetValue(key, out set))
            {
                if (link.ModbusRanges.Count >= LinkState.MaxRangeKeys) return;
                set = new RangeSet();
                link.ModbusRanges[key] = set;
            }
            cache[k] = set;
        }
        set.Add(a, Math.Min(65535, a + q - 1));
    }

    private static void OnIdentity(EndpointState server, byte unit, ReadOnlySpan<byte> pdu, long ts, long frame)
    {
        if (!ModbusDeviceIdentification.TryParse(pdu, out var id)) return;
        foreach (var o in id)
        {
            if (o.ObjectId > 6) continue;
            var v = o.Value.Length > ModbusIdentity.MaxValueLength ? o.Value[..ModbusIdentity.MaxValueLength] : o.Value;
            string name = ModbusIdentity.KeyFor(o.ObjectId);
            // Devices repeat their identity: the known value is compared with the bytes before any string is made.
            if (server.Facts.TryGetValue(name, out var existing) && (existing.Unit < unit || (existing.Unit == unit && SameCleanLatin1(existing.Value, v)))) continue;
            string value = Clean(Encoding.Latin1.GetString(v));
            server.Facts[name] = new Fact { Value = value, Source = "modbus_fc43", Frame = frame, TimeNs = ts, Confidence = "high", Unit = unit };
        }
        server.Dirty = true;
    }

    // ------------------------------------------------------------------ output

    /// <summary>Assets and links as of now (deterministic: sorted keys, ids stable across runs with a store).</summary>
    /// <remarks>
    /// Cached until the inventory changes (any packet, event or Add* / *Of call): asking twice is free. The returned
    /// records are shared with later callers (and the store writer): treat them as read-only.
    /// </remarks>
    public InventorySnapshot Snapshot()
    {
        if (_snapshot is null || _snapshotVersion != _version)
        {
            FlushPendingOperations();
            _snapshot = InventoryMaterializer.Build(_endpoints.Values, _macs.Values, _links.Values, _assetIds, static () => OuiRegistry.Default);
            _snapshotVersion = _version;
        }
        return _snapshot;
    }

    private InventorySnapshot? _snapshot;
    private long _snapshotVersion;
    /// <summary>Bumped by every entry point that can change the state (invalidates the cached snapshot).</summary>
    private long _version;

    public void OnComplete(ReplayStats stats) => MaybeFlush(final: true);

    /// <summary>Hands dirty state to the background writer; at the end waits until it is committed.</summary>
    private void MaybeFlush(bool final)
    {
        if (_writer is null) return;
        if (!final)
        {
            // Periodic flushes cost at most ~1/FlushCostRatio of the time: the wait grows with what the last one cost.
            var wait = _options.FlushInterval;
            var cost = (_lastFlushCost + _writer.LastWriteDuration) * FlushCostRatio;
            if (wait > TimeSpan.Zero && cost > wait) wait = cost;
            if (Stopwatch.GetElapsedTime(_lastFlush) < wait || _writer.Busy) return;
        }
        else
        {
            _writer.WaitIdle();
            bool noGc = StartFinalFlushNoGcRegion();
            try
            {
                Flush(_writer, final: true);
            }
            finally
            {
                if (noGc) EndNoGcRegion();
            }
            return;
        }
        Flush(_writer, final: false);
    }

    private void Flush(InventoryStoreWriter writer, bool final)
    {
        long started = Stopwatch.GetTimestamp();
        if (writer.Failing)
        {
            // The last write committed nothing (disk full...): retry every StoreRetryInterval, and at the end, with the
            // whole state, so what was seen while the store refused writes is not lost once it takes them again.
            if (!final && writer.SinceFailure < StoreRetryInterval)
            {
                _lastFlush = started;
                return;
            }
            MarkAllDirty();
        }
        FlushPendingOperations();
        StoreBatch batch;
        if (final)
        {
            // The pipeline is over and the cores are free: the view is built on another core while the raw state is
            // serialised here and then upserted by the writer (which waits for the view only after that). Both only
            // read the state; the materialiser does not read the dirty flags cleared below.
            batch = new StoreBatch { Final = true, SnapshotTask = Task.Run(Snapshot) };
            SerializeDirty(batch);
        }
        else
        {
            batch = new StoreBatch { Snapshot = Snapshot() };
            SerializeDirty(batch);
        }
        ClearDirty();
        _lastFlush = Stopwatch.GetTimestamp();
        _lastFlushCost = Stopwatch.GetElapsedTime(started, _lastFlush);
        writer.Submit(batch);
        if (final)
        {
            writer.WaitIdle();
            NewAssets = Math.Max(0, batch.Snapshot.Assets.Count - SeededAssets); // waits for the view if still being built
        }
    }

    /// <summary>What the final flush allocates per endpoint, MAC and link (view records, row JSON), generously: ~9 KB measured.</summary>
    private const long FinalFlushBytesPerRecord = 16 * 1024;
    /// <summary>Above this estimate the final flush runs with the collector as usual.</summary>
    private const long FinalFlushNoGcLimit = 256L * 1024 * 1024;

    /// <summary>
    /// The final flush allocates the view and the rows' JSON (~60 MB for 1,728 assets and 5,184 links) while everything
    /// the run built is still live: a collection then finds nothing to free and only copies the inventory (a seventh of a
    /// 1M-packet replay's instructions, and the pages it copies to). The process is about to finish with that memory, so
    /// the flush asks for the room up front instead (no collection is run to make it: false when it is not there). Past
    /// the estimate the collector simply runs as it would have.
    /// </summary>
    private bool StartFinalFlushNoGcRegion()
    {
        long bytes = (_endpoints.Count + _macs.Count + (long)_links.Count) * FinalFlushBytesPerRecord + 8 * 1024 * 1024;
        if (bytes > FinalFlushNoGcLimit) return false;
        try
        {
            return GC.TryStartNoGCRegion(bytes, disallowFullBlockingGC: true);
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or InvalidOperationException)
        {
            return false; // larger than the runtime allows, or a region already started elsewhere
        }
    }

    private static void EndNoGcRegion()
    {
        try
        {
            GC.EndNoGCRegion();
        }
        catch (InvalidOperationException)
        {
            // The flush allocated more than asked for: the collector ran and ended the region (this call still clears it).
        }
    }

    private void FlushPendingOperations()
    {
        foreach (var l in _links.Values) l.FlushPendingOperations();
    }

    /// <summary>The raw state rows of every dirty endpoint, MAC and link (reads the state only).</summary>
    private void SerializeDirty(StoreBatch batch)
    {
        foreach (var e in _endpoints.Values)
            if (e.Dirty) StoreRowWriter.Add(batch.Endpoints, e);
        foreach (var m in _macs.Values)
            if (m.Dirty) StoreRowWriter.Add(batch.Macs, m);
        foreach (var l in _links.Values)
            if (l.Dirty) StoreRowWriter.Add(batch.Links, l);
    }

    /// <summary>How often a failing store is retried.</summary>
    public static readonly TimeSpan StoreRetryInterval = TimeSpan.FromSeconds(30);

    /// <summary>True while the store refuses writes (the inventory keeps everything in memory and retries).</summary>
    public bool StoreFailing => _writer?.Failing ?? false;

    private void MarkAllDirty()
    {
        foreach (var e in _endpoints.Values) e.Dirty = true;
        foreach (var m in _macs.Values) m.Dirty = true;
        foreach (var l in _links.Values) l.Dirty = true;
    }

    private void ClearDirty()
    {
        foreach (var e in _endpoints.Values) e.Dirty = false;
        foreach (var m in _macs.Values) m.Dirty = false;
        foreach (var l in _links.Values) l.Dirty = false;
    }

    /// <summary>Assets created by this run (set after the final flush with a store).</summary>
    public int NewAssets { get; private set; }

    private const int FlowCacheBits = 13;
    private readonly FlowCacheEntry[] _flowCache = new FlowCacheEntry[1 << FlowCacheBits];

    /// <summary>What an event's flow resolves to (valid while its endpoints match: endpoints and links are never removed).</summary>
    private struct FlowCacheEntry
    {
        public long FlowId;
        public ushort ServerPort;
        public TransportLayer Transport;
        public IpAddr ClientIp, ServerIp;
        public MacAddress ClientMac, ServerMac;
        public EndpointState? Client, Server;
        public LinkState? Link;
        public ServiceState? Service;
        public string? ServiceProto;
    }

    private struct CacheEntry
    {
        public bool Valid;
        public byte Transport;
        public bool ToServer;
        public ushort SPort, DPort;
        public int Generation;
        public IpAddr Src, Dst;
        public MacAddress SrcMac, DstMac;
        public EndpointState? SrcEp, DstEp;
        public LinkState? Link;
    }
}

internal readonly record struct LinkKey(MacAddress ClientMac, IpAddr ClientIp, MacAddress ServerMac, IpAddr ServerIp, byte Transport, ushort Port)
{
    public static LinkKey Of(LinkState l) => new(l.ClientMac, l.ClientIp, l.ServerMac, l.ServerIp, l.Transport == "udp" ? (byte)17 : (byte)6, (ushort)l.Port);
}
