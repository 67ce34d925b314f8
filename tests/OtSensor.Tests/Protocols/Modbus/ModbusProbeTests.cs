using System.Text;
using OtSensor.Protocols.Modbus;
using static OtSensor.Tests.Protocols.Modbus.ModbusTestData;

namespace OtSensor.Tests.Protocols.Modbus;

public class ModbusProbeTests
{
    [Fact]
    public void Probe_AcceptsEveryCaptureAdu_InItsDirection()
    {
        foreach (var (req, resp) in CapturePairs)
        {
            Assert.True(ModbusProbe.LooksLikeModbus(Hex(req), fromClient: true), req);
            Assert.True(ModbusProbe.LooksLikeModbus(Hex(resp), fromClient: false), resp);
        }
    }

    [Fact]
    public void Probe_AcceptsSeveralWholeAdus_AndRejectsATrailingPartial()
    {
        byte[] two = [.. Hex(CapturePairs[0].Request), .. Hex(CapturePairs[4].Request)];
        Assert.True(ModbusProbe.LooksLikeModbus(two, true));
        Assert.False(ModbusProbe.LooksLikeModbus(two.AsSpan(0, two.Length - 1), true));
        Assert.False(ModbusProbe.LooksLikeModbus([.. two, 0x00], true));
    }

    [Theory]
    [InlineData("000100000006018300000001", true)] // exception bit in a request
    [InlineData("0001000000030183", false)] // exception without a code (length says 2 bytes of PDU, only 1)
    [InlineData("000100000003018309", false)] // undefined exception code
    [InlineData("000100000006015a00000001", true)] // user-defined code: not enough evidence for the probe
    [InlineData("000100010006010300000001", true)] // protocol id 1
    [InlineData("000100000007010300000001", true)] // length one too long
    [InlineData("000100000006010300000000", true)] // quantity 0
    [InlineData("", true)]
    public void Probe_RejectsNearMisses(string hex, bool fromClient)
        => Assert.False(ModbusProbe.LooksLikeModbus(Hex(hex), fromClient));

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")]
    [InlineData("SSH-2.0-OpenSSH_9.6\r\n")]
    public void Probe_RejectsText(string text)
    {
        Assert.False(ModbusProbe.LooksLikeModbus(Encoding.ASCII.GetBytes(text), true));
        Assert.False(ModbusProbe.LooksLikeModbus(Encoding.ASCII.GetBytes(text), false));
    }

    [Theory]
    [InlineData("16030100a5010000a10303" + "00000000000000000000000000000000")] // TLS ClientHello
    [InlineData("101800044d5154540402003c000c636c69656e742d69642d3031")] // MQTT CONNECT
    [InlineData("20020000")] // MQTT CONNACK
    [InlineData("001d000001000001000000000000076578616d706c6503636f6d0000010001")] // DNS over TCP
    [InlineData("0000000000000000000000000000")] // zeros
    public void Probe_RejectsOtherProtocols(string hex)
    {
        Assert.False(ModbusProbe.LooksLikeModbus(Hex(hex), true));
        Assert.False(ModbusProbe.LooksLikeModbus(Hex(hex), false));
    }

    [Fact]
    public void Probe_NeverFiresOnRandomData()
    {
        var rng = new Random(42);
        var buf = new byte[300];
        for (int i = 0; i < 20000; i++)
        {
            int n = rng.Next(0, buf.Length);
            rng.NextBytes(buf.AsSpan(0, n));
            Assert.False(ModbusProbe.LooksLikeModbus(buf.AsSpan(0, n), (i & 1) == 0));
        }
    }
}
