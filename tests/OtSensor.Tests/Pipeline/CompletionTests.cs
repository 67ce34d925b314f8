using OtSensor.Pipeline;
using OtSensor.Tests.Differential;

namespace OtSensor.Tests.Pipeline;

/// <summary>The end of a replay: every consumer completes before the replay returns, those that complete apart beside the others.</summary>
public class CompletionTests
{
    private sealed class Probe(bool apart, ManualResetEventSlim? waitFor = null, ManualResetEventSlim? signal = null) : IEventConsumer
    {
        public int Events;
        public int Completions;
        public int Thread;
        public bool SawOtherRunning;

        public bool CompletesApart => apart;

        public void OnPackets(PacketBatch batch) { }

        public void OnEvent(in EventEntry entry, EventBuffer buffer, PacketBatch batch) => Events++;

        public void OnComplete(ReplayStats stats)
        {
            Thread = Environment.CurrentManagedThreadId;
            signal?.Set();
            // Waits (bounded) for the other consumer's completion to start: only possible when both run at once.
            if (waitFor is not null) SawOtherRunning = waitFor.Wait(TimeSpan.FromSeconds(10));
            Completions++;
        }
    }

    [Fact]
    public async Task ConsumersCompletingApart_CompleteBesideTheOthers_AndAllBeforeTheReplayReturns()
    {
        using var mainStarted = new ManualResetEventSlim();
        using var apartStarted = new ManualResetEventSlim();
        var inline = new Probe(apart: false, waitFor: apartStarted, signal: mainStarted);
        var apart = new Probe(apart: true, waitFor: mainStarted, signal: apartStarted);
        var engine = new ReplayEngine(new ReplayOptions { Files = [TestPaths.Capture("modbus_pymodbus.pcap")] }, [inline, apart]);
        await engine.RunAsync();
        Assert.Equal(0, engine.InternalErrors);
        Assert.Equal(1, inline.Completions);
        Assert.Equal(1, apart.Completions);
        Assert.True(inline.Events > 0);
        Assert.Equal(inline.Events, apart.Events);
        Assert.True(inline.SawOtherRunning && apart.SawOtherRunning);
        Assert.NotEqual(inline.Thread, apart.Thread);
    }

    [Fact]
    public async Task WithoutConsumersCompletingApart_CompletionIsInOrderOnOneThread()
    {
        var first = new Probe(apart: false);
        var second = new Probe(apart: false);
        var engine = new ReplayEngine(new ReplayOptions { Files = [TestPaths.Capture("modbus_pymodbus.pcap")] }, [first, second]);
        await engine.RunAsync();
        Assert.Equal(1, first.Completions);
        Assert.Equal(1, second.Completions);
        Assert.Equal(first.Thread, second.Thread);
    }
}
