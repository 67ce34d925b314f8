using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace OtSensor.Store;

/// <summary>
/// A minimal JSON emitter for the store's rows: the text <see cref="Utf8JsonWriter"/> writes with default options
/// (minimised, default encoder) for the calls the row writer makes, without the writer's per-call work (validation
/// state, escaping checks of the literal property names, transcoding). Strings that need no escaping (printable ASCII
/// but the few characters the default encoder escapes) are copied as they are; any other string is written by a
/// <see cref="Utf8JsonWriter"/> (so escaping is the writer's own). Property names given as UTF-8 literals must be plain
/// ASCII that needs no escaping (they are the row writer's snake_case names). The tests compare both on every call.
/// </summary>
internal sealed class RowJson
{
    /// <summary>
    /// The bytes the writer's default encoder (JavaScriptEncoder.Default) leaves as they are in a string: printable
    /// ASCII but '"', '&amp;', '\'', '+', '&lt;', '&gt;', '\\' and '`' (System.Text.Json's JsonWriterHelper.AllowList;
    /// the tests check every character below U+0100 against the writer).
    /// </summary>
    private static readonly SearchValues<byte> s_plain = SearchValues.Create(
        " !#$%()*,-./0123456789:;=?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_abcdefghijklmnopqrstuvwxyz{|}~"u8);

    private byte[] _buffer = new byte[4096];
    private int _length;
    /// <summary>A value was written at the current level: the next one is preceded by a separator.</summary>
    private bool _separator;

    private ArrayBufferWriter<byte>? _escapeBuffer;
    private Utf8JsonWriter? _escapeWriter;

    /// <summary>The text written since <see cref="Reset"/>.</summary>
    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    public void Reset()
    {
        _length = 0;
        _separator = false;
    }

    private Span<byte> Room(int bytes)
    {
        if (_buffer.Length - _length < bytes) Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + bytes));
        return _buffer.AsSpan(_length);
    }

    private void Put(byte b)
    {
        if (_length == _buffer.Length) Room(1);
        _buffer[_length++] = b;
    }

    private void Separator()
    {
        if (_separator) Put((byte)',');
    }

    /// <summary>"name": (a literal, plain ASCII name), with the separator before it when one is due.</summary>
    private void Name(ReadOnlySpan<byte> name)
    {
        var span = Room(name.Length + 4);
        int n = 0;
        if (_separator) span[n++] = (byte)',';
        span[n++] = (byte)'"';
        name.CopyTo(span[n..]);
        n += name.Length;
        span[n++] = (byte)'"';
        span[n++] = (byte)':';
        _length += n;
        _separator = false;
    }

    /// <summary>"name": for a name given as text (escaped as the writer escapes property names: as strings).</summary>
    private void Name(ReadOnlySpan<char> name)
    {
        Separator();
        Quoted(name);
        Put((byte)':');
        _separator = false;
    }

    /// <summary>A string value, quoted and escaped as the writer writes it.</summary>
    private void Quoted(ReadOnlySpan<char> value)
    {
        var span = Room(value.Length + 2);
        if (value.Length <= ShortString ? OtSensor.Core.JsonPlainAscii.TryCopy(value, span[1..], OtSensor.Core.JsonPlainAscii.Default) :
            Ascii.FromUtf16(value, span.Slice(1, value.Length), out _) == OperationStatus.Done && !span.Slice(1, value.Length).ContainsAnyExcept(s_plain))
        {
            int n = value.Length;
            span[0] = (byte)'"';
            span[n + 1] = (byte)'"';
            _length += n + 2;
            return;
        }
        var w = EscapeWriter();
        w.WriteStringValue(value);
        CopyEscaped(w);
    }

    /// <summary>Up to this length strings are checked and copied a character at a time (the vector paths cost more on short ones).</summary>
    private const int ShortString = 48;

    private void Quoted(ReadOnlySpan<byte> utf8)
    {
        if (!utf8.ContainsAnyExcept(s_plain))
        {
            var span = Room(utf8.Length + 2);
            span[0] = (byte)'"';
            utf8.CopyTo(span[1..]);
            span[utf8.Length + 1] = (byte)'"';
            _length += utf8.Length + 2;
            return;
        }
        var w = EscapeWriter();
        w.WriteStringValue(utf8);
        CopyEscaped(w);
    }

    private Utf8JsonWriter EscapeWriter()
    {
        _escapeBuffer ??= new ArrayBufferWriter<byte>(256);
        _escapeBuffer.ResetWrittenCount();
        if (_escapeWriter is null) _escapeWriter = new Utf8JsonWriter(_escapeBuffer, new JsonWriterOptions { SkipValidation = true });
        else _escapeWriter.Reset(_escapeBuffer);
        return _escapeWriter;
    }

    private void CopyEscaped(Utf8JsonWriter w)
    {
        w.Flush();
        var text = _escapeBuffer!.WrittenSpan;
        text.CopyTo(Room(text.Length));
        _length += text.Length;
    }

    private void Literal(ReadOnlySpan<byte> text)
    {
        text.CopyTo(Room(text.Length));
        _length += text.Length;
        _separator = true;
    }

    private void Digits(long value)
    {
        value.TryFormat(Room(20), out int n, default, CultureInfo.InvariantCulture);
        _length += n;
        _separator = true;
    }

    public void StartObject()
    {
        Separator();
        Put((byte)'{');
        _separator = false;
    }

    public void StartObject(ReadOnlySpan<byte> name)
    {
        Name(name);
        Put((byte)'{');
    }

    public void StartObject(string name)
    {
        Name(name.AsSpan());
        Put((byte)'{');
    }

    public void EndObject()
    {
        Put((byte)'}');
        _separator = true;
    }

    public void StartArray()
    {
        Separator();
        Put((byte)'[');
        _separator = false;
    }

    public void StartArray(ReadOnlySpan<byte> name)
    {
        Name(name);
        Put((byte)'[');
    }

    public void EndArray()
    {
        Put((byte)']');
        _separator = true;
    }

    public void Number(ReadOnlySpan<byte> name, long value)
    {
        Name(name);
        Digits(value);
    }

    public void Number(ReadOnlySpan<char> name, long value)
    {
        Name(name);
        Digits(value);
    }

    public void NumberValue(ulong value)
    {
        Separator();
        value.TryFormat(Room(20), out int n, default, CultureInfo.InvariantCulture);
        _length += n;
        _separator = true;
    }

    public void NumberValue(long value)
    {
        Separator();
        Digits(value);
    }

    /// <summary>A string property; null is written as null (as the writer does).</summary>
    public void String(ReadOnlySpan<byte> name, string? value)
    {
        Name(name);
        if (value is null) Literal("null"u8);
        else
        {
            Quoted(value.AsSpan());
            _separator = true;
        }
    }

    /// <summary>A string property given as UTF-8.</summary>
    public void Utf8String(ReadOnlySpan<byte> name, ReadOnlySpan<byte> utf8)
    {
        Name(name);
        Quoted(utf8);
        _separator = true;
    }

    /// <summary>A string array element; null is written as null.</summary>
    public void StringValue(string? value)
    {
        Separator();
        if (value is null) Literal("null"u8);
        else
        {
            Quoted(value.AsSpan());
            _separator = true;
        }
    }

    public void Utf8StringValue(ReadOnlySpan<byte> utf8)
    {
        Separator();
        Quoted(utf8);
        _separator = true;
    }

    public void Bool(ReadOnlySpan<byte> name, bool value)
    {
        Name(name);
        Literal(value ? "true"u8 : "false"u8);
    }

    public void Null(ReadOnlySpan<byte> name)
    {
        Name(name);
        Literal("null"u8);
    }
}
