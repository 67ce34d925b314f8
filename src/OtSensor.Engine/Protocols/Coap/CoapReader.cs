using System.Buffers.Binary;

namespace OtSensor.Protocols.Coap;

/// <summary>CoAP message types (RFC 7252 §3).</summary>
public enum CoapMessageType : byte
{
    Confirmable = 0,
    NonConfirmable = 1,
    Acknowledgement = 2,
    Reset = 3,
}

/// <summary>The fixed 4-byte CoAP header. <see cref="Code"/> keeps the raw byte (class.detail = c.dd).</summary>
public readonly record struct CoapHeader(byte Version, CoapMessageType Type, byte TokenLength, byte Code, ushort MessageId)
{
    public int CodeClass => Code >> 5;
    public int CodeDetail => Code & 0x1F;
    /// <summary>Code 0.00: an Empty message (ACK, RST, or CoAP ping as CON).</summary>
    public bool IsEmpty => Code == 0;
    /// <summary>Class 0 with a non-zero detail: a request (method).</summary>
    public bool IsRequest => CodeClass == 0 && Code != 0;
    /// <summary>Classes 2, 4, 5: a response.</summary>
    public bool IsResponse => CodeClass is 2 or 4 or 5;
}

/// <summary>Result of reading a datagram.</summary>
public enum CoapReadStatus : byte
{
    /// <summary>The whole message parsed.</summary>
    Ok = 0,
    /// <summary>Header and token are valid; the options or payload are not (see <see cref="CoapMessage.FormatError"/>).
    /// The options before the error can still be read.</summary>
    FormatError = 1,
    /// <summary>The header or token is unusable (too short, version ≠ 1, token length 9-15).</summary>
    Invalid = 2,
}

/// <summary>A decoded Block1/Block2/Q-Block option value (RFC 7959 §2.2).</summary>
public readonly record struct CoapBlock(uint Number, bool More, byte Szx)
{
    /// <summary>SZX 7 is reserved.</summary>
    public bool IsReservedSize => Szx == 7;
    /// <summary>Block size in bytes, 2^(SZX+4); 0 for the reserved SZX 7.</summary>
    public int Size => Szx == 7 ? 0 : 16 << Szx;
    /// <summary>Byte offset of this block: NUM * size.</summary>
    public long Offset => (long)Number * Size;

    public static CoapBlock Decode(uint value) => new(value >> 4, (value & 0x08) != 0, (byte)(value & 0x07));
}

/// <summary>One option: its absolute number and value bytes.</summary>
public readonly ref struct CoapOptionValue
{
    public CoapOptionValue(int number, ReadOnlySpan<byte> value)
    {
        Number = number;
        Value = value;
    }

    public int Number { get; }
    public ReadOnlySpan<byte> Value { get; }
    public bool IsCritical => CoapOptionInfo.IsCritical(Number);
    public bool IsUnsafe => CoapOptionInfo.IsUnsafe(Number);
    /// <summary>The value as an unsigned integer (big-endian, leading zeros allowed); values longer than 4 bytes keep the last 4.</summary>
    public uint Uint => CoapReader.ReadUint(Value);
}

/// <summary>
/// Cursor over the options of a message (the bytes after the token). <see cref="TryRead"/> returns false at the end:
/// then <see cref="Error"/> tells whether the options ended cleanly (None) and <see cref="PayloadOffset"/> where the
/// payload starts (after the 0xFF marker) when <see cref="HasPayloadMarker"/>.
/// </summary>
public ref struct CoapOptionReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;
    private int _number;
    private bool _done;

    public CoapOptionReader(ReadOnlySpan<byte> afterToken)
    {
        _data = afterToken;
        _position = 0;
        _number = 0;
        _done = false;
        Error = CoapAnomaly.None;
        HasPayloadMarker = false;
        PayloadOffset = afterToken.Length;
        Count = 0;
    }

    public CoapAnomaly Error { get; private set; }
    public bool HasPayloadMarker { get; private set; }
    /// <summary>Offset (in the span given) of the payload; the span length when there is none.</summary>
    public int PayloadOffset { get; private set; }
    /// <summary>Offset where the options end (the marker, the error, or the end).</summary>
    public readonly int Position => _position;
    public int Count { get; private set; }

    public bool TryRead(out CoapOptionValue option)
    {
        option = default;
        if (_done)
        {
            return false;
        }

        if (_position >= _data.Length)
        {
            return Finish(CoapAnomaly.None);
        }

        byte b = _data[_position];
        if (b == 0xFF)
        {
            HasPayloadMarker = true;
            PayloadOffset = _position + 1;
            return Finish(PayloadOffset >= _data.Length ? CoapAnomaly.PayloadMarkerWithoutPayload : CoapAnomaly.None);
        }

        int p = _position + 1;
        if (!ReadExtended(b >> 4, ref p, out int delta, out var err) || !ReadExtended(b & 0x0F, ref p, out int length, out err))
        {
            return Finish(err);
        }

        if (_data.Length - p < length)
        {
            return Finish(CoapAnomaly.TruncatedOption);
        }

        int number = _number + delta;
        if (number > 65535)
        {
            return Finish(CoapAnomaly.OptionNumberOverflow);
        }

        _number = number;
        option = new CoapOptionValue(number, _data.Slice(p, length));
        _position = p + length;
        Count++;
        return true;
    }

    private bool Finish(CoapAnomaly error)
    {
        _done = true;
        Error = error;
        if (!HasPayloadMarker)
        {
            PayloadOffset = _data.Length;
        }

        return false;
    }

    private readonly bool ReadExtended(int nibble, ref int p, out int value, out CoapAnomaly error)
    {
        error = CoapAnomaly.None;
        switch (nibble)
        {
            case 13:
                if (_data.Length - p < 1)
                {
                    value = 0;
                    error = CoapAnomaly.TruncatedOption;
                    return false;
                }

                value = 13 + _data[p];
                p += 1;
                return true;
            case 14:
                if (_data.Length - p < 2)
                {
                    value = 0;
                    error = CoapAnomaly.TruncatedOption;
                    return false;
                }

                value = 269 + BinaryPrimitives.ReadUInt16BigEndian(_data.Slice(p, 2));
                p += 2;
                return true;
            case 15:
                value = 0;
                error = CoapAnomaly.ReservedOptionNibble;
                return false;
            default:
                value = nibble;
                return true;
        }
    }
}

/// <summary>A CoAP message read from one datagram. Spans point into the datagram.</summary>
public readonly ref struct CoapMessage
{
    public CoapMessage(CoapHeader header, ReadOnlySpan<byte> token, ReadOnlySpan<byte> afterToken, ReadOnlySpan<byte> payload,
        bool hasPayloadMarker, int optionCount, CoapAnomaly formatError)
    {
        Header = header;
        Token = token;
        AfterToken = afterToken;
        Payload = payload;
        HasPayloadMarker = hasPayloadMarker;
        OptionCount = optionCount;
        FormatError = formatError;
    }

    public CoapHeader Header { get; }
    public ReadOnlySpan<byte> Token { get; }
    /// <summary>Options, marker and payload: iterate the options with <see cref="Options"/>.</summary>
    public ReadOnlySpan<byte> AfterToken { get; }
    public ReadOnlySpan<byte> Payload { get; }
    public bool HasPayloadMarker { get; }
    /// <summary>Options read before the end (or before the format error).</summary>
    public int OptionCount { get; }
    /// <summary>The format error found in the options / payload marker, or None.</summary>
    public CoapAnomaly FormatError { get; }

    /// <summary>A fresh cursor over the options (stops at the format error, if any).</summary>
    public CoapOptionReader Options => new(AfterToken);
}

/// <summary>Pure CoAP message reader over datagrams (RFC 7252 §3). Never throws, never allocates.</summary>
public static class CoapReader
{
    public const int HeaderLength = 4;
    public const int MaxTokenLength = 8;
    public const byte PayloadMarker = 0xFF;

    /// <summary>
    /// Reads the 4-byte header and checks the token fits. Returns None, or why the datagram is unusable:
    /// <see cref="CoapAnomaly.TruncatedMessage"/>, <see cref="CoapAnomaly.InvalidVersion"/>,
    /// <see cref="CoapAnomaly.InvalidTokenLength"/>. The header is filled whenever 4 bytes are there.
    /// </summary>
    public static CoapAnomaly TryReadHeader(ReadOnlySpan<byte> data, out CoapHeader header)
    {
        if (data.Length < HeaderLength)
        {
            header = default;
            return CoapAnomaly.TruncatedMessage;
        }

        byte b0 = data[0];
        header = new CoapHeader((byte)(b0 >> 6), (CoapMessageType)((b0 >> 4) & 3), (byte)(b0 & 0x0F), data[1],
            BinaryPrimitives.ReadUInt16BigEndian(data.Slice(2, 2)));
        if (header.Version != 1)
        {
            return CoapAnomaly.InvalidVersion;
        }

        if (header.TokenLength > MaxTokenLength)
        {
            return CoapAnomaly.InvalidTokenLength;
        }

        return data.Length < HeaderLength + header.TokenLength ? CoapAnomaly.TruncatedMessage : CoapAnomaly.None;
    }

    /// <summary>Reads one whole message (a UDP datagram's payload).</summary>
    public static CoapReadStatus TryRead(ReadOnlySpan<byte> datagram, out CoapMessage message, out CoapAnomaly error)
    {
        error = TryReadHeader(datagram, out var header);
        if (error != CoapAnomaly.None)
        {
            message = new CoapMessage(header, default, default, default, false, 0, error);
            return CoapReadStatus.Invalid;
        }

        var token = datagram.Slice(HeaderLength, header.TokenLength);
        var rest = datagram[(HeaderLength + header.TokenLength)..];
        var r = new CoapOptionReader(rest);
        while (r.TryRead(out _))
        {
        }

        error = r.Error;
        var payload = r.HasPayloadMarker ? rest[r.PayloadOffset..] : default;
        message = new CoapMessage(header, token, rest, payload, r.HasPayloadMarker, r.Count, error);
        return error == CoapAnomaly.None ? CoapReadStatus.Ok : CoapReadStatus.FormatError;
    }

    /// <summary>Big-endian unsigned integer of 0-4 bytes (longer values keep their last 4 bytes).</summary>
    public static uint ReadUint(ReadOnlySpan<byte> value)
    {
        if (value.Length > 4)
        {
            value = value[^4..];
        }

        uint v = 0;
        foreach (byte b in value)
        {
            v = (v << 8) | b;
        }

        return v;
    }

    /// <summary>True for codes assigned by RFC 7252, 8132, 7959, 8516, 9175 (and 7.xx signals only when <paramref name="signaling"/>).</summary>
    public static bool IsAssignedCode(byte code, bool signaling = false)
    {
        int c = code >> 5, d = code & 0x1F;
        return c switch
        {
            0 => d <= 7,
            2 => d is (>= 1 and <= 5) or 31,
            4 => d is (>= 0 and <= 6) or 8 or 9 or 12 or 13 or 15 or 22 or 29,
            5 => d is (>= 0 and <= 5) or 8,
            7 => signaling && d is >= 1 and <= 5,
            _ => false,
        };
    }

    /// <summary>Writes "c.dd" for a code into 4 bytes.</summary>
    public static void FormatCode(byte code, Span<byte> four)
    {
        int c = code >> 5, d = code & 0x1F;
        four[0] = (byte)('0' + c);
        four[1] = (byte)'.';
        four[2] = (byte)('0' + (d / 10));
        four[3] = (byte)('0' + (d % 10));
    }

    /// <summary>"c.dd" as a string (for reports; allocates).</summary>
    public static string CodeString(byte code)
    {
        Span<byte> b = stackalloc byte[4];
        FormatCode(code, b);
        return System.Text.Encoding.ASCII.GetString(b);
    }

    /// <summary>Method name for a request code (GET ... iPATCH), or null.</summary>
    public static ReadOnlySpan<byte> MethodName(byte code) => code switch
    {
        1 => "GET"u8,
        2 => "POST"u8,
        3 => "PUT"u8,
        4 => "DELETE"u8,
        5 => "FETCH"u8,
        6 => "PATCH"u8,
        7 => "iPATCH"u8,
        _ => default,
    };

    public static ReadOnlySpan<byte> TypeName(CoapMessageType t) => t switch
    {
        CoapMessageType.Confirmable => "CON"u8,
        CoapMessageType.NonConfirmable => "NON"u8,
        CoapMessageType.Acknowledgement => "ACK"u8,
        _ => "RST"u8,
    };

    /// <summary>Response code names (RFC 7252 §12.1.2 and later), or null.</summary>
    public static string? CodeName(byte code) => code switch
    {
        0x00 => "Empty",
        0x41 => "Created",
        0x42 => "Deleted",
        0x43 => "Valid",
        0x44 => "Changed",
        0x45 => "Content",
        0x5F => "Continue",
        0x80 => "Bad Request",
        0x81 => "Unauthorized",
        0x82 => "Bad Option",
        0x83 => "Forbidden",
        0x84 => "Not Found",
        0x85 => "Method Not Allowed",
        0x86 => "Not Acceptable",
        0x88 => "Request Entity Incomplete",
        0x89 => "Conflict",
        0x8C => "Precondition Failed",
        0x8D => "Request Entity Too Large",
        0x8F => "Unsupported Content-Format",
        0x96 => "Unprocessable Entity",
        0x9D => "Too Many Requests",
        0xA0 => "Internal Server Error",
        0xA1 => "Not Implemented",
        0xA2 => "Bad Gateway",
        0xA3 => "Service Unavailable",
        0xA4 => "Gateway Timeout",
        0xA5 => "Proxying Not Supported",
        0xA8 => "Hop Limit Reached",
        0x01 => "GET",
        0x02 => "POST",
        0x03 => "PUT",
        0x04 => "DELETE",
        0x05 => "FETCH",
        0x06 => "PATCH",
        0x07 => "iPATCH",
        _ => null,
    };
}
