using System.Text;
using OtSensor.Flows;
using OtSensor.Protocols.Modbus;
using static OtSensor.Tests.Protocols.Modbus.ModbusTestData;

namespace OtSensor.Tests.Protocols.Modbus;

/// <summary>
/// How a session on a Modbus port decides what is Modbus: the first ADU of a flow, MBAP lengths out of range,
/// oversize ADUs, resynchronisation at segment starts, and sessions whose server opened the connection.
/// </summary>
public class ModbusSessionFramingTests
{
    private static byte[] WithProtocolId(byte[] adu, ushort pid)
    {
        adu[2] = (byte)(pid >> 8);
        adu[3] = (byte)pid;
        return adu;
    }

    /// <summary>Feeds whole, then one byte per call; returns both runs' sinks.</summary>
    private static IEnumerable<RecordingSink> BothDeliveries(params (Direction Dir, byte[] Bytes)[] segments)
    {
        foreach (bool oneByte in new[] { false, true })
        {
            var (session, sink, flow) = NewSession();
            long packet = 0;
            foreach (var (dir, bytes) in segments)
            {
                packet++;
                if (oneByte)
                {
                    for (int i = 0; i < bytes.Length; i++)
                    {
                        session.OnStreamData(flow, dir, bytes.AsSpan(i, 1), Meta(packet));
                    }
                }
                else
                {
                    session.OnStreamData(flow, dir, bytes, Meta(packet));
                }
            }

            session.OnClose(flow, FlowCloseReason.Closed, 0);
            yield return sink;
        }
    }

    [Theory]
    [InlineData("00 0001", "80 01")]
    [InlineData("83 0200 0001", null)]
    public void FirstAdu_WithAnInvalidFunctionCode_IsATransaction_FlaggedInvalidFunctionCode(string requestPdu, string? responsePdu)
    {
        var segments = new List<(Direction, byte[])> { (Direction.ToServer, Adu(1, 1, requestPdu)) };
        if (responsePdu is not null)
        {
            segments.Add((Direction.ToClient, Adu(1, 1, responsePdu)));
        }

        foreach (var sink in BothDeliveries([.. segments]))
        {
            Assert.Empty(sink.Anomalies);
            var t = Assert.Single(sink.Transactions);
            Assert.True(ModbusAnomalies.Has(t.Record.Anomalies, ModbusAnomaly.InvalidFunctionCode));
            Assert.False(ModbusAnomalies.Has(t.Record.Anomalies, ModbusAnomaly.NonModbusOnPort));
            Assert.Equal(responsePdu is not null, t.Record.HasResponse);
            Assert.Equal(Hex(requestPdu)[0], t.Request[7]);
        }
    }

    [Fact]
    public void FirstAdu_WithAVendorFunctionCode_LikeSchneiderUmas0x5A_IsATransaction_WithoutAnomaly()
    {
        foreach (var sink in BothDeliveries(
            (Direction.ToServer, Adu(1, 255, "5a 00 02")),
            (Direction.ToClient, Adu(1, 255, "5a 00 fe 01 02 03 04"))))
        {
            Assert.Empty(sink.Anomalies);
            var t = Assert.Single(sink.Transactions);
            Assert.True(t.Record.HasRequest && t.Record.HasResponse);
            Assert.Equal(0UL, t.Record.Anomalies);
            Assert.Equal(0x5A, t.Request[7]);
        }
    }

    [Fact]
    public void FirstAdu_WithProtocolIdOne_IsATransaction_FlaggedInvalidProtocolId()
    {
        foreach (var sink in BothDeliveries(
            (Direction.ToServer, WithProtocolId(Adu(1, 1, "03 0000 0002"), 1)),
            (Direction.ToClient, WithProtocolId(Adu(1, 1, "03 04 0000 0001"), 1))))
        {
            Assert.Empty(sink.Anomalies);
            var t = Assert.Single(sink.Transactions);
            Assert.True(t.Record.HasRequest && t.Record.HasResponse);
            Assert.Equal(ModbusAnomalies.Bit(ModbusAnomaly.InvalidProtocolId), t.Record.Anomalies);
        }
    }

    [Fact]
    public void FirstSegment_WithTwoAdusOfProtocolIdOne_IsTwoTransactions()
    {
        byte[] both = [.. WithProtocolId(Adu(1, 1, "03 0000 0002"), 1), .. WithProtocolId(Adu(2, 1, "03 0002 0002"), 1)];
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, both, Meta(1));
        Assert.Equal(2, session.PendingCount);
        Assert.Empty(sink.Anomalies);
    }

    [Fact]
    public void FirstAdu_WithProtocolIdOne_FollowedByBytesThatDoNotFrame_IsNonModbus()
    {
        byte[] data = [.. WithProtocolId(Adu(1, 1, "03 0000 0002"), 1), .. Encoding.ASCII.GetBytes("ABCDEFGHIJKLMNOP")];
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, data, Meta(1));
        session.OnClose(flow, FlowCloseReason.Closed, 0);
        Assert.Empty(sink.Transactions);
        Assert.Equal([ModbusAnomaly.NonModbusOnPort], sink.AnomalyIds.ToArray());
    }

    public static TheoryData<string, byte[]> NonModbusPayloads() => new()
    {
        { "short HTTP GET", Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\n\r\n") },
        { "HTTP GET", Encoding.ASCII.GetBytes("GET /index.html HTTP/1.1\r\nHost: plc\r\n\r\n") },
        { "TLS ClientHello", Hex("16 0301 00a5 01 0000a1 0303 " + string.Concat(Enumerable.Repeat("5a", 64))) },
        { "SSH banner", Encoding.ASCII.GetBytes("SSH-2.0-OpenSSH_9.6\r\n") },
        { "random", RandomBytes(300, 11) },
        { "zeros then text", [0, 0, 0, 0, 0, 5, .. Encoding.ASCII.GetBytes("0123456789ABCDEF")] },
    };

    private static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Theory]
    [MemberData(nameof(NonModbusPayloads))]
    public void NonModbusData_OnTheModbusPort_IsNonModbusOnPort_NeverATransaction(string name, byte[] payload)
    {
        // Whole, and in 7-byte segments (a one-byte segment ending right after 11 bytes of
        // "00 00 00 00 00 05 ..." is a well-framed ADU, and rightly taken as one).
        foreach (int chunk in new[] { payload.Length, 7 })
        {
            var (session, sink, flow) = NewSession();
            for (int i = 0; i < payload.Length; i += chunk)
            {
                session.OnStreamData(flow, Direction.ToServer, payload.AsSpan(i, Math.Min(chunk, payload.Length - i)), Meta(1 + (i / chunk)));
            }

            session.OnClose(flow, FlowCloseReason.Closed, 0);
            Assert.True(sink.Transactions.Count == 0, name);
            Assert.Equal(ModbusAnomaly.NonModbusOnPort, sink.AnomalyIds.First());
            Assert.Single(sink.Anomalies, a => a.AnomalyId == (int)ModbusAnomaly.NonModbusOnPort);
        }
    }

    [Fact]
    public void ServerReplyEchoingAScannersBytesAsHeader_IsNotCounted_AfterNonModbusRequest()
    {
        // A device answers a TLS ClientHello with "exception 1", its MBAP header copied from the garbage.
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, Hex("1603010085010000810303736ff818542129f78f492d9b1557dafcc7"), Meta(1));
        session.OnStreamData(flow, Direction.ToClient, Hex("160301000003008001"), Meta(2));
        session.OnClose(flow, FlowCloseReason.Closed, 0);
        Assert.Empty(sink.Transactions);
        Assert.Single(sink.Anomalies, a => a.AnomalyId == (int)ModbusAnomaly.NonModbusOnPort);
    }

    [Fact]
    public void MbapLengthOne_IsALengthMismatch_AndTheNextAduIsDecoded()
    {
        var shortAdu = Hex("0001 0000 0001 01");
        var poll = Adu(2, 1, "03 0000 0001");
        foreach (var sink in BothDeliveries((Direction.ToServer, shortAdu), (Direction.ToServer, poll), (Direction.ToClient, Adu(2, 1, "03 02 0000"))))
        {
            var a = Assert.Single(sink.Anomalies);
            Assert.Equal((int)ModbusAnomaly.LengthMismatch, a.AnomalyId);
            Assert.Equal(1, a.Detail);
            var t = Assert.Single(sink.Transactions);
            Assert.Equal(2u, t.Record.Key & 0xFFFF);
            Assert.Equal(0UL, t.Record.Anomalies);
        }

        // Both in one segment.
        var (session, sink2, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, [.. shortAdu, .. poll], Meta(1));
        Assert.Equal([ModbusAnomaly.LengthMismatch], sink2.AnomalyIds.ToArray());
        Assert.Equal(1, session.PendingCount);
    }

    [Fact]
    public void MbapLengthShorterThanTheFunctionNeeds_IsFlaggedLengthMismatch_AndMalformed()
    {
        foreach (var sink in BothDeliveries((Direction.ToServer, Adu(1, 1, "03 0000")), (Direction.ToClient, Adu(1, 1, "83 03"))))
        {
            Assert.Empty(sink.Anomalies);
            var t = Assert.Single(sink.Transactions);
            Assert.True(ModbusAnomalies.Has(t.Record.Anomalies, ModbusAnomaly.LengthMismatch));
            Assert.True(ModbusAnomalies.Has(t.Record.Anomalies, ModbusAnomaly.MalformedPdu));
            Assert.True(t.Record.HasResponse);
        }
    }

    private static byte[] OversizeAdu(ushort tid, string pduStartHex, int pduLength)
    {
        var start = Hex(pduStartHex);
        var adu = new byte[7 + pduLength];
        adu[1] = (byte)tid;
        adu[4] = (byte)((pduLength + 1) >> 8);
        adu[5] = (byte)(pduLength + 1);
        adu[6] = 1;
        start.CopyTo(adu, 7);
        for (int i = 7 + start.Length; i < adu.Length; i++)
        {
            adu[i] = (byte)i;
        }

        return adu;
    }

    [Fact]
    public void OversizeRequest_IsKeptTruncated_FlaggedOversize_AndMatchedWithItsResponse()
    {
        var big = OversizeAdu(1, "41", 301);
        foreach (var sink in BothDeliveries((Direction.ToServer, big), (Direction.ToClient, Adu(1, 1, "c1 01"))))
        {
            Assert.Empty(sink.Anomalies);
            var t = Assert.Single(sink.Transactions);
            Assert.True(t.Record.HasRequest && t.Record.HasResponse);
            Assert.True(t.Record.RequestTruncated);
            Assert.False(t.Record.ResponseTruncated);
            Assert.Equal(ModbusAnomalies.Bit(ModbusAnomaly.OversizePdu), t.Record.Anomalies);
            Assert.Equal(ModbusFraming.MaxAduLength, t.Request.Length);
            Assert.Equal(big.AsSpan(0, ModbusFraming.MaxAduLength).ToArray(), t.Request);
        }
    }

    [Fact]
    public void OversizeWriteMultipleRegisters_WithQuantity124_IsFlaggedIllegalQuantity_NotMalformed()
    {
        // Quantity 124 (max 123), byte count 248 and all 248 bytes: a 254-byte PDU.
        var big = OversizeAdu(1, "10 0000 007c f8", 254);
        foreach (var sink in BothDeliveries((Direction.ToServer, big), (Direction.ToClient, Adu(1, 1, "90 03"))))
        {
            var t = Assert.Single(sink.Transactions);
            Assert.Equal(
                ModbusAnomalies.Bit(ModbusAnomaly.OversizePdu) | ModbusAnomalies.Bit(ModbusAnomaly.IllegalQuantity),
                t.Record.Anomalies);
            Assert.True(t.Record.HasResponse);
        }
    }

    [Fact]
    public void OversizeResponse_IsKeptTruncated_AndMatchesItsRequest()
    {
        var big = OversizeAdu(1, "41", 400);
        foreach (var sink in BothDeliveries((Direction.ToServer, Adu(1, 1, "41 00")), (Direction.ToClient, big)))
        {
            Assert.Empty(sink.Anomalies);
            var t = Assert.Single(sink.Transactions);
            Assert.True(t.Record.HasRequest && t.Record.HasResponse && t.Record.ResponseTruncated);
            Assert.Equal(ModbusAnomalies.Bit(ModbusAnomaly.OversizePdu), t.Record.Anomalies);
        }
    }

    [Fact]
    public void OversizeAdu_ThatNeverCompletes_IsAnOversizeAnomalyAtClose_NotATransaction()
    {
        var big = OversizeAdu(1, "07", 34819);
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, big.AsSpan(0, 451), Meta(1));
        session.OnStreamData(flow, Direction.ToServer, big.AsSpan(451, 451), Meta(2));
        Assert.Equal(0, session.PendingCount);
        session.OnClose(flow, FlowCloseReason.Closed, 0);
        Assert.Empty(sink.Transactions);
        var a = Assert.Single(sink.Anomalies);
        Assert.Equal((int)ModbusAnomaly.OversizePdu, a.AnomalyId);
        Assert.Equal(34820, a.Detail);
    }

    [Fact]
    public void OversizeAdu_WhoseSkippedBytesAreLost_IsStillCompleted_AndStaysInSync()
    {
        var big = OversizeAdu(1, "41", 301);
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, big.AsSpan(0, 270), Meta(1));
        session.OnStreamGap(flow, Direction.ToServer, big.Length - 270, Meta(2));
        session.OnStreamData(flow, Direction.ToServer, Adu(2, 1, "03 0000 0001"), Meta(3));
        Assert.Equal(2, session.PendingCount);
        Assert.Empty(sink.Anomalies);
    }

    [Fact]
    public void AfterAGap_ASegmentStartingWithACleanHeader_Resynchronises_WhateverItsFunctionCode()
    {
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, Adu(1, 1, "1d 0000 0000"), Meta(1));
        session.OnStreamGap(flow, Direction.ToServer, 36, Meta(2));
        session.OnStreamData(flow, Direction.ToServer, Adu(2, 1, "21 0000 0000"), Meta(3));
        Assert.Equal(2, session.PendingCount);
        Assert.Equal([ModbusAnomaly.StreamResync], sink.AnomalyIds.ToArray());
    }

    [Fact]
    public void Resync_MidSegment_OnVendorFunctionCodes_NeedsTwoChainedHeaders()
    {
        byte[] garbage = [0xde, 0xad, 0xbe, 0xef, 0x55];
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, Adu(1, 1, "03 0000 0001"), Meta(1));
        session.OnStreamGap(flow, Direction.ToServer, 40, Meta(2));
        session.OnStreamData(flow, Direction.ToServer, [.. garbage, .. Adu(2, 255, "5a 00 02"), .. Adu(3, 255, "5a 00 03")], Meta(3));
        Assert.Equal(3, session.PendingCount);
        var resync = Assert.Single(sink.Anomalies);
        Assert.Equal((int)ModbusAnomaly.StreamResync, resync.AnomalyId);
        Assert.Equal(garbage.Length, resync.Detail);

        // A single vendor ADU in the middle of garbage is not evidence enough.
        var (session2, sink2, flow2) = NewSession();
        session2.OnStreamData(flow2, Direction.ToServer, Adu(1, 1, "03 0000 0001"), Meta(1));
        session2.OnStreamGap(flow2, Direction.ToServer, 40, Meta(2));
        session2.OnStreamData(flow2, Direction.ToServer, [.. garbage, .. Adu(2, 255, "5a 00 02")], Meta(3));
        Assert.Equal(1, session2.PendingCount);
        Assert.Empty(sink2.Anomalies);
    }

    [Fact]
    public void Resync_DropsTheKeptScanTail_WhenTheNextSegmentStartsWithAWholeAdu()
    {
        byte[] garbage = [0xde, 0xad, 0xbe, 0xef, 0x55, 0x00, 0x00, 0x00, 0x01, 0x02];
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, Adu(1, 1, "03 0000 0001"), Meta(1));
        session.OnStreamGap(flow, Direction.ToServer, 40, Meta(2));
        session.OnStreamData(flow, Direction.ToServer, garbage, Meta(3));
        session.OnStreamData(flow, Direction.ToServer, Adu(2, 1, "21 0000 0000"), Meta(4));
        Assert.Equal(2, session.PendingCount);
        var resync = Assert.Single(sink.Anomalies);
        Assert.Equal((int)ModbusAnomaly.StreamResync, resync.AnomalyId);
        Assert.Equal(garbage.Length, resync.Detail);
    }

    [Fact]
    public void ServerIsFlowClient_TakesToServerBytesAsResponses()
    {
        var sink = new RecordingSink();
        var session = new ModbusSession(sink, new ModbusOptions(), serverIsFlowClient: true);
        var flow = Flow();
        var exception = Adu(1, 10, "81 06");
        for (int i = 0; i < 3; i++)
        {
            session.OnStreamData(flow, Direction.ToServer, exception, Meta(i + 1));
        }

        session.OnStreamData(flow, Direction.ToClient, Adu(2, 10, "01 0000 0008"), Meta(4));
        session.OnStreamData(flow, Direction.ToServer, Adu(2, 10, "01 01 ff"), Meta(5));
        session.OnClose(flow, FlowCloseReason.Closed, 0);
        Assert.True(session.ServerIsFlowClient);
        Assert.Empty(sink.Anomalies);
        Assert.Equal(4, sink.Transactions.Count);
        Assert.All(sink.Transactions.Take(3), t => Assert.True(!t.Record.HasRequest && t.Record.HasResponse
            && ModbusAnomalies.Has(t.Record.Anomalies, ModbusAnomaly.UnsolicitedResponse)));
        var matched = sink.Transactions[3];
        Assert.True(matched.Record.HasRequest && matched.Record.HasResponse);
        Assert.Equal(0UL, matched.Record.Anomalies);
    }
}
