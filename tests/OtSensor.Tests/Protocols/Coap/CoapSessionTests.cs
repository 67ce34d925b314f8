using OtSensor.Flows;
using OtSensor.Protocols.Coap;
using static OtSensor.Tests.Protocols.Coap.CoapTestData;

namespace OtSensor.Tests.Protocols.Coap;

public class CoapSessionTests
{
    private const Direction C2S = Direction.ToServer;
    private const Direction S2C = Direction.ToClient;

    // ttproto TD_COAP_CORE_01_PASS.pcap (udp.payload).
    private static readonly byte[] CoreGet = Hex("4201aa0162dab474657374c102");
    private static readonly byte[] CoreAck = Hex("6245aa0162dac0211e9102ff547970653a20302028434f4e290a436f64653a20312028474554290a4d49443a2034333532310a546f6b656e3a2036326461");

    // ttproto TD_COAP_CORE_09_PASS.pcap: separate response.
    private static readonly (Direction, byte[])[] CoreSeparate =
    [
        (C2S, Hex("40016466b87365706172617465c102")),
        (S2C, Hex("60006466")),
        (S2C, Hex("4045ec37c0b102ff547970653a20302028434f4e290a436f64653a20312028474554290a4d49443a2032353730320a")),
        (C2S, Hex("6000ec37")),
    ];

    // ttproto TD_COAP_OBS_06_PASS.pcap: register /obs, notifications, the client resets the last one.
    private static readonly (Direction, byte[])[] ObserveWithReset =
    [
        (C2S, Hex("42010b4b865c60536f6273")),
        (S2C, Hex("62450b4b865c6142602105ff43757272656e742074656d70657261747572653a2032302e383233353432")),
        (S2C, Hex("42457afa865c6143602105ff43757272656e742074656d70657261747572653a2032332e333938343732")),
        (C2S, Hex("60007afa")),
        (S2C, Hex("42457afb865c6144602105ff43757272656e742074656d70657261747572653a2031382e343036393337")),
        (C2S, Hex("60007afb")),
        (S2C, Hex("42457b01865c614a602105ff43757272656e742074656d70657261747572653a2032312e373938373836")),
        (C2S, Hex("70007b01")),
    ];

    [Fact]
    public void ConGet_WithPiggybackedAck_IsOneMatchedEvent()
    {
        var (s, sink, flow) = NewSession();
        s.OnDatagram(flow, C2S, CoreGet, Meta(1, 1_000));
        Assert.Empty(sink.Events);
        Assert.Equal(1, s.PendingCount);
        s.OnDatagram(flow, S2C, CoreAck, Meta(2, 18_000));
        Assert.Equal(ProtocolId.Coap, flow.Protocol);
        var e = Assert.Single(sink.Events);
        Assert.True(e.Record.HasRequest && e.Record.HasResponse);
        Assert.Equal(1_000, e.Record.RequestTs);
        Assert.Equal(18_000, e.Record.ResponseTs);
        Assert.Equal(1, e.Record.RequestPacket);
        Assert.Equal(2, e.Record.ResponsePacket);
        Assert.Equal(0xaa01u, e.Record.Key);
        Assert.Equal(0UL, e.Record.Anomalies);
        Assert.Equal("CON", e.Str("type"));
        Assert.Equal("GET", e.Str("method"));
        Assert.Equal(0xaa01, e.Int("mid"));
        Assert.Equal("62da", e.Str("token"));
        Assert.Equal("/test", e.Str("uri_path"));
        Assert.Equal("ACK", e.Str("response_type"));
        Assert.Equal(0xaa01, e.Int("response_mid"));
        Assert.Equal("2.05", e.Str("code"));
        Assert.Equal("Content", e.Str("code_name"));
        Assert.Equal(0, e.Int("response_content_format"));
        Assert.Equal(30, e.Int("max_age"));
        Assert.Equal(50, e.Int("response_payload_len"));
        Assert.Equal(64, e.Json.GetProperty("block2").GetProperty("size").GetInt32());
        Assert.StartsWith("547970653a", e.Str("response_payload_prefix"), StringComparison.Ordinal);
        Assert.False(e.Has("separate_response"));
        Assert.False(e.Has("transfer"));
        Assert.Equal(0, s.PendingCount);
    }

    [Fact]
    public void SeparateResponse_IsOneEvent_WithBothEmptyAcks()
    {
        var sink = Run(CoreSeparate, close: false);
        var e = Assert.Single(sink.Events);
        Assert.True(e.Record.HasRequest && e.Record.HasResponse);
        Assert.Equal("/separate", e.Str("uri_path"));
        Assert.Equal("ACK", e.Str("request_ack"));
        Assert.Equal("CON", e.Str("response_type"));
        Assert.Equal(0xec37, e.Int("response_mid"));
        Assert.True(e.Bool("separate_response"));
        Assert.Equal("ACK", e.Str("response_ack"));
        Assert.Equal(3, e.Record.ResponsePacket);
        Assert.Empty(sink.Anomalies);
    }

    [Fact]
    public void SeparateResponse_WithoutFinalAck_IsReportedAtClose()
    {
        var sink = Run(CoreSeparate.Take(3));
        var e = Assert.Single(sink.Events);
        Assert.True(e.Bool("separate_response"));
        Assert.False(e.Has("response_ack"));
    }

    [Fact]
    public void NonRequest_NonResponse_AreMatchedByToken()
    {
        var sink = Run(
        [
            (C2S, Msg(Non, Get, 100, [7, 7], [Path("t")])),
            (S2C, Msg(Non, Content, 555, [7, 7], null, Str("v"))),
        ]);
        var e = Assert.Single(sink.Events);
        Assert.True(e.Record.HasRequest && e.Record.HasResponse);
        Assert.Equal("NON", e.Str("type"));
        Assert.Equal("NON", e.Str("response_type"));
        Assert.Equal(555, e.Int("response_mid"));
        Assert.False(e.Has("separate_response"));
        Assert.Equal(0UL, e.Record.Anomalies);
    }

    [Fact]
    public void Ping_ConEmpty_AnsweredByRst_IsOneEvent()
    {
        // ttproto TD_COAP_CORE_31_PASS.pcap: CoAP ping.
        var sink = Run([(C2S, Hex("400091c5")), (S2C, Hex("700091c5"))]);
        var e = Assert.Single(sink.Events);
        Assert.True(e.Record.HasRequest && e.Record.HasResponse);
        Assert.True(e.Bool("ping"));
        Assert.Equal("0.00", e.Str("method"));
        Assert.Equal("RST", e.Str("response_type"));
        Assert.Equal(0UL, e.Record.Anomalies);
    }

    [Fact]
    public void RstToARequest_CompletesItsExchange()
    {
        var sink = Run([(C2S, Msg(Con, Get, 9, [1], [Path("x")])), (S2C, Msg(Rst, 0, 9))]);
        var e = Assert.Single(sink.Events);
        Assert.True(e.Record.HasResponse);
        Assert.Equal("RST", e.Str("response_type"));
        Assert.Equal(0UL, e.Record.Anomalies);
    }

    [Fact]
    public void RetransmittedCon_IsCountedOnce()
    {
        var get = Msg(Con, Get, 42, [5], [Path("a")]);
        var ack = Msg(Ack, Content, 42, [5], null, Str("x"));
        var sink = Run([(C2S, get), (C2S, get), (C2S, get), (S2C, ack), (C2S, get), (S2C, ack)]);
        var e = Assert.Single(sink.Events);
        Assert.Equal(2, e.Int("retransmissions"));
        Assert.Equal(1, e.Record.RequestPacket);
        Assert.Equal(4, e.Record.ResponsePacket);
        // The late retransmission and the repeated ACK belong to the reported exchange.
        Assert.Equal(2, sink.Anomalies.Count);
        Assert.All(sink.Anomalies, a => Assert.Equal((int)CoapAnomaly.DuplicateMessage, a.AnomalyId));
        Assert.Equal(CoapAnomalies.DuplicateDetail(new CoapHeader(1, CoapMessageType.Confirmable, 1, Get, 42)), sink.Anomalies[0].Detail);
    }

    [Fact]
    public void MessageIdReused_AfterExchangeLifetime_IsANewRequest()
    {
        var (s, sink, flow) = NewSession(new CoapOptions { ExchangeLifetimeNs = 1_000 });
        var get = Msg(Con, Get, 42, [5], [Path("a")]);
        var ack = Msg(Ack, Content, 42, [5]);
        s.OnDatagram(flow, C2S, get, Meta(1, 100));
        s.OnDatagram(flow, S2C, ack, Meta(2, 200));
        s.OnDatagram(flow, C2S, get, Meta(3, 5_000));
        s.OnDatagram(flow, S2C, ack, Meta(4, 5_100));
        Assert.Equal(2, sink.Events.Count);
        Assert.Empty(sink.Anomalies);
    }

    [Fact]
    public void EitherSide_CanSendRequests()
    {
        var sink = Run([(S2C, Msg(Con, Post, 1, [1], [Path("rd")])), (C2S, Msg(Ack, 0x41, 1, [1]))]);
        var e = Assert.Single(sink.Events);
        Assert.True(e.Record.HasRequest && e.Record.HasResponse);
        Assert.Equal("POST", e.Str("method"));
        Assert.Equal("2.01", e.Str("code"));
    }

    [Fact]
    public void UnmatchedAckWithResponse_IsUnsolicited()
    {
        var sink = Run([(S2C, Msg(Ack, Content, 77, [1], null, Str("x")))]);
        var e = Assert.Single(sink.Events);
        Assert.False(e.Record.HasRequest);
        Assert.True(e.Record.HasResponse);
        Assert.True(e.HasAnomaly(CoapAnomaly.UnsolicitedResponse));
        Assert.Equal(77u, e.Record.Key);
        Assert.Equal("01", e.Str("token"));
        Assert.False(e.Has("type"));
    }

    [Fact]
    public void UnmatchedEmptyAck_IsUnsolicited_UnmatchedRst_IsRstUnsolicited()
    {
        var sink = Run([(S2C, Msg(Ack, 0, 1)), (S2C, Msg(Rst, 0, 2))]);
        Assert.Equal(2, sink.Events.Count);
        Assert.True(sink.Events[0].HasAnomaly(CoapAnomaly.UnsolicitedResponse));
        Assert.True(sink.Events[1].HasAnomaly(CoapAnomaly.RstUnsolicited));
    }

    [Fact]
    public void UnmatchedSeparateResponse_IsUnsolicited()
    {
        var sink = Run([(S2C, Msg(Non, Content, 3, [9, 9], null, Str("x")))]);
        Assert.True(Assert.Single(sink.Events).HasAnomaly(CoapAnomaly.UnsolicitedResponse));
    }

    [Fact]
    public void PiggybackedAck_WithAnotherToken_IsTokenMismatch()
    {
        var sink = Run([(C2S, Msg(Con, Get, 5, [1], [Path("a")])), (S2C, Msg(Ack, Content, 5, [2]))]);
        var e = Assert.Single(sink.Events);
        Assert.True(e.Record.HasRequest && e.Record.HasResponse);
        Assert.True(e.HasAnomaly(CoapAnomaly.TokenMismatch));
    }

    [Fact]
    public void Observe_RegisterNotifyAndResetDeregister()
    {
        var (s, sink, flow) = NewSession();
        long n = 0;
        foreach (var (d, data) in ObserveWithReset) s.OnDatagram(flow, d, data, Meta(++n));
        Assert.Equal(0, s.ObserveRelationCount);
        Assert.Equal(4, sink.Events.Count);
        var reg = sink.Events[0];
        Assert.True(reg.Record.HasRequest && reg.Record.HasResponse);
        Assert.Equal(0, reg.Int("observe"));
        Assert.Equal(0x42, reg.Int("response_observe"));
        Assert.Equal("/obs", reg.Str("uri_path"));
        for (int i = 1; i < 4; i++)
        {
            var e = sink.Events[i];
            Assert.False(e.Record.HasRequest);
            Assert.True(e.Record.HasResponse);
            Assert.True(e.Bool("notification"));
            Assert.Equal("/obs", e.Str("uri_path"));
            Assert.Equal("865c", e.Str("token"));
            Assert.Equal(0UL, e.Record.Anomalies);
        }

        Assert.Equal(0x43, sink.Events[1].Int("response_observe"));
        Assert.Equal("ACK", sink.Events[1].Str("response_ack"));
        Assert.Equal("RST", sink.Events[3].Str("response_ack"));
        Assert.Empty(sink.Anomalies);

        // After the reset the relation is gone: a further notification is unsolicited.
        s.OnDatagram(flow, S2C, Msg(Non, Content, 999, Hex("865c"), [(CoapOptionNumber.Observe, Uint(20))]), Meta(++n));
        Assert.True(sink.Events[^1].HasAnomaly(CoapAnomaly.UnsolicitedResponse));
    }

    [Fact]
    public void Observe_NonNotifications_AndDeregistrationWithObserve1()
    {
        var token = new byte[] { 0xAB };
        var (s, sink, flow) = NewSession();
        s.OnDatagram(flow, C2S, Msg(Con, Get, 1, token, [(CoapOptionNumber.Observe, []), Path("temp")]), Meta(1));
        s.OnDatagram(flow, S2C, Msg(Ack, Content, 1, token, [(CoapOptionNumber.Observe, Uint(10))], Str("20")), Meta(2));
        Assert.Equal(1, s.ObserveRelationCount);
        s.OnDatagram(flow, S2C, Msg(Non, Content, 50, token, [(CoapOptionNumber.Observe, Uint(11))], Str("21")), Meta(3));
        s.OnDatagram(flow, S2C, Msg(Non, Content, 51, token, [(CoapOptionNumber.Observe, Uint(12))], Str("22")), Meta(4));
        s.OnDatagram(flow, C2S, Msg(Con, Get, 2, token, [(CoapOptionNumber.Observe, Uint(1)), Path("temp")]), Meta(5));
        Assert.Equal(0, s.ObserveRelationCount);
        s.OnDatagram(flow, S2C, Msg(Ack, Content, 2, token, null, Str("22")), Meta(6));
        Assert.Equal(4, sink.Events.Count);
        Assert.True(sink.Events[1].Bool("notification"));
        Assert.Equal(12, sink.Events[2].Int("response_observe"));
        Assert.Equal(1, sink.Events[3].Int("observe"));
        Assert.True(sink.Events[3].Record.HasRequest && sink.Events[3].Record.HasResponse);
        Assert.All(sink.Events, e => Assert.Equal(0UL, e.Record.Anomalies));
    }

    [Fact]
    public void Observe_RstToNonNotification_Deregisters()
    {
        var token = new byte[] { 0xAB };
        var (s, sink, flow) = NewSession();
        s.OnDatagram(flow, C2S, Msg(Con, Get, 1, token, [(CoapOptionNumber.Observe, []), Path("temp")]), Meta(1));
        s.OnDatagram(flow, S2C, Msg(Ack, Content, 1, token, [(CoapOptionNumber.Observe, Uint(10))]), Meta(2));
        s.OnDatagram(flow, S2C, Msg(Non, Content, 50, token, [(CoapOptionNumber.Observe, Uint(11))]), Meta(3));
        s.OnDatagram(flow, C2S, Msg(Rst, 0, 50), Meta(4));
        Assert.Equal(0, s.ObserveRelationCount);
        var last = sink.Events[^1];
        Assert.Equal("RST", last.Str("response_type"));
        Assert.True(last.Bool("notification"));
        Assert.Equal(0UL, last.Record.Anomalies);
    }

    [Fact]
    public void Observe_RegistrationNotAccepted_CreatesNoRelation()
    {
        var (s, _, flow) = NewSession();
        s.OnDatagram(flow, C2S, Msg(Con, Get, 1, [1], [(CoapOptionNumber.Observe, []), Path("temp")]), Meta(1));
        Assert.Equal(1, s.ObserveRelationCount);
        s.OnDatagram(flow, S2C, Msg(Ack, Content, 1, [1], null, Str("20")), Meta(2));
        Assert.Equal(0, s.ObserveRelationCount);
    }

    [Fact]
    public void Observe_RelationsAreBounded()
    {
        var (s, sink, flow) = NewSession(new CoapOptions { MaxObserveRelations = 2 });
        for (int i = 0; i < 3; i++)
        {
            s.OnDatagram(flow, C2S, Msg(Con, Get, (ushort)i, [(byte)i], [(CoapOptionNumber.Observe, []), Path("r")]), Meta(i + 1));
        }

        Assert.Equal(2, s.ObserveRelationCount);
        s.OnClose(flow, FlowCloseReason.EndOfCapture, 0);
        Assert.True(sink.Events[2].HasAnomaly(CoapAnomaly.ObserveLimitExceeded));
        Assert.False(sink.Events[0].HasAnomaly(CoapAnomaly.ObserveLimitExceeded));
    }

    private static List<(Direction, byte[])> BlockwiseGet(int blocks, int szx, int lastLength, bool linkFormat = false, byte[]? content = null)
    {
        int size = 16 << szx;
        var list = new List<(Direction, byte[])>();
        for (int i = 0; i < blocks; i++)
        {
            bool more = i < blocks - 1;
            int len = more ? size : lastLength;
            var payload = content is null ? Enumerable.Repeat((byte)('a' + (i % 26)), len).ToArray() : content.Skip(i * size).Take(len).ToArray();
            list.Add((C2S, Msg(Con, Get, (ushort)(100 + i), [0x10, (byte)i], [Path("large"), (CoapOptionNumber.Block2, Uint(BlockValue((uint)i, false, szx)))])));
            var opts = new List<(int, byte[])>();
            if (linkFormat) opts.Add((CoapOptionNumber.ContentFormat, Uint(40)));
            opts.Add((CoapOptionNumber.Block2, Uint(BlockValue((uint)i, more, szx))));
            list.Add((S2C, Msg(Ack, Content, (ushort)(100 + i), [0x10, (byte)i], [.. opts], payload)));
        }

        return list;
    }

    [Fact]
    public void BlockwiseGet_FinalEventReportsTheTotals()
    {
        var (s, sink, flow) = NewSession();
        long n = 0;
        foreach (var (d, data) in BlockwiseGet(20, 2, 30)) s.OnDatagram(flow, d, data, Meta(++n));
        Assert.Equal(20, sink.Events.Count);
        Assert.All(sink.Events.Take(19), e => Assert.False(e.Has("transfer")));
        var t = sink.Events[^1].Json.GetProperty("transfer");
        Assert.Equal(20, t.GetProperty("blocks").GetInt32());
        Assert.Equal((19 * 64) + 30, t.GetProperty("total_size").GetInt32());
        Assert.True(t.GetProperty("complete").GetBoolean());
        Assert.Equal(2, t.GetProperty("block_option").GetInt32());
        Assert.Equal(0, s.TransferCount);
        Assert.All(sink.Events, e => Assert.Equal(0UL, e.Record.Anomalies));
    }

    [Fact]
    public void BlockwiseGet_MissingBlock_IsOutOfOrderAndIncomplete()
    {
        var msgs = BlockwiseGet(4, 0, 5);
        msgs.RemoveRange(2, 2);
        var sink = Run(msgs);
        Assert.True(sink.Events[1].HasAnomaly(CoapAnomaly.BlockOutOfOrder));
        Assert.False(sink.Events[^1].Json.GetProperty("transfer").GetProperty("complete").GetBoolean());
    }

    [Fact]
    public void BlockwiseGet_ShortMiddleBlock_IsBlockSizeMismatch()
    {
        var msgs = BlockwiseGet(3, 0, 5);
        msgs[3] = (S2C, Msg(Ack, Content, 101, [0x10, 1], [(CoapOptionNumber.Block2, Uint(BlockValue(1, true, 0)))], new byte[10]));
        var sink = Run(msgs);
        Assert.True(sink.Events[1].HasAnomaly(CoapAnomaly.BlockSizeMismatch));
    }

    [Fact]
    public void BlockwiseGet_BeyondTheBound_IsFlaggedAndDropped()
    {
        var (s, sink, flow) = NewSession(new CoapOptions { MaxBlockTransferBytes = 100 });
        long n = 0;
        foreach (var (d, data) in BlockwiseGet(4, 1, 32)) s.OnDatagram(flow, d, data, Meta(++n));
        Assert.True(sink.Events[3].HasAnomaly(CoapAnomaly.BlockTransferTooLarge) || sink.Events[2].HasAnomaly(CoapAnomaly.BlockTransferTooLarge));
        Assert.Equal(1, sink.Events.Count(e => e.HasAnomaly(CoapAnomaly.BlockTransferTooLarge)));
        Assert.Equal(0, s.TransferCount);
    }

    [Fact]
    public void Block1Post_FinalRequestReportsTheTotals()
    {
        var msgs = new List<(Direction, byte[])>();
        for (int i = 0; i < 3; i++)
        {
            bool more = i < 2;
            msgs.Add((C2S, Msg(Con, Post, (ushort)i, [3], [Path("up"), (CoapOptionNumber.Block1, Uint(BlockValue((uint)i, more, 0)))], new byte[more ? 16 : 4])));
            msgs.Add((S2C, Msg(Ack, more ? Continue : (byte)0x41, (ushort)i, [3], [(CoapOptionNumber.Block1, Uint(BlockValue((uint)i, more, 0)))])));
        }

        var sink = Run(msgs);
        Assert.Equal(3, sink.Events.Count);
        Assert.Equal("2.31", sink.Events[0].Str("code"));
        var t = sink.Events[2].Json.GetProperty("transfer");
        Assert.Equal(1, t.GetProperty("block_option").GetInt32());
        Assert.Equal(3, t.GetProperty("blocks").GetInt32());
        Assert.Equal(36, t.GetProperty("total_size").GetInt32());
        Assert.True(t.GetProperty("complete").GetBoolean());
        Assert.Equal(2, sink.Events[2].Json.GetProperty("block1").GetProperty("num").GetInt32());
    }

    private const string WellKnownCore = "</sensors>;ct=40;title=\"Sensor Index\",</sensors/temp>;rt=\"temperature-c\";if=\"sensor\";obs,</sensors/light>;rt=\"light-lux\";if=\"sensor\";sz=128";

    [Fact]
    public void Discovery_LinkFormatResponse_CarriesTheResources()
    {
        var sink = Run(
        [
            (C2S, Msg(Con, Get, 1, [1], [Path(".well-known"), Path("core")])),
            (S2C, Msg(Ack, Content, 1, [1], [(CoapOptionNumber.ContentFormat, Uint(40))], Str(WellKnownCore))),
        ]);
        var e = Assert.Single(sink.Events);
        Assert.Equal("/.well-known/core", e.Str("uri_path"));
        var res = e.Json.GetProperty("resources");
        Assert.Equal(3, res.GetArrayLength());
        Assert.Equal("/sensors", res[0].GetProperty("path").GetString());
        Assert.Equal(40, res[0].GetProperty("ct").GetInt32());
        Assert.Equal("Sensor Index", res[0].GetProperty("title").GetString());
        Assert.Equal("temperature-c", res[1].GetProperty("rt").GetString());
        Assert.Equal("sensor", res[1].GetProperty("if").GetString());
        Assert.True(res[1].GetProperty("obs").GetBoolean());
        Assert.Equal(128, res[2].GetProperty("sz").GetInt32());
        Assert.Equal(0UL, e.Record.Anomalies);
    }

    [Fact]
    public void Discovery_BlockwiseLinkFormat_IsReassembled()
    {
        var doc = Str(WellKnownCore);
        int blocks = (doc.Length + 15) / 16;
        var msgs = BlockwiseGet(blocks, 0, doc.Length - ((blocks - 1) * 16), linkFormat: true, content: doc);
        var sink = Run(msgs);
        Assert.All(sink.Events.Take(blocks - 1), e => Assert.False(e.Has("resources")));
        var res = sink.Events[^1].Json.GetProperty("resources");
        Assert.Equal(3, res.GetArrayLength());
        Assert.Equal("/sensors/light", res[2].GetProperty("path").GetString());
        Assert.Equal(doc.Length, sink.Events[^1].Json.GetProperty("transfer").GetProperty("total_size").GetInt32());
    }

    [Fact]
    public void Discovery_InvalidLinkFormat_IsFlagged()
    {
        var sink = Run(
        [
            (C2S, Msg(Con, Get, 1, [1], [Path(".well-known"), Path("core")])),
            (S2C, Msg(Ack, Content, 1, [1], [(CoapOptionNumber.ContentFormat, Uint(40))], Str("</a>;rt=\"x\",</b"))),
        ]);
        var e = Assert.Single(sink.Events);
        Assert.True(e.HasAnomaly(CoapAnomaly.InvalidLinkFormat));
        Assert.Equal(1, e.Json.GetProperty("resources").GetArrayLength());
    }

    [Fact]
    public void Discovery_HugeDocument_IsBoundedAndStaysValid()
    {
        var doc = string.Join(",", Enumerable.Range(0, 2000).Select(i => $"</r/{i}>;rt=\"type-{i}\";if=\"sensor\""));
        var msgs = BlockwiseGet((doc.Length + 1023) / 1024, 6, doc.Length % 1024, linkFormat: true, content: Str(doc));
        var sink = Run(msgs);
        var last = sink.Events[^1];
        Assert.True(last.Bool("resources_truncated"));
        Assert.InRange(last.Json.GetProperty("resources").GetArrayLength(), 1, 128);
    }

    [Fact]
    public void PendingOverflow_ReportsTheOldestUnanswered()
    {
        var (s, sink, flow) = NewSession(new CoapOptions { MaxPending = 2 });
        for (int i = 0; i < 3; i++) s.OnDatagram(flow, C2S, Msg(Con, Get, (ushort)i, [(byte)i], [Path("a")]), Meta(i + 1));
        var e = Assert.Single(sink.Events);
        Assert.True(e.HasAnomaly(CoapAnomaly.PendingOverflow));
        Assert.Equal(0u, e.Record.Key);
        Assert.False(e.Record.HasResponse);
        Assert.Equal(2, s.PendingCount);
    }

    [Fact]
    public void TokenReusedWhilePending_ReportsTheOlderOne()
    {
        var sink = Run([(C2S, Msg(Non, Get, 1, [4], [Path("a")])), (C2S, Msg(Non, Get, 2, [4], [Path("b")]))]);
        Assert.Equal(2, sink.Events.Count);
        Assert.True(sink.Events[0].HasAnomaly(CoapAnomaly.DuplicateToken));
        Assert.Equal("/a", sink.Events[0].Str("uri_path"));
    }

    [Fact]
    public void Tick_ExpiresUnansweredRequests_AfterTheExchangeLifetime()
    {
        var (s, sink, flow) = NewSession(new CoapOptions { ExchangeLifetimeNs = 1000 });
        s.OnDatagram(flow, C2S, Msg(Con, Get, 1, [1], [Path("a")]), Meta(1, 100));
        s.OnTick(flow, 1000);
        Assert.Empty(sink.Events);
        s.OnTick(flow, 1101);
        var e = Assert.Single(sink.Events);
        Assert.True(e.Record.HasRequest);
        Assert.False(e.Record.HasResponse);
        Assert.Equal(0, s.PendingCount);
    }

    [Fact]
    public void Close_FlushesUnansweredRequests()
    {
        var sink = Run([(C2S, Msg(Con, Get, 1, [1], [Path("a")])), (C2S, Msg(Non, Put, 2, [2], [Path("b")], Str("1")))]);
        Assert.Equal(2, sink.Events.Count);
        Assert.All(sink.Events, e => Assert.False(e.Record.HasResponse));
    }

    [Theory]
    [InlineData("00010001", CoapAnomaly.InvalidVersion)]
    [InlineData("49010001", CoapAnomaly.InvalidTokenLength)]
    [InlineData("4f010001", CoapAnomaly.InvalidTokenLength)]
    [InlineData("4401", CoapAnomaly.TruncatedMessage)]
    [InlineData("44010001aa", CoapAnomaly.TruncatedMessage)]
    public void UnusableDatagram_ReportsMalformedAndTheReason(string hex, CoapAnomaly reason)
    {
        var sink = Run([(C2S, Hex(hex))]);
        Assert.Empty(sink.Events);
        Assert.Equal([CoapAnomaly.Malformed, reason], sink.AnomalyIds);
    }

    [Fact]
    public void MalformedOptions_StillMatch_AndCarryTheFlags()
    {
        var sink = Run([(C2S, Hex("4001 0007 b161 ff")), (S2C, Msg(Rst, 0, 7))]);
        var e = Assert.Single(sink.Events);
        Assert.True(e.Record.HasResponse);
        Assert.True(e.HasAnomaly(CoapAnomaly.Malformed));
        Assert.True(e.HasAnomaly(CoapAnomaly.PayloadMarkerWithoutPayload));
        Assert.Equal("/a", e.Str("uri_path"));
    }

    [Fact]
    public void RequestFields_AllWritten()
    {
        var msg = Msg(Con, Post, 1, [1, 2, 3, 4, 5, 6, 7, 8],
        [
            (CoapOptionNumber.UriHost, Str("example.net")),
            (CoapOptionNumber.ETag, [0xAB, 0xCD]),
            (CoapOptionNumber.IfNoneMatch, []),
            (CoapOptionNumber.UriPort, Uint(5683)),
            (CoapOptionNumber.Oscore, [0x09]),
            Path("a"), Path("b\"c"),
            (CoapOptionNumber.ContentFormat, Uint(50)),
            (CoapOptionNumber.UriQuery, Str("x=1")), (CoapOptionNumber.UriQuery, Str("y=2")),
            (CoapOptionNumber.HopLimit, [16]),
            (CoapOptionNumber.Accept, Uint(60)),
            (CoapOptionNumber.Size1, Uint(1000)),
            (CoapOptionNumber.NoResponse, Uint(26)),
            (65001, [0x01]),
        ], Str("{\"v\":1}"));
        var sink = Run([(C2S, msg)]);
        var e = Assert.Single(sink.Events);
        Assert.Equal("0102030405060708", e.Str("token"));
        Assert.Equal("example.net", e.Str("uri_host"));
        Assert.Equal(5683, e.Int("uri_port"));
        Assert.Equal("/a/b\"c", e.Str("uri_path"));
        Assert.Equal("x=1&y=2", e.Str("uri_query"));
        Assert.Equal(50, e.Int("content_format"));
        Assert.Equal(60, e.Int("accept"));
        Assert.Equal("abcd", e.Str("request_etag"));
        Assert.True(e.Bool("if_none_match"));
        Assert.True(e.Bool("oscore"));
        Assert.Equal(16, e.Int("hop_limit"));
        Assert.Equal(1000, e.Int("size1"));
        Assert.Equal(26, e.Int("no_response"));
        Assert.Equal(7, e.Int("payload_len"));
        var o = Assert.Single(e.Json.GetProperty("options").EnumerateArray());
        Assert.Equal(65001, o.GetProperty("number").GetInt32());
        Assert.True(o.GetProperty("critical").GetBoolean());
        Assert.False(o.GetProperty("unsafe").GetBoolean());
        Assert.Equal("01", o.GetProperty("value").GetString());
        Assert.True(e.HasAnomaly(CoapAnomaly.UnknownCriticalOption));
    }

    [Fact]
    public void ResponseFields_LocationAndUnknownMethod()
    {
        var sink = Run(
        [
            (C2S, Msg(Con, 0x1F, 1, [1])),
            (S2C, Msg(Ack, 0x41, 1, [1], [(CoapOptionNumber.ETag, [1]), (CoapOptionNumber.LocationPath, Str("rd")), (CoapOptionNumber.LocationPath, Str("4521")), (CoapOptionNumber.LocationQuery, Str("q"))])),
        ]);
        var e = Assert.Single(sink.Events);
        Assert.Equal("0.31", e.Str("method"));
        Assert.True(e.HasAnomaly(CoapAnomaly.ReservedCode));
        Assert.Equal("/rd/4521", e.Str("location_path"));
        Assert.Equal("q", e.Str("location_query"));
        Assert.Equal("01", e.Str("etag"));
        Assert.Equal("/", e.Str("uri_path"));
    }

    [Fact]
    public void SteadyState_AllocatesNothingPerExchange()
    {
        var (s, sink, flow) = NewSession();
        var get = Msg(Con, Get, 0, [1, 2], [Path("sensors"), Path("temp")]);
        var ack = Msg(Ack, Content, 0, [1, 2], [(CoapOptionNumber.ContentFormat, [])], Str("21.5"));
        var nullSink = new CountingSink();
        var session = new CoapSession(nullSink, new CoapOptions());
        void Round(int count, int start)
        {
            for (int i = start; i < start + count; i++)
            {
                get[2] = ack[2] = (byte)(i >> 8);
                get[3] = ack[3] = (byte)i;
                session.OnDatagram(flow, C2S, get, Meta(i * 2L));
                session.OnDatagram(flow, S2C, ack, Meta((i * 2L) + 1));
            }
        }

        Round(100, 0);
        long before = GC.GetAllocatedBytesForCurrentThread();
        Round(2000, 100);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 8 * 1024, $"allocated {allocated} bytes for 4000 messages");
        Assert.Equal(2100, nullSink.Count);
        _ = s;
        _ = sink;
    }

    private sealed class CountingSink : IEventSink
    {
        public int Count { get; private set; }

        public void Transaction(FlowContext flow, in TransactionRecord transaction, ReadOnlySpan<byte> request, ReadOnlySpan<byte> response) => Count++;

        public void Anomaly(FlowContext flow, in AnomalyRecord anomaly) { }
    }
}
