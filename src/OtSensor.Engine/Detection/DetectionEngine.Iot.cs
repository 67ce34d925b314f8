using System.Globalization;
using System.Text;
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Pipeline;
using OtSensor.Protocols.Coap;
using OtSensor.Protocols.Mqtt;

namespace OtSensor.Detection;

public sealed partial class DetectionEngine
{
    private sealed class WindowCounter
    {
        public long Start;
        public long Count;
        public long Bytes;
        public long OtherBytes;
    }

    private sealed class ScanTracker
    {
        public long Start;
        public readonly HashSet<(IpAddr Ip, ushort Port)> Targets = [];
        public int IcsTargets;
    }

    /// <summary>
    /// A direct-mapped cache of the string keys (server, code, wire bytes: an MQTT topic, a CoAP method and path)
    /// already known to be in a baseline set: a repeated publish or request then builds no string and hashes nothing
    /// in the set. Only keys found in the set are cached, and the sets only grow, so a hit means exactly "in the set".
    /// </summary>
    private sealed class KnownKeys
    {
        private const int Bits = 12;
        private readonly IpAddr[] _servers = new IpAddr[1 << Bits];
        private readonly int[] _codes = new int[1 << Bits];
        private readonly byte[]?[] _bytes = new byte[]?[1 << Bits];
        private readonly int[] _lengths = new int[1 << Bits];

        /// <summary>The key's slot: a multiply-xor hash over 8 bytes at a time (only picks a slot, so any spread will do).</summary>
        private static int Index(IpAddr server, int code, ReadOnlySpan<byte> bytes)
        {
            const ulong K = 0x9E3779B97F4A7C15UL;
            ulong h = ((server.Hi ^ (server.Lo * K)) + (uint)code) * K;
            return (int)(BytesHash.Mix(h, bytes) >> (64 - Bits));
        }

        public bool Contains(IpAddr server, int code, ReadOnlySpan<byte> bytes, out int index)
        {
            index = Index(server, code, bytes);
            var b = _bytes[index];
            return b is not null && _codes[index] == code && _servers[index] == server && bytes.SequenceEqual(b.AsSpan(0, _lengths[index]));
        }

        public void Add(int index, IpAddr server, int code, ReadOnlySpan<byte> bytes)
        {
            var b = _bytes[index];
            // A slot's buffer is reused while it is large enough: replacing a key allocates nothing.
            if (b is null || b.Length < bytes.Length) _bytes[index] = b = new byte[Math.Max(bytes.Length, 32)];
            bytes.CopyTo(b);
            _lengths[index] = bytes.Length;
            _servers[index] = server;
            _codes[index] = code;
        }

        public void Clear() => Array.Clear(_bytes);
    }

    private readonly KnownKeys _knownTopics = new();
    /// <summary>MQTT clients (server, client id and user bytes; code: the client id's length) known to be in <see cref="BaselineModel.MqttClients"/>.</summary>
    private readonly KnownKeys _knownClients = new();
    private readonly KnownKeys _knownResources = new();

    private readonly Dictionary<PairKey, WindowCounter> _mqttRefusals = [];
    private readonly Dictionary<PairKey, WindowCounter> _coapBytes = [];
    private readonly Dictionary<PairKey, WindowCounter> _coapUnsolicited = [];
    private readonly Dictionary<IpAddr, ScanTracker> _scans = [];

    private WindowCounter Counter(Dictionary<PairKey, WindowCounter> table, PairKey key, long ts, long windowNs)
    {
        if (!table.TryGetValue(key, out var c))
        {
            if (table.Count >= _options.MaxTrackers)
            {
                TrackersDropped += table.Count;
                table.Clear();
            }
            c = new WindowCounter { Start = ts };
            table.Add(key, c);
        }
        if (ts - c.Start > windowNs)
        {
            c.Start = ts;
            c.Count = 0;
            c.Bytes = 0;
            c.OtherBytes = 0;
        }
        return c;
    }

    /// <summary>The bytes of a string field (false, and empty: absent or not a string, which <see cref="Text"/> makes null).</summary>
    private static bool TextBytes(ReadOnlySpan<byte> blob, byte field, out ReadOnlySpan<byte> value)
    {
        if (EventFieldReader.TryFind(blob, field, out var kind, out value) && kind == EventFieldKind.String) return true;
        value = default;
        return false;
    }

    /// <summary>
    /// <paramref name="head"/>|<paramref name="a"/>[|<paramref name="b"/>] with the byte parts decoded as UTF-8: the
    /// same text as interpolating their <see cref="Encoding.GetString(ReadOnlySpan{byte})"/>, without the part strings.
    /// </summary>
    private static string Joined(string head, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, bool two)
    {
        // ASCII parts (the usual topics and client ids) decode to one char per byte: widened, not transcoded.
        bool ascii = System.Text.Ascii.IsValid(a) && (!two || System.Text.Ascii.IsValid(b));
        int n = ascii
            ? head.Length + 1 + a.Length + (two ? 1 + b.Length : 0)
            : head.Length + 1 + Encoding.UTF8.GetCharCount(a) + (two ? 1 + Encoding.UTF8.GetCharCount(b) : 0);
        char[]? rented = n > 512 ? System.Buffers.ArrayPool<char>.Shared.Rent(n) : null;
        Span<char> buf = rented ?? stackalloc char[n];
        head.CopyTo(buf);
        int at = head.Length;
        buf[at++] = '|';
        at += ascii ? Widen(a, buf[at..]) : Encoding.UTF8.GetChars(a, buf[at..]);
        if (two)
        {
            buf[at++] = '|';
            at += ascii ? Widen(b, buf[at..]) : Encoding.UTF8.GetChars(b, buf[at..]);
        }
        var text = new string(buf[..at]);
        if (rented is not null) System.Buffers.ArrayPool<char>.Shared.Return(rented);
        return text;
    }

    private static int Widen(ReadOnlySpan<byte> ascii, Span<char> to)
    {
        System.Text.Ascii.ToUtf16(ascii, to, out int written);
        return written;
    }

    private static string? Text(ReadOnlySpan<byte> blob, byte field)
        => EventFieldReader.TryFind(blob, field, out var kind, out var value) && kind == EventFieldKind.String ? Encoding.UTF8.GetString(value) : null;

    private static long? Int(ReadOnlySpan<byte> blob, byte field)
        => EventFieldReader.TryFind(blob, field, out var kind, out var value) && kind == EventFieldKind.Int && value.Length == 8 ? BitConverter.ToInt64(value) : null;

    private static bool Bool(ReadOnlySpan<byte> blob, byte field)
        => EventFieldReader.TryFind(blob, field, out var kind, out var value) && kind == EventFieldKind.Bool && value.Length == 1 && value[0] != 0;

    private static int MqttTypeFast(ReadOnlySpan<byte> name)
    {
        if (name.SequenceEqual("publish"u8)) return (int)MqttPacketType.Publish; // most packets
        for (int t = 1; t < 16; t++)
            if (name.SequenceEqual(MqttFields.PacketTypeNameUtf8((MqttPacketType)t))) return t;
        return 0;
    }

    // ------------------------------------------------------------------ MQTT

    private void OnMqtt(in EventEntry e, EventBuffer buffer)
    {
        ref readonly var tx = ref e.Transaction;
        var (ts, packet) = When(in tx);
        if (tx.Anomalies != 0) TransactionAnomalies(in e, tx.Anomalies, ts, packet);
        var blob = buffer.Slice(e.RequestOffset, e.RequestLength);
        ref readonly var flow = ref e.Flow;
        if (!EventFieldReader.TryFind(blob, MqttFields.Type, out _, out var typeName)) return;
        int type = MqttTypeFast(typeName);
        bool fromClient = !(EventFieldReader.TryFind(blob, MqttFields.Direction, out _, out var dir) && dir.SequenceEqual("to_client"u8));

        switch ((MqttPacketType)type)
        {
            case MqttPacketType.Connect:
                MqttConnect(in e, blob, ts, packet);
                break;
            case MqttPacketType.Subscribe:
                MqttSubscribe(in e, blob, ts, packet);
                break;
            case MqttPacketType.Publish:
                {
                    long len = Int(blob, MqttFields.PayloadLen) ?? 0;
                    double max = Threshold(s_mqttOversizePayload);
                    if (len > max && !Handled("mqtt_oversize_payload", fromClient ? flow.ClientIp : flow.ServerIp, fromClient ? flow.ServerIp : flow.ClientIp, ts, out var t))
                    {
                        OversizePublishAlert(t, in flow, blob, fromClient, len, max, ts, packet);
                    }
                    break;
                }
        }

        if (Mode == BaselineMode.Off) return;
        if (Learning) StartLearning(ts);
        Common(in flow, type, ts, packet, type != 0 && fromClient);
        MqttBaseline(in e, blob, (MqttPacketType)type, ts, packet);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void OversizePublishAlert(AlertType t, in FlowEndpoints flow, ReadOnlySpan<byte> blob, bool fromClient, long len, double max, long ts, long packet)
    {
        string? topic = Text(blob, MqttFields.Topic);
        Create(t, fromClient ? Client(in flow) : Server(in flow), fromClient ? Server(in flow) : Client(in flow), "mqtt", ts, packet,
            $"MQTT PUBLISH with a {len}-byte payload (limit {max}) on topic '{Sanitize(topic ?? "")}'",
            Ev(("payload_len", len), ("limit", max), ("topic", topic)));
    }

    private void MqttConnect(in EventEntry e, ReadOnlySpan<byte> blob, long ts, long packet)
    {
        ref readonly var flow = ref e.Flow;
        // The texts only for a new alert (repeats aggregate without them).
        bool hasUser = TextBytes(blob, MqttFields.Username, out var userBytes);
        bool password = Bool(blob, MqttFields.PasswordPresent);
        TextBytes(blob, MqttFields.ClientId, out var clientIdBytes);
        bool answered = EventFieldReader.TryFind(blob, MqttFields.ResponseType, out _, out _);
        long code = answered ? Int(blob, MqttFields.ReasonCode) ?? -1 : -1;

        if (!hasUser && answered && code == 0 && !Handled("mqtt_anonymous_connect", flow.ClientIp, flow.ServerIp, ts, out var t1))
        {
            string clientId = Encoding.UTF8.GetString(clientIdBytes);
            Create(t1, Client(in flow), Server(in flow), "mqtt", ts, packet,
                $"MQTT broker {Ip(flow.ServerIp)} accepted an anonymous connection from {Ip(flow.ClientIp)} (client id '{Sanitize(clientId)}')",
                Ev(("client_id", clientId), ("reason_code", code)));
        }
        if ((hasUser || password) && flow.Protocol == ProtocolId.Mqtt
            && !Handled("mqtt_cleartext_credentials", flow.ClientIp, flow.ServerIp, ts, out var t2))
        {
            string clientId = Encoding.UTF8.GetString(clientIdBytes);
            string? user = hasUser ? Encoding.UTF8.GetString(userBytes) : null;
            Create(t2, Client(in flow), Server(in flow), "mqtt", ts, packet,
                $"MQTT credentials in clear text from {Ip(flow.ClientIp)} to {Ip(flow.ServerIp)} (user '{Sanitize(user ?? "")}')",
                Ev(("client_id", clientId), ("username", user), ("password_present", password ? "true" : "false")));
        }
        if (answered && code > 0)
        {
            var c = Counter(_mqttRefusals, new PairKey(flow.ClientIp, flow.ServerIp), ts, WindowNs(s_mqttAuthBruteforce));
            c.Count++;
            if (c.Count >= Threshold(s_mqttAuthBruteforce) && !Handled("mqtt_auth_bruteforce", flow.ClientIp, flow.ServerIp, ts, out var t3))
            {
                string clientId = Encoding.UTF8.GetString(clientIdBytes);
                string? user = hasUser ? Encoding.UTF8.GetString(userBytes) : null;
                Create(t3, Client(in flow), Server(in flow), "mqtt", ts, packet,
                    $"MQTT authentication brute force: {c.Count} refused CONNECTs from {Ip(flow.ClientIp)} to {Ip(flow.ServerIp)}",
                    Ev(("refused_connects", c.Count), ("last_reason_code", code), ("last_username", user), ("client_id", clientId)));
            }
        }
    }

    private void MqttSubscribe(in EventEntry e, ReadOnlySpan<byte> blob, long ts, long packet)
    {
        ref readonly var flow = ref e.Flow;
        foreach (var v in MqttTopicFilters.Of(blob))
        {
            if (v.StartsWith("$SYS"u8))
            {
                if (!Handled("mqtt_sys_topic_access", flow.ClientIp, flow.ServerIp, ts, out var t))
                {
                    string filter = Encoding.UTF8.GetString(v);
                    Create(t, Client(in flow), Server(in flow), "mqtt", ts, packet,
                        $"MQTT client {Ip(flow.ClientIp)} subscribed to broker statistics '{Sanitize(filter)}' on {Ip(flow.ServerIp)}", Ev(("filter", filter)));
                }
            }
            else if (IsBroadWildcard(v) && !Handled("mqtt_wildcard_subscribe", flow.ClientIp, flow.ServerIp, ts, out var t))
            {
                string filter = Encoding.UTF8.GetString(v);
                Create(t, Client(in flow), Server(in flow), "mqtt", ts, packet,
                    $"MQTT client {Ip(flow.ClientIp)} subscribed to the broad wildcard '{Sanitize(filter)}' on {Ip(flow.ServerIp)}", Ev(("filter", filter)));
            }
        }
    }

    /// <summary>'#', or only '+' levels then '#' ('+/#', '+/+/#'), or a single-level '+'.</summary>
    private static bool IsBroadWildcard(ReadOnlySpan<byte> filter)
    {
        if (filter.SequenceEqual("#"u8) || filter.SequenceEqual("+"u8) || filter.SequenceEqual("/#"u8)) return true;
        if (!filter.EndsWith("/#"u8)) return false;
        var head = filter[..^2];
        foreach (var seg in head.Split((byte)'/'))
        {
            var s = head[seg];
            if (!s.SequenceEqual("+"u8) && !s.IsEmpty) return false;
        }
        return true;
    }

    private void MqttBaseline(in EventEntry e, ReadOnlySpan<byte> blob, MqttPacketType type, long ts, long packet)
    {
        ref readonly var flow = ref e.Flow;
        if (type == MqttPacketType.Connect)
        {
            MqttClientBaseline(in flow, blob, ts, packet);
        }
        else if (type == MqttPacketType.Publish)
        {
            if (EventFieldReader.TryFind(blob, MqttFields.Topic, out var kind, out var topic) && kind == EventFieldKind.String) Topic(in flow, topic, "publish", ts, packet);
        }
        else if (type == MqttPacketType.Subscribe)
        {
            var r = new EventFieldReader(blob);
            int depth = 0;
            bool inTopics = false;
            while (r.Read())
            {
                if (r.Kind is EventFieldKind.BeginArray or EventFieldKind.BeginObject)
                {
                    if (depth == 0 && r.Field == MqttFields.Topics) inTopics = true;
                    depth++;
                }
                else if (r.Kind is EventFieldKind.EndArray or EventFieldKind.EndObject)
                {
                    depth--;
                    if (depth == 0 && inTopics) break;
                }
                else if (inTopics && depth == 2 && r.Field == MqttFields.Filter && r.Kind == EventFieldKind.String)
                {
                    Topic(in flow, r.Value, "subscribe", ts, packet);
                }
            }
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void MqttClientBaseline(in FlowEndpoints flow, ReadOnlySpan<byte> blob, long ts, long packet)
    {
        var b = _baseline;
        // Absent client id / user: empty, as in the key's text. A client already known builds no string.
        TextBytes(blob, MqttFields.ClientId, out var clientIdBytes);
        TextBytes(blob, MqttFields.Username, out var userBytes);
        int both = clientIdBytes.Length + userBytes.Length;
        byte[]? rented = both > 256 ? System.Buffers.ArrayPool<byte>.Shared.Rent(both) : null;
        Span<byte> joined = rented is not null ? rented.AsSpan(0, both) : stackalloc byte[both];
        clientIdBytes.CopyTo(joined);
        userBytes.CopyTo(joined[clientIdBytes.Length..]);
        // Learning into a full baseline adds nothing: no key text to build.
        if (!_knownClients.Contains(flow.ServerIp, clientIdBytes.Length, joined, out int known) && !(Learning && b.ItemCount >= BaselineModel.MaxItems))
        {
            string key = Joined(Ip(flow.ServerIp), clientIdBytes, userBytes, two: true);
            if (Learning)
            {
                if (b.ItemCount < BaselineModel.MaxItems)
                {
                    b.MqttClients.Add(key);
                    _knownClients.Add(known, flow.ServerIp, clientIdBytes.Length, joined);
                }
            }
            else if (Protecting && b.MqttClients.Contains(key))
            {
                _knownClients.Add(known, flow.ServerIp, clientIdBytes.Length, joined);
            }
            else if (Protecting && !Handled("mqtt_new_client", flow.ClientIp, flow.ServerIp, ts, out var t))
            {
                string clientId = Encoding.UTF8.GetString(clientIdBytes);
                string user = Encoding.UTF8.GetString(userBytes);
                Create(t, Client(in flow), Server(in flow), "mqtt", ts, packet,
                    $"New MQTT client '{Sanitize(clientId)}' (user '{Sanitize(user)}') from {Ip(flow.ClientIp)} on broker {Ip(flow.ServerIp)}",
                    Ev(("client_id", clientId), ("username", user)));
            }
        }
        if (rented is not null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
    }

    // As in the Modbus paths: the frequent case (a known key) does not pay for the stack frame of building texts.
    private void Topic(in FlowEndpoints flow, ReadOnlySpan<byte> topicBytes, string how, long ts, long packet)
    {
        if (Mode == BaselineMode.Off || _knownTopics.Contains(flow.ServerIp, 0, topicBytes, out int known)) return;
        NewTopic(in flow, topicBytes, how, known, ts, packet);
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void NewTopic(in FlowEndpoints flow, ReadOnlySpan<byte> topicBytes, string how, int known, long ts, long packet)
    {
        var b = _baseline;
        if (Learning)
        {
            // Learning into a full baseline adds nothing: no key text to build.
            if (b.ItemCount >= BaselineModel.MaxItems) return;
            b.MqttTopics.Add(Joined(Ip(flow.ServerIp), topicBytes, default, two: false));
            _knownTopics.Add(known, flow.ServerIp, 0, topicBytes);
            return;
        }
        if (!Protecting) return;
        string key = Joined(Ip(flow.ServerIp), topicBytes, default, two: false);
        if (b.MqttTopics.Contains(key))
        {
            _knownTopics.Add(known, flow.ServerIp, 0, topicBytes);
        }
        else if (!Handled("mqtt_new_topic", flow.ClientIp, flow.ServerIp, ts, out var t))
        {
            string topic = Encoding.UTF8.GetString(topicBytes);
            Create(t, Client(in flow), Server(in flow), "mqtt", ts, packet,
                $"New MQTT topic '{Sanitize(topic)}' ({how}) by {Ip(flow.ClientIp)} on broker {Ip(flow.ServerIp)}", Ev(("topic", topic), ("operation", how)));
        }
    }

    // ------------------------------------------------------------------ CoAP

    private static string CoapMethodName(int code) => code switch
    {
        1 => "GET",
        2 => "POST",
        3 => "PUT",
        4 => "DELETE",
        5 => "FETCH",
        6 => "PATCH",
        7 => "iPATCH",
        _ => "0." + code.ToString("00", CultureInfo.InvariantCulture),
    };

    private static int CoapMethodCode(ReadOnlySpan<byte> m)
    {
        if (m.SequenceEqual("GET"u8)) return 1;
        if (m.SequenceEqual("POST"u8)) return 2;
        if (m.SequenceEqual("PUT"u8)) return 3;
        if (m.SequenceEqual("DELETE"u8)) return 4;
        if (m.SequenceEqual("FETCH"u8)) return 5;
        if (m.SequenceEqual("PATCH"u8)) return 6;
        if (m.SequenceEqual("iPATCH"u8)) return 7;
        if (m.Length == 4 && m[0] == (byte)'0' && m[1] == (byte)'.' && char.IsAsciiDigit((char)m[2]) && char.IsAsciiDigit((char)m[3])) return ((m[2] - '0') * 10) + (m[3] - '0');
        return -1;
    }

    private void OnCoap(in EventEntry e, EventBuffer buffer)
    {
        ref readonly var tx = ref e.Transaction;
        var (ts, packet) = When(in tx);
        if (tx.Anomalies != 0) TransactionAnomalies(in e, tx.Anomalies, ts, packet);
        var blob = buffer.Slice(e.RequestOffset, e.RequestLength);
        ref readonly var flow = ref e.Flow;

        int method = -1;
        ReadOnlySpan<byte> path = default;
        bool oscore = false;
        long reqPayload = 0, respPayload = 0;
        bool hasResp = false;
        var r = new EventFieldReader(blob);
        int depth = 0;
        while (r.Read())
        {
            if (r.Kind is EventFieldKind.BeginArray or EventFieldKind.BeginObject) { depth++; continue; }
            if (r.Kind is EventFieldKind.EndArray or EventFieldKind.EndObject) { depth--; continue; }
            if (depth != 0) continue;
            switch (r.Field)
            {
                case CoapFields.Method: method = CoapMethodCode(r.Value); break;
                case CoapFields.UriPath: path = r.Value; break;
                case CoapFields.Oscore: oscore = r.Bool; break;
                case CoapFields.PayloadLen: reqPayload = r.Int; break;
                case CoapFields.ResponsePayloadLen: respPayload = r.Int; break;
                case CoapFields.Code: hasResp = true; break;
                case CoapFields.ResponseType: hasResp = true; break;
            }
        }
        bool hasReq = tx.HasRequest && method > 0;

        if (hasReq && method == 1 && path.SequenceEqual("/.well-known/core"u8)
            && !Handled("coap_resource_discovery", flow.ClientIp, flow.ServerIp, ts, out var t1))
        {
            CoapDiscoveryAlert(t1, in flow, path, ts, packet);
        }
        if (hasReq && method is 2 or 3 or 4 or 6 or 7 && !oscore && flow.Protocol == ProtocolId.Coap
            && !Handled("coap_unauthenticated_state_change", flow.ClientIp, flow.ServerIp, ts, out var t2))
        {
            CoapStateChangeAlert(t2, in flow, method, path, ts, packet);
        }

        // Amplification: response bytes far above request bytes between two hosts, or unsolicited responses.
        long window = WindowNs(s_coapAmplification);
        var key = new PairKey(flow.ClientIp, flow.ServerIp);
        bool unsolicited = !tx.HasRequest && tx.HasResponse;
        if (hasReq || hasResp)
        {
            var c = Counter(_coapBytes, key, ts, window);
            if (tx.HasRequest) c.OtherBytes += 4 + reqPayload + path.Length + 4;
            if (tx.HasResponse) c.Bytes += 4 + respPayload + 4;
            double ratio = Threshold(s_coapAmplification);
            bool amplified = c.Bytes >= 2048 && c.Bytes >= ratio * Math.Max(1, c.OtherBytes);
            long unsolicitedCount = 0;
            if (unsolicited)
            {
                var u = Counter(_coapUnsolicited, key, ts, window);
                u.Count++;
                unsolicitedCount = u.Count;
            }
            if ((amplified || unsolicitedCount >= Math.Max(2, ratio)) && !Handled("coap_amplification", flow.ServerIp, flow.ClientIp, ts, out var t3))
            {
                CoapAmplificationAlert(t3, in flow, c, unsolicitedCount, ratio, hasReq, path, ts, packet);
            }
        }

        if (Mode == BaselineMode.Off) return;
        if (Learning) StartLearning(ts);
        Common(in flow, method, ts, packet, hasReq);
        if (!hasReq || _knownResources.Contains(flow.ServerIp, method, path, out int known)) return;
        NewCoapResource(in flow, method, path, known, ts, packet);
    }

    /// <summary>A CoAP path as text (the empty path is "/").</summary>
    private static string PathText(ReadOnlySpan<byte> p) => p.IsEmpty ? "/" : Encoding.UTF8.GetString(p);

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void CoapDiscoveryAlert(AlertType t, in FlowEndpoints flow, ReadOnlySpan<byte> path, long ts, long packet)
    {
        Create(t, Client(in flow), Server(in flow), "coap", ts, packet,
            $"CoAP resource discovery: {Ip(flow.ClientIp)} listed the resources of {Ip(flow.ServerIp)} (GET /.well-known/core)", Ev(("method", "GET"), ("uri_path", PathText(path))));
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void CoapStateChangeAlert(AlertType t, in FlowEndpoints flow, int method, ReadOnlySpan<byte> path, long ts, long packet)
    {
        string pathText = PathText(path);
        Create(t, Client(in flow), Server(in flow), "coap", ts, packet,
            $"CoAP {CoapMethodName(method)} {Sanitize(pathText)} from {Ip(flow.ClientIp)} to {Ip(flow.ServerIp)} without OSCORE or DTLS",
            Ev(("method", CoapMethodName(method)), ("uri_path", pathText)));
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void CoapAmplificationAlert(AlertType t, in FlowEndpoints flow, WindowCounter c, long unsolicitedCount, double ratio, bool hasReq, ReadOnlySpan<byte> path, long ts, long packet)
    {
        Create(t, Server(in flow), Client(in flow), "coap", ts, packet,
            unsolicitedCount >= ratio
                ? $"CoAP amplification: {Ip(flow.ServerIp)} sent {unsolicitedCount} responses to {Ip(flow.ClientIp)}, which never asked"
                : $"CoAP amplification: {Ip(flow.ServerIp)} sent {c.Bytes} bytes of responses to {Ip(flow.ClientIp)} for {c.OtherBytes} bytes of requests",
            Ev(("response_bytes", c.Bytes), ("request_bytes", c.OtherBytes), ("unsolicited_responses", unsolicitedCount), ("uri_path", hasReq ? PathText(path) : null)));
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void NewCoapResource(in FlowEndpoints flow, int method, ReadOnlySpan<byte> path, int known, long ts, long packet)
    {
        // Learning into a full baseline adds nothing: no key text to build.
        if (Learning && _baseline.ItemCount >= BaselineModel.MaxItems) return;
        string pathText = PathText(path);
        string rk = $"{Ip(flow.ServerIp)}|{CoapMethodName(method)}|{pathText}";
        if (Learning)
        {
            if (_baseline.ItemCount < BaselineModel.MaxItems)
            {
                _baseline.CoapResources.Add(rk);
                _knownResources.Add(known, flow.ServerIp, method, path);
            }
        }
        else if (Protecting && _baseline.CoapResources.Contains(rk))
        {
            _knownResources.Add(known, flow.ServerIp, method, path);
        }
        else if (Protecting && !Handled("coap_new_resource", flow.ClientIp, flow.ServerIp, ts, out var t4))
        {
            Create(t4, Client(in flow), Server(in flow), "coap", ts, packet,
                $"New CoAP request {CoapMethodName(method)} {Sanitize(pathText)} from {Ip(flow.ClientIp)} to {Ip(flow.ServerIp)}",
                Ev(("method", CoapMethodName(method)), ("uri_path", pathText)));
        }
    }

    // ------------------------------------------------------------------ port scan (TCP SYNs, from OnPackets)

    private static readonly bool[] s_icsPorts = BuildIcsPorts();

    private static bool[] BuildIcsPorts()
    {
        var p = new bool[65536];
        foreach (int port in new[] { 102, 502, 789, 1089, 1090, 1091, 1502, 1883, 1911, 1962, 2222, 2404, 2455, 4000, 4840, 4843, 5006, 5007, 5094, 5683, 5684, 8883, 9600, 18245, 18246, 20000, 20547, 34962, 34963, 34964, 34980, 44818, 47808, 55000, 55001, 55002, 55003 })
            p[port] = true;
        return p;
    }

    private void OnSyn(in DecodedPacket d, long ts, long packet)
    {
        if (!_enabled[s_icsPortScan.Index]) return;
        if (!_scans.TryGetValue(d.SrcIp, out var s))
        {
            if (_scans.Count >= _options.MaxTrackers)
            {
                TrackersDropped += _scans.Count;
                _scans.Clear();
            }
            s = new ScanTracker { Start = ts };
            _scans.Add(d.SrcIp, s);
        }
        long window = WindowNs(s_icsPortScan);
        if (ts - s.Start > window)
        {
            s.Start = ts;
            s.Targets.Clear();
            s.IcsTargets = 0;
        }
        if (s.Targets.Count >= 4096 || !s.Targets.Add((d.DstIp, d.DstPort))) return;
        if (s_icsPorts[d.DstPort]) s.IcsTargets++;
        double th = Threshold(s_icsPortScan);
        if ((s.IcsTargets >= th || s.Targets.Count >= th * 4) && !Handled("ics_port_scan", d.SrcIp, default, ts, out var t))
        {
            int hosts = s.Targets.Select(x => x.Ip).Distinct().Count();
            int ports = s.Targets.Select(x => x.Port).Distinct().Count();
            var icsPorts = string.Join(",", s.Targets.Where(x => s_icsPorts[x.Port]).Select(x => x.Port).Distinct().Order().Take(32));
            Create(t, new Party(d.SrcIp, d.SrcMac, 0), default, "tcp", ts, packet,
                $"ICS port scan: {Ip(d.SrcIp)} sent SYNs to {s.Targets.Count} targets ({s.IcsTargets} on ICS ports) on {hosts} hosts, {ports} ports",
                Ev(("targets", s.Targets.Count), ("ics_targets", s.IcsTargets), ("hosts", hosts), ("ports", ports), ("ics_ports", icsPorts)), hostTrace: true);
        }
    }
}
