using System.Text;
using OtSensor.Protocols.Mqtt;
using static OtSensor.Tests.Protocols.Mqtt.MqttTestData;

namespace OtSensor.Tests.Protocols.Mqtt;

public class MqttProbeTests
{
    [Theory]
    [InlineData(V311Connect)]
    [InlineData(V31Connect)]
    [InlineData(V5Connect)]
    [InlineData(V5MosquittoConnect)]
    public void Probe_AcceptsRealConnects(string hex)
    {
        Assert.True(MqttProbe.LooksLikeMqtt(Hex(hex), true));
        Assert.False(MqttProbe.LooksLikeMqtt(Hex(hex), false));
    }

    [Fact]
    public void Probe_AcceptsConnectFollowedByMorePackets()
        => Assert.True(MqttProbe.LooksLikeMqtt([.. Hex(V311Connect), .. Hex("c000")], true));

    [Fact]
    public void Probe_RejectsTruncatedConnect()
    {
        var p = Hex(V311Connect);
        for (int n = 0; n < p.Length; n++) Assert.False(MqttProbe.LooksLikeMqtt(p.AsSpan(0, n), true));
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: x\r\n\r\n")]
    [InlineData("POST /mqtt HTTP/1.1\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("SSH-2.0-OpenSSH_8.9\r\n")]
    public void Probe_RejectsText(string text) => Assert.False(MqttProbe.LooksLikeMqtt(Encoding.ASCII.GetBytes(text), true));

    [Theory]
    [InlineData("16030100a5010000a10303")]
    [InlineData("000100000006010300000001")]
    [InlineData("102b00044d51545406c2003c00136d79766f69636569736d7970617373706f7274000475736572000470617373")]
    [InlineData("102b00044d51545404c3003c00136d79766f69636569736d7970617373706f7274000475736572000470617373")]
    [InlineData("102b00044d51545404c2003c00146d79766f69636569736d7970617373706f7274000475736572000470617373")]
    [InlineData("11020000")]
    public void Probe_RejectsTlsModbusAndBrokenConnects(string hex) => Assert.False(MqttProbe.LooksLikeMqtt(Hex(hex), true));

    [Fact]
    public void Probe_RejectsRandomData()
    {
        var rng = new Random(42);
        var buf = new byte[200];
        for (int i = 0; i < 20_000; i++)
        {
            rng.NextBytes(buf);
            Assert.False(MqttProbe.LooksLikeMqtt(buf, true));
            buf[0] = 0x10;
            Assert.False(MqttProbe.LooksLikeMqtt(buf, true));
        }
    }
}
