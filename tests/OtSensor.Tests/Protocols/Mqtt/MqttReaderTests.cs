using System.Text;
using OtSensor.Protocols.Mqtt;
using static OtSensor.Tests.Protocols.Mqtt.MqttTestData;

namespace OtSensor.Tests.Protocols.Mqtt;

public class MqttReaderTests
{
    [Theory]
    [InlineData(V31Connect, 3, "MQIsdp")]
    [InlineData(V311Connect, 4, "MQTT")]
    [InlineData(V5Connect, 5, "MQTT")]
    public void Connect_DecodesVersionFlagsAndIdentity(string hex, int version, string name)
    {
        ulong bits = 0;
        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadConnect(Hex(hex), out var c, ref bits));
        Assert.Equal(0UL, bits);
        Assert.Equal(version, c.Version);
        Assert.Equal(name, Encoding.ASCII.GetString(c.ProtocolName));
        Assert.Equal("myvoiceismypassport", Encoding.ASCII.GetString(c.ClientId));
        Assert.Equal("user", Encoding.ASCII.GetString(c.Username));
        Assert.True(c.PasswordPresent);
        Assert.True(c.CleanSession);
        Assert.False(c.WillFlag);
        Assert.Equal(60, c.KeepAlive);
        if (version == 5)
        {
            Assert.True(MqttProperties.TryGetInt(c.Properties, MqttProperties.ReceiveMaximum, out long rm));
            Assert.Equal(20, rm);
        }
    }

    [Fact]
    public void Connect_V5WithWillAndProperties_DecodesWillPart()
    {
        ulong bits = 0;
        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadConnect(Hex(V5MosquittoConnect), out var c, ref bits));
        // The capture's will payload format indicator is 0x90: only 0 and 1 are defined.
        Assert.Equal(MqttAnomalies.Bit(MqttAnomaly.MalformedProperty), bits);
        Assert.True(c.WillFlag);
        Assert.Equal("willtopic", Encoding.ASCII.GetString(c.WillTopic));
        Assert.Equal("willmessage".Length, c.WillPayloadLength);
        Assert.True(MqttProperties.TryGetInt(c.WillProperties, MqttProperties.WillDelayInterval, out long delay));
        Assert.Equal(200, delay);
        Assert.True(MqttProperties.TryGetInt(c.Properties, MqttProperties.MaximumPacketSize, out long mps));
        Assert.Equal(0x2b67, mps);
    }

    [Fact]
    public void Connect_EveryTruncation_IsMalformed()
    {
        var p = Hex(V5MosquittoConnect);
        for (int cut = 1; cut < p.Length - 3; cut++)
        {
            // Shorten the body and fix the remaining length: the fields no longer fit.
            var body = p.AsSpan(3, p.Length - 3 - cut).ToArray();
            ulong bits = 0;
            Assert.Equal(MqttReadStatus.Malformed, MqttReader.TryReadConnect(Pkt(0x10, body), out _, ref bits));
        }
    }

    [Theory]
    [InlineData(V3ConnAck, 4, 0)]
    [InlineData("20020105", 4, 5)]
    [InlineData(V5ConnAck, 5, 0)]
    [InlineData("2003008700", 5, 0x87)]
    public void ConnAck_DecodesReturnCode(string hex, int version, int code)
    {
        ulong bits = 0;
        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadConnAck(Hex(hex), version, out var a, ref bits));
        Assert.Equal(code, a.ReasonCode);
    }

    [Fact]
    public void ConnAck_WithProperties_IsMalformedIn311_AndOkIn5()
    {
        ulong bits = 0;
        Assert.Equal(MqttReadStatus.Malformed, MqttReader.TryReadConnAck(Hex(V5ConnAck), 4, out _, ref bits));
        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadConnAck(Hex(V5ConnAck), 5, out var a, ref bits));
        Assert.True(MqttProperties.TryGetInt(a.Properties, MqttProperties.TopicAliasMaximum, out long tam));
        Assert.Equal(10, tam);
    }

    [Fact]
    public void Publish_DecodesFlagsTopicIdPropertiesAndPayload()
    {
        ulong bits = 0;
        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadPublish(Hex(V5MosquittoPublish), 5, out var p, ref bits));
        // The capture's payload format indicator is 0x58: only 0 and 1 are defined.
        Assert.Equal(MqttAnomalies.Bit(MqttAnomaly.MalformedProperty), bits);
        Assert.Equal(1, p.Qos);
        Assert.False(p.Dup);
        Assert.False(p.Retain);
        Assert.Equal("topicX", Encoding.ASCII.GetString(p.Topic));
        Assert.Equal(1, p.PacketId);
        Assert.Equal("baabaablacksheep", Encoding.ASCII.GetString(p.Payload));
        Assert.Equal(16, p.PayloadLength);
        Assert.True(MqttProperties.TryGetInt(p.Properties, MqttProperties.TopicAlias, out long alias));
        Assert.Equal(5, alias);

        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadPublish(Hex(V311PublishQos2), 4, out p, ref bits));
        Assert.Equal(2, p.Qos);
        Assert.Equal(1, p.PacketId);
    }

    [Fact]
    public void Publish_HeadOfOversizePacket_GivesDeclaredPayloadLength()
    {
        var full = Publish(4, "big/topic", 1, 7, new string('x', 10_000));
        ulong bits = 0;
        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadPublish(full.AsSpan(0, 100), 4, out var p, ref bits, full.Length));
        Assert.Equal("big/topic", Encoding.ASCII.GetString(p.Topic));
        Assert.Equal(10_000, p.PayloadLength);
        Assert.True(p.Payload.Length < 100);
    }

    public static TheoryData<string, int, int> GenericPackets => new()
    {
        { "40020001", 4, 1 }, { "50020001", 4, 1 }, { "62020001", 4, 1 }, { "70020001", 4, 1 },
        { "4003000110", 5, 1 }, { "500400019000", 5, 1 }, { "62020002", 5, 2 }, { "7003000392", 5, 3 },
        { V31Subscribe, 3, 1 }, { V5Subscribe, 5, 1 }, { V31SubAck, 3, 1 }, { V5SubAck, 5, 1 },
        { "a20a00020006746f70696358", 4, 2 }, { V5Unsubscribe2, 5, 2 }, { "b0020002", 4, 2 }, { V5UnsubAck2, 5, 2 },
        { "c000", 4, 0 }, { "d000", 4, 0 }, { "e000", 4, 0 }, { "e00104", 5, 0 }, { V5MosquittoDisconnect, 5, 0 },
        { "f000", 5, 0 }, { "f0021800", 5, 0 },
    };

    [Theory]
    [MemberData(nameof(GenericPackets))]
    public void Generic_DecodesEveryOtherPacketType(string hex, int version, int packetId)
    {
        ulong bits = 0;
        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadGeneric(Hex(hex), version, out var g, ref bits));
        Assert.Equal(packetId, g.PacketId);
        Assert.Equal(0UL, bits & ~MqttAnomalies.Bit(MqttAnomaly.ReservedPacketType));
    }

    [Theory]
    [InlineData("4003000110", 4)]
    [InlineData("e00104", 4)]
    [InlineData("c00100", 4)]
    [InlineData("b00400020000", 4)]
    public void Generic_V5ExtensionsAreMalformedIn311(string hex, int version)
    {
        ulong bits = 0;
        Assert.Equal(MqttReadStatus.Malformed, MqttReader.TryReadGeneric(Hex(hex), version, out _, ref bits));
    }

    [Fact]
    public void Subscribe_ReadsEveryFilterWithV5Options()
    {
        var pkt = Pkt(0x82, U16(9), Props(), Str("a/+"), B(0x2E), Str("b/#"), B(0x01));
        ulong bits = 0;
        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadGeneric(pkt, 5, out var g, ref bits));
        Assert.Equal(0UL, bits);
        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadTopicFilter(g.Payload, true, 5, out var f, out int used, ref bits));
        Assert.Equal("a/+", Encoding.ASCII.GetString(f.Filter));
        Assert.Equal(2, f.Qos);
        Assert.True(f.NoLocal);
        Assert.True(f.RetainAsPublished);
        Assert.Equal(2, f.RetainHandling);
        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadTopicFilter(g.Payload[used..], true, 5, out f, out _, ref bits));
        Assert.Equal(1, f.Qos);
    }

    public static TheoryData<byte> AllPropertyIds => new()
    {
        0x01, 0x02, 0x03, 0x08, 0x09, 0x0B, 0x11, 0x12, 0x13, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1C, 0x1F, 0x21, 0x22, 0x23,
        0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A,
    };

    [Theory]
    [MemberData(nameof(AllPropertyIds))]
    public void Property_EveryIdDecodesWithItsType(byte id)
    {
        var type = MqttProperties.TypeOf(id);
        byte[] value = type switch
        {
            MqttPropertyType.Byte => [1],
            MqttPropertyType.TwoByteInteger => [0x01, 0x02],
            MqttPropertyType.FourByteInteger => [0x01, 0x02, 0x03, 0x04],
            MqttPropertyType.VariableByteInteger => [0x81, 0x01],
            MqttPropertyType.Utf8String or MqttPropertyType.BinaryData => Str("vé"),
            MqttPropertyType.Utf8StringPair => [.. Str("k"), .. Str("v")],
            _ => throw new InvalidOperationException(),
        };
        byte[] block = [id, .. value];
        var r = new MqttPropertyReader(block);
        Assert.True(r.TryRead(out var p));
        Assert.Equal(id, p.Id);
        Assert.Equal(type, p.Type);
        switch (type)
        {
            case MqttPropertyType.Byte: Assert.Equal(1, p.IntValue); break;
            case MqttPropertyType.TwoByteInteger: Assert.Equal(0x0102, p.IntValue); break;
            case MqttPropertyType.FourByteInteger: Assert.Equal(0x01020304, p.IntValue); break;
            case MqttPropertyType.VariableByteInteger: Assert.Equal(129, p.IntValue); break;
            case MqttPropertyType.Utf8StringPair:
                Assert.Equal("k", Encoding.UTF8.GetString(p.Value));
                Assert.Equal("v", Encoding.UTF8.GetString(p.Value2));
                break;
            default: Assert.Equal("vé", Encoding.UTF8.GetString(p.Value)); break;
        }

        Assert.False(r.TryRead(out _));
        Assert.False(r.Error);
        Assert.NotEqual("unknown", MqttProperties.Name(id));
        Assert.Equal(MqttProperties.Name(id), MqttFields.Name((byte)(MqttFields.PropertyBase + id)));
    }

    [Fact]
    public void Property_UnknownDuplicateAndMisplaced_AreMalformed()
    {
        Assert.True(MqttAnomalies.Has(MqttProperties.Validate([0x05, 0x00], MqttPacketType.Publish, false), MqttAnomaly.MalformedProperty));
        Assert.True(MqttAnomalies.Has(MqttProperties.Validate([0x23, 0, 1, 0x23, 0, 2], MqttPacketType.Publish, false), MqttAnomaly.MalformedProperty));
        Assert.True(MqttAnomalies.Has(MqttProperties.Validate([0x23, 0, 1], MqttPacketType.Connect, false), MqttAnomaly.MalformedProperty));
        Assert.True(MqttAnomalies.Has(MqttProperties.Validate([0x02, 0, 1], MqttPacketType.Publish, false), MqttAnomaly.MalformedProperty));
        Assert.Equal(0UL, MqttProperties.Validate([0x26, 0, 1, (byte)'a', 0, 0, 0x26, 0, 1, (byte)'a', 0, 0], MqttPacketType.Publish, false));
        Assert.Equal(0UL, MqttProperties.Validate([0x0B, 1, 0x0B, 2], MqttPacketType.Publish, false));
    }

    [Theory]
    [InlineData(new byte[] { 0x61, 0x00, 0x62 })]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]
    [InlineData(new byte[] { 0xC0, 0xAF })]
    [InlineData(new byte[] { 0xFF })]
    public void Utf8_NulSurrogatesOverlongsAndInvalidBytes_AreFlagged(byte[] topic)
    {
        var pkt = Pkt(0x30, Str(topic), Encoding.ASCII.GetBytes("x"));
        ulong bits = 0;
        Assert.Equal(MqttReadStatus.Ok, MqttReader.TryReadPublish(pkt, 4, out _, ref bits));
        Assert.True(MqttAnomalies.Has(bits, MqttAnomaly.MalformedUtf8));
    }

    [Theory]
    [InlineData(0x00, 4, MqttAnomaly.ReservedPacketType)]
    [InlineData(0xF0, 4, MqttAnomaly.ReservedPacketType)]
    [InlineData(0x41, 4, MqttAnomaly.InvalidFlags)]
    [InlineData(0x60, 4, MqttAnomaly.InvalidFlags)]
    [InlineData(0x80, 4, MqttAnomaly.InvalidFlags)]
    [InlineData(0xA0, 4, MqttAnomaly.InvalidFlags)]
    [InlineData(0x36, 4, MqttAnomaly.InvalidQos)]
    [InlineData(0x38, 4, MqttAnomaly.DupWithQos0)]
    public void FixedHeader_RuleViolations_AreFlagged(byte first, int version, MqttAnomaly expected)
        => Assert.True(MqttAnomalies.Has(MqttReader.CheckFixedHeader(first, version), expected));

    [Theory]
    [InlineData(0x30)]
    [InlineData(0x3D)]
    [InlineData(0x62)]
    [InlineData(0xF0)]
    public void FixedHeader_ValidFirstBytes_AreClean(byte first) => Assert.Equal(0UL, MqttReader.CheckFixedHeader(first, 5));

    [Fact]
    public void Reader_NeverThrows_OnRandomPackets()
    {
        var rng = new Random(7);
        var body = new byte[64];
        for (int i = 0; i < 20_000; i++)
        {
            rng.NextBytes(body);
            int len = rng.Next(0, 64);
            var pkt = Pkt((byte)rng.Next(256), body[..len]);
            ulong bits = 0;
            int v = 3 + (i % 3);
            _ = MqttReader.TryReadConnect(pkt, out _, ref bits);
            _ = MqttReader.TryReadConnAck(pkt, v, out _, ref bits);
            _ = MqttReader.TryReadPublish(pkt, v, out _, ref bits);
            _ = MqttReader.TryReadGeneric(pkt, v, out _, ref bits);
            _ = MqttProperties.Validate(body[..len], MqttPacketType.Publish, false);
        }
    }
}
