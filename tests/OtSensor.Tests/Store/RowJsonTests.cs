using System.Buffers;
using System.Text;
using System.Text.Json;
using OtSensor.Store;

namespace OtSensor.Tests.Store;

/// <summary>The store rows' JSON emitter writes the text Utf8JsonWriter writes (default options) for every call it has.</summary>
public class RowJsonTests
{
    private static IEnumerable<string?> Values()
    {
        yield return null;
        yield return "";
        for (int c = 0; c < 0x100; c++)
        {
            yield return ((char)c).ToString();
            yield return "a" + (char)c + "b";
        }
        yield return "2023-11-14T22:13:23.613144Z";
        yield return "10.0.0.1 fe80::1";
        yield return "Schneider Electric Modicon M340 é ü 漢字 \U0001F600";
        yield return "<script>alert('x')</script> & \"q\" \\ `t` +1\n\t\r";
        yield return new string('x', 300);
        yield return new string('x', 5000) + "é";
    }

    /// <summary>Runs the same calls on both writers and compares the text.</summary>
    private static void Same(Action<Utf8JsonWriter> expected, Action<RowJson> actual)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { SkipValidation = true })) expected(w);
        var json = new RowJson();
        json.Reset();
        actual(json);
        Assert.Equal(Encoding.UTF8.GetString(buffer.WrittenSpan), Encoding.UTF8.GetString(json.Written));
        // Reused after a reset, as the row writer reuses it.
        json.Reset();
        actual(json);
        Assert.Equal(Encoding.UTF8.GetString(buffer.WrittenSpan), Encoding.UTF8.GetString(json.Written));
    }

    [Fact]
    public void Strings_AreWrittenAsUtf8JsonWriterWritesThem()
    {
        foreach (var v in Values())
        {
            Same(w =>
            {
                w.WriteStartObject();
                w.WriteString("k"u8, v);
                w.WriteString("n"u8, "x");
                w.WriteStartArray("a"u8);
                w.WriteStringValue(v);
                w.WriteStringValue(v);
                w.WriteEndArray();
                if (v is not null)
                {
                    w.WriteStartObject(v);
                    w.WriteNumber(v, 5);
                    w.WriteNumber(v.AsSpan(), -5);
                    w.WriteEndObject();
                    var utf8 = Encoding.UTF8.GetBytes(v);
                    w.WriteString("u"u8, utf8);
                    w.WriteStartArray("ua"u8);
                    w.WriteStringValue(utf8);
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }, j =>
            {
                j.StartObject();
                j.String("k"u8, v);
                j.String("n"u8, "x");
                j.StartArray("a"u8);
                j.StringValue(v);
                j.StringValue(v);
                j.EndArray();
                if (v is not null)
                {
                    j.StartObject(v);
                    j.Number(v, 5);
                    j.Number(v.AsSpan(), -5);
                    j.EndObject();
                    var utf8 = Encoding.UTF8.GetBytes(v);
                    j.Utf8String("u"u8, utf8);
                    j.StartArray("ua"u8);
                    j.Utf8StringValue(utf8);
                    j.EndArray();
                }
                j.EndObject();
            });
        }
    }

    [Fact]
    public void NumbersLiteralsAndNesting_AreWrittenAsUtf8JsonWriterWritesThem()
    {
        long[] numbers = [0, 1, -1, 9, 10, 99, 65535, int.MinValue, int.MaxValue, long.MinValue, long.MaxValue, 1700000000123456789];
        Same(w =>
        {
            w.WriteStartObject();
            foreach (var n in numbers) w.WriteNumber("n"u8, n);
            w.WriteNumber("i"u8, 7);
            w.WriteBoolean("t"u8, true);
            w.WriteBoolean("f"u8, false);
            w.WriteNull("z"u8);
            w.WriteStartArray("e"u8);
            w.WriteEndArray();
            w.WriteStartObject("o"u8);
            w.WriteEndObject();
            w.WriteStartArray("r"u8);
            foreach (var n in numbers)
            {
                w.WriteStartArray();
                w.WriteNumberValue(n);
                w.WriteNumberValue(n);
                w.WriteEndArray();
            }
            w.WriteStartArray();
            w.WriteEndArray();
            w.WriteNumberValue(ulong.MaxValue);
            w.WriteNumberValue((ulong)0);
            w.WriteStartObject();
            w.WriteNull("z"u8);
            w.WriteEndObject();
            w.WriteStartObject();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteBoolean("t"u8, true);
            w.WriteEndObject();
        }, j =>
        {
            j.StartObject();
            foreach (var n in numbers) j.Number("n"u8, n);
            j.Number("i"u8, 7);
            j.Bool("t"u8, true);
            j.Bool("f"u8, false);
            j.Null("z"u8);
            j.StartArray("e"u8);
            j.EndArray();
            j.StartObject("o"u8);
            j.EndObject();
            j.StartArray("r"u8);
            foreach (var n in numbers)
            {
                j.StartArray();
                j.NumberValue(n);
                j.NumberValue(n);
                j.EndArray();
            }
            j.StartArray();
            j.EndArray();
            j.NumberValue(ulong.MaxValue);
            j.NumberValue((ulong)0);
            j.StartObject();
            j.Null("z"u8);
            j.EndObject();
            j.StartObject();
            j.EndObject();
            j.EndArray();
            j.Bool("t"u8, true);
            j.EndObject();
        });
    }
}
