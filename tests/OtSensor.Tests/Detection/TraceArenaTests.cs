using OtSensor.Detection;

namespace OtSensor.Tests.Detection;

public class TraceArenaTests
{
    private static byte[] Trace(long id, int length)
    {
        var t = new byte[length];
        for (int i = 0; i < length; i++) t[i] = (byte)(id * 31 + i);
        return t;
    }

    [Fact]
    public void Arena_KeepsExactlyTheLastCapacityTraces_WhateverTheirSizes()
    {
        var rng = new Random(11);
        var arena = new TraceArena(capacity: 50, initialBytes: 1024);
        var sizes = new Dictionary<long, int>();
        for (long id = 1; id <= 2000; id++)
        {
            // Mostly small traces, sometimes one larger than the whole buffer.
            int length = rng.Next(10) == 0 ? rng.Next(2000, 9000) : rng.Next(24, 400);
            sizes[id] = length;
            Trace(id, length).CopyTo(arena.Add(id, length));
            if (id % 97 == 0)
            {
                for (long k = 1; k <= id; k++)
                {
                    var got = arena.Get(k);
                    if (k > id - 50) Assert.Equal(Trace(k, sizes[k]), got);
                    else Assert.Null(got);
                }
            }
        }
        Assert.Equal(50, arena.Count);
    }

    [Fact]
    public void Arena_StopsGrowing_WhenTheKeptTracesFit()
    {
        var arena = new TraceArena(capacity: 16, initialBytes: 1024);
        for (long id = 1; id <= 100; id++) arena.Add(id, 300);
        int size = arena.BufferBytes;
        for (long id = 101; id <= 5000; id++) Trace(id, 300).CopyTo(arena.Add(id, 300));
        Assert.Equal(size, arena.BufferBytes);
        Assert.Equal(Trace(5000, 300), arena.Get(5000));
        Assert.Equal(Trace(4985, 300), arena.Get(4985));
        Assert.Null(arena.Get(4984));
    }

    [Fact]
    public void Arena_ReturnsNull_ForAnIdNeverAdded()
    {
        var arena = new TraceArena(capacity: 4);
        Assert.Null(arena.Get(1));
        arena.Add(2, 10);
        arena.Add(4, 10);
        Assert.Null(arena.Get(3));
        Assert.NotNull(arena.Get(4));
    }
}

public class TraceWithoutStoreTests
{
    [Theory]
    [InlineData("plant_attack.pcap")]
    [InlineData("port_scan.pcap")]
    [InlineData("modbus_fc_scan.pcap")]
    public void TraceOf_IsTheSamePcap_WithAndWithoutAStore(string capture)
    {
        string path = DetectionHarness.Attack(capture);
        string db = DetectionHarness.TempStore();
        try
        {
            DetectionEngine stored;
            using (var s = AlertStore.Open(db)) stored = DetectionHarness.Run(path, store: s);
            var memory = DetectionHarness.Run(path);
            Assert.NotEmpty(memory.Raised);
            Assert.Equal(stored.Raised.Count, memory.Raised.Count);
            for (int i = 0; i < memory.Raised.Count; i++)
            {
                var a = memory.Raised[i];
                var b = stored.Raised[i];
                Assert.Equal(b.Type, a.Type);
                Assert.Equal(b.TracePackets, a.TracePackets);
                Assert.Equal(stored.TraceOf(b), memory.TraceOf(a));
                if (a.TracePackets.Count > 0) Assert.NotNull(memory.TraceOf(a));
            }
        }
        finally
        {
            DetectionHarness.DeleteStore(db);
        }
    }
}
