using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;
using OtSensor.Core;

namespace OtSensor.Capture;

/// <summary>
/// Sequential reader for pcap and pcapng files (optionally gzip-compressed, detected by magic).
/// Reads through one large pooled buffer and hands out spans into it: no copy and no allocation per packet.
/// Damage (truncation, corrupt lengths) and I/O errors never throw from <see cref="TryReadPacket"/>:
/// the packets before the damage are returned, then it returns false with <see cref="Error"/> set.
/// </summary>
public sealed class CaptureFileReader : IDisposable
{
    /// <summary>Initial size of the read buffer.</summary>
    public const int DefaultBufferSize = 1 << 20;

    /// <summary>Largest record accepted when the file's snap length is sane (&lt;= this value).</summary>
    public const int SaneMaxRecordLength = 262144;

    /// <summary>Largest record (or packet block) accepted whatever the file claims.</summary>
    public const int HardMaxRecordLength = 16 << 20;

    private const int MaxBufferedBlockLength = HardMaxRecordLength + (64 << 10);
    private const int MaxInterfacesPerSection = 1 << 16;

    private const uint PcapMagicMicro = 0xA1B2C3D4;
    private const uint PcapMagicNano = 0xA1B23C4D;
    private const uint PcapMagicModified = 0xA1B2CD34;
    private const uint BlockShb = 0x0A0D0D0A;
    private const uint BlockIdb = 1;
    private const uint BlockOpb = 2;
    private const uint BlockSpb = 3;
    private const uint BlockEpb = 6;
    private const uint ByteOrderMagic = 0x1A2B3C4D;

    private readonly Stream _raw;
    private readonly Stream _src;
    private readonly CountingReadStream? _counting;
    private readonly bool _leaveOpen;

    private byte[] _buf;
    private int _pos;
    private int _end;
    private long _bufBase;
    private bool _eof;
    private bool _done;
    private bool _disposed;
    private bool _bigEndian;

    // pcap
    private readonly bool _nano;
    private readonly int _recordHeaderLength = 16;
    private readonly LinkType _pcapLinkType;
    private readonly int _maxRecordLength = SaneMaxRecordLength;

    // pcapng: interfaces of the current section
    private InterfaceInfo[] _ifaces = new InterfaceInfo[4];
    private int _ifaceCount;

    /// <summary>Opens a capture file (pcap or pcapng, plain or gzip-compressed).</summary>
    /// <exception cref="CaptureFormatException">The file is missing, unreadable or not a capture file.</exception>
    public static CaptureFileReader Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        FileStream fs;
        try
        {
            fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new CaptureFormatException($"{path}: file not found", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new CaptureFormatException($"{path}: cannot open: {ex.Message}", ex);
        }
        return new CaptureFileReader(fs, path, leaveOpen: false);
    }

    /// <summary>Reads a capture from <paramref name="stream"/> (read sequentially; need not be seekable).</summary>
    /// <exception cref="CaptureFormatException">The stream is unreadable or does not hold a capture file.</exception>
    public CaptureFileReader(Stream stream, string displayName, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        DisplayName = displayName ?? string.Empty;
        _raw = stream;
        _src = stream;
        _leaveOpen = leaveOpen;
        _buf = ArrayPool<byte>.Shared.Rent(DefaultBufferSize);
        bool ok = false;
        try
        {
            Fill(4);
            if (_end >= 2 && _buf[0] == 0x1F && _buf[1] == 0x8B)
            {
                _counting = new CountingReadStream(stream, _buf.AsSpan(0, _end).ToArray());
                _src = new GZipStream(_counting, CompressionMode.Decompress, leaveOpen: true);
                _pos = _end = 0;
                _eof = false;
                try
                {
                    Fill(4);
                }
                catch (InvalidDataException ex)
                {
                    throw new CaptureFormatException($"{DisplayName}: not a valid gzip file: {ex.Message}", ex);
                }
            }

            int avail = _end - _pos;
            string gz = _counting != null ? "gzip-compressed, " : string.Empty;
            if (avail < 4)
            {
                string detail = avail == 0 ? "empty file" : $"file has only {avail} bytes";
                throw new CaptureFormatException($"{DisplayName}: not a pcap or pcapng file ({gz}{detail})");
            }

            uint le = BinaryPrimitives.ReadUInt32LittleEndian(_buf.AsSpan(_pos));
            uint be = BinaryPrimitives.ReadUInt32BigEndian(_buf.AsSpan(_pos));
            if (le == BlockShb)
            {
                Format = CaptureFormat.PcapNg;
            }
            else if (le is PcapMagicMicro or PcapMagicNano or PcapMagicModified || be is PcapMagicMicro or PcapMagicNano or PcapMagicModified)
            {
                Format = CaptureFormat.Pcap;
                _bigEndian = !(le is PcapMagicMicro or PcapMagicNano or PcapMagicModified);
                uint magic = _bigEndian ? be : le;
                _nano = magic == PcapMagicNano;
                if (magic == PcapMagicModified)
                    _recordHeaderLength = 24;
                if (!Fill(24))
                {
                    Fail(0, $"truncated file header: need 24 bytes, file ends after {_end - _pos}");
                }
                else
                {
                    ReadOnlySpan<byte> h = _buf.AsSpan(_pos, 24);
                    VersionMajor = U16(h[4..]);
                    VersionMinor = U16(h[6..]);
                    SnapLength = U32(h[16..]);
                    _pcapLinkType = (LinkType)(ushort)U32(h[20..]);
                    _maxRecordLength = (int)Math.Clamp((long)SnapLength, SaneMaxRecordLength, HardMaxRecordLength);
                    _pos += 24;
                }
            }
            else
            {
                ReadOnlySpan<byte> m = _buf.AsSpan(_pos, 4);
                throw new CaptureFormatException(
                    $"{DisplayName}: not a pcap or pcapng file ({gz}magic 0x{m[0]:x2}{m[1]:x2}{m[2]:x2}{m[3]:x2})");
            }
            ok = true;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or NotSupportedException or ObjectDisposedException)
        {
            throw new CaptureFormatException($"{DisplayName}: cannot read: {ex.Message}", ex);
        }
        finally
        {
            if (!ok)
                Dispose();
        }
    }

    public CaptureFormat Format { get; }

    /// <summary>Name used in error messages (normally the path).</summary>
    public string DisplayName { get; }

    /// <summary>Why reading stopped early, or null (clean end of file, or still reading).</summary>
    public CaptureError? Error { get; private set; }

    public long PacketsRead { get; private set; }

    /// <summary>pcap: version from the file header (pcapng: 0).</summary>
    public int VersionMajor { get; }

    /// <summary>pcap: version from the file header (pcapng: 0).</summary>
    public int VersionMinor { get; }

    /// <summary>pcap: snap length from the file header (pcapng: 0; see the interfaces).</summary>
    public uint SnapLength { get; }

    /// <summary>pcap: the file's link type (low 16 bits of the header field); pcapng: the link type of the last packet read.</summary>
    public LinkType LinkType => Format == CaptureFormat.Pcap ? _pcapLinkType : _lastLinkType;

    private LinkType _lastLinkType;

    /// <summary>Bytes consumed from the underlying file (compressed position for gzip); for a progress bar.</summary>
    public long Position => _counting != null ? _counting.Count : _bufBase + _pos;

    /// <summary>Length of the underlying file, or -1 if unknown.</summary>
    public long Length
    {
        get
        {
            try
            {
                return !_disposed && _raw.CanSeek ? _raw.Length : -1;
            }
            catch (Exception ex) when (ex is IOException or NotSupportedException or ObjectDisposedException)
            {
                return -1;
            }
        }
    }

    /// <summary>
    /// Reads the next packet. Returns false at a clean end of file, or when damage or an I/O error stops
    /// reading (then <see cref="Error"/> is set). Never throws. The packet's data is valid until the next call.
    /// </summary>
    public bool TryReadPacket(out CapturedPacket packet)
    {
        if (_done)
        {
            packet = default;
            return false;
        }
        try
        {
            return Format == CaptureFormat.Pcap ? ReadPcap(out packet) : ReadPcapNg(out packet);
        }
        catch (Exception ex)
        {
            packet = default;
            return Fail(_bufBase + _pos, $"read error: {ex.Message}");
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        _done = true;
        byte[] buf = _buf;
        _buf = [];
        _pos = _end = 0;
        ArrayPool<byte>.Shared.Return(buf);
        if (!ReferenceEquals(_src, _raw))
            _src.Dispose();
        if (!_leaveOpen)
            _raw.Dispose();
    }

    // ---------------------------------------------------------------- pcap

    private bool ReadPcap(out CapturedPacket packet)
    {
        int hl = _recordHeaderLength;
        if (_end - _pos < hl && !Fill(hl))
        {
            int avail = _end - _pos;
            packet = default;
            return avail == 0 ? false : Truncated(hl, avail);
        }
        ReadOnlySpan<byte> h = new(_buf, _pos, hl);
        uint sec = U32(h);
        uint frac = U32(h[4..]);
        uint incl = U32(h[8..]);
        uint orig = U32(h[12..]);
        if (incl > (uint)_maxRecordLength)
        {
            packet = default;
            return Fail(_bufBase + _pos, $"record length {incl} exceeds the maximum {_maxRecordLength} (corrupt or truncated file)");
        }
        int need = hl + (int)incl;
        if (_end - _pos < need && !Fill(need))
        {
            packet = default;
            return Truncated(need, _end - _pos);
        }
        long ts = (long)sec * PacketTime.NanosPerSecond + (_nano ? frac : frac * 1000L);
        packet = new CapturedPacket(ts, _pcapLinkType, 0, orig > int.MaxValue ? int.MaxValue : (int)orig,
            new ReadOnlySpan<byte>(_buf, _pos + hl, (int)incl), _bufBase + _pos);
        _pos += need;
        PacketsRead++;
        return true;
    }

    // ---------------------------------------------------------------- pcapng

    private bool ReadPcapNg(out CapturedPacket packet)
    {
        packet = default;
        while (true)
        {
            if (_end - _pos < 12 && !Fill(12))
            {
                int avail = _end - _pos;
                if (avail == 0)
                    return false;
                long need = 12;
                if (avail >= 8 && U32(_buf.AsSpan(_pos)) != BlockShb)
                {
                    uint l = U32(_buf.AsSpan(_pos + 4));
                    if (l >= 12 && (l & 3) == 0)
                        need = l;
                }
                return Truncated(need, avail);
            }

            long off = _bufBase + _pos;
            uint type = U32(_buf.AsSpan(_pos));
            if (type == BlockShb)
            {
                uint bom = BinaryPrimitives.ReadUInt32LittleEndian(_buf.AsSpan(_pos + 8));
                if (bom == ByteOrderMagic)
                    _bigEndian = false;
                else if (bom == BinaryPrimitives.ReverseEndianness(ByteOrderMagic))
                    _bigEndian = true;
                else
                    return Fail(off, $"section header block has a bad byte-order magic 0x{bom:x8}");
            }

            uint len = U32(_buf.AsSpan(_pos + 4));
            if (len < 12 || (len & 3) != 0)
                return Fail(off, $"invalid block length {len} (must be a multiple of 4 and at least 12)");

            int minLen = type switch
            {
                BlockShb => 28,
                BlockIdb => 20,
                BlockEpb => 32,
                BlockOpb => 32,
                BlockSpb => 16,
                _ => 12,
            };
            if (len < minLen)
                return Fail(off, $"{BlockName(type)} length {len} is below the minimum {minLen}");

            if (type is not (BlockShb or BlockIdb or BlockEpb or BlockSpb or BlockOpb))
            {
                if (!SkipBlock(off, len))
                    return false;
                continue;
            }

            if (len > MaxBufferedBlockLength)
                return Fail(off, $"block length {len} exceeds the maximum {MaxBufferedBlockLength} (corrupt or truncated file)");
            int ilen = (int)len;
            if (_end - _pos < ilen && !Fill(ilen))
                return Truncated(ilen, _end - _pos);

            ReadOnlySpan<byte> block = new(_buf, _pos, ilen);
            uint trailer = U32(block[(ilen - 4)..]);
            if (trailer != len)
                return Fail(off, $"trailing block length {trailer} does not match the leading length {len}");

            switch (type)
            {
                case BlockShb:
                    {
                        int major = U16(block[12..]);
                        int minor = U16(block[14..]);
                        if (major != 1)
                            return Fail(off, $"unsupported pcapng version {major}.{minor}");
                        _ifaceCount = 0;
                        _pos += ilen;
                        continue;
                    }
                case BlockIdb:
                    {
                        if (_ifaceCount >= MaxInterfacesPerSection)
                            return Fail(off, $"more than {MaxInterfacesPerSection} interfaces in one section");
                        AddInterface(block);
                        _pos += ilen;
                        continue;
                    }
                case BlockEpb:
                    {
                        uint ifId = U32(block[8..]);
                        if (ifId >= (uint)_ifaceCount)
                            return Fail(off, UndefinedInterface(ifId));
                        ulong ts = ((ulong)U32(block[12..]) << 32) | U32(block[16..]);
                        uint cap = U32(block[20..]);
                        uint orig = U32(block[24..]);
                        if (cap > (uint)(ilen - 32))
                            return Fail(off, $"captured length {cap} exceeds the room in the block ({ilen - 32} bytes)");
                        return Emit(out packet, (int)ifId, ts, orig, block.Slice(28, (int)cap), off, ilen);
                    }
                case BlockOpb:
                    {
                        uint ifId = U16(block[8..]);
                        if (ifId >= (uint)_ifaceCount)
                            return Fail(off, UndefinedInterface(ifId));
                        ulong ts = ((ulong)U32(block[12..]) << 32) | U32(block[16..]);
                        uint cap = U32(block[20..]);
                        uint orig = U32(block[24..]);
                        if (cap > (uint)(ilen - 32))
                            return Fail(off, $"captured length {cap} exceeds the room in the block ({ilen - 32} bytes)");
                        return Emit(out packet, (int)ifId, ts, orig, block.Slice(28, (int)cap), off, ilen);
                    }
                default: // BlockSpb
                    {
                        if (_ifaceCount == 0)
                            return Fail(off, "simple packet block but no interface is defined in this section");
                        uint orig = U32(block[8..]);
                        uint cap = Math.Min(orig, (uint)(ilen - 16));
                        uint snap = _ifaces[0].SnapLength;
                        if (snap != 0)
                            cap = Math.Min(cap, snap);
                        ref readonly InterfaceInfo ifc = ref _ifaces[0];
                        _lastLinkType = ifc.LinkType;
                        packet = new CapturedPacket(0, ifc.LinkType, 0, ClampInt(orig), block.Slice(12, (int)cap), off, hasTimestamp: false);
                        _pos += ilen;
                        PacketsRead++;
                        return true;
                    }
            }
        }
    }

    private bool Emit(out CapturedPacket packet, int ifId, ulong ts, uint orig, ReadOnlySpan<byte> data, long off, int blockLength)
    {
        ref readonly InterfaceInfo ifc = ref _ifaces[ifId];
        _lastLinkType = ifc.LinkType;
        packet = new CapturedPacket(ifc.ToNanoseconds(ts), ifc.LinkType, ifId, ClampInt(orig), data, off);
        _pos += blockLength;
        PacketsRead++;
        return true;
    }

    private string UndefinedInterface(uint ifId)
        => $"packet references undefined interface {ifId} (the section defines {_ifaceCount})";

    private void AddInterface(ReadOnlySpan<byte> block)
    {
        var info = new InterfaceInfo
        {
            LinkType = (LinkType)U16(block[8..]),
            SnapLength = U32(block[12..]),
        };
        byte tsresol = 6;
        long tsoffset = 0;
        int p = 16;
        int optEnd = block.Length - 4;
        while (p + 4 <= optEnd)
        {
            int code = U16(block[p..]);
            int olen = U16(block[(p + 2)..]);
            p += 4;
            if (code == 0 || p + olen > optEnd)
                break; // end of options, or malformed options: ignore the rest
            ReadOnlySpan<byte> v = block.Slice(p, olen);
            if (code == 9 && olen >= 1)
                tsresol = v[0];
            else if (code == 14 && olen >= 8)
                tsoffset = (long)(_bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(v) : BinaryPrimitives.ReadUInt64LittleEndian(v));
            p += (olen + 3) & ~3;
        }
        info.SetResolution(tsresol, tsoffset);
        if (_ifaceCount == _ifaces.Length)
            Array.Resize(ref _ifaces, _ifaces.Length * 2);
        _ifaces[_ifaceCount++] = info;
    }

    /// <summary>Skips a block we do not interpret, without buffering it whole, and checks its trailing length.</summary>
    private bool SkipBlock(long off, uint len)
    {
        long body = len - 4L;
        long skipped = Skip(body);
        if (skipped < body)
            return Truncated(off, len, skipped);
        if (_end - _pos < 4 && !Fill(4))
            return Truncated(off, len, body + (_end - _pos));
        uint trailer = U32(_buf.AsSpan(_pos));
        if (trailer != len)
            return Fail(off, $"trailing block length {trailer} does not match the leading length {len}");
        _pos += 4;
        return true;
    }

    private static string BlockName(uint type) => type switch
    {
        BlockShb => "section header block",
        BlockIdb => "interface description block",
        BlockEpb => "enhanced packet block",
        BlockOpb => "packet block",
        BlockSpb => "simple packet block",
        _ => $"block of type 0x{type:x8}",
    };

    // ---------------------------------------------------------------- buffer

    /// <summary>Makes at least <paramref name="need"/> bytes available at <see cref="_pos"/>; false at end of file.</summary>
    private bool Fill(int need)
    {
        if (_end - _pos >= need)
            return true;
        if (_eof)
            return false;
        if (_pos + need > _buf.Length)
        {
            int remaining = _end - _pos;
            if (need > _buf.Length)
            {
                int size = (int)Math.Max(need, Math.Min(2L * _buf.Length, MaxBufferedBlockLength + 4096L));
                byte[] nb = ArrayPool<byte>.Shared.Rent(size);
                _buf.AsSpan(_pos, remaining).CopyTo(nb);
                ArrayPool<byte>.Shared.Return(_buf);
                _buf = nb;
            }
            else if (remaining > 0)
            {
                _buf.AsSpan(_pos, remaining).CopyTo(_buf);
            }
            _bufBase += _pos;
            _pos = 0;
            _end = remaining;
        }
        while (_end - _pos < need)
        {
            int n = _src.Read(_buf, _end, _buf.Length - _end);
            if (n <= 0)
            {
                _eof = true;
                return false;
            }
            _end += n;
        }
        return true;
    }

    /// <summary>Discards up to <paramref name="count"/> bytes; returns how many were discarded (less at end of file).</summary>
    private long Skip(long count)
    {
        long skipped = 0;
        while (true)
        {
            int avail = _end - _pos;
            if (count - skipped <= avail)
            {
                _pos += (int)(count - skipped);
                return count;
            }
            skipped += avail;
            _bufBase += _end;
            _pos = _end = 0;
            if (_eof)
                return skipped;
            int n = _src.Read(_buf, 0, _buf.Length);
            if (n <= 0)
            {
                _eof = true;
                return skipped;
            }
            _end = n;
        }
    }

    private bool Truncated(long need, long avail) => Truncated(_bufBase + _pos, need, avail);

    private bool Truncated(long offset, long need, long avail)
        => Fail(offset, $"truncated record: need {need} bytes, file ends after {avail}");

    private bool Fail(long offset, string message)
    {
        Error = new CaptureError(DisplayName, offset, message);
        _done = true;
        return false;
    }

    private uint U32(ReadOnlySpan<byte> s)
        => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);

    private ushort U16(ReadOnlySpan<byte> s)
        => _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);

    private static int ClampInt(uint v) => v > int.MaxValue ? int.MaxValue : (int)v;

    // ---------------------------------------------------------------- interfaces

    private enum TsMode : byte
    {
        Multiply,
        Divide,
        Pow2,
        Zero,
    }

    private struct InterfaceInfo
    {
        public LinkType LinkType;
        public uint SnapLength;
        private TsMode _mode;
        private ulong _factor;
        private int _shift;
        private long _offsetNs;

        public void SetResolution(byte tsresol, long offsetSeconds)
        {
            _offsetNs = unchecked(offsetSeconds * PacketTime.NanosPerSecond);
            int v = tsresol & 0x7F;
            if ((tsresol & 0x80) != 0)
            {
                // units of 2^-v seconds: ns = ts * 1e9 / 2^v
                _mode = TsMode.Pow2;
                _shift = v;
            }
            else if (v <= 9)
            {
                _mode = TsMode.Multiply;
                _factor = Pow10(9 - v);
            }
            else if (v <= 28)
            {
                _mode = TsMode.Divide;
                _factor = Pow10(v - 9);
            }
            else
            {
                _mode = TsMode.Zero;
            }
        }

        public readonly long ToNanoseconds(ulong ts)
        {
            ulong ns = _mode switch
            {
                TsMode.Multiply => unchecked(ts * _factor),
                TsMode.Divide => ts / _factor,
                TsMode.Pow2 => MulShift(ts, _shift),
                _ => 0,
            };
            return unchecked((long)ns + _offsetNs);
        }

        /// <summary>ts * 1e9 / 2^shift over 128 bits (Math.BigMul: UInt128 code is not precompiled by ReadyToRun).</summary>
        private static ulong MulShift(ulong ts, int shift)
        {
            ulong hi = Math.BigMul(ts, 1_000_000_000UL, out ulong lo);
            if (shift == 0) return lo;
            if (shift >= 64) return shift >= 128 ? 0 : hi >> (shift - 64);
            return (lo >> shift) | (hi << (64 - shift));
        }

        private static ulong Pow10(int n)
        {
            ulong r = 1;
            for (int i = 0; i < n; i++)
                r *= 10;
            return r;
        }
    }
}
