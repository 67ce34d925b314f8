using System.Buffers.Binary;

namespace OtSensor.Protocols.Modbus;

/// <summary>Outcome of decoding one complete PDU.</summary>
public enum PduStatus
{
    /// <summary>The PDU has exactly the bytes its function needs.</summary>
    Ok = 0,
    /// <summary>Decoded, but bytes remain after what the function needs (MBAP length inconsistent).</summary>
    TrailingBytes = 1,
    /// <summary>Shorter than the function requires; the fields that fit are filled, the rest are 0/empty.</summary>
    Malformed = 2,
    /// <summary>No function byte at all.</summary>
    Empty = 3,
}

/// <summary>
/// A decoded request PDU. A view over the caller's span (no allocation): it is only valid while that span is.
/// Fields that do not apply to the function are 0 / empty; <see cref="HasAddress"/> / <see cref="HasQuantity"/> tell
/// whether <see cref="Address"/> / <see cref="Quantity"/> are meaningful.
/// </summary>
public ref struct ModbusRequest
{
    /// <summary>The whole PDU (function byte + data).</summary>
    public ReadOnlySpan<byte> Pdu;
    /// <summary>The raw function byte, always kept (unknown and user-defined codes included).</summary>
    public byte FunctionByte;
    /// <summary>The public function, or <see cref="ModbusFunction.Unknown"/>.</summary>
    public ModbusFunction Function;
    /// <summary>Start address (FC1-6, 15, 16, 22; FC23 read address; FC24 FIFO pointer address).</summary>
    public ushort Address;
    /// <summary>Quantity of coils / registers (FC1-4, 15, 16; FC23 read quantity).</summary>
    public ushort Quantity;
    public bool HasAddress;
    public bool HasQuantity;
    /// <summary>FC5 / FC6 value.</summary>
    public ushort Value;
    /// <summary>FC8 sub-function, FC43 MEI type.</summary>
    public ushort SubFunction;
    public bool HasSubFunction;
    /// <summary>Byte count field (FC15, 16, 20, 21, 23).</summary>
    public byte ByteCount;
    /// <summary>
    /// Variable data: FC15 coil bytes, FC16 / FC23 register bytes, FC8 data, FC20 / FC21 sub-requests,
    /// FC43/13 and unknown codes: everything after the function byte (or after the MEI type).
    /// Bounded by the PDU (and by the byte count when there is one).
    /// </summary>
    public ReadOnlySpan<byte> Values;
    /// <summary>FC22 masks.</summary>
    public ushort AndMask;
    public ushort OrMask;
    /// <summary>FC23 write part.</summary>
    public ushort WriteAddress;
    public ushort WriteQuantity;
    /// <summary>FC43/14 read device id code and object id.</summary>
    public byte ReadDeviceIdCode;
    public byte ObjectId;
}

/// <summary>A decoded response PDU (normal or exception). A view over the caller's span.</summary>
public ref struct ModbusResponse
{
    public ReadOnlySpan<byte> Pdu;
    /// <summary>The raw function byte, with the exception bit when set.</summary>
    public byte FunctionByte;
    /// <summary>The public function (exception bit removed), or <see cref="ModbusFunction.Unknown"/>.</summary>
    public ModbusFunction Function;
    /// <summary>The function of the request this response answers (as given to the reader), or 0.</summary>
    public byte RequestFunction;
    public bool IsException;
    public byte ExceptionCode;
    /// <summary>Echoed address (FC5, 6, 15, 16, 22).</summary>
    public ushort Address;
    public bool HasAddress;
    /// <summary>Echoed quantity (FC15, 16).</summary>
    public ushort Quantity;
    public bool HasQuantity;
    /// <summary>Echoed value (FC5, 6).</summary>
    public ushort Value;
    /// <summary>FC8 sub-function, FC43 MEI type.</summary>
    public ushort SubFunction;
    public bool HasSubFunction;
    /// <summary>Byte count (FC1-4, 12, 17, 20, 21, 23; FC24: the 16-bit byte count).</summary>
    public ushort ByteCount;
    /// <summary>
    /// Variable data: FC1/2 coil bytes, FC3/4/23 register bytes, FC24 FIFO register bytes, FC17 server id data,
    /// FC12 event bytes, FC8 data, FC20 / FC21 sub-responses, FC43/14 object list, FC43/13 and unknown codes raw.
    /// </summary>
    public ReadOnlySpan<byte> Values;
    /// <summary>FC7 output byte, FC11 / FC12 status word.</summary>
    public ushort Status;
    /// <summary>FC11 / FC12 event count.</summary>
    public ushort EventCount;
    /// <summary>FC12 message count.</summary>
    public ushort MessageCount;
    /// <summary>FC24 FIFO count.</summary>
    public ushort FifoCount;
    public ushort AndMask;
    public ushort OrMask;
    /// <summary>FC43/14 fields.</summary>
    public byte ReadDeviceIdCode;
    public byte ConformityLevel;
    public byte MoreFollows;
    public byte NextObjectId;
    public byte NumberOfObjects;
}

/// <summary>Pure, allocation-free decoding of complete Modbus PDUs (MODBUS Application Protocol V1.1b3, section 6).</summary>
public static class ModbusPduReader
{
    private static ushort U16(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt16BigEndian(s.Slice(offset, 2));

    private static PduStatus Exact(int length, int needed)
        => length == needed ? PduStatus.Ok : length > needed ? PduStatus.TrailingBytes : PduStatus.Malformed;

    /// <summary>Decodes a request PDU (function byte first). Never fails on unknown codes: they are kept raw.</summary>
    public static PduStatus TryReadRequest(ReadOnlySpan<byte> pdu, out ModbusRequest req)
    {
        req = default;
        req.Pdu = pdu;
        if (pdu.IsEmpty)
        {
            return PduStatus.Empty;
        }

        byte fc = pdu[0];
        req.FunctionByte = fc;
        req.Function = (fc & 0x80) == 0 ? ModbusFunctions.FromByte(fc) : ModbusFunction.Unknown;
        int n = pdu.Length;
        switch (req.Function)
        {
            case ModbusFunction.ReadCoils:
            case ModbusFunction.ReadDiscreteInputs:
            case ModbusFunction.ReadHoldingRegisters:
            case ModbusFunction.ReadInputRegisters:
                if (n < 5)
                {
                    return PduStatus.Malformed;
                }

                req.Address = U16(pdu, 1);
                req.Quantity = U16(pdu, 3);
                req.HasAddress = req.HasQuantity = true;
                return Exact(n, 5);

            case ModbusFunction.WriteSingleCoil:
            case ModbusFunction.WriteSingleRegister:
                if (n < 5)
                {
                    return PduStatus.Malformed;
                }

                req.Address = U16(pdu, 1);
                req.HasAddress = true;
                req.Value = U16(pdu, 3);
                return Exact(n, 5);

            case ModbusFunction.ReadExceptionStatus:
            case ModbusFunction.GetCommEventCounter:
            case ModbusFunction.GetCommEventLog:
            case ModbusFunction.ReportServerId:
                return Exact(n, 1);

            case ModbusFunction.Diagnostics:
                if (n < 3)
                {
                    return PduStatus.Malformed;
                }

                req.SubFunction = U16(pdu, 1);
                req.HasSubFunction = true;
                req.Values = pdu[3..];
                return PduStatus.Ok;

            case ModbusFunction.WriteMultipleCoils:
            case ModbusFunction.WriteMultipleRegisters:
                {
                    if (n < 6)
                    {
                        return PduStatus.Malformed;
                    }

                    req.Address = U16(pdu, 1);
                    req.Quantity = U16(pdu, 3);
                    req.HasAddress = req.HasQuantity = true;
                    req.ByteCount = pdu[5];
                    int avail = Math.Min(req.ByteCount, n - 6);
                    req.Values = pdu.Slice(6, avail);
                    return Exact(n, 6 + req.ByteCount);
                }

            case ModbusFunction.ReadFileRecord:
            case ModbusFunction.WriteFileRecord:
                {
                    if (n < 2)
                    {
                        return PduStatus.Malformed;
                    }

                    req.ByteCount = pdu[1];
                    req.Values = pdu.Slice(2, Math.Min(req.ByteCount, n - 2));
                    return Exact(n, 2 + req.ByteCount);
                }

            case ModbusFunction.MaskWriteRegister:
                if (n < 7)
                {
                    return PduStatus.Malformed;
                }

                req.Address = U16(pdu, 1);
                req.HasAddress = true;
                req.AndMask = U16(pdu, 3);
                req.OrMask = U16(pdu, 5);
                return Exact(n, 7);

            case ModbusFunction.ReadWriteMultipleRegisters:
                {
                    if (n < 10)
                    {
                        return PduStatus.Malformed;
                    }

                    req.Address = U16(pdu, 1);
                    req.Quantity = U16(pdu, 3);
                    req.HasAddress = req.HasQuantity = true;
                    req.WriteAddress = U16(pdu, 5);
                    req.WriteQuantity = U16(pdu, 7);
                    req.ByteCount = pdu[9];
                    req.Values = pdu.Slice(10, Math.Min(req.ByteCount, n - 10));
                    return Exact(n, 10 + req.ByteCount);
                }

            case ModbusFunction.ReadFifoQueue:
                if (n < 3)
                {
                    return PduStatus.Malformed;
                }

                req.Address = U16(pdu, 1);
                req.HasAddress = true;
                return Exact(n, 3);

            case ModbusFunction.EncapsulatedInterfaceTransport:
                if (n < 2)
                {
                    return PduStatus.Malformed;
                }

                req.SubFunction = pdu[1];
                req.HasSubFunction = true;
                if (pdu[1] == ModbusFunctions.MeiReadDeviceIdentification)
                {
                    if (n < 4)
                    {
                        return PduStatus.Malformed;
                    }

                    req.ReadDeviceIdCode = pdu[2];
                    req.ObjectId = pdu[3];
                    return Exact(n, 4);
                }

                req.Values = pdu[2..];
                return PduStatus.Ok;

            default:
                req.Values = pdu[1..];
                return PduStatus.Ok;
        }
    }

    /// <summary>
    /// Decodes a response PDU. The layout follows the response's own function byte; <paramref name="requestFunction"/>
    /// (0 when unknown) is kept for consistency checks.
    /// </summary>
    public static PduStatus TryReadResponse(ReadOnlySpan<byte> pdu, byte requestFunction, out ModbusResponse resp)
    {
        resp = default;
        resp.Pdu = pdu;
        resp.RequestFunction = requestFunction;
        if (pdu.IsEmpty)
        {
            return PduStatus.Empty;
        }

        byte fc = pdu[0];
        resp.FunctionByte = fc;
        resp.Function = ModbusFunctions.FromByte(fc);
        int n = pdu.Length;
        if ((fc & 0x80) != 0)
        {
            resp.IsException = true;
            if (n < 2)
            {
                return PduStatus.Malformed;
            }

            resp.ExceptionCode = pdu[1];
            return Exact(n, 2);
        }

        switch (resp.Function)
        {
            case ModbusFunction.ReadCoils:
            case ModbusFunction.ReadDiscreteInputs:
            case ModbusFunction.ReadHoldingRegisters:
            case ModbusFunction.ReadInputRegisters:
            case ModbusFunction.ReportServerId:
            case ModbusFunction.ReadFileRecord:
            case ModbusFunction.WriteFileRecord:
            case ModbusFunction.ReadWriteMultipleRegisters:
                {
                    if (n < 2)
                    {
                        return PduStatus.Malformed;
                    }

                    resp.ByteCount = pdu[1];
                    resp.Values = pdu.Slice(2, Math.Min(resp.ByteCount, n - 2));
                    return Exact(n, 2 + resp.ByteCount);
                }

            case ModbusFunction.WriteSingleCoil:
            case ModbusFunction.WriteSingleRegister:
                if (n < 5)
                {
                    return PduStatus.Malformed;
                }

                resp.Address = U16(pdu, 1);
                resp.HasAddress = true;
                resp.Value = U16(pdu, 3);
                return Exact(n, 5);

            case ModbusFunction.WriteMultipleCoils:
            case ModbusFunction.WriteMultipleRegisters:
                if (n < 5)
                {
                    return PduStatus.Malformed;
                }

                resp.Address = U16(pdu, 1);
                resp.Quantity = U16(pdu, 3);
                resp.HasAddress = resp.HasQuantity = true;
                return Exact(n, 5);

            case ModbusFunction.ReadExceptionStatus:
                if (n < 2)
                {
                    return PduStatus.Malformed;
                }

                resp.Status = pdu[1];
                return Exact(n, 2);

            case ModbusFunction.Diagnostics:
                if (n < 3)
                {
                    return PduStatus.Malformed;
                }

                resp.SubFunction = U16(pdu, 1);
                resp.HasSubFunction = true;
                resp.Values = pdu[3..];
                return PduStatus.Ok;

            case ModbusFunction.GetCommEventCounter:
                if (n < 5)
                {
                    return PduStatus.Malformed;
                }

                resp.Status = U16(pdu, 1);
                resp.EventCount = U16(pdu, 3);
                return Exact(n, 5);

            case ModbusFunction.GetCommEventLog:
                {
                    if (n < 2)
                    {
                        return PduStatus.Malformed;
                    }

                    resp.ByteCount = pdu[1];
                    if (n < 8 || resp.ByteCount < 6)
                    {
                        return PduStatus.Malformed;
                    }

                    resp.Status = U16(pdu, 2);
                    resp.EventCount = U16(pdu, 4);
                    resp.MessageCount = U16(pdu, 6);
                    resp.Values = pdu.Slice(8, Math.Min(resp.ByteCount - 6, n - 8));
                    return Exact(n, 2 + resp.ByteCount);
                }

            case ModbusFunction.MaskWriteRegister:
                if (n < 7)
                {
                    return PduStatus.Malformed;
                }

                resp.Address = U16(pdu, 1);
                resp.HasAddress = true;
                resp.AndMask = U16(pdu, 3);
                resp.OrMask = U16(pdu, 5);
                return Exact(n, 7);

            case ModbusFunction.ReadFifoQueue:
                {
                    if (n < 5)
                    {
                        return PduStatus.Malformed;
                    }

                    resp.ByteCount = U16(pdu, 1);
                    resp.FifoCount = U16(pdu, 3);
                    int want = resp.FifoCount * 2;
                    resp.Values = pdu.Slice(5, Math.Min(want, n - 5));
                    return Exact(n, 5 + want);
                }

            case ModbusFunction.EncapsulatedInterfaceTransport:
                if (n < 2)
                {
                    return PduStatus.Malformed;
                }

                resp.SubFunction = pdu[1];
                resp.HasSubFunction = true;
                if (pdu[1] == ModbusFunctions.MeiReadDeviceIdentification)
                {
                    if (n < 7)
                    {
                        return PduStatus.Malformed;
                    }

                    resp.ReadDeviceIdCode = pdu[2];
                    resp.ConformityLevel = pdu[3];
                    resp.MoreFollows = pdu[4];
                    resp.NextObjectId = pdu[5];
                    resp.NumberOfObjects = pdu[6];
                    resp.Values = pdu[7..];
                    return MeasureObjects(resp.Values, resp.NumberOfObjects);
                }

                resp.Values = pdu[2..];
                return PduStatus.Ok;

            default:
                resp.Values = pdu[1..];
                return PduStatus.Ok;
        }
    }

    /// <summary>Checks that <paramref name="count"/> (id, length, value) objects fill <paramref name="objects"/> exactly.</summary>
    internal static PduStatus MeasureObjects(ReadOnlySpan<byte> objects, int count)
    {
        int pos = 0;
        for (int i = 0; i < count; i++)
        {
            if (objects.Length - pos < 2)
            {
                return PduStatus.Malformed;
            }

            int len = objects[pos + 1];
            if (objects.Length - pos - 2 < len)
            {
                return PduStatus.Malformed;
            }

            pos += 2 + len;
        }

        return pos == objects.Length ? PduStatus.Ok : PduStatus.TrailingBytes;
    }
}
