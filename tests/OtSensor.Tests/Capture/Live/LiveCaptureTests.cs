using System.Diagnostics;
using OtSensor.Capture.Live;
using OtSensor.Core;

namespace OtSensor.Tests.Capture.Live;

/// <summary>Real captures on the loopback interface (the tests run as root, here and in CI).</summary>
public class LiveCaptureTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);

    private static LiveCaptureOptions Lo(string? bpf, int timeoutMs = 100, int snaplen = 262144, bool immediate = true) => new()
    {
        Interface = "lo",
        Bpf = bpf,
        TimeoutMs = timeoutMs,
        Snaplen = snaplen,
        Immediate = immediate,
        BufferBytes = 1 << 20,
    };

    private static long NowNs() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;

    [Fact]
    public void LibPcap_IsAvailable_AndReportsItsVersion()
    {
        Assert.True(LibPcap.IsAvailable);
        Assert.StartsWith("libpcap version", LibPcap.Version, StringComparison.Ordinal);
    }

    [Fact]
    public void ListInterfaces_ContainsLoopbackUpWith127001()
    {
        var lo = Assert.Single(LibPcap.ListInterfaces(), i => i.Name == "lo");
        Assert.True(lo.IsLoopback);
        Assert.True(lo.IsUp);
        Assert.Contains("127.0.0.1", lo.Addresses);
    }

    [Fact]
    public void Open_Loopback_IsEthernetWithTheRequestedSnaplenAndNanosecondTimestamps()
    {
        using var cap = LiveCapture.Open(Lo(null, snaplen: 1500));
        Assert.Equal("lo", cap.Interface);
        Assert.Equal(LinkType.Ethernet, cap.LinkType);
        Assert.Equal(1500, cap.Snaplen);
        Assert.True(cap.NanosecondTimestamps);
        Assert.Empty(cap.Warnings);
    }

    [Fact]
    public void Dispatch_DeliversUdpDatagramsMatchingTheFilter_WithPayloadLengthAndTime()
    {
        using var udp = new LoopbackUdp();
        using var cap = LiveCapture.Open(Lo($"udp and dst port {udp.Port}"));
        Assert.Equal($"udp and dst port {udp.Port}", cap.Filter);
        long before = NowNs();
        var payloads = Enumerable.Range(0, 3).Select(i => Enumerable.Range(0, 10 + i * 100).Select(b => (byte)(b ^ i)).ToArray()).ToArray();
        foreach (var p in payloads) udp.Send(p);
        var h = new CollectingHandler();
        h.DispatchUntil(cap, () => h.Packets.Count >= 3, Deadline);
        long after = NowNs();

        Assert.Equal(3, h.Packets.Count);
        long lastTs = 0;
        for (int i = 0; i < 3; i++)
        {
            var (data, orig, ts) = h.Packets[i];
            Assert.Equal(14 + 20 + 8 + payloads[i].Length, data.Length);
            Assert.Equal(data.Length, orig);
            Assert.Equal(udp.Port, CollectingHandler.UdpDestinationPort(data));
            Assert.Equal(payloads[i], data[42..]);
            Assert.InRange(ts, before - 1_000_000_000L, after + 1_000_000_000L);
            Assert.True(ts >= lastTs);
            lastTs = ts;
        }
    }

    [Fact]
    public void Dispatch_CutsFramesToTheSnaplen_AndReportsTheWireLength()
    {
        using var udp = new LoopbackUdp();
        using var cap = LiveCapture.Open(Lo($"udp dst port {udp.Port}", snaplen: 64));
        var payload = new byte[500];
        Random.Shared.NextBytes(payload);
        udp.Send(payload);
        var h = new CollectingHandler();
        h.DispatchUntil(cap, () => h.Packets.Count >= 1, Deadline);

        var (data, orig, _) = Assert.Single(h.Packets);
        Assert.Equal(64, data.Length);
        Assert.Equal(42 + 500, orig);
        Assert.Equal(payload[..22], data[42..]);
    }

    [Fact]
    public void Filter_ExcludesOtherPorts_WhileItsOwnPortIsDelivered()
    {
        using var excluded = new LoopbackUdp();
        using var wanted = new LoopbackUdp();
        using var cap = LiveCapture.Open(Lo($"udp dst port {wanted.Port}"));
        for (int i = 0; i < 5; i++) excluded.Send([1, 2, 3, (byte)i]);
        wanted.Send([9, 9, 9]);
        var h = new CollectingHandler();
        h.DispatchUntil(cap, () => h.Packets.Count >= 1, Deadline);
        // Loopback delivers in order: had the excluded datagrams passed the filter, they would have come first. Wait a little more anyway.
        cap.Dispatch(-1, h);

        var (data, _, _) = Assert.Single(h.Packets);
        Assert.Equal(wanted.Port, CollectingHandler.UdpDestinationPort(data));
        Assert.Equal(new byte[] { 9, 9, 9 }, data[42..]);
    }

    [Fact]
    public void SetFilter_AfterOpen_ReplacesTheFilter()
    {
        using var first = new LoopbackUdp();
        using var second = new LoopbackUdp();
        using var cap = LiveCapture.Open(Lo($"udp dst port {first.Port}"));
        cap.SetFilter($"udp dst port {second.Port}");
        first.Send([1]);
        second.Send([2]);
        var h = new CollectingHandler();
        h.DispatchUntil(cap, () => h.Packets.Count >= 1, Deadline);

        var (data, _, _) = Assert.Single(h.Packets);
        Assert.Equal(second.Port, CollectingHandler.UdpDestinationPort(data));
    }

    [Fact]
    public void Open_InvalidBpf_ThrowsNamingTheFilterTheCallAndTheInterface()
    {
        const string bpf = "udp port and (frobnicate";
        var ex = Assert.Throws<LiveCaptureException>(() => LiveCapture.Open(Lo(bpf)));
        Assert.Contains(bpf, ex.Message, StringComparison.Ordinal);
        Assert.Contains("pcap_compile", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'lo'", ex.Message, StringComparison.Ordinal);
        Assert.Equal(bpf, ex.Filter);
        Assert.False(string.IsNullOrWhiteSpace(ex.LibpcapMessage));
    }

    [Fact]
    public void SetFilter_Invalid_ThrowsAndTheCaptureKeepsWorking()
    {
        using var udp = new LoopbackUdp();
        using var cap = LiveCapture.Open(Lo($"udp dst port {udp.Port}"));
        var ex = Assert.Throws<LiveCaptureException>(() => cap.SetFilter("port 99999999"));
        Assert.Contains("port 99999999", ex.Message, StringComparison.Ordinal);
        udp.Send([7]);
        var h = new CollectingHandler();
        h.DispatchUntil(cap, () => h.Packets.Count >= 1, Deadline);
        Assert.Single(h.Packets);
    }

    [Fact]
    public void Open_UnknownInterface_ThrowsNamingIt()
    {
        var ex = Assert.Throws<LiveCaptureException>(() => LiveCapture.Open(new LiveCaptureOptions { Interface = "otsnope9" }));
        Assert.Contains("otsnope9", ex.Message, StringComparison.Ordinal);
        Assert.Contains("pcap_activate", ex.Message, StringComparison.Ordinal);
        Assert.Equal("otsnope9", ex.Interface);
        Assert.True(ex.Status < 0);
    }

    [Fact]
    public void Dispatch_ReturnsZero_WhenTheReadTimeoutExpiresWithoutPackets()
    {
        using var udp = new LoopbackUdp();
        using var cap = LiveCapture.Open(Lo($"udp dst port {udp.Port}", timeoutMs: 50));
        var h = new CollectingHandler();
        var sw = Stopwatch.StartNew();
        int n = cap.Dispatch(-1, h);
        Assert.Equal(0, n);
        Assert.Empty(h.Packets);
        Assert.InRange(sw.ElapsedMilliseconds, 0, 2000);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task BreakLoop_FromAnotherThread_MakesABlockedDispatchReturnMinus2Promptly(bool immediate)
    {
        using var udp = new LoopbackUdp();
        // A long read timeout: only the break can end the call quickly.
        using var cap = LiveCapture.Open(Lo($"udp dst port {udp.Port}", timeoutMs: 4000, immediate: immediate));
        var h = new CollectingHandler();
        using var entered = new ManualResetEventSlim();
        var dispatch = Task.Factory.StartNew(() =>
        {
            entered.Set();
            return cap.Dispatch(-1, h);
        }, TaskCreationOptions.LongRunning);
        Assert.True(entered.Wait(Deadline));
        await Task.Delay(200);
        var sw = Stopwatch.StartNew();
        cap.BreakLoop();
        int result = await dispatch.WaitAsync(TimeSpan.FromSeconds(6));
        Assert.Equal(-2, result);
        Assert.InRange(sw.ElapsedMilliseconds, 0, 1000);
    }

    [Fact]
    public async Task Dispose_FromAnotherThread_WakesABlockedDispatch()
    {
        using var udp = new LoopbackUdp();
        var cap = LiveCapture.Open(Lo($"udp dst port {udp.Port}", timeoutMs: 4000));
        var dispatch = Task.Factory.StartNew(() => cap.Dispatch(-1, new CollectingHandler()), TaskCreationOptions.LongRunning);
        await Task.Delay(200);
        var sw = Stopwatch.StartNew();
        cap.Dispose();
        int result = await dispatch.WaitAsync(TimeSpan.FromSeconds(6));
        Assert.Equal(-2, result);
        Assert.InRange(sw.ElapsedMilliseconds, 0, 1000);
        Assert.Throws<ObjectDisposedException>(() => cap.Dispatch(-1, new CollectingHandler()));
        cap.Dispose();
        cap.BreakLoop();
    }

    [Fact]
    public void Dispatch_RethrowsAHandlerException_AndTheCaptureStaysUsable()
    {
        using var udp = new LoopbackUdp();
        using var cap = LiveCapture.Open(Lo($"udp dst port {udp.Port}"));
        udp.Send([1]);
        var thrower = new ThrowingHandler();
        var sw = Stopwatch.StartNew();
        var ex = Record.Exception(() =>
        {
            while (sw.Elapsed < Deadline)
                cap.Dispatch(-1, thrower);
        });
        Assert.IsType<FormatException>(ex);
        Assert.Equal("handler failed", ex.Message);

        udp.Send([2]);
        var h = new CollectingHandler();
        h.DispatchUntil(cap, () => h.Packets.Count >= 1, Deadline);
        Assert.Equal(new byte[] { 2 }, Assert.Single(h.Packets).Data[42..]);
    }

    [Fact]
    public void GetStats_CountsReceivedPackets()
    {
        using var udp = new LoopbackUdp();
        // A small snaplen: with immediate mode (TPACKET_V2) every ring slot is snaplen-sized on lo.
        using var cap = LiveCapture.Open(Lo($"udp dst port {udp.Port}", snaplen: 2048));
        Assert.Equal(new LiveCaptureStats(0, 0, 0), cap.GetStats() with { InterfaceDropped = 0 });
        for (int i = 0; i < 20; i++) udp.Send([(byte)i]);
        var h = new CollectingHandler();
        h.DispatchUntil(cap, () => h.Packets.Count >= 20, Deadline);
        Assert.Equal(20, h.Packets.Count);
        var stats = cap.GetStats();
        Assert.InRange(stats.Received, 20, 1000);
        Assert.Equal(0, stats.KernelDropped);
        Assert.True(cap.GetStats().Received >= stats.Received);
    }

    [Fact]
    public void GetStats_CountsKernelDrops_WhenTheRingOverflows()
    {
        using var udp = new LoopbackUdp();
        // 1 MiB of 256 KiB slots: the ring holds a handful of frames, the burst overflows it.
        using var cap = LiveCapture.Open(Lo($"udp dst port {udp.Port}"));
        for (int i = 0; i < 50; i++) udp.Send([(byte)i]);
        var h = new CollectingHandler();
        while (cap.Dispatch(-1, h) > 0)
        {
        }
        var stats = cap.GetStats();
        Assert.InRange(h.Packets.Count, 1, 49);
        // On lo the kernel counts each datagram twice (outgoing and incoming copy; libpcap discards the outgoing one itself).
        Assert.Equal(100, stats.Received);
        Assert.InRange(stats.KernelDropped, 50 - h.Packets.Count, 100 - h.Packets.Count);
    }

    [Fact]
    public void StatsAccumulator_WidensAcrossThe32BitWrap()
    {
        var acc = new StatsAccumulator();
        Assert.Equal(new LiveCaptureStats(10, 1, 0), acc.Add(10, 1, 0));
        Assert.Equal(new LiveCaptureStats(0xFFFF_FFF0L, 5, 2), acc.Add(0xFFFF_FFF0, 5, 2));
        // libpcap's counters wrapped: 0xFFFFFFF0 -> 0x10 is 0x20 more packets.
        Assert.Equal(new LiveCaptureStats(0x1_0000_0010L, 5, 2), acc.Add(0x10, 5, 2));
        Assert.Equal(new LiveCaptureStats(0x1_0000_0010L + 0xFFFF_FFFFL, 5, 2), acc.Add(0x0F, 5, 2));
    }

    [Theory]
    [InlineData(0, LinkType.Null)]
    [InlineData(1, LinkType.Ethernet)]
    [InlineData(12, LinkType.Raw)]
    [InlineData(113, LinkType.LinuxSll)]
    [InlineData(276, LinkType.LinuxSll2)]
    [InlineData(228, LinkType.Ipv4)]
    [InlineData(147, (LinkType)147)]
    public void FromDatalink_MapsDltToTheFileLinkType(int dlt, LinkType expected)
        => Assert.Equal(expected, LiveCapture.FromDatalink(dlt));

    [Fact]
    public void Open_AnyPseudoDevice_IsLinuxCookedCapture()
    {
        using var cap = LiveCapture.Open(new LiveCaptureOptions { Interface = "any", Bpf = "udp dst port 9", Promiscuous = false, BufferBytes = 1 << 20 });
        Assert.True(cap.LinkType is LinkType.LinuxSll or LinkType.LinuxSll2);
    }

    private sealed class ThrowingHandler : ILivePacketHandler
    {
        public void OnPacket(ReadOnlySpan<byte> data, int originalLength, long timestampNs) => throw new FormatException("handler failed");
    }
}
