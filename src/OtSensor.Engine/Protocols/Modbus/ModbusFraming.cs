using System.Buffers.Binary;

namespace OtSensor.Protocols.Modbus;

/// <summary>Result of a framing attempt.</summary>
public enum FrameStatus
{
    /// <summary>The length of the ADU is known (it may still need more bytes to be complete: compare with the buffer).</summary>
    Complete = 0,
    /// <summary>Fewer than 7 bytes: no decision yet. Nothing consumed.</summary>
    NeedMoreData = 1,
    /// <summary>The header can never start a valid ADU (MBAP length below 2).</summary>
    Invalid = 2,
}

/// <summary>The 7-byte MBAP header of a Modbus/TCP ADU.</summary>
public readonly record struct MbapHeader(ushort TransactionId, ushort ProtocolId, ushort Length, byte UnitId)
{
    /// <summary>Matching key used in <see cref="TransactionRecord.Key"/>: tid | unit &lt;&lt; 16.</summary>
    public uint Key => TransactionId | ((uint)UnitId << 16);

    /// <summary>Whole ADU length: MBAP length + 6.</summary>
    public int AduLength => Length + 6;
}

/// <summary>MBAP framing (Modbus Messaging on TCP/IP Implementation Guide V1.0b, section 3.1.3).</summary>
public static class ModbusFraming
{
    public const int HeaderLength = 7;

    /// <summary>Largest PDU the specification allows (function byte + 252 data bytes).</summary>
    public const int MaxPduLength = 253;

    /// <summary>Largest MBAP length field value allowed: unit id + 253-byte PDU.</summary>
    public const int MaxMbapLength = MaxPduLength + 1;

    /// <summary>Largest ADU allowed: 7-byte header + 253-byte PDU.</summary>
    public const int MaxAduLength = HeaderLength + MaxPduLength;

    /// <summary>Largest ADU an MBAP header can announce (length 65535).</summary>
    public const int MaxDeclaredAduLength = 65535 + 6;

    /// <summary>
    /// Length of the ADU starting at <paramref name="buffer"/>[0]: MBAP length + 6. Complete means the length is known
    /// (the ADU is whole when <c>buffer.Length &gt;= aduLength</c>); the caller must check for oversize
    /// (<c>aduLength &gt; MaxAduLength</c>) and for the protocol id, see <see cref="ReadHeader"/>.
    /// Invalid when the MBAP length is below 2 (no room for unit id + function code).
    /// </summary>
    public static FrameStatus TryGetAduLength(ReadOnlySpan<byte> buffer, out int aduLength)
    {
        aduLength = 0;
        if (buffer.Length < HeaderLength)
        {
            return FrameStatus.NeedMoreData;
        }

        int len = BinaryPrimitives.ReadUInt16BigEndian(buffer.Slice(4, 2));
        if (len < 2)
        {
            return FrameStatus.Invalid;
        }

        aduLength = len + 6;
        return FrameStatus.Complete;
    }

    /// <summary>Reads the MBAP header. False when fewer than 7 bytes.</summary>
    public static bool TryReadHeader(ReadOnlySpan<byte> buffer, out MbapHeader header)
    {
        if (buffer.Length < HeaderLength)
        {
            header = default;
            return false;
        }

        header = ReadHeader(buffer);
        return true;
    }

    /// <summary>Reads the MBAP header from at least 7 bytes.</summary>
    public static MbapHeader ReadHeader(ReadOnlySpan<byte> buffer) => new(
        BinaryPrimitives.ReadUInt16BigEndian(buffer),
        BinaryPrimitives.ReadUInt16BigEndian(buffer.Slice(2, 2)),
        BinaryPrimitives.ReadUInt16BigEndian(buffer.Slice(4, 2)),
        buffer[6]);

    /// <summary>
    /// True when a function byte is plausible in the given direction: a public or user-defined code, or (responses
    /// only) such a code with the exception bit.
    /// </summary>
    public static bool IsPlausibleFunction(byte function, bool request)
    {
        byte code = (byte)(function & 0x7F);
        if ((function & 0x80) != 0 && request)
        {
            return false;
        }

        return ModbusFunctions.IsPublic(code) || ModbusFunctions.IsUserDefined(code);
    }

    /// <summary>
    /// True when at least 8 bytes start with a plausible MBAP header: protocol id 0, length 2..254 and a plausible
    /// function code for the direction. Used to resynchronise and by the payload probe.
    /// </summary>
    public static bool IsPlausibleHeader(ReadOnlySpan<byte> buffer, bool request)
    {
        if (buffer.Length < HeaderLength + 1)
        {
            return false;
        }

        if (buffer[2] != 0 || buffer[3] != 0)
        {
            return false;
        }

        int len = (buffer[4] << 8) | buffer[5];
        return len is >= 2 and <= MaxMbapLength && IsPlausibleFunction(buffer[7], request);
    }
}
