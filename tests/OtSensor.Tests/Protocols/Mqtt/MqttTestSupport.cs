using System.Text;
using System.Text.Json;
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;
using OtSensor.Output;
using OtSensor.Protocols.Mqtt;

namespace OtSensor.Tests.Protocols.Mqtt;

/// <summary>A transaction as the sink saw it, with a copy of its field blob.</summary>
internal sealed record MqttTx(TransactionRecord Record, byte[] Blob)
{
    public JsonElement Json => MqttTestData.ToJson(Blob);

    public string Type => Json.GetProperty("type").GetString()!;

    public int[] Packets => [.. Json.GetProperty("packets").EnumerateArray().Select(e => e.GetInt32())];

    public bool Has(MqttAnomaly a) => MqttAnomalies.Has(Record.Anomalies, a);
}

internal sealed class MqttRecordingSink : IEventSink
{
    public List<MqttTx> Transactions { get; } = [];

    public List<AnomalyRecord> Anomalies { get; } = [];

    public void Transaction(FlowContext flow, in TransactionRecord transaction, ReadOnlySpan<byte> request, ReadOnlySpan<byte> response)
    {
        Assert.True(response.IsEmpty);
        Transactions.Add(new MqttTx(transaction, request.ToArray()));
    }

    public void Anomaly(FlowContext flow, in AnomalyRecord anomaly) => Anomalies.Add(anomaly);

    public IEnumerable<MqttAnomaly> AnomalyIds => Anomalies.Select(a => (MqttAnomaly)a.AnomalyId);

    /// <summary>Every anomaly seen: stand-alone and in transactions.</summary>
    public HashSet<MqttAnomaly> AllAnomalies()
    {
        var set = new HashSet<MqttAnomaly>(AnomalyIds);
        foreach (var t in Transactions)
        {
            foreach (var a in MqttAnomalies.All)
            {
                if (t.Has(a)) set.Add(a);
            }
        }

        return set;
    }
}

internal static class MqttTestData
{
    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", string.Empty, StringComparison.Ordinal));

    public static JsonElement ToJson(byte[] blob)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            EventFieldJson.Write(w, blob, MqttFields.Name);
            w.WriteEndObject();
        }

        return JsonDocument.Parse(ms.ToArray()).RootElement.Clone();
    }

    public static string JsonText(byte[] blob) => ToJson(blob).GetRawText();

    public static FlowContext Flow(bool fromHandshake = true) => new()
    {
        FlowId = 1,
        Transport = TransportLayer.Tcp,
        ClientIp = IpAddr.Parse("10.0.0.1"),
        ClientPort = 40000,
        ServerIp = IpAddr.Parse("10.0.0.2"),
        ServerPort = 1883,
        OrientationFromHandshake = fromHandshake,
    };

    public static PacketMeta Meta(long packet) => new(packet * 1_000_000, packet);

    public static (MqttSession Session, MqttRecordingSink Sink, FlowContext Flow) NewSession(MqttOptions? options = null, bool fromHandshake = true)
    {
        var sink = new MqttRecordingSink();
        return (new MqttSession(sink, options ?? new MqttOptions()), sink, Flow(fromHandshake));
    }

    /// <summary>A whole packet: first byte, remaining length varint, then the parts.</summary>
    public static byte[] Pkt(byte first, params byte[][] parts)
    {
        var body = parts.SelectMany(p => p).ToArray();
        var list = new List<byte> { first };
        list.AddRange(VarInt(body.Length));
        list.AddRange(body);
        return [.. list];
    }

    public static byte[] VarInt(int value)
    {
        var list = new List<byte>();
        do
        {
            byte b = (byte)(value & 0x7F);
            value >>= 7;
            if (value > 0) b |= 0x80;
            list.Add(b);
        }
        while (value > 0);
        return [.. list];
    }

    public static byte[] Str(string s) => Str(Encoding.UTF8.GetBytes(s));

    public static byte[] Str(byte[] b) => [(byte)(b.Length >> 8), (byte)b.Length, .. b];

    public static byte[] U16(int v) => [(byte)(v >> 8), (byte)v];

    public static byte[] B(params byte[] b) => b;

    /// <summary>A v5 property block with its length prefix.</summary>
    public static byte[] Props(params byte[][] props)
    {
        var body = props.SelectMany(p => p).ToArray();
        return [.. VarInt(body.Length), .. body];
    }

    public static byte[] Connect(int version, string clientId, string? user = null, string? password = null, byte extraFlags = 0x02, byte[]? props = null)
    {
        byte flags = extraFlags;
        if (user is not null) flags |= 0x80;
        if (password is not null) flags |= 0x40;
        var name = version == 3 ? Str("MQIsdp") : Str("MQTT");
        var parts = new List<byte[]> { name, B((byte)version, flags), U16(60) };
        if (version == 5) parts.Add(props ?? Props());
        parts.Add(Str(clientId));
        if (user is not null) parts.Add(Str(user));
        if (password is not null) parts.Add(Str(password));
        return Pkt(0x10, [.. parts]);
    }

    public static byte[] ConnAck(int version, byte code = 0) => version == 5 ? Pkt(0x20, B(0, code), Props()) : Pkt(0x20, B(0, code));

    public static byte[] Publish(int version, string topic, int qos, ushort id, string payload, byte[]? props = null, bool retain = false)
    {
        var parts = new List<byte[]> { Str(topic) };
        if (qos > 0) parts.Add(U16(id));
        if (version == 5) parts.Add(props ?? Props());
        parts.Add(Encoding.UTF8.GetBytes(payload));
        return Pkt((byte)(0x30 | (qos << 1) | (retain ? 1 : 0)), [.. parts]);
    }

    public static byte[] Ack(int type, ushort id) => Pkt((byte)((type << 4) | (type == 6 ? 2 : 0)), U16(id));

    public static void Feed(MqttSession s, FlowContext f, params (Direction Dir, byte[] Bytes)[] packets)
    {
        for (int i = 0; i < packets.Length; i++)
        {
            s.OnStreamData(f, packets[i].Dir, packets[i].Bytes, Meta(i + 1));
        }
    }

    public const Direction C = Direction.ToServer;
    public const Direction S = Direction.ToClient;

    // Real packets (tcp.payload) from suricata-verify captures.
    public const string V311Connect = "102b00044d51545404c2003c00136d79766f69636569736d7970617373706f7274000475736572000470617373";
    public const string V31Connect = "102d00064d514973647003c2003c00136d79766f69636569736d7970617373706f7274000475736572000470617373";
    public const string V5Connect = "102f00044d51545405c2003c0321001400136d79766f69636569736d7970617373706f7274000475736572000470617373";
    public const string V5ConnAck = "200600000322000a";
    public const string V3ConnAck = "20020000";
    public const string V311PublishQos2 = "341a0006746f706963580001626161626161626c61636b7368656570";
    public const string V5MosquittoConnect = "10cc0100044d51545405c6003c3c2700002b672100de110000022b22029a2600097573657270726f703100087573657276616c312600097573657270726f703200087573657276616c3200136d79766f69636569736d7970617373706f72744b03000a6d7977696c6c74797065090007313233343536370200000085019008000f726573706f6e73655f746f706963312600097573657270726f703500087573657276616c3518000000c8000977696c6c746f706963000b77696c6c6d657373616765000475736572000470617373";
    public const string V5MosquittoPublish = "325e0006746f706963580001430300066d79747970650900053132333435020000004d015808000f726573706f6e73655f746f706963312300052600097573657270726f703300087573657276616c33626161626161626c61636b7368656570";
    public const string V5MosquittoDisconnect = "e01d001b110000007a2600097573657270726f703400087573657276616c34";
    public const string V5Subscribe = "82150001000006746f70696358000006746f7069635900";
    public const string V5SubAck = "90050001000000";
    public const string V31Subscribe = "821400010006746f70696358000006746f7069635900";
    public const string V31SubAck = "900400010000";
    public const string V5Unsubscribe2 = "a20b0002000006746f70696358";
    public const string V5UnsubAck2 = "b00400020000";
}
