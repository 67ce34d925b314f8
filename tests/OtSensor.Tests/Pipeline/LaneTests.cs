using OtSensor.Pipeline;
using OtSensor.Tests.Differential;

namespace OtSensor.Tests.Pipeline;

/// <summary>
/// Analysis lanes: the consumers that share state run on one thread, each consumer that runs apart on a thread of its
/// own, and every consumer sees the same batches and events in the same order.
/// </summary>
public class LaneTests
{
    private sealed class Recorder(bool apart) : IEventConsumer
    {
        public readonly List<long> Batches = [];
        public readonly List<(long Packet, EventKind Kind, long Flow)> Events = [];
        public readonly HashSet<int> Threads = [];

        public bool RunsApart => apart;

        public void OnPackets(PacketBatch batch)
        {
            Threads.Add(Environment.CurrentManagedThreadId);
            Batches.Add(batch.Sequence);
        }

        public void OnEvent(in EventEntry entry, EventBuffer buffer, PacketBatch batch)
        {
            Threads.Add(Environment.CurrentManagedThreadId);
            Events.Add((entry.Kind == EventKind.Transaction ? entry.Transaction.ResponsePacket + entry.Transaction.RequestPacket : entry.Anomaly.PacketNumber, entry.Kind, entry.Flow.FlowId));
        }

        public void OnComplete(ReplayStats stats) { }
    }

    [Theory]
    [InlineData(0, 3)]
    [InlineData(2, 0)]
    [InlineData(2, 2)]
    [InlineData(1, 1)]
    public async Task EachApartConsumerHasALane_TheOthersShareOne_AllSeeTheSameOrder(int shared, int apart)
    {
        var consumers = new List<Recorder>();
        for (int i = 0; i < shared; i++) consumers.Add(new Recorder(apart: false));
        for (int i = 0; i < apart; i++) consumers.Add(new Recorder(apart: true));
        string[] files = [TestPaths.Capture("modbus_pymodbus.pcap"), TestPaths.Capture("mqtt_mosquitto.pcap"), TestPaths.Capture("coap_libcoap.pcap")];
        var engine = new ReplayEngine(new ReplayOptions { Files = files, BatchPackets = 64 }, [.. consumers]);
        await engine.RunAsync();
        Assert.Equal(0, engine.InternalErrors);
        var first = consumers[0];
        Assert.True(first.Batches.Count > 3 && first.Events.Count > 100);
        foreach (var c in consumers)
        {
            Assert.Equal(first.Batches, c.Batches);
            Assert.Equal(first.Events, c.Events);
            Assert.Single(c.Threads);
        }
        var sharedThreads = consumers.Where(c => !c.RunsApart).Select(c => c.Threads.Single()).Distinct().ToList();
        var apartThreads = consumers.Where(c => c.RunsApart).Select(c => c.Threads.Single()).ToList();
        Assert.True(sharedThreads.Count <= 1);
        Assert.Equal(apart, apartThreads.Distinct().Count());
        Assert.Empty(apartThreads.Intersect(sharedThreads));
    }

    [Fact]
    public async Task NoConsumerAtAll_StillReplays()
    {
        var engine = new ReplayEngine(new ReplayOptions { Files = [TestPaths.Capture("modbus_pymodbus.pcap")] }, []);
        var stats = await engine.RunAsync();
        Assert.True(stats.Decode.Packets > 0);
        Assert.Equal(0, engine.InternalErrors);
    }
}
