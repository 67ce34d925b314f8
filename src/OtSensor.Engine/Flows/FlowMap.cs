using System.Numerics;

namespace OtSensor.Flows;

/// <summary>
/// The flow table's index: an open-addressing hash table (linear probing, backward-shift deletion, at most half
/// full) from <see cref="FlowKey"/> to its <see cref="FlowEntry"/>, keyed by the key's precomputed hash. A type of
/// this assembly rather than a <c>Dictionary&lt;FlowKey, FlowEntry&gt;</c>, so it is precompiled with it (ReadyToRun)
/// instead of being compiled at start-up, and the lookup needs no comparer call.
/// </summary>
internal sealed class FlowMap
{
    private FlowEntry?[] _slots;
    private uint[] _hashes;
    private int _shift;

    public FlowMap(int capacity)
    {
        int size = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(capacity, 8, 1 << 29) * 2);
        _slots = new FlowEntry?[size];
        _hashes = new uint[size];
        _shift = 32 - BitOperations.Log2((uint)size);
    }

    public int Count { get; private set; }

    // The hash also picks the worker (hash % workers), so its low bits are the same for all of one worker's flows:
    // Fibonacci hashing takes the slot from the high bits of the product instead.
    private int Home(uint hash) => (int)((hash * 0x9E37_79B9u) >> _shift);

    public FlowEntry? Find(in FlowKey key)
    {
        uint hash = key.SymmetricHash;
        var slots = _slots;
        var hashes = _hashes;
        int mask = slots.Length - 1;
        for (int i = Home(hash); ; i = (i + 1) & mask)
        {
            var e = slots[i];
            if (e is null) return null;
            if (hashes[i] == hash && e.Key.Equals(key)) return e;
        }
    }

    /// <summary>Adds an entry whose key (<see cref="FlowEntry.Key"/>) is not in the map.</summary>
    public void Add(FlowEntry entry)
    {
        if ((Count + 1) * 2 > _slots.Length) Grow();
        Insert(entry, entry.Key.SymmetricHash);
        Count++;
    }

    /// <summary>Removes this entry (found by reference); false when it is not in the map.</summary>
    public bool Remove(FlowEntry entry)
    {
        var slots = _slots;
        var hashes = _hashes;
        int mask = slots.Length - 1;
        int i = Home(entry.Key.SymmetricHash);
        while (true)
        {
            var e = slots[i];
            if (e is null) return false;
            if (ReferenceEquals(e, entry)) break;
            i = (i + 1) & mask;
        }
        // Backward-shift deletion: pull later entries of the probe run into the hole when their home allows it.
        for (int j = (i + 1) & mask; slots[j] is { } moved; j = (j + 1) & mask)
        {
            int home = Home(hashes[j]);
            bool stays = i <= j ? i < home && home <= j : i < home || home <= j;
            if (stays) continue;
            slots[i] = moved;
            hashes[i] = hashes[j];
            i = j;
        }
        slots[i] = null;
        hashes[i] = 0;
        Count--;
        return true;
    }

    /// <summary>Copies every entry into <paramref name="into"/> (in no particular order).</summary>
    public void CopyTo(List<FlowEntry> into)
    {
        foreach (var e in _slots)
        {
            if (e is not null) into.Add(e);
        }
    }

    private void Insert(FlowEntry entry, uint hash)
    {
        int mask = _slots.Length - 1;
        int i = Home(hash);
        while (_slots[i] is not null) i = (i + 1) & mask;
        _slots[i] = entry;
        _hashes[i] = hash;
    }

    private void Grow()
    {
        var old = _slots;
        var oldHashes = _hashes;
        _slots = new FlowEntry?[old.Length * 2];
        _hashes = new uint[old.Length * 2];
        _shift--;
        for (int i = 0; i < old.Length; i++)
        {
            if (old[i] is { } e) Insert(e, oldHashes[i]);
        }
    }
}
