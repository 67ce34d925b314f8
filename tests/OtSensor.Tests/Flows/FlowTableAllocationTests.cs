using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Tests.Flows;

public class FlowTableAllocationTests
{
    private sealed class NullDissector : IFlowDissector
    {
        public long Bytes;

        public void OnStreamData(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta) => Bytes += data.Length;
        public void OnStreamGap(FlowContext flow, Direction direction, long missingBytes, in PacketMeta meta) { }
        public void OnDatagram(FlowContext flow, Direction direction, ReadOnlySpan<byte> data, in PacketMeta meta) => Bytes += data.Length;
        public void OnTick(FlowContext flow, long nowNs) { }
        public void OnClose(FlowContext flow, FlowCloseReason reason, long nowNs) { }
    }

    private sealed class Factory(IFlowDissector dissector) : IDissectorFactory
    {
        public DissectorChoice Select(FlowContext flow, Direction direction, ReadOnlySpan<byte> payload, out IFlowDissector? d)
        {
            d = dissector;
            return DissectorChoice.Selected;
        }
    }

    [Fact]
    public void Process_WarmFlows_AllocatesNothingPerPacket()
    {
        var dissector = new NullDissector();
        var table = new FlowTable(new FlowTableOptions(), new Factory(dissector));
        byte[] frame = new byte[14 + 100];
        long packet = 0;
        long now = PacketTime.NanosPerSecond;
        uint seq = 1;

        void Round(int count)
        {
            for (int i = 0; i < count; i++)
            {
                ushort port = (ushort)(40000 + (i % 16));
                // A pair of segments out of order, then a datagram.
                var second = FlowHarness.Tcp(FlowHarness.ClientIp, port, FlowHarness.ServerIp, 502, seq + 100, 0, TcpFlags.Psh, 100);
                second.PayloadOffset = 14;
                var first = second;
                first.Seq = seq;
                var udp = new DecodedPacket { Transport = TransportLayer.Udp, SrcIp = FlowHarness.ClientIp, DstIp = FlowHarness.ServerIp, SrcPort = port, DstPort = 5683, PayloadOffset = 14, PayloadLength = 100 };
                if (i % 16 == 15)
                {
                    seq += 200;
                }
                table.Process(second, frame, new PacketMeta(now += 1000, ++packet));
                table.Process(first, frame, new PacketMeta(now += 1000, ++packet));
                table.Process(udp, frame, new PacketMeta(now += 1000, ++packet));
                if (i % 64 == 0)
                {
                    table.Advance(now);
                }
            }
        }

        Round(64);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Round(2000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // 6,000 packets: nothing per packet. A few KB may come from ArrayPool refilling buckets that a GC
        // (caused by tests running in parallel) trimmed; that is per pool trim, not per packet.
        Assert.True(allocated < 16 * 1024, $"allocated {allocated} bytes for 6000 packets");
        Assert.Equal(32, table.Count);
        Assert.Equal(0, table.Stats.Gaps);
        Assert.True(dissector.Bytes > 2000 * 300 - 1);
    }
}
