using System.Globalization;
using OtSensor.Output;
using OtSensor.Pipeline;
using OtSensor.Protocols.Coap;
using Xunit.Abstractions;

namespace OtSensor.Tests.Protocols.Coap;

/// <summary>Cross-checks against tshark on public captures (ttproto F-Interop test descriptions, nDPI).</summary>
public class CoapCaptureTests(ITestOutputHelper output)
{
    private static readonly string TtprotoRoot = Path.Combine(CoapTestData.CapturesRoot, "ttproto-f-interop");

    public static TheoryData<string> TtprotoCoapFiles()
    {
        var data = new TheoryData<string>();
        foreach (var row in ReadCsv(Path.Combine(TtprotoRoot, "expected.tshark.csv")))
        {
            if (long.Parse(row["coap_messages"] is { Length: > 0 } s ? s : "0", CultureInfo.InvariantCulture) > 0) data.Add(row["file"]);
        }

        return data;
    }

    private static List<Dictionary<string, string>> ReadCsv(string path)
    {
        var rows = new List<Dictionary<string, string>>();
        if (!File.Exists(path)) return rows;
        var lines = File.ReadAllLines(path);
        var header = lines[0].Split(',');
        foreach (var line in lines.Skip(1))
        {
            var cells = line.Split(',');
            if (cells.Length < header.Length) continue;
            rows.Add(header.Select((h, i) => (h, cells[i])).ToDictionary(x => x.h, x => x.Item2));
        }

        return rows;
    }

    /// <summary>"ACK:1;CON:1" → dictionary.</summary>
    private static Dictionary<string, long> Counts(string cell)
        => cell.Length == 0 ? [] : cell.Split(';').Select(p => p.Split(':')).ToDictionary(p => p[0], p => long.Parse(p[1], CultureInfo.InvariantCulture));

    internal static CoapReport Report(CoapRecordingSink sink)
    {
        var report = new CoapReport();
        var buffer = new EventBuffer();
        foreach (var e in sink.Events)
        {
            buffer.Clear();
            ref var entry = ref buffer.Add();
            entry.Kind = EventKind.Transaction;
            entry.Transaction = e.Record;
            entry.RequestOffset = buffer.Store(e.Blob);
            entry.RequestLength = e.Blob.Length;
            entry.Flow = new FlowEndpoints { ServerIp = CoapTestData.Flow().ServerIp, ServerPort = 5683, ClientIp = CoapTestData.Flow().ClientIp };
            report.OnEvent(in entry, buffer);
        }

        foreach (var a in sink.Anomalies)
        {
            var entry = new EventEntry { Kind = EventKind.Anomaly, Anomaly = a };
            report.OnEvent(in entry, buffer);
        }

        return report;
    }

    /// <summary>
    /// CoAP messages tshark also counts inside ICMP port-unreachable errors (the quoted datagram): they are not
    /// messages of the UDP flow, so the dissector never sees them. (file → type, code, count), from
    /// <c>tshark -Y "coap &amp;&amp; icmp"</c>.
    /// </summary>
    internal static readonly Dictionary<string, (string Type, byte Code, int Count)[]> InsideIcmp = new()
    {
        ["coap_observe/TD_COAP_OBS_05_PASS.pcap"] = [("CON", 0x45, 5)],
        ["coap_observe/TD_COAP_OBS_04_PASS.pcap"] = [("CON", 0x01, 2)],
        ["coap_observe/TD_COAP_OBS_04_FAIL_Re_registration_FAILED.pcap"] = [("CON", 0x01, 2)],
        ["preprocess/coap/OBS_01_Interrupted_OBS_07.pcap"] = [("CON", 0x84, 1), ("CON", 0x45, 3)],
        ["preprocess/coap/Single_conversation_empty_token.pcap"] = [("CON", 0x45, 5)],
    };

    private static byte CodeOf(string label)
    {
        var parts = label.Split(' ')[0].Split('.');
        return (byte)((int.Parse(parts[0], CultureInfo.InvariantCulture) << 5) | int.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    [Theory]
    [MemberData(nameof(TtprotoCoapFiles))]
    public void TtprotoCapture_MessageCountsByTypeAndCode_MatchTshark(string file)
    {
        var row = ReadCsv(Path.Combine(TtprotoRoot, "expected.tshark.csv")).Single(r => r["file"] == file);
        var (sink, _) = CoapTestData.RunCapture(Path.Combine(TtprotoRoot, file));
        var report = Report(sink);
        foreach (var e in sink.Events) output.WriteLine($"{e.Record.HasRequest} {e.Record.HasResponse} {e.Record.Anomalies:x} {e.Json}");

        var types = Counts(row["coap_types"]);
        var codes = Counts(row["coap_codes"]).ToDictionary(kv => CodeOf(kv.Key), kv => kv.Value);
        long total = long.Parse(row["coap_messages"], CultureInfo.InvariantCulture);
        foreach (var (type, code, count) in InsideIcmp.GetValueOrDefault(file, []))
        {
            types[type] -= count;
            codes[code] -= count;
            total -= count;
        }

        foreach (var t in Enum.GetValues<CoapMessageType>())
        {
            string name = System.Text.Encoding.ASCII.GetString(CoapReader.TypeName(t));
            Assert.True(types.GetValueOrDefault(name) == report.MessagesOfType(t), $"{name}: tshark {types.GetValueOrDefault(name)}, ours {report.MessagesOfType(t)}");
        }

        foreach (var (code, count) in codes)
        {
            Assert.True(count == report.MessagesWithCode(code), $"{CoapReader.CodeString(code)}: tshark {count}, ours {report.MessagesWithCode(code)}");
        }

        Assert.Equal(total, report.Messages);
        Assert.Equal(0, report.Unsolicited);
    }

    [Fact]
    public void CaliforniumProxyDump_SpoofedRequests_AreUnansweredAndTheirResponsesUnsolicited()
    {
        // californium-deter-coap-dos r1/proxy_dump.pcap: 1000 CON GET /coap2http (Uri-Host, Proxy-Uri) from a spoofed
        // 8.8.8.8 to 10.1.2.3, and 1000 piggybacked 2.05 from 192.168.3.89 back to 8.8.8.8: two flows, so nothing can
        // match (tshark: CON 1000, ACK 1000, 0.01 GET 1000, 2.05 Content 1000).
        var (sink, _) = CoapTestData.RunCapture(Path.Combine(CoapTestData.CapturesRoot, "californium-deter-coap-dos/r1/proxy_dump.pcap"), new CoapOptions { MaxPending = 1000 });
        var report = Report(sink);
        Assert.Equal(2000, sink.Events.Count);
        Assert.Equal(1000, report.Unanswered);
        Assert.Equal(1000, report.Unsolicited);
        Assert.Equal(1000, report.MessagesOfType(CoapMessageType.Confirmable));
        Assert.Equal(1000, report.MessagesOfType(CoapMessageType.Acknowledgement));
        Assert.Equal(1000, report.MessagesWithCode(0x01));
        Assert.Equal(1000, report.MessagesWithCode(0x45));
        var first = sink.Events.Where(e => e.Record.HasRequest).OrderBy(e => e.Record.RequestPacket).First();
        Assert.Equal("/coap2http", first.Str("uri_path"));
        Assert.Equal("10.1.2.3", first.Str("uri_host"));
        Assert.Equal("http://10.1.1.3:8000/0", first.Str("proxy_uri"));
        Assert.Equal("81972a65", first.Str("token"));
        Assert.Empty(sink.Anomalies);
    }

    [Fact]
    public void CaliforniumProxyDump_WithTheDefaultPendingBound_ReportsOverflow()
    {
        var (sink, _) = CoapTestData.RunCapture(Path.Combine(CoapTestData.CapturesRoot, "californium-deter-coap-dos/r1/proxy_dump.pcap"));
        var report = Report(sink);
        Assert.Equal(1000 - 256, report.AnomalyCount(CoapAnomaly.PendingOverflow));
        Assert.Equal(1000, report.Unanswered);
        Assert.Equal(1000, report.MessagesOfType(CoapMessageType.Confirmable));
    }

    [Fact]
    public void CaliforniumAttackerDump_UnansweredFlood_IsReportedUnanswered()
    {
        var (sink, _) = CoapTestData.RunCapture(Path.Combine(CoapTestData.CapturesRoot, "californium-deter-coap-dos/r1/attacker_dump.pcap"));
        var report = Report(sink);
        Assert.Equal(1000, sink.Events.Count);
        Assert.Equal(1000, report.Unanswered);
        Assert.Equal(1000, report.MessagesOfType(CoapMessageType.Confirmable));
    }

    [Fact]
    public void NdpiCoapOverIpv6_SeparateResponseAndStorageRequests()
    {
        // nDPI coap_mqtt.pcap: 19 CoAP messages (CON 12, ACK 7) over IPv6; the first five are old-draft requests that
        // tshark marks malformed (option 2 = unknown elective here), unanswered.
        var (sink, _) = CoapTestData.RunCapture(Path.Combine(CoapTestData.CapturesRoot, "nDPI/coap_mqtt.pcap"));
        var report = Report(sink);
        Assert.Equal(12, report.MessagesOfType(CoapMessageType.Confirmable));
        Assert.Equal(7, report.MessagesOfType(CoapMessageType.Acknowledgement));
        Assert.Equal(19, report.Messages);
        var separate = sink.Events.Single(e => e.Has("uri_path") && e.Str("uri_path") == "/separate");
        Assert.True(separate.Bool("separate_response"));
        Assert.Equal("ACK", separate.Str("request_ack"));
        Assert.Equal("ACK", separate.Str("response_ack"));
        Assert.Equal(5, sink.Events.Count(e => e.Record.HasRequest && !e.Record.HasResponse));
        Assert.Contains(sink.Events, e => e.Has("uri_path") && e.Str("uri_path") == "/storage/myresource" && e.Str("method") == "DELETE" && e.Str("code") == "2.02");
        Assert.Equal(0, report.Unsolicited);
    }

    [Fact]
    public void BadSzxFromServer_IsFlagged_AndTheTransferStillAddsUp()
    {
        // ttproto TD_COAP_BLOCK_01_FAIL_BAD_SZX_From_Server.pcap: the client asks for 64-byte blocks, the server
        // answers block 0 with 128 bytes (SZX 3), then follows the client's size: 19 blocks, 1280 bytes.
        var (sink, _) = CoapTestData.RunCapture(Path.Combine(TtprotoRoot, "coap_block/TD_COAP_BLOCK_01_FAIL_BAD_SZX_From_Server.pcap"));
        Assert.True(sink.Events[0].HasAnomaly(CoapAnomaly.BlockSizeIncreased));
        Assert.Equal(1, sink.Events.Count(e => e.HasAnomaly(CoapAnomaly.BlockSizeIncreased)));
        var t = sink.Events[^1].Json.GetProperty("transfer");
        Assert.Equal(19, t.GetProperty("blocks").GetInt32());
        Assert.Equal(1280, t.GetProperty("total_size").GetInt32());
        Assert.True(t.GetProperty("complete").GetBoolean());
    }

    [Theory]
    [InlineData("coap_block/TD_COAP_BLOCK_01_PASS.pcap", 20)]
    [InlineData("coap_block/TD_COAP_BLOCK_06_PASS.pcap", 80)]
    public void BlockwiseCaptures_ReportTheTransferTotals(string file, int blocks)
    {
        var (sink, _) = CoapTestData.RunCapture(Path.Combine(TtprotoRoot, file));
        var t = Assert.Single(sink.Events, e => e.Has("transfer")).Json.GetProperty("transfer");
        Assert.Equal(blocks, t.GetProperty("blocks").GetInt32());
        Assert.Equal(1280, t.GetProperty("total_size").GetInt32());
        Assert.True(t.GetProperty("complete").GetBoolean());
        Assert.All(sink.Events, e => Assert.Equal(0UL, e.Record.Anomalies));
    }
}
