using System.Text;
using OtSensor.Flows;
using OtSensor.Protocols.Modbus;
using static OtSensor.Tests.Protocols.Modbus.ModbusTestData;

namespace OtSensor.Tests.Protocols.Modbus;

public class ModbusSessionTests
{
    private static List<(byte[] Adu, Direction Dir)> CaptureAdus()
    {
        var list = new List<(byte[], Direction)>();
        foreach (var (req, resp) in CapturePairs)
        {
            list.Add((Hex(req), Direction.ToServer));
            list.Add((Hex(resp), Direction.ToClient));
        }

        return list;
    }

    private static string Describe(RecordedTransaction t)
        => $"{t.Record.Key:x}|{t.Record.HasRequest}|{t.Record.HasResponse}|{t.Record.RequestPacket}|{t.Record.ResponsePacket}|{t.Record.RequestTs}|{t.Record.ResponseTs}|{t.Record.Anomalies:x}|{Convert.ToHexString(t.Request)}|{Convert.ToHexString(t.Response)}";

    private static List<string> Run(Action<ModbusSession, FlowContext> feed, out RecordingSink sink)
    {
        var (session, s, flow) = NewSession();
        feed(session, flow);
        session.OnClose(flow, FlowCloseReason.Closed, 0);
        sink = s;
        return s.Transactions.Select(Describe).ToList();
    }

    [Fact]
    public void CapturePairs_WholeDelivery_GiveOneMatchedTransactionEach()
    {
        var adus = CaptureAdus();
        var (session, sink, flow) = NewSession();
        for (int i = 0; i < adus.Count; i++)
        {
            session.OnStreamData(flow, adus[i].Dir, adus[i].Adu, Meta(i + 1));
        }

        Assert.Equal(ProtocolId.Modbus, flow.Protocol);
        Assert.Equal(CapturePairs.Length, sink.Transactions.Count);
        Assert.Empty(sink.Anomalies);
        for (int i = 0; i < CapturePairs.Length; i++)
        {
            var t = sink.Transactions[i];
            Assert.True(t.Record.HasRequest && t.Record.HasResponse);
            Assert.Equal(ProtocolId.Modbus, t.Record.Protocol);
            Assert.Equal(0UL, t.Record.Anomalies);
            Assert.Equal(Hex(CapturePairs[i].Request), t.Request);
            Assert.Equal(Hex(CapturePairs[i].Response), t.Response);
            Assert.Equal((2 * i) + 1, t.Record.RequestPacket);
            Assert.Equal((2 * i) + 2, t.Record.ResponsePacket);
            Assert.Equal(((2 * i) + 1) * 1_000_000L, t.Record.RequestTs);
            var h = ModbusFraming.ReadHeader(t.Request);
            Assert.Equal(h.TransactionId | ((uint)h.UnitId << 16), t.Record.Key);
        }

        Assert.Equal(0, session.PendingCount);
    }

    [Fact]
    public void OneBytePerCall_GivesTheSameTransactions_AsWholeDelivery()
    {
        var adus = CaptureAdus();
        var whole = Run((s, f) =>
        {
            for (int i = 0; i < adus.Count; i++)
            {
                s.OnStreamData(f, adus[i].Dir, adus[i].Adu, Meta(i + 1));
            }
        }, out _);
        var split = Run((s, f) =>
        {
            for (int i = 0; i < adus.Count; i++)
            {
                for (int b = 0; b < adus[i].Adu.Length; b++)
                {
                    s.OnStreamData(f, adus[i].Dir, adus[i].Adu.AsSpan(b, 1), Meta(i + 1));
                }
            }
        }, out var sink);
        Assert.Equal(whole, split);
        Assert.Empty(sink.Anomalies);
    }

    [Fact]
    public void ManyAdusInOneCall_AndRandomSplits_GiveTheSameTransactions()
    {
        var requests = CapturePairs.SelectMany(p => Hex(p.Request)).ToArray();
        var responses = CapturePairs.SelectMany(p => Hex(p.Response)).ToArray();
        var expected = Run((s, f) =>
        {
            s.OnStreamData(f, Direction.ToServer, requests, Meta(1));
            s.OnStreamData(f, Direction.ToClient, responses, Meta(2));
        }, out var sink);
        Assert.Equal(CapturePairs.Length, sink.Transactions.Count);
        Assert.All(sink.Transactions, t => Assert.True(t.Record.HasRequest && t.Record.HasResponse && t.Record.Anomalies == 0));

        var rng = new Random(1234);
        for (int round = 0; round < 20; round++)
        {
            var got = Run((s, f) =>
            {
                Feed(s, f, Direction.ToServer, requests, rng, 1);
                Feed(s, f, Direction.ToClient, responses, rng, 2);
            }, out var sink2);
            Assert.Equal(expected, got);
            Assert.Empty(sink2.Anomalies);
        }

        static void Feed(ModbusSession s, FlowContext f, Direction d, byte[] data, Random rng, long packet)
        {
            int pos = 0;
            while (pos < data.Length)
            {
                int n = Math.Min(data.Length - pos, rng.Next(1, 300));
                s.OnStreamData(f, d, data.AsSpan(pos, n), Meta(packet));
                pos += n;
            }
        }
    }

    [Fact]
    public void UnansweredRequest_IsEmittedOnTickAfterTimeout_WithoutResponse()
    {
        var (session, sink, flow) = NewSession(new ModbusOptions { RequestTimeoutNs = 1_000 });
        session.OnStreamData(flow, Direction.ToServer, Adu(1, 1, "03 0000 0001"), Meta(1, 10_000));
        session.OnTick(flow, 10_500);
        Assert.Empty(sink.Transactions);
        session.OnTick(flow, 11_001);
        var t = Assert.Single(sink.Transactions);
        Assert.True(t.Record.HasRequest);
        Assert.False(t.Record.HasResponse);
        Assert.Empty(t.Response);
        Assert.Equal(0, session.PendingCount);

        // A late response is now unsolicited.
        session.OnStreamData(flow, Direction.ToClient, Adu(1, 1, "03 02 0000"), Meta(2, 12_000));
        Assert.True(ModbusAnomalies.Has(sink.Transactions[1].Record.Anomalies, ModbusAnomaly.UnsolicitedResponse));
    }

    [Fact]
    public void Close_EmitsUnansweredRequests_InRequestOrder()
    {
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, Adu(3, 1, "03 0000 0001"), Meta(1));
        session.OnStreamData(flow, Direction.ToServer, Adu(1, 1, "03 0000 0001"), Meta(2));
        session.OnStreamData(flow, Direction.ToServer, Adu(2, 1, "03 0000 0001"), Meta(3));
        session.OnStreamData(flow, Direction.ToClient, Adu(1, 1, "03 02 0000"), Meta(4));
        session.OnClose(flow, FlowCloseReason.EndOfCapture, 0);
        Assert.Equal([2L, 1L, 3L], sink.Transactions.Select(t => t.Record.RequestPacket).ToArray());
        Assert.True(sink.Transactions[0].Record.HasResponse);
        Assert.False(sink.Transactions[1].Record.HasResponse);
        Assert.False(sink.Transactions[2].Record.HasResponse);
    }

    [Fact]
    public void UnsolicitedResponse_IsATransactionWithoutRequest()
    {
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToClient, Adu(7, 2, "03 02 0001"), Meta(5));
        var t = Assert.Single(sink.Transactions);
        Assert.False(t.Record.HasRequest);
        Assert.True(t.Record.HasResponse);
        Assert.Equal(5, t.Record.ResponsePacket);
        Assert.Empty(t.Request);
        Assert.Equal(7u | (2u << 16), t.Record.Key);
        Assert.Equal(ModbusAnomalies.Bit(ModbusAnomaly.UnsolicitedResponse), t.Record.Anomalies);
    }

    [Fact]
    public void DuplicatePendingTransactionId_EmitsTheOldRequestUnanswered_WithAFlag()
    {
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, Adu(9, 1, "03 0000 0001"), Meta(1));
        session.OnStreamData(flow, Direction.ToServer, Adu(9, 1, "03 0005 0001"), Meta(2));
        var old = Assert.Single(sink.Transactions);
        Assert.Equal(1, old.Record.RequestPacket);
        Assert.False(old.Record.HasResponse);
        Assert.True(ModbusAnomalies.Has(old.Record.Anomalies, ModbusAnomaly.DuplicateTransactionId));
        session.OnStreamData(flow, Direction.ToClient, Adu(9, 1, "03 02 0000"), Meta(3));
        Assert.Equal(2, sink.Transactions[1].Record.RequestPacket);
        Assert.Equal(0UL, sink.Transactions[1].Record.Anomalies);
        // Same tid on another unit is a different transaction.
        session.OnStreamData(flow, Direction.ToServer, Adu(9, 1, "03 0000 0001"), Meta(4));
        session.OnStreamData(flow, Direction.ToServer, Adu(9, 2, "03 0000 0001"), Meta(5));
        Assert.Equal(2, session.PendingCount);
    }

    [Fact]
    public void PendingOverflow_EmitsTheOldestUnanswered_AndCountsIt()
    {
        var (session, sink, flow) = NewSession(new ModbusOptions { MaxPendingPerFlow = 2 });
        for (ushort tid = 1; tid <= 4; tid++)
        {
            session.OnStreamData(flow, Direction.ToServer, Adu(tid, 1, "03 0000 0001"), Meta(tid));
        }

        Assert.Equal(2, session.PendingCount);
        Assert.Equal([1L, 2L], sink.Transactions.Select(t => t.Record.RequestPacket).ToArray());
        Assert.All(sink.Transactions, t => Assert.True(ModbusAnomalies.Has(t.Record.Anomalies, ModbusAnomaly.PendingOverflow)));
    }

    [Fact]
    public void Gap_DropsThePartialAdu_AndResynchronisesOnTheNextHeader()
    {
        var (session, sink, flow) = NewSession();
        var a = Adu(1, 1, "03 0000 0001");
        var b = Adu(2, 1, "10 0001 0002 04 000a 0102");
        var c = Adu(3, 1, "03 0000 0002");
        var d = Adu(4, 1, "06 0001 0003");
        session.OnStreamData(flow, Direction.ToServer, a, Meta(1));
        session.OnStreamData(flow, Direction.ToServer, b.AsSpan(0, 5), Meta(2));
        session.OnStreamGap(flow, Direction.ToServer, 4, Meta(3));
        session.OnStreamData(flow, Direction.ToServer, [.. b.AsSpan(9), .. c, .. d], Meta(4));
        Assert.Equal(3, session.PendingCount);
        Assert.Contains(ModbusAnomaly.StreamGap, sink.AnomalyIds);
        var resync = Assert.Single(sink.Anomalies, x => x.AnomalyId == (int)ModbusAnomaly.StreamResync);
        Assert.Equal(b.Length - 9, resync.Detail);
        session.OnClose(flow, FlowCloseReason.Closed, 0);
        Assert.Equal([1u, 3u, 4u], sink.Transactions.Select(t => t.Record.Key & 0xFFFF).ToArray());
    }

    [Fact]
    public void Gap_AtAnAduBoundary_ResynchronisesImmediately()
    {
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, Adu(1, 1, "03 0000 0001"), Meta(1));
        session.OnStreamGap(flow, Direction.ToServer, 12, Meta(2));
        session.OnStreamData(flow, Direction.ToServer, Adu(3, 1, "03 0000 0001"), Meta(3));
        Assert.Equal(2, session.PendingCount);
        var resync = Assert.Single(sink.Anomalies);
        Assert.Equal((int)ModbusAnomaly.StreamResync, resync.AnomalyId);
        Assert.Equal(0, resync.Detail);
    }

    [Fact]
    public void HttpOnPort502_IsReportedOnce_NeverATransaction_ThenAbandoned()
    {
        var (session, sink, flow) = NewSession(new ModbusOptions { MaxResyncScanBytes = 4096 });
        var get = Encoding.ASCII.GetBytes("GET /index.html HTTP/1.1\r\nHost: plc.example\r\nUser-Agent: curl/8.0\r\n\r\n");
        var ok = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        for (int i = 0; i < 100; i++)
        {
            session.OnStreamData(flow, Direction.ToServer, get, Meta((2 * i) + 1));
            session.OnStreamData(flow, Direction.ToClient, ok, Meta((2 * i) + 2));
        }

        session.OnClose(flow, FlowCloseReason.Closed, 0);
        Assert.Empty(sink.Transactions);
        Assert.Single(sink.Anomalies, a => a.AnomalyId == (int)ModbusAnomaly.NonModbusOnPort);
        Assert.Contains(ModbusAnomaly.DissectionAbandoned, sink.AnomalyIds);
        Assert.True(session.IsAbandoned(Direction.ToServer));
        Assert.DoesNotContain(ModbusAnomaly.StreamResync, sink.AnomalyIds);
    }

    [Fact]
    public void OversizeAdu_IsKeptTruncated_AndTheNextAduIsDecoded()
    {
        var big = new byte[7 + 299];
        big[0] = 0x00;
        big[1] = 0x09; // tid 9
        big[4] = 0x01;
        big[5] = 0x2C; // length 300
        big[6] = 1;
        big[7] = 0x10;
        var next = Adu(5, 1, "03 0000 0001");
        byte[] stream = [.. Adu(4, 1, "03 0000 0001"), .. big, .. next];
        foreach (bool oneByte in new[] { false, true })
        {
            var (session, sink, flow) = NewSession();
            if (oneByte)
            {
                for (int i = 0; i < stream.Length; i++)
                {
                    session.OnStreamData(flow, Direction.ToServer, stream.AsSpan(i, 1), Meta(1));
                }
            }
            else
            {
                session.OnStreamData(flow, Direction.ToServer, stream, Meta(1));
            }

            Assert.Empty(sink.Anomalies);
            Assert.Equal(3, session.PendingCount);
            session.OnClose(flow, FlowCloseReason.Closed, 0);
            Assert.Equal([4u, 9u, 5u], sink.Transactions.Select(t => t.Record.Key & 0xFFFF).ToArray());
            var oversize = sink.Transactions[1];
            Assert.True(oversize.Record.RequestTruncated);
            Assert.True(ModbusAnomalies.Has(oversize.Record.Anomalies, ModbusAnomaly.OversizePdu));
            Assert.Equal(big.AsSpan(0, ModbusFraming.MaxAduLength).ToArray(), oversize.Request);
            Assert.False(sink.Transactions[2].Record.RequestTruncated);
        }
    }

    [Fact]
    public void InvalidProtocolId_OnAnEstablishedFlow_FlagsTheTransaction()
    {
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, Adu(1, 1, "03 0000 0001"), Meta(1));
        var bad = Adu(2, 1, "03 0000 0001");
        bad[3] = 1;
        session.OnStreamData(flow, Direction.ToServer, bad, Meta(2));
        session.OnClose(flow, FlowCloseReason.Closed, 0);
        Assert.True(ModbusAnomalies.Has(sink.Transactions[1].Record.Anomalies, ModbusAnomaly.InvalidProtocolId));
        Assert.Empty(sink.Anomalies);
    }

    [Fact]
    public void GarbageOnAnEstablishedFlow_IsReported_ThenResynchronised()
    {
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, Adu(1, 1, "03 0000 0001"), Meta(1));
        byte[] garbage = [0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x01, 0x02, 0x03];
        session.OnStreamData(flow, Direction.ToServer, [.. garbage, .. Adu(2, 1, "03 0000 0001"), .. Adu(3, 1, "03 0000 0001")], Meta(2));
        Assert.Equal(3, session.PendingCount);
        Assert.Equal([ModbusAnomaly.InvalidProtocolId, ModbusAnomaly.StreamResync], sink.AnomalyIds.ToArray());
        Assert.Equal(garbage.Length, sink.Anomalies[1].Detail);
    }

    [Fact]
    public void PartialAduAtClose_IsReportedMalformed()
    {
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, Adu(1, 1, "03 0000 0001").AsSpan(0, 9), Meta(1));
        session.OnClose(flow, FlowCloseReason.Closed, 0);
        var a = Assert.Single(sink.Anomalies);
        Assert.Equal((int)ModbusAnomaly.MalformedPdu, a.AnomalyId);
        Assert.Equal(9, a.Detail);
    }

    [Fact]
    public void Datagram_WithWholeAdus_IsDissected()
    {
        var (session, sink, flow) = NewSession();
        session.OnDatagram(flow, Direction.ToServer, Adu(1, 1, "03 0000 0001"), Meta(1));
        session.OnDatagram(flow, Direction.ToClient, Adu(1, 1, "03 02 1234"), Meta(2));
        var t = Assert.Single(sink.Transactions);
        Assert.True(t.Record.HasRequest && t.Record.HasResponse);
    }
}
