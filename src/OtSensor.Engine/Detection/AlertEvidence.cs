using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace OtSensor.Detection;

/// <summary>
/// An alert's evidence: string keys and values, enumerated in ordinal key order (as a
/// <c>SortedDictionary&lt;string, string&gt;</c> with <see cref="StringComparer.Ordinal"/> would), held in one sorted
/// array instead of a tree of nodes: an alert has a handful of entries, and every alert of a run stays in memory, so
/// one object instead of one per entry is less to allocate and less for each garbage collection to trace.
/// </summary>
public sealed class AlertEvidence : IReadOnlyDictionary<string, string>
{
    private KeyValuePair<string, string>[] _items;
    private int _count;

    public AlertEvidence() => _items = [];

    public AlertEvidence(int capacity) => _items = capacity > 0 ? new KeyValuePair<string, string>[capacity] : [];

    /// <summary>The entries of <paramref name="items"/> (a later duplicate key replaces an earlier one).</summary>
    public AlertEvidence(IEnumerable<KeyValuePair<string, string>> items) : this()
    {
        foreach (var kv in items) this[kv.Key] = kv.Value;
    }

    public int Count => _count;

    public string this[string key]
    {
        get
        {
            int i = IndexOf(key);
            if (i < 0) throw new KeyNotFoundException($"The evidence has no '{key}'.");
            return _items[i].Value;
        }
        set
        {
            ArgumentNullException.ThrowIfNull(key);
            ArgumentNullException.ThrowIfNull(value);
            int i = IndexOf(key);
            if (i >= 0) _items[i] = new(key, value);
            else Insert(~i, key, value);
        }
    }

    /// <summary>Adds an entry; throws when the key is already there (as a dictionary's Add).</summary>
    public void Add(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        int i = IndexOf(key);
        if (i >= 0) throw new ArgumentException($"The evidence already has '{key}'.", nameof(key));
        Insert(~i, key, value);
    }

    public bool ContainsKey(string key) => IndexOf(key) >= 0;

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out string value)
    {
        int i = IndexOf(key);
        if (i < 0)
        {
            value = null;
            return false;
        }
        value = _items[i].Value;
        return true;
    }

    public IEnumerable<string> Keys
    {
        get
        {
            for (int i = 0; i < _count; i++) yield return _items[i].Key;
        }
    }

    public IEnumerable<string> Values
    {
        get
        {
            for (int i = 0; i < _count; i++) yield return _items[i].Value;
        }
    }

    public Enumerator GetEnumerator() => new(this);

    IEnumerator<KeyValuePair<string, string>> IEnumerable<KeyValuePair<string, string>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Binary search by ordinal key: the index, or the complement of where the key would go.</summary>
    private int IndexOf(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        int lo = 0, hi = _count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            int c = string.CompareOrdinal(_items[mid].Key, key);
            if (c == 0) return mid;
            if (c < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        return ~lo;
    }

    private void Insert(int at, string key, string value)
    {
        if (_count == _items.Length)
        {
            var bigger = new KeyValuePair<string, string>[Math.Max(4, _count * 2)];
            _items.AsSpan(0, _count).CopyTo(bigger);
            _items = bigger;
        }
        _items.AsSpan(at, _count - at).CopyTo(_items.AsSpan(at + 1));
        _items[at] = new(key, value);
        _count++;
    }

    /// <summary>Enumerates the entries in key order (no allocation).</summary>
    public struct Enumerator : IEnumerator<KeyValuePair<string, string>>
    {
        private readonly AlertEvidence _owner;
        private int _index;

        internal Enumerator(AlertEvidence owner)
        {
            _owner = owner;
            _index = -1;
        }

        public readonly KeyValuePair<string, string> Current => _owner._items[_index];

        readonly object IEnumerator.Current => Current;

        public bool MoveNext() => ++_index < _owner._count;

        public void Reset() => _index = -1;

        public readonly void Dispose()
        {
        }
    }
}
