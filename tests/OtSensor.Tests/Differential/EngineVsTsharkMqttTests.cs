using OtSensor.Tests.Pipeline;
using Xunit.Abstractions;

namespace OtSensor.Tests.Differential;

/// <summary>
/// The whole replay engine (flows, heuristics, MQTT sessions) against the generator's ground truth and tshark:
/// MQTT packets counted per control packet type, as on the wire.
/// </summary>
public class EngineVsTsharkMqttTests(ITestOutputHelper output)
{
    private static Dictionary<string, int> OurTypes(ReplayRun run)
    {
        var d = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int t = 0; t < 16; t++)
        {
            long n = run.Report.Mqtt.PacketsFor(t);
            if (n > 0) d[IotLabels.MqttType(t)] = (int)n;
        }
        return d;
    }

    public static TheoryData<string> MqttFiles() => IotCaptureGroundTruthTests.MqttFiles();

    [Theory]
    [MemberData(nameof(MqttFiles))]
    public void Engine_CountsTheMqttPacketsTheGeneratorRecorded(string file)
    {
        var e = CaptureManifest.GetIot(file);
        var run = ReplayHarness.Run([TestPaths.Capture(file)]);
        output.WriteLine($"ours: [{IotLabels.Format(OurTypes(run))}]");
        Assert.Equal(0, run.InternalErrors);
        Assert.Equal(IotLabels.Format(e.MessagesByType), IotLabels.Format(OurTypes(run)));
    }

    [Theory]
    [MemberData(nameof(MqttFiles))]
    public void Engine_AgreesWithTshark_OnProjectMqttCaptures(string file)
    {
        if (!TsharkReference.EnsureAvailable(output)) return;
        var e = CaptureManifest.GetIot(file);
        var reference = TsharkReference.Mqtt(TestPaths.Capture(file), [.. e.TsharkExtraArgs]);
        var run = ReplayHarness.Run([TestPaths.Capture(file)]);
        // Where tshark is wrong on crafted cases the manifest documents it (tshark_note / tshark_adjust).
        var expectedFromTshark = e.TsharkExpected("messages_by_type", e.MessagesByType);
        output.WriteLine($"tshark: {reference}");
        Assert.Equal(IotLabels.Format(expectedFromTshark), IotLabels.Format(reference.MessagesByType));
        Assert.Equal(IotLabels.Format(e.MessagesByType), IotLabels.Format(OurTypes(run)));
    }

    public static TheoryData<string, string> PublicMqttCaptures() => IotPublicCorpusReferenceTests.PublicMqttCaptures();

    [Theory]
    [MemberData(nameof(PublicMqttCaptures))]
    public void Engine_AgreesWithTshark_OnPublicMqttCaptures(string folder, string file)
    {
        if (!TsharkReference.EnsureAvailable(output)) return;
        string path = Path.Combine(TestPaths.SharedPublicDir, folder, file);
        var reference = TsharkReference.Mqtt(path);
        var run = ReplayHarness.Run([path]);
        output.WriteLine($"tshark: {reference}");
        output.WriteLine($"ours:   [{IotLabels.Format(OurTypes(run))}]");
        Assert.Equal(0, run.InternalErrors);
        Assert.Equal(IotLabels.Format(reference.MessagesByType), IotLabels.Format(OurTypes(run)));
    }
}
