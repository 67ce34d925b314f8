namespace OtSensor.Tests.Differential;

public class IotReferenceParseTests
{
    private const char A = TsharkReference.Aggregator;

    [Fact]
    public void ParseMqtt_CountsEveryMessageOfAFrame_WithTsharkReferenceLabels()
    {
        // frame 1: CONNECT v5; frame 2: CONNACK (v5 reason 135); frame 3: PUBLISH + PINGREQ + type 0;
        // frame 4: SUBSCRIBE with two filters, one containing a comma; frame 5: not MQTT.
        var fields =
            "1\t1\t5\t\t\tsensor,1\t\n" +
            "2\t2\t\t\t135\t\t\n" +
            $"3\t3{A}12{A}0\t\t\t\t\tplant/a\n" +
            $"4\t8\t\t\t\t\tplant/+/t{A}a,b/#\n" +
            "5\t\t\t\t\t\t\n" +
            "6\t1\t6\t\t\tx\t\n" +
            "7\t2\t\t1\t\t\t\n";

        var r = TsharkReference.ParseMqtt("x.pcap", fields);

        Assert.Equal(7, r.Frames);
        Assert.Equal(8, r.Messages);
        Assert.Equal("CONNACK:2;CONNECT:2;PINGREQ:1;PUBLISH:1;Reserved(0):1;SUBSCRIBE:1", IotLabels.Format(r.MessagesByType));
        Assert.Equal("5.0:1;level 6:1", IotLabels.Format(r.ConnectVersions));
        Assert.Equal("1:1;135:1", IotLabels.Format(r.ConnackCodes));
        Assert.Equal(["sensor,1", "x"], r.ClientIds.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["a,b/#", "plant/+/t", "plant/a"], r.Topics.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ParseCoap_CountsTypesCodesMidsAndJoinsUriPathSegments()
    {
        var fields =
            $"1\t0\t1\t4097\tsensors{A}temp\n" +
            "2\t2\t69\t4097\t\n" +
            "3\t3\t0\t4097\t\n" +
            "4\t1\t132\t0x0010\t\n" +
            "5\t\t\t\t\n";

        var r = TsharkReference.ParseCoap("x.pcap", fields);

        Assert.Equal(5, r.Frames);
        Assert.Equal(4, r.Messages);
        Assert.Equal("ACK:1;CON:1;NON:1;RST:1", IotLabels.Format(r.MessagesByType));
        Assert.Equal("0.00:1;0.01:1;2.05:1;4.04:1", IotLabels.Format(r.MessagesByCode));
        Assert.Equal("0.00 Empty:1;0.01 GET:1;2.05 Content:1;4.04 Not Found:1", IotLabels.Format(r.MessagesByCodeLabel));
        Assert.Equal(3, r.MessageIds[4097]);
        Assert.Equal(1, r.MessageIds[16]);
        Assert.Equal("/sensors/temp:1", IotLabels.Format(r.UriPaths));
    }

    [Theory]
    [InlineData(0, "0.00")]
    [InlineData(1, "0.01")]
    [InlineData(69, "2.05")]
    [InlineData(95, "2.31")]
    [InlineData(160, "5.00")]
    [InlineData(255, "7.31")]
    public void CoapCode_IsClassDotTwoDigitDetail(int code, string expected) =>
        Assert.Equal(expected, IotLabels.CoapCode(code));

    [Fact]
    public void CoapCodeLabel_LeavesUnnamedCodesBare()
    {
        Assert.Equal("4.05 Method Not Allowed", IotLabels.CoapCodeLabel("4.05"));
        Assert.Equal("7.31", IotLabels.CoapCodeLabel("7.31"));
    }

    [Fact]
    public void Add_AppliesDocumentedDifferences_AndDropsZeroCounts()
    {
        var counts = new Dictionary<string, int> { ["PUBLISH"] = 3, ["PUBCOMP"] = 1 };
        var r = IotLabels.Add(counts, new Dictionary<string, int> { ["PUBLISH"] = -3, ["PUBCOMP"] = 1, ["AUTH"] = 1 });

        Assert.Equal("AUTH:1;PUBCOMP:2", IotLabels.Format(r));
    }

    [Fact]
    public void DisplayNormalization_MatchesTsharkEscaping()
    {
        Assert.Equal("inj|a=b\\c\\r\\nd", IotCaptureGroundTruthTests.MqttDisplay("inj|a=b\\c\r\nd\0tail"));
        Assert.Equal("/a|b/back\\slash/cr\\rlf\\n/nul", IotCaptureGroundTruthTests.CoapDisplay("/a|b/back\\slash/cr\rlf\n/nul\0end"));
    }
}
