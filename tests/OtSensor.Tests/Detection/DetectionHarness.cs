using OtSensor.Detection;
using OtSensor.Pipeline;
using OtSensor.Tests.Differential;

namespace OtSensor.Tests.Detection;

/// <summary>Replays captures through the real pipeline with a detection engine.</summary>
internal static class DetectionHarness
{
    public static string Attack(string name) => Path.Combine(TestPaths.CapturesDir, "attacks", name);

    public static DetectionEngine Run(IReadOnlyList<string> files, DetectionOptions? options = null, AlertStore? store = null,
        BaselineMode mode = BaselineMode.Off, int workers = 2)
    {
        var engine = new DetectionEngine(options, store, mode);
        var replay = new ReplayEngine(new ReplayOptions { Files = files, Workers = workers }, [engine]);
        replay.RunAsync().GetAwaiter().GetResult();
        if (replay.FirstInternalError is { } e) throw new InvalidOperationException("internal error in the pipeline", e);
        if (engine.StoreError is { } se) throw se;
        return engine;
    }

    public static DetectionEngine Run(string file, DetectionOptions? options = null, AlertStore? store = null, BaselineMode mode = BaselineMode.Off)
        => Run([file], options, store, mode);

    public static string[] Types(DetectionEngine e) => [.. e.Raised.Select(a => a.Type).Distinct().Order(StringComparer.Ordinal)];

    public static string TempStore() => Path.Combine(Path.GetTempPath(), "otsensor-detect-" + Guid.NewGuid().ToString("N") + ".db");

    public static void DeleteStore(string path)
    {
        foreach (var p in new[] { path, path + "-wal", path + "-shm" })
        {
            try { File.Delete(p); } catch (IOException) { }
        }
    }
}
