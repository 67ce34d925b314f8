using OtSensor.Capture;
using OtSensor.Core;
using OtSensor.Tests.Decoding;

namespace OtSensor.Tests.Inventory;

/// <summary>Builds small Ethernet captures frame by frame for inventory tests.</summary>
internal sealed class SyntheticCapture
{
    private readonly List<byte[]> _frames = [];

    public static byte[] Mac(string text) => Convert.FromHexString(text.Replace(":", "", StringComparison.Ordinal));

    public SyntheticCapture Frame(byte[] dstMac, byte[] srcMac, ushort etherType, byte[] payload)
    {
        _frames.Add(Frames.Cat(dstMac, srcMac, Frames.U16(etherType), payload));
        return this;
    }

    public SyntheticCapture Tcp(byte[] srcMac, string srcIp, ushort sport, byte[] dstMac, string dstIp, ushort dport, byte flags, byte[]? payload = null)
        => Frame(dstMac, srcMac, 0x0800, Frames.Ipv4(6, Frames.Tcp(sport, dport, payload ?? [], flags: flags), srcIp, dstIp));

    /// <summary>SYN, SYN-ACK, ACK, then one data segment each way.</summary>
    public SyntheticCapture Handshake(byte[] cMac, string cIp, ushort cPort, byte[] sMac, string sIp, ushort sPort)
    {
        Tcp(cMac, cIp, cPort, sMac, sIp, sPort, 0x02);
        Tcp(sMac, sIp, sPort, cMac, cIp, cPort, 0x12);
        Tcp(cMac, cIp, cPort, sMac, sIp, sPort, 0x10);
        Tcp(cMac, cIp, cPort, sMac, sIp, sPort, 0x18, [1, 2, 3]);
        return Tcp(sMac, sIp, sPort, cMac, cIp, cPort, 0x18, [4, 5, 6]);
    }

    public SyntheticCapture Udp(byte[] srcMac, string srcIp, ushort sport, byte[] dstMac, string dstIp, ushort dport, byte[]? payload = null)
        => Frame(dstMac, srcMac, 0x0800, Frames.Ipv4(17, Frames.Udp(sport, dport, payload ?? [0x40, 1, 0, 1]), srcIp, dstIp));

    public SyntheticCapture Arp(byte[] senderMac, string senderIp, string targetIp)
        => Frame([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], senderMac, 0x0806, Frames.Arp(1, senderMac, senderIp, new byte[6], targetIp));

    public string Write(string path)
    {
        using var fs = File.Create(path);
        using var w = new PcapWriter(fs, LinkType.Ethernet);
        long t = 1_700_000_000L * 1_000_000_000L;
        foreach (var f in _frames)
        {
            w.WritePacket(t, f);
            t += 1_000_000;
        }
        return path;
    }
}

internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(PathName);

    public string PathName { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "otsensor-inv-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(PathName, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(PathName, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
