using OtSensor.Flows;
using OtSensor.Protocols.Coap;
using static OtSensor.Tests.Protocols.Coap.CoapTestData;

namespace OtSensor.Tests.Protocols.Coap;

public class CoapRobustnessTests
{
    private static byte[] Mutate(Random rng, byte[] msg)
    {
        var copy = (byte[])msg.Clone();
        int flips = 1 + rng.Next(3);
        for (int i = 0; i < flips; i++) copy[rng.Next(copy.Length)] = (byte)rng.Next(256);
        return rng.Next(4) == 0 ? copy.AsSpan(0, rng.Next(copy.Length + 1)).ToArray() : copy;
    }

    [Fact]
    public void MutatedTraffic_NeverThrows_AndEveryEventIsValidJson()
    {
        var seeds = new[]
        {
            Msg(Con, Get, 1, [1, 2], [(CoapOptionNumber.Observe, []), Path("a"), (CoapOptionNumber.Block2, Uint(BlockValue(0, false, 2)))]),
            Msg(Ack, Content, 1, [1, 2], [(CoapOptionNumber.Observe, Uint(3)), (CoapOptionNumber.ContentFormat, Uint(40)), (CoapOptionNumber.Block2, Uint(BlockValue(0, true, 0)))], Str("</a>;rt=\"x\";obs,</b>")),
            Msg(Con, Content, 7, [1, 2], [(CoapOptionNumber.Observe, Uint(4))], Str("v")),
            Msg(Ack, 0, 7),
            Msg(Rst, 0, 7),
            Msg(Con, Post, 9, [3], [Path("up"), (CoapOptionNumber.Block1, Uint(BlockValue(1, true, 0)))], new byte[16]),
            Msg(Non, Put, 10, [4], [(CoapOptionNumber.UriQuery, Str("a=b")), (2049, [1])], Str("x")),
        };
        var rng = new Random(1234);
        var (s, sink, flow) = NewSession(new CoapOptions { MaxPending = 16, MaxObserveRelations = 4, MaxTransfers = 2 });
        for (int i = 0; i < 20_000; i++)
        {
            var msg = rng.Next(3) == 0 ? seeds[rng.Next(seeds.Length)] : Mutate(rng, seeds[rng.Next(seeds.Length)]);
            s.OnDatagram(flow, rng.Next(2) == 0 ? Direction.ToServer : Direction.ToClient, msg, Meta(i + 1));
            if (i % 1000 == 0) s.OnTick(flow, (i + 1) * 1_000_000L);
            Assert.InRange(s.PendingCount, 0, 16);
            Assert.InRange(s.ObserveRelationCount, 0, 4);
            Assert.InRange(s.TransferCount, 0, 2);
        }

        s.OnClose(flow, FlowCloseReason.EndOfCapture, long.MaxValue / 2);
        Assert.NotEmpty(sink.Events);
        foreach (var e in sink.Events)
        {
            Assert.Equal(System.Text.Json.JsonValueKind.Object, e.Json.ValueKind);
            Assert.True(e.Record.HasRequest || e.Record.HasResponse);
        }

        var report = CoapCaptureTests.Report(sink);
        report.WriteText(new StringWriter());
    }
}
