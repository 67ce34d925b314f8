namespace OtSensor.Tests.Differential;

/// <summary>Well-known folders for tests that read capture files.</summary>
public static class TestPaths
{
    private static readonly Lazy<string> Root = new(FindRepositoryRoot);

    /// <summary>The repository root: the first folder above the test binaries holding OtSensor.sln.</summary>
    public static string RepositoryRoot => Root.Value;

    /// <summary>The project's own sample captures (captures/ at the repository root).</summary>
    public static string CapturesDir => Path.Combine(RepositoryRoot, "captures");

    /// <summary>captures/MANIFEST.json: ground truth written by captures/generate.sh.</summary>
    public static string ManifestPath => Path.Combine(CapturesDir, "MANIFEST.json");

    /// <summary>Third-party public captures (read-only): ../shared/captures/public relative to the repository root.</summary>
    public static string SharedPublicDir =>
        Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "captures", "public"));

    /// <summary>A file under captures/.</summary>
    public static string Capture(string name) => Path.Combine(CapturesDir, name);

    private static string FindRepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "OtSensor.sln")))
                {
                    return dir.FullName;
                }
            }
        }

        throw new InvalidOperationException(
            $"OtSensor.sln not found above {AppContext.BaseDirectory} or {Directory.GetCurrentDirectory()}");
    }
}
