namespace OtSensor.Protocols.Coap;

/// <summary>Writes the fields of one CoAP message (request side or response side) into an event blob.</summary>
public static class CoapEventFields
{
    /// <summary>Unknown options listed per message at most.</summary>
    public const int MaxUnknownOptions = 16;
    private const int MaxJoined = 1024;

    /// <summary>
    /// Writes <paramref name="m"/> as the request side (plain names) or the response side (<c>response_*</c> names,
    /// <c>code</c>, location and cache options). <paramref name="withToken"/> writes the token (once per event).
    /// </summary>
    public static void Write(ref EventFieldWriter w, scoped in CoapMessage m, bool response, bool withToken, int prefixBytes)
    {
        var h = m.Header;
        Span<byte> code = stackalloc byte[4];
        if (!response)
        {
            w.WriteString(CoapFields.Type, CoapReader.TypeName(h.Type));
            var name = CoapReader.MethodName(h.Code);
            CoapReader.FormatCode(h.Code, code);
            w.WriteString(CoapFields.Method, name.IsEmpty ? code : name);
            w.WriteInt(CoapFields.Mid, h.MessageId);
            if (h.IsEmpty && h.Type == CoapMessageType.Confirmable)
            {
                w.WriteBool(CoapFields.Ping, true);
            }
        }
        else
        {
            w.WriteString(CoapFields.ResponseType, CoapReader.TypeName(h.Type));
            w.WriteInt(CoapFields.ResponseMid, h.MessageId);
            CoapReader.FormatCode(h.Code, code);
            w.WriteString(CoapFields.Code, code);
            var cn = CoapReader.CodeName(h.Code);
            if (cn is not null)
            {
                w.WriteAscii(CoapFields.CodeName, cn);
            }
        }

        if (withToken)
        {
            w.WriteBytes(CoapFields.Token, m.Token);
        }

        Span<byte> path = stackalloc byte[MaxJoined];
        Span<byte> query = stackalloc byte[MaxJoined];
        int pathLen = 0, queryLen = 0, pathCount = 0, queryCount = 0, unknown = 0;
        bool etagDone = false;
        byte pathField = response ? CoapFields.LocationPath : CoapFields.UriPath;
        byte queryField = response ? CoapFields.LocationQuery : CoapFields.UriQuery;
        var r = m.Options;
        while (r.TryRead(out var o))
        {
            var v = o.Value;
            switch (o.Number)
            {
                case CoapOptionNumber.UriPath when !response:
                case CoapOptionNumber.LocationPath when response:
                    Append(path, ref pathLen, (byte)'/', v);
                    pathCount++;
                    break;
                case CoapOptionNumber.UriQuery when !response:
                case CoapOptionNumber.LocationQuery when response:
                    Append(query, ref queryLen, queryCount == 0 ? (byte)0 : (byte)'&', v);
                    queryCount++;
                    break;
                case CoapOptionNumber.UriHost:
                    w.WriteString(CoapFields.UriHost, v);
                    break;
                case CoapOptionNumber.UriPort:
                    w.WriteInt(CoapFields.UriPort, o.Uint);
                    break;
                case CoapOptionNumber.ContentFormat:
                    w.WriteInt(response ? CoapFields.ResponseContentFormat : CoapFields.ContentFormat, o.Uint);
                    break;
                case CoapOptionNumber.Accept:
                    w.WriteInt(CoapFields.Accept, o.Uint);
                    break;
                case CoapOptionNumber.Observe:
                    w.WriteInt(response ? CoapFields.ResponseObserve : CoapFields.Observe, o.Uint);
                    break;
                case CoapOptionNumber.Block1:
                    WriteBlock(ref w, response ? CoapFields.ResponseBlock1 : CoapFields.Block1, CoapBlock.Decode(o.Uint));
                    break;
                case CoapOptionNumber.Block2:
                    WriteBlock(ref w, response ? CoapFields.ResponseBlock2 : CoapFields.Block2, CoapBlock.Decode(o.Uint));
                    break;
                case CoapOptionNumber.MaxAge:
                    w.WriteInt(CoapFields.MaxAge, o.Uint);
                    break;
                case CoapOptionNumber.ETag when !etagDone:
                    w.WriteBytes(response ? CoapFields.ETag : CoapFields.RequestETag, v);
                    etagDone = true;
                    break;
                case CoapOptionNumber.Size1:
                    w.WriteInt(CoapFields.Size1, o.Uint);
                    break;
                case CoapOptionNumber.Size2:
                    w.WriteInt(CoapFields.Size2, o.Uint);
                    break;
                case CoapOptionNumber.ProxyUri:
                    w.WriteString(CoapFields.ProxyUri, v);
                    break;
                case CoapOptionNumber.ProxyScheme:
                    w.WriteString(CoapFields.ProxyScheme, v);
                    break;
                case CoapOptionNumber.IfNoneMatch:
                    w.WriteBool(CoapFields.IfNoneMatch, true);
                    break;
                case CoapOptionNumber.Oscore:
                    w.WriteBool(CoapFields.Oscore, true);
                    break;
                case CoapOptionNumber.NoResponse:
                    w.WriteInt(CoapFields.NoResponse, o.Uint);
                    break;
                case CoapOptionNumber.HopLimit:
                    w.WriteInt(CoapFields.HopLimit, o.Uint);
                    break;
                default:
                    if (!CoapOptionTable.IsKnown(o.Number))
                    {
                        unknown++;
                    }

                    break;
            }
        }

        if (pathCount > 0 || (!response && h.IsRequest))
        {
            if (pathCount == 0)
            {
                path[0] = (byte)'/';
                pathLen = 1;
            }

            w.WriteString(pathField, path[..pathLen]);
        }

        if (queryCount > 0)
        {
            w.WriteString(queryField, query[..queryLen]);
        }

        if (unknown > 0)
        {
            w.BeginArray(response ? CoapFields.ResponseOptions : CoapFields.Options);
            int n = 0;
            var u = m.Options;
            while (u.TryRead(out var o) && n < MaxUnknownOptions)
            {
                if (CoapOptionTable.IsKnown(o.Number))
                {
                    continue;
                }

                n++;
                w.BeginObject();
                w.WriteInt(CoapFields.Number, o.Number);
                w.WriteBool(CoapFields.Critical, o.IsCritical);
                w.WriteBool(CoapFields.Unsafe, o.IsUnsafe);
                w.WriteBytes(CoapFields.Value, o.Value.Length > 64 ? o.Value[..64] : o.Value);
                w.EndObject();
            }

            w.EndArray();
        }

        if (!h.IsEmpty)
        {
            w.WriteInt(response ? CoapFields.ResponsePayloadLen : CoapFields.PayloadLen, m.Payload.Length);
            if (prefixBytes > 0 && !m.Payload.IsEmpty)
            {
                var p = m.Payload.Length > prefixBytes ? m.Payload[..prefixBytes] : m.Payload;
                w.WriteBytes(response ? CoapFields.ResponsePayloadPrefix : CoapFields.PayloadPrefix, p);
            }
        }
    }

    public static void WriteBlock(ref EventFieldWriter w, byte field, CoapBlock b)
    {
        w.BeginObject(field);
        w.WriteInt(CoapFields.Num, b.Number);
        w.WriteBool(CoapFields.More, b.More);
        w.WriteInt(CoapFields.Size, b.Size);
        w.EndObject();
    }

    private static void Append(Span<byte> buf, ref int len, byte separator, ReadOnlySpan<byte> value)
    {
        if (separator != 0 && len < buf.Length)
        {
            buf[len++] = separator;
        }

        int n = Math.Min(value.Length, buf.Length - len);
        value[..n].CopyTo(buf[len..]);
        len += n;
    }
}
