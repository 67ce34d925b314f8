using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using OtSensor.Core;

namespace OtSensor.Detection;

/// <summary>Baseline state: learning (until <see cref="BaselineState.LearnUntilNs"/> or a lock) or protecting.</summary>
public sealed class BaselineState
{
    public const string Learning = "learning";
    public const string Protecting = "protecting";

    public string Mode { get; set; } = Learning;
    /// <summary>Packet time learning started (0 = not yet).</summary>
    public long LearnStartNs { get; set; }
    /// <summary>Packet time learning ends by itself (0 = set from the first packet and the configured duration).</summary>
    public long LearnUntilNs { get; set; }
    /// <summary>Wall-clock time of the lock (RFC 3339), when locked by command.</summary>
    public string? LockedAt { get; set; }
}

/// <summary>
/// Compile-time JSON metadata for <see cref="BaselineState"/>: snake-case names, compact (the store's baseline_state row,
/// the state in <c>baseline export</c> files).
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(BaselineState))]
public sealed partial class BaselineStateJsonContext : JsonSerializerContext;

public readonly record struct PairKey(IpAddr Client, IpAddr Server);
public readonly record struct ServiceKey(IpAddr Client, IpAddr Server, byte Transport, ushort Port, ProtocolId Protocol);
public readonly record struct CodeKey(IpAddr Client, IpAddr Server, ProtocolId Protocol, int Code);
public readonly record struct WriterKey(IpAddr Client, IpAddr Server, byte Unit);
public readonly record struct RegisterKey(IpAddr Server, byte Unit, ushort Address);
public readonly record struct PollKey(IpAddr Client, IpAddr Server, ProtocolId Protocol, int Code, byte Unit, int Address);

/// <summary>Learned value range of one register.</summary>
public struct ValueRange
{
    public int Min;
    public int Max;
    public long Samples;

    public void Add(int v)
    {
        if (Samples == 0 || v < Min) Min = v;
        if (Samples == 0 || v > Max) Max = v;
        Samples++;
    }

    /// <summary>Adds the samples of <paramref name="other"/> (the same result as adding its values one by one).</summary>
    public void Add(in ValueRange other)
    {
        if (other.Samples == 0) return;
        if (Samples == 0 || other.Min < Min) Min = other.Min;
        if (Samples == 0 || other.Max > Max) Max = other.Max;
        Samples += other.Samples;
    }
}

/// <summary>Learned request period of one poll (same client, server, function, unit, address).</summary>
public struct PollStats
{
    public long Intervals;
    public long SumNs;
    public long MinNs;
    public long MaxNs;

    public void Add(long ns)
    {
        if (Intervals == 0 || ns < MinNs) MinNs = ns;
        if (Intervals == 0 || ns > MaxNs) MaxNs = ns;
        SumNs += ns;
        Intervals++;
    }

    /// <summary>Adds the intervals of <paramref name="other"/> (the same result as adding them one by one).</summary>
    public void Add(in PollStats other)
    {
        if (other.Intervals == 0) return;
        if (Intervals == 0 || other.MinNs < MinNs) MinNs = other.MinNs;
        if (Intervals == 0 || other.MaxNs > MaxNs) MaxNs = other.MaxNs;
        SumNs += other.SumNs;
        Intervals += other.Intervals;
    }

    public readonly long MeanNs => Intervals == 0 ? 0 : SumNs / Intervals;
}

/// <summary>
/// What normal looks like, learned from traffic: assets, links, protocols and function codes per link, Modbus
/// writers / written addresses / register value ranges, MQTT clients and topics, CoAP resources, polling periods and
/// the policy findings accepted while learning. Struct keys: lookups do not allocate. Bounded by
/// <see cref="MaxItems"/> per table.
/// </summary>
public sealed partial class BaselineModel
{
    public const int MaxItems = 200_000;

    public Dictionary<IpAddr, MacAddress> Assets { get; } = [];
    public HashSet<PairKey> Links { get; } = [];
    public HashSet<ServiceKey> Services { get; } = [];
    public HashSet<CodeKey> Codes { get; } = [];
    public HashSet<WriterKey> Writers { get; } = [];
    public Dictionary<RegisterKey, ValueRange> Written { get; } = [];
    public Dictionary<RegisterKey, ValueRange> Read { get; } = [];
    public Dictionary<PollKey, PollStats> Polls { get; } = [];
    public HashSet<string> MqttClients { get; } = new(StringComparer.Ordinal);
    public HashSet<string> MqttTopics { get; } = new(StringComparer.Ordinal);
    public HashSet<string> CoapResources { get; } = new(StringComparer.Ordinal);
    public HashSet<string> Findings { get; } = new(StringComparer.Ordinal);

    public int ItemCount => Assets.Count + Links.Count + Services.Count + Codes.Count + Writers.Count + Written.Count + Read.Count
        + Polls.Count + MqttClients.Count + MqttTopics.Count + CoapResources.Count + Findings.Count;

    public void Clear()
    {
        Assets.Clear(); Links.Clear(); Services.Clear(); Codes.Clear(); Writers.Clear(); Written.Clear(); Read.Clear();
        Polls.Clear(); MqttClients.Clear(); MqttTopics.Clear(); CoapResources.Clear(); Findings.Clear();
    }

    // ---- JSON form (export / import / store) ----

    private sealed class Dto
    {
        public List<string> Assets { get; set; } = [];
        public List<string> Links { get; set; } = [];
        public List<string> Services { get; set; } = [];
        public List<string> Codes { get; set; } = [];
        public List<string> Writers { get; set; } = [];
        public List<string> Written { get; set; } = [];
        public List<string> Read { get; set; } = [];
        public List<string> Polls { get; set; } = [];
        public List<string> MqttClients { get; set; } = [];
        public List<string> MqttTopics { get; set; } = [];
        public List<string> CoapResources { get; set; } = [];
        public List<string> Findings { get; set; } = [];
    }

    /// <summary>Compile-time JSON metadata for the baseline's form (no reflection; the same text as the reflection serialiser).</summary>
    [JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
    [JsonSerializable(typeof(Dto))]
    private sealed partial class DtoJsonContext : JsonSerializerContext;

    private static readonly JsonTypeInfo<Dto> s_indented
        = (JsonTypeInfo<Dto>)new JsonSerializerOptions(DtoJsonContext.Default.Options) { WriteIndented = true }.GetTypeInfo(typeof(Dto));
    private static readonly CultureInfo Ci = CultureInfo.InvariantCulture;

    private static string Ip(IpAddr a) => a.ToString();

    private static List<string> Sorted(HashSet<string> items, bool sort)
    {
        var l = new List<string>(items);
        if (sort) l.Sort(StringComparer.Ordinal);
        return l;
    }

    private static List<string> Sorted(List<string> l, bool sort)
    {
        if (sort) l.Sort(StringComparer.Ordinal);
        return l;
    }

    /// <summary>
    /// Deterministic JSON (lines of '|'-separated fields), sorted: what <c>baseline export</c> shows and imports. The
    /// store's copy is written with <paramref name="sorted"/> false: the same lines in the sets' order (the order the
    /// keys were learned in, itself deterministic: packet order, whatever the number of workers), read back into the
    /// same sets, exported sorted all the same. Sorting 130,000 learned keys of the mixed benchmark was 40 ms of the
    /// end of its replay.
    /// </summary>
    public string ToJson(bool indented = false, bool sorted = true)
    {
        // Plain loops, not LINQ: each Select over these struct-keyed sets would be one more generic instantiation for
        // the JIT to compile when a replay writes its baseline.
        var assets = new List<string>(Assets.Count);
        foreach (var kv in Assets) assets.Add(Ip(kv.Key) + "|" + kv.Value.Value.ToString(Ci));
        var links = new List<string>(Links.Count);
        foreach (var k in Links) links.Add($"{Ip(k.Client)}|{Ip(k.Server)}");
        var services = new List<string>(Services.Count);
        foreach (var k in Services) services.Add(string.Create(Ci, $"{Ip(k.Client)}|{Ip(k.Server)}|{k.Transport}|{k.Port}|{(int)k.Protocol}"));
        var codes = new List<string>(Codes.Count);
        foreach (var k in Codes) codes.Add(string.Create(Ci, $"{Ip(k.Client)}|{Ip(k.Server)}|{(int)k.Protocol}|{k.Code}"));
        var writers = new List<string>(Writers.Count);
        foreach (var k in Writers) writers.Add(string.Create(Ci, $"{Ip(k.Client)}|{Ip(k.Server)}|{k.Unit}"));
        var written = new List<string>(Written.Count);
        foreach (var kv in Written) written.Add(string.Create(Ci, $"{Ip(kv.Key.Server)}|{kv.Key.Unit}|{kv.Key.Address}|{kv.Value.Min}|{kv.Value.Max}|{kv.Value.Samples}"));
        var read = new List<string>(Read.Count);
        foreach (var kv in Read) read.Add(string.Create(Ci, $"{Ip(kv.Key.Server)}|{kv.Key.Unit}|{kv.Key.Address}|{kv.Value.Min}|{kv.Value.Max}|{kv.Value.Samples}"));
        var polls = new List<string>(Polls.Count);
        foreach (var kv in Polls)
            polls.Add(string.Create(Ci, $"{Ip(kv.Key.Client)}|{Ip(kv.Key.Server)}|{(int)kv.Key.Protocol}|{kv.Key.Code}|{kv.Key.Unit}|{kv.Key.Address}|{kv.Value.Intervals}|{kv.Value.SumNs}|{kv.Value.MinNs}|{kv.Value.MaxNs}"));
        var d = new Dto
        {
            Assets = Sorted(assets, sorted),
            Links = Sorted(links, sorted),
            Services = Sorted(services, sorted),
            Codes = Sorted(codes, sorted),
            Writers = Sorted(writers, sorted),
            Written = Sorted(written, sorted),
            Read = Sorted(read, sorted),
            Polls = Sorted(polls, sorted),
            MqttClients = Sorted(MqttClients, sorted),
            MqttTopics = Sorted(MqttTopics, sorted),
            CoapResources = Sorted(CoapResources, sorted),
            Findings = Sorted(Findings, sorted),
        };
        return JsonSerializer.Serialize(d, indented ? s_indented : DtoJsonContext.Default.Dto);
    }

    /// <summary>
    /// <see cref="ToJson"/>'s compact form with <c>sorted</c> false, as UTF-8, written straight from the sets: no string
    /// per learned key and no UTF-16 document (the store's copy, written at the end of every replay that learns).
    /// </summary>
    public byte[] ToJsonUtf8()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1 << 16);
        using (var w = new Utf8JsonWriter(buffer))
        {
            Span<byte> line = stackalloc byte[512];
            w.WriteStartObject();
            w.WriteStartArray("assets"u8);
            foreach (var kv in Assets)
            {
                var t = new Line(line);
                t.Ip(kv.Key); t.Bar(); t.Num(kv.Value.Value);
                w.WriteStringValue(t.Text);
            }
            w.WriteEndArray();
            w.WriteStartArray("links"u8);
            foreach (var k in Links)
            {
                var t = new Line(line);
                t.Ip(k.Client); t.Bar(); t.Ip(k.Server);
                w.WriteStringValue(t.Text);
            }
            w.WriteEndArray();
            w.WriteStartArray("services"u8);
            foreach (var k in Services)
            {
                var t = new Line(line);
                t.Ip(k.Client); t.Bar(); t.Ip(k.Server); t.Bar(); t.Num(k.Transport); t.Bar(); t.Num(k.Port); t.Bar(); t.Num((int)k.Protocol);
                w.WriteStringValue(t.Text);
            }
            w.WriteEndArray();
            w.WriteStartArray("codes"u8);
            foreach (var k in Codes)
            {
                var t = new Line(line);
                t.Ip(k.Client); t.Bar(); t.Ip(k.Server); t.Bar(); t.Num((int)k.Protocol); t.Bar(); t.Num(k.Code);
                w.WriteStringValue(t.Text);
            }
            w.WriteEndArray();
            w.WriteStartArray("writers"u8);
            foreach (var k in Writers)
            {
                var t = new Line(line);
                t.Ip(k.Client); t.Bar(); t.Ip(k.Server); t.Bar(); t.Num(k.Unit);
                w.WriteStringValue(t.Text);
            }
            w.WriteEndArray();
            WriteRanges(w, "written"u8, Written, line);
            WriteRanges(w, "read"u8, Read, line);
            w.WriteStartArray("polls"u8);
            foreach (var kv in Polls)
            {
                var t = new Line(line);
                var k = kv.Key;
                var v = kv.Value;
                t.Ip(k.Client); t.Bar(); t.Ip(k.Server); t.Bar(); t.Num((int)k.Protocol); t.Bar(); t.Num(k.Code); t.Bar(); t.Num(k.Unit); t.Bar();
                t.Num(k.Address); t.Bar(); t.Num(v.Intervals); t.Bar(); t.Num(v.SumNs); t.Bar(); t.Num(v.MinNs); t.Bar(); t.Num(v.MaxNs);
                w.WriteStringValue(t.Text);
            }
            w.WriteEndArray();
            WriteStrings(w, "mqtt_clients"u8, MqttClients);
            WriteStrings(w, "mqtt_topics"u8, MqttTopics);
            WriteStrings(w, "coap_resources"u8, CoapResources);
            w.WriteStartArray("findings"u8);
            foreach (var f in Findings) w.WriteStringValue(f);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteRanges(Utf8JsonWriter w, ReadOnlySpan<byte> name, Dictionary<RegisterKey, ValueRange> ranges, Span<byte> line)
    {
        w.WriteStartArray(name);
        foreach (var kv in ranges)
        {
            var t = new Line(line);
            var k = kv.Key;
            var v = kv.Value;
            t.Ip(k.Server); t.Bar(); t.Num(k.Unit); t.Bar(); t.Num(k.Address); t.Bar(); t.Num(v.Min); t.Bar(); t.Num(v.Max); t.Bar(); t.Num(v.Samples);
            w.WriteStringValue(t.Text);
        }
        w.WriteEndArray();
    }

    private static void WriteStrings(Utf8JsonWriter w, ReadOnlySpan<byte> name, HashSet<string> items)
    {
        w.WriteStartArray(name);
        foreach (var item in items) w.WriteStringValue(item);
        w.WriteEndArray();
    }

    /// <summary>One '|'-separated line of ASCII fields (addresses and invariant integers) in a caller's buffer.</summary>
    private ref struct Line(Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;
        private int _length;

        public readonly ReadOnlySpan<byte> Text => _buffer[.._length];

        public void Bar() => _buffer[_length++] = (byte)'|';

        public void Ip(IpAddr a) => _length += a.FormatUtf8(_buffer[_length..]);

        public void Num<T>(T v) where T : IUtf8SpanFormattable
        {
            v.TryFormat(_buffer[_length..], out int n, default, CultureInfo.InvariantCulture);
            _length += n;
        }
    }

    /// <summary>Parses <see cref="ToJson"/>'s form; throws <see cref="FormatException"/> on bad input.</summary>
    public static BaselineModel FromJson(string json)
    {
        Dto? d;
        try
        {
            d = JsonSerializer.Deserialize(json, DtoJsonContext.Default.Dto);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"baseline: {ex.Message}", ex);
        }
        if (d is null) throw new FormatException("baseline: empty");
        var m = new BaselineModel();
        try
        {
            foreach (var s in d.Assets) { var p = Split(s, 2); m.Assets[IpAddr.Parse(p[0])] = new MacAddress(ulong.Parse(p[1], Ci)); }
            foreach (var s in d.Links) { var p = Split(s, 2); m.Links.Add(new PairKey(IpAddr.Parse(p[0]), IpAddr.Parse(p[1]))); }
            foreach (var s in d.Services) { var p = Split(s, 5); m.Services.Add(new ServiceKey(IpAddr.Parse(p[0]), IpAddr.Parse(p[1]), byte.Parse(p[2], Ci), ushort.Parse(p[3], Ci), (ProtocolId)byte.Parse(p[4], Ci))); }
            foreach (var s in d.Codes) { var p = Split(s, 4); m.Codes.Add(new CodeKey(IpAddr.Parse(p[0]), IpAddr.Parse(p[1]), (ProtocolId)byte.Parse(p[2], Ci), int.Parse(p[3], Ci))); }
            foreach (var s in d.Writers) { var p = Split(s, 3); m.Writers.Add(new WriterKey(IpAddr.Parse(p[0]), IpAddr.Parse(p[1]), byte.Parse(p[2], Ci))); }
            foreach (var s in d.Written) { var p = Split(s, 6); m.Written[new RegisterKey(IpAddr.Parse(p[0]), byte.Parse(p[1], Ci), ushort.Parse(p[2], Ci))] = new ValueRange { Min = int.Parse(p[3], Ci), Max = int.Parse(p[4], Ci), Samples = long.Parse(p[5], Ci) }; }
            foreach (var s in d.Read) { var p = Split(s, 6); m.Read[new RegisterKey(IpAddr.Parse(p[0]), byte.Parse(p[1], Ci), ushort.Parse(p[2], Ci))] = new ValueRange { Min = int.Parse(p[3], Ci), Max = int.Parse(p[4], Ci), Samples = long.Parse(p[5], Ci) }; }
            foreach (var s in d.Polls)
            {
                var p = Split(s, 10);
                m.Polls[new PollKey(IpAddr.Parse(p[0]), IpAddr.Parse(p[1]), (ProtocolId)byte.Parse(p[2], Ci), int.Parse(p[3], Ci), byte.Parse(p[4], Ci), int.Parse(p[5], Ci))]
                    = new PollStats { Intervals = long.Parse(p[6], Ci), SumNs = long.Parse(p[7], Ci), MinNs = long.Parse(p[8], Ci), MaxNs = long.Parse(p[9], Ci) };
            }
            foreach (var s in d.MqttClients) m.MqttClients.Add(s);
            foreach (var s in d.MqttTopics) m.MqttTopics.Add(s);
            foreach (var s in d.CoapResources) m.CoapResources.Add(s);
            foreach (var s in d.Findings) m.Findings.Add(s);
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or IndexOutOfRangeException)
        {
            throw new FormatException($"baseline: bad entry: {ex.Message}", ex);
        }
        return m;
    }

    private static string[] Split(string s, int n)
    {
        var p = s.Split('|');
        if (p.Length != n) throw new FormatException($"'{s}' has {p.Length} fields, expected {n}");
        return p;
    }
}
