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

    private static void Mac(Utf8JsonWriter w, string name, MacAddress mac) => w.WriteString(name, mac.IsZero ? "" : mac.ToString());

    private static void Ip(Utf8JsonWriter w, string name, IpAddr ip) => w.WriteString(name, ip.IsZero ? "" : ip.ToString());

    private static void IpList(Utf8JsonWriter w, string name, List<IpAddr> ips)
    {
        w.WriteStartArray(name);
        foreach (var ip in ips) w.WriteStringValue(ip.ToString());
        w.WriteEndArray();
    }

    private static void Strings(Utf8JsonWriter w, string name, List<string> values)
    {
        w.WriteStartArray(name);
        foreach (var s in values) w.WriteStringValue(s);
        w.WriteEndArray();
    }

    private static void Ints(Utf8JsonWriter w, string name, List<int> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteNumberValue(v);
        w.WriteEndArray();
    }

    private static void Ranges(Utf8JsonWriter w, List<int[]> ranges)
    {
        w.WriteStartArray("ranges");
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
        Mac(w, "mac", e.Mac);
        Ip(w, "ip", e.Ip);
        w.WriteNumber("first_seen_ns", e.FirstSeenNs);
        w.WriteNumber("last_seen_ns", e.LastSeenNs);
        w.WriteNumber("packets_sent", e.PacketsSent);
        w.WriteNumber("packets_received", e.PacketsReceived);
        w.WriteNumber("bytes_sent", e.BytesSent);
        w.WriteNumber("bytes_received", e.BytesReceived);
        Ints(w, "vlans", e.Vlans);
        w.WriteNumber("roles", (int)e.Roles);
        w.WriteStartArray("modbus_units");
        foreach (var u in e.ModbusUnits) w.WriteNumberValue(u);
        w.WriteEndArray();
        w.WriteStartObject("facts");
        foreach (var (k, f) in e.Facts)
        {
            w.WriteStartObject(k);
            w.WriteString("value", f.Value);
            w.WriteString("source", f.Source);
            w.WriteNumber("frame", f.Frame);
            w.WriteNumber("time_ns", f.TimeNs);
            w.WriteString("confidence", f.Confidence);
            w.WriteNumber("unit", f.Unit);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        Strings(w, "mqtt_client_ids", e.MqttClientIds);
        Strings(w, "mqtt_usernames", e.MqttUsernames);
        Strings(w, "coap_resources", e.CoapResources);
        w.WriteStartArray("services");
        foreach (var s in e.Services)
        {
            w.WriteStartObject();
            w.WriteString("transport", s.Transport);
            w.WriteNumber("port", s.Port);
            w.WriteString("proto", s.Proto);
            w.WriteNumber("first_seen_ns", s.FirstSeenNs);
            w.WriteNumber("last_seen_ns", s.LastSeenNs);
            w.WriteString("source", s.Source);
            w.WriteNumber("frame", s.Frame);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, MacState m)
    {
        w.WriteStartObject();
        Mac(w, "mac", m.Mac);
        IpList(w, "ips", m.Ips);
        IpList(w, "arp_ips", m.ArpIps);
        w.WriteBoolean("is_router", m.IsRouter);
        w.WriteString("router_reason", m.RouterReason);
        w.WriteNumber("router_frame", m.RouterFrame);
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, LinkState l)
    {
        w.WriteStartObject();
        Mac(w, "client_mac", l.ClientMac);
        Ip(w, "client_ip", l.ClientIp);
        Mac(w, "server_mac", l.ServerMac);
        Ip(w, "server_ip", l.ServerIp);
        w.WriteString("transport", l.Transport);
        w.WriteNumber("port", l.Port);
        w.WriteString("protocol", l.Protocol);
        w.WriteNumber("first_seen_ns", l.FirstSeenNs);
        w.WriteNumber("last_seen_ns", l.LastSeenNs);
        w.WriteNumber("packets", l.Packets);
        w.WriteNumber("bytes", l.Bytes);
        w.WriteNumber("transactions", l.Transactions);
        w.WriteStartObject("operations");
        foreach (var (op, n) in l.Operations) w.WriteNumber(op, n);
        w.WriteEndObject();
        w.WriteStartObject("modbus_ranges");
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
        w.WriteNumber("id", a.Id);
        w.WriteString("key", a.Key);
        w.WriteString("kind", a.Kind);
        w.WriteString("mac", a.Mac);
        w.WriteString("mac_vendor", a.MacVendor);
        Strings(w, "ips", a.Ips);
        Ints(w, "vlans", a.Vlans);
        w.WriteString("first_seen", a.FirstSeen);
        w.WriteString("last_seen", a.LastSeen);
        w.WriteNumber("packets_sent", a.PacketsSent);
        w.WriteNumber("packets_received", a.PacketsReceived);
        w.WriteNumber("bytes_sent", a.BytesSent);
        w.WriteNumber("bytes_received", a.BytesReceived);
        Strings(w, "roles", a.Roles);
        Ints(w, "modbus_units", a.ModbusUnits);
        var id = a.Identity;
        if (id is null) w.WriteNull("identity");
        else
        {
            w.WriteStartObject("identity");
            w.WriteString("vendor_name", id.VendorName);
            w.WriteString("product_code", id.ProductCode);
            w.WriteString("revision", id.Revision);
            w.WriteString("vendor_url", id.VendorUrl);
            w.WriteString("product_name", id.ProductName);
            w.WriteString("model_name", id.ModelName);
            w.WriteString("user_application_name", id.UserApplicationName);
            w.WriteEndObject();
        }
        Strings(w, "mqtt_client_ids", a.MqttClientIds);
        Strings(w, "mqtt_usernames", a.MqttUsernames);
        Strings(w, "coap_resources", a.CoapResources);
        w.WriteStartArray("services");
        foreach (var s in a.Services)
        {
            w.WriteStartObject();
            w.WriteString("transport", s.Transport);
            w.WriteNumber("port", s.Port);
            w.WriteString("proto", s.Proto);
            w.WriteString("first_seen", s.FirstSeen);
            w.WriteString("last_seen", s.LastSeen);
            w.WriteString("source", s.Source);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteString("router_reason", a.RouterReason);
        w.WriteStartObject("sources");
        foreach (var (k, f) in a.Sources)
        {
            w.WriteStartObject(k);
            w.WriteString("value", f.Value);
            w.WriteString("source", f.Source);
            w.WriteNumber("frame", f.Frame);
            w.WriteString("time", f.Time);
            w.WriteString("confidence", f.Confidence);
            if (f.Unit is int u) w.WriteNumber("unit", u);
            else w.WriteNull("unit");
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void Write(Utf8JsonWriter w, LinkRecord l)
    {
        w.WriteStartObject();
        w.WriteNumber("id", l.Id);
        w.WriteNumber("client_id", l.ClientId);
        w.WriteNumber("server_id", l.ServerId);
        w.WriteString("client", l.Client);
        w.WriteString("server", l.Server);
        w.WriteString("protocol", l.Protocol);
        w.WriteString("transport", l.Transport);
        w.WriteNumber("port", l.Port);
        w.WriteString("first_seen", l.FirstSeen);
        w.WriteString("last_seen", l.LastSeen);
        w.WriteNumber("packets", l.Packets);
        w.WriteNumber("bytes", l.Bytes);
        w.WriteNumber("transactions", l.Transactions);
        w.WriteStartObject("modbus_functions");
        Span<char> digits = stackalloc char[11];
        foreach (var (fc, n) in l.ModbusFunctions)
        {
            fc.TryFormat(digits, out int len, provider: System.Globalization.CultureInfo.InvariantCulture);
            w.WriteNumber(digits[..len], n);
        }
        w.WriteEndObject();
        w.WriteStartObject("operations");
        foreach (var (op, n) in l.Operations) w.WriteNumber(op, n);
        w.WriteEndObject();
        w.WriteStartArray("modbus_ranges");
        foreach (var r in l.ModbusRanges)
        {
            w.WriteStartObject();
            w.WriteNumber("unit", r.Unit);
            w.WriteString("table", r.Table);
            w.WriteString("access", r.Access);
            Ranges(w, r.Ranges);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
