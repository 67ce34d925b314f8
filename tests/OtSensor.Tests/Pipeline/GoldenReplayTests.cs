using OtSensor.Tests.Differential;

namespace OtSensor.Tests.Pipeline;

/// <summary>
/// Every capture in captures/ replayed end to end; the summary must equal the stored expected JSON
/// (tests/OtSensor.Tests/Golden/expected/NAME.json). Set OTSENSOR_UPDATE_GOLDEN=1 to rewrite them after a reviewed change.
/// </summary>
public class GoldenReplayTests
{
    public static TheoryData<string> Captures()
    {
        var data = new TheoryData<string>();
        foreach (var f in OtSensor.Pipeline.CaptureFiles.Expand([TestPaths.CapturesDir]))
            data.Add(Path.GetRelativePath(TestPaths.CapturesDir, f));
        return data;
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Replay_SummaryMatchesGolden(string capture)
    {
        string path = Path.Combine(TestPaths.CapturesDir, capture);
        var run = ReplayHarness.Run([path], workers: 2);
        Assert.Equal(0, run.InternalErrors);
        string actual = run.SummaryJson(p => Path.GetRelativePath(TestPaths.RepositoryRoot, p).Replace('\\', '/')).ReplaceLineEndings("\n") + "\n";
        string goldenDir = Path.Combine(TestPaths.RepositoryRoot, "tests", "OtSensor.Tests", "Golden", "expected");
        string golden = Path.Combine(goldenDir, capture.Replace('/', '_') + ".json");
        if (Environment.GetEnvironmentVariable("OTSENSOR_UPDATE_GOLDEN") == "1")
        {
            Directory.CreateDirectory(goldenDir);
            File.WriteAllText(golden, actual);
        }
        Assert.True(File.Exists(golden), $"no golden file {golden}: run the tests once with OTSENSOR_UPDATE_GOLDEN=1 and review it");
        Assert.Equal(File.ReadAllText(golden).ReplaceLineEndings("\n"), actual);
    }

    [Theory]
    [MemberData(nameof(Captures))]
    public void Replay_OutputIsIdenticalWhateverTheNumberOfWorkers(string capture)
    {
        string path = Path.Combine(TestPaths.CapturesDir, capture);
        var one = ReplayHarness.Run([path], workers: 1, batchPackets: 64);
        var three = ReplayHarness.Run([path], workers: 3, batchPackets: 64);
        Assert.Equal(one.SummaryJson(), three.SummaryJson());
        Assert.Equal(one.EventsJsonl, three.EventsJsonl);
    }
}
