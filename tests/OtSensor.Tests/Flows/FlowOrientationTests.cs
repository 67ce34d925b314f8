using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Tests.Flows;

public class FlowOrientationTests
{
    [Fact]
    public void Handshake_SynSenderIsTheClient()
    {
        var h = new FlowHarness();
        FlowContext flow = h.Handshake(1000, 5000)!;
        Assert.Equal(FlowHarness.ClientIp, flow.ClientIp);
        Assert.Equal((ushort)50000, flow.ClientPort);
        Assert.Equal(FlowHarness.ServerIp, flow.ServerIp);
        Assert.Equal((ushort)15000, flow.ServerPort);
        Assert.Equal(FlowHarness.ClientMac, flow.ClientMac);
        Assert.Equal(FlowHarness.ServerMac, flow.ServerMac);
        Assert.True(flow.OrientationFromHandshake);
        Assert.Equal(TransportLayer.Tcp, flow.Transport);
        Assert.Equal(1, flow.FlowId);
        Assert.Equal(2, flow.PacketsToServer);
        Assert.Equal(1, flow.PacketsToClient);
        Assert.Equal(0, h.Table.Stats.MidstreamPickups);
    }

    [Fact]
    public void SynAckFirst_ReceiverIsTheClient()
    {
        var h = new FlowHarness();
        FlowContext flow = h.Seg(false, 5000, 1001, TcpFlags.Syn | TcpFlags.Ack)!;
        Assert.Equal(FlowHarness.ClientIp, flow.ClientIp);
        Assert.Equal((ushort)50000, flow.ClientPort);
        Assert.Equal((ushort)15000, flow.ServerPort);
        Assert.True(flow.OrientationFromHandshake);
        Assert.Equal(0, flow.PacketsToServer);
        Assert.Equal(1, flow.PacketsToClient);
    }

    [Fact]
    public void MidstreamPickup_WellKnownPortSideIsTheServer_EvenWhenItSendsFirst()
    {
        var h = new FlowHarness();
        // First packet seen: the Modbus server (port 502) answering a client on an ephemeral port.
        FlowContext flow = h.Seg(false, 7000, 100, TcpFlags.Ack | TcpFlags.Psh, [1, 2, 3], clientPort: 49152, serverPort: 502)!;
        Assert.Equal(FlowHarness.ServerIp, flow.ServerIp);
        Assert.Equal((ushort)502, flow.ServerPort);
        Assert.Equal((ushort)49152, flow.ClientPort);
        Assert.False(flow.OrientationFromHandshake);
        Assert.Equal(1, flow.PacketsToClient);
        Assert.Equal(3, flow.BytesToClient);
        Assert.Equal(1, h.Table.Stats.MidstreamPickups);
    }

    [Theory]
    [InlineData(40000, 30000, true)]  // neither well known: lower port is the server
    [InlineData(30000, 40000, false)]
    [InlineData(600, 700, false)]     // both below 1024: lower port
    [InlineData(700, 600, true)]
    [InlineData(40000, 40000, true)]  // tie: first destination is the server
    [InlineData(1000, 502, true)]     // exactly one well known
    [InlineData(502, 1000, false)]
    [InlineData(80, 502, false)]      // both well known: lower port
    public void MidstreamPickup_PortHeuristic(int srcPort, int dstPort, bool sourceIsClient)
    {
        var h = new FlowHarness();
        var p = FlowHarness.Tcp(FlowHarness.ClientIp, (ushort)srcPort, FlowHarness.ServerIp, (ushort)dstPort, 1, 1, TcpFlags.Ack, 0);
        FlowContext flow = h.Feed(p, [])!;
        Assert.Equal(sourceIsClient ? FlowHarness.ClientIp : FlowHarness.ServerIp, flow.ClientIp);
        Assert.Equal(sourceIsClient ? (ushort)srcPort : (ushort)dstPort, flow.ClientPort);
    }

    [Fact]
    public void NonTcpUdpPacket_ReturnsNullAndIsCounted()
    {
        var h = new FlowHarness();
        var p = new DecodedPacket { Network = NetworkLayer.Arp };
        Assert.Null(h.Feed(p, []));
        var icmp = new DecodedPacket { Network = NetworkLayer.IPv4, Transport = TransportLayer.Other };
        Assert.Null(h.Feed(icmp, [1, 2]));
        Assert.Equal(2, h.Table.Stats.PacketsNotTcpUdp);
        Assert.Equal(0, h.Table.Count);
    }

    [Fact]
    public void PayloadBeyondFrame_IsClippedNotThrown()
    {
        var h = new FlowHarness();
        h.Handshake(1, 1);
        var p = FlowHarness.Tcp(FlowHarness.ClientIp, 50000, FlowHarness.ServerIp, 15000, 2, 2, TcpFlags.Ack, 1000);
        h.Feed(p, [9, 9, 9]);
        var bad = p;
        bad.PayloadOffset = 5000;
        h.Feed(bad, [1]);
        bad.PayloadOffset = -3;
        h.Feed(bad, [1]);
        Assert.Equal(new byte[] { 9, 9, 9 }, h.Dissector.Stream(Direction.ToServer));
    }

    [Fact]
    public void FlowId_IsThePacketNumberOfTheFirstPacket()
    {
        var h = new FlowHarness();
        h.Udp(FlowHarness.ClientIp, 40000, FlowHarness.ServerIp, 5683, [1]);
        h.Udp(FlowHarness.ClientIp, 40000, FlowHarness.ServerIp, 5683, [1]);
        FlowContext second = h.Udp(FlowHarness.ClientIp, 40001, FlowHarness.ServerIp, 5683, [1])!;
        Assert.Equal(3, second.FlowId);
        Assert.Equal(2, h.Table.Count);
        Assert.Equal(PacketTime.NanosPerSecond * 1000 + 3 * PacketTime.NanosPerMilli, second.FirstSeenNs);
    }

    [Fact]
    public void UdpBetweenTwoEphemeralPorts_FirstSenderIsTheClient()
    {
        var h = new FlowHarness();
        FlowContext f = h.Udp(FlowHarness.ClientIp, 56830, FlowHarness.ServerIp, 42012, [0x40, 0x01, 0, 1])!;
        Assert.Equal(FlowHarness.ClientIp, f.ClientIp);
        Assert.Equal(42012, f.ServerPort);
    }

    [Fact]
    public void UdpReplyFromAWellKnownPortFirst_StillMakesThatPortTheServer()
    {
        var h = new FlowHarness();
        FlowContext f = h.Udp(FlowHarness.ServerIp, 5683, FlowHarness.ClientIp, 50000, [0x60, 0x45, 0, 1])!;
        Assert.Equal(5683, f.ServerPort);
        Assert.Equal(FlowHarness.ClientIp, f.ClientIp);
    }
}
