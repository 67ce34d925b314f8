using System.Diagnostics;
using OtSensor.Capture;
using Xunit.Abstractions;

namespace OtSensor.Tests.Capture;

/// <summary>Reads the shared public captures and compares packet counts with the tshark reference CSVs.</summary>
public class PublicCaptureTests(ITestOutputHelper output)
{
    private const string Root = "/work/shared/captures/public";

    private static List<string> CaptureFiles()
        => [.. Directory.EnumerateFiles(Root, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".pcap", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".pcapng", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)];

    [Fact]
    public void PublicCaptures_PacketCountsMatchTsharkReference()
    {
        if (!Directory.Exists(Root))
        {
            output.WriteLine($"SKIPPED: {Root} is missing; public capture check not run.");
            return;
        }
        var failures = new List<string>();
        int checkedFiles = 0;
        foreach (string file in CaptureFiles())
        {
            string? sourceDir = FindSourceDir(file);
            if (sourceDir == null)
            {
                failures.Add($"{file}: no expected.tshark.csv in any parent folder");
                continue;
            }
            string key = Path.GetRelativePath(sourceDir, file).Replace('\\', '/');
            var expected = LoadPackets(Path.Combine(sourceDir, "expected.tshark.csv"));
            if (!expected.TryGetValue(key, out var exp))
            {
                failures.Add($"{file}: no row '{key}' in the reference CSV");
                continue;
            }

            long count;
            string? error = null;
            try
            {
                using var r = CaptureFileReader.Open(file);
                count = 0;
                while (r.TryReadPacket(out var p))
                {
                    count++;
                    Assert.True(p.Data.Length <= CaptureFileReader.HardMaxRecordLength);
                }
                error = r.Error?.ToString();
                Assert.True(r.Length > 0);
                Assert.Equal(r.Length, r.Position);
            }
            catch (CaptureFormatException ex)
            {
                count = 0;
                error = ex.Message;
                if (exp.FileType is "pcap" or "pcapng")
                    failures.Add($"{key}: tshark reads it as {exp.FileType} but Open threw: {ex.Message}");
            }
            checkedFiles++;
            output.WriteLine($"{key}: {count} packets (tshark {exp.Packets}){(error != null ? "; " + error : "")}");
            if (count != exp.Packets)
                failures.Add($"{key}: read {count} packets, tshark reference says {exp.Packets}");
        }
        Assert.True(checkedFiles > 0, "no capture found under " + Root);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void PublicCaptures_ConvertedToPcapNgByEditcap_ReadTheSameAsThePcap()
    {
        if (!Directory.Exists(Root) || !File.Exists("/usr/bin/editcap"))
        {
            output.WriteLine("SKIPPED: public captures or editcap missing.");
            return;
        }
        string tmp = Path.Combine(Path.GetTempPath(), "otsensor-editcap-" + Guid.NewGuid());
        Directory.CreateDirectory(tmp);
        try
        {
            var files = CaptureFiles().Where(f => new FileInfo(f).Length > 24).Take(12).ToList();
            foreach (string file in files)
            {
                string ng = Path.Combine(tmp, Path.GetFileName(file) + ".pcapng");
                var psi = new ProcessStartInfo("/usr/bin/editcap", ["-F", "pcapng", file, ng]) { RedirectStandardError = true, RedirectStandardOutput = true };
                using (var proc = Process.Start(psi)!)
                {
                    proc.WaitForExit();
                    Assert.Equal(0, proc.ExitCode);
                }
                List<Pkt> a, b;
                using (var r = CaptureFileReader.Open(file))
                    a = ReadHelper.ReadAll(r);
                using (var r = CaptureFileReader.Open(ng))
                {
                    Assert.Equal(CaptureFormat.PcapNg, r.Format);
                    b = ReadHelper.ReadAll(r);
                    Assert.Null(r.Error);
                }
                Assert.Equal(a.Count, b.Count);
                for (int i = 0; i < a.Count; i++)
                {
                    Assert.Equal(a[i].Ts, b[i].Ts);
                    Assert.Equal(a[i].LinkType, b[i].LinkType);
                    Assert.Equal(a[i].OriginalLength, b[i].OriginalLength);
                    Assert.Equal(a[i].Data, b[i].Data);
                }
                output.WriteLine($"{file}: {a.Count} packets identical in pcap and pcapng");
            }
        }
        finally
        {
            Directory.Delete(tmp, recursive: true);
        }
    }

    [Fact]
    public void PublicCaptures_MergedByMergecapIntoMultiInterfacePcapNg_KeepAllPacketsAndLinkTypes()
    {
        string sll = Path.Combine(Root, "californium-deter-coap-dos/r1/attacker_dump.pcap");
        string eth = Path.Combine(Root, "nDPI/modbus.pcap");
        if (!File.Exists(sll) || !File.Exists(eth) || !File.Exists("/usr/bin/mergecap"))
        {
            output.WriteLine("SKIPPED: public captures or mergecap missing.");
            return;
        }
        string merged = Path.Combine(Path.GetTempPath(), "otsensor-merge-" + Guid.NewGuid() + ".pcapng");
        try
        {
            var psi = new ProcessStartInfo("/usr/bin/mergecap", ["-F", "pcapng", "-w", merged, sll, eth]) { RedirectStandardError = true, RedirectStandardOutput = true };
            using (var proc = Process.Start(psi)!)
            {
                proc.WaitForExit();
                Assert.Equal(0, proc.ExitCode);
            }
            var counts = new Dictionary<(int, OtSensor.Core.LinkType), int>();
            long lastTs = long.MinValue;
            using var r = CaptureFileReader.Open(merged);
            while (r.TryReadPacket(out var p))
            {
                counts[(p.InterfaceId, p.LinkType)] = counts.GetValueOrDefault((p.InterfaceId, p.LinkType)) + 1;
                Assert.True(p.TimestampNs >= lastTs, "mergecap output is in time order");
                lastTs = p.TimestampNs;
            }
            Assert.Null(r.Error);
            Assert.Equal(1000, counts.Where(kv => kv.Key.Item2 == OtSensor.Core.LinkType.LinuxSll).Sum(kv => kv.Value));
            Assert.Equal(102, counts.Where(kv => kv.Key.Item2 == OtSensor.Core.LinkType.Ethernet).Sum(kv => kv.Value));
            Assert.Equal(2, counts.Keys.Select(k => k.Item1).Distinct().Count());
        }
        finally
        {
            File.Delete(merged);
        }
    }

    private static string? FindSourceDir(string file)
    {
        for (var dir = Path.GetDirectoryName(file); dir != null && dir.Length >= Root.Length; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "expected.tshark.csv")))
                return dir;
        }
        return null;
    }

    private static Dictionary<string, (long Packets, string FileType)> LoadPackets(string csv)
    {
        var lines = File.ReadAllLines(csv);
        var header = SplitCsv(lines[0]);
        int fileCol = header.IndexOf("file");
        int packetsCol = header.IndexOf("packets");
        int typeCol = header.IndexOf("file_type");
        var map = new Dictionary<string, (long, string)>(StringComparer.Ordinal);
        foreach (string line in lines.Skip(1).Where(l => l.Length > 0))
        {
            var cols = SplitCsv(line);
            map[cols[fileCol]] = (long.Parse(cols[packetsCol], System.Globalization.CultureInfo.InvariantCulture), cols[typeCol]);
        }
        return map;
    }

    private static List<string> SplitCsv(string line)
    {
        var cols = new List<string>();
        var cur = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { cur.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else cur.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { cols.Add(cur.ToString()); cur.Clear(); }
            else cur.Append(c);
        }
        cols.Add(cur.ToString());
        return cols;
    }
}
