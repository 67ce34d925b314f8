using System.Globalization;
using System.Text;
using System.Text.Json;
using OtSensor.Core;
using OtSensor.Pipeline;
using OtSensor.Protocols.Coap;

namespace OtSensor.Output;

/// <summary>
/// CoAP part of the replay summary: wire messages by type and by code (every message, retransmissions and empty
/// ACK/RST included, as tshark counts them), servers with their resources (link-format and requested paths),
/// Observe relations, anomalies.
/// </summary>
public sealed class CoapReport
{
    private const int MaxPathsPerServer = 1024;
    private readonly long[] _types = new long[4];
    private readonly long[] _codes = new long[256];
    private readonly long[] _anomalies = new long[64];
    private readonly Dictionary<(IpAddr Ip, ushort Port), CoapServer> _servers = [];
    private readonly List<CoapServer> _serverList = [];

    public long Transactions { get; private set; }
    public long Unanswered { get; private set; }
    public long Unsolicited { get; private set; }
    public long Notifications { get; private set; }
    public long ObserveRegistrations { get; private set; }
    public long Messages { get; private set; }

    public IReadOnlyList<CoapServer> Servers
    {
        get
        {
            var list = new List<CoapServer>(_serverList);
            list.Sort(static (a, b) =>
            {
                int c = a.Ip.CompareTo(b.Ip);
                return c != 0 ? c : a.Port.CompareTo(b.Port);
            });
            return list;
        }
    }

    /// <summary>Wire messages of a type (CON, NON, ACK, RST).</summary>
    public long MessagesOfType(CoapMessageType t) => _types[(int)t & 3];

    /// <summary>Wire messages with a code (raw byte: 0x45 = 2.05).</summary>
    public long MessagesWithCode(byte code) => _codes[code];

    public long AnomalyCount(CoapAnomaly a) => _anomalies[(int)a & 63];

    public void OnEvent(in EventEntry entry, EventBuffer buffer)
    {
        if (entry.Kind == EventKind.Anomaly)
        {
            int id = entry.Anomaly.AnomalyId;
            if ((uint)id < 64) _anomalies[id]++;
            if (id == (int)CoapAnomaly.DuplicateMessage
                || (id == (int)CoapAnomaly.Malformed && (entry.Anomaly.Detail & CoapAnomalies.CountedMessageFlag) != 0))
            {
                // A retransmission after its exchange was reported, or a message whose body could not be read: still a wire message.
                long d = entry.Anomaly.Detail;
                Count((int)(d & 3), (int)((d >> 8) & 0xFF), 1);
            }

            return;
        }

        ref readonly var tx = ref entry.Transaction;
        Transactions++;
        for (ulong m = tx.Anomalies; m != 0; m &= m - 1) _anomalies[System.Numerics.BitOperations.TrailingZeroCount(m)]++;
        if (tx.HasRequest && !tx.HasResponse) Unanswered++;
        if (!tx.HasRequest && tx.HasResponse && (tx.Anomalies & CoapAnomalies.Bit(CoapAnomaly.UnsolicitedResponse)) != 0) Unsolicited++;
        var blob = buffer.Slice(entry.RequestOffset, entry.RequestLength);

        int reqType = -1, respType = -1, reqAck = -1, respAck = -1, reqCode = -1, respCode = -1;
        long retrans = 0, respRetrans = 0, observe = -1, responseObserve = -1;
        bool notification = false;
        ReadOnlySpan<byte> path = default;
        var r = new EventFieldReader(blob);
        int depth = 0;
        CoapServer? server = null;
        while (r.Read())
        {
            if (r.Kind is EventFieldKind.EndArray or EventFieldKind.EndObject) { depth--; continue; }
            if (r.Kind is EventFieldKind.BeginArray or EventFieldKind.BeginObject)
            {
                if (depth == 0 && r.Field == CoapFields.Resources)
                {
                    server ??= Server(in entry);
                    ReadResources(ref r, server);
                    continue;
                }

                depth++;
                continue;
            }

            if (depth != 0) continue;
            switch (r.Field)
            {
                case CoapFields.Type: reqType = TypeOf(r.Value); break;
                case CoapFields.ResponseType: respType = TypeOf(r.Value); break;
                case CoapFields.RequestAck: reqAck = TypeOf(r.Value); break;
                case CoapFields.ResponseAck: respAck = TypeOf(r.Value); break;
                case CoapFields.Method: reqCode = ParseCode(r.Value); break;
                case CoapFields.Code: respCode = ParseCode(r.Value); break;
                case CoapFields.Retransmissions: retrans = r.Int; break;
                case CoapFields.ResponseRetransmissions: respRetrans = r.Int; break;
                case CoapFields.Observe: observe = r.Int; break;
                case CoapFields.ResponseObserve: responseObserve = r.Int; break;
                case CoapFields.Notification: notification = r.Bool; break;
                case CoapFields.UriPath: path = r.Value; break;
            }
        }

        Count(reqType, reqCode, 1 + retrans);
        Count(respType, respCode, 1 + respRetrans);
        Count(reqAck, 0, 1);
        Count(respAck, 0, 1);

        if (notification) Notifications++;
        bool registered = tx.HasRequest && observe == 0 && responseObserve >= 0;
        if (registered) ObserveRegistrations++;
        if (!path.IsEmpty && (tx.HasRequest || notification))
        {
            server ??= Server(in entry);
            server.OnPath(path, reqCode, registered, notification);
        }
    }

    private void Count(int type, int code, long n)
    {
        if (type < 0) return;
        _types[type] += n;
        Messages += n;
        if (code >= 0) _codes[code] += n;
    }

    private CoapServer Server(in EventEntry e)
    {
        var key = (e.Flow.ServerIp, e.Flow.ServerPort);
        if (!_servers.TryGetValue(key, out var s))
        {
            s = new CoapServer(e.Flow.ServerIp, e.Flow.ServerPort);
            _servers.Add(key, s);
            _serverList.Add(s);
        }

        s.AddClient(e.Flow.ClientIp);
        return s;
    }

    private static void ReadResources(ref EventFieldReader r, CoapServer server)
    {
        int depth = 1;
        CoapResource? current = null;
        while (depth > 0 && r.Read())
        {
            switch (r.Kind)
            {
                case EventFieldKind.BeginObject:
                    depth++;
                    current = null;
                    continue;
                case EventFieldKind.BeginArray:
                    depth++;
                    continue;
                case EventFieldKind.EndObject:
                case EventFieldKind.EndArray:
                    depth--;
                    continue;
            }

            if (r.Field == CoapFields.Path)
            {
                current = server.Resource(Encoding.UTF8.GetString(r.Value));
                current?.MarkAnnounced();
                continue;
            }

            if (current is null) continue;
            current.MarkAnnounced();
            string text = r.Kind == EventFieldKind.Int ? r.Int.ToString(CultureInfo.InvariantCulture) : Encoding.UTF8.GetString(r.Value);
            switch (r.Field)
            {
                case CoapFields.Rt: current.Rt = text; break;
                case CoapFields.If: current.If = text; break;
                case CoapFields.Ct: current.Ct = text; break;
                case CoapFields.Title: current.Title = text; break;
                case CoapFields.Sz: current.Sz = text; break;
                case CoapFields.Obs: current.Obs = r.Bool; break;
            }
        }
    }

    private static int TypeOf(ReadOnlySpan<byte> v)
    {
        if (v.SequenceEqual("CON"u8)) return 0;
        if (v.SequenceEqual("NON"u8)) return 1;
        if (v.SequenceEqual("ACK"u8)) return 2;
        if (v.SequenceEqual("RST"u8)) return 3;
        return -1;
    }

    /// <summary>"2.05" → 0x45; a method name → its code.</summary>
    private static int ParseCode(ReadOnlySpan<byte> v)
    {
        if (v.Length == 4 && v[1] == (byte)'.' && char.IsAsciiDigit((char)v[0]) && char.IsAsciiDigit((char)v[2]) && char.IsAsciiDigit((char)v[3]))
        {
            int c = v[0] - '0', d = ((v[2] - '0') * 10) + (v[3] - '0');
            return c <= 7 && d <= 31 ? (c << 5) | d : -1;
        }

        for (byte code = 1; code <= 7; code++)
        {
            if (v.SequenceEqual(CoapReader.MethodName(code))) return code;
        }

        return -1;
    }

    private static string CodeLabel(int code) => CoapReader.CodeString((byte)code) + " " + (CoapReader.CodeName((byte)code) ?? "Unassigned");

    public void WriteText(TextWriter w)
    {
        var ci = CultureInfo.InvariantCulture;
        w.WriteLine("== CoAP");
        w.WriteLine(string.Create(ci, $"  exchanges {Transactions:N0}, messages {Messages:N0}, unanswered requests {Unanswered:N0}, unsolicited responses {Unsolicited:N0}, observe registrations {ObserveRegistrations:N0}, notifications {Notifications:N0}"));
        if (Transactions == 0 && _servers.Count == 0) return;
        w.WriteLine(string.Create(ci, $"  by type: CON {_types[0]:N0}, NON {_types[1]:N0}, ACK {_types[2]:N0}, RST {_types[3]:N0}"));
        w.WriteLine("  by code:");
        for (int c = 0; c < 256; c++)
            if (_codes[c] != 0) w.WriteLine(string.Create(ci, $"    {CodeLabel(c),-36} {_codes[c],9:N0}"));
        bool anyAn = false;
        for (int a = 1; a < 64; a++)
        {
            if (_anomalies[a] == 0) continue;
            if (!anyAn) w.WriteLine("  anomalies:");
            anyAn = true;
            w.WriteLine(string.Create(ci, $"    {CoapAnomalies.Info((CoapAnomaly)a).Id,-40} {_anomalies[a],9:N0}"));
        }

        w.WriteLine(string.Create(ci, $"  servers ({_servers.Count}):"));
        foreach (var s in Servers)
        {
            w.WriteLine(string.Create(ci, $"    {s.Ip}:{s.Port}  clients [{string.Join(", ", s.Clients)}]"));
            foreach (var (path, res) in s.Resources)
            {
                w.WriteLine(string.Create(ci, $"      {Printable(path)}{res.Describe()}"));
            }
        }
    }

    private static string Printable(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s.AsSpan(0, Math.Min(s.Length, 200))) sb.Append(char.IsControl(c) ? '?' : c);
        return sb.ToString();
    }

    /// <summary>How many servers the summary lists (what its size grows with).</summary>
    internal int ServerCount => _servers.Count;

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("exchanges", Transactions);
        w.WriteNumber("messages", Messages);
        w.WriteNumber("unanswered_requests", Unanswered);
        w.WriteNumber("unsolicited_responses", Unsolicited);
        w.WriteNumber("observe_registrations", ObserveRegistrations);
        w.WriteNumber("notifications", Notifications);
        w.WriteStartObject("by_type");
        w.WriteNumber("CON", _types[0]);
        w.WriteNumber("NON", _types[1]);
        w.WriteNumber("ACK", _types[2]);
        w.WriteNumber("RST", _types[3]);
        w.WriteEndObject();
        w.WriteStartObject("by_code");
        for (int c = 0; c < 256; c++)
            if (_codes[c] != 0) w.WriteNumber(CodeLabel(c), _codes[c]);
        w.WriteEndObject();
        w.WriteStartObject("anomalies");
        for (int a = 1; a < 64; a++)
            if (_anomalies[a] != 0) w.WriteNumber(CoapAnomalies.Info((CoapAnomaly)a).Id, _anomalies[a]);
        w.WriteEndObject();
        w.WriteStartArray("servers");
        foreach (var s in Servers)
        {
            s.WriteJson(w);
            ReplayReport.FlushIfLarge(w);
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    /// <summary>A CoAP server (endpoint that answered or was asked), with the resources it announced or was asked for.</summary>
    public sealed class CoapServer(IpAddr ip, ushort port)
    {
        private readonly HashSet<IpAddr> _clients = [];
        private readonly SortedDictionary<string, CoapResource> _resources = new(StringComparer.Ordinal);
        private readonly Dictionary<string, CoapResource> _index = new(StringComparer.Ordinal);

        public IpAddr Ip { get; } = ip;
        public ushort Port { get; } = port;
        public IEnumerable<IpAddr> Clients => AddressOrder.Sorted(_clients);
        public IReadOnlyDictionary<string, CoapResource> Resources => _resources;

        internal void AddClient(IpAddr c) => _clients.Add(c);

        internal CoapResource? Resource(string path)
        {
            if (_index.TryGetValue(path, out var r)) return r;
            if (_index.Count >= MaxPathsPerServer) return null;
            r = new CoapResource();
            _index.Add(path, r);
            _resources.Add(path, r);
            return r;
        }

        internal void OnPath(ReadOnlySpan<byte> path, int method, bool registered, bool notification)
        {
            Span<char> chars = stackalloc char[512];
            if (path.Length > 512) path = path[..512];
            int n = Encoding.UTF8.GetChars(path, chars);
            CoapResource? r;
            var lookup = _index.GetAlternateLookup<ReadOnlySpan<char>>();
            if (!lookup.TryGetValue(chars[..n], out r)) r = Resource(new string(chars[..n]));
            if (r is null) return;
            if (notification) r.Notifications++;
            else
            {
                r.Requests++;
                if (method is > 0 and < 8) r.Methods |= 1 << method;
            }

            if (registered) r.Registrations++;
        }

        private static readonly JsonEncodedText ResourcesName = JsonEncodedText.Encode("resources");
        private static readonly JsonEncodedText PathName = JsonEncodedText.Encode("path");

        internal void WriteJson(Utf8JsonWriter w)
        {
            w.WriteStartObject();
            SummaryJson.WriteIp(w, SummaryJson.ServerIp, Ip);
            w.WriteNumber(SummaryJson.ServerPort, Port);
            w.WriteStartArray(SummaryJson.Clients);
            foreach (var c in Clients) SummaryJson.WriteIpValue(w, c);
            w.WriteEndArray();
            w.WriteStartArray(ResourcesName);
            foreach (var (path, r) in _resources)
            {
                w.WriteStartObject();
                w.WriteString(PathName, path);
                r.WriteFields(w);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }
    }

    /// <summary>One resource of a server: link-format attributes and what was seen on it.</summary>
    public sealed class CoapResource
    {
        public string? Rt { get; set; }
        public string? If { get; set; }
        public string? Ct { get; set; }
        public string? Title { get; set; }
        public string? Sz { get; set; }
        public bool Obs { get; set; }
        /// <summary>Announced by a link-format document.</summary>
        public bool Discovered => Rt is not null || If is not null || Ct is not null || Title is not null || Sz is not null || Obs || _announced;
        public long Requests { get; set; }
        /// <summary>Bit m set = method code m used.</summary>
        public int Methods { get; set; }
        public long Registrations { get; set; }
        public long Notifications { get; set; }
        private bool _announced;

        internal void MarkAnnounced() => _announced = true;

        public IEnumerable<string> MethodNames()
        {
            for (byte m = 1; m < 8; m++)
                if ((Methods & (1 << m)) != 0) yield return Encoding.ASCII.GetString(CoapReader.MethodName(m));
        }

        internal string Describe()
        {
            var sb = new StringBuilder();
            if (Rt is not null) sb.Append(" rt=").Append(Rt);
            if (If is not null) sb.Append(" if=").Append(If);
            if (Ct is not null) sb.Append(" ct=").Append(Ct);
            if (Obs) sb.Append(" obs");
            if (Title is not null) sb.Append(" title=").Append(Title);
            if (Requests > 0) sb.Append(CultureInfo.InvariantCulture, $"  requests {Requests} [{string.Join(",", MethodNames())}]");
            if (Registrations > 0) sb.Append(CultureInfo.InvariantCulture, $" observe registrations {Registrations}");
            if (Notifications > 0) sb.Append(CultureInfo.InvariantCulture, $" notifications {Notifications}");
            return sb.ToString();
        }

        private static readonly JsonEncodedText RtName = JsonEncodedText.Encode("rt");
        private static readonly JsonEncodedText IfName = JsonEncodedText.Encode("if");
        private static readonly JsonEncodedText CtName = JsonEncodedText.Encode("ct");
        private static readonly JsonEncodedText TitleName = JsonEncodedText.Encode("title");
        private static readonly JsonEncodedText SzName = JsonEncodedText.Encode("sz");
        private static readonly JsonEncodedText ObsName = JsonEncodedText.Encode("obs");
        private static readonly JsonEncodedText DiscoveredName = JsonEncodedText.Encode("discovered");
        private static readonly JsonEncodedText RequestsName = JsonEncodedText.Encode("requests");
        private static readonly JsonEncodedText MethodsName = JsonEncodedText.Encode("methods");
        private static readonly JsonEncodedText RegistrationsName = JsonEncodedText.Encode("observe_registrations");
        private static readonly JsonEncodedText NotificationsName = JsonEncodedText.Encode("notifications");

        internal void WriteFields(Utf8JsonWriter w)
        {
            if (Rt is not null) w.WriteString(RtName, Rt);
            if (If is not null) w.WriteString(IfName, If);
            if (Ct is not null) w.WriteString(CtName, Ct);
            if (Title is not null) w.WriteString(TitleName, Title);
            if (Sz is not null) w.WriteString(SzName, Sz);
            w.WriteBoolean(ObsName, Obs);
            w.WriteBoolean(DiscoveredName, Discovered);
            w.WriteNumber(RequestsName, Requests);
            w.WriteStartArray(MethodsName);
            for (byte m = 1; m < 8; m++)
                if ((Methods & (1 << m)) != 0) w.WriteStringValue(CoapReader.MethodName(m));
            w.WriteEndArray();
            w.WriteNumber(RegistrationsName, Registrations);
            w.WriteNumber(NotificationsName, Notifications);
        }
    }
}
