using System.Text;
using OtSensor.Flows;
using OtSensor.Protocols.Mqtt;
using static OtSensor.Tests.Protocols.Mqtt.MqttTestData;

namespace OtSensor.Tests.Protocols.Mqtt;

public class MqttSessionTests
{
    /// <summary>suricata-verify mqtt311-pub-qos2: CONNECT, CONNACK, PUBLISH QoS 2, PUBREC, PUBREL, PUBCOMP, DISCONNECT.</summary>
    private static (Direction, byte[])[] Qos2Flow() =>
    [
        (C, Hex(V311Connect)), (S, Hex(V3ConnAck)), (C, Hex(V311PublishQos2)), (S, Hex("50020001")),
        (C, Hex("62020001")), (S, Hex("70020001")), (C, Hex("e000")),
    ];

    /// <summary>A v5 conversation touching every exchange kind.</summary>
    private static (Direction, byte[])[] V5Flow() =>
    [
        (C, Hex(V5MosquittoConnect)), (S, Hex(V5ConnAck)), (C, Hex(V5MosquittoPublish)), (S, Hex("4003000110")),
        (C, Publish(5, "", 0, 0, "via alias", Props(B(0x23, 0x00, 0x05)))),
        (C, Hex(V5Subscribe)), (S, Hex(V5SubAck)), (C, Hex(V5Unsubscribe2)), (S, Hex(V5UnsubAck2)),
        (S, Publish(5, "down", 2, 77, "from broker")), (C, Ack(5, 77)),
        (S, Ack(6, 77)), (C, Ack(7, 77)),
        (C, Hex("c000")), (S, Hex("d000")), (C, Hex("f0021800")), (C, Hex(V5MosquittoDisconnect)),
    ];

    private static List<string> Run(Action<MqttSession, FlowContext> feed, out MqttRecordingSink sink, bool fromHandshake = true)
    {
        var (session, s, flow) = NewSession(fromHandshake: fromHandshake);
        feed(session, flow);
        session.OnClose(flow, FlowCloseReason.Closed, 1_000_000_000);
        sink = s;
        return [.. s.Transactions.Select(t => $"{t.Record.Key}|{t.Record.HasRequest}|{t.Record.HasResponse}|{t.Record.RequestPacket}|{t.Record.ResponsePacket}|{t.Record.Anomalies:x}|{Convert.ToHexString(t.Blob)}")];
    }

    private static void Whole(MqttSession s, FlowContext f, (Direction Dir, byte[] Bytes)[] packets)
    {
        for (int i = 0; i < packets.Length; i++) s.OnStreamData(f, packets[i].Dir, packets[i].Bytes, Meta(i + 1));
    }

    [Fact]
    public void Qos2Exchange_IsFoldedIntoOneTransaction()
    {
        Run((s, f) => Whole(s, f, Qos2Flow()), out var sink);
        Assert.Empty(sink.Anomalies);
        Assert.Equal(["connect", "publish", "disconnect"], sink.Transactions.Select(t => t.Type));
        var connect = sink.Transactions[0];
        Assert.True(connect.Record.HasRequest && connect.Record.HasResponse);
        Assert.Equal(ProtocolId.Mqtt, connect.Record.Protocol);
        Assert.True(connect.Record.FieldsEncoded);
        var j = connect.Json;
        Assert.Equal(4, j.GetProperty("version").GetInt32());
        Assert.Equal("myvoiceismypassport", j.GetProperty("client_id").GetString());
        Assert.Equal("user", j.GetProperty("username").GetString());
        Assert.True(j.GetProperty("password_present").GetBoolean());
        Assert.Equal(0, j.GetProperty("reason_code").GetInt32());
        Assert.Equal("connack", j.GetProperty("response_type").GetString());
        Assert.Equal([1, 2], connect.Packets);

        var pub = sink.Transactions[1];
        Assert.Equal([3, 5, 6, 7], pub.Packets);
        Assert.Equal(1u, pub.Record.Key);
        Assert.Equal(3, pub.Record.RequestPacket);
        Assert.Equal(6, pub.Record.ResponsePacket);
        Assert.Equal(3_000_000, pub.Record.RequestTs);
        Assert.Equal(6_000_000, pub.Record.ResponseTs);
        Assert.Equal("topicX", pub.Json.GetProperty("topic").GetString());
        Assert.Equal(2, pub.Json.GetProperty("qos").GetInt32());
        Assert.Equal("baabaablacksheep", pub.Json.GetProperty("payload_prefix").GetString());
        Assert.Equal(16, pub.Json.GetProperty("payload_len").GetInt32());
        Assert.Equal("pubcomp", pub.Json.GetProperty("response_type").GetString());
        Assert.Equal("to_server", pub.Json.GetProperty("direction").GetString());
        Assert.True(sink.Transactions[2].Record.HasRequest && !sink.Transactions[2].Record.HasResponse);
    }

    [Fact]
    public void Qos0AndQos1_GivePublishAloneAndPublishWithPuback()
    {
        Run((s, f) => Feed(s, f, (C, Connect(4, "c")), (S, ConnAck(4)), (C, Publish(4, "a", 0, 0, "x")), (C, Publish(4, "b", 1, 5, "y")), (S, Ack(4, 5))), out var sink);
        Assert.Equal([3], sink.Transactions[1].Packets);
        Assert.False(sink.Transactions[1].Record.HasResponse);
        Assert.Equal([3, 4], sink.Transactions[2].Packets);
        Assert.Equal("puback", sink.Transactions[2].Json.GetProperty("response_type").GetString());
        Assert.Empty(sink.AllAnomalies());
    }

    [Fact]
    public void V5Flow_EveryExchangeKind_MatchesAndDecodes()
    {
        Run((s, f) => Whole(s, f, V5Flow()), out var sink);
        Assert.Equal(["connect", "publish", "publish", "subscribe", "unsubscribe", "publish", "pingreq", "auth", "disconnect"], sink.Transactions.Select(t => t.Type));
        var all = sink.AllAnomalies();
        all.Remove(MqttAnomaly.MalformedProperty); // the capture's payload format indicators are 0x90 / 0x58
        Assert.Empty(all);
        Assert.Empty(sink.Anomalies);

        var connect = sink.Transactions[0].Json;
        Assert.Equal(5, connect.GetProperty("version").GetInt32());
        Assert.Equal(0x2b67, connect.GetProperty("properties").GetProperty("maximum_packet_size").GetInt32());
        Assert.Equal(2, connect.GetProperty("properties").GetProperty("user_property").GetArrayLength());
        Assert.Equal("userprop1", connect.GetProperty("properties").GetProperty("user_property")[0].GetProperty("key").GetString());
        var will = connect.GetProperty("will");
        Assert.Equal("willtopic", will.GetProperty("topic").GetString());
        Assert.Equal(11, will.GetProperty("payload_len").GetInt32());
        Assert.Equal(200, will.GetProperty("properties").GetProperty("will_delay_interval").GetInt32());
        Assert.Equal(10, connect.GetProperty("response_properties").GetProperty("topic_alias_maximum").GetInt32());

        var pub = sink.Transactions[1].Json;
        Assert.Equal(5, pub.GetProperty("topic_alias").GetInt32());
        Assert.Equal("mytype", pub.GetProperty("properties").GetProperty("content_type").GetString());
        Assert.Equal(0x10, pub.GetProperty("reason_code").GetInt32());

        var viaAlias = sink.Transactions[2].Json;
        Assert.Equal("topicX", viaAlias.GetProperty("topic").GetString());
        Assert.Equal(5, viaAlias.GetProperty("topic_alias").GetInt32());

        var sub = sink.Transactions[3].Json;
        Assert.Equal(2, sub.GetProperty("topics").GetArrayLength());
        Assert.Equal("topicX", sub.GetProperty("topics")[0].GetProperty("filter").GetString());
        Assert.Equal(0, sub.GetProperty("topics")[1].GetProperty("retain_handling").GetInt32());
        Assert.Equal([0, 0], sub.GetProperty("granted_qos").EnumerateArray().Select(e => e.GetInt32()));

        var unsub = sink.Transactions[4].Json;
        Assert.Equal([0], unsub.GetProperty("reason_codes").EnumerateArray().Select(e => e.GetInt32()));

        var down = sink.Transactions[5];
        Assert.Equal("to_client", down.Json.GetProperty("direction").GetString());
        Assert.Equal([3, 5, 6, 7], down.Packets);
        Assert.Equal(77u, down.Record.Key);

        Assert.Equal([12, 13], sink.Transactions[6].Packets);
        Assert.Equal(0x18, sink.Transactions[7].Json.GetProperty("reason_code").GetInt32());
        var disc = sink.Transactions[8].Json;
        Assert.Equal(122, disc.GetProperty("properties").GetProperty("session_expiry_interval").GetInt32());
    }

    [Fact]
    public void V31SubscribeWithSeveralFilters_ListsEveryFilterAndGrantedQos()
    {
        Run((s, f) => Feed(s, f, (C, Hex(V31Connect)), (S, Hex(V3ConnAck)), (C, Hex(V31Subscribe)), (S, Hex(V31SubAck))), out var sink);
        var sub = sink.Transactions[1].Json;
        Assert.Equal(3, sink.Transactions[0].Json.GetProperty("version").GetInt32());
        Assert.Equal(["topicX", "topicY"], sub.GetProperty("topics").EnumerateArray().Select(e => e.GetProperty("filter").GetString()));
        Assert.Equal(2, sub.GetProperty("granted_qos").GetArrayLength());
        Assert.Empty(sink.AllAnomalies());
    }

    [Fact]
    public void OneBytePerCall_AndManyPacketsPerCall_EqualWholeDelivery()
    {
        foreach (var flow in new[] { Qos2Flow(), V5Flow() })
        {
            var whole = Run((s, f) => Whole(s, f, flow), out _);
            var split = Run((s, f) =>
            {
                for (int i = 0; i < flow.Length; i++)
                {
                    for (int b = 0; b < flow[i].Item2.Length; b++) s.OnStreamData(f, flow[i].Item1, flow[i].Item2.AsSpan(b, 1), Meta(i + 1));
                }
            }, out var sink);
            Assert.Equal(whole, split);
            Assert.Empty(sink.Anomalies);
        }

        // Consecutive packets of one direction in one call: same exchanges and fields.
        var v5 = V5Flow();
        var expected = Run((s, f) => Whole(s, f, v5), out var one);
        var grouped = Run((s, f) =>
        {
            int i = 0;
            while (i < v5.Length)
            {
                int j = i;
                var bytes = new List<byte>();
                while (j < v5.Length && v5[j].Item1 == v5[i].Item1) bytes.AddRange(v5[j++].Item2);
                s.OnStreamData(f, v5[i].Item1, bytes.ToArray(), Meta(i + 1));
                i = j;
            }
        }, out var many);
        Assert.Equal(one.Transactions.Select(t => Convert.ToHexString(t.Blob)), many.Transactions.Select(t => Convert.ToHexString(t.Blob)));
        Assert.Empty(many.Anomalies);
    }

    [Fact]
    public void RandomSplits_GiveTheSameTransactions()
    {
        var flow = V5Flow();
        var whole = Run((s, f) => Whole(s, f, flow), out _);
        var rng = new Random(99);
        for (int round = 0; round < 30; round++)
        {
            var got = Run((s, f) =>
            {
                for (int i = 0; i < flow.Length; i++)
                {
                    var bytes = flow[i].Item2;
                    int pos = 0;
                    while (pos < bytes.Length)
                    {
                        int n = Math.Min(bytes.Length - pos, rng.Next(1, 40));
                        s.OnStreamData(f, flow[i].Item1, bytes.AsSpan(pos, n), Meta(i + 1));
                        pos += n;
                    }
                }
            }, out _);
            Assert.Equal(whole, got);
        }
    }

    [Fact]
    public void MidStreamPickup_GuessesVersion_AndDoesNotFlagPublishBeforeConnect()
    {
        Run((s, f) =>
        {
            // The tail of a packet first, then whole packets.
            s.OnStreamData(f, C, [.. Hex("626161626c61636b7368656570"), .. Publish(4, "t", 1, 3, "p")], Meta(1));
            s.OnStreamData(f, S, Ack(4, 3), Meta(2));
            s.OnStreamData(f, S, Ack(4, 9), Meta(3));
        }, out var sink, fromHandshake: false);
        Assert.Equal(2, sink.Transactions.Count);
        Assert.Equal("publish", sink.Transactions[0].Type);
        Assert.Equal([3, 4], sink.Transactions[0].Packets);
        Assert.Equal("puback", sink.Transactions[1].Type);
        Assert.Empty(sink.AllAnomalies().Except([MqttAnomaly.StreamResync]));
        Assert.Contains(MqttAnomaly.StreamResync, sink.AnomalyIds);
    }

    [Fact]
    public void MidStreamPickup_SwitchesToVersion5_OnAV5Acknowledgement()
    {
        var (session, sink, flow) = NewSession(fromHandshake: false);
        session.OnStreamData(flow, C, Publish(5, "t", 1, 3, "p", Props(B(0x23, 0, 2))), Meta(1));
        Assert.Equal(5, session.Version);
        session.OnStreamData(flow, S, Hex("4003000310"), Meta(2));
        Assert.Single(sink.Transactions);
        Assert.Equal(0x10, sink.Transactions[0].Json.GetProperty("reason_code").GetInt32());
        Assert.Equal("t", sink.Transactions[0].Json.GetProperty("topic").GetString());
    }

    [Fact]
    public void TopicAlias_IsPerDirectionAndBounded()
    {
        var (session, sink, flow) = NewSession(new MqttOptions { MaxTopicAliases = 1 });
        Feed(session, flow,
            (C, Hex(V5Connect)), (S, Hex(V5ConnAck)),
            (C, Publish(5, "one", 0, 0, "", Props(B(0x23, 0, 1)))),
            (C, Publish(5, "two", 0, 0, "", Props(B(0x23, 0, 2)))),
            (C, Publish(5, "", 0, 0, "", Props(B(0x23, 0, 1)))),
            (C, Publish(5, "", 0, 0, "", Props(B(0x23, 0, 2)))),
            (S, Publish(5, "", 0, 0, "", Props(B(0x23, 0, 1)))),
            (C, Publish(5, "", 0, 0, "", Props(B(0x23, 0, 0)))));
        var t = sink.Transactions;
        Assert.Equal("one", t[3].Json.GetProperty("topic").GetString());
        Assert.False(t[3].Has(MqttAnomaly.UnknownTopicAlias));
        Assert.True(t[4].Has(MqttAnomaly.UnknownTopicAlias));
        Assert.True(t[5].Has(MqttAnomaly.UnknownTopicAlias));
        Assert.True(t[6].Has(MqttAnomaly.UnknownTopicAlias));
    }

    [Fact]
    public void Password_NeverAppearsInAnyField()
    {
        const string Secret = "S3cr3t-Pw!";
        var (session, sink, flow) = NewSession();
        var c5 = Pkt(0x10, Str("MQTT"), B(5, 0xC2), U16(10), Props(B(0x15), Str("SCRAM"), B(0x16), Str(Secret)), Str("cid"), Str("u"), Str(Secret));
        Feed(session, flow, (C, Connect(4, "cid", "u", Secret)), (C, c5), (C, Pkt(0xF0, B(0x18), Props(B(0x16), Str(Secret)))));
        session.OnClose(flow, FlowCloseReason.Closed, 0);
        Assert.Equal(3, sink.Transactions.Count);
        foreach (var t in sink.Transactions)
        {
            Assert.DoesNotContain(Secret, Encoding.UTF8.GetString(t.Blob), StringComparison.Ordinal);
            Assert.DoesNotContain(Secret, t.Json.GetRawText(), StringComparison.Ordinal);
        }

        Assert.True(sink.Transactions[0].Json.GetProperty("password_present").GetBoolean());
        Assert.Equal(6, sink.Transactions[1].Json.GetProperty("properties").GetProperty("authentication_data_len").GetInt32() - 4);
    }

    [Fact]
    public void Unanswered_AreReportedAtTimeoutAndClose()
    {
        var (session, sink, flow) = NewSession(new MqttOptions { RequestTimeoutNs = 5_000_000 });
        Feed(session, flow, (C, Connect(4, "c")), (S, ConnAck(4)), (C, Publish(4, "a", 1, 1, "x")), (C, Hex("c000")));
        Assert.Equal(2, session.PendingCount);
        session.OnTick(flow, 100_000_000);
        Assert.Equal(0, session.PendingCount);
        Assert.Equal(3, sink.Transactions.Count);
        Assert.All(sink.Transactions.Skip(1), t => Assert.False(t.Record.HasResponse));
        Feed(session, flow, (C, Hex("c000")));
        session.OnClose(flow, FlowCloseReason.Closed, 0);
        Assert.Equal(4, sink.Transactions.Count);
    }

    [Fact]
    public void PendingTable_IsBounded()
    {
        var (session, sink, flow) = NewSession(new MqttOptions { MaxPending = 4 });
        Feed(session, flow, (C, Connect(4, "c")), (S, ConnAck(4)));
        for (int i = 1; i <= 10; i++) session.OnStreamData(flow, C, Publish(4, "a", 1, (ushort)i, "x"), Meta(10 + i));
        Assert.Equal(4, session.PendingCount);
        Assert.Equal(6, sink.Transactions.Count(t => t.Has(MqttAnomaly.PendingOverflow)));
    }

    [Fact]
    public void OversizePacket_HeadIsDecoded_RestSkipped_AndNextPacketFollows()
    {
        var (session, sink, flow) = NewSession(new MqttOptions { MaxPacketBytes = 1000, OversizeHeadBytes = 200 });
        var big = Publish(4, "big/topic", 0, 0, new string('z', 5000));
        Feed(session, flow, (C, Connect(4, "c")), (S, ConnAck(4)));
        for (int pos = 0; pos < big.Length; pos += 333) session.OnStreamData(flow, C, big.AsSpan(pos, Math.Min(333, big.Length - pos)), Meta(5));
        session.OnStreamData(flow, C, Publish(4, "small", 0, 0, "s"), Meta(6));
        var t = sink.Transactions;
        Assert.Equal(3, t.Count);
        Assert.True(t[1].Has(MqttAnomaly.OversizePacket));
        Assert.Equal("big/topic", t[1].Json.GetProperty("topic").GetString());
        Assert.Equal(5000, t[1].Json.GetProperty("payload_len").GetInt32());
        // The head kept is 200 bytes: fixed header (3) + topic (11) leave 186 payload bytes.
        Assert.Equal(186, t[1].Json.GetProperty("payload_prefix").GetString()!.Length);
        Assert.Equal("small", t[2].Json.GetProperty("topic").GetString());
        Assert.Empty(sink.Anomalies);
    }

    [Fact]
    public void Gap_DropsPartialPacket_AndResynchronises()
    {
        var (session, sink, flow) = NewSession();
        Feed(session, flow, (C, Connect(4, "c")), (S, ConnAck(4)));
        var p = Publish(4, "lost", 0, 0, "payload");
        session.OnStreamData(flow, C, p.AsSpan(0, 5), Meta(3));
        session.OnStreamGap(flow, C, 4, Meta(4));
        session.OnStreamData(flow, C, [.. p.AsSpan(9), .. Publish(4, "after", 0, 0, "x")], Meta(5));
        Assert.Contains(MqttAnomaly.StreamGap, sink.AnomalyIds);
        Assert.Contains(MqttAnomaly.StreamResync, sink.AnomalyIds);
        Assert.Equal("after", sink.Transactions.Last().Json.GetProperty("topic").GetString());
    }

    [Fact]
    public void AfterResync_APacketThatDoesNotDecodeCleanly_SendsTheScanBack()
    {
        var (session, sink, flow) = NewSession();
        Feed(session, flow, (C, Connect(4, "c")), (S, ConnAck(4)));
        session.OnStreamGap(flow, C, 3, Meta(3));
        // A ping, then the start of a PUBLISH whose topic turns out to be invalid UTF-8: not emitted.
        session.OnStreamData(flow, C, Hex("c000300a0002ffff"), Meta(4));
        session.OnStreamData(flow, C, Hex("616161616161c000"), Meta(5));
        session.OnClose(flow, FlowCloseReason.Closed, 0);
        Assert.Equal(["connect", "pingreq", "pingreq"], sink.Transactions.Select(t => t.Type));
        Assert.DoesNotContain(MqttAnomaly.MalformedUtf8, sink.AllAnomalies());
    }

    [Fact]
    public void NonMqttData_IsAbandoned_WithoutThrowing()
    {
        var (session, sink, flow) = NewSession(new MqttOptions { MaxResyncScanBytes = 4096 });
        var junk = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n", 200)));
        session.OnStreamData(flow, C, junk, Meta(1));
        Assert.True(session.IsAbandoned(C));
        Assert.Contains(MqttAnomaly.DissectionAbandoned, sink.AnomalyIds);
        Assert.Empty(sink.Transactions);
    }

    [Fact]
    public void HostileInput_NeverThrows_AndStaysBounded()
    {
        var rng = new Random(5);
        for (int round = 0; round < 200; round++)
        {
            var (session, _, flow) = NewSession(new MqttOptions { MaxPacketBytes = 2048 }, fromHandshake: round % 2 == 0);
            var buf = new byte[rng.Next(1, 3000)];
            rng.NextBytes(buf);
            if (round % 3 == 0) buf[0] = 0x30;
            int pos = 0;
            while (pos < buf.Length)
            {
                int n = Math.Min(buf.Length - pos, rng.Next(1, 200));
                session.OnStreamData(flow, (Direction)(round & 1), buf.AsSpan(pos, n), Meta(pos + 1));
                if (rng.Next(20) == 0) session.OnStreamGap(flow, (Direction)(round & 1), rng.Next(1, 100), Meta(pos + 1));
                pos += n;
            }

            session.OnTick(flow, long.MaxValue / 2);
            session.OnClose(flow, FlowCloseReason.Closed, 0);
        }
    }
}

public class MqttAllocationTests
{
    private sealed class NullSink : IEventSink
    {
        public long Count;

        public void Transaction(FlowContext flow, in TransactionRecord transaction, ReadOnlySpan<byte> request, ReadOnlySpan<byte> response) => Count++;

        public void Anomaly(FlowContext flow, in AnomalyRecord anomaly) => Count++;
    }

    [Fact]
    public void SteadyState_AllocatesNothingPerPacket()
    {
        var sink = new NullSink();
        var session = new MqttSession(sink, new MqttOptions());
        var flow = Flow();
        var pub1 = Publish(5, "plant/line1/temp", 1, 1, "21.5", Props(B(0x23, 0, 1)));
        var ack1 = Hex("4003000110");
        var pub0 = Publish(5, "", 0, 0, "21.6", Props(B(0x23, 0, 1)));
        var sub = Hex(V5Subscribe);
        var suback = Hex(V5SubAck);
        session.OnStreamData(flow, C, Hex(V5Connect), Meta(1));
        session.OnStreamData(flow, S, Hex(V5ConnAck), Meta(2));

        void Round(int n)
        {
            for (int i = 0; i < n; i++)
            {
                session.OnStreamData(flow, C, pub1, Meta(3));
                session.OnStreamData(flow, S, ack1, Meta(4));
                session.OnStreamData(flow, C, pub0, Meta(5));
                session.OnStreamData(flow, C, sub.AsSpan(0, 7), Meta(6));
                session.OnStreamData(flow, C, sub.AsSpan(7), Meta(6));
                session.OnStreamData(flow, S, suback, Meta(7));
            }
        }

        Round(100);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Round(2000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 16 * 1024, $"allocated {allocated} bytes for 12000 packets");
        Assert.Equal(2 + (3 * 2100), sink.Count + 1);
    }
}
