using System.Buffers;
using System.Text;
using System.Text.Json;
using OtSensor.Core;
using OtSensor.Inventory;

namespace OtSensor.Store;

/// <summary>
/// The JSON text of the store's rows (raw endpoint / MAC / link state, asset and link rows), written field by field with
/// one reused <see cref="Utf8JsonWriter"/> per thread. The text is exactly what <see cref="JsonSerializer"/> makes with the
/// store's options (snake_case names, default encoder; the store tests compare both), without the serialiser's generic
/// machinery: a short replay otherwise spends more CPU compiling the serialiser's code than running it.
/// </summary>
internal static class StoreRowWriter
{
    // Property names as UTF-8 literals (no transcoding per row; no JsonEncodedText.Encode of every name, and with it the
    // JavaScriptEncoder, set up when the first row is written: the writer checks these ASCII names against its own table).
    private static ReadOnlySpan<byte> s_access => "access"u8;
    private static ReadOnlySpan<byte> s_arp_ips => "arp_ips"u8;
    private static ReadOnlySpan<byte> s_bytes => "bytes"u8;
    private static ReadOnlySpan<byte> s_bytes_received => "bytes_received"u8;
    private static ReadOnlySpan<byte> s_bytes_sent => "bytes_sent"u8;
    private static ReadOnlySpan<byte> s_client => "client"u8;
    private static ReadOnlySpan<byte> s_client_id => "client_id"u8;
    private static ReadOnlySpan<byte> s_client_ip => "client_ip"u8;
    private static ReadOnlySpan<byte> s_client_mac => "client_mac"u8;
    private static ReadOnlySpan<byte> s_coap_resources => "coap_resources"u8;
    private static ReadOnlySpan<byte> s_confidence => "confidence"u8;
    private static ReadOnlySpan<byte> s_facts => "facts"u8;
    private static ReadOnlySpan<byte> s_first_seen => "first_seen"u8;
    private static ReadOnlySpan<byte> s_first_seen_ns => "first_seen_ns"u8;
    private static ReadOnlySpan<byte> s_frame => "frame"u8;
    private static ReadOnlySpan<byte> s_id => "id"u8;
    private static ReadOnlySpan<byte> s_identity => "identity"u8;
    private static ReadOnlySpan<byte> s_ip => "ip"u8;
    private static ReadOnlySpan<byte> s_ips => "ips"u8;
    private static ReadOnlySpan<byte> s_is_router => "is_router"u8;
    private static ReadOnlySpan<byte> s_key => "key"u8;
    private static ReadOnlySpan<byte> s_kind => "kind"u8;
    private static ReadOnlySpan<byte> s_last_seen => "last_seen"u8;
    private static ReadOnlySpan<byte> s_last_seen_ns => "last_seen_ns"u8;
    private static ReadOnlySpan<byte> s_mac => "mac"u8;
    private static ReadOnlySpan<byte> s_mac_vendor => "mac_vendor"u8;
    private static ReadOnlySpan<byte> s_modbus_functions => "modbus_functions"u8;
    private static ReadOnlySpan<byte> s_modbus_ranges => "modbus_ranges"u8;
    private static ReadOnlySpan<byte> s_modbus_units => "modbus_units"u8;
    private static ReadOnlySpan<byte> s_model_name => "model_name"u8;
    private static ReadOnlySpan<byte> s_mqtt_client_ids => "mqtt_client_ids"u8;
    private static ReadOnlySpan<byte> s_mqtt_usernames => "mqtt_usernames"u8;
    private static ReadOnlySpan<byte> s_operations => "operations"u8;
    private static ReadOnlySpan<byte> s_packets => "packets"u8;
    private static ReadOnlySpan<byte> s_packets_received => "packets_received"u8;
    private static ReadOnlySpan<byte> s_packets_sent => "packets_sent"u8;
    private static ReadOnlySpan<byte> s_port => "port"u8;
    private static ReadOnlySpan<byte> s_product_code => "product_code"u8;
    private static ReadOnlySpan<byte> s_product_name => "product_name"u8;
    private static ReadOnlySpan<byte> s_proto => "proto"u8;
    private static ReadOnlySpan<byte> s_protocol => "protocol"u8;
    private static ReadOnlySpan<byte> s_ranges => "ranges"u8;
    private static ReadOnlySpan<byte> s_revision => "revision"u8;
    private static ReadOnlySpan<byte> s_roles => "roles"u8;
    private static ReadOnlySpan<byte> s_router_frame => "router_frame"u8;
    private static ReadOnlySpan<byte> s_router_reason => "router_reason"u8;
    private static ReadOnlySpan<byte> s_server => "server"u8;
    private static ReadOnlySpan<byte> s_server_id => "server_id"u8;
    private static ReadOnlySpan<byte> s_server_ip => "server_ip"u8;
    private static ReadOnlySpan<byte> s_server_mac => "server_mac"u8;
    private static ReadOnlySpan<byte> s_services => "services"u8;
    private static ReadOnlySpan<byte> s_source => "source"u8;
    private static ReadOnlySpan<byte> s_sources => "sources"u8;
    private static ReadOnlySpan<byte> s_table => "table"u8;
    private static ReadOnlySpan<byte> s_time => "time"u8;
    private static ReadOnlySpan<byte> s_time_ns => "time_ns"u8;
    private static ReadOnlySpan<byte> s_transactions => "transactions"u8;
    private static ReadOnlySpan<byte> s_transport => "transport"u8;
    private static ReadOnlySpan<byte> s_unit => "unit"u8;
    private static ReadOnlySpan<byte> s_user_application_name => "user_application_name"u8;
    private static ReadOnlySpan<byte> s_value => "value"u8;
    private static ReadOnlySpan<byte> s_vendor_name => "vendor_name"u8;
    private static ReadOnlySpan<byte> s_vendor_url => "vendor_url"u8;
    private static ReadOnlySpan<byte> s_vlans => "vlans"u8;

    [ThreadStatic] private static RowJson? t_json;

    private static RowJson Start()
    {
        var w = t_json ??= new RowJson();
        w.Reset();
        return w;
    }

    private static string Finish(RowJson w) => Encoding.UTF8.GetString(w.Written);

    public static string Endpoint(EndpointState e) { var w = Start(); Write(w, e); return Finish(w); }
    public static string Mac(MacState m) { var w = Start(); Write(w, m); return Finish(w); }
    public static string Link(LinkState l) { var w = Start(); Write(w, l); return Finish(w); }
    public static string Asset(AssetRecord a) { var w = Start(); Write(w, a); return Finish(w); }
    public static string Link(LinkRecord l) { var w = Start(); Write(w, l); return Finish(w); }

    /// <summary>An asset row's data column as UTF-8 (what the store binds, without a UTF-16 string in between).</summary>
    public static byte[] AssetUtf8(AssetRecord a) { var w = Start(); Write(w, a); return w.Written.ToArray(); }
    public static byte[] LinkUtf8(LinkRecord l) { var w = Start(); Write(w, l); return w.Written.ToArray(); }

    /// <summary>Appends a raw state row (key and data column, UTF-8) to <paramref name="rows"/>.</summary>
    public static void Add(StateRows rows, string key, EndpointState e) { var w = Start(); Write(w, e); rows.Add(key, w.Written); }
    public static void Add(StateRows rows, string key, MacState m) { var w = Start(); Write(w, m); rows.Add(key, w.Written); }
    public static void Add(StateRows rows, string key, LinkState l) { var w = Start(); Write(w, l); rows.Add(key, w.Written); }

    /// <summary>As above, keyed as the store keys them (<see cref="InventoryStore.EndpointKey"/> and so on), the key made as UTF-8 on the stack.</summary>
    public static void Add(StateRows rows, EndpointState e)
    {
        Span<byte> key = stackalloc byte[InventoryStore.MaxEndpointKeyLength];
        var w = Start();
        Write(w, e);
        rows.Add(key[..InventoryStore.EndpointKeyUtf8(e.Mac, e.Ip, key)], w.Written);
    }

    public static void Add(StateRows rows, MacState m)
    {
        Span<byte> key = stackalloc byte[MacAddress.TextLength];
        var w = Start();
        Write(w, m);
        rows.Add(key[..m.Mac.FormatUtf8(key)], w.Written);
    }

    public static void Add(StateRows rows, LinkState l)
    {
        Span<byte> key = stackalloc byte[InventoryStore.MaxLinkKeyLength];
        var w = Start();
        Write(w, l);
        rows.Add(key[..InventoryStore.LinkKeyUtf8(l, key)], w.Written);
    }

    // Addresses are formatted as UTF-8 on the stack (the same text as their ToString, which needs no escaping).
    private static void Mac(RowJson w, ReadOnlySpan<byte> name, MacAddress mac)
    {
        Span<byte> text = stackalloc byte[MacAddress.TextLength];
        w.Utf8String(name, mac.IsZero ? [] : text[..mac.FormatUtf8(text)]);
    }

    private static void Ip(RowJson w, ReadOnlySpan<byte> name, IpAddr ip)
    {
        Span<byte> text = stackalloc byte[IpAddr.MaxTextLength];
        w.Utf8String(name, ip.IsZero ? [] : text[..ip.FormatUtf8(text)]);
    }

    private static void IpList(RowJson w, ReadOnlySpan<byte> name, List<IpAddr> ips)
    {
        Span<byte> text = stackalloc byte[IpAddr.MaxTextLength];
        w.StartArray(name);
        foreach (var ip in ips) w.Utf8StringValue(text[..ip.FormatUtf8(text)]);
        w.EndArray();
    }

    private static void Strings(RowJson w, ReadOnlySpan<byte> name, List<string> values)
    {
        w.StartArray(name);
        foreach (var s in values)
        {
            w.StringValue(s);
        }
        w.EndArray();
    }

    private static void Ints(RowJson w, ReadOnlySpan<byte> name, List<int> values)
    {
        w.StartArray(name);
        foreach (var v in values) w.NumberValue(v);
        w.EndArray();
    }

    private static void Ranges(RowJson w, List<int[]> ranges)
    {
        w.StartArray(s_ranges);
        foreach (var r in ranges)
        {
            w.StartArray();
            foreach (var x in r) w.NumberValue(x);
            w.EndArray();
        }
        w.EndArray();
    }

    private static void Write(RowJson w, EndpointState e)
    {
        w.StartObject();
        Mac(w, s_mac, e.Mac);
        Ip(w, s_ip, e.Ip);
        w.Number(s_first_seen_ns, e.FirstSeenNs);
        w.Number(s_last_seen_ns, e.LastSeenNs);
        w.Number(s_packets_sent, e.PacketsSent);
        w.Number(s_packets_received, e.PacketsReceived);
        w.Number(s_bytes_sent, e.BytesSent);
        w.Number(s_bytes_received, e.BytesReceived);
        Ints(w, s_vlans, e.Vlans);
        w.Number(s_roles, (int)e.Roles);
        w.StartArray(s_modbus_units);
        foreach (var u in e.ModbusUnits) w.NumberValue(u);
        w.EndArray();
        w.StartObject(s_facts);
        foreach (var (k, f) in e.Facts)
        {
            w.StartObject(k);
            w.String(s_value, f.Value);
            w.String(s_source, f.Source);
            w.Number(s_frame, f.Frame);
            w.Number(s_time_ns, f.TimeNs);
            w.String(s_confidence, f.Confidence);
            w.Number(s_unit, f.Unit);
            w.EndObject();
        }
        w.EndObject();
        Strings(w, s_mqtt_client_ids, e.MqttClientIds);
        Strings(w, s_mqtt_usernames, e.MqttUsernames);
        Strings(w, s_coap_resources, e.CoapResources);
        w.StartArray(s_services);
        foreach (var s in e.Services)
        {
            w.StartObject();
            w.String(s_transport, s.Transport);
            w.Number(s_port, s.Port);
            w.String(s_proto, s.Proto);
            w.Number(s_first_seen_ns, s.FirstSeenNs);
            w.Number(s_last_seen_ns, s.LastSeenNs);
            w.String(s_source, s.Source);
            w.Number(s_frame, s.Frame);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    }

    private static void Write(RowJson w, MacState m)
    {
        w.StartObject();
        Mac(w, s_mac, m.Mac);
        IpList(w, s_ips, m.Ips);
        IpList(w, s_arp_ips, m.ArpIps);
        w.Bool(s_is_router, m.IsRouter);
        w.String(s_router_reason, m.RouterReason);
        w.Number(s_router_frame, m.RouterFrame);
        w.EndObject();
    }

    private static void Write(RowJson w, LinkState l)
    {
        w.StartObject();
        Mac(w, s_client_mac, l.ClientMac);
        Ip(w, s_client_ip, l.ClientIp);
        Mac(w, s_server_mac, l.ServerMac);
        Ip(w, s_server_ip, l.ServerIp);
        w.String(s_transport, l.Transport);
        w.Number(s_port, l.Port);
        w.String(s_protocol, l.Protocol);
        w.Number(s_first_seen_ns, l.FirstSeenNs);
        w.Number(s_last_seen_ns, l.LastSeenNs);
        w.Number(s_packets, l.Packets);
        w.Number(s_bytes, l.Bytes);
        w.Number(s_transactions, l.Transactions);
        w.StartObject(s_operations);
        foreach (var (op, n) in l.Operations) w.Number(op, n);
        w.EndObject();
        w.StartObject(s_modbus_ranges);
        foreach (var (key, set) in l.ModbusRanges)
        {
            w.StartObject(key);
            Ranges(w, set.Ranges);
            w.EndObject();
        }
        w.EndObject();
        w.EndObject();
    }

    private static void Write(RowJson w, AssetRecord a)
    {
        w.StartObject();
        w.Number(s_id, a.Id);
        w.String(s_key, a.Key);
        w.String(s_kind, a.Kind);
        w.String(s_mac, a.Mac);
        w.String(s_mac_vendor, a.MacVendor);
        Strings(w, s_ips, a.Ips);
        Ints(w, s_vlans, a.Vlans);
        w.String(s_first_seen, a.FirstSeen);
        w.String(s_last_seen, a.LastSeen);
        w.Number(s_packets_sent, a.PacketsSent);
        w.Number(s_packets_received, a.PacketsReceived);
        w.Number(s_bytes_sent, a.BytesSent);
        w.Number(s_bytes_received, a.BytesReceived);
        Strings(w, s_roles, a.Roles);
        Ints(w, s_modbus_units, a.ModbusUnits);
        var id = a.Identity;
        if (id is null) w.Null(s_identity);
        else
        {
            w.StartObject(s_identity);
            w.String(s_vendor_name, id.VendorName);
            w.String(s_product_code, id.ProductCode);
            w.String(s_revision, id.Revision);
            w.String(s_vendor_url, id.VendorUrl);
            w.String(s_product_name, id.ProductName);
            w.String(s_model_name, id.ModelName);
            w.String(s_user_application_name, id.UserApplicationName);
            w.EndObject();
        }
        Strings(w, s_mqtt_client_ids, a.MqttClientIds);
        Strings(w, s_mqtt_usernames, a.MqttUsernames);
        Strings(w, s_coap_resources, a.CoapResources);
        w.StartArray(s_services);
        foreach (var s in a.Services)
        {
            w.StartObject();
            w.String(s_transport, s.Transport);
            w.Number(s_port, s.Port);
            w.String(s_proto, s.Proto);
            w.String(s_first_seen, s.FirstSeen);
            w.String(s_last_seen, s.LastSeen);
            w.String(s_source, s.Source);
            w.EndObject();
        }
        w.EndArray();
        w.String(s_router_reason, a.RouterReason);
        w.StartObject(s_sources);
        foreach (var (k, f) in a.Sources)
        {
            w.StartObject(k);
            w.String(s_value, f.Value);
            w.String(s_source, f.Source);
            w.Number(s_frame, f.Frame);
            w.String(s_time, f.Time);
            w.String(s_confidence, f.Confidence);
            if (f.Unit is int u) w.Number(s_unit, u);
            else w.Null(s_unit);
            w.EndObject();
        }
        w.EndObject();
        w.EndObject();
    }

    private static void Write(RowJson w, LinkRecord l)
    {
        w.StartObject();
        w.Number(s_id, l.Id);
        w.Number(s_client_id, l.ClientId);
        w.Number(s_server_id, l.ServerId);
        w.String(s_client, l.Client);
        w.String(s_server, l.Server);
        w.String(s_protocol, l.Protocol);
        w.String(s_transport, l.Transport);
        w.Number(s_port, l.Port);
        w.String(s_first_seen, l.FirstSeen);
        w.String(s_last_seen, l.LastSeen);
        w.Number(s_packets, l.Packets);
        w.Number(s_bytes, l.Bytes);
        w.Number(s_transactions, l.Transactions);
        w.StartObject(s_modbus_functions);
        Span<char> digits = stackalloc char[11];
        foreach (var (fc, n) in l.ModbusFunctions)
        {
            fc.TryFormat(digits, out int len, provider: System.Globalization.CultureInfo.InvariantCulture);
            w.Number(digits[..len], n);
        }
        w.EndObject();
        w.StartObject(s_operations);
        foreach (var (op, n) in l.Operations) w.Number(op, n);
        w.EndObject();
        w.StartArray(s_modbus_ranges);
        foreach (var r in l.ModbusRanges)
        {
            w.StartObject();
            w.Number(s_unit, r.Unit);
            w.String(s_table, r.Table);
            w.String(s_access, r.Access);
            Ranges(w, r.Ranges);
            w.EndObject();
        }
        w.EndArray();
        w.EndObject();
    }
}
