using System.Text;
using OtSensor.Flows;
using OtSensor.Protocols.Mqtt;
using static OtSensor.Tests.Protocols.Mqtt.MqttTestData;

namespace OtSensor.Tests.Protocols.Mqtt;

public class MqttAnomalyTests
{
    private static readonly byte[] Connect4 = Connect(4, "c");
    private static readonly byte[] Connect5 = Connect(5, "c");

    /// <summary>Runs a scenario and returns every anomaly seen (stand-alone and in transactions).</summary>
    private static HashSet<MqttAnomaly> Scenario(MqttAnomaly a)
    {
        var options = new MqttOptions();
        if (a == MqttAnomaly.OversizePacket) options.MaxPacketBytes = 100;
        if (a == MqttAnomaly.PendingOverflow) options.MaxPending = 1;
        if (a == MqttAnomaly.DissectionAbandoned) options.MaxResyncScanBytes = 1000;
        var (s, sink, f) = NewSession(options);
        void Up(int v = 4) => Feed(s, f, (C, v == 5 ? Connect5 : Connect4), (S, ConnAck(v)));
        void Cl(byte[] b) => s.OnStreamData(f, C, b, Meta(10));
        void Sv(byte[] b) => s.OnStreamData(f, S, b, Meta(11));
        switch (a)
        {
            case MqttAnomaly.MalformedRemainingLength: Up(); Cl([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]); break;
            case MqttAnomaly.ReservedPacketType: Up(); Cl([0x00, 0x00]); break;
            case MqttAnomaly.InvalidFlags: Up(); Cl([0xC1, 0x00]); break;
            case MqttAnomaly.InvalidQos: Up(); Cl(Pkt(0x36, Str("t"), U16(1), B(1))); break;
            case MqttAnomaly.PublishBeforeConnect: Cl(Publish(4, "t", 0, 0, "x")); break;
            case MqttAnomaly.DoubleConnect: Up(); Cl(Connect4); break;
            case MqttAnomaly.MalformedPacket: Up(); Sv([0x40, 0x03, 0x00, 0x01, 0x00]); break;
            case MqttAnomaly.MissingPacketId: Up(); Cl(Publish(4, "t", 1, 0, "x")); break;
            case MqttAnomaly.MalformedUtf8: Up(); Cl(Pkt(0x30, Str([0x61, 0xFF]), B(1))); break;
            case MqttAnomaly.MalformedProperty: Up(5); Cl(Publish(5, "t", 0, 0, "x", Props(B(0x05, 0x00)))); break;
            case MqttAnomaly.OversizePacket: Up(); Cl(Publish(4, "t", 0, 0, new string('x', 500))); break;
            case MqttAnomaly.UnexpectedResponse: Up(); Sv(Ack(4, 9)); break;
            case MqttAnomaly.StreamGap: Up(); s.OnStreamGap(f, C, 10, Meta(12)); break;
            case MqttAnomaly.StreamResync: Up(); s.OnStreamGap(f, C, 10, Meta(12)); Cl([0x11, 0x22, .. Hex("c000")]); break;
            case MqttAnomaly.DissectionAbandoned: Up(); s.OnStreamGap(f, C, 1, Meta(12)); Cl(Encoding.ASCII.GetBytes(new string('A', 3000))); break;
            case MqttAnomaly.ConnectReservedFlag: Cl(Connect(4, "c", extraFlags: 0x03)); break;
            case MqttAnomaly.UnknownProtocolVersion: Cl(Pkt(0x10, Str("MQTT"), B(6, 2), U16(10), Str("c"))); break;
            case MqttAnomaly.InvalidConnectFlags: Cl(Connect(4, "c", extraFlags: 0x0A)); break;
            case MqttAnomaly.InvalidTopic: Up(); Cl(Publish(4, "a/#", 0, 0, "x")); break;
            case MqttAnomaly.UnknownTopicAlias: Up(5); Cl(Publish(5, "", 0, 0, "x", Props(B(0x23, 0, 7)))); break;
            case MqttAnomaly.EmptySubscription: Up(); Cl(Pkt(0x82, U16(1))); break;
            case MqttAnomaly.DuplicatePacketId: Up(); Cl(Publish(4, "t", 1, 4, "x")); Cl(Publish(4, "t", 1, 4, "y")); break;
            case MqttAnomaly.PendingOverflow: Up(); Cl(Publish(4, "t", 1, 1, "x")); Cl(Publish(4, "t", 1, 2, "y")); break;
            case MqttAnomaly.WrongDirection: Up(); Cl(ConnAck(4)); break;
            case MqttAnomaly.InvalidSubscriptionOptions: Up(); Cl(Pkt(0x82, U16(1), Str("a"), B(0x04))); break;
            case MqttAnomaly.InvalidReasonCode: Cl(Connect4); Sv(ConnAck(4, 9)); break;
            case MqttAnomaly.DupWithQos0: Up(); Cl(Pkt(0x38, Str("t"), B(1))); break;
            case MqttAnomaly.AckCountMismatch: Up(); Cl(Pkt(0x82, U16(3), Str("a"), B(0), Str("b"), B(1))); Sv(Pkt(0x90, U16(3), B(0))); break;
            default: throw new InvalidOperationException(a.ToString());
        }

        s.OnClose(f, FlowCloseReason.Closed, 1);
        return sink.AllAnomalies();
    }

    public static TheoryData<MqttAnomaly> AllAnomalies => [.. MqttAnomalies.All];

    [Theory]
    [MemberData(nameof(AllAnomalies))]
    public void EveryAnomaly_IsRaisedByItsScenario(MqttAnomaly anomaly) => Assert.Contains(anomaly, Scenario(anomaly));

    [Fact]
    public void CleanConversation_RaisesNoAnomaly()
    {
        var (s, sink, f) = NewSession();
        Feed(s, f, (C, Connect4), (S, ConnAck(4)), (C, Pkt(0x82, U16(3), Str("a/+"), B(1))), (S, Pkt(0x90, U16(3), B(1))),
            (C, Publish(4, "a/b", 1, 4, "x")), (S, Ack(4, 4)), (S, Publish(4, "a/b", 0, 0, "x")), (C, Hex("c000")), (S, Hex("d000")), (C, Hex("e000")));
        s.OnClose(f, FlowCloseReason.Closed, 1);
        Assert.Empty(sink.AllAnomalies());
        Assert.Equal(6, sink.Transactions.Count);
    }

    [Fact]
    public void ConnackRefusal_IsAFieldNotAnAnomaly()
    {
        var (s, sink, f) = NewSession();
        Feed(s, f, (C, Connect4), (S, ConnAck(4, 5)));
        Assert.Empty(sink.AllAnomalies());
        Assert.Equal(5, sink.Transactions[0].Json.GetProperty("reason_code").GetInt32());
    }

    [Fact]
    public void Catalog_HasStableIdsSignaturesAndRequiredNames()
    {
        var ids = new HashSet<string>();
        foreach (var a in MqttAnomalies.All)
        {
            var info = MqttAnomalies.Info(a);
            Assert.InRange((int)a, 1, 63);
            Assert.Equal(2000 + (int)a, info.SignatureId);
            Assert.StartsWith("mqtt_", info.Id, StringComparison.Ordinal);
            Assert.True(ids.Add(info.Id));
            Assert.InRange(info.Severity, 0, 10);
        }

        foreach (var required in new[] { "mqtt_malformed_remaining_length", "mqtt_reserved_packet_type", "mqtt_invalid_flags", "mqtt_invalid_qos", "mqtt_publish_before_connect", "mqtt_double_connect", "mqtt_malformed_packet", "mqtt_missing_packet_id", "mqtt_malformed_utf8", "mqtt_malformed_property", "mqtt_oversize_packet", "mqtt_unexpected_response", "mqtt_stream_gap" })
        {
            Assert.Contains(required, ids);
        }

        Assert.Equal("mqtt_unknown_anomaly", MqttAnomalies.Info((MqttAnomaly)63).Id);
        Assert.Equal(1, (int)MqttAnomaly.MalformedRemainingLength);
        Assert.Equal(7, (int)MqttAnomaly.MalformedPacket);
        Assert.Equal(13, (int)MqttAnomaly.StreamGap);
    }

    [Fact]
    public void MidStreamPickup_DoesNotFlagPublishBeforeConnect()
    {
        var (s, sink, f) = NewSession(fromHandshake: false);
        s.OnStreamData(f, C, Publish(4, "t", 0, 0, "x"), Meta(1));
        s.OnStreamData(f, S, Ack(4, 3), Meta(2));
        Assert.DoesNotContain(MqttAnomaly.PublishBeforeConnect, sink.AllAnomalies());
        Assert.DoesNotContain(MqttAnomaly.UnexpectedResponse, sink.AllAnomalies());
    }

    [Fact]
    public void FieldNames_AreTheOnesScriptsRelyOn()
    {
        Assert.Equal("type", MqttFields.Name(MqttFields.Type));
        Assert.Equal("response_type", MqttFields.Name(MqttFields.ResponseType));
        Assert.Equal("client_id", MqttFields.Name(MqttFields.ClientId));
        Assert.Equal("password_present", MqttFields.Name(MqttFields.PasswordPresent));
        Assert.Equal("granted_qos", MqttFields.Name(MqttFields.GrantedQos));
        Assert.Equal("payload_prefix", MqttFields.Name(MqttFields.PayloadPrefix));
        Assert.Equal("topic_alias", MqttFields.Name((byte)(MqttFields.PropertyBase + MqttProperties.TopicAlias)));
        Assert.Equal("field_250", MqttFields.Name(250));
    }
}
