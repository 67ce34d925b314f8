namespace OtSensor.Core;

/// <summary>tcpdump.org LINKTYPE_ values the sensor decodes (others are counted as unsupported).</summary>
public enum LinkType : ushort
{
    /// <summary>BSD loopback: 4-byte address family in host byte order of the capturing machine.</summary>
    Null = 0,
    Ethernet = 1,
    /// <summary>Raw IP (IPv4 or IPv6, told by the version nibble).</summary>
    Raw = 101,
    /// <summary>OpenBSD loopback: 4-byte address family in network byte order.</summary>
    Loop = 108,
    LinuxSll = 113,
    Ipv4 = 228,
    Ipv6 = 229,
    LinuxSll2 = 276,
}
