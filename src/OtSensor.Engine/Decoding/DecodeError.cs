namespace OtSensor.Decoding;

/// <summary>
/// Why a frame could not be decoded (fully). Stable numeric values: they are counted per kind and reported.
/// A frame with an error may still have its outer layers filled in.
/// </summary>
public enum DecodeError : byte
{
    None = 0,
    UnsupportedLinkType = 1,
    TruncatedLinkHeader = 2,
    TruncatedVlan = 3,
    TooManyVlanTags = 4,
    TruncatedArp = 5,
    /// <summary>Raw IP link type whose first nibble is neither 4 nor 6.</summary>
    BadIpVersion = 9,
    TruncatedIpv4 = 10,
    BadIpv4Version = 11,
    BadIpv4HeaderLength = 12,
    BadIpv4TotalLength = 13,
    BadIpv4Checksum = 14,
    TruncatedIpv6 = 20,
    BadIpv6Version = 21,
    BadIpv6ExtensionHeader = 22,
    TruncatedTcp = 30,
    BadTcpDataOffset = 31,
    TruncatedUdp = 40,
    BadUdpLength = 41,
    /// <summary>A fragment that cannot be part of a valid datagram: it ends beyond 65535 bytes, or is a non-last fragment whose length is not a non-zero multiple of 8.</summary>
    BadFragment = 50,
}
