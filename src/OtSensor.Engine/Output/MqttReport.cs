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
    private readonly Dictionary<string, long> _published = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _subscribed = new(StringComparer.Ordinal);
    private readonly Dictionary<(string ClientId, IpAddr Broker, ushort Port), MqttClientInfo> _clients = new();
    private readonly List<MqttClientInfo> _clientList = [];

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

    public IReadOnlyDictionary<string, long> PublishedTopics => _published;
    public IReadOnlyDictionary<string, long> SubscribedTopics => _subscribed;

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
        if (tx.HasRequest && !tx.HasResponse && ExpectsResponse(blob)) Unanswered++;
        CountPackets(blob);
        if (!EventFieldReader.TryFind(blob, MqttFields.Type, out _, out var type)) return;
        if (type.SequenceEqual("connect"u8)) OnConnect(entry, blob);
        else if (type.SequenceEqual("publish"u8)) Count(_published, Text(blob, MqttFields.Topic));
        else if (type.SequenceEqual("subscribe"u8)) CountFilters(blob);
    }

    /// <summary>CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ and PUBLISH with QoS 1/2 expect an acknowledgement.</summary>
    private static bool ExpectsResponse(ReadOnlySpan<byte> blob)
    {
        if (!EventFieldReader.TryFind(blob, MqttFields.Type, out _, out var type)) return false;
        if (type.SequenceEqual("publish"u8))
        {
            return EventFieldReader.TryFind(blob, MqttFields.Qos, out var k, out var v) && k == EventFieldKind.Int && v.Length == 8 && BitConverter.ToInt64(v) > 0;
        }

        return type.SequenceEqual("connect"u8) || type.SequenceEqual("subscribe"u8) || type.SequenceEqual("unsubscribe"u8) || type.SequenceEqual("pingreq"u8);
    }

    private void CountPackets(ReadOnlySpan<byte> blob)
    {
        var r = new EventFieldReader(blob);
        int depth = 0;
        bool inPackets = false;
        while (r.Read())
        {
            if (r.Kind is EventFieldKind.BeginArray or EventFieldKind.BeginObject)
            {
                if (depth == 0 && r.Field == MqttFields.Packets && r.Kind == EventFieldKind.BeginArray) inPackets = true;
                depth++;
            }
            else if (r.Kind is EventFieldKind.EndArray or EventFieldKind.EndObject)
            {
                depth--;
                if (depth == 0 && inPackets) return;
            }
            else if (inPackets && depth == 1 && r.Kind == EventFieldKind.Int)
            {
                _packets[r.Int & 0xF]++;
            }
        }
    }

    private void CountFilters(ReadOnlySpan<byte> blob)
    {
        foreach (var filter in MqttTopicFilters.Of(blob)) Count(_subscribed, Decode(filter));
    }

    private void OnConnect(in EventEntry entry, ReadOnlySpan<byte> blob)
    {
        string clientId = Text(blob, MqttFields.ClientId) ?? string.Empty;
        var key = (clientId, entry.Flow.ServerIp, entry.Flow.ServerPort);
        if (!_clients.TryGetValue(key, out var c))
        {
            if (_clients.Count >= MaxDistinct)
            {
                DroppedDistinct++;
                return;
            }

            c = new MqttClientInfo(clientId, entry.Flow.ServerIp, entry.Flow.ServerPort);
            _clients.Add(key, c);
            _clientList.Add(c);
        }

        c.Connects++;
        c.AddClientIp(entry.Flow.ClientIp);
        if (Text(blob, MqttFields.Username) is { } user) c.Username = user;
        if (EventFieldReader.TryFind(blob, MqttFields.Version, out var k, out var v) && k == EventFieldKind.Int && v.Length == 8)
        {
            c.Version = (int)BitConverter.ToInt64(v);
        }

        if (EventFieldReader.TryFind(blob, MqttFields.ResponseType, out _, out _)
            && EventFieldReader.TryFind(blob, MqttFields.ReasonCode, out k, out v) && k == EventFieldKind.Int && v.Length == 8)
        {
            long code = BitConverter.ToInt64(v);
            if (code != 0)
            {
                _refusals[code & 0xFF]++;
                c.Refusals++;
            }
        }
    }

    private void Count(Dictionary<string, long> map, string? key)
    {
        if (key is null) return;
        if (map.TryGetValue(key, out long n)) map[key] = n + 1;
        else if (map.Count < MaxDistinct) map[key] = 1;
        else DroppedDistinct++;
    }

    private static string? Text(ReadOnlySpan<byte> blob, byte field)
        => EventFieldReader.TryFind(blob, field, out var kind, out var value) && kind == EventFieldKind.String ? Decode(value) : null;

    private static string Decode(ReadOnlySpan<byte> utf8) => Encoding.UTF8.GetString(utf8);

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

        w.WriteLine(string.Create(ci, $"  clients ({_clients.Count}):"));
        foreach (var c in Clients)
        {
            w.WriteLine(string.Create(ci, $"    {Escape(c.ClientId)} user={Escape(c.Username ?? "-")} v{c.Version} broker {c.Broker}:{c.Port} connects {c.Connects} refusals {c.Refusals}"));
        }

        WriteTopics(w, "published topics", _published);
        WriteTopics(w, "subscribed filters", _subscribed);
    }

    private static void WriteTopics(TextWriter w, string title, Dictionary<string, long> map)
    {
        if (map.Count == 0) return;
        w.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {title} ({map.Count}):"));
        foreach (var (topic, n) in map.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal).Take(50))
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
            w.WriteString("client_id", c.ClientId);
            if (c.Username is null) w.WriteNull("username");
            else w.WriteString("username", c.Username);
            w.WriteNumber("version", c.Version);
            w.WriteString("broker", c.Broker.ToString());
            w.WriteNumber("broker_port", c.Port);
            w.WriteStartArray("client_ips");
            foreach (var ip in c.ClientIps) w.WriteStringValue(ip.ToString());
            w.WriteEndArray();
            w.WriteNumber("connects", c.Connects);
            w.WriteNumber("refusals", c.Refusals);
            w.WriteEndObject();
            ReplayReport.FlushIfLarge(w);
        }

        w.WriteEndArray();
        WriteTopicsJson(w, "published_topics", _published);
        WriteTopicsJson(w, "subscribed_filters", _subscribed);
        w.WriteEndObject();
    }

    private static void WriteTopicsJson(Utf8JsonWriter w, string name, Dictionary<string, long> map)
    {
        w.WriteStartObject(name);
        foreach (var (topic, n) in map.OrderBy(p => p.Key, StringComparer.Ordinal))
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
