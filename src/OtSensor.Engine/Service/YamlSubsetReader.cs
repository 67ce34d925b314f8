using System.Globalization;
using System.Text;

namespace OtSensor.Service;

/// <summary>
/// A small, strict reader for the YAML subset a configuration file needs: block maps (<c>key: value</c>), block
/// sequences (<c>- item</c>, including <c>- key: value</c> maps), flow sequences (<c>[a, b]</c>) and empty flow maps
/// (<c>{}</c>), plain / single-quoted / double-quoted scalars, and <c># comments</c>. Anything else (anchors, tags,
/// multi-line strings, several documents, tabs for indentation) is refused with the line number.
/// </summary>
public sealed class YamlSubsetReader
{
    private readonly string _file;
    private readonly List<(int No, int Indent, string Text)> _lines = [];
    private int _pos;

    private YamlSubsetReader(string text, string file)
    {
        _file = file;
        var raw = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        for (int i = 0; i < raw.Length; i++)
        {
            string line = raw[i];
            int no = i + 1;
            if (i == 0 && line.StartsWith('\uFEFF')) line = line[1..];
            string body = StripComment(line, no).TrimEnd();
            if (body.Trim().Length == 0) continue;
            if (body.Trim() is "---" && _lines.Count == 0) continue;
            if (body.Trim() is "---" or "..." ) throw Error(no, "several YAML documents are not supported");
            int indent = 0;
            while (indent < body.Length && body[indent] == ' ') indent++;
            if (indent < body.Length && body[indent] == '\t') throw Error(no, "tabs cannot indent YAML (use spaces)");
            _lines.Add((no, indent, body[indent..]));
        }
    }

    /// <summary>Parses the document; an empty document is an empty map.</summary>
    /// <exception cref="ConfigException">With the file and line of the problem.</exception>
    public static ConfigNode Parse(string text, string file)
    {
        var r = new YamlSubsetReader(text, file);
        if (r._lines.Count == 0) return new ConfigMap { Line = 1 };
        var node = r.ParseBlock(r._lines[0].Indent);
        if (r._pos < r._lines.Count) throw r.Error(r._lines[r._pos].No, "unexpected indentation");
        return node;
    }

    private ConfigException Error(int line, string what) => new($"{_file}: line {line.ToString(CultureInfo.InvariantCulture)}: {what}");

    private ConfigNode ParseBlock(int indent)
    {
        var (_, ind, text) = _lines[_pos];
        if (ind != indent) throw Error(_lines[_pos].No, "unexpected indentation");
        return IsSeqItem(text) ? ParseSeq(indent) : ParseMap(indent);
    }

    private static bool IsSeqItem(string text) => text == "-" || text.StartsWith("- ", StringComparison.Ordinal);

    private ConfigSeq ParseSeq(int indent)
    {
        var seq = new ConfigSeq { Line = _lines[_pos].No };
        while (_pos < _lines.Count && _lines[_pos].Indent == indent && IsSeqItem(_lines[_pos].Text))
        {
            var (no, _, text) = _lines[_pos];
            string rest = text.Length > 1 ? text[2..] : "";
            int restIndent = indent + 2 + (rest.Length - rest.TrimStart(' ').Length);
            rest = rest.TrimStart(' ');
            if (rest.Length == 0)
            {
                _pos++;
                if (_pos >= _lines.Count || _lines[_pos].Indent <= indent) seq.Items.Add(new ConfigScalar { Text = "null", Kind = ConfigScalarKind.Null, Line = no });
                else seq.Items.Add(ParseBlock(_lines[_pos].Indent));
            }
            else if (IsSeqItem(rest))
            {
                throw Error(no, "nested '- - ' sequences are not supported (put the inner list on its own lines)");
            }
            else if (FindMapColon(rest) >= 0 && rest[0] is not ('[' or '{' or '"' or '\''))
            {
                // "- key: value" starts a map whose keys are indented like "key".
                _lines[_pos] = (no, restIndent, rest);
                seq.Items.Add(ParseMap(restIndent));
            }
            else
            {
                seq.Items.Add(ParseInline(rest, no));
                _pos++;
            }
        }
        return seq;
    }

    private ConfigMap ParseMap(int indent)
    {
        var map = new ConfigMap { Line = _lines[_pos].No };
        while (_pos < _lines.Count && _lines[_pos].Indent == indent)
        {
            var (no, _, text) = _lines[_pos];
            if (IsSeqItem(text)) throw Error(no, "a list item where a 'key: value' was expected");
            int colon = FindMapColon(text);
            if (colon < 0) throw Error(no, $"expected 'key: value', got '{Shorten(text)}'");
            string key = ParseKey(text[..colon].TrimEnd(), no);
            if (map.Entries.Exists(e => e.Key == key)) throw Error(no, $"key '{key}' is given twice");
            string rest = text[(colon + 1)..].Trim();
            _pos++;
            ConfigNode value;
            if (rest.Length > 0)
            {
                value = ParseInline(rest, no);
            }
            else if (_pos < _lines.Count && _lines[_pos].Indent > indent)
            {
                value = ParseBlock(_lines[_pos].Indent);
            }
            else if (_pos < _lines.Count && _lines[_pos].Indent == indent && IsSeqItem(_lines[_pos].Text))
            {
                value = ParseSeq(indent); // "key:\n- a\n- b" (sequence not indented under its key)
            }
            else
            {
                value = new ConfigScalar { Text = "null", Kind = ConfigScalarKind.Null, Line = no };
            }
            map.Entries.Add(new(key, value));
            map.KeyLines.Add(no);
        }
        if (_pos < _lines.Count && _lines[_pos].Indent > indent) throw Error(_lines[_pos].No, "unexpected indentation");
        return map;
    }

    private string ParseKey(string raw, int no)
    {
        if (raw.Length == 0) throw Error(no, "empty key");
        if (raw[0] is '"' or '\'')
        {
            int i = 0;
            var s = ParseQuoted(raw, ref i, no);
            if (i != raw.Length) throw Error(no, $"unexpected text after the key {raw}");
            return s;
        }
        if (raw[0] is '[' or '{' or '&' or '*' or '!' or '?' or '|' or '>') throw Error(no, $"unsupported key '{Shorten(raw)}'");
        return raw;
    }

    /// <summary>The index of the ':' that separates a key from its value (followed by a space or the end), outside quotes.</summary>
    private static int FindMapColon(string text)
    {
        char quote = '\0';
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                continue;
            }
            if ((c == '"' || c == '\'') && i == 0) quote = c;
            else if (c is '[' or '{' && i == 0) return -1;
            else if (c == ':' && (i + 1 == text.Length || text[i + 1] == ' ')) return i;
        }
        return -1;
    }

    private ConfigNode ParseInline(string text, int no)
    {
        int i = 0;
        var node = ParseFlowValue(text, ref i, no, inFlow: false);
        SkipSpaces(text, ref i);
        if (i != text.Length) throw Error(no, $"unexpected text '{Shorten(text[i..])}'");
        return node;
    }

    private ConfigNode ParseFlowValue(string text, ref int i, int no, bool inFlow)
    {
        SkipSpaces(text, ref i);
        if (i >= text.Length) throw Error(no, "missing value");
        char c = text[i];
        if (c == '[')
        {
            var seq = new ConfigSeq { Line = no };
            i++;
            SkipSpaces(text, ref i);
            if (i < text.Length && text[i] == ']')
            {
                i++;
                return seq;
            }
            while (true)
            {
                seq.Items.Add(ParseFlowValue(text, ref i, no, inFlow: true));
                SkipSpaces(text, ref i);
                if (i >= text.Length) throw Error(no, "unterminated '[' list");
                if (text[i] == ',')
                {
                    i++;
                    continue;
                }
                if (text[i] == ']')
                {
                    i++;
                    return seq;
                }
                throw Error(no, $"expected ',' or ']' in a list, got '{text[i]}'");
            }
        }
        if (c == '{')
        {
            i++;
            SkipSpaces(text, ref i);
            if (i < text.Length && text[i] == '}')
            {
                i++;
                return new ConfigMap { Line = no };
            }
            throw Error(no, "flow maps '{...}' are not supported except the empty map {}; use one 'key: value' per line");
        }
        if (c is '"' or '\'') return new ConfigScalar { Text = ParseQuoted(text, ref i, no), Kind = ConfigScalarKind.String, Quoted = true, Line = no };
        if (c is '&' or '*' or '!' or '|' or '>' or '%' or '@' or '`') throw Error(no, $"unsupported YAML syntax '{c}' (anchors, tags and block scalars are not supported)");
        int start = i;
        while (i < text.Length && !(inFlow && text[i] is ',' or ']')) i++;
        string plain = text[start..i].TrimEnd();
        if (plain.Contains(": ", StringComparison.Ordinal) || plain.EndsWith(':')) throw Error(no, $"unexpected ':' in '{Shorten(plain)}' (quote the value)");
        return Plain(plain, no);
    }

    private static ConfigScalar Plain(string s, int no)
    {
        if (s is "null" or "~" or "Null" or "NULL") return new ConfigScalar { Text = "null", Kind = ConfigScalarKind.Null, Line = no };
        if (s is "true" or "True" or "TRUE") return new ConfigScalar { Text = "true", Kind = ConfigScalarKind.Bool, Line = no };
        if (s is "false" or "False" or "FALSE") return new ConfigScalar { Text = "false", Kind = ConfigScalarKind.Bool, Line = no };
        if (double.TryParse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out _) && s.Length > 0 && (char.IsDigit(s[0]) || s[0] is '-' or '+'))
            return new ConfigScalar { Text = s, Kind = ConfigScalarKind.Number, Line = no };
        return new ConfigScalar { Text = s, Kind = ConfigScalarKind.String, Line = no };
    }

    private string ParseQuoted(string text, ref int i, int no)
    {
        char q = text[i++];
        var sb = new StringBuilder();
        while (true)
        {
            if (i >= text.Length) throw Error(no, "unterminated quoted string (multi-line strings are not supported)");
            char c = text[i++];
            if (q == '\'')
            {
                if (c == '\'')
                {
                    if (i < text.Length && text[i] == '\'')
                    {
                        sb.Append('\'');
                        i++;
                        continue;
                    }
                    return sb.ToString();
                }
                sb.Append(c);
                continue;
            }
            if (c == '"') return sb.ToString();
            if (c != '\\')
            {
                sb.Append(c);
                continue;
            }
            if (i >= text.Length) throw Error(no, "unterminated escape in a quoted string");
            char e = text[i++];
            switch (e)
            {
                case '\\': sb.Append('\\'); break;
                case '"': sb.Append('"'); break;
                case '/': sb.Append('/'); break;
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '0': sb.Append('\0'); break;
                case 'u' when i + 4 <= text.Length && int.TryParse(text.AsSpan(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int u):
                    sb.Append((char)u);
                    i += 4;
                    break;
                default: throw Error(no, $"unknown escape '\\{e}' in a quoted string");
            }
        }
    }

    private static void SkipSpaces(string text, ref int i)
    {
        while (i < text.Length && text[i] == ' ') i++;
    }

    /// <summary>Removes a '#' comment (at the start or after a space, outside quotes).</summary>
    private string StripComment(string line, int no)
    {
        char quote = '\0';
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quote != '\0')
            {
                if (quote == '"' && c == '\\') i++;
                else if (c == quote) quote = '\0';
                continue;
            }
            if (c is '"' or '\'' && (i == 0 || line[i - 1] is ' ' or '[' or ',' or ':' or '-')) quote = c;
            else if (c == '#' && (i == 0 || line[i - 1] is ' ' or '\t')) return line[..i];
        }
        if (quote != '\0') throw Error(no, "unterminated quoted string (multi-line strings are not supported)");
        return line;
    }

    private static string Shorten(string s) => s.Length > 40 ? s[..40] + "..." : s;
}
