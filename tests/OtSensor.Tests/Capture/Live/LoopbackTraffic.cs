using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using OtSensor.Capture.Live;

namespace OtSensor.Tests.Capture.Live;

/// <summary>UDP on 127.0.0.1 for capture tests: a bound receiver (its port is free and no ICMP unreachable comes back).</summary>
internal sealed class LoopbackUdp : IDisposable
{
    private readonly UdpClient _rx = new(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly UdpClient _tx = new(new IPEndPoint(IPAddress.Loopback, 0));

    public int Port => ((IPEndPoint)_rx.Client.LocalEndPoint!).Port;

    public int SourcePort => ((IPEndPoint)_tx.Client.LocalEndPoint!).Port;

    public void Send(byte[] payload) => _tx.Send(payload, payload.Length, new IPEndPoint(IPAddress.Loopback, Port));

    public void Dispose()
    {
        _rx.Dispose();
        _tx.Dispose();
    }
}

/// <summary>Copies every packet (tests only: the real pipeline decodes in place).</summary>
internal sealed class CollectingHandler : ILivePacketHandler
{
    public List<(byte[] Data, int OriginalLength, long TimestampNs)> Packets { get; } = [];

    public void OnPacket(ReadOnlySpan<byte> data, int originalLength, long timestampNs) => Packets.Add((data.ToArray(), originalLength, timestampNs));

    /// <summary>Dispatches until <paramref name="done"/> holds or the deadline passes (the read timeout bounds each call).</summary>
    public void DispatchUntil(LiveCapture capture, Func<bool> done, TimeSpan deadline)
    {
        var sw = Stopwatch.StartNew();
        while (!done() && sw.Elapsed < deadline)
            capture.Dispatch(-1, this);
    }

    public static int UdpDestinationPort(byte[] ethernetFrame) => (ethernetFrame[36] << 8) | ethernetFrame[37];
}
