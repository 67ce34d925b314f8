namespace OtSensor.Protocols.Coap;

/// <summary>One link of an RFC 6690 document. Spans point into the payload; quoted values exclude the quotes.</summary>
public ref struct CoapLink
{
    public ReadOnlySpan<byte> Target;
    public ReadOnlySpan<byte> Rt;
    public ReadOnlySpan<byte> If;
    public ReadOnlySpan<byte> Ct;
    public ReadOnlySpan<byte> Title;
    public ReadOnlySpan<byte> Sz;
    public ReadOnlySpan<byte> Anchor;
    public bool Obs;
    /// <summary>Number of link-params (all, including those not kept).</summary>
    public int ParamCount;
}

/// <summary>
/// Cursor over an application/link-format payload (RFC 6690 §2): <c>&lt;uri&gt;;param=value;param="quoted, text",...</c>.
/// Lenient on whitespace between links; the first occurrence of a parameter wins. Never throws.
/// </summary>
public ref struct CoapLinkReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _pos;

    public CoapLinkReader(ReadOnlySpan<byte> payload)
    {
        _data = payload;
        _pos = 0;
        Invalid = false;
    }

    /// <summary>Set when the payload stopped parsing (the links before it were returned).</summary>
    public bool Invalid { get; private set; }

    public bool TryReadLink(out CoapLink link)
    {
        link = default;
        if (Invalid)
        {
            return false;
        }

        SkipSpace();
        if (_pos >= _data.Length)
        {
            return false;
        }

        if (_data[_pos] != (byte)'<')
        {
            return Fail();
        }

        int close = _data[(_pos + 1)..].IndexOf((byte)'>');
        if (close < 0)
        {
            return Fail();
        }

        link.Target = _data.Slice(_pos + 1, close);
        _pos += close + 2;
        while (true)
        {
            SkipSpace();
            if (_pos >= _data.Length)
            {
                return true;
            }

            byte c = _data[_pos];
            if (c == (byte)',')
            {
                _pos++;
                return true;
            }

            if (c != (byte)';')
            {
                return Fail();
            }

            _pos++;
            int nameStart = _pos;
            while (_pos < _data.Length && _data[_pos] is not ((byte)'=' or (byte)';' or (byte)','))
            {
                _pos++;
            }

            var name = _data[nameStart.._pos].Trim((byte)' ');
            ReadOnlySpan<byte> value = default;
            if (_pos < _data.Length && _data[_pos] == (byte)'=')
            {
                _pos++;
                if (_pos < _data.Length && _data[_pos] == (byte)'"')
                {
                    int start = ++_pos;
                    while (_pos < _data.Length && _data[_pos] != (byte)'"')
                    {
                        _pos += _data[_pos] == (byte)'\\' ? 2 : 1;
                    }

                    if (_pos >= _data.Length)
                    {
                        return Fail();
                    }

                    value = _data[start.._pos];
                    _pos++;
                }
                else
                {
                    int start = _pos;
                    while (_pos < _data.Length && _data[_pos] is not ((byte)';' or (byte)','))
                    {
                        _pos++;
                    }

                    value = _data[start.._pos].Trim((byte)' ');
                }
            }

            if (name.IsEmpty)
            {
                return Fail();
            }

            link.ParamCount++;
            if (name.SequenceEqual("rt"u8))
            {
                if (link.Rt.IsEmpty) link.Rt = value;
            }
            else if (name.SequenceEqual("if"u8))
            {
                if (link.If.IsEmpty) link.If = value;
            }
            else if (name.SequenceEqual("ct"u8))
            {
                if (link.Ct.IsEmpty) link.Ct = value;
            }
            else if (name.SequenceEqual("title"u8) || name.SequenceEqual("title*"u8))
            {
                if (link.Title.IsEmpty) link.Title = value;
            }
            else if (name.SequenceEqual("sz"u8))
            {
                if (link.Sz.IsEmpty) link.Sz = value;
            }
            else if (name.SequenceEqual("anchor"u8))
            {
                if (link.Anchor.IsEmpty) link.Anchor = value;
            }
            else if (name.SequenceEqual("obs"u8))
            {
                link.Obs = true;
            }
        }
    }

    private bool Fail()
    {
        Invalid = true;
        return false;
    }

    private void SkipSpace()
    {
        while (_pos < _data.Length && _data[_pos] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            _pos++;
        }
    }
}

/// <summary>Writes link-format resources into an event blob.</summary>
public static class CoapLinkFormat
{
    /// <summary>
    /// Writes <c>resources</c> (array of {path, rt, if, ct, obs, title, sz}) while the blob has more than
    /// <paramref name="reserve"/> bytes left, at most <paramref name="maxResources"/>. Returns false when the payload
    /// does not parse (links before the error are written). Sets <c>resources_truncated</c> when bounded.
    /// </summary>
    public static bool Write(ref EventFieldWriter w, ReadOnlySpan<byte> payload, int capacity, int reserve, int maxResources, out int count)
    {
        count = 0;
        var r = new CoapLinkReader(payload);
        bool truncated = false;
        w.BeginArray(CoapFields.Resources);
        while (r.TryReadLink(out var link))
        {
            int need = 64 + link.Target.Length + link.Rt.Length + link.If.Length + link.Ct.Length + link.Title.Length + link.Sz.Length;
            if (count >= maxResources || capacity - w.Length - need < reserve)
            {
                truncated = true;
                break;
            }

            count++;
            w.BeginObject();
            w.WriteString(CoapFields.Path, link.Target);
            if (!link.Rt.IsEmpty) w.WriteString(CoapFields.Rt, link.Rt);
            if (!link.If.IsEmpty) w.WriteString(CoapFields.If, link.If);
            if (!link.Ct.IsEmpty) WriteNumberOrString(ref w, CoapFields.Ct, link.Ct);
            if (link.Obs) w.WriteBool(CoapFields.Obs, true);
            if (!link.Title.IsEmpty) w.WriteString(CoapFields.Title, link.Title);
            if (!link.Sz.IsEmpty) WriteNumberOrString(ref w, CoapFields.Sz, link.Sz);
            w.EndObject();
        }

        w.EndArray();
        if (truncated)
        {
            w.WriteBool(CoapFields.ResourcesTruncated, true);
        }

        return !r.Invalid;
    }

    private static void WriteNumberOrString(ref EventFieldWriter w, byte field, ReadOnlySpan<byte> v)
    {
        if (v.Length is > 0 and <= 9 && v.IndexOfAnyExceptInRange((byte)'0', (byte)'9') < 0)
        {
            long n = 0;
            foreach (byte b in v)
            {
                n = (n * 10) + (b - '0');
            }

            w.WriteInt(field, n);
        }
        else
        {
            w.WriteString(field, v);
        }
    }
}
