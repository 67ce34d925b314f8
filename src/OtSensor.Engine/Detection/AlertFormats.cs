using System.Globalization;
using System.Text;
using System.Text.Json;
using OtSensor.Core;

namespace OtSensor.Detection;

/// <summary>The JSON and CSV forms of alerts (`otsensor alerts`) and of the catalog (`otsensor rules`).</summary>
public static class AlertFormats
{
    // Property names encoded once: a summary or listing writes them for each of thousands of alerts.
    private static readonly JsonEncodedText IdName = JsonEncodedText.Encode("id");
    private static readonly JsonEncodedText TypeName = JsonEncodedText.Encode("type");
    private static readonly JsonEncodedText SignatureIdName = JsonEncodedText.Encode("signature_id");
    private static readonly JsonEncodedText NameName = JsonEncodedText.Encode("name");
    private static readonly JsonEncodedText SeverityName = JsonEncodedText.Encode("severity");
    private static readonly JsonEncodedText CategoryName = JsonEncodedText.Encode("category");
    private static readonly JsonEncodedText MitreName = JsonEncodedText.Encode("mitre");
    private static readonly JsonEncodedText FirstSeenName = JsonEncodedText.Encode("first_seen");
    private static readonly JsonEncodedText LastSeenName = JsonEncodedText.Encode("last_seen");
    private static readonly JsonEncodedText CountName = JsonEncodedText.Encode("count");
    private static readonly JsonEncodedText ProtoName = JsonEncodedText.Encode("proto");
    private static readonly JsonEncodedText SrcAssetName = JsonEncodedText.Encode("src_asset");
    private static readonly JsonEncodedText SrcIpName = JsonEncodedText.Encode("src_ip");
    private static readonly JsonEncodedText SrcMacName = JsonEncodedText.Encode("src_mac");
    private static readonly JsonEncodedText SrcPortName = JsonEncodedText.Encode("src_port");
    private static readonly JsonEncodedText DstAssetName = JsonEncodedText.Encode("dst_asset");
    private static readonly JsonEncodedText DstIpName = JsonEncodedText.Encode("dst_ip");
    private static readonly JsonEncodedText DstMacName = JsonEncodedText.Encode("dst_mac");
    private static readonly JsonEncodedText DstPortName = JsonEncodedText.Encode("dst_port");
    private static readonly JsonEncodedText MessageName = JsonEncodedText.Encode("message");
    private static readonly JsonEncodedText EvidenceName = JsonEncodedText.Encode("evidence");
    private static readonly JsonEncodedText TracePacketsName = JsonEncodedText.Encode("trace_packets");

    public static void WriteJson(Utf8JsonWriter w, Alert a)
    {
        // The indented forms (summary, alerts command) are rendered as one raw value: the same text (see AlertJsonEmitter).
        if (AlertJsonEmitter.For(w) is { } emitter) emitter.Write(w, a);
        else WriteJsonByWriter(w, a);
    }

    /// <summary>The alert written call by call through <paramref name="w"/> (any options).</summary>
    internal static void WriteJsonByWriter(Utf8JsonWriter w, Alert a)
    {
        Span<byte> time = stackalloc byte[PacketTime.Rfc3339Length];
        w.WriteStartObject();
        w.WriteNumber(IdName, a.Id);
        w.WriteString(TypeName, a.Type);
        w.WriteNumber(SignatureIdName, a.SignatureId);
        w.WriteString(NameName, a.Name);
        w.WriteNumber(SeverityName, a.Severity);
        w.WriteString(CategoryName, a.Category);
        w.WriteStartArray(MitreName);
        var mitre = a.Mitre;
        for (int i = 0; i < mitre.Count; i++) w.WriteStringValue(mitre[i]);
        w.WriteEndArray();
        PacketTime.FormatRfc3339(a.FirstSeenNs, time);
        w.WriteString(FirstSeenName, time);
        PacketTime.FormatRfc3339(a.LastSeenNs, time);
        w.WriteString(LastSeenName, time);
        w.WriteNumber(CountName, a.Count);
        w.WriteString(ProtoName, a.Proto);
        Str(w, SrcAssetName, a.SrcAsset);
        Str(w, SrcIpName, a.SrcIp);
        Str(w, SrcMacName, a.SrcMac);
        Num(w, SrcPortName, a.SrcPort);
        Str(w, DstAssetName, a.DstAsset);
        Str(w, DstIpName, a.DstIp);
        Str(w, DstMacName, a.DstMac);
        Num(w, DstPortName, a.DstPort);
        w.WriteString(MessageName, a.Message);
        w.WriteStartObject(EvidenceName);
        foreach (var (k, v) in a.Evidence) w.WriteString(k, v);
        w.WriteEndObject();
        w.WriteStartArray(TracePacketsName);
        var trace = a.TracePackets;
        for (int i = 0; i < trace.Count; i++) w.WriteNumberValue(trace[i]);
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Str(Utf8JsonWriter w, JsonEncodedText name, string? v)
    {
        if (v is null) w.WriteNull(name);
        else w.WriteString(name, v);
    }

    private static void Num(Utf8JsonWriter w, JsonEncodedText name, int? v)
    {
        if (v is int i) w.WriteNumber(name, i);
        else w.WriteNull(name);
    }

    public static string Json(IEnumerable<Alert> alerts, bool indented = true)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = indented }))
        {
            w.WriteStartArray();
            foreach (var a in alerts) WriteJson(w, a);
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static string Csv(string? s)
    {
        if (s is null) return "";
        // Neutralise spreadsheet formulas and quote everything that needs it.
        if (s.Length > 0 && s[0] is '=' or '+' or '-' or '@') s = "'" + s;
        return s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : s;
    }

    public static string CsvText(IEnumerable<Alert> alerts)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder("id,type,signature_id,name,severity,category,mitre,first_seen,last_seen,count,proto,src_ip,src_mac,src_port,dst_ip,dst_mac,dst_port,message\n");
        foreach (var a in alerts)
        {
            sb.Append(ci, $"{a.Id},{Csv(a.Type)},{a.SignatureId},{Csv(a.Name)},{a.Severity},{Csv(a.Category)},{Csv(string.Join(' ', a.Mitre))},");
            sb.Append(ci, $"{PacketTime.ToRfc3339(a.FirstSeenNs)},{PacketTime.ToRfc3339(a.LastSeenNs)},{a.Count},{Csv(a.Proto)},{Csv(a.SrcIp)},{Csv(a.SrcMac)},{a.SrcPort},");
            sb.Append(ci, $"{Csv(a.DstIp)},{Csv(a.DstMac)},{a.DstPort},{Csv(a.Message)}\n");
        }
        return sb.ToString();
    }

    public static string CatalogJson(DetectionOptions options)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartArray();
            foreach (var t in AlertCatalog.All)
            {
                w.WriteStartObject();
                w.WriteString("id", t.Id);
                w.WriteNumber("signature_id", t.SignatureId);
                w.WriteString("name", t.Name);
                w.WriteNumber("severity", options.SeverityOf(t));
                w.WriteNumber("default_severity", t.Severity);
                w.WriteString("category", t.Category);
                w.WriteString("proto", t.Proto);
                w.WriteStartArray("mitre");
                foreach (var m in t.Mitre) w.WriteStringValue(m);
                w.WriteEndArray();
                w.WriteBoolean("enabled", options.IsEnabled(t.Id));
                if (DetectionOptions.Defaults.ContainsKey(t.Id))
                {
                    w.WriteNumber("threshold", options.Threshold(t.Id));
                    w.WriteNumber("window_seconds", options.WindowNs(t.Id) / 1e9);
                }
                w.WriteString("description", t.Description);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>Parses an RFC 3339 time or a relative duration back from now (30m, 2h, 7d); null when neither.</summary>
    public static long? ParseSince(string text, DateTimeOffset now)
    {
        if (text.Length >= 2 && long.TryParse(text.AsSpan(0, text.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long n))
        {
            TimeSpan? span = text[^1] switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                'd' => TimeSpan.FromDays(n),
                _ => null,
            };
            if (span is { } s) return (now - s).ToUnixTimeMilliseconds() * 1_000_000;
        }
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t))
            return (t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
        return null;
    }
}
