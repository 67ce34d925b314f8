using System.Text;
using System.Text.Json;
using OtSensor.Detection;

namespace OtSensor.Forwarding;

/// <summary>
/// One alert as one line of JSON (field names: the snake_case of <see cref="Alert"/>'s properties, plus
/// <c>sensor</c>). The JSON writer escapes every control character, so the line never breaks. When the object
/// would exceed the byte bound, the trace and evidence are left out and the message shortened
/// (<c>"truncated": true</c>); type and name are bounded so the compact form fits any bound of at least 480 bytes.
/// </summary>
public sealed class JsonAlertFormatter(string? sensorHost = null)
{
    private readonly string _sensor = CefText.StripControl(sensorHost ?? Environment.MachineName, 255);

    public byte[] Format(Alert alert, int maxBytes = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var full = Write(alert, full: true, messageChars: 4096);
        if (full.Length <= maxBytes) return full;
        foreach (int chars in (int[])[1024, 256, 64, 0])
        {
            var small = Write(alert, full: false, messageChars: chars);
            if (small.Length <= maxBytes) return small;
        }
        return Write(alert, full: false, messageChars: 0);
    }

    private byte[] Write(Alert a, bool full, int messageChars)
    {
        using var ms = new MemoryStream(512);
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("id", a.Id);
            w.WriteString("type", CefText.StripControl(a.Type, full ? 128 : 64));
            w.WriteNumber("signature_id", a.SignatureId);
            w.WriteString("name", CefText.StripControl(a.Name, full ? 256 : 64));
            w.WriteNumber("severity", Math.Clamp(a.Severity, 0, 10));
            w.WriteString("category", CefText.StripControl(a.Category, 64));
            if (full)
            {
                w.WriteStartArray("mitre");
                foreach (var m in a.Mitre) w.WriteStringValue(CefText.StripControl(m, 32));
                w.WriteEndArray();
                w.WriteNumber("first_seen_ns", a.FirstSeenNs);
            }
            w.WriteNumber("last_seen_ns", a.LastSeenNs);
            w.WriteNumber("count", a.Count);
            w.WriteString("proto", CefText.StripControl(a.Proto, 32));
            if (full) Str(w, "src_asset", a.SrcAsset);
            Str(w, "src_ip", a.SrcIp);
            if (full) Str(w, "src_mac", a.SrcMac);
            if (a.SrcPort is int sp) w.WriteNumber("src_port", sp);
            if (full) Str(w, "dst_asset", a.DstAsset);
            Str(w, "dst_ip", a.DstIp);
            if (full) Str(w, "dst_mac", a.DstMac);
            if (a.DstPort is int dp) w.WriteNumber("dst_port", dp);
            w.WriteString("message", CefText.StripControl(a.Message, messageChars));
            if (full)
            {
                w.WriteStartObject("evidence");
                foreach (var (k, v) in a.Evidence) w.WriteString(CefText.StripControl(k, 64), CefText.StripControl(v, 1024));
                w.WriteEndObject();
                w.WriteStartArray("trace_packets");
                foreach (var p in a.TracePackets) w.WriteNumberValue(p);
                w.WriteEndArray();
            }
            else
            {
                w.WriteBoolean("truncated", true);
            }
            w.WriteString("sensor", _sensor);
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <summary>
    /// One inventory change as one line of JSON: <c>event_kind</c> = <c>inventory_change</c> (alerts carry none),
    /// <c>id</c>, <c>type</c>, <c>signature_id</c>, <c>name</c>, <c>severity</c>, <c>category</c> = <c>inventory</c>,
    /// <c>action</c>, <c>time</c> (RFC 3339 UTC), <c>time_ns</c>, <c>frame</c>, <c>asset_id</c>, <c>asset_key</c>,
    /// <c>ip</c>, <c>mac</c>, <c>vendor</c>, <c>model</c>, <c>attribute</c>, <c>old_value</c>, <c>new_value</c>,
    /// <c>message</c>, <c>sensor</c>. Strings are bounded; over the byte bound, values and message are shortened
    /// (<c>"truncated": true</c>).
    /// </summary>
    public byte[] Format(OtSensor.Inventory.InventoryChange change, int maxBytes = int.MaxValue)
    {
        ArgumentNullException.ThrowIfNull(change);
        byte[] result = [];
        foreach (int chars in (int[])[1024, 256, 64, 16, 0])
        {
            result = WriteChange(change, chars);
            if (result.Length <= maxBytes) return result;
        }
        return result;
    }

    private byte[] WriteChange(OtSensor.Inventory.InventoryChange c, int valueChars)
    {
        using var ms = new MemoryStream(512);
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("event_kind", "inventory_change");
            w.WriteNumber("id", c.Id);
            w.WriteString("type", CefText.StripControl(c.Type, 64));
            w.WriteNumber("signature_id", c.SignatureId);
            w.WriteString("name", CefText.StripControl(c.Name, valueChars < 1024 ? 64 : 128));
            w.WriteNumber("severity", Math.Clamp(c.Severity, 0, 10));
            w.WriteString("category", OtSensor.Inventory.InventoryChangeCatalog.Category);
            w.WriteString("action", c.Action);
            w.WriteString("time", OtSensor.Core.PacketTime.ToRfc3339(c.TimeNs));
            w.WriteNumber("time_ns", c.TimeNs);
            w.WriteNumber("frame", c.Frame);
            w.WriteNumber("asset_id", c.AssetId);
            Str(w, "asset_key", c.AssetKey);
            Str(w, "ip", c.Ip);
            Str(w, "mac", c.Mac);
            Bounded(w, "vendor", c.Vendor, valueChars);
            Bounded(w, "model", c.Model, valueChars);
            w.WriteString("attribute", CefText.StripControl(c.Attribute, 64));
            Bounded(w, "old_value", c.OldValue, valueChars);
            Bounded(w, "new_value", c.NewValue, valueChars);
            w.WriteString("message", CefText.StripControl(c.Message, valueChars * 4));
            if (valueChars < 1024) w.WriteBoolean("truncated", true);
            w.WriteString("sensor", _sensor);
            w.WriteEndObject();
        }
        return ms.ToArray();
    }

    /// <summary>A string bounded to <paramref name="maxChars"/>; left out when absent or when the bound is 0 (the last resort).</summary>
    private static void Bounded(Utf8JsonWriter w, string name, string? value, int maxChars)
    {
        if (value is not null && maxChars > 0) w.WriteString(name, CefText.StripControl(value, maxChars));
    }

    private static void Str(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null) w.WriteString(name, CefText.StripControl(value, 256));
    }

    /// <summary>Encoding helper for tests and sinks.</summary>
    public string FormatString(Alert alert, int maxBytes = int.MaxValue) => Encoding.UTF8.GetString(Format(alert, maxBytes));
}
