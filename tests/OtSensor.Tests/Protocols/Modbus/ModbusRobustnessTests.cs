using OtSensor.Flows;
using OtSensor.Protocols.Modbus;
using static OtSensor.Tests.Protocols.Modbus.ModbusTestData;

namespace OtSensor.Tests.Protocols.Modbus;

public class ModbusRobustnessTests
{
    [Fact]
    public void HostileBytes_NeverThrow_AndStayBounded()
    {
        var rng = new Random(7);
        var values = new int[2048];
        var valid = CapturePairs.SelectMany(p => Hex(p.Request).Concat(Hex(p.Response))).ToArray();
        for (int round = 0; round < 50; round++)
        {
            var (session, sink, flow) = NewSession(new ModbusOptions { MaxPendingPerFlow = 8, MaxResyncScanBytes = 2048 });
            for (int i = 0; i < 200; i++)
            {
                var dir = (Direction)rng.Next(2);
                var chunk = new byte[rng.Next(0, 400)];
                if (rng.Next(3) == 0)
                {
                    rng.NextBytes(chunk);
                }
                else
                {
                    // Mutated valid traffic: flips and cuts.
                    int start = rng.Next(valid.Length);
                    for (int j = 0; j < chunk.Length; j++)
                    {
                        chunk[j] = valid[(start + j) % valid.Length];
                    }

                    if (chunk.Length > 0)
                    {
                        chunk[rng.Next(chunk.Length)] ^= (byte)rng.Next(256);
                    }
                }

                session.OnStreamData(flow, dir, chunk, Meta(i + 1));
                if (rng.Next(20) == 0)
                {
                    session.OnStreamGap(flow, dir, rng.Next(1, 100), Meta(i + 1));
                }

                if (rng.Next(10) == 0)
                {
                    session.OnTick(flow, (i + 1) * 1_000_000L);
                }

                Assert.InRange(session.PendingCount, 0, 8);
            }

            session.OnClose(flow, FlowCloseReason.Closed, 0);
            Assert.Equal(0, session.PendingCount);
            foreach (var t in sink.Transactions)
            {
                Assert.True(t.Request.Length <= ModbusFraming.MaxAduLength && t.Response.Length <= ModbusFraming.MaxAduLength);
                ModbusTransactionFields.TryExtract(t.Request, t.Response, out var f);
                Assert.True(f.CopyValues(values) <= 2000);
            }
        }
    }
}
