using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;
using OtSensor.Pipeline;
using OtSensor.Protocols.Coap;
using OtSensor.Protocols.Mqtt;
using OtSensor.Tests.Protocols.Coap;
using OtSensor.Tests.Protocols.Mqtt;
using static OtSensor.Tests.Protocols.Mqtt.MqttTestData;

namespace OtSensor.Tests.Pipeline;

/// <summary>
/// A worker's registry hands the sessions of closed CoAP and MQTT flows to new flows. A reused session must behave
/// exactly as a new one, whatever the flow before it left behind (pending exchanges, relations, transfers, buffered
/// bytes, a resync, aliases, the protocol version).
/// </summary>
public class SessionReuseTests
{
    private static (Direction, byte[])[][] MqttFlows() =>
    [
        // 3.1.1 with a QoS 2 exchange.
        [(C, Hex(V311Connect)), (S, Hex(V3ConnAck)), (C, Hex(V311PublishQos2)), (S, Hex("50020001")), (C, Hex("62020001")), (S, Hex("70020001")), (C, Hex("e000"))],
        // 5.0 with properties, a topic alias and subscriptions.
        [
            (C, Hex(V5MosquittoConnect)), (S, Hex(V5ConnAck)), (C, Hex(V5MosquittoPublish)), (S, Hex("4003000110")),
            (C, Publish(5, "", 0, 0, "via alias", Props(B(0x23, 0x00, 0x05)))),
            (C, Hex(V5Subscribe)), (S, Hex(V5SubAck)), (C, Hex(V5Unsubscribe2)), (S, Hex(V5UnsubAck2)),
        ],
        // 3.1 subscribe.
        [(C, Hex(V31Connect)), (S, Hex(V3ConnAck)), (C, Hex(V31Subscribe)), (S, Hex(V31SubAck))],
        // Picked up mid-stream (no CONNECT: the version is guessed), a QoS 1 PUBLISH left unanswered at the close.
        [(C, Publish(4, "t", 1, 3, "p")), (C, Hex("c000"))],
        // A packet cut off by the close.
        [(C, Connect(4, "c")), (S, ConnAck(4)), (C, Publish(4, "a", 1, 1, "x")[..5])],
        // Garbage first: the direction resynchronises.
        [(C, [.. Hex("626161626c61636b7368656570"), .. Publish(4, "t", 1, 3, "p")]), (S, Ack(4, 3))],
        // A refused CONNECT, then a second one.
        [(C, Connect(4, "x", user: "u", password: "p")), (S, ConnAck(4, 5)), (C, Connect(4, "x"))],
    ];

    private static List<string> Mqtt(MqttSession session, MqttRecordingSink sink, FlowContext flow, (Direction Dir, byte[] Bytes)[] packets)
    {
        sink.Transactions.Clear();
        sink.Anomalies.Clear();
        for (int i = 0; i < packets.Length; i++) session.OnStreamData(flow, packets[i].Dir, packets[i].Bytes, Meta(i + 1));
        session.OnClose(flow, FlowCloseReason.Closed, 1_000_000_000);
        return
        [
            .. sink.Transactions.Select(t => $"{t.Record.Key}|{t.Record.HasRequest}|{t.Record.HasResponse}|{t.Record.RequestPacket}|{t.Record.ResponsePacket}|{t.Record.Anomalies:x}|{Convert.ToHexString(t.Blob)}"),
            .. sink.Anomalies.Select(a => $"anomaly {a.AnomalyId} {a.Detail} {a.PacketNumber}"),
        ];
    }

    [Fact]
    public void MqttSession_ReusedAfterAnyFlow_BehavesAsANewOne()
    {
        var flows = MqttFlows();
        foreach (var second in flows)
        {
            var (fresh, freshSink, freshFlow) = NewSession();
            var expected = Mqtt(fresh, freshSink, freshFlow, second);
            Assert.NotEmpty(expected);
            foreach (var first in flows)
            {
                var (reused, sink, flow) = NewSession();
                Mqtt(reused, sink, flow, first);
                reused.ResetForReuse();
                Assert.Equal(0, reused.Version);
                Assert.Equal(0, reused.PendingCount);
                Assert.Equal(expected, Mqtt(reused, sink, flow, second));
            }
        }
    }

    private const Direction C2S = Direction.ToServer;
    private const Direction S2C = Direction.ToClient;

    private static (Direction, byte[])[][] CoapFlows()
    {
        var block = new List<(Direction, byte[])>();
        for (int i = 0; i < 3; i++)
        {
            bool more = i < 2;
            block.Add((C2S, CoapTestData.Msg(CoapTestData.Con, CoapTestData.Get, (ushort)(100 + i), [0x10, (byte)i],
                [CoapTestData.Path("large"), (CoapOptionNumber.Block2, CoapTestData.Uint(CoapTestData.BlockValue((uint)i, false, 0)))])));
            block.Add((S2C, CoapTestData.Msg(CoapTestData.Ack, CoapTestData.Content, (ushort)(100 + i), [0x10, (byte)i],
                [(CoapOptionNumber.Block2, CoapTestData.Uint(CoapTestData.BlockValue((uint)i, more, 0)))], new byte[more ? 16 : 5])));
        }

        return
        [
            // ttproto TD_COAP_CORE_01: CON GET with a piggybacked response.
            [(C2S, CoapTestData.Hex("4201aa0162dab474657374c102")), (S2C, CoapTestData.Hex("6245aa0162dac0211e9102ff547970653a20302028434f4e290a436f64653a20312028474554290a4d49443a2034333532310a546f6b656e3a2036326461"))],
            // TD_COAP_CORE_09: separate response.
            [
                (C2S, CoapTestData.Hex("40016466b87365706172617465c102")), (S2C, CoapTestData.Hex("60006466")),
                (S2C, CoapTestData.Hex("4045ec37c0b102ff547970653a20302028434f4e290a436f64653a20312028474554290a4d49443a2032353730320a")),
                (C2S, CoapTestData.Hex("6000ec37")),
            ],
            // TD_COAP_OBS_06: an Observe relation, notifications, a reset.
            [
                (C2S, CoapTestData.Hex("42010b4b865c60536f6273")),
                (S2C, CoapTestData.Hex("62450b4b865c6142602105ff43757272656e742074656d70657261747572653a2032302e383233353432")),
                (S2C, CoapTestData.Hex("42457afa865c6143602105ff43757272656e742074656d70657261747572653a2032332e333938343732")),
                (C2S, CoapTestData.Hex("60007afa")),
                (S2C, CoapTestData.Hex("42457b01865c614a602105ff43757272656e742074656d70657261747572653a2031382e343036393337")),
                (C2S, CoapTestData.Hex("70007b01")),
            ],
            // A block-wise GET left unfinished, and a request without an answer.
            [.. block.Take(4), (C2S, CoapTestData.Msg(CoapTestData.Con, CoapTestData.Get, 7, [7], [CoapTestData.Path("x")]))],
            // The whole block-wise GET, then a retransmission of its first request.
            [.. block, block[0]],
            // A response that matches nothing, and a datagram that is not CoAP.
            [(S2C, CoapTestData.Msg(CoapTestData.Ack, CoapTestData.Content, 9, [9])), (C2S, [0xFF, 0x00])],
        ];
    }

    private static List<string> Coap(CoapSession session, CoapRecordingSink sink, FlowContext flow, (Direction Dir, byte[] Data)[] datagrams)
    {
        sink.Events.Clear();
        sink.Anomalies.Clear();
        long n = 0;
        foreach (var (d, data) in datagrams) session.OnDatagram(flow, d, data, CoapTestData.Meta(++n));
        session.OnClose(flow, FlowCloseReason.EndOfCapture, (n + 1) * 1_000_000);
        return
        [
            .. sink.Events.Select(e => $"{e.Record.Key}|{e.Record.HasRequest}|{e.Record.HasResponse}|{e.Record.RequestPacket}|{e.Record.ResponsePacket}|{e.Record.Anomalies:x}|{Convert.ToHexString(e.Blob)}"),
            .. sink.Anomalies.Select(a => $"anomaly {a.AnomalyId} {a.Detail} {a.PacketNumber}"),
            $"duplicates {session.Duplicates} invalid {session.InvalidDatagrams}",
        ];
    }

    [Fact]
    public void CoapSession_ReusedAfterAnyFlow_BehavesAsANewOne()
    {
        var flows = CoapFlows();
        foreach (var second in flows)
        {
            var (fresh, freshSink, freshFlow) = CoapTestData.NewSession();
            var expected = Coap(fresh, freshSink, freshFlow, second);
            Assert.True(expected.Count > 1);
            foreach (var first in flows)
            {
                var (reused, sink, flow) = CoapTestData.NewSession();
                Coap(reused, sink, flow, first);
                reused.ResetForReuse();
                Assert.Equal(0, reused.PendingCount);
                Assert.Equal(0, reused.ObserveRelationCount);
                Assert.Equal(0, reused.TransferCount);
                Assert.Equal(expected, Coap(reused, sink, flow, second));
            }
        }
    }

    [Fact]
    public void Registry_HandsAClosedFlowsSessionToTheNextFlow()
    {
        var sink = new CoapRecordingSink();
        IDissectorFactory registry = new DissectorRegistry(new DissectorOptions(), sink);
        var udp = CoapTestData.Flow();
        Assert.Equal(DissectorChoice.Selected, registry.Select(udp, C2S, CoapTestData.Hex("4201aa0162dab474657374c102"), out var first));
        Assert.IsType<CoapSession>(first);
        first!.OnClose(udp, FlowCloseReason.IdleTimeout, 1);
        registry.Release(first);
        Assert.Equal(DissectorChoice.Selected, registry.Select(CoapTestData.Flow(), C2S, [], out var second));
        Assert.Same(first, second);
        Assert.Equal(DissectorChoice.Selected, registry.Select(CoapTestData.Flow(), C2S, [], out var third));
        Assert.NotSame(first, third);

        var tcp = new FlowContext
        {
            FlowId = 2,
            Transport = TransportLayer.Tcp,
            ClientIp = IpAddr.Parse("10.0.0.1"),
            ClientPort = 40001,
            ServerIp = IpAddr.Parse("10.0.0.2"),
            ServerPort = 1883,
        };
        Assert.Equal(DissectorChoice.Selected, registry.Select(tcp, C2S, [], out var mqtt));
        Assert.IsType<MqttSession>(mqtt);
        mqtt!.OnClose(tcp, FlowCloseReason.Closed, 1);
        registry.Release(mqtt);
        Assert.Equal(DissectorChoice.Selected, registry.Select(tcp, C2S, [], out var again));
        Assert.Same(mqtt, again);
    }
}
