using System.Buffers.Binary;
using System.IO.Compression;

namespace OtSensor.Tests.Capture;

/// <summary>Endian-aware little byte writer for building capture images in tests.</summary>
internal sealed class ImageWriter(bool bigEndian)
{
    private readonly List<byte> _bytes = [];

    public bool BigEndian { get; set; } = bigEndian;
    public int Length => _bytes.Count;

    public ImageWriter U8(byte v)
    {
        _bytes.Add(v);
        return this;
    }

    public ImageWriter U16(ushort v)
    {
        Span<byte> b = stackalloc byte[2];
        if (BigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, v); else BinaryPrimitives.WriteUInt16LittleEndian(b, v);
        return Raw(b);
    }

    public ImageWriter U32(uint v)
    {
        Span<byte> b = stackalloc byte[4];
        if (BigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, v); else BinaryPrimitives.WriteUInt32LittleEndian(b, v);
        return Raw(b);
    }

    public ImageWriter U64(ulong v)
    {
        Span<byte> b = stackalloc byte[8];
        if (BigEndian) BinaryPrimitives.WriteUInt64BigEndian(b, v); else BinaryPrimitives.WriteUInt64LittleEndian(b, v);
        return Raw(b);
    }

    public ImageWriter Raw(ReadOnlySpan<byte> b)
    {
        foreach (byte x in b)
            _bytes.Add(x);
        return this;
    }

    public ImageWriter Pad4()
    {
        while (_bytes.Count % 4 != 0)
            _bytes.Add(0);
        return this;
    }

    public byte[] ToArray() => [.. _bytes];
}

/// <summary>Builds classic pcap images.</summary>
internal sealed class PcapImage
{
    private readonly ImageWriter _w;
    private readonly List<int> _recordOffsets = [];

    public PcapImage(bool bigEndian = false, bool nano = false, uint snapLength = 65535, uint linkType = 1, uint magic = 0)
    {
        _w = new ImageWriter(bigEndian);
        _w.U32(magic != 0 ? magic : nano ? 0xA1B23C4Du : 0xA1B2C3D4u).U16(2).U16(4).U32(0).U32(0).U32(snapLength).U32(linkType);
    }

    /// <summary>Offsets where each record starts.</summary>
    public IReadOnlyList<int> RecordOffsets => _recordOffsets;

    public PcapImage Record(uint sec, uint frac, byte[] data, uint? originalLength = null, uint? inclLength = null)
    {
        _recordOffsets.Add(_w.Length);
        _w.U32(sec).U32(frac).U32(inclLength ?? (uint)data.Length).U32(originalLength ?? (uint)data.Length).Raw(data);
        return this;
    }

    public byte[] ToArray() => _w.ToArray();
}

/// <summary>Builds pcapng images block by block.</summary>
internal sealed class PcapNgImage
{
    private readonly ImageWriter _w = new(false);
    private readonly List<int> _blockOffsets = [];

    /// <summary>Offsets where each block starts.</summary>
    public IReadOnlyList<int> BlockOffsets => _blockOffsets;

    public PcapNgImage Section(bool bigEndian = false, ushort major = 1, byte[]? options = null)
    {
        _w.BigEndian = bigEndian;
        var body = new ImageWriter(bigEndian).U32(0x1A2B3C4D).U16(major).U16(0).U64(ulong.MaxValue);
        if (options != null)
            body.Raw(options);
        return Block(0x0A0D0D0A, body.ToArray());
    }

    public PcapNgImage Interface(ushort linkType, uint snapLength = 0, byte? tsresol = null, long? tsoffset = null)
    {
        var body = new ImageWriter(_w.BigEndian).U16(linkType).U16(0).U32(snapLength);
        // a comment option first, to exercise option walking
        body.U16(1).U16(5).Raw("hello"u8).Pad4();
        if (tsresol is byte r)
            body.U16(9).U16(1).U8(r).Pad4();
        if (tsoffset is long o)
            body.U16(14).U16(8).U64((ulong)o);
        body.U16(0).U16(0);
        return Block(1, body.ToArray());
    }

    public PcapNgImage Epb(uint interfaceId, ulong timestamp, byte[] data, uint? originalLength = null, uint? capturedLength = null)
    {
        var body = new ImageWriter(_w.BigEndian).U32(interfaceId).U32((uint)(timestamp >> 32)).U32((uint)timestamp)
            .U32(capturedLength ?? (uint)data.Length).U32(originalLength ?? (uint)data.Length).Raw(data).Pad4();
        // an epb_flags option
        body.U16(2).U16(4).U32(1).U16(0).U16(0);
        return Block(6, body.ToArray());
    }

    public PcapNgImage Spb(uint originalLength, byte[] data)
        => Block(3, new ImageWriter(_w.BigEndian).U32(originalLength).Raw(data).Pad4().ToArray());

    public PcapNgImage Opb(ushort interfaceId, ulong timestamp, byte[] data, uint? originalLength = null)
        => Block(2, new ImageWriter(_w.BigEndian).U16(interfaceId).U16(0).U32((uint)(timestamp >> 32)).U32((uint)timestamp)
            .U32((uint)data.Length).U32(originalLength ?? (uint)data.Length).Raw(data).Pad4().ToArray());

    public PcapNgImage Block(uint type, byte[] body, uint? length = null, uint? trailingLength = null)
    {
        _blockOffsets.Add(_w.Length);
        uint len = length ?? (uint)(12 + body.Length);
        _w.U32(type).U32(len).Raw(body).U32(trailingLength ?? len);
        return this;
    }

    public byte[] ToArray() => _w.ToArray();
}

internal static class CaptureImages
{
    public static byte[] Frame(int length, byte seed)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++)
            b[i] = (byte)(seed + i * 7);
        return b;
    }

    public static byte[] Gzip(byte[] data)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
            gz.Write(data);
        return ms.ToArray();
    }
}
