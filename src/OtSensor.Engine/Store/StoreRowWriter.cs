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
    // Property names encoded once (the writer otherwise transcodes and checks each name for escaping on every row).
    private static readonly JsonEncodedText s_access = JsonEncodedText.Encode("access");
    private static readonly JsonEncodedText s_arp_ips = JsonEncodedText.Encode("arp_ips");
    private static readonly JsonEncodedText s_bytes = JsonEncodedText.Encode("bytes");
    private static readonly JsonEncodedText s_bytes_received = JsonEncodedText.Encode("bytes_received");
    private static readonly JsonEncodedText s_bytes_sent = JsonEncodedText.Encode("bytes_sent");
    private static readonly JsonEncodedText s_client = JsonEncodedText.Encode("client");
    private static readonly JsonEncodedText s_client_id = JsonEncodedText.Encode("client_id");
    private static readonly JsonEncodedText s_client_ip = JsonEncodedText.Encode("client_ip");
    private static readonly JsonEncodedText s_client_mac = JsonEncodedText.Encode("client_mac");
    private static readonly JsonEncodedText s_coap_resources = JsonEncodedText.Encode("coap_resources");
    private static readonly JsonEncodedText s_confidence = JsonEncodedText.Encode("confidence");
    private static readonly JsonEncodedText s_facts = JsonEncodedText.Encode("facts");
    private static readonly JsonEncodedText s_first_seen = JsonEncodedText.Encode("first_seen");
    private static readonly JsonEncodedText s_first_seen_ns = JsonEncodedText.Encode("first_seen_ns");
    private static readonly JsonEncodedText s_frame = JsonEncodedText.Encode("frame");
    private static readonly JsonEncodedText s_id = JsonEncodedText.Encode("id");
    private static readonly JsonEncodedText s_identity = JsonEncodedText.Encode("identity");
    private static readonly JsonEncodedText s_ip = JsonEncodedText.Encode("ip");
    private static readonly JsonEncodedText s_ips = JsonEncodedText.Encode("ips");
    private static readonly JsonEncodedText s_is_router = JsonEncodedText.Encode("is_router");
    private static readonly JsonEncodedText s_key = JsonEncodedText.Encode("key");
    private static readonly JsonEncodedText s_kind = JsonEncodedText.Encode("kind");
    private static readonly JsonEncodedText s_last_seen = JsonEncodedText.Encode("last_seen");
    private static readonly JsonEncodedText s_last_seen_ns = JsonEncodedText.Encode("last_seen_ns");
    private static readonly JsonEncodedText s_mac = JsonEncodedText.Encode("mac");
    private static readonly JsonEncodedText s_mac_vendor = JsonEncodedText.Encode("mac_vendor");
    private static readonly JsonEncodedText s_modbus_functions = JsonEncodedText.Encode("modbus_functions");
    private static readonly JsonEncodedText s_modbus_ranges = JsonEncodedText.Encode("modbus_ranges");
    private static readonly JsonEncodedText s_modbus_units = JsonEncodedText.Encode("modbus_units");
    private static readonly JsonEncodedText s_model_name = JsonEncodedText.Encode("model_name");
    private static readonly JsonEncodedText s_mqtt_client_ids = JsonEncodedText.Encode("mqtt_client_ids");
    private static readonly JsonEncodedText s_mqtt_usernames = JsonEncodedText.Encode("mqtt_usernames");
    private static readonly JsonEncodedText s_operations = JsonEncodedText.Encode("operations");
    private static readonly JsonEncodedText s_packets = JsonEncodedText.Encode("packets");
    private static readonly JsonEncodedText s_packets_received = JsonEncodedText.Encode("packets_received");
    private static readonly JsonEncodedText s_packets_sent = JsonEncodedText.Encode("packets_sent");
    private static readonly JsonEncodedText s_port = JsonEncodedText.Encode("port");
    private static readonly JsonEncodedText s_product_code = JsonEncodedText.Encode("product_code");
    private static readonly JsonEncodedText s_product_name = JsonEncodedText.Encode("product_name");
    private static readonly JsonEncodedText s_proto = JsonEncodedText.Encode("proto");
    private static readonly JsonEncodedText s_protocol = JsonEncodedText.Encode("protocol");
    private static readonly JsonEncodedText s_ranges = JsonEncodedText.Encode("ranges");
    private static readonly JsonEncodedText s_revision = JsonEncodedText.Encode("revision");
    private static readonly JsonEncodedText s_roles = JsonEncodedText.Encode("roles");
    private static readonly JsonEncodedText s_router_frame = JsonEncodedText.Encode("router_frame");
    private static readonly JsonEncodedText s_router_reason = JsonEncodedText.Encode("router_reason");
    private static readonly JsonEncodedText s_server = JsonEncodedText.Encode("server");
    private static readonly JsonEncodedText s_server_id = JsonEncodedText.Encode("server_id");
    private static readonly JsonEncodedText s_server_ip = JsonEncodedText.Encode("server_ip");
    private static readonly JsonEncodedText s_server_mac = JsonEncodedText.Encode("server_mac");
    private static readonly JsonEncodedText s_services = JsonEncodedText.Encode("services");
    private static readonly JsonEncodedText s_source = JsonEncodedText.Encode("source");
    private static readonly JsonEncodedText s_sources = JsonEncodedText.Encode("sources");
    private static readonly JsonEncodedText s_table = JsonEncodedText.Encode("table");
    private static readonly JsonEncodedText s_time = JsonEncodedText.Encode("time");
    private static readonly JsonEncodedText s_time_ns = JsonEncodedText.Encode("time_ns");
    private static readonly JsonEncodedText s_transactions = JsonEncodedText.Encode("transactions");
    private static readonly JsonEncodedText s_transport = JsonEncodedText.Encode("transport");
    private static readonly JsonEncodedText s_unit = JsonEncodedText.Encode("unit");
    private static readonly JsonEncodedText s_user_application_name = JsonEncodedText.Encode("user_application_name");
    private static readonly JsonEncodedText s_value = JsonEncodedText.Encode("value");
    private static readonly JsonEncodedText s_vendor_name = JsonEncodedText.Encode("vendor_name");
    private static readonly JsonEncodedText s_vendor_url = JsonEncodedText.Encode("vendor_url");
    private static readonly JsonEncodedText s_vlans = JsonEncodedText.Encode("vlans");

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

    private static void Mac(Utf8JsonWriter w, JsonEncodedText name, MacAddress mac) => w.WriteString(name, mac.IsZero ? "" : mac.ToString());

    private static void Ip(Utf8JsonWriter w, JsonEncodedText name, IpAddr ip) => w.WriteString(name, ip.IsZero ? "" : ip.ToString());

    private static void IpList(Utf8JsonWriter w, JsonEncodedText name, List<IpAddr> ips)
    {
        w.WriteStartArray(name);
        foreach (var ip in ips) w.WriteStringValue(ip.ToString());
        w.WriteEndArray();
    }

    private static void Strings(Utf8JsonWriter w, JsonEncodedText name, List<string> values)
    {
        w.WriteStartArray(name);
        foreach (var s in values) w.WriteStringValue(s);
        w.WriteEndArray();
    }

    private static void Ints(Utf8JsonWriter w, JsonEncodedText name, List<int> values)
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
