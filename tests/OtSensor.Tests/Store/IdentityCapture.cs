using System.Text;
using OtSensor.Capture;
using OtSensor.Core;
using OtSensor.Tests.Decoding;

namespace OtSensor.Tests.Store;

/// <summary>
/// A Modbus/TCP capture in which an HMI (10.0.0.5) asks a PLC (10.0.0.10) for its FC 43/14 device identification and
/// the PLC answers with the given objects (0 vendor name, 1 product code, 2 revision, 4 product name, 5 model name).
/// The response is frame 5 at 1_700_000_000.004 s.
/// </summary>
internal static class IdentityCapture
{
    public static readonly byte[] HmiMac = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
    public static readonly byte[] PlcMac = [0x00, 0x80, 0xF4, 0x01, 0x02, 0x03];
    public const string HmiIp = "10.0.0.5";
    public const string PlcIp = "10.0.0.10";
    public const long ResponseFrame = 5;
    public const long ResponseTimeNs = 1_700_000_000_004_000_000;

    public static string Write(string path, string vendor, string productCode, string revision, string? productName = null, string? modelName = null)
    {
        var objects = new List<(byte Id, string Value)> { (0, vendor), (1, productCode), (2, revision) };
        if (productName is not null) objects.Add((4, productName));
        if (modelName is not null) objects.Add((5, modelName));
        var pdu = new List<byte> { 0x2B, 0x0E, 0x01, 0x01, 0x00, 0x00, (byte)objects.Count };
        foreach (var (id, value) in objects)
        {
            var b = Encoding.Latin1.GetBytes(value);
            pdu.Add(id);
            pdu.Add((byte)b.Length);
            pdu.AddRange(b);
        }
        byte[] request = Mbap(1, [0x2B, 0x0E, 0x01, 0x00]);
        byte[] response = Mbap(1, [.. pdu]);
        var frames = new List<byte[]>
        {
            Tcp(HmiMac, HmiIp, 40001, PlcMac, PlcIp, 502, 0x02, 1000, 0, []),
            Tcp(PlcMac, PlcIp, 502, HmiMac, HmiIp, 40001, 0x12, 5000, 1001, []),
            Tcp(HmiMac, HmiIp, 40001, PlcMac, PlcIp, 502, 0x10, 1001, 5001, []),
            Tcp(HmiMac, HmiIp, 40001, PlcMac, PlcIp, 502, 0x18, 1001, 5001, request),
            Tcp(PlcMac, PlcIp, 502, HmiMac, HmiIp, 40001, 0x18, 5001, 1001 + (uint)request.Length, response),
            Tcp(HmiMac, HmiIp, 40001, PlcMac, PlcIp, 502, 0x10, 1001 + (uint)request.Length, 5001 + (uint)response.Length, []),
        };
        using var fs = File.Create(path);
        using var w = new PcapWriter(fs, LinkType.Ethernet);
        long t = 1_700_000_000L * 1_000_000_000L;
        foreach (var f in frames)
        {
            w.WritePacket(t, f);
            t += 1_000_000;
        }
        return path;
    }

    private static byte[] Mbap(ushort tid, byte[] pdu)
        => [(byte)(tid >> 8), (byte)tid, 0, 0, (byte)((pdu.Length + 1) >> 8), (byte)(pdu.Length + 1), 0x01, .. pdu];

    private static byte[] Tcp(byte[] srcMac, string srcIp, ushort sport, byte[] dstMac, string dstIp, ushort dport, byte flags, uint seq, uint ack, byte[] payload)
        => Frames.Cat(dstMac, srcMac, Frames.U16(0x0800), Frames.Ipv4(6, Frames.Tcp(sport, dport, payload, seq, ack, flags), srcIp, dstIp));
}
