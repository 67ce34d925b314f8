using OtSensor.Core;
using OtSensor.Detection;

namespace OtSensor.Tests.Detection;

public class KeyTableTests
{
    private static RegisterKey Key(int i) => new(new IpAddr(0, 0x0000_FFFF_0A00_0000UL | (uint)(i % 37)), (byte)(i % 3), (ushort)(i / 111));

    [Fact]
    public void Table_HoldsTheSameEntriesAsADictionary_ThroughAddsUpdatesRemovesAndGrowth()
    {
        var rng = new Random(5);
        var table = new KeyTable<RegisterKey, int>();
        var reference = new Dictionary<RegisterKey, int>();
        for (int step = 0; step < 60_000; step++)
        {
            var k = Key(rng.Next(4000));
            switch (rng.Next(4))
            {
                case 0:
                    Assert.Equal(reference.Remove(k), table.Remove(k));
                    break;
                case 1:
                    ref var v = ref table.GetValueRefOrAddDefault(k, out bool exists);
                    Assert.Equal(reference.ContainsKey(k), exists);
                    v += 3;
                    reference[k] = reference.GetValueOrDefault(k) + 3;
                    break;
                default:
                    Assert.Equal(reference.TryGetValue(k, out int want), table.TryGetValue(k, out int got));
                    Assert.Equal(want, got);
                    break;
            }
            Assert.Equal(reference.Count, table.Count);
        }
        Assert.Equal(reference.OrderBy(kv => kv.Key.ToString()), table.OrderBy(kv => kv.Key.ToString()));
        table.Clear();
        Assert.Equal(0, table.Count);
        Assert.False(table.ContainsKey(Key(1)));
    }

    [Fact]
    public void Table_FindsNothingByReference_ForAMissingKey_AndThrowsLikeADictionary()
    {
        var table = new KeyTable<RegisterKey, int>();
        table.Add(Key(1), 7);
        Assert.True(System.Runtime.CompilerServices.Unsafe.IsNullRef(ref table.GetValueRefOrNullRef(Key(2))));
        Assert.Equal(7, table[Key(1)]);
        Assert.Throws<KeyNotFoundException>(() => table[Key(2)]);
        Assert.Throws<ArgumentException>(() => table.Add(Key(1), 8));
        Assert.Equal(0, table.GetValueOrDefault(Key(2)));
    }

    [Fact]
    public void Set_AddsOnce_AndForgetsWhatIsRemoved()
    {
        var set = new KeySet<PairKey>();
        var a = new PairKey(IpAddr.Parse("10.0.0.1"), IpAddr.Parse("10.0.0.2"));
        var b = new PairKey(IpAddr.Parse("10.0.0.2"), IpAddr.Parse("10.0.0.1"));
        Assert.True(set.Add(a));
        Assert.False(set.Add(a));
        Assert.True(set.Add(b));
        Assert.Equal([a, b], set.OrderBy(k => k.Client));
        Assert.True(set.Remove(a));
        Assert.False(set.Contains(a));
        Assert.True(set.Contains(b));
        Assert.Single(set);
    }
}
