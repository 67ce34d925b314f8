using System.Globalization;
using System.Text.Json;

namespace OtSensor.Service;

/// <summary>A configuration error: names the file, the key path (and the line, for YAML) and what is wrong.</summary>
public sealed class ConfigException(string message) : Exception(message);

public enum ConfigScalarKind
{
    String,
    Number,
    Bool,
    Null,
}

/// <summary>
/// A parsed configuration document, independent of its syntax (JSON or YAML): maps (key order kept), sequences and
/// scalars, each with the line it started on (0 when unknown) so errors can point at it.
/// </summary>
public abstract class ConfigNode
{
    public int Line { get; init; }
}

public sealed class ConfigMap : ConfigNode
{
    public List<KeyValuePair<string, ConfigNode>> Entries { get; } = [];
    /// <summary>The line of each key (parallel to <see cref="Entries"/>; 0 when unknown).</summary>
    public List<int> KeyLines { get; } = [];
}

public sealed class ConfigSeq : ConfigNode
{
    public List<ConfigNode> Items { get; } = [];
}

public sealed class ConfigScalar : ConfigNode
{
    public required string Text { get; init; }
    public ConfigScalarKind Kind { get; init; }
    /// <summary>True for a quoted YAML scalar or a JSON string: never a number, bool or null.</summary>
    public bool Quoted { get; init; }
}

/// <summary>Reads a JSON configuration file into <see cref="ConfigNode"/>s (comments and trailing commas allowed).</summary>
public static class JsonConfigReader
{
    public static ConfigNode Parse(string text, string file)
    {
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 32 });
            return Convert(doc.RootElement, file, "");
        }
        catch (JsonException ex)
        {
            string where = ex.LineNumber is long l ? string.Create(CultureInfo.InvariantCulture, $" line {l + 1}:") : "";
            throw new ConfigException($"{file}:{where} not valid JSON: {FirstSentence(ex.Message)}");
        }
    }

    private static string FirstSentence(string m)
    {
        int i = m.IndexOf(" Path:", StringComparison.Ordinal);
        return i > 0 ? m[..i] : m;
    }

    private static ConfigNode Convert(JsonElement e, string file, string path)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                var map = new ConfigMap();
                foreach (var p in e.EnumerateObject())
                {
                    if (map.Entries.Exists(x => x.Key == p.Name))
                        throw new ConfigException($"{file}: key '{Join(path, p.Name)}' is given twice");
                    map.Entries.Add(new(p.Name, Convert(p.Value, file, Join(path, p.Name))));
                    map.KeyLines.Add(0);
                }
                return map;
            case JsonValueKind.Array:
                var seq = new ConfigSeq();
                int i = 0;
                foreach (var item in e.EnumerateArray()) seq.Items.Add(Convert(item, file, $"{path}[{i++}]"));
                return seq;
            case JsonValueKind.String:
                return new ConfigScalar { Text = e.GetString()!, Kind = ConfigScalarKind.String, Quoted = true };
            case JsonValueKind.Number:
                return new ConfigScalar { Text = e.GetRawText(), Kind = ConfigScalarKind.Number };
            case JsonValueKind.True:
            case JsonValueKind.False:
                return new ConfigScalar { Text = e.ValueKind == JsonValueKind.True ? "true" : "false", Kind = ConfigScalarKind.Bool };
            default:
                return new ConfigScalar { Text = "null", Kind = ConfigScalarKind.Null };
        }
    }

    internal static string Join(string path, string key) => path.Length == 0 ? key : path + "." + key;
}
