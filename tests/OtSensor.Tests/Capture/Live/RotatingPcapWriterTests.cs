using System.Text.RegularExpressions;
using OtSensor.Capture;
using OtSensor.Capture.Live;
using OtSensor.Core;

namespace OtSensor.Tests.Capture.Live;

public sealed class RotatingPcapWriterTests : IDisposable
{
    private const long T0 = 1_704_164_645_678_901_234L; // 2024-01-02T03:04:05.678901234Z
    private const int PacketBytes = 100;
    private const long ThreePerFile = 24 + 3 * (16 + PacketBytes);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "otsensor-rot-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir))
            Directory.Delete(_dir, recursive: true);
    }

    private static byte[] Packet(int i, int length = PacketBytes) => Enumerable.Range(0, length).Select(b => (byte)(b * 7 + i)).ToArray();

    private static long Ts(int i) => T0 + i * 1_000_000_007L;

    private string[] Files(string iface = "eth0") => [.. Directory.GetFiles(_dir, $"otsensor-{iface}-*.pcap").Order(StringComparer.Ordinal)];

    private static List<(byte[] Data, int Orig, long Ts)> ReadAll(IEnumerable<string> files)
    {
        var list = new List<(byte[], int, long)>();
        foreach (var f in files)
        {
            using var r = CaptureFileReader.Open(f);
            Assert.Equal(CaptureFormat.Pcap, r.Format);
            Assert.Equal(LinkType.Ethernet, r.LinkType);
            while (r.TryReadPacket(out var p))
                list.Add((p.Data.ToArray(), p.OriginalLength, p.TimestampNs));
            Assert.Null(r.Error);
        }
        return list;
    }

    [Fact]
    public void Write_NamesFilesAfterTheInterfaceAndTheFirstPacketsUtcTime()
    {
        using (var w = new RotatingPcapWriter(_dir, "eth0", LinkType.Ethernet, 65535, 1 << 20, keep: 5))
        {
            Assert.Null(w.CurrentFile);
            w.Write(Packet(0), PacketBytes, T0);
            Assert.Equal(Path.Combine(_dir, "otsensor-eth0-20240102T030405678-000001.pcap"), w.CurrentFile);
        }
        Assert.Single(Files());
    }

    [Fact]
    public void Write_RotatesBeforeAFileWouldExceedTheSize_AndTheReaderGetsIdenticalBytesAndNanoseconds()
    {
        var written = new List<(byte[], int, long)>();
        using (var w = new RotatingPcapWriter(_dir, "eth0", LinkType.Ethernet, 65535, ThreePerFile, keep: 0))
        {
            for (int i = 0; i < 10; i++)
            {
                byte[] p = Packet(i);
                w.Write(p, 1000 + i, Ts(i));
                written.Add((p, 1000 + i, Ts(i)));
            }
            Assert.Equal(10, w.PacketsWritten);
            Assert.Equal(4, w.FilesWritten);
            Assert.Equal(0, w.WriteErrors);
        }
        string[] files = Files();
        Assert.Equal(4, files.Length);
        Assert.All(files, f => Assert.InRange(new FileInfo(f).Length, 24 + 116, ThreePerFile));
        Assert.All(files, f => Assert.Matches(new Regex(@"^otsensor-eth0-\d{8}T\d{9}-\d{6}\.pcap$"), Path.GetFileName(f)));
        Assert.Equal([3, 3, 3, 1], files.Select(f => ReadAll([f]).Count));
        var read = ReadAll(files);
        Assert.Equal(written.Count, read.Count);
        for (int i = 0; i < read.Count; i++)
        {
            Assert.Equal(written[i].Item1, read[i].Data);
            Assert.Equal(written[i].Item2, read[i].Orig);
            Assert.Equal(written[i].Item3, read[i].Ts);
        }
    }

    [Fact]
    public void Write_KeepsOnlyTheNewestFilesOfItsOwnInterface()
    {
        Directory.CreateDirectory(_dir);
        string olderRun = Path.Combine(_dir, "otsensor-eth0-20000101T000000000-000001.pcap");
        string otherIface = Path.Combine(_dir, "otsensor-eth1-20000101T000000000-000001.pcap");
        string prefixClash = Path.Combine(_dir, "otsensor-eth0-lan-20000101T000000000-000001.pcap");
        string unrelated = Path.Combine(_dir, "notes.txt");
        foreach (var f in new[] { olderRun, otherIface, prefixClash, unrelated }) File.WriteAllBytes(f, [1]);

        using (var w = new RotatingPcapWriter(_dir, "eth0", LinkType.Ethernet, 65535, ThreePerFile, keep: 2))
        {
            for (int i = 0; i < 10; i++)
                w.Write(Packet(i), PacketBytes, Ts(i));
            Assert.Equal(4, w.FilesWritten);
        }
        Assert.False(File.Exists(olderRun));
        Assert.True(File.Exists(otherIface));
        Assert.True(File.Exists(prefixClash));
        Assert.True(File.Exists(unrelated));
        string[] mine = [.. Files().Where(f => !f.Contains("-lan-", StringComparison.Ordinal))];
        Assert.Equal(2, mine.Length);
        Assert.EndsWith("-000003.pcap", mine[0], StringComparison.Ordinal);
        Assert.EndsWith("-000004.pcap", mine[1], StringComparison.Ordinal);
        Assert.Equal(4, ReadAll(mine).Count);
    }

    [Fact]
    public void Write_APacketLargerThanTheRotationSizeGetsAFileOfItsOwn_AndIsCutToTheSnaplen()
    {
        using (var w = new RotatingPcapWriter(_dir, "eth0", LinkType.Ethernet, snaplen: 1000, rotateBytes: 500, keep: 0))
        {
            w.Write(Packet(0, 50), 50, Ts(0));
            w.Write(Packet(1, 3000), 3000, Ts(1));
            w.Write(Packet(2, 50), 50, Ts(2));
            Assert.Equal(3, w.FilesWritten);
        }
        var read = ReadAll(Files());
        Assert.Equal(3, read.Count);
        Assert.Equal(Packet(1, 3000)[..1000], read[1].Data);
        Assert.Equal(3000, read[1].Orig);
    }

    [Fact]
    public void Flush_MakesThePacketsReadableWhileTheFileStaysOpen()
    {
        using var w = new RotatingPcapWriter(_dir, "eth0", LinkType.Ethernet, 65535, 1 << 20, keep: 3);
        for (int i = 0; i < 5; i++)
            w.Write(Packet(i), PacketBytes, Ts(i));
        w.Flush();
        Assert.Equal(5, ReadAll([w.CurrentFile!]).Count);
    }

    [Fact]
    public void Write_DirectoryRemovedMidway_CountsTheErrorWithoutThrowing_AndResumesWhenItIsBack()
    {
        using var w = new RotatingPcapWriter(_dir, "eth0", LinkType.Ethernet, 65535, ThreePerFile, keep: 0);
        for (int i = 0; i < 3; i++)
            w.Write(Packet(i), PacketBytes, Ts(i));
        Directory.Delete(_dir, recursive: true);
        for (int i = 3; i < 12; i++)
            w.Write(Packet(i), PacketBytes, Ts(i));
        w.Flush();

        Assert.True(w.WriteErrors >= 1);
        Assert.NotNull(w.LastError);
        Assert.Null(w.CurrentFile);
        Assert.Equal(9, w.PacketsDropped);
        Assert.Equal(3, w.PacketsWritten);
        Assert.False(Directory.Exists(_dir)); // not re-created behind the operator's back

        Directory.CreateDirectory(_dir);
        for (int i = 12; i < 16; i++)
            w.Write(Packet(i), PacketBytes, Ts(i));
        w.Flush();
        Assert.NotNull(w.CurrentFile);
        Assert.Equal(7, w.PacketsWritten);
        Assert.Equal(Enumerable.Range(12, 4).Select(i => Packet(i)), ReadAll(Files()).Select(p => p.Data));
    }

    [Fact]
    public void Constructor_RejectsBadArguments_AndNamesAnUnusableDirectory()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new RotatingPcapWriter(_dir, "eth0", LinkType.Ethernet, 65535, 0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new RotatingPcapWriter(_dir, "eth0", LinkType.Ethernet, 65535, 1000, -1));
        Directory.CreateDirectory(_dir);
        string file = Path.Combine(_dir, "a-file");
        File.WriteAllBytes(file, [1]);
        var ex = Assert.Throws<IOException>(() => new RotatingPcapWriter(Path.Combine(file, "sub"), "eth0", LinkType.Ethernet, 65535, 1000, 1));
        Assert.Contains("a-file", ex.Message, StringComparison.Ordinal);
    }
}
