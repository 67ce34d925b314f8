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

    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    private static Utf8JsonWriter Start()
    {
        t_buffer ??= new ArrayBufferWriter<byte>(4096);
        t_buffer.ResetWrittenCount();
        if (t_writer is null) t_writer = new Utf8JsonWriter(t_buffer, new JsonWriterOptions { SkipValidation = true });
        else t_writer.Reset(t_buffer);
        return t_writer;
    }

    private static string Finish(Utf8JsonWriter w)
    {
        w.Flush();
        return Encoding.UTF8.GetString(t_buffer!.WrittenSpan);
    }

    public static string Endpoint(EndpointState e) { var w = Start(); Write(w, e); return Finish(w); }
    public static string Mac(MacState m) { var w = Start(); Write(w, m); return Finish(w); }
    public static string Link(LinkState l) { var w = Start(); Write(w, l); return Finish(w); }
    public static string Asset(AssetRecord a) { var w = Start(); Write(w, a); return Finish(w); }
    public static string Link(LinkRecord l) { var w = Start(); Write(w, l); return Finish(w); }

    /// <summary>An asset row's data column as UTF-8 (what the store binds, without a UTF-16 string in between).</summary>
    public static byte[] AssetUtf8(AssetRecord a) { var w = Start(); Write(w, a); w.Flush(); return t_buffer!.WrittenSpan.ToArray(); }
    public static byte[] LinkUtf8(LinkRecord l) { var w = Start(); Write(w, l); w.Flush(); return t_buffer!.WrittenSpan.ToArray(); }

    /// <summary>Appends a raw state row (key and data column, UTF-8) to <paramref name="rows"/>.</summary>
    public static void Add(StateRows rows, string key, EndpointState e) { var w = rows.Begin(key); Write(w, e); rows.End(w); }
    public static void Add(StateRows rows, string key, MacState m) { var w = rows.Begin(key); Write(w, m); rows.End(w); }
    public static void Add(StateRows rows, string key, LinkState l) { var w = rows.Begin(key); Write(w, l); rows.End(w); }

    /// <summary>As above, keyed as the store keys them (<see cref="InventoryStore.EndpointKey"/> and so on), the key made as UTF-8 on the stack.</summary>
    public static void Add(StateRows rows, EndpointState e)
    {
        Span<byte> key = stackalloc byte[InventoryStore.MaxEndpointKeyLength];
        var w = rows.Begin(key[..InventoryStore.EndpointKeyUtf8(e.Mac, e.Ip, key)]);
        Write(w, e);
        rows.End(w);
    }

    public static void Add(StateRows rows, MacState m)
    {
        Span<byte> key = stackalloc byte[MacAddress.TextLength];
        var w = rows.Begin(key[..m.Mac.FormatUtf8(key)]);
        Write(w, m);
        rows.End(w);
    }

    public static void Add(StateRows rows, LinkState l)
    {
        Span<byte> key = stackalloc byte[InventoryStore.MaxLinkKeyLength];
        var w = rows.Begin(key[..InventoryStore.LinkKeyUtf8(l, key)]);
        Write(w, l);
        rows.End(w);
    }

    // Addresses are formatted as UTF-8 on the stack (the same text as their ToString, which needs no escaping).
    private static void Mac(Utf8JsonWriter w, ReadOnlySpan<byte> name, MacAddress mac)
    {
        Span<byte> text = stackalloc byte[MacAddress.TextLength];
        w.WriteString(name, mac.IsZero ? [] : text[..mac.FormatUtf8(text)]);
    }

    private static void Ip(Utf8JsonWriter w, ReadOnlySpan<byte> name, IpAddr ip)
    {
        Span<byte> text = stackalloc byte[IpAddr.MaxTextLength];
        w.WriteString(name, ip.IsZero ? [] : text[..ip.FormatUtf8(text)]);
    }

    private static void IpList(Utf8JsonWriter w, ReadOnlySpan<byte> name, List<IpAddr> ips)
    {
        Span<byte> text = stackalloc byte[IpAddr.MaxTextLength];
        w.WriteStartArray(name);
        foreach (var ip in ips) w.WriteStringValue(text[..ip.FormatUtf8(text)]);
        w.WriteEndArray();
    }

    private static void Strings(Utf8JsonWriter w, ReadOnlySpan<byte> name, List<string> values)
    {
        w.WriteStartArray(name);
        foreach (var s in values) w.WriteStringValue(s);
        w.WriteEndArray();
    }

    private static void Ints(Utf8JsonWriter w, ReadOnlySpan<byte> name, List<int> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    private static void Ranges(Utf8JsonWriter w, List<int[]> ranges)
    {
        w.WriteStartArray(s_ranges);
        foreach (var r in ranges)
        {
            w.WriteStartArray();
            foreach (var x in r) w.WriteNumberValue(x);
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    private static void Write(Utf8JsonWriter w, EndpointState e)
    {
        w.WriteStartObject();
        Mac(w, s_mac, e.Mac);
        Ip(w, s_ip, e.Ip);
        w.WriteNumber(s_first_seen_ns, e.FirstSeenNs);
        w.WriteNumber(s_last_seen_ns, e.LastSeenNs);
        w.WriteNumber(s_packets_sent, e.PacketsSent);
        w.WriteNumber(s_packets_received, e.PacketsReceived);
        w.WriteNumber(s_bytes_sent, e.BytesSent);
        w.WriteNumber(s_bytes_received, e.BytesReceived);
        Ints(w, s_vlans, e.Vlans);
        w.WriteNumber(s_roles, (int)e.Roles);
        w.WriteStartArray(s_modbus_units);
        foreach (var u in e.ModbusUnits) w.WriteNumberValue(u);
        w.WriteEndArray();
        w.WriteStartObject(s_facts);
        foreach (var (k, f) in e.Facts)
        {
            w.WriteStartObject(k);
            w.WriteString(s_value, f.Value);
            w.WriteString(s_source, f.Source);
            w.WriteNumber(s_frame, f.Frame);
            w.WriteNumber(s_time_ns, f.TimeNs);
            w.WriteString(s_confidence, f.Confidence);
            w.WriteNumber(s_unit, f.Unit);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        Strings(w, s_mqtt_client_ids, e.MqttClientIds);
        Strings(w, s_mqtt_usernames, e.MqttUsernames);
        Strings(w, s_coap_resources, e.CoapResources);
        w.WriteStartArray(s_services);
        foreach (var s in e.Services)
        {
            w.WriteStartObject();
            w.WriteString(s_transport, s.Transport);
            w.WriteNumber(s_port, s.Port);
            w.WriteString(s_proto, s.Proto);
            w.WriteNumber(s_first_seen_ns, s.FirstSeenNs);
            w.WriteNumber(s_last_seen_ns, s.LastSeenNs);
            w.WriteString(s_source, s.Source);
            w.WriteNumber(s_frame, s.Frame);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, MacState m)
    {
        w.WriteStartObject();
        Mac(w, s_mac, m.Mac);
        IpList(w, s_ips, m.Ips);
        IpList(w, s_arp_ips, m.ArpIps);
        w.WriteBoolean(s_is_router, m.IsRouter);
        w.WriteString(s_router_reason, m.RouterReason);
        w.WriteNumber(s_router_frame, m.RouterFrame);
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, LinkState l)
    {
        w.WriteStartObject();
        Mac(w, s_client_mac, l.ClientMac);
        Ip(w, s_client_ip, l.ClientIp);
        Mac(w, s_server_mac, l.ServerMac);
        Ip(w, s_server_ip, l.ServerIp);
        w.WriteString(s_transport, l.Transport);
        w.WriteNumber(s_port, l.Port);
        w.WriteString(s_protocol, l.Protocol);
        w.WriteNumber(s_first_seen_ns, l.FirstSeenNs);
        w.WriteNumber(s_last_seen_ns, l.LastSeenNs);
        w.WriteNumber(s_packets, l.Packets);
        w.WriteNumber(s_bytes, l.Bytes);
        w.WriteNumber(s_transactions, l.Transactions);
        w.WriteStartObject(s_operations);
        foreach (var (op, n) in l.Operations) w.WriteNumber(op, n);
        w.WriteEndObject();
        w.WriteStartObject(s_modbus_ranges);
        foreach (var (key, set) in l.ModbusRanges)
        {
            w.WriteStartObject(key);
            Ranges(w, set.Ranges);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, AssetRecord a)
    {
        w.WriteStartObject();
        w.WriteNumber(s_id, a.Id);
        w.WriteString(s_key, a.Key);
        w.WriteString(s_kind, a.Kind);
        w.WriteString(s_mac, a.Mac);
        w.WriteString(s_mac_vendor, a.MacVendor);
        Strings(w, s_ips, a.Ips);
        Ints(w, s_vlans, a.Vlans);
        w.WriteString(s_first_seen, a.FirstSeen);
        w.WriteString(s_last_seen, a.LastSeen);
        w.WriteNumber(s_packets_sent, a.PacketsSent);
        w.WriteNumber(s_packets_received, a.PacketsReceived);
        w.WriteNumber(s_bytes_sent, a.BytesSent);
        w.WriteNumber(s_bytes_received, a.BytesReceived);
        Strings(w, s_roles, a.Roles);
        Ints(w, s_modbus_units, a.ModbusUnits);
        var id = a.Identity;
        if (id is null) w.WriteNull(s_identity);
        else
        {
            w.WriteStartObject(s_identity);
            w.WriteString(s_vendor_name, id.VendorName);
            w.WriteString(s_product_code, id.ProductCode);
            w.WriteString(s_revision, id.Revision);
            w.WriteString(s_vendor_url, id.VendorUrl);
            w.WriteString(s_product_name, id.ProductName);
            w.WriteString(s_model_name, id.ModelName);
            w.WriteString(s_user_application_name, id.UserApplicationName);
            w.WriteEndObject();
        }
        Strings(w, s_mqtt_client_ids, a.MqttClientIds);
        Strings(w, s_mqtt_usernames, a.MqttUsernames);
        Strings(w, s_coap_resources, a.CoapResources);
        w.WriteStartArray(s_services);
        foreach (var s in a.Services)
        {
            w.WriteStartObject();
            w.WriteString(s_transport, s.Transport);
            w.WriteNumber(s_port, s.Port);
            w.WriteString(s_proto, s.Proto);
            w.WriteString(s_first_seen, s.FirstSeen);
            w.WriteString(s_last_seen, s.LastSeen);
            w.WriteString(s_source, s.Source);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteString(s_router_reason, a.RouterReason);
        w.WriteStartObject(s_sources);
        foreach (var (k, f) in a.Sources)
        {
            w.WriteStartObject(k);
            w.WriteString(s_value, f.Value);
            w.WriteString(s_source, f.Source);
            w.WriteNumber(s_frame, f.Frame);
            w.WriteString(s_time, f.Time);
            w.WriteString(s_confidence, f.Confidence);
            if (f.Unit is int u) w.WriteNumber(s_unit, u);
            else w.WriteNull(s_unit);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, LinkRecord l)
    {
        w.WriteStartObject();
        w.WriteNumber(s_id, l.Id);
        w.WriteNumber(s_client_id, l.ClientId);
        w.WriteNumber(s_server_id, l.ServerId);
        w.WriteString(s_client, l.Client);
        w.WriteString(s_server, l.Server);
        w.WriteString(s_protocol, l.Protocol);
        w.WriteString(s_transport, l.Transport);
        w.WriteNumber(s_port, l.Port);
        w.WriteString(s_first_seen, l.FirstSeen);
        w.WriteString(s_last_seen, l.LastSeen);
        w.WriteNumber(s_packets, l.Packets);
        w.WriteNumber(s_bytes, l.Bytes);
        w.WriteNumber(s_transactions, l.Transactions);
        w.WriteStartObject(s_modbus_functions);
        Span<char> digits = stackalloc char[11];
        foreach (var (fc, n) in l.ModbusFunctions)
        {
            fc.TryFormat(digits, out int len, provider: System.Globalization.CultureInfo.InvariantCulture);
            w.WriteNumber(digits[..len], n);
        }
        w.WriteEndObject();
        w.WriteStartObject(s_operations);
        foreach (var (op, n) in l.Operations) w.WriteNumber(op, n);
        w.WriteEndObject();
        w.WriteStartArray(s_modbus_ranges);
        foreach (var r in l.ModbusRanges)
        {
            w.WriteStartObject();
            w.WriteNumber(s_unit, r.Unit);
            w.WriteString(s_table, r.Table);
            w.WriteString(s_access, r.Access);
            Ranges(w, r.Ranges);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
