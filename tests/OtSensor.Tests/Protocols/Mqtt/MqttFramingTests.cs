using OtSensor.Protocols.Mqtt;
using static OtSensor.Tests.Protocols.Mqtt.MqttTestData;

namespace OtSensor.Tests.Protocols.Mqtt;

public class MqttFramingTests
{
    [Theory]
    [InlineData(0, 1)]
    [InlineData(127, 1)]
    [InlineData(128, 2)]
    [InlineData(16_383, 2)]
    [InlineData(16_384, 3)]
    [InlineData(2_097_151, 3)]
    [InlineData(2_097_152, 4)]
    [InlineData(268_435_455, 4)]
    public void RemainingLength_DecodesEverySize_AndEveryPrefixNeedsMoreData(int remaining, int varintBytes)
    {
        byte[] header = [0x30, .. VarInt(remaining)];
        Assert.Equal(1 + varintBytes, header.Length);
        for (int n = 0; n < header.Length; n++)
        {
            Assert.Equal(MqttFrameStatus.NeedMoreData, MqttFraming.TryGetPacketLength(header.AsSpan(0, n), out _));
        }

        Assert.Equal(MqttFrameStatus.Complete, MqttFraming.TryGetPacketLength(header, out int length, out int hl));
        Assert.Equal(1 + varintBytes, hl);
        Assert.Equal(hl + remaining, length);
    }

    [Fact]
    public void RemainingLength_IsInvalid_WithAFifthContinuationByte()
    {
        byte[] bad = [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        Assert.Equal(MqttFrameStatus.Invalid, MqttFraming.TryGetPacketLength(bad, out _));
        Assert.Equal(MqttFrameStatus.Invalid, MqttFraming.TryGetPacketLength(bad.AsSpan(0, 5), out _));
        Assert.Equal(MqttFrameStatus.NeedMoreData, MqttFraming.TryGetPacketLength(bad.AsSpan(0, 4), out _));
    }

    [Fact]
    public void RealPacket_EveryPrefix_IsNeedMoreDataOrCompleteWithTheWholeLength()
    {
        var p = Hex(V5MosquittoConnect);
        for (int n = 0; n <= p.Length; n++)
        {
            var st = MqttFraming.TryGetPacketLength(p.AsSpan(0, n), out int len);
            if (n < 3) Assert.Equal(MqttFrameStatus.NeedMoreData, st);
            else
            {
                Assert.Equal(MqttFrameStatus.Complete, st);
                Assert.Equal(p.Length, len);
            }
        }
    }

    [Theory]
    [InlineData(0x10, true, true)]
    [InlineData(0x10, false, false)]
    [InlineData(0x20, false, true)]
    [InlineData(0x20, true, false)]
    [InlineData(0x36, true, false)]
    [InlineData(0x34, true, true)]
    [InlineData(0x62, true, true)]
    [InlineData(0x60, true, false)]
    [InlineData(0x82, true, true)]
    [InlineData(0x80, true, false)]
    [InlineData(0x00, true, false)]
    [InlineData(0xC0, true, true)]
    [InlineData(0xD0, false, true)]
    public void PlausibleFirstByte_FollowsTypeDirectionAndFlags(byte first, bool fromClient, bool expected)
        => Assert.Equal(expected, MqttFraming.IsPlausibleFirstByte(first, fromClient, 4));

    [Fact]
    public void Auth_IsPlausibleOnlyInVersion5()
    {
        Assert.True(MqttFraming.IsPlausibleFirstByte(0xF0, true, 5));
        Assert.False(MqttFraming.IsPlausibleFirstByte(0xF0, true, 4));
    }
}
