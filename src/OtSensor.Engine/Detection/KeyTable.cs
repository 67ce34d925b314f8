using System.Collections;
using System.Numerics;
using System.Runtime.CompilerServices;
using OtSensor.Core;

namespace OtSensor.Detection;

/// <summary>Hashing and equality of a table key, as static members (no comparer object, no virtual call).</summary>
public interface IKeyHash<TKey>
{
    static abstract ulong Hash(in TKey key);
    static abstract bool Same(in TKey a, in TKey b);
}

/// <summary>
/// An open-addressing hash table (linear probing, backward-shift deletion, at most half full) from a struct key to
/// a value, hashed and compared by <typeparamref name="TKey"/> itself (<see cref="IKeyHash{TKey}"/>). A type of this
/// assembly instantiated over this assembly's structs, so it is precompiled with it (ReadyToRun) instead of being
/// compiled at run time like <c>Dictionary</c> over them, and a lookup hashes a few fields with no comparer call.
/// Detection's and the baseline's tables: lookups by key only; enumeration (slot order) is for order-free uses
/// (counts, sorted exports).
/// </summary>
public sealed class KeyTable<TKey, TValue> : IEnumerable<KeyValuePair<TKey, TValue>>
    where TKey : struct, IKeyHash<TKey>
{
    private TKey[] _keys;
    private TValue[] _values;
    private uint[] _tags; // 0: empty; else the hash's high half with the low bit set
    private int _shift;

    public KeyTable(int capacity = 8)
    {
        int size = Size(capacity);
        _keys = new TKey[size];
        _values = new TValue[size];
        _tags = new uint[size];
        _shift = 64 - BitOperations.Log2((uint)size);
    }

    private static int Size(int capacity) => (int)BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(capacity, 4, 1 << 29) * 2);

    public int Count { get; private set; }

    private static ulong Mix(in TKey key) => TKey.Hash(in key) * 0x9E37_79B9_7F4A_7C15UL;

    private static uint Tag(ulong h) => (uint)(h >> 32) | 1;

    private int Find(in TKey key)
    {
        ulong h = Mix(in key);
        uint tag = Tag(h);
        var tags = _tags;
        var keys = _keys;
        int mask = tags.Length - 1;
        for (int i = (int)(h >> _shift); ; i = (i + 1) & mask)
        {
            uint t = tags[i];
            if (t == 0) return -1;
            if (t == tag && TKey.Same(in keys[i], in key)) return i;
        }
    }

    public bool ContainsKey(in TKey key) => Find(in key) >= 0;

    public bool TryGetValue(in TKey key, out TValue value)
    {
        int i = Find(in key);
        if (i < 0)
        {
            value = default!;
            return false;
        }
        value = _values[i];
        return true;
    }

    /// <summary>The value of <paramref name="key"/> by reference, or a null reference when it is not in the table.</summary>
    public ref TValue GetValueRefOrNullRef(in TKey key)
    {
        int i = Find(in key);
        if (i < 0) return ref Unsafe.NullRef<TValue>();
        return ref _values[i];
    }

    /// <summary>The value of <paramref name="key"/> by reference, added as default when missing (<paramref name="exists"/> false). Valid until the next add.</summary>
    public ref TValue GetValueRefOrAddDefault(in TKey key, out bool exists)
    {
        ulong h = Mix(in key);
        uint tag = Tag(h);
        var tags = _tags;
        int mask = tags.Length - 1;
        int i = (int)(h >> _shift);
        for (; ; i = (i + 1) & mask)
        {
            uint t = tags[i];
            if (t == 0) break;
            if (t == tag && TKey.Same(in _keys[i], in key))
            {
                exists = true;
                return ref _values[i];
            }
        }
        exists = false;
        if ((Count + 1) * 2 > tags.Length)
        {
            Grow();
            i = Slot(h);
        }
        _tags[i] = tag;
        _keys[i] = key;
        _values[i] = default!;
        Count++;
        return ref _values[i];
    }

    /// <summary>Adds <paramref name="key"/> with <paramref name="value"/>; false (nothing changed) when it is already in.</summary>
    public bool TryAdd(in TKey key, TValue value)
    {
        ref var v = ref GetValueRefOrAddDefault(in key, out bool exists);
        if (exists) return false;
        v = value;
        return true;
    }

    /// <summary>Adds <paramref name="key"/>, which must not be in the table (as <c>Dictionary.Add</c>).</summary>
    public void Add(in TKey key, TValue value)
    {
        if (!TryAdd(in key, value)) throw new ArgumentException($"key '{key}' is already in the table", nameof(key));
    }

    public TValue? GetValueOrDefault(in TKey key)
    {
        int i = Find(in key);
        return i < 0 ? default : _values[i];
    }

    public TValue this[in TKey key]
    {
        get
        {
            int i = Find(in key);
            if (i < 0) throw new KeyNotFoundException($"key '{key}' not found");
            return _values[i];
        }
        set => GetValueRefOrAddDefault(in key, out _) = value;
    }

    public bool Remove(in TKey key)
    {
        int i = Find(in key);
        if (i < 0) return false;
        var tags = _tags;
        var keys = _keys;
        var values = _values;
        int mask = tags.Length - 1;
        // Backward-shift deletion: move later entries of the probe run into the hole when their home allows it.
        int hole = i;
        for (int j = (i + 1) & mask; tags[j] != 0; j = (j + 1) & mask)
        {
            int home = (int)(Mix(in keys[j]) >> _shift);
            // j may move to the hole when its home is not cyclically in (hole, j].
            if (((j - home) & mask) >= ((j - hole) & mask))
            {
                tags[hole] = tags[j];
                keys[hole] = keys[j];
                values[hole] = values[j];
                hole = j;
            }
        }
        tags[hole] = 0;
        keys[hole] = default;
        values[hole] = default!;
        Count--;
        return true;
    }

    public void Clear()
    {
        if (Count == 0) return;
        Array.Clear(_tags);
        Array.Clear(_keys);
        Array.Clear(_values);
        Count = 0;
    }

    // An empty slot for hash h (the key is known to be missing).
    private int Slot(ulong h)
    {
        var tags = _tags;
        int mask = tags.Length - 1;
        int i = (int)(h >> _shift);
        while (tags[i] != 0) i = (i + 1) & mask;
        return i;
    }

    private void Grow()
    {
        var oldTags = _tags;
        var oldKeys = _keys;
        var oldValues = _values;
        int size = oldTags.Length * 2;
        _tags = new uint[size];
        _keys = new TKey[size];
        _values = new TValue[size];
        _shift = 64 - BitOperations.Log2((uint)size);
        for (int k = 0; k < oldTags.Length; k++)
        {
            if (oldTags[k] == 0) continue;
            int i = Slot(Mix(in oldKeys[k]));
            _tags[i] = oldTags[k];
            _keys[i] = oldKeys[k];
            _values[i] = oldValues[k];
        }
    }

    public Enumerator GetEnumerator() => new(this);

    IEnumerator<KeyValuePair<TKey, TValue>> IEnumerable<KeyValuePair<TKey, TValue>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The entries in slot order (the table must not change meanwhile).</summary>
    public struct Enumerator(KeyTable<TKey, TValue> table) : IEnumerator<KeyValuePair<TKey, TValue>>
    {
        private int _i = -1;

        public readonly KeyValuePair<TKey, TValue> Current => new(table._keys[_i], table._values[_i]);

        readonly object IEnumerator.Current => Current;

        public bool MoveNext()
        {
            var tags = table._tags;
            while (++_i < tags.Length)
            {
                if (tags[_i] != 0) return true;
            }
            return false;
        }

        public void Reset() => _i = -1;

        public readonly void Dispose()
        {
        }
    }
}

/// <summary>A set of struct keys on <see cref="KeyTable{TKey, TValue}"/> (what a <c>HashSet</c> of them offers here).</summary>
public sealed class KeySet<TKey> : IEnumerable<TKey>
    where TKey : struct, IKeyHash<TKey>
{
    private readonly KeyTable<TKey, byte> _table = new();

    public int Count => _table.Count;

    /// <summary>Adds <paramref name="key"/>; false when it was already in.</summary>
    public bool Add(in TKey key)
    {
        _table.GetValueRefOrAddDefault(in key, out bool exists);
        return !exists;
    }

    public bool Contains(in TKey key) => _table.ContainsKey(in key);

    public bool Remove(in TKey key) => _table.Remove(in key);

    public void Clear() => _table.Clear();

    public IEnumerator<TKey> GetEnumerator()
    {
        foreach (var kv in _table) yield return kv.Key;
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>Field hashing for the keys (a multiply-xor of their fields; <see cref="KeyTable{TKey, TValue}"/> mixes the result).</summary>
internal static class KeyHash
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Of(IpAddr a) => a.Hi * 0xC2B2_AE3D_27D4_EB4FUL ^ a.Lo;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Add(ulong h, ulong v) => BitOperations.RotateLeft(h, 23) * 0x1656_67B1_9E37_79F9UL ^ v;
}
