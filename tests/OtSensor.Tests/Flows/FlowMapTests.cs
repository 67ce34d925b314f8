using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Tests.Flows;

public class FlowMapTests
{
    private static readonly FlowTableOptions Options = new();
    private static readonly FlowTable Table = new(Options, new RecordingFactory());

    private static FlowEntry Entry(int n)
    {
        var e = new FlowEntry(Table, Options, new FlowTableStats());
        e.Key = new FlowKey(IpAddr.FromV4(0x0A00_0000u + (uint)(n / 1000)), (ushort)(1024 + (n % 1000)), IpAddr.Parse("10.255.0.1"), 502, TransportLayer.Tcp, 0, 0);
        return e;
    }

    [Fact]
    public void FlowMap_FindsEveryAddedEntry_AndNothingElse()
    {
        var map = new FlowMap(8);
        var entries = Enumerable.Range(0, 5000).Select(Entry).ToList();
        foreach (var e in entries) map.Add(e);
        Assert.Equal(5000, map.Count);
        foreach (var e in entries) Assert.Same(e, map.Find(e.Key));
        Assert.Null(map.Find(Entry(5000).Key));
    }

    [Fact]
    public void FlowMap_KeepsTheOthersFindable_WhenEntriesAreRemovedInAnyOrder()
    {
        var map = new FlowMap(16);
        var entries = Enumerable.Range(0, 3000).Select(Entry).ToList();
        foreach (var e in entries) map.Add(e);
        var rng = new Random(7);
        var removed = new HashSet<FlowEntry>();
        foreach (var e in entries.OrderBy(_ => rng.Next()).Take(2000))
        {
            Assert.True(map.Remove(e));
            removed.Add(e);
        }
        Assert.Equal(1000, map.Count);
        foreach (var e in entries)
        {
            if (removed.Contains(e)) Assert.Null(map.Find(e.Key));
            else Assert.Same(e, map.Find(e.Key));
        }
        Assert.False(map.Remove(entries.First(removed.Contains)));
    }

    [Fact]
    public void FlowMap_CopyTo_ListsEachEntryOnce()
    {
        var map = new FlowMap(8);
        var entries = Enumerable.Range(0, 100).Select(Entry).ToList();
        foreach (var e in entries) map.Add(e);
        map.Remove(entries[3]);
        var all = new List<FlowEntry>();
        map.CopyTo(all);
        Assert.Equal(99, all.Count);
        Assert.Equal(entries.Where((_, i) => i != 3).ToHashSet(), all.ToHashSet());
    }
}
