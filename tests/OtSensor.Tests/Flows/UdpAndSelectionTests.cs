using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Tests.Flows;

public class UdpAndSelectionTests
{
    [Fact]
    public void UdpDatagrams_AreDeliveredWholeWithTheirDirection()
    {
        var h = new FlowHarness();
        FlowContext flow = h.Udp(FlowHarness.ClientIp, 40000, FlowHarness.ServerIp, 5683, [1, 2, 3])!;
        h.Udp(FlowHarness.ServerIp, 5683, FlowHarness.ClientIp, 40000, [4, 5]);
        h.Udp(FlowHarness.ClientIp, 40000, FlowHarness.ServerIp, 5683, [6]);
        Assert.Equal(TransportLayer.Udp, flow.Transport);
        Assert.Equal((ushort)5683, flow.ServerPort);
        Assert.False(flow.OrientationFromHandshake);
        RecordingDissector d = h.Dissector;
        Assert.Equal(3, d.Datagrams.Count);
        Assert.Equal(Direction.ToServer, d.Datagrams[0].Direction);
        Assert.Equal(new byte[] { 1, 2, 3 }, d.Datagrams[0].Data);
        Assert.Equal(Direction.ToClient, d.Datagrams[1].Direction);
        Assert.Equal(new byte[] { 4, 5 }, d.Datagrams[1].Data);
        Assert.Equal(Direction.ToServer, d.Datagrams[2].Direction);
        Assert.Equal(2, flow.PacketsToServer);
        Assert.Equal(1, flow.PacketsToClient);
        Assert.Equal(4, flow.BytesToServer);
        Assert.Equal(2, flow.BytesToClient);
        Assert.Single(h.Factory.Calls);
    }

    [Fact]
    public void UdpFirstPacketFromTheServerPort_IsOrientedByPort()
    {
        var h = new FlowHarness();
        FlowContext flow = h.Udp(FlowHarness.ServerIp, 502, FlowHarness.ClientIp, 50000, [1])!;
        Assert.Equal(FlowHarness.ServerIp, flow.ServerIp);
        Assert.Equal((ushort)502, flow.ServerPort);
        Assert.Equal(Direction.ToClient, h.Dissector.Datagrams[0].Direction);
        Assert.Equal(Direction.ToClient, h.Factory.Calls[0].Direction);
    }

    [Fact]
    public void Select_UndecidedThenSelected_FeedsTheDecidingPayload()
    {
        var h = new FlowHarness();
        h.Factory.Script.Enqueue(DissectorChoice.Undecided);
        h.Factory.Script.Enqueue(DissectorChoice.Undecided);
        h.Handshake(100, 500);
        h.C(101, [1], ack: 501);
        h.S(501, [2], ack: 102);
        h.C(102, [3], ack: 502);
        h.C(103, [4], ack: 502);
        Assert.Equal(3, h.Factory.Calls.Count);
        Assert.Equal([Direction.ToServer, Direction.ToClient, Direction.ToServer], h.Factory.Calls.Select(c => c.Direction));
        Assert.Equal(new byte[] { 3, 4 }, h.Dissector.Stream(Direction.ToServer));
        Assert.Empty(h.Dissector.Stream(Direction.ToClient));
    }

    [Fact]
    public void Select_AlwaysUndecided_StopsAfterMaxAttempts()
    {
        var h = new FlowHarness(new FlowTableOptions { MaxSelectAttempts = 3 });
        h.Factory.Default = DissectorChoice.Undecided;
        h.Handshake(100, 500);
        for (uint i = 0; i < 10; i++)
        {
            h.C(101 + i, [(byte)i]);
        }
        Assert.Equal(3, h.Factory.Calls.Count);
        Assert.Empty(h.Factory.Created);
        h.Table.CloseAll(h.Now);
        Assert.Equal(1, h.Table.Stats.FlowsEndOfCapture);
    }

    [Fact]
    public void Select_None_IsNotAskedAgainButReassemblyStatsStayRight()
    {
        var h = new FlowHarness();
        h.Factory.Default = DissectorChoice.None;
        h.Handshake(100, 500);
        h.C(101, [1]);
        h.C(103, [3]);
        h.C(101, [1]);
        h.C(102, [2]);
        Assert.Single(h.Factory.Calls);
        Assert.Equal(1, h.Table.Stats.OutOfOrderSegments);
        Assert.Equal(1, h.Table.Stats.Retransmissions);
    }

    [Fact]
    public void Select_HandshakeOnly_IsNotAsked()
    {
        var h = new FlowHarness();
        h.Handshake(100, 500);
        Assert.Empty(h.Factory.Calls);
    }

    [Fact]
    public void UdpSelect_RetriesOnLaterDatagrams()
    {
        var h = new FlowHarness();
        h.Factory.Script.Enqueue(DissectorChoice.Undecided);
        h.Udp(FlowHarness.ClientIp, 40000, FlowHarness.ServerIp, 5683, [1]);
        h.Udp(FlowHarness.ClientIp, 40000, FlowHarness.ServerIp, 5683, []); // empty datagram: not offered
        h.Udp(FlowHarness.ClientIp, 40000, FlowHarness.ServerIp, 5683, [2]);
        Assert.Equal(2, h.Factory.Calls.Count);
        Assert.Equal(new byte[] { 2 }, h.Dissector.Datagrams.Single().Data);
    }
}
