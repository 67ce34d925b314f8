using System.Buffers.Binary;
using System.Text;

namespace OtSensor;

/// <summary>Kinds of value in an <see cref="EventFieldWriter"/> blob. Stable numeric values.</summary>
public enum EventFieldKind : byte
{
    Int = 1,
    Bool = 2,
    /// <summary>UTF-8 text taken from the wire (validated or not): consumers escape it.</summary>
    String = 3,
    /// <summary>Opaque bytes (written as hex in JSON).</summary>
    Bytes = 4,
    Null = 5,
    BeginObject = 6,
    EndObject = 7,
    BeginArray = 8,
    EndArray = 9,
}

/// <summary>
/// Writes a protocol event's decoded fields as a compact blob: a sequence of [field id: u8][kind: u8][length: u16]
/// [value]. Dissectors whose fields depend on connection state (MQTT version, topic aliases; CoAP block-wise
/// transfers) use it instead of passing raw messages; the JSON writer and the analysis stage read it back with
/// <see cref="EventFieldReader"/> and name fields through the protocol's field-name table. Values longer than
/// <see cref="MaxValueLength"/> are cut. Writing past the buffer sets <see cref="Overflowed"/> and drops the field:
/// never an exception, never an allocation.
/// </summary>
public ref struct EventFieldWriter
{
    public const int MaxValueLength = 1024;
    private readonly Span<byte> _buffer;
    private int _length;

    public EventFieldWriter(Span<byte> buffer)
    {
        _buffer = buffer;
        _length = 0;
        Overflowed = false;
    }

    public readonly int Length => _length;
    public bool Overflowed { get; private set; }
    public readonly ReadOnlySpan<byte> Written => _buffer[.._length];

    private Span<byte> Begin(byte field, EventFieldKind kind, int length)
    {
        if (_buffer.Length - _length < 4 + length)
        {
            Overflowed = true;
            return default;
        }
        var s = _buffer.Slice(_length, 4 + length);
        s[0] = field;
        s[1] = (byte)kind;
        BinaryPrimitives.WriteUInt16LittleEndian(s[2..], (ushort)length);
        _length += 4 + length;
        return s[4..];
    }

    public void WriteInt(byte field, long value)
    {
        var s = Begin(field, EventFieldKind.Int, 8);
        if (!s.IsEmpty) BinaryPrimitives.WriteInt64LittleEndian(s, value);
    }

    public void WriteBool(byte field, bool value)
    {
        var s = Begin(field, EventFieldKind.Bool, 1);
        if (!s.IsEmpty) s[0] = value ? (byte)1 : (byte)0;
    }

    /// <summary>Text off the wire (UTF-8 or not); cut to <see cref="MaxValueLength"/> bytes.</summary>
    public void WriteString(byte field, scoped ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxValueLength) utf8 = utf8[..MaxValueLength];
        var s = Begin(field, EventFieldKind.String, utf8.Length);
        if (s.Length == utf8.Length) utf8.CopyTo(s);
    }

    public void WriteAscii(byte field, string text)
    {
        Span<byte> tmp = stackalloc byte[Math.Min(text.Length, 256)];
        int n = Encoding.ASCII.GetBytes(text.AsSpan(0, tmp.Length), tmp);
        WriteString(field, tmp[..n]);
    }

    public void WriteBytes(byte field, scoped ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > MaxValueLength) bytes = bytes[..MaxValueLength];
        var s = Begin(field, EventFieldKind.Bytes, bytes.Length);
        if (s.Length == bytes.Length) bytes.CopyTo(s);
    }

    public void WriteNull(byte field) => Begin(field, EventFieldKind.Null, 0);
    public void BeginObject(byte field = 0) => Begin(field, EventFieldKind.BeginObject, 0);
    public void EndObject() => Begin(0, EventFieldKind.EndObject, 0);
    public void BeginArray(byte field) => Begin(field, EventFieldKind.BeginArray, 0);
    public void EndArray() => Begin(0, EventFieldKind.EndArray, 0);
}

/// <summary>Reads an <see cref="EventFieldWriter"/> blob field by field.</summary>
public ref struct EventFieldReader
{
    private readonly ReadOnlySpan<byte> _blob;
    private int _position;

    public EventFieldReader(ReadOnlySpan<byte> blob)
    {
        _blob = blob;
        _position = 0;
        Field = 0;
        Kind = 0;
        Value = default;
    }

    public byte Field { get; private set; }
    public EventFieldKind Kind { get; private set; }
    public ReadOnlySpan<byte> Value { get; private set; }

    public readonly long Int => Value.Length == 8 ? BinaryPrimitives.ReadInt64LittleEndian(Value) : 0;
    public readonly bool Bool => Value.Length == 1 && Value[0] != 0;

    /// <summary>
    /// The next field, or false at the end of the blob (or at a header or value cut short). The analysis stage reads
    /// every event's blob field by field, so this is written without bounds checks beyond the two length tests.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public bool Read()
    {
        int pos = _position;
        int left = _blob.Length - pos;
        if (left < 4) return false;
        ref byte h = ref System.Runtime.CompilerServices.Unsafe.Add(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(_blob), pos);
        int len = System.Runtime.CompilerServices.Unsafe.Add(ref h, 2) | (System.Runtime.CompilerServices.Unsafe.Add(ref h, 3) << 8);
        if (left - 4 < len) return false;
        Field = h;
        Kind = (EventFieldKind)System.Runtime.CompilerServices.Unsafe.Add(ref h, 1);
        Value = System.Runtime.InteropServices.MemoryMarshal.CreateReadOnlySpan(ref System.Runtime.CompilerServices.Unsafe.Add(ref h, 4), len);
        _position = pos + 4 + len;
        return true;
    }

    /// <summary>Finds the first top-level field with this id (skipping nested objects and arrays).</summary>
    public static bool TryFind(ReadOnlySpan<byte> blob, byte field, out EventFieldKind kind, out ReadOnlySpan<byte> value)
    {
        var r = new EventFieldReader(blob);
        int depth = 0;
        while (r.Read())
        {
            if (depth == 0 && r.Field == field && r.Kind is not (EventFieldKind.EndArray or EventFieldKind.EndObject))
            {
                kind = r.Kind;
                value = r.Value;
                return true;
            }
            if (r.Kind is EventFieldKind.BeginArray or EventFieldKind.BeginObject) depth++;
            else if (r.Kind is EventFieldKind.EndArray or EventFieldKind.EndObject) depth--;
        }
        kind = 0;
        value = default;
        return false;
    }
}
