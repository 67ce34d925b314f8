using System.Text.Json;
using OtSensor.Flows;
using OtSensor.Output;
using OtSensor.Pipeline;
using OtSensor.Protocols.Coap;
using static OtSensor.Tests.Protocols.Coap.CoapTestData;

namespace OtSensor.Tests.Protocols.Coap;

public class CoapReportTests
{
    private const Direction C2S = Direction.ToServer;
    private const Direction S2C = Direction.ToClient;

    private static CoapRecordingSink Scenario() => Run(
    [
        // Discovery.
        (C2S, Msg(Con, Get, 1, [1], [Path(".well-known"), Path("core")])),
        (S2C, Msg(Ack, Content, 1, [1], [(CoapOptionNumber.ContentFormat, Uint(40))], Str("</temp>;rt=\"temperature-c\";if=\"sensor\";obs,</led>;title=\"LED\""))),
        // Observe /temp with a CON notification acknowledged.
        (C2S, Msg(Con, Get, 2, [2], [(CoapOptionNumber.Observe, []), Path("temp")])),
        (S2C, Msg(Ack, Content, 2, [2], [(CoapOptionNumber.Observe, Uint(5))], Str("20"))),
        (S2C, Msg(Con, Content, 900, [2], [(CoapOptionNumber.Observe, Uint(6))], Str("21"))),
        (C2S, Msg(Ack, 0, 900)),
        // PUT /led retransmitted once, then answered.
        (C2S, Msg(Con, Put, 3, [3], [Path("led")], Str("on"))),
        (C2S, Msg(Con, Put, 3, [3], [Path("led")], Str("on"))),
        (S2C, Msg(Ack, Changed, 3, [3])),
        // Unsolicited RST and an unanswered NON.
        (S2C, Msg(Rst, 0, 4444)),
        (C2S, Msg(Non, Get, 5, [5], [Path("missing")])),
    ]);

    [Fact]
    public void Report_CountsEveryWireMessageByTypeAndCode()
    {
        var report = CoapCaptureTests.Report(Scenario());
        Assert.Equal(11, report.Messages);
        Assert.Equal(5, report.MessagesOfType(CoapMessageType.Confirmable));
        Assert.Equal(1, report.MessagesOfType(CoapMessageType.NonConfirmable));
        Assert.Equal(4, report.MessagesOfType(CoapMessageType.Acknowledgement));
        Assert.Equal(1, report.MessagesOfType(CoapMessageType.Reset));
        Assert.Equal(3, report.MessagesWithCode(Get));
        Assert.Equal(2, report.MessagesWithCode(Put));
        Assert.Equal(3, report.MessagesWithCode(Content));
        Assert.Equal(1, report.MessagesWithCode(Changed));
        Assert.Equal(2, report.MessagesWithCode(0));
        Assert.Equal(1, report.Unanswered);
        Assert.Equal(1, report.Notifications);
        Assert.Equal(1, report.ObserveRegistrations);
        Assert.Equal(1, report.AnomalyCount(CoapAnomaly.RstUnsolicited));
    }

    [Fact]
    public void Report_ListsServerResources_FromDiscoveryAndRequests()
    {
        var report = CoapCaptureTests.Report(Scenario());
        var server = Assert.Single(report.Servers);
        Assert.Equal(5683, server.Port);
        var temp = server.Resources["/temp"];
        Assert.Equal("temperature-c", temp.Rt);
        Assert.Equal("sensor", temp.If);
        Assert.True(temp.Obs);
        Assert.True(temp.Discovered);
        Assert.Equal(1, temp.Registrations);
        Assert.Equal(1, temp.Notifications);
        Assert.Equal("LED", server.Resources["/led"].Title);
        Assert.Equal(["PUT"], server.Resources["/led"].MethodNames());
        Assert.False(server.Resources["/missing"].Discovered);
        Assert.True(server.Resources.ContainsKey("/.well-known/core"));
    }

    [Fact]
    public void Report_WritesTextAndValidJson()
    {
        var report = CoapCaptureTests.Report(Scenario());
        var text = new StringWriter();
        report.WriteText(text);
        Assert.Contains("== CoAP", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("2.05 Content", text.ToString(), StringComparison.Ordinal);
        Assert.Contains("coap_rst_unsolicited", text.ToString(), StringComparison.Ordinal);
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms)) report.WriteJson(w);
        var json = JsonDocument.Parse(ms.ToArray()).RootElement;
        Assert.Equal(11, json.GetProperty("messages").GetInt64());
        Assert.Equal(5, json.GetProperty("by_type").GetProperty("CON").GetInt64());
        Assert.Equal(3, json.GetProperty("by_code").GetProperty("2.05 Content").GetInt64());
        Assert.Equal(1, json.GetProperty("anomalies").GetProperty("coap_rst_unsolicited").GetInt64());
        var resources = json.GetProperty("servers")[0].GetProperty("resources");
        Assert.Contains(resources.EnumerateArray(), r => r.GetProperty("path").GetString() == "/temp" && r.GetProperty("rt").GetString() == "temperature-c");
    }

    [Fact]
    public void Report_HostileBlobs_NeverThrow()
    {
        var report = new CoapReport();
        var buffer = new EventBuffer();
        var rng = new Random(5);
        for (int i = 0; i < 300; i++)
        {
            var blob = new byte[rng.Next(64)];
            rng.NextBytes(blob);
            buffer.Clear();
            ref var e = ref buffer.Add();
            e.Kind = EventKind.Transaction;
            e.Transaction = new TransactionRecord { Protocol = ProtocolId.Coap, FieldsEncoded = true, HasRequest = true, Anomalies = (ulong)rng.NextInt64() };
            e.RequestOffset = buffer.Store(blob);
            e.RequestLength = blob.Length;
            report.OnEvent(in e, buffer);
        }

        var anomaly = new EventEntry { Kind = EventKind.Anomaly, Anomaly = new AnomalyRecord { AnomalyId = (int)CoapAnomaly.DuplicateMessage, Detail = -1 } };
        report.OnEvent(in anomaly, buffer);
        report.WriteText(new StringWriter());
    }
}
