using System.Text;
using OtSensor.Protocols.Mqtt;

namespace OtSensor.Tests.Protocols.Mqtt;

public class MqttMidStreamProbeTests
{
    private static byte[] Publish(string topic, string payload)
    {
        var t = Encoding.UTF8.GetBytes(topic);
        var p = Encoding.UTF8.GetBytes(payload);
        int remaining = 2 + t.Length + p.Length;
        return [0x30, (byte)remaining, (byte)(t.Length >> 8), (byte)t.Length, .. t, .. p];
    }

    [Fact]
    public void MidStream_PublishWithPrintableTopic_IsStrongEvidence()
        => Assert.Equal(MqttMidStreamEvidence.Strong, MqttProbe.MidStreamEvidence(Publish("plant/line1/temp", "21.5")));

    [Fact]
    public void MidStream_PingAndPubAckAlone_AreOnlyWeakEvidence()
    {
        Assert.Equal(MqttMidStreamEvidence.Weak, MqttProbe.MidStreamEvidence([0xC0, 0x00]));
        Assert.Equal(MqttMidStreamEvidence.Weak, MqttProbe.MidStreamEvidence([0x40, 0x02, 0x00, 0x07]));
    }

    [Fact]
    public void MidStream_SeveralWholePacketsInOneSegment_AreAccepted()
        => Assert.Equal(MqttMidStreamEvidence.Strong, MqttProbe.MidStreamEvidence([.. Publish("a/b", "1"), 0xC0, 0x00, .. Publish("a/c", "2")]));

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("SSH-2.0-OpenSSH_9.2\r\n")]
    public void MidStream_TextProtocols_AreNotMqtt(string text)
        => Assert.Equal(MqttMidStreamEvidence.None, MqttProbe.MidStreamEvidence(Encoding.ASCII.GetBytes(text)));

    [Fact]
    public void MidStream_TopicWithWildcardOrControlCharacters_IsNotEvidence()
    {
        Assert.Equal(MqttMidStreamEvidence.None, MqttProbe.MidStreamEvidence(Publish("plant/#", "x")));
        Assert.Equal(MqttMidStreamEvidence.None, MqttProbe.MidStreamEvidence(Publish("a\u0001b", "x")));
    }

    [Fact]
    public void MidStream_TrailingBytesThatDoNotFrame_AreNotMqtt()
        => Assert.Equal(MqttMidStreamEvidence.None, MqttProbe.MidStreamEvidence([.. Publish("a/b", "1"), 0x30]));

    [Fact]
    public void MidStream_RandomData_RarelyIfEverLooksStrong()
    {
        var rng = new Random(5);
        int strong = 0;
        var buf = new byte[64];
        for (int i = 0; i < 20_000; i++)
        {
            rng.NextBytes(buf);
            if (MqttProbe.MidStreamEvidence(buf.AsSpan(0, 8 + rng.Next(56))) == MqttMidStreamEvidence.Strong) strong++;
        }
        Assert.True(strong <= 2, $"{strong} random buffers looked like MQTT");
    }
}
