using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Tests.Flows;

public class FlowLifecycleTests
{
    private const long Second = PacketTime.NanosPerSecond;

    [Fact]
    public void FinBothWays_ClosesTheFlowAfterTheClosedTimeout()
    {
        var h = new FlowHarness();
        h.Handshake(100, 500);
        h.C(101, [1, 2], ack: 501);
        h.Seg(true, 103, 501, TcpFlags.Fin | TcpFlags.Ack);
        h.Seg(false, 501, 104, TcpFlags.Fin | TcpFlags.Ack);
        h.Seg(true, 104, 502, TcpFlags.Ack);
        h.Table.Advance(h.Now + 4 * Second);
        Assert.Equal(1, h.Table.Count);
        Assert.Empty(h.Dissector.Closes);
        h.Table.Advance(h.Now + 6 * Second);
        Assert.Equal([FlowCloseReason.Closed], h.Dissector.Closes);
        Assert.Equal(0, h.Table.Count);
        Assert.Equal(1, h.Table.Stats.FlowsClosed);
        Assert.Equal(0, h.Table.Stats.ActiveFlows);
    }

    [Fact]
    public void FinOneWay_KeepsTheFlowLive()
    {
        var h = new FlowHarness();
        h.Handshake(100, 500);
        h.C(101, [1], ack: 501);
        h.Seg(true, 102, 501, TcpFlags.Fin | TcpFlags.Ack);
        h.Table.Advance(h.Now + 60 * Second);
        Assert.Equal(1, h.Table.Count);
        h.S(501, [7], ack: 103); // a half-closed connection still carries data the other way
        Assert.Equal(new byte[] { 7 }, h.Dissector.Stream(Direction.ToClient));
    }

    [Fact]
    public void Rst_ClosesTheFlowAndLaterDataIsIgnored()
    {
        var h = new FlowHarness();
        h.Handshake(100, 500);
        h.C(101, [1], ack: 501);
        h.Seg(false, 501, 102, TcpFlags.Rst | TcpFlags.Ack);
        h.C(102, [2], ack: 501);
        Assert.Equal(new byte[] { 1 }, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(1, h.Table.Stats.PacketsAfterReset);
        h.Table.Advance(h.Now + 6 * Second);
        Assert.Equal([FlowCloseReason.Closed], h.Dissector.Closes);
        Assert.Equal(1, h.Table.Stats.FlowsClosed);
    }

    [Fact]
    public void IdleTcpAndUdpFlows_TimeOutWithTheirOwnTimeouts()
    {
        var h = new FlowHarness();
        h.Handshake(100, 500);
        h.C(101, [1], ack: 501);
        h.Udp(FlowHarness.ClientIp, 40000, FlowHarness.ServerIp, 5683, [1]);
        long t = h.Now;
        h.Table.Advance(t + 119 * Second);
        Assert.Equal(2, h.Table.Count);
        h.Table.Advance(t + 121 * Second);
        Assert.Equal(1, h.Table.Count);
        Assert.Equal([FlowCloseReason.IdleTimeout], h.Factory.Created[1].Closes);
        h.Table.Advance(t + 599 * Second);
        Assert.Equal(1, h.Table.Count);
        h.Table.Advance(t + 601 * Second);
        Assert.Equal(0, h.Table.Count);
        Assert.Equal([FlowCloseReason.IdleTimeout], h.Factory.Created[0].Closes);
        Assert.Equal(2, h.Table.Stats.FlowsTimedOut);
    }

    [Fact]
    public void PacketOnAFlowIdleForLongerThanTheTimeout_StartsANewFlow()
    {
        var h = new FlowHarness();
        FlowContext first = h.Udp(FlowHarness.ClientIp, 40000, FlowHarness.ServerIp, 5683, [1])!;
        long firstId = first.FlowId;
        h.Now += 200 * Second;
        FlowContext second = h.Udp(FlowHarness.ClientIp, 40000, FlowHarness.ServerIp, 5683, [2])!;
        Assert.Equal(2, second.FlowId);
        Assert.NotEqual(firstId, second.FlowId);
        Assert.Equal([FlowCloseReason.IdleTimeout], h.Factory.Created[0].Closes);
        Assert.Equal(1, h.Table.Count);
    }

    [Fact]
    public void MaxFlows_EvictsTheLeastRecentlySeenFlow()
    {
        var h = new FlowHarness(new FlowTableOptions { MaxFlows = 2 });
        h.Udp(FlowHarness.ClientIp, 40001, FlowHarness.ServerIp, 5683, [1]); // flow 1
        h.Handshake(100, 500, clientPort: 40002);                          // flow 2
        h.Udp(FlowHarness.ClientIp, 40001, FlowHarness.ServerIp, 5683, [1]); // flow 1 is now the most recent
        h.Udp(FlowHarness.ClientIp, 40003, FlowHarness.ServerIp, 5683, [1]); // flow 6 evicts flow 2
        Assert.Equal(2, h.Table.Count);
        Assert.Equal(1, h.Table.Stats.FlowsEvicted);
        Assert.Equal(2, h.Table.Stats.ActiveFlows);
        h.Table.CloseAll(h.Now);
        Assert.Equal(["1: datagram ToServer 1", "1: datagram ToServer 1", "6: datagram ToServer 1", "1: close EndOfCapture", "6: close EndOfCapture"], h.Factory.Log);
    }

    [Fact]
    public void MaxFlows_EvictionTellsTheDissector()
    {
        var h = new FlowHarness(new FlowTableOptions { MaxFlows = 1 });
        h.Udp(FlowHarness.ClientIp, 40001, FlowHarness.ServerIp, 5683, [1]);
        h.Udp(FlowHarness.ClientIp, 40002, FlowHarness.ServerIp, 5683, [1]);
        Assert.Equal([FlowCloseReason.Evicted], h.Factory.Created[0].Closes);
        Assert.Equal(1, h.Table.Count);
    }

    [Fact]
    public void MaxFlows_PrefersClosedFlowsOverLiveOnes()
    {
        var h = new FlowHarness(new FlowTableOptions { MaxFlows = 2 });
        h.Udp(FlowHarness.ClientIp, 40001, FlowHarness.ServerIp, 5683, [1]); // older, live
        h.Handshake(100, 500, clientPort: 40002);
        h.Seg(true, 101, 501, TcpFlags.Rst, null, 40002);                     // newer, but reset
        h.Udp(FlowHarness.ClientIp, 40003, FlowHarness.ServerIp, 5683, [1]);
        Assert.Equal(1, h.Table.Stats.FlowsClosed);
        Assert.Equal(0, h.Table.Stats.FlowsEvicted);
        Assert.Empty(h.Factory.Created[0].Closes);
    }

    [Fact]
    public void NewSynOnAFinishedFlow_StartsANewConnection()
    {
        var h = new FlowHarness();
        h.Handshake(100, 500);
        h.C(101, [1], ack: 501);
        h.Seg(true, 102, 501, TcpFlags.Fin | TcpFlags.Ack);
        h.Seg(false, 501, 103, TcpFlags.Fin | TcpFlags.Ack);
        FlowContext again = h.Seg(true, 100, 0, TcpFlags.Syn)!; // retransmitted old SYN: same ISN, same flow
        Assert.Equal(1, again.FlowId);
        FlowContext reused = h.Seg(true, 90_000, 0, TcpFlags.Syn)!;
        Assert.Equal(8, reused.FlowId);
        Assert.True(reused.OrientationFromHandshake);
        Assert.Equal([FlowCloseReason.Closed], h.Factory.Created[0].Closes);
        Assert.Equal(1, h.Table.Count);
        h.Seg(false, 7000, 90_001, TcpFlags.Syn | TcpFlags.Ack);
        h.C(90_001, [42], ack: 7001);
        Assert.Equal(new byte[] { 42 }, h.Factory.Created[1].Stream(Direction.ToServer));
        Assert.Equal(2, h.Table.Stats.FlowsCreated);
    }

    [Fact]
    public void NewSynOnALiveFlow_DoesNotSplitIt()
    {
        var h = new FlowHarness();
        h.Handshake(100, 500);
        h.C(101, [1], ack: 501);
        h.Seg(true, 5, 0, TcpFlags.Syn);
        Assert.Equal(1, h.Table.Stats.FlowsCreated);
    }

    [Fact]
    public void CloseAll_ClosesInAscendingFlowIdOrderRegardlessOfRecency()
    {
        var h = new FlowHarness();
        h.Udp(FlowHarness.ClientIp, 40001, FlowHarness.ServerIp, 5683, [1]);  // flow 1
        h.Handshake(100, 500, clientPort: 40002);                           // flow 2
        h.Seg(true, 101, 501, TcpFlags.Ack, [9], 40002);
        h.Udp(FlowHarness.ClientIp, 40003, FlowHarness.ServerIp, 5683, [1]);  // flow 6
        h.Udp(FlowHarness.ClientIp, 40001, FlowHarness.ServerIp, 5683, [2]);  // flow 1 touched last
        h.Factory.Log.Clear();
        h.Table.CloseAll(h.Now);
        Assert.Equal(["1: close EndOfCapture", "2: close EndOfCapture", "6: close EndOfCapture"], h.Factory.Log);
        Assert.Equal(3, h.Table.Stats.FlowsEndOfCapture);
        Assert.Equal(0, h.Table.Count);
    }

    [Fact]
    public void Advance_ClosesExpiredFlowsOfAllKindsInAscendingFlowIdOrder()
    {
        var h = new FlowHarness(new FlowTableOptions { TcpIdleTimeoutNs = 10 * Second, UdpIdleTimeoutNs = 10 * Second, TcpClosedTimeoutNs = 10 * Second });
        h.Udp(FlowHarness.ClientIp, 40003, FlowHarness.ServerIp, 5683, [1]);            // flow 1 (UDP)
        h.Handshake(100, 500, clientPort: 40002);                                     // flow 2 (closed below)
        h.Seg(true, 101, 501, TcpFlags.Ack, [9], 40002);
        h.Seg(true, 102, 501, TcpFlags.Rst, null, 40002);
        h.Seg(true, 7, 0, TcpFlags.Ack, [3], 50000, 502);                            // flow 7 (TCP live)
        h.Udp(FlowHarness.ClientIp, 40003, FlowHarness.ServerIp, 5683, [2]);            // flow 1 touched
        h.Factory.Log.Clear();
        h.Table.Advance(h.Now + 11 * Second);
        Assert.Equal(["1: close IdleTimeout", "2: close Closed", "7: close IdleTimeout"], h.Factory.Log);
    }

    [Fact]
    public void Advance_TicksDissectedFlowsInFlowIdOrderAtTheTickInterval()
    {
        var h = new FlowHarness();
        h.Handshake(100, 500, clientPort: 40001);                           // flow 1, no payload yet: no dissector
        h.Udp(FlowHarness.ClientIp, 40002, FlowHarness.ServerIp, 5683, [1]); // flow 4, dissected first
        h.Seg(true, 101, 501, TcpFlags.Ack, [9], 40001);                     // flow 1 dissected now
        h.Factory.Log.Clear();
        long t = h.Now;
        h.Table.Advance(t);
        h.Table.Advance(t + (Second / 2)); // within the interval: no tick
        h.Table.Advance(t + Second);
        Assert.Equal([$"1: tick {t}", $"4: tick {t}", $"1: tick {t + Second}", $"4: tick {t + Second}"], h.Factory.Log);
    }

    [Fact]
    public void Advance_WithZeroTickInterval_TicksEveryCall()
    {
        var h = new FlowHarness(new FlowTableOptions { TickIntervalNs = 0 });
        h.Udp(FlowHarness.ClientIp, 40002, FlowHarness.ServerIp, 5683, [1]);
        h.Table.Advance(h.Now);
        h.Table.Advance(h.Now);
        Assert.Equal(2, h.Dissector.Ticks);
    }

    [Fact]
    public void Stats_CountFlowsByTransport()
    {
        var h = new FlowHarness();
        h.Handshake(100, 500);
        h.Seg(true, 1, 1, TcpFlags.Ack, [1], 40000, 502);
        h.Udp(FlowHarness.ClientIp, 40002, FlowHarness.ServerIp, 5683, [1]);
        h.Feed(new DecodedPacket { Network = NetworkLayer.Arp }, []);
        FlowTableStats s = h.Table.Stats;
        Assert.Equal(3, s.FlowsCreated);
        Assert.Equal(2, s.TcpFlows);
        Assert.Equal(1, s.UdpFlows);
        Assert.Equal(3, s.ActiveFlows);
        Assert.Equal(1, s.MidstreamPickups);
        Assert.Equal(1, s.PacketsNotTcpUdp);
        Assert.Equal(3, h.Table.Count);
    }

    [Fact]
    public void ManyFlows_ReuseFlowContextsFromThePool()
    {
        var h = new FlowHarness(new FlowTableOptions { MaxFlows = 8 });
        var seen = new HashSet<FlowContext>(ReferenceEqualityComparer.Instance);
        for (ushort port = 40000; port < 40100; port++)
        {
            seen.Add(h.Udp(FlowHarness.ClientIp, port, FlowHarness.ServerIp, 5683, [1])!);
        }
        Assert.Equal(8, h.Table.Count);
        Assert.True(seen.Count <= 9, $"{seen.Count} contexts for 100 flows");
        Assert.Equal(92, h.Table.Stats.FlowsEvicted);
    }
}
