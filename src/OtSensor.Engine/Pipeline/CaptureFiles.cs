namespace OtSensor.Pipeline;

public static class CaptureFiles
{
    private static readonly string[] Extensions = [".pcap", ".pcapng", ".cap", ".pcap.gz", ".pcapng.gz", ".cap.gz"];

    public static bool IsCaptureName(string path)
    {
        foreach (var e in Extensions)
            if (path.EndsWith(e, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }

    /// <summary>
    /// Expands files and directories (recursively, capture files only, in ordinal order) into the list of files to
    /// read. Paths that do not exist are returned as they are so the reader reports them.
    /// </summary>
    public static List<string> Expand(IEnumerable<string> paths)
    {
        var result = new List<string>();
        foreach (var p in paths)
        {
            if (Directory.Exists(p))
            {
                var found = Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories).Where(IsCaptureName).ToList();
                found.Sort(StringComparer.Ordinal);
                result.AddRange(found);
            }
            else
            {
                result.Add(p);
            }
        }
        return result;
    }
}
