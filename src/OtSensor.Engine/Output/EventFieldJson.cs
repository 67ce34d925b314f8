using System.Text.Json;

namespace OtSensor.Output;

/// <summary>Writes an <see cref="EventFieldWriter"/> blob as JSON properties, naming fields through a protocol's table.</summary>
public static class EventFieldJson
{
    public static void Write(Utf8JsonWriter w, ReadOnlySpan<byte> blob, Func<byte, string> names)
    {
        var r = new EventFieldReader(blob);
        // Inside an array values have no names; track the container kind per depth (bounded).
        Span<bool> inArray = stackalloc bool[32];
        int depth = 0;
        while (r.Read())
        {
            bool named = depth == 0 || !inArray[Math.Min(depth, 31)];
            switch (r.Kind)
            {
                case EventFieldKind.EndObject:
                    if (depth > 0) { w.WriteEndObject(); depth--; }
                    continue;
                case EventFieldKind.EndArray:
                    if (depth > 0) { w.WriteEndArray(); depth--; }
                    continue;
            }
            if (named) w.WritePropertyName(names(r.Field));
            switch (r.Kind)
            {
                case EventFieldKind.Int: w.WriteNumberValue(r.Int); break;
                case EventFieldKind.Bool: w.WriteBooleanValue(r.Bool); break;
                case EventFieldKind.String: WriteText(w, r.Value); break;
                case EventFieldKind.Bytes: w.WriteStringValue(Convert.ToHexStringLower(r.Value)); break;
                case EventFieldKind.BeginObject:
                    w.WriteStartObject();
                    depth++;
                    if (depth < 32) inArray[depth] = false;
                    break;
                case EventFieldKind.BeginArray:
                    w.WriteStartArray();
                    depth++;
                    if (depth < 32) inArray[depth] = true;
                    break;
                default: w.WriteNullValue(); break;
            }
        }
        while (depth-- > 0)
        {
            // A blob cut short by its buffer: close what is open so the line stays valid JSON.
            if (depth + 1 < 32 && inArray[depth + 1]) w.WriteEndArray();
            else w.WriteEndObject();
        }
    }

    /// <summary>Wire text: valid UTF-8 is written as is (JSON-escaped); invalid sequences become U+FFFD.</summary>
    public static void WriteText(Utf8JsonWriter w, ReadOnlySpan<byte> utf8)
    {
        if (System.Text.Unicode.Utf8.IsValid(utf8)) w.WriteStringValue(utf8);
        else w.WriteStringValue(System.Text.Encoding.UTF8.GetString(utf8));
    }
}
