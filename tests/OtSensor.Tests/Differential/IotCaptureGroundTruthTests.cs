using Xunit.Abstractions;

namespace OtSensor.Tests.Differential;

/// <summary>
/// tshark must see in each of our own MQTT and CoAP captures exactly what the generator says went on the
/// wire (MANIFEST.json ground truth: the mosquitto / libcoap peers' own logs, or the crafted cases), apart
/// from the per-case differences the generator documents (cases[].tshark_note / tshark_adjust).
/// </summary>
public class IotCaptureGroundTruthTests(ITestOutputHelper output)
{
    private static readonly string[] MqttAnomalyIds =
    [
        "mqtt_malformed_remaining_length", "mqtt_reserved_packet_type", "mqtt_invalid_flags", "mqtt_invalid_qos",
        "mqtt_publish_before_connect", "mqtt_double_connect", "mqtt_malformed_packet", "mqtt_missing_packet_id",
        "mqtt_malformed_utf8", "mqtt_malformed_property",
    ];

    private static readonly string[] CoapAnomalyIds =
    [
        "coap_malformed", "coap_unsolicited_response", "coap_invalid_version", "coap_invalid_token_length",
        "coap_invalid_option", "coap_payload_marker_without_payload", "coap_unknown_critical_option",
        "coap_invalid_block_size",
    ];

    public static TheoryData<string> MqttFiles() => Files("mqtt");

    public static TheoryData<string> CoapFiles() => Files("coap");

    [Fact]
    public void Manifest_ListsTheMqttAndCoapCaptures()
    {
        var files = CaptureManifest.IotEntries.Select(e => e.File).ToHashSet();
        Assert.Subset(files, new HashSet<string>
        {
            "mqtt_mosquitto.pcap", "mqtt_mosquitto_auth.pcap", "mqtt_crafted.pcap", "coap_libcoap.pcap", "coap_crafted.pcap",
        });
        Assert.All(CaptureManifest.IotEntries, e => Assert.Equal(e.Messages, (e.Protocol == "mqtt" ? e.MessagesByType : e.MessagesByCode).Values.Sum()));
    }

    [Theory]
    [InlineData("mqtt_crafted.pcap", "mqtt")]
    [InlineData("coap_crafted.pcap", "coap")]
    public void Manifest_CraftedCasesCoverEveryAnomalyId(string file, string protocol)
    {
        var ids = protocol == "mqtt" ? MqttAnomalyIds : CoapAnomalyIds;
        var raised = CaptureManifest.GetIot(file).Cases.SelectMany(c => c.ExpectedAnomalies).ToHashSet();
        Assert.Equal(ids.Order(StringComparer.Ordinal), raised.Order(StringComparer.Ordinal));
        Assert.Contains(CaptureManifest.GetIot(file).Cases, c => c.ExpectedAnomalies.Count == 0); // control cases
    }

    [Theory]
    [MemberData(nameof(MqttFiles))]
    public void Tshark_SeesTheMqttMessagesTheGeneratorRecorded(string file)
    {
        if (!TsharkReference.EnsureAvailable(output))
        {
            return;
        }

        var e = CaptureManifest.GetIot(file);
        var r = TsharkReference.Mqtt(TestPaths.Capture(file), [.. e.TsharkExtraArgs]);
        output.WriteLine(r.ToString());

        Assert.Equal(e.Packets, r.Frames);
        Assert.Equal(IotLabels.Format(e.TsharkExpected("messages_by_type", e.MessagesByType)), IotLabels.Format(r.MessagesByType));
        Assert.Equal(IotLabels.Format(e.TsharkExpected("connect_versions", e.ConnectVersions)), IotLabels.Format(r.ConnectVersions));
        Assert.Equal(IotLabels.Format(e.TsharkExpected("connack_codes", e.ConnackCodes)), IotLabels.Format(r.ConnackCodes));

        // An empty client id is an empty field for tshark; documented differences remove ids tshark cannot read.
        var ids = e.TsharkExpected("client_ids", e.ClientIds.Distinct().ToDictionary(id => id, _ => 1, StringComparer.Ordinal));
        var expectedIds = ids.Keys.Where(id => id.Length > 0).Select(MqttDisplay).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(Sorted(expectedIds), Sorted(r.ClientIds.Keys));

        // tshark shows invalid UTF-8 as U+FFFD; the generator records such a topic as hex only.
        var expectedTopics = e.TopicsPublished.Keys.Concat(e.TopicFilters).Select(MqttDisplay).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(Sorted(expectedTopics), Sorted(r.Topics.Keys.Where(t => !t.Contains('\uFFFD', StringComparison.Ordinal))));
    }

    [Theory]
    [MemberData(nameof(CoapFiles))]
    public void Tshark_SeesTheCoapMessagesTheGeneratorRecorded(string file)
    {
        if (!TsharkReference.EnsureAvailable(output))
        {
            return;
        }

        var e = CaptureManifest.GetIot(file);
        var r = TsharkReference.Coap(TestPaths.Capture(file), [.. e.TsharkExtraArgs]);
        output.WriteLine(r.ToString());

        Assert.Equal(e.Packets, r.Frames);
        Assert.Equal(IotLabels.Format(e.TsharkExpected("messages_by_type", e.MessagesByType)), IotLabels.Format(r.MessagesByType));
        Assert.Equal(IotLabels.Format(e.TsharkExpected("messages_by_code", e.MessagesByCode)), IotLabels.Format(r.MessagesByCode));
        Assert.Equal(Sorted(e.MessageIds.Select(kv => $"{kv.Key} x{kv.Value}")), Sorted(r.MessageIds.Select(kv => $"{kv.Key} x{kv.Value}")));
        var expectedPaths = e.UriPaths.ToDictionary(kv => CoapDisplay(kv.Key), kv => kv.Value, StringComparer.Ordinal);
        Assert.Equal(IotLabels.Format(expectedPaths), IotLabels.Format(r.UriPaths));
    }

    [Theory]
    [InlineData("mqtt_mosquitto_auth.pcap", "mqtt")]
    [InlineData("mqtt_crafted.pcap", "mqtt")]
    [InlineData("coap_crafted.pcap", "coap")]
    public void Tshark_NeedsTheSideFilesDecodeAs_ForNonStandardPorts(string file, string protocol)
    {
        if (!TsharkReference.EnsureAvailable(output))
        {
            return;
        }

        var sideArgs = File.ReadAllLines(TestPaths.Capture(file) + ".tshark-args").Where(l => l.Length > 0).ToArray();
        Assert.Equal(CaptureManifest.GetIot(file).TsharkExtraArgs, sideArgs);
        var copy = Path.Combine(Path.GetTempPath(), $"otsensor-{Environment.ProcessId}-{file}");
        File.Copy(TestPaths.Capture(file), copy, overwrite: true);
        try
        {
            int Count(params string[] args) => protocol == "mqtt"
                ? TsharkReference.Mqtt(copy, args).Messages
                : TsharkReference.Coap(copy, args).Messages;
            Assert.True(Count(sideArgs) > Count(), $"{file}: the Decode-As {string.Join(' ', sideArgs)} should add messages");
        }
        finally
        {
            File.Delete(copy);
        }
    }

    /// <summary>How tshark 4.0 prints an MQTT string field: cut at NUL, CR LF TAB escaped (\ is not).</summary>
    public static string MqttDisplay(string s)
    {
        var nul = s.IndexOf('\0', StringComparison.Ordinal);
        return (nul >= 0 ? s[..nul] : s).Replace("\r", "\\r", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);
    }

    /// <summary>How tshark 4.0 prints a CoAP Uri-Path: each segment cut at NUL, CR LF TAB escaped (\ is not).</summary>
    public static string CoapDisplay(string path) =>
        string.Join('/', path.Split('/').Select(seg =>
        {
            var nul = seg.IndexOf('\0', StringComparison.Ordinal);
            return (nul >= 0 ? seg[..nul] : seg).Replace("\r", "\\r", StringComparison.Ordinal)
                .Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal);
        }));

    private static TheoryData<string> Files(string protocol)
    {
        var data = new TheoryData<string>();
        foreach (var e in CaptureManifest.IotEntries.Where(e => e.Protocol == protocol))
        {
            data.Add(e.File);
        }

        return data;
    }

    private static List<string> Sorted(IEnumerable<string> items) => [.. items.Order(StringComparer.Ordinal)];
}
