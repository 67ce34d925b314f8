using System.Diagnostics;
using OtSensor.Capture;
using OtSensor.Decoding;
using OtSensor.Flows;
using OtSensor.Output;
using OtSensor.Pipeline;
using OtSensor.Protocols.Mqtt;
using OtSensor.Tests.Differential;

namespace OtSensor.Tests.Protocols.Mqtt;

/// <summary>End to end over public captures: FlowTable + MqttSession + MqttReport, packet counts against tshark.</summary>
public class MqttCaptureTests
{
    private sealed class BufferSink(EventBuffer buffer) : IEventSink
    {
        public void Transaction(FlowContext flow, in TransactionRecord transaction, ReadOnlySpan<byte> request, ReadOnlySpan<byte> response)
        {
            int offset = buffer.Store(request);
            ref var e = ref buffer.Add();
            e.Kind = EventKind.Transaction;
            e.Flow = FlowEndpoints.From(flow);
            e.Transaction = transaction;
            e.RequestOffset = offset;
            e.RequestLength = request.Length;
        }

        public void Anomaly(FlowContext flow, in AnomalyRecord anomaly)
        {
            ref var e = ref buffer.Add();
            e.Kind = EventKind.Anomaly;
            e.Flow = FlowEndpoints.From(flow);
            e.Anomaly = anomaly;
        }
    }

    private sealed class Factory(IEventSink sink, ushort port) : IDissectorFactory
    {
        public DissectorChoice Select(FlowContext flow, Direction direction, ReadOnlySpan<byte> payload, out IFlowDissector? dissector)
        {
            dissector = null;
            if (flow.Transport != TransportLayer.Tcp) return DissectorChoice.None;
            if (flow.ServerPort == port || MqttProbe.LooksLikeMqtt(payload, direction == Direction.ToServer))
            {
                dissector = new MqttSession(sink, new MqttOptions());
                return DissectorChoice.Selected;
            }

            return payload.IsEmpty ? DissectorChoice.Undecided : DissectorChoice.None;
        }
    }

    internal static MqttReport Replay(string path, ushort port, out EventBuffer buffer)
    {
        buffer = new EventBuffer();
        var table = new FlowTable(new FlowTableOptions(), new Factory(new BufferSink(buffer), port));
        using var reader = CaptureFileReader.Open(path);
        long n = 0;
        long last = 0;
        var decoded = new DecodedPacket();
        while (reader.TryReadPacket(out var pkt))
        {
            n++;
            last = pkt.TimestampNs;
            if (!PacketDecoder.Decode(pkt.LinkType, pkt.Data, ref decoded)) continue;
            table.Process(decoded, pkt.Data, new PacketMeta(pkt.TimestampNs, n));
        }

        table.CloseAll(last);
        var report = new MqttReport();
        for (int i = 0; i < buffer.Count; i++) report.OnEvent(buffer[i], buffer);
        return report;
    }

    private static long[]? TsharkCounts(string path, ushort port)
    {
        try
        {
            var psi = new ProcessStartInfo("tshark", ["-r", path, "-d", $"tcp.port=={port},mqtt", "-Y", "mqtt", "-T", "fields", "-e", "mqtt.msgtype"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var p = Process.Start(psi)!;
            string output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) return null;
            var counts = new long[16];
            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                foreach (var t in line.Split(',')) counts[int.Parse(t, System.Globalization.CultureInfo.InvariantCulture) & 0xF]++;
            }

            return counts;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    public static TheoryData<string, int> Captures => new()
    {
        { "suricata-verify/mqtt31-pub-qos1/input.pcap", 1883 },
        { "suricata-verify/mqtt31-sub-userpass/input.pcap", 1883 },
        { "suricata-verify/mqtt31-unsub-qos1/input.pcap", 1883 },
        { "suricata-verify/mqtt311-pub-qos2/input.pcap", 1883 },
        { "suricata-verify/mqtt311-pub-userpass/input.pcap", 1883 },
        { "suricata-verify/mqtt311-unsub-userpass/input.pcap", 1883 },
        { "suricata-verify/mqtt5-pub-mosquittoprops/input.pcap", 1883 },
        { "suricata-verify/mqtt5-pub-qos1/input.pcap", 1883 },
        { "suricata-verify/mqtt5-pub-userpass/input.pcap", 1883 },
        { "suricata-verify/mqtt5-sub-userpass/input.pcap", 1883 },
        { "suricata-verify/mqtt5-unsub-qos2/input.pcap", 1883 },
        { "suricata-verify/mqtt-ping/input.pcap", 1883 },
        { "suricata-verify/mqtt-pub-rules/input.pcap", 1883 },
        { "suricata-verify/mqtt-events-invalid-qos/input.pcap", 1883 },
        { "suricata-verify/mqtt-events-unassigned-msgtype/input.pcap", 1883 },
        { "suricata-verify/mqtt-frames-truncated/input.pcap", 1883 },
        { "suricata-verify/mqtt-midstream-split/mqtt-midstream-split.pcap", 1883 },
        { "suricata-verify/mqtt5-excessiveproplen/input.pcap", 1883 },
        { "suricata-verify/mqtt-limit-2/input.pcap", 1883 },
        { "arkime/mqtt_synthetic.pcap", 1883 },
        { "zeek/Traces/mqtt.pcap", 1883 },
        { "nDPI/coap_mqtt.pcap", 17501 },
    };

    [Theory]
    [MemberData(nameof(Captures))]
    public void PublicCapture_PacketCountsByType_MatchTshark(string relative, int port)
    {
        string path = Path.Combine(TestPaths.SharedPublicDir, relative);
        if (!File.Exists(path)) return; // public captures are not part of the repository
        var expected = TsharkCounts(path, (ushort)port);
        if (expected is null) return; // tshark not installed
        Assert.True(expected.Sum() > 0);
        var report = Replay(path, (ushort)port, out _);
        for (int t = 0; t < 16; t++)
        {
            Assert.True(expected[t] == report.PacketsFor(t), $"type {t}: tshark {expected[t]}, otsensor {report.PacketsFor(t)}");
        }
    }

    [Theory]
    [InlineData("mqtt-events-invalid-qos", MqttAnomaly.InvalidQos)]
    [InlineData("mqtt-events-unassigned-msgtype", MqttAnomaly.ReservedPacketType)]
    [InlineData("mqtt5-excessiveproplen", MqttAnomaly.MalformedPacket)]
    public void SuricataEventCaptures_RaiseTheMatchingAnomaly(string name, MqttAnomaly expected)
    {
        string dir = Path.Combine(TestPaths.SharedPublicDir, "suricata-verify", name);
        if (!Directory.Exists(dir)) return;
        var report = Replay(Directory.GetFiles(dir, "*.pcap")[0], 1883, out _);
        Assert.Equal(1, report.AnomalyCount(expected));
    }

    [Fact]
    public void MidstreamSplit_FromTheServerSide_FindsTheLargePublish()
    {
        string path = Path.Combine(TestPaths.SharedPublicDir, "suricata-verify", "mqtt-midstream-split", "mqtt-midstream-split.pcap");
        if (!File.Exists(path)) return;
        var report = Replay(path, 1883, out _);
        Assert.Equal(3, report.TotalPackets);
        Assert.Equal(1, report.PublishedTopics["topicX"]);
        Assert.Equal(0, report.AnomalyCount(MqttAnomaly.ReservedPacketType));
    }

    [Fact]
    public void Report_ListsClientsTopicsAndWritesValidJson()
    {
        string path = Path.Combine(TestPaths.SharedPublicDir, "zeek", "Traces", "mqtt.pcap");
        if (!File.Exists(path)) return;
        var report = Replay(path, 1883, out _);
        Assert.Equal(2, report.Clients.Count);
        Assert.All(report.Clients, c => Assert.Equal(3, c.Version));
        Assert.Equal(3, report.PublishedTopics["SampleTopic"]);
        Assert.Equal(1, report.SubscribedTopics["SampleTopic"]);
        Assert.Equal(5, report.PacketsFor(12));
        using var ms = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(ms)) report.WriteJson(w);
        var doc = System.Text.Json.JsonDocument.Parse(ms.ToArray());
        Assert.Equal(5, doc.RootElement.GetProperty("by_type").GetProperty("pingreq").GetInt32());
        var text = new StringWriter();
        report.WriteText(text);
        Assert.Contains("SampleTopic", text.ToString(), StringComparison.Ordinal);
    }
}
