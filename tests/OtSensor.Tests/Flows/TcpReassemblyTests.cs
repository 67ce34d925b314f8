using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Tests.Flows;

public class TcpReassemblyTests
{
    private const uint Isn = 1000;
    private const uint Data0 = Isn + 1;

    private static FlowHarness Connected(FlowTableOptions? options = null)
    {
        var h = new FlowHarness(options);
        h.Handshake(Isn, 5000);
        return h;
    }

    [Fact]
    public void InOrderSegments_AreDeliveredImmediatelyFromTheFrame()
    {
        var h = Connected();
        byte[] data = FlowHarness.Bytes(30);
        int fromFrame = 0;
        h.C(Data0, data[..10]);
        h.Dissector.OnData = span =>
        {
            if (FlowHarness.PointsInto(span, h.LastFrame))
            {
                fromFrame++;
            }
        };
        h.C(Data0 + 10, data[10..20]);
        Assert.Equal(data[..20], h.Dissector.Stream(Direction.ToServer));
        h.C(Data0 + 20, data[20..]);
        Assert.Equal(data, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(2, fromFrame);
        Assert.Equal(["data ToServer 10", "data ToServer 10", "data ToServer 10"], h.Dissector.Events);
        Assert.Equal(30, h.Dissector.Stream(Direction.ToServer).Length);
    }

    [Fact]
    public void BothDirections_AreReassembledSeparately()
    {
        var h = Connected();
        h.C(Data0, [1, 2, 3], ack: 5001);
        h.S(5001, [9, 8], ack: Data0 + 3);
        h.C(Data0 + 3, [4], ack: 5003);
        FlowContext flow = h.S(5003, [7], ack: Data0 + 4)!;
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(new byte[] { 9, 8, 7 }, h.Dissector.Stream(Direction.ToClient));
        Assert.Equal(4, flow.BytesToServer);
        Assert.Equal(3, flow.BytesToClient);
        Assert.Equal(0, h.Table.Stats.Gaps);
    }

    [Fact]
    public void OneBytePerSegment_DeliversTheWholeStream()
    {
        var h = Connected();
        byte[] data = FlowHarness.Bytes(200);
        for (int i = 0; i < data.Length; i++)
        {
            h.C(Data0 + (uint)i, [data[i]]);
        }
        Assert.Equal(data, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(0, h.Table.Stats.OutOfOrderSegments);
    }

    [Fact]
    public void ReversedSegments_AreBufferedAndDeliveredWhenTheHoleFills()
    {
        var h = Connected();
        byte[] data = FlowHarness.Bytes(100);
        h.C(Data0, data[..1]); // selects the dissector
        for (int i = 9; i >= 1; i--)
        {
            h.C(Data0 + (uint)(i * 10), data[(i * 10)..(i * 10 + 10)]);
            if (i > 1)
            {
                Assert.Single(h.Dissector.Events);
            }
        }
        h.C(Data0 + 1, data[1..10]);
        Assert.Equal(data, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(9, h.Table.Stats.OutOfOrderSegments);
        Assert.Equal(0, h.Table.Stats.Gaps);
    }

    [Fact]
    public void ReversedOneByteSegments_AreReassembled()
    {
        var h = Connected();
        byte[] data = FlowHarness.Bytes(300);
        for (int i = data.Length - 1; i >= 0; i--)
        {
            h.C(Data0 + (uint)i, [data[i]]);
        }
        Assert.Equal(data, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(299, h.Table.Stats.OutOfOrderSegments);
    }

    [Fact]
    public void Retransmission_IsDroppedAndCounted()
    {
        var h = Connected();
        h.C(Data0, [1, 2, 3, 4]);
        h.C(Data0, [1, 2, 3, 4]);
        h.C(Data0 + 1, [2, 3]);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(2, h.Table.Stats.Retransmissions);
        Assert.Equal(6, h.Table.Stats.RetransmittedBytes);
    }

    [Fact]
    public void PartialOverlapWithDeliveredData_DeliversOnlyTheNewSuffix()
    {
        var h = Connected();
        byte[] data = FlowHarness.Bytes(15);
        h.C(Data0, data[..10]);
        h.C(Data0 + 5, data[5..15]);
        Assert.Equal(data, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(["data ToServer 10", "data ToServer 5"], h.Dissector.Events);
        Assert.Equal(1, h.Table.Stats.Overlaps);
        Assert.Equal(5, h.Table.Stats.RetransmittedBytes);
        Assert.Equal(0, h.Table.Stats.Retransmissions);
    }

    [Fact]
    public void ConflictingOutOfOrderCopy_FirstCopyWins()
    {
        var h = Connected();
        h.C(Data0, [0]);
        h.C(Data0 + 10, FlowHarness.Fill(10, 0xAA));
        h.C(Data0 + 10, FlowHarness.Fill(10, 0xBB)); // same range, other bytes
        h.C(Data0 + 15, FlowHarness.Fill(10, 0xCC)); // half over the first copy, half new
        h.C(Data0 + 1, FlowHarness.Fill(9, 0x11));
        byte[] expected = [0, .. FlowHarness.Fill(9, 0x11), .. FlowHarness.Fill(10, 0xAA), .. FlowHarness.Fill(5, 0xCC)];
        Assert.Equal(expected, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(2, h.Table.Stats.ConflictingOverlaps);
        Assert.Equal(1, h.Table.Stats.Retransmissions);
        Assert.Equal(1, h.Table.Stats.Overlaps);
    }

    [Fact]
    public void InOrderSegmentOverlappingBufferedData_BufferedBytesWin()
    {
        var h = Connected();
        h.C(Data0, [0]);
        h.C(Data0 + 5, FlowHarness.Fill(5, 0xAA));
        h.C(Data0 + 1, FlowHarness.Fill(12, 0xBB)); // fills the hole, overlaps [5,10), then 3 new bytes
        byte[] expected = [0, .. FlowHarness.Fill(4, 0xBB), .. FlowHarness.Fill(5, 0xAA), .. FlowHarness.Fill(3, 0xBB)];
        Assert.Equal(expected, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(1, h.Table.Stats.ConflictingOverlaps);
        Assert.Equal(1, h.Table.Stats.Overlaps);
    }

    [Fact]
    public void IdenticalOverlap_IsNotAConflict()
    {
        var h = Connected();
        byte[] data = FlowHarness.Bytes(30);
        h.C(Data0, data[..1]);
        h.C(Data0 + 10, data[10..20]);
        h.C(Data0 + 5, data[5..25]);
        h.C(Data0 + 1, data[1..8]);
        Assert.Equal(data[..25], h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(0, h.Table.Stats.ConflictingOverlaps);
    }

    [Fact]
    public void SequenceWraparound_IsHandled()
    {
        var h = new FlowHarness();
        const uint isn = 0xFFFF_FFF0;
        h.Handshake(isn, 0xFFFF_FFFF);
        byte[] data = FlowHarness.Bytes(64);
        uint s0 = unchecked(isn + 1);
        h.C(s0, data[..10]);
        h.C(unchecked(s0 + 40), data[40..64]); // after the wrap, out of order
        h.C(unchecked(s0 + 10), data[10..40]); // crosses 2^32
        h.C(unchecked(s0 + 20), data[20..30]); // retransmission across the wrap
        Assert.Equal(data, h.Dissector.Stream(Direction.ToServer));
        h.S(0, [5, 6], ack: unchecked(s0 + 64), flags: TcpFlags.Ack); // server ISN 0xFFFFFFFF: first data at seq 0
        Assert.Equal(new byte[] { 5, 6 }, h.Dissector.Stream(Direction.ToClient));
        Assert.Equal(1, h.Table.Stats.Retransmissions);
        Assert.Equal(0, h.Table.Stats.Gaps);
    }

    [Fact]
    public void BufferCapExceeded_ReportsTheHoleAsGapThenDeliversBufferedData()
    {
        var h = Connected(new FlowTableOptions { MaxOutOfOrderBytesPerDirection = 100 });
        byte[] data = FlowHarness.Bytes(140);
        h.C(Data0, data[..10]);
        h.C(Data0 + 20, data[20..80]);  // 60 bytes buffered after a 10-byte hole
        h.C(Data0 + 80, data[80..140]); // 60 more: over the cap
        Assert.Equal(["data ToServer 10", "gap ToServer 10", "data ToServer 60", "data ToServer 60"], h.Dissector.Events);
        Assert.Equal([.. data[..10], .. data[20..]], h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(1, h.Table.Stats.OutOfOrderOverflows);
        Assert.Equal(1, h.Table.Stats.Gaps);
        Assert.Equal(10, h.Table.Stats.GapBytes);
        // The lost bytes arriving late are old news.
        h.C(Data0 + 10, data[10..20]);
        Assert.Equal(1, h.Table.Stats.Retransmissions);
    }

    [Fact]
    public void SegmentCapExceeded_ReportsAGap()
    {
        var h = Connected(new FlowTableOptions { MaxOutOfOrderSegmentsPerDirection = 3 });
        h.C(Data0, [0]);
        for (uint i = 0; i < 4; i++)
        {
            h.C(Data0 + 10 + (2 * i), [(byte)i]); // 4 separate one-byte islands
        }
        Assert.Equal(1, h.Table.Stats.OutOfOrderOverflows);
        Assert.Equal("gap ToServer 9", h.Dissector.Events[1]);
    }

    [Fact]
    public void PeerAckBeyondTheHole_ReportsTheGapAndDeliversBufferedData()
    {
        var h = Connected();
        h.C(Data0, [1, 2, 3], ack: 5001);
        h.C(Data0 + 13, [4, 5, 6], ack: 5001); // 10 bytes lost on the capture
        Assert.Single(h.Dissector.Events);
        h.S(5001, [], ack: Data0 + 8, flags: TcpFlags.Ack); // ack inside the hole: maybe still in flight
        Assert.Single(h.Dissector.Events);
        h.S(5001, [], ack: Data0 + 16, flags: TcpFlags.Ack); // the server got the hole's bytes
        Assert.Equal(["data ToServer 3", "gap ToServer 10", "data ToServer 3"], h.Dissector.Events);
        Assert.Equal(1, h.Table.Stats.Gaps);
        Assert.Equal(10, h.Table.Stats.GapBytes);
    }

    [Fact]
    public void PeerAckBeyondEverythingTheSenderSent_IsNotTrusted()
    {
        var h = Connected();
        h.C(Data0, [1, 2, 3]);
        h.C(Data0 + 13, [4, 5, 6]);
        h.S(5001, [], ack: Data0 + 1_000_000, flags: TcpFlags.Ack);
        Assert.Single(h.Dissector.Events);
        h.C(Data0 + 3, FlowHarness.Bytes(10)); // the hole arrives after all
        Assert.Equal(16, h.Dissector.Stream(Direction.ToServer).Length);
        Assert.Equal(0, h.Table.Stats.Gaps);
    }

    [Fact]
    public void BufferedDataAfterAHole_IsFlushedWithAGapAtEndOfCapture()
    {
        var h = Connected();
        h.C(Data0, [1, 2]);
        h.C(Data0 + 7, [3, 4]);
        h.C(Data0 + 12, [5]);
        h.Table.CloseAll(h.Now);
        Assert.Equal(
            ["data ToServer 2", "gap ToServer 5", "data ToServer 2", "gap ToServer 3", "data ToServer 1", "close EndOfCapture"],
            h.Dissector.Events);
        Assert.Equal(2, h.Table.Stats.Gaps);
        Assert.Equal(8, h.Table.Stats.GapBytes);
        Assert.Equal(0, h.Table.Count);
    }

    [Fact]
    public void BytesMissingBeforeAFin_AreAGapAtClose()
    {
        var h = Connected();
        h.C(Data0, [1, 2]);
        h.C(Data0 + 6, [], flags: TcpFlags.Fin); // FIN at offset 6: bytes 2..5 never seen
        h.Table.CloseAll(h.Now);
        Assert.Equal(["data ToServer 2", "gap ToServer 4", "close EndOfCapture"], h.Dissector.Events);
    }

    [Fact]
    public void SynData_IsDelivered()
    {
        var h = new FlowHarness();
        h.Seg(true, Isn, 0, TcpFlags.Syn, [1, 2]);
        h.Seg(false, 5000, Isn + 3, TcpFlags.Syn | TcpFlags.Ack);
        h.C(Data0 + 2, [3]);
        h.Seg(true, Isn, 0, TcpFlags.Syn, [1, 2]); // retransmitted SYN with data
        Assert.Equal(new byte[] { 1, 2, 3 }, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(1, h.Table.Stats.Retransmissions);
    }

    [Fact]
    public void MidstreamPickup_StartsAtTheFirstSegmentSeen()
    {
        var h = new FlowHarness();
        h.Seg(true, 777_777, 1, TcpFlags.Ack | TcpFlags.Psh, [1, 2], serverPort: 502);
        h.Seg(true, 777_779, 1, TcpFlags.Ack | TcpFlags.Psh, [3], serverPort: 502);
        h.Seg(false, 1, 777_780, TcpFlags.Ack | TcpFlags.Psh, [4], serverPort: 502);
        Assert.Equal(new byte[] { 1, 2, 3 }, h.Dissector.Stream(Direction.ToServer));
        Assert.Equal(new byte[] { 4 }, h.Dissector.Stream(Direction.ToClient));
    }

    [Fact]
    public void RandomSegmentation_ReorderingAndDuplicates_ReproduceTheStream()
    {
        var rng = new Random(12345);
        for (int round = 0; round < 30; round++)
        {
            var h = new FlowHarness();
            uint isn = (uint)rng.NextInt64(0, uint.MaxValue);
            h.Handshake(isn, 5000);
            byte[] data = new byte[rng.Next(1, 3000)];
            rng.NextBytes(data);
            var segments = new List<(int Start, int Length)>();
            for (int pos = 0; pos < data.Length;)
            {
                int len = Math.Min(data.Length - pos, rng.Next(1, 200));
                segments.Add((pos, len));
                if (rng.Next(4) == 0)
                {
                    // An overlapping re-segmentation of the same bytes.
                    int s = Math.Max(0, pos - rng.Next(0, 50));
                    segments.Add((s, Math.Min(data.Length - s, len + rng.Next(0, 100))));
                }
                pos += len;
            }
            // Local shuffles: reorder within small windows, so out-of-order data stays under the cap.
            for (int i = 0; i < segments.Count; i++)
            {
                int j = Math.Min(segments.Count - 1, i + rng.Next(0, 6));
                (segments[i], segments[j]) = (segments[j], segments[i]);
            }
            segments.Add((0, data.Length)); // a final full retransmission fills whatever hole is left
            foreach (var (start, length) in segments)
            {
                h.C(unchecked(isn + 1 + (uint)start), data[start..(start + length)]);
            }
            Assert.Equal(data, h.Dissector.Stream(Direction.ToServer));
            Assert.Equal(0, h.Table.Stats.Gaps);
            Assert.Equal(0, h.Table.Stats.ConflictingOverlaps);
        }
    }
}
