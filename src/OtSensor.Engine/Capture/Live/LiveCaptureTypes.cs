namespace OtSensor.Capture.Live;

/// <summary>A capture device as libpcap's <c>pcap_findalldevs</c> reports it.</summary>
/// <param name="Addresses">IPv4 and IPv6 addresses (IPv6 link-local ones with their %scope).</param>
public sealed record CaptureInterface(string Name, string? Description, IReadOnlyList<string> Addresses, bool IsLoopback, bool IsUp, bool IsRunning)
{
    /// <summary>The link-layer (MAC) address when libpcap reports one (Linux AF_PACKET), as aa:bb:cc:dd:ee:ff.</summary>
    public string? HardwareAddress { get; init; }

    /// <summary>libpcap's PCAP_IF_WIRELESS flag.</summary>
    public bool IsWireless { get; init; }
}

/// <summary>
/// A libpcap call failed: the message names the interface, the libpcap function and libpcap's own text
/// (and the filter expression for BPF errors).
/// </summary>
public sealed class LiveCaptureException : Exception
{
    public LiveCaptureException()
    {
    }

    public LiveCaptureException(string message) : base(message)
    {
    }

    public LiveCaptureException(string message, Exception innerException) : base(message, innerException)
    {
    }

    internal LiveCaptureException(string? iface, string function, int status, string libpcapText, string? filter = null)
        : base(Format(iface, function, libpcapText, filter))
    {
        Interface = iface;
        Function = function;
        Status = status;
        LibpcapMessage = libpcapText;
        Filter = filter;
    }

    /// <summary>The interface the call was about (null for calls that concern no interface, e.g. pcap_findalldevs).</summary>
    public string? Interface { get; }

    /// <summary>The libpcap function that failed, e.g. "pcap_activate".</summary>
    public string? Function { get; }

    /// <summary>libpcap's return value (PCAP_ERROR_* for pcap_activate).</summary>
    public int Status { get; }

    /// <summary>libpcap's error text (errbuf, pcap_geterr or pcap_statustostr).</summary>
    public string? LibpcapMessage { get; }

    /// <summary>The BPF expression, for pcap_compile / pcap_setfilter failures.</summary>
    public string? Filter { get; }

    private static string Format(string? iface, string function, string text, string? filter)
    {
        string where = iface == null ? "" : $"interface '{iface}': ";
        string what = filter == null ? "" : $" (filter \"{filter}\")";
        string why = string.IsNullOrWhiteSpace(text) ? "no details from libpcap" : text;
        return $"{where}{function} failed{what}: {why}";
    }
}

/// <summary>How to open a live capture (the libpcap pcap_set_* options applied before pcap_activate).</summary>
public sealed class LiveCaptureOptions
{
    public required string Interface { get; init; }

    /// <summary>Bytes kept of each frame (pcap_set_snaplen).</summary>
    public int Snaplen { get; init; } = 262144;

    public bool Promiscuous { get; init; } = true;

    /// <summary>Kernel ring size in bytes (pcap_set_buffer_size).</summary>
    public int BufferBytes { get; init; } = 32 << 20;

    /// <summary>Deliver packets as soon as they arrive (pcap_set_immediate_mode).</summary>
    public bool Immediate { get; init; } = true;

    /// <summary>Read timeout in milliseconds (pcap_set_timeout): how long <see cref="LiveCapture.Dispatch"/> waits for packets.</summary>
    public int TimeoutMs { get; init; } = 100;

    /// <summary>Optional BPF filter expression (tcpdump syntax).</summary>
    public string? Bpf { get; init; }

    /// <summary>Ask for nanosecond timestamps; falls back to microseconds (with a warning) if the device refuses.</summary>
    public bool NanosecondTimestamps { get; init; } = true;
}

/// <summary>Receives packets from <see cref="LiveCapture.Dispatch"/>.</summary>
public interface ILivePacketHandler
{
    /// <summary>
    /// One frame. <paramref name="data"/> is libpcap's own buffer: valid only during this call (copy what must live on).
    /// <paramref name="timestampNs"/> is nanoseconds since the Unix epoch, UTC.
    /// </summary>
    void OnPacket(ReadOnlySpan<byte> data, int originalLength, long timestampNs);
}

/// <summary>
/// libpcap's counters since the capture was opened, widened to 64 bits.
/// On Linux: Received = frames that passed the filter (including dropped ones), KernelDropped = dropped because the
/// ring was full, InterfaceDropped = dropped by the interface/driver.
/// </summary>
public readonly record struct LiveCaptureStats(long Received, long KernelDropped, long InterfaceDropped);
