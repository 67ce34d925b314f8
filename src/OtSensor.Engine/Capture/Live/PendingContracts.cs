// TEMPORARY: the libpcap binding's contracts until feat/pcap merges (then this file is deleted).
namespace OtSensor.Capture.Live;

public interface ILivePacketHandler { void OnPacket(ReadOnlySpan<byte> data, int originalLength, long timestampNs); }
public readonly record struct LiveCaptureStats(long Received, long KernelDropped, long InterfaceDropped);
public sealed class LiveCaptureOptions
{
    public required string Interface { get; init; }
    public int Snaplen { get; init; } = 262144;
    public bool Promiscuous { get; init; } = true;
    public int BufferBytes { get; init; } = 32 << 20;
    public bool Immediate { get; init; } = true;
    public int TimeoutMs { get; init; } = 100;
    public string? Bpf { get; init; }
    public bool NanosecondTimestamps { get; init; } = true;
}
public sealed class LiveCaptureException(string message) : Exception(message);
