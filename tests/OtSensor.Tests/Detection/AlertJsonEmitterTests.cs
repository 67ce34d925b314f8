using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OtSensor.Detection;

namespace OtSensor.Tests.Detection;

/// <summary>The alerts' JSON rendered as raw values is exactly what the writer writes call by call.</summary>
public class AlertJsonEmitterTests
{
    private static string Render(IEnumerable<Alert> alerts, JsonWriterOptions options, bool emitter, bool insideObject)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, options))
        {
            if (insideObject)
            {
                w.WriteStartObject();
                w.WriteNumber("packets", 12);
                w.WriteStartArray("alerts");
            }
            else
            {
                w.WriteStartArray();
            }
            foreach (var a in alerts)
            {
                if (emitter) AlertFormats.WriteJson(w, a);
                else AlertFormats.WriteJsonByWriter(w, a);
            }
            w.WriteEndArray();
            if (insideObject)
            {
                w.WriteNumber("internal_errors", 0);
                w.WriteEndObject();
            }
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static IEnumerable<JsonWriterOptions> Options()
    {
        yield return new JsonWriterOptions { Indented = true };
        yield return new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        yield return new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.Default, IndentSize = 4, NewLine = "\r\n" };
        yield return new JsonWriterOptions { Indented = false };
    }

    private static void AssertSame(IReadOnlyList<Alert> alerts)
    {
        foreach (var options in Options())
        {
            foreach (bool inside in new[] { false, true })
            {
                string expected = Render(alerts, options, emitter: false, inside);
                Assert.Equal(expected, Render(alerts, options, emitter: true, inside));
                using var _ = JsonDocument.Parse(expected);
            }
        }
    }

    [Fact]
    public void AlertsOfTheAttackCaptures_RenderAsTheWriterWritesThem()
    {
        var alerts = new List<Alert>();
        foreach (var f in Directory.GetFiles(Path.Combine(OtSensor.Tests.Differential.TestPaths.CapturesDir, "attacks"), "*.pcap").Order(StringComparer.Ordinal))
            alerts.AddRange(DetectionHarness.Run(f).Raised);
        Assert.True(alerts.Count > 20, $"{alerts.Count} alerts");
        AssertSame(alerts);
        AssertSame([]);
        AssertSame([alerts[0]]);
    }

    [Fact]
    public void EveryCharacter_AndEmptyOrMissingParts_RenderAsTheWriterWritesThem()
    {
        // Each character below U+0180 in a string of each kind (the plain tables must agree with both encoders), then
        // non-BMP text, lone surrogates, long strings, nulls and empty lists.
        var alerts = new List<Alert>();
        for (int c = 0; c < 0x180; c++)
        {
            string s = "x" + (char)c + "y";
            var evidence = new AlertEvidence { [s] = s, ["k"] = (char)c + "" };
            alerts.Add(new Alert
            {
                Id = c, Type = s, SignatureId = c, Name = s, Severity = c % 11, Category = s, Mitre = [s, "T0855"],
                FirstSeenNs = 1_700_000_000_123_456_789 + c, LastSeenNs = 1_700_000_000_123_456_789 + c * 1_000_000_000L, Count = c,
                Proto = s, SrcAsset = s, SrcIp = s, SrcMac = s, SrcPort = c, DstAsset = null, DstIp = null, DstMac = null, DstPort = null,
                Message = s, Evidence = evidence, TracePackets = [c, c + 1],
            });
        }
        alerts.Add(new Alert { Id = long.MaxValue, Type = "😀 \ud800 \udc00 é", Name = new string('a', 5000), Category = "", Mitre = [], Proto = "", Message = "\u2028\u2029\ufffd", Evidence = new AlertEvidence(), TracePackets = [], Count = long.MinValue, SrcPort = 65535 });
        alerts.Add(new Alert { Id = 0, Type = "t", Name = "n", Category = "c", Proto = "p", Message = "", Evidence = new AlertEvidence { ["é"] = "\"quoted\" \\ back" }, TracePackets = [long.MaxValue] });
        AssertSame(alerts);
    }
}
