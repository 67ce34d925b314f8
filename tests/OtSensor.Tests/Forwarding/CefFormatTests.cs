using System.Text;
using OtSensor.Detection;
using OtSensor.Forwarding;

namespace OtSensor.Tests.Forwarding;

public class CefFormatTests
{
    [Theory]
    [InlineData(@"a|b", @"a\|b")]
    [InlineData(@"a\b", @"a\\b")]
    [InlineData("a=b", "a=b")]
    [InlineData("line1\r\nline2", "line1  line2")]
    [InlineData("nul\0bell\u0007del\u007Fc1\u0085x", "nulbelldelc1 x")]
    public void EscapeHeader_EscapesPipeAndBackslash_StripsControls(string input, string expected)
        => Assert.Equal(expected, CefText.EscapeHeader(input, 1000));

    [Theory]
    [InlineData("a=b", @"a\=b")]
    [InlineData(@"a\b", @"a\\b")]
    [InlineData("a|b", "a|b")]
    [InlineData("one\ntwo\rthree", @"one\ntwo\rthree")]
    [InlineData("x\0y\u001bz\u009B", "xyz")]
    [InlineData("sep\u2028arator", "sep arator")]
    public void EscapeExtension_EscapesEqualsBackslashAndNewlines_StripsControls(string input, string expected)
        => Assert.Equal(expected, CefText.EscapeExtension(input, 1000));

    [Fact]
    public void EscapeExtension_SpecExample_DetectedAThreat()
        // "Implementing ArcSight CEF": detected a \ in packet -> detected a \\ in packet; a=b -> a\=b
        => Assert.Equal(@"detected a \\ in packet a\=b", CefText.EscapeExtension(@"detected a \ in packet a=b", 100));

    [Fact]
    public void Escape_NeverCutsAnEscapeOrASurrogatePairInHalf()
    {
        Assert.Equal("ab", CefText.EscapeExtension(@"ab\c", 3));
        Assert.Equal(@"ab\\", CefText.EscapeExtension(@"ab\c", 4));
        Assert.Equal("a", CefText.EscapeExtension("a\U0001F600", 2));
        Assert.Equal("\uFFFDx", CefText.EscapeExtension("\uD800x", 10));
    }

    [Fact]
    public void SafeTruncate_StopsAtUtf8BoundaryAndNotInsideAnEscape()
    {
        var bytes = Encoding.UTF8.GetBytes("abé"); // é = 2 bytes
        Assert.Equal(2, CefText.SafeTruncateLength(bytes, 3));
        var esc = Encoding.UTF8.GetBytes(@"ab\\cd");
        Assert.Equal(4, CefText.SafeTruncateLength(esc, 4));
        Assert.Equal(2, CefText.SafeTruncateLength(esc, 3));
        Assert.Equal(6, CefText.SafeTruncateLength(esc, 100));
    }

    [Fact]
    public void Format_WritesHeaderAndStandardFields()
    {
        var a = Alerts.Make(3);
        a.Id = 42;
        var cef = CefRecord.Parse(new CefFormatter("sensor-1", "1.2.3").Format(a));
        Assert.Equal(["CEF:0", "OtSensor", "OtSensor", "1.2.3", "1003", "Unexpected Modbus write", "7"], cef.Header);
        Assert.Equal("42", cef.Ext["externalId"]);
        Assert.Equal("1700000003500", cef.Ext["rt"]);
        Assert.Equal("1700000003000", cef.Ext["start"]);
        Assert.Equal("1700000003500", cef.Ext["end"]);
        Assert.Equal("1", cef.Ext["cnt"]);
        Assert.Equal("10.0.0.5", cef.Ext["src"]);
        Assert.Equal("40003", cef.Ext["spt"]);
        Assert.Equal("10.0.0.10", cef.Ext["dst"]);
        Assert.Equal("502", cef.Ext["dpt"]);
        Assert.Equal("00:11:22:33:44:55", cef.Ext["smac"]);
        Assert.Equal("66:77:88:99:aa:bb", cef.Ext["dmac"]);
        Assert.Equal("TCP", cef.Ext["proto"]);
        Assert.Equal("modbus", cef.Ext["app"]);
        Assert.Equal("policy", cef.Ext["cat"]);
        Assert.Equal("sensor-1", cef.Ext["dvchost"]);
        Assert.Equal("write #3 to holding register 100", cef.Ext["msg"]);
        Assert.Equal("T0855,T0836", cef.Custom("mitreTechniques"));
        Assert.Equal("HMI-1", cef.Custom("srcAsset"));
        Assert.Equal("Schneider Electric BMX P34", cef.Custom("dstAsset"));
        Assert.Equal("1", cef.Custom("modbusUnitId"));
        Assert.Equal("6", cef.Custom("modbusFunctionCode"));
        Assert.Equal("100-100", cef.Custom("modbusAddressRange"));
        Assert.Equal("3", cef.Custom("modbusValue"));
        Assert.Equal("address_range=100-100; function_code=6; unit_id=1; value=3", cef.Custom("evidence"));
        Assert.Equal("modbus_write_unexpected", cef.Custom("alertType"));
    }

    [Fact]
    public void Format_Ipv6AddressesGoToC6aFields()
    {
        var a = new Alert { Type = "t", Name = "n", Category = "c", Message = "m", Proto = "coap", SrcIp = "fe80::1", DstIp = "ff02::fd" };
        var cef = CefRecord.Parse(new CefFormatter("h").Format(a));
        Assert.Equal("fe80::1", cef.Custom("Source IPv6 Address"));
        Assert.Equal("ff02::fd", cef.Custom("Destination IPv6 Address"));
        Assert.Equal("UDP", cef.Ext["proto"]);
        Assert.False(cef.Ext.ContainsKey("src"));
    }

    public static TheoryData<string> Nasty => new()
    {
        "a|b=c\\d",
        "evil\nCEF:0|Fake|Fake|1|1|forged|10|src=6.6.6.6",
        "x\r\n<13>1 2024-01-01T00:00:00Z host app - - - forged line",
        "nul\0in\0the\0middle",
        "ends with backslash\\",
        "ends with equals=",
        " msg=forged act=allow",
        "\\= \\| \\n",
        new string('\\', 5000),
        "\u0085\u2028\u2029\u001b[31mred\u009b",
    };

    [Theory]
    [MemberData(nameof(Nasty))]
    public void Injection_HostileStringsEverywhere_GiveOneWellFormedRecordWithTheValuesIntact(string evil)
    {
        var a = new Alert
        {
            Id = 7,
            Type = "mqtt_" + evil,
            Name = "Name " + evil,
            Severity = 8,
            Category = "policy" + evil,
            Proto = "mqtt",
            SrcAsset = "device " + evil,
            DstAsset = evil,
            SrcIp = "10.0.0.1",
            Message = "published to " + evil,
            Mitre = [evil],
            Evidence = new() { ["topic"] = "plant/" + evil, ["client_id"] = evil, [evil] = evil },
        };
        foreach (var flavor in (SyslogFlavor[])[SyslogFlavor.Rfc5424, SyslogFlavor.Rfc3164])
        {
            var d = new Destination { Kind = TransportKind.Tcp, Syslog = flavor, MaxMessageBytes = 4096 };
            var bytes = new AlertMessageBuilder(d, "host").Build(a);
            Assert.True(bytes.Length <= 4096);
            Assert.DoesNotContain(bytes, b => b is (byte)'\n' or (byte)'\r' or 0);
            string line = Encoding.UTF8.GetString(bytes);
            // The record starts right after the syslog header, and a forged "CEF:" inside a value stays a value.
            Assert.Equal(line.IndexOf(" CEF:0|OtSensor|OtSensor|", StringComparison.Ordinal) + 1, line.IndexOf("CEF:", StringComparison.Ordinal));
            var cef = CefRecord.Parse(line);
            Assert.Equal("10.0.0.1", cef.Ext["src"]);
            Assert.False(cef.Ext.ContainsKey("act") && cef.Ext["act"] != "alert");
            Assert.Equal("7", cef.Ext["externalId"]);
            string clean = Expected(evil, 1023);
            if (clean.Length < 900)
            {
                Assert.Equal("plant/" + clean, cef.Custom("mqttTopic"));
                Assert.Equal(clean, cef.Custom("mqttClientId"));
                Assert.Equal("Name " + HeaderExpected(evil), cef.Header[5]);
            }
        }
    }

    // What a value looks like after a CEF reader unescapes it: control characters gone, CR/LF kept, separators as space.
    private static string Expected(string v, int max)
    {
        var sb = new StringBuilder();
        foreach (char c in v)
        {
            if (c is '\r' or '\n') sb.Append(c);
            else if (c is '\u2028' or '\u2029' or '\u0085') sb.Append(' ');
            else if (!char.IsControl(c)) sb.Append(c);
        }
        return sb.Length > max ? sb.ToString()[..max] : sb.ToString();
    }

    private static string HeaderExpected(string v)
    {
        var sb = new StringBuilder();
        foreach (char c in v)
        {
            if (c is '\r' or '\n' or '\u2028' or '\u2029' or '\u0085') sb.Append(' ');
            else if (!char.IsControl(c)) sb.Append(c);
        }
        return sb.ToString();
    }

    [Fact]
    public void Format_BoundedMessage_DropsFieldsButStaysWellFormed()
    {
        var a = Alerts.Make(1);
        a.Id = 5;
        a.Message = new string('m', 3000) + "\\";
        var full = new CefFormatter("h").Format(a);
        foreach (int max in (int[])[200, 300, 480, 700, 1000])
        {
            string s = new CefFormatter("h").Format(a, max);
            Assert.True(Encoding.UTF8.GetByteCount(s) <= max, $"{max}: {s.Length}");
            var cef = CefRecord.Parse(s);
            Assert.Equal("5", cef.Ext["externalId"]);
        }
        Assert.True(full.Length > 1000);
    }

    [Fact]
    public void Json_IsOneLineWithSnakeCaseFields()
    {
        var a = Alerts.Make(2);
        a.Id = 9;
        a.Message = "line\nbreak\0nul";
        var json = new JsonAlertFormatter("h").FormatString(a);
        Assert.DoesNotContain('\n', json);
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var r = doc.RootElement;
        Assert.Equal(9, r.GetProperty("id").GetInt64());
        Assert.Equal("modbus_write_unexpected", r.GetProperty("type").GetString());
        Assert.Equal(1002, r.GetProperty("signature_id").GetInt32());
        Assert.Equal("linebreaknul", r.GetProperty("message").GetString());
        Assert.Equal("6", r.GetProperty("evidence").GetProperty("function_code").GetString());
        Assert.Equal(502, r.GetProperty("dst_port").GetInt32());
        var small = new JsonAlertFormatter("h").FormatString(a, 400);
        Assert.True(Encoding.UTF8.GetByteCount(small) <= 400);
        using var doc2 = System.Text.Json.JsonDocument.Parse(small);
        Assert.True(doc2.RootElement.GetProperty("truncated").GetBoolean());
    }
}

public class SyslogEnvelopeTests
{
    [Fact]
    public void Rfc5424_MatchesTheSpecificationExample()
    {
        // RFC 5424 section 6.5, example 1 (without the BOM): <34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed...
        var ts = new DateTimeOffset(2003, 10, 11, 22, 14, 15, 3, TimeSpan.Zero);
        string header = SyslogEnvelope.Rfc5424Header(SyslogEnvelope.Pri(4, 2), ts, "mymachine.example.com", "su", null, "ID47");
        Assert.Equal("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - ", header);
    }

    [Fact]
    public void Rfc5424_TimestampIsUtcAndFieldsArePrintableAsciiBounded()
    {
        var ts = new DateTimeOffset(2003, 8, 24, 5, 14, 15, 0, TimeSpan.FromHours(-7));
        string header = SyslogEnvelope.Rfc5424Header(165, ts, "my host\n", new string('a', 60), "", "x y");
        Assert.Equal($"<165>1 2003-08-24T12:14:15.000Z myhost {new string('a', 48)} - xy - ", header);
    }

    [Fact]
    public void Rfc3164_MatchesTheSpecificationExample()
    {
        // RFC 3164 section 5.4: <34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8
        var ts = new DateTimeOffset(2003, 10, 11, 22, 14, 15, TimeSpan.Zero);
        Assert.Equal("<34>Oct 11 22:14:15 mymachine su: ", SyslogEnvelope.Rfc3164Header(34, ts, "mymachine", "su", null));
        var early = new DateTimeOffset(2003, 10, 1, 2, 3, 4, TimeSpan.Zero);
        Assert.Equal("<13>Oct  1 02:03:04 host otsensor[77]: ", SyslogEnvelope.Rfc3164Header(13, early, "host", "otsensor", "77"));
    }

    [Theory]
    [InlineData(10, 2)]
    [InlineData(9, 2)]
    [InlineData(8, 3)]
    [InlineData(7, 3)]
    [InlineData(5, 4)]
    [InlineData(2, 5)]
    [InlineData(0, 6)]
    public void SeverityMapping(int alert, int syslog) => Assert.Equal(syslog, SyslogEnvelope.SeverityFromAlert(alert));

    [Fact]
    public void Builder_UsesLocal4AndTheAlertTime()
    {
        var a = Alerts.Make(0, severity: 9);
        a.Id = 1;
        var d = new Destination { Kind = TransportKind.Udp };
        string s = Encoding.UTF8.GetString(new AlertMessageBuilder(d, "sensor", 123).Build(a));
        Assert.StartsWith("<162>1 2023-11-14T22:13:20.500Z sensor otsensor 123 alert - CEF:0|OtSensor|OtSensor|", s, StringComparison.Ordinal);
    }
}

public class DestinationTests
{
    [Fact]
    public void Parse_ReadsSchemeHostPortAndOptions()
    {
        var d = Destination.Parse("tcp://siem.example:6514?framing=newline&format=json&min_severity=5&types=a,b&facility=local0");
        Assert.Equal(TransportKind.Tcp, d.Kind);
        Assert.Equal("siem.example", d.Host);
        Assert.Equal(6514, d.Port);
        Assert.Equal(Framing.Newline, d.Framing);
        Assert.Equal(PayloadFormat.Json, d.Format);
        Assert.Equal(5, d.MinSeverity);
        Assert.Equal(16, d.Facility);
        Assert.True(d.Types.SetEquals(["a", "b"]));
        Assert.Equal("forward:tcp://siem.example:6514", d.Name);
        var f = Destination.Parse("file:///var/log/otsensor/alerts.jsonl");
        Assert.Equal("/var/log/otsensor/alerts.jsonl", f.Path);
        Assert.Equal(PayloadFormat.Json, f.Format);
        Assert.Equal(SyslogFlavor.None, f.Syslog);
    }

    [Theory]
    [InlineData("siem:514", "unknown scheme")]
    [InlineData("http://siem:514", "unknown scheme")]
    [InlineData("udp://siem", "port is required")]
    [InlineData("tcp://siem:514?framing=weird", "unknown framing")]
    [InlineData("tcp://siem:514?format=xml", "unknown format")]
    [InlineData("tcp://siem:514?bogus=1", "unknown or inapplicable option")]
    [InlineData("udp://siem:514?min_severity=11", "min_severity")]
    [InlineData("not a url", "not a URL")]
    public void Parse_RejectsBadUrlsWithAClearMessage(string url, string expected)
    {
        var ex = Assert.Throws<ForwardConfigException>(() => Destination.Parse(url));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }
}
