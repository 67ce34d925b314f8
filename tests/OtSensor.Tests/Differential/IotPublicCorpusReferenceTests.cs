using Xunit.Abstractions;

namespace OtSensor.Tests.Differential;

/// <summary>
/// TsharkReference.Mqtt / .Coap must reproduce the MQTT and CoAP columns of the stored reference summaries
/// (expected.tshark.csv, made by /work/shared/captures/public/tshark_reference.sh, side files honoured)
/// for every public capture that carries MQTT or CoAP.
/// </summary>
public class IotPublicCorpusReferenceTests(ITestOutputHelper output)
{
    public static TheoryData<string, string> PublicMqttCaptures() => Rows("mqtt_messages");

    public static TheoryData<string, string> PublicCoapCaptures() => Rows("coap_messages");

    [Fact]
    public void PublicCorpus_HasMqttAndCoapCaptures()
    {
        Assert.True(Directory.Exists(TestPaths.SharedPublicDir), $"public capture folder missing: {TestPaths.SharedPublicDir}");
        Assert.True(PublicMqttCaptures().Count() >= 10);
        Assert.True(PublicCoapCaptures().Count() >= 10);
    }

    [Theory]
    [MemberData(nameof(PublicMqttCaptures))]
    public void TsharkReference_MatchesStoredMqttColumns(string folder, string file)
    {
        if (!TsharkReference.EnsureAvailable(output))
        {
            return;
        }

        var dir = Path.Combine(TestPaths.SharedPublicDir, folder);
        var row = ReferenceCsv.Read(Path.Combine(dir, "expected.tshark.csv")).Single(r => r["file"] == file);
        var r = TsharkReference.Mqtt(Path.Combine(dir, file));
        output.WriteLine(r.ToString());

        Assert.Equal(int.Parse(row["packets"]), r.Frames);
        Assert.Equal(int.Parse(row["mqtt_messages"]), r.Messages);
        Assert.Equal(row["mqtt_msgtypes"], IotLabels.Format(r.MessagesByType));
        Assert.Equal(row["mqtt_connect_versions"], IotLabels.Format(r.ConnectVersions));
    }

    [Theory]
    [MemberData(nameof(PublicCoapCaptures))]
    public void TsharkReference_MatchesStoredCoapColumns(string folder, string file)
    {
        if (!TsharkReference.EnsureAvailable(output))
        {
            return;
        }

        var dir = Path.Combine(TestPaths.SharedPublicDir, folder);
        var row = ReferenceCsv.Read(Path.Combine(dir, "expected.tshark.csv")).Single(r => r["file"] == file);
        var r = TsharkReference.Coap(Path.Combine(dir, file));
        output.WriteLine(r.ToString());

        Assert.Equal(int.Parse(row["packets"]), r.Frames);
        Assert.Equal(int.Parse(row["coap_messages"]), r.Messages);
        Assert.Equal(row["coap_types"], IotLabels.Format(r.MessagesByType));
        Assert.Equal(row["coap_codes"], IotLabels.Format(r.MessagesByCodeLabel));
    }

    private static TheoryData<string, string> Rows(string column)
    {
        var data = new TheoryData<string, string>();
        if (!Directory.Exists(TestPaths.SharedPublicDir))
        {
            return data;
        }

        foreach (var csv in Directory.EnumerateFiles(TestPaths.SharedPublicDir, "expected.tshark.csv", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            foreach (var row in ReferenceCsv.Read(csv))
            {
                if (int.TryParse(row[column], out var n) && n > 0)
                {
                    data.Add(Path.GetRelativePath(TestPaths.SharedPublicDir, Path.GetDirectoryName(csv)!), row["file"]);
                }
            }
        }

        return data;
    }
}
