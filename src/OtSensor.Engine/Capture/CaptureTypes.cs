using OtSensor.Core;

namespace OtSensor.Capture;

/// <summary>The container format of a capture file (after transparent gzip decompression).</summary>
public enum CaptureFormat
{
    /// <summary>Classic libpcap format (tcpdump.org, draft-ietf-opsawg-pcap).</summary>
    Pcap,
    /// <summary>pcapng (draft-ietf-opsawg-pcapng).</summary>
    PcapNg,
}

/// <summary>Why reading a capture stopped early: the file, the byte offset of the damaged record and a message.</summary>
public sealed record CaptureError(string File, long Offset, string Message)
{
    public override string ToString() => $"{File}: byte offset {Offset}: {Message}";
}

/// <summary>
/// Thrown only when a capture file cannot be opened at all: missing, unreadable, or not a pcap/pcapng file.
/// Damage found while reading packets is reported through <see cref="CaptureFileReader.Error"/> instead.
/// </summary>
public sealed class CaptureFormatException : Exception
{
    public CaptureFormatException()
    {
    }

    public CaptureFormatException(string message) : base(message)
    {
    }

    public CaptureFormatException(string message, Exception innerException) : base(message, innerException)
    {
    }
}

/// <summary>
/// One captured frame. <see cref="Data"/> points into the reader's buffer and is valid only until the next
/// <see cref="CaptureFileReader.TryReadPacket"/> call: copy what must live longer.
/// </summary>
public readonly ref struct CapturedPacket
{
    internal CapturedPacket(long timestampNs, LinkType linkType, int interfaceId, int originalLength, ReadOnlySpan<byte> data, long fileOffset, bool hasTimestamp = true)
    {
        HasTimestamp = hasTimestamp;
        TimestampNs = timestampNs;
        LinkType = linkType;
        InterfaceId = interfaceId;
        OriginalLength = originalLength;
        Data = data;
        FileOffset = fileOffset;
    }

    /// <summary>Nanoseconds since the Unix epoch, UTC (pcapng if_tsresol and if_tsoffset applied).</summary>
    public long TimestampNs { get; }

    /// <summary>False for a pcapng simple packet block, which carries no timestamp (<see cref="TimestampNs"/> is then 0).</summary>
    public bool HasTimestamp { get; }

    /// <summary>Raw link type value (low 16 bits) cast to the enum; unknown values pass through.</summary>
    public LinkType LinkType { get; }

    /// <summary>pcapng interface index within the current section; 0 for pcap.</summary>
    public int InterfaceId { get; }

    /// <summary>Length of the frame on the wire (may exceed <see cref="Data"/>'s length when truncated by the snap length).</summary>
    public int OriginalLength { get; }

    /// <summary>The captured bytes.</summary>
    public ReadOnlySpan<byte> Data { get; }

    /// <summary>Offset of the record header / block in the (decompressed) stream.</summary>
    public long FileOffset { get; }

    /// <summary>Number of captured bytes (<c>Data.Length</c>).</summary>
    public int CapturedLength => Data.Length;

    /// <summary>True when fewer bytes were captured than were on the wire.</summary>
    public bool IsTruncated => Data.Length < OriginalLength;
}
