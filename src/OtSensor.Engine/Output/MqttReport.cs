using System.Globalization;
using System.Text;
using System.Text.Json;
using OtSensor.Core;
using OtSensor.Pipeline;
using OtSensor.Protocols.Mqtt;

namespace OtSensor.Output;

/// <summary>
/// MQTT part of the replay summary: wire packets by type (every packet folded into an event is counted, like tshark
/// counts MQTT messages), clients, topics published and subscribed, CONNACK refusals and anomalies.
/// </summary>
public sealed class MqttReport
{
    /// <summary>Distinct topics / clients kept; beyond it new ones are only counted.</summary>
    public const int MaxDistinct = 10_000;

    private readonly long[] _packets = new long[16];
    private readonly long[] _anomalies = new long[64];
    private readonly long[] _refusals = new long[256];
    private readonly TopicCounts _published = new();
    private readonly TopicCounts _subscribed = new();
    // Clients by broker, then client id (looked up by the id's characters: a CONNECT of a known client makes no string).
    private readonly Dictionary<(IpAddr Broker, ushort Port), Dictionary<string, MqttClientInfo>> _clientsByBroker = new();
    private int _clientCount;
    private readonly List<MqttClientInfo> _clientList = [];

    public MqttReport()
    {
    }

    public long Transactions { get; private set; }
    public long Unanswered { get; private set; }
    public long UnexpectedResponses { get; private set; }
    public long DroppedDistinct { get; private set; }

    /// <summary>Wire packets of an MQTT packet type (1..15; 0 = reserved type).</summary>
    public long PacketsFor(int type) => _packets[type & 0xF];

    public long TotalPackets => _packets.Sum();

    public long AnomalyCount(MqttAnomaly a) => _anomalies[(int)a & 63];

    /// <summary>CONNACKs with a non-zero return / reason code, per code.</summary>
    public long RefusalsFor(int code) => _refusals[code & 0xFF];

    public IReadOnlyDictionary<string, long> PublishedTopics => _published.ToDictionary();
    public IReadOnlyDictionary<string, long> SubscribedTopics => _subscribed.ToDictionary();

    /// <summary>Clients by client id, then broker address.</summary>
    public IReadOnlyList<MqttClientInfo> Clients =>
        SortedClients();

    private List<MqttClientInfo> SortedClients()
    {
        var list = new List<MqttClientInfo>(_clientList);
        list.Sort(static (a, b) =>
        {
            int c = string.CompareOrdinal(a.ClientId, b.ClientId);
            if (c == 0) c = a.Broker.CompareTo(b.Broker);
            return c != 0 ? c : a.Port.CompareTo(b.Port);
        });
        return list;
    }

    public void OnEvent(in EventEntry entry, EventBuffer buffer)
    {
        if (entry.Kind == EventKind.Anomaly)
        {
            if (entry.Anomaly.Protocol != ProtocolId.Mqtt) return;
            int id = entry.Anomaly.AnomalyId;
            if ((uint)id < 64) _anomalies[id]++;
            // A packet whose remaining length is malformed is still a wire packet of the type its first byte says.
            if (id == (int)MqttAnomaly.MalformedRemainingLength) _packets[(entry.Anomaly.Detail >> 4) & 0xF]++;
            return;
        }

        ref readonly var tx = ref entry.Transaction;
        if (tx.Protocol != ProtocolId.Mqtt || !tx.FieldsEncoded) return;
        Transactions++;
        for (ulong m = tx.Anomalies; m != 0; m &= m - 1) _anomalies[System.Numerics.BitOperations.TrailingZeroCount(m)]++;
        if (MqttAnomalies.Has(tx.Anomalies, MqttAnomaly.UnexpectedResponse)) UnexpectedResponses++;
        var blob = buffer.Slice(entry.RequestOffset, entry.RequestLength);
        // One pass over the blob: the wire packets folded into the event are counted, and the first top-level
        // occurrence of each field the summary needs is kept (what EventFieldReader.TryFind would find).
        var f = new Fields();
        var r = new EventFieldReader(blob);
        int depth = 0;
        bool inPackets = false, packetsDone = false;
        while (r.Read())
        {
            var kind = r.Kind;
            if (kind is EventFieldKind.EndArray or EventFieldKind.EndObject)
            {
                depth--;
                if (depth == 0 && inPackets)
                {
                    inPackets = false;
                    packetsDone = true;
                }
                continue;
            }
            if (depth == 0) f.Take(r.Field, kind, r.Value);
            if (kind is EventFieldKind.BeginArray or EventFieldKind.BeginObject)
            {
                if (depth == 0 && !packetsDone && r.Field == MqttFields.Packets && kind == EventFieldKind.BeginArray) inPackets = true;
                depth++;
            }
            else if (inPackets && depth == 1 && kind == EventFieldKind.Int)
            {
                _packets[r.Int & 0xF]++;
            }
        }

        if (!f.HasType) return;
        var type = f.Type;
        if (tx.HasRequest && !tx.HasResponse && ExpectsResponse(type, f)) Unanswered++;
        if (type.SequenceEqual("connect"u8)) OnConnect(entry, f);
        else if (type.SequenceEqual("publish"u8))
        {
            if (f.TopicKind == EventFieldKind.String) Count(_published, f.Topic);
        }
        else if (type.SequenceEqual("subscribe"u8)) CountFilters(blob);
    }

    /// <summary>The first top-level occurrence of each field the summary reads (kind 0: not present).</summary>
    private ref struct Fields
    {
        public bool HasType;
        public ReadOnlySpan<byte> Type;
        public EventFieldKind QosKind, TopicKind, ClientIdKind, UsernameKind, VersionKind, ReasonCodeKind;
        public bool HasResponseType;
        public ReadOnlySpan<byte> Qos, Topic, ClientId, Username, Version, ReasonCode;

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        public void Take(byte field, EventFieldKind kind, ReadOnlySpan<byte> value)
        {
            switch (field)
            {
                case MqttFields.Type when !HasType: HasType = true; Type = value; break;
                case MqttFields.Qos when QosKind == 0: QosKind = kind; Qos = value; break;
                case MqttFields.Topic when TopicKind == 0: TopicKind = kind; Topic = value; break;
                case MqttFields.ClientId when ClientIdKind == 0: ClientIdKind = kind; ClientId = value; break;
                case MqttFields.Username when UsernameKind == 0: UsernameKind = kind; Username = value; break;
                case MqttFields.Version when VersionKind == 0: VersionKind = kind; Version = value; break;
                case MqttFields.ResponseType: HasResponseType = true; break;
                case MqttFields.ReasonCode when ReasonCodeKind == 0: ReasonCodeKind = kind; ReasonCode = value; break;
            }
        }
    }

    /// <summary>CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ and PUBLISH with QoS 1/2 expect an acknowledgement.</summary>
    private static bool ExpectsResponse(ReadOnlySpan<byte> type, in Fields f)
    {
        if (type.SequenceEqual("publish"u8))
        {
            return f.QosKind == EventFieldKind.Int && f.Qos.Length == 8 && BitConverter.ToInt64(f.Qos) > 0;
        }

        return type.SequenceEqual("connect"u8) || type.SequenceEqual("subscribe"u8) || type.SequenceEqual("unsubscribe"u8) || type.SequenceEqual("pingreq"u8);
    }

    private void CountFilters(ReadOnlySpan<byte> blob)
    {
        foreach (var filter in MqttTopicFilters.Of(blob)) Count(_subscribed, filter);
    }

    private void OnConnect(in EventEntry entry, in Fields f)
    {
        var broker = (entry.Flow.ServerIp, entry.Flow.ServerPort);
        if (!_clientsByBroker.TryGetValue(broker, out var byId))
        {
            byId = new Dictionary<string, MqttClientInfo>(StringComparer.Ordinal);
            _clientsByBroker.Add(broker, byId);
        }

        Span<char> chars = stackalloc char[256];
        var clientId = f.ClientIdKind == EventFieldKind.String ? Chars(f.ClientId, ref chars) : default;
        if (!byId.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(clientId, out var c))
        {
            if (_clientCount >= MaxDistinct)
            {
                DroppedDistinct++;
                return;
            }

            c = new MqttClientInfo(clientId.ToString(), entry.Flow.ServerIp, entry.Flow.ServerPort);
            byId.Add(c.ClientId, c);
            _clientCount++;
            _clientList.Add(c);
        }

        c.Connects++;
        c.AddClientIp(entry.Flow.ClientIp);
        if (f.UsernameKind == EventFieldKind.String)
        {
            var user = Chars(f.Username, ref chars);
            if (c.Username is null || !user.SequenceEqual(c.Username)) c.Username = user.ToString();
        }
        if (f.VersionKind == EventFieldKind.Int && f.Version.Length == 8)
        {
            c.Version = (int)BitConverter.ToInt64(f.Version);
        }

        if (f.HasResponseType && f.ReasonCodeKind == EventFieldKind.Int && f.ReasonCode.Length == 8)
        {
            long code = BitConverter.ToInt64(f.ReasonCode);
            if (code != 0)
            {
                _refusals[code & 0xFF]++;
                c.Refusals++;
            }
        }
    }

    /// <summary>UTF-8 wire text as characters (invalid sequences replaced, as <see cref="Encoding.GetString(byte[])"/> does), in <paramref name="buffer"/> when it fits.</summary>
    private static ReadOnlySpan<char> Chars(ReadOnlySpan<byte> utf8, ref Span<char> buffer)
    {
        if (Encoding.UTF8.GetMaxCharCount(utf8.Length) > buffer.Length) buffer = new char[Encoding.UTF8.GetMaxCharCount(utf8.Length)];
        int n = Encoding.UTF8.GetChars(utf8, buffer);
        return buffer[..n];
    }

    /// <summary>Counts a topic given as UTF-8 without making a string unless it is new.</summary>
    private void Count(TopicCounts map, ReadOnlySpan<byte> utf8)
    {
        if (!map.TryCount(utf8)) DroppedDistinct++;
    }

    /// <summary>
    /// Topic counts keyed by the topic's text, with a small cache by its wire bytes in front: a repeated topic (the
    /// usual case) is counted without decoding it to UTF-16 and hashing the text. Bytes that decode to the same text
    /// (invalid UTF-8 shown as U+FFFD) share one count, as the text keys them.
    /// </summary>
    private sealed class TopicCounts
    {
        private const int CacheBits = 9;
        private const int MaxCachedLength = 256;
        private readonly Dictionary<string, Counter> _map = new(StringComparer.Ordinal);
        private readonly Dictionary<string, Counter>.AlternateLookup<ReadOnlySpan<char>> _lookup;
        private readonly byte[]?[] _cacheBytes = new byte[]?[1 << CacheBits];
        private readonly int[] _cacheLengths = new int[1 << CacheBits];
        private readonly Counter?[] _cacheCounters = new Counter?[1 << CacheBits];

        public TopicCounts() => _lookup = _map.GetAlternateLookup<ReadOnlySpan<char>>();

        public int Count => _map.Count;

        public IEnumerable<KeyValuePair<string, long>> Pairs => _map.Select(p => new KeyValuePair<string, long>(p.Key, p.Value.N));

        public Dictionary<string, long> ToDictionary() => _map.ToDictionary(p => p.Key, p => p.Value.N, StringComparer.Ordinal);

        /// <summary>Counts one more of the topic; false when it is new and the table is full (<see cref="MaxDistinct"/>).</summary>
        public bool TryCount(ReadOnlySpan<byte> utf8)
        {
            int slot = BytesHash.Slot(utf8, CacheBits);
            if (_cacheCounters[slot] is { } cached && _cacheLengths[slot] == utf8.Length && utf8.SequenceEqual(_cacheBytes[slot].AsSpan(0, utf8.Length)))
            {
                cached.N++;
                return true;
            }
            Span<char> chars = stackalloc char[256];
            var key = Chars(utf8, ref chars);
            if (!_lookup.TryGetValue(key, out var counter))
            {
                if (_map.Count >= MaxDistinct) return false;
                counter = new Counter();
                _map.Add(key.ToString(), counter);
            }
            counter.N++;
            if (utf8.Length > MaxCachedLength) return true; // bounds the cache's memory
            var b = _cacheBytes[slot];
            if (b is null || b.Length < utf8.Length) _cacheBytes[slot] = b = new byte[Math.Max(utf8.Length, 32)];
            utf8.CopyTo(b);
            _cacheLengths[slot] = utf8.Length;
            _cacheCounters[slot] = counter;
            return true;
        }

        private sealed class Counter
        {
            public long N;
        }
    }

    public void WriteText(TextWriter w)
    {
        var ci = CultureInfo.InvariantCulture;
        w.WriteLine("== MQTT");
        w.WriteLine(string.Create(ci, $"  transactions {Transactions:N0}, packets {TotalPackets:N0}, unanswered requests {Unanswered:N0}, unexpected responses {UnexpectedResponses:N0}"));
        if (Transactions == 0) return;
        w.WriteLine("  packets by type:");
        for (int t = 0; t < 16; t++)
        {
            if (_packets[t] == 0) continue;
            w.WriteLine(string.Create(ci, $"    {t,2} {MqttFields.PacketTypeName((MqttPacketType)t).ToUpperInvariant(),-12} {_packets[t],9:N0}"));
        }

        for (int code = 1; code < 256; code++)
        {
            if (_refusals[code] != 0) w.WriteLine(string.Create(ci, $"  connack refusals code {code}: {_refusals[code]:N0}"));
        }

        bool any = false;
        for (int a = 1; a < 64; a++)
        {
            if (_anomalies[a] == 0) continue;
            if (!any) w.WriteLine("  anomalies:");
            any = true;
            w.WriteLine(string.Create(ci, $"    {MqttAnomalies.Info((MqttAnomaly)a).Id,-40} {_anomalies[a],9:N0}"));
        }

        w.WriteLine(string.Create(ci, $"  clients ({_clientCount}):"));
        foreach (var c in Clients)
        {
            w.WriteLine(string.Create(ci, $"    {Escape(c.ClientId)} user={Escape(c.Username ?? "-")} v{c.Version} broker {c.Broker}:{c.Port} connects {c.Connects} refusals {c.Refusals}"));
        }

        WriteTopics(w, "published topics", _published);
        WriteTopics(w, "subscribed filters", _subscribed);
    }

    private static void WriteTopics(TextWriter w, string title, TopicCounts map)
    {
        if (map.Count == 0) return;
        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {title} ({map.Count}):"));
        foreach (var (topic, n) in map.Pairs.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Take(50))
        {
            w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {Escape(topic),-50} {n,9:N0}"));
        }
    }

    /// <summary>Wire text in a terminal: control characters are shown escaped, length bounded.</summary>
    private static string Escape(string s)
    {
        var sb = new StringBuilder(Math.Min(s.Length, 128));
        foreach (char ch in s.Length > 128 ? s[..128] : s)
        {
            if (char.IsControl(ch)) sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)ch:x4}");
            else sb.Append(ch);
        }

        return sb.ToString();
    }

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("transactions", Transactions);
        w.WriteNumber("packets", TotalPackets);
        w.WriteNumber("unanswered_requests", Unanswered);
        w.WriteNumber("unexpected_responses", UnexpectedResponses);
        w.WriteStartObject("by_type");
        for (int t = 0; t < 16; t++)
        {
            if (_packets[t] != 0) w.WriteNumber(MqttFields.PacketTypeName((MqttPacketType)t), _packets[t]);
        }

        w.WriteEndObject();
        w.WriteStartObject("connack_refusals");
        for (int code = 1; code < 256; code++)
        {
            if (_refusals[code] != 0) w.WriteNumber(code.ToString(CultureInfo.InvariantCulture), _refusals[code]);
        }

        w.WriteEndObject();
        w.WriteStartObject("anomalies");
        for (int a = 1; a < 64; a++)
        {
            if (_anomalies[a] != 0) w.WriteNumber(MqttAnomalies.Info((MqttAnomaly)a).Id, _anomalies[a]);
        }

        w.WriteEndObject();
        w.WriteStartArray("clients");
        foreach (var c in Clients)
        {
            w.WriteStartObject();
            w.WriteString(ClientJson.ClientId, c.ClientId);
            if (c.Username is null) w.WriteNull(ClientJson.Username);
            else w.WriteString(ClientJson.Username, c.Username);
            w.WriteNumber(ClientJson.Version, c.Version);
            SummaryJson.WriteIp(w, ClientJson.Broker, c.Broker);
            w.WriteNumber(ClientJson.BrokerPort, c.Port);
            w.WriteStartArray(ClientJson.ClientIps);
            foreach (var ip in c.ClientIps) SummaryJson.WriteIpValue(w, ip);
            w.WriteEndArray();
            w.WriteNumber(ClientJson.Connects, c.Connects);
            w.WriteNumber(ClientJson.Refusals, c.Refusals);
            w.WriteEndObject();
            ReplayReport.FlushIfLarge(w);
        }

        w.WriteEndArray();
        WriteTopicsJson(w, "published_topics", _published);
        WriteTopicsJson(w, "subscribed_filters", _subscribed);
        w.WriteEndObject();
    }

    private static class ClientJson
    {
        public static readonly JsonEncodedText ClientId = JsonEncodedText.Encode("client_id");
        public static readonly JsonEncodedText Username = JsonEncodedText.Encode("username");
        public static readonly JsonEncodedText Version = JsonEncodedText.Encode("version");
        public static readonly JsonEncodedText Broker = JsonEncodedText.Encode("broker");
        public static readonly JsonEncodedText BrokerPort = JsonEncodedText.Encode("broker_port");
        public static readonly JsonEncodedText ClientIps = JsonEncodedText.Encode("client_ips");
        public static readonly JsonEncodedText Connects = JsonEncodedText.Encode("connects");
        public static readonly JsonEncodedText Refusals = JsonEncodedText.Encode("refusals");
    }

    private static void WriteTopicsJson(Utf8JsonWriter w, string name, TopicCounts map)
    {
        w.WriteStartObject(name);
        foreach (var (topic, n) in map.Pairs.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            w.WriteNumber(topic, n);
            ReplayReport.FlushIfLarge(w);
        }
        w.WriteEndObject();
    }
}

/// <summary>An MQTT client seen connecting to a broker.</summary>
public sealed class MqttClientInfo(string clientId, IpAddr broker, ushort port)
{
    private readonly HashSet<IpAddr> _ips = [];

    public string ClientId { get; } = clientId;
    public IpAddr Broker { get; } = broker;
    public ushort Port { get; } = port;
    public string? Username { get; internal set; }
    public int Version { get; internal set; }
    public long Connects { get; internal set; }
    public long Refusals { get; internal set; }
    public IEnumerable<IpAddr> ClientIps => AddressOrder.Sorted(_ips);

    internal void AddClientIp(IpAddr ip) => _ips.Add(ip);
}
