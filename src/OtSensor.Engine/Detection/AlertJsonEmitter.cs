using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using OtSensor.Core;

namespace OtSensor.Detection;

/// <summary>
/// An alert's JSON object exactly as <see cref="AlertFormats.WriteJson"/> writes it through an indented
/// <see cref="Utf8JsonWriter"/> (the replay summary, <c>otsensor alerts --json</c>), rendered here and handed to the
/// writer as one raw value: the writer's per-call work (validation state, indentation, escaping checks of every
/// property name) was most of the cost of a summary with thousands of alerts. Strings of plain ASCII (none of the
/// characters the writer's encoder escapes) are copied as they are; any other string is escaped by a
/// <see cref="Utf8JsonWriter"/> with the same encoder, so escaping is the writer's own. The tests compare both forms.
/// </summary>
internal sealed class AlertJsonEmitter
{
    private byte[] _buffer = new byte[4096];
    private int _length;
    private readonly JavaScriptEncoder? _encoder;
    private readonly bool _relaxed;
    private readonly byte[] _newLine;
    private readonly string _newLineText;
    private readonly int _indentSize;
    private readonly ArrayBufferWriter<byte> _escapeBuffer = new(256);
    private readonly Utf8JsonWriter _escapeWriter;

    private AlertJsonEmitter(JsonWriterOptions options, bool relaxed)
    {
        _encoder = options.Encoder;
        _relaxed = relaxed;
        _newLineText = options.NewLine;
        _newLine = Encoding.ASCII.GetBytes(options.NewLine);
        _indentSize = options.IndentSize;
        _escapeWriter = new Utf8JsonWriter(_escapeBuffer, new JsonWriterOptions { Encoder = options.Encoder, SkipValidation = true });
    }

    [ThreadStatic] private static AlertJsonEmitter? t_default;
    [ThreadStatic] private static AlertJsonEmitter? t_relaxed;

    /// <summary>The emitter for a writer's options, or null when they are not the ones this renders (not indented, another encoder...).</summary>
    public static AlertJsonEmitter? For(Utf8JsonWriter w)
    {
        var o = w.Options;
        if (!o.Indented || o.IndentCharacter != ' ' || o.NewLine is not ("\n" or "\r\n")) return null;
        bool relaxed;
        if (o.Encoder is null || ReferenceEquals(o.Encoder, JavaScriptEncoder.Default)) relaxed = false;
        else if (ReferenceEquals(o.Encoder, JavaScriptEncoder.UnsafeRelaxedJsonEscaping)) relaxed = true;
        else return null;
        ref var cached = ref relaxed ? ref t_relaxed : ref t_default;
        if (cached is null || !cached.Matches(o)) cached = new AlertJsonEmitter(o, relaxed);
        return cached;
    }

    private bool Matches(JsonWriterOptions o) => ReferenceEquals(o.Encoder, _encoder) && o.IndentSize == _indentSize && o.NewLine == _newLineText;

    /// <summary>Writes <paramref name="a"/> as the next value of <paramref name="w"/> (an array element).</summary>
    public void Write(Utf8JsonWriter w, Alert a)
    {
        _length = 0;
        int depth = w.CurrentDepth;
        NewLine(depth);
        Put((byte)'{');
        int p = depth + 1;
        Name(p, "id"u8, first: true); Num(a.Id);
        Name(p, "type"u8); Str(a.Type);
        Name(p, "signature_id"u8); Num((long)a.SignatureId);
        Name(p, "name"u8); Str(a.Name);
        Name(p, "severity"u8); Num((long)a.Severity);
        Name(p, "category"u8); Str(a.Category);
        Name(p, "mitre"u8);
        var mitre = a.Mitre;
        if (mitre.Count == 0) Raw("[]"u8);
        else
        {
            Put((byte)'[');
            for (int i = 0; i < mitre.Count; i++)
            {
                if (i > 0) Put((byte)',');
                NewLine(p + 1);
                Str(mitre[i]);
            }
            NewLine(p);
            Put((byte)']');
        }
        Name(p, "first_seen"u8); Time(a.FirstSeenNs);
        Name(p, "last_seen"u8); Time(a.LastSeenNs);
        Name(p, "count"u8); Num(a.Count);
        Name(p, "proto"u8); Str(a.Proto);
        Name(p, "src_asset"u8); Str(a.SrcAsset);
        Name(p, "src_ip"u8); Str(a.SrcIp);
        Name(p, "src_mac"u8); Str(a.SrcMac);
        Name(p, "src_port"u8); Num(a.SrcPort);
        Name(p, "dst_asset"u8); Str(a.DstAsset);
        Name(p, "dst_ip"u8); Str(a.DstIp);
        Name(p, "dst_mac"u8); Str(a.DstMac);
        Name(p, "dst_port"u8); Num(a.DstPort);
        Name(p, "message"u8); Str(a.Message);
        Name(p, "evidence"u8);
        if (a.Evidence.Count == 0) Raw("{}"u8);
        else
        {
            Put((byte)'{');
            bool first = true;
            foreach (var (k, v) in a.Evidence)
            {
                if (!first) Put((byte)',');
                first = false;
                NewLine(p + 1);
                Str(k);
                Raw(": "u8);
                Str(v);
            }
            NewLine(p);
            Put((byte)'}');
        }
        Name(p, "trace_packets"u8);
        var trace = a.TracePackets;
        if (trace.Count == 0) Raw("[]"u8);
        else
        {
            Put((byte)'[');
            for (int i = 0; i < trace.Count; i++)
            {
                if (i > 0) Put((byte)',');
                NewLine(p + 1);
                Num(trace[i]);
            }
            NewLine(p);
            Put((byte)']');
        }
        NewLine(depth);
        Put((byte)'}');
        w.WriteRawValue(_buffer.AsSpan(0, _length), skipInputValidation: true);
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

    private void Raw(ReadOnlySpan<byte> text)
    {
        text.CopyTo(Room(text.Length));
        _length += text.Length;
    }

    // NEWLINE and the indentation of each depth met so far, made once.
    private byte[][] _lineStarts = [];

    private byte[] LineStart(int depth)
    {
        if (depth >= _lineStarts.Length) Array.Resize(ref _lineStarts, depth + 4);
        return _lineStarts[depth] ??= [.. _newLine, .. Enumerable.Repeat((byte)' ', depth * _indentSize)];
    }

    private void NewLine(int depth) => Raw(LineStart(depth));

    /// <summary>(,) NEWLINE indent "name": — names are plain ASCII literals.</summary>
    private void Name(int depth, ReadOnlySpan<byte> name, bool first = false)
    {
        var start = LineStart(depth);
        var span = Room(1 + start.Length + name.Length + 4);
        int n = 0;
        if (!first) span[n++] = (byte)',';
        start.CopyTo(span[n..]);
        n += start.Length;
        span[n++] = (byte)'"';
        name.CopyTo(span[n..]);
        n += name.Length;
        span[n++] = (byte)'"';
        span[n++] = (byte)':';
        span[n++] = (byte)' ';
        _length += n;
    }

    private void Num(long v)
    {
        v.TryFormat(Room(20), out int n, default, CultureInfo.InvariantCulture);
        _length += n;
    }

    private void Num(int? v)
    {
        if (v is int i) Num((long)i);
        else Raw("null"u8);
    }

    private void Time(long ns)
    {
        PacketTime.FormatRfc3339(ns, Room(PacketTime.Rfc3339Length + 2)[1..]);
        _buffer[_length] = (byte)'"';
        _buffer[_length + 1 + PacketTime.Rfc3339Length] = (byte)'"';
        _length += PacketTime.Rfc3339Length + 2;
    }

    private void Str(string? s)
    {
        if (s is null)
        {
            Raw("null"u8);
            return;
        }
        var span = Room(s.Length + 2);
        if (JsonPlainAscii.TryCopy(s, span[1..], _relaxed ? JsonPlainAscii.Relaxed : JsonPlainAscii.Default))
        {
            span[0] = (byte)'"';
            span[s.Length + 1] = (byte)'"';
            _length += s.Length + 2;
            return;
        }
        _escapeBuffer.ResetWrittenCount();
        _escapeWriter.Reset(_escapeBuffer);
        _escapeWriter.WriteStringValue(s);
        _escapeWriter.Flush();
        Raw(_escapeBuffer.WrittenSpan);
    }
}
