using System.Text;
using System.Text.Json;
using OtSensor.Capture;
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;
using OtSensor.Output;
using OtSensor.Protocols.Coap;

namespace OtSensor.Tests.Protocols.Coap;

/// <summary>A CoAP event as the sink saw it: the record and its fields as JSON.</summary>
internal sealed record CoapEvent(TransactionRecord Record, byte[] Blob)
{
    private JsonElement? _json;

    public JsonElement Json => _json ??= CoapTestData.ToJson(Blob);

    public bool Has(string name) => Json.TryGetProperty(name, out _);

    public string Str(string name) => Json.GetProperty(name).GetString()!;

    public long Int(string name) => Json.GetProperty(name).GetInt64();

    public bool Bool(string name) => Json.GetProperty(name).GetBoolean();

    public bool HasAnomaly(CoapAnomaly a) => CoapAnomalies.Has(Record.Anomalies, a);
}

internal sealed class CoapRecordingSink : IEventSink
{
    public List<CoapEvent> Events { get; } = [];

    public List<AnomalyRecord> Anomalies { get; } = [];

    public void Transaction(FlowContext flow, in TransactionRecord transaction, ReadOnlySpan<byte> request, ReadOnlySpan<byte> response)
    {
        Assert.True(response.IsEmpty);
        Assert.True(transaction.FieldsEncoded);
        Assert.Equal(ProtocolId.Coap, transaction.Protocol);
        Events.Add(new CoapEvent(transaction, request.ToArray()));
    }

    public void Anomaly(FlowContext flow, in AnomalyRecord anomaly) => Anomalies.Add(anomaly);

    public IEnumerable<CoapAnomaly> AnomalyIds => Anomalies.Select(a => (CoapAnomaly)a.AnomalyId);
}

/// <summary>Builds CoAP messages (own encoder, used to test the reader) and runs sessions.</summary>
internal static class CoapTestData
{
    public const byte Get = 0x01;
    public const byte Post = 0x02;
    public const byte Put = 0x03;
    public const byte Content = 0x45;
    public const byte Changed = 0x44;
    public const byte Continue = 0x5F;
    public const byte Con = 0;
    public const byte Non = 1;
    public const byte Ack = 2;
    public const byte Rst = 3;

    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", string.Empty, StringComparison.Ordinal));

    public static JsonElement ToJson(byte[] blob)
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            EventFieldJson.Write(w, blob, CoapFields.Name);
            w.WriteEndObject();
        }

        return JsonDocument.Parse(ms.ToArray()).RootElement.Clone();
    }

    /// <summary>Encodes one option header + value given the previous option number.</summary>
    public static void EncodeOption(List<byte> o, int previous, int number, byte[] value)
    {
        int delta = number - previous;
        int len = value.Length;
        static (int Nibble, byte[] Ext) Part(int v) => v switch
        {
            < 13 => (v, []),
            < 269 => (13, [(byte)(v - 13)]),
            _ => (14, [(byte)((v - 269) >> 8), (byte)(v - 269)]),
        };
        var (dn, de) = Part(delta);
        var (ln, le) = Part(len);
        o.Add((byte)((dn << 4) | ln));
        o.AddRange(de);
        o.AddRange(le);
        o.AddRange(value);
    }

    public static byte[] Uint(uint v)
    {
        if (v == 0) return [];
        if (v < 0x100) return [(byte)v];
        if (v < 0x10000) return [(byte)(v >> 8), (byte)v];
        if (v < 0x1000000) return [(byte)(v >> 16), (byte)(v >> 8), (byte)v];
        return [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];
    }

    public static byte[] Str(string s) => Encoding.UTF8.GetBytes(s);

    public static uint BlockValue(uint num, bool more, int szx) => (num << 4) | (more ? 8u : 0u) | (uint)szx;

    /// <summary>A message: options must be given in ascending number order (or not, to test).</summary>
    public static byte[] Msg(byte type, byte code, ushort mid, byte[]? token = null, (int Number, byte[] Value)[]? options = null, byte[]? payload = null)
    {
        token ??= [];
        var m = new List<byte> { (byte)(0x40 | (type << 4) | token.Length), code, (byte)(mid >> 8), (byte)mid };
        m.AddRange(token);
        int prev = 0;
        foreach (var (n, v) in options ?? [])
        {
            EncodeOption(m, prev, n, v);
            prev = n;
        }

        if (payload is { Length: > 0 })
        {
            m.Add(0xFF);
            m.AddRange(payload);
        }

        return [.. m];
    }

    public static (int, byte[]) Path(string segment) => (CoapOptionNumber.UriPath, Str(segment));

    public static FlowContext Flow() => new()
    {
        FlowId = 1,
        Transport = TransportLayer.Udp,
        ClientIp = IpAddr.Parse("10.0.0.1"),
        ClientPort = 40000,
        ServerIp = IpAddr.Parse("10.0.0.2"),
        ServerPort = 5683,
    };

    public static PacketMeta Meta(long packet, long ts = 0) => new(ts == 0 ? packet * 1_000_000 : ts, packet);

    public static (CoapSession Session, CoapRecordingSink Sink, FlowContext Flow) NewSession(CoapOptions? options = null)
    {
        var sink = new CoapRecordingSink();
        return (new CoapSession(sink, options ?? new CoapOptions()), sink, Flow());
    }

    /// <summary>Feeds datagrams (direction, bytes) with packet numbers 1..n and closes the flow.</summary>
    public static CoapRecordingSink Run(IEnumerable<(Direction Dir, byte[] Data)> datagrams, CoapOptions? options = null, bool close = true)
    {
        var (s, sink, flow) = NewSession(options);
        long n = 0;
        foreach (var (d, data) in datagrams)
        {
            n++;
            s.OnDatagram(flow, d, data, Meta(n));
        }

        if (close) s.OnClose(flow, FlowCloseReason.EndOfCapture, (n + 1) * 1_000_000);
        return sink;
    }

    public static string CapturesRoot => "/work/shared/captures/public";

    /// <summary>Runs a capture through a FlowTable whose factory gives every UDP flow touching 5683 a CoapSession.</summary>
    public static (CoapRecordingSink Sink, List<CoapSession> Sessions) RunCapture(string path, CoapOptions? options = null)
    {
        var sink = new CoapRecordingSink();
        var factory = new Factory(sink, options ?? new CoapOptions());
        var table = new FlowTable(new FlowTableOptions(), factory);
        using var reader = CaptureFileReader.Open(path);
        long number = 0;
        long last = 0;
        while (reader.TryReadPacket(out var p))
        {
            number++;
            var d = default(DecodedPacket);
            if (!PacketDecoder.Decode(p.LinkType, p.Data, ref d)) continue;
            table.Process(d, p.Data, new PacketMeta(p.TimestampNs, number));
            last = p.TimestampNs;
        }

        table.CloseAll(last);
        return (sink, factory.Sessions);
    }

    private sealed class Factory(IEventSink sink, CoapOptions options) : IDissectorFactory
    {
        public List<CoapSession> Sessions { get; } = [];

        public DissectorChoice Select(FlowContext flow, Direction direction, ReadOnlySpan<byte> payload, out IFlowDissector? dissector)
        {
            dissector = null;
            if (flow.Transport != TransportLayer.Udp || (flow.ServerPort != 5683 && flow.ClientPort != 5683)) return DissectorChoice.None;
            var s = new CoapSession(sink, options);
            Sessions.Add(s);
            dissector = s;
            return DissectorChoice.Selected;
        }
    }
}
