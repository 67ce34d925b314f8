using System.Buffers.Binary;
using OtSensor.Core;
using OtSensor.Decoding;

namespace OtSensor.Tests.Decoding;

public class RealCaptureDecodeTests
{
    private const string ModbusCapture = "/work/shared/captures/public/cisagov-icsnpp-modbus/modbus_example.pcap";

    /// <summary>A minimal classic-pcap reader for the test (both byte orders, µs or ns): link type and frames.</summary>
    private static (LinkType LinkType, List<byte[]> Frames) ReadPcap(string path)
    {
        byte[] file = File.ReadAllBytes(path);
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(file);
        bool little = magic is 0xA1B2C3D4 or 0xA1B23C4D;
        Assert.True(little || magic is 0xD4C3B2A1 or 0x4D3CB2A1, "not a pcap file");
        uint Read32(int offset) => little
            ? BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset))
            : BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(offset));
        var linkType = (LinkType)(Read32(20) & 0xFFFF);
        var frames = new List<byte[]>();
        int pos = 24;
        while (pos + 16 <= file.Length)
        {
            int captured = (int)Read32(pos + 8);
            pos += 16;
            Assert.True(pos + captured <= file.Length, "truncated record");
            frames.Add(file.AsSpan(pos, captured).ToArray());
            pos += captured;
        }
        return (linkType, frames);
    }

    [Fact]
    public void ModbusExampleCapture_EveryFrameDecodesAsTcpToOrFromPort502()
    {
        if (!File.Exists(ModbusCapture))
            return; // the public captures are not part of the repository
        var (linkType, frames) = ReadPcap(ModbusCapture);
        Assert.Equal(LinkType.Ethernet, linkType);
        Assert.Equal(100, frames.Count);
        var p = new DecodedPacket();
        int withPayload = 0;
        foreach (byte[] frame in frames)
        {
            Assert.True(PacketDecoder.Decode(linkType, frame, ref p, DecodeOptions.VerifyIpv4Checksum), p.Error.ToString());
            Assert.Equal(NetworkLayer.IPv4, p.Network);
            Assert.Equal(TransportLayer.Tcp, p.Transport);
            Assert.False(p.IsFragment);
            Assert.True(p.SrcPort == 502 || p.DstPort == 502, $"{p.SrcPort} -> {p.DstPort}");
            Assert.InRange(p.PayloadOffset + p.PayloadLength, 0, frame.Length);
            if (p.PayloadLength > 0)
            {
                withPayload++;
                // Modbus/TCP: the MBAP length field covers the rest of the PDU after the unit id's 6-byte prefix.
                int mbapLength = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(p.PayloadOffset + 4));
                Assert.Equal(p.PayloadLength, mbapLength + 6);
                Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(p.PayloadOffset + 2))); // protocol id
            }
        }
        Assert.True(withPayload > 0);
    }
}
