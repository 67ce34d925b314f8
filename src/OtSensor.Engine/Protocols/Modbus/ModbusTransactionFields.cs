using System.Buffers.Binary;

namespace OtSensor.Protocols.Modbus;

/// <summary>How a run of value bytes turns into integers.</summary>
internal enum ModbusValueKind : byte
{
    None = 0,
    /// <summary>Bit-packed coils / inputs, LSB of the first byte first, as 0/1.</summary>
    Bits = 1,
    /// <summary>Big-endian 16-bit registers.</summary>
    Registers = 2,
    /// <summary>One value per byte.</summary>
    Bytes = 3,
    /// <summary>One Write Single Coil word: 0xFF00 → 1, 0x0000 → 0, anything else raw.</summary>
    CoilWord = 4,
}

/// <summary>
/// Output fields of one Modbus transaction, extracted from the raw request and/or response ADU without allocating
/// (a view over the caller's spans: valid only while they are). Values are enumerated with <see cref="CopyValues"/>.
/// </summary>
public ref struct ModbusTransactionFields
{
    private ReadOnlySpan<byte> _values;
    private ModbusValueKind _kind;
    private ReadOnlySpan<byte> _writeValues;

    public ushort TransactionId { get; private set; }

    public byte UnitId { get; private set; }

    /// <summary>The request's function byte, or the response's without the exception bit when there is no request.</summary>
    public byte Function { get; private set; }

    /// <summary>READ_COILS... or UNKNOWN_&lt;n&gt; (a cached string, no allocation).</summary>
    public string FunctionName { get; private set; }

    public bool HasRequest { get; private set; }

    public bool HasResponse { get; private set; }

    /// <summary>FC 8 sub-function or FC 43 MEI type, else null.</summary>
    public int? SubFunction { get; private set; }

    /// <summary>Start address (FC23: the read address; FC24: the FIFO pointer address), else null.</summary>
    public int? Address { get; private set; }

    /// <summary>Quantity of coils / registers (FC23: the read quantity), else null.</summary>
    public int? Quantity { get; private set; }

    /// <summary>FC 23 write part.</summary>
    public int? WriteAddress { get; private set; }

    public int? WriteQuantity { get; private set; }

    public bool IsException { get; private set; }

    public byte? ExceptionCode { get; private set; }

    /// <summary>ILLEGAL_FUNCTION... ; null when not an exception or an undefined code.</summary>
    public string? ExceptionName { get; private set; }

    /// <summary>
    /// Number of values: written values for writes (FC5 coil as 0/1, FC6, FC15 bits limited to the quantity, FC16,
    /// FC22 AND mask then OR mask), read values for reads (FC1/2 bits limited to the requested quantity, FC3/4/23
    /// registers, FC24 FIFO registers, FC7 status byte). FC23's written registers are in <see cref="WriteValueCount"/>.
    /// </summary>
    public int ValueCount { get; private set; }

    /// <summary>FC 23 written register count.</summary>
    public int WriteValueCount { get; private set; }

    /// <summary>Copies up to <c>destination.Length</c> values; returns how many were written.</summary>
    public readonly int CopyValues(Span<int> destination) => Copy(_values, _kind, ValueCount, destination);

    /// <summary>Copies FC 23's written registers.</summary>
    public readonly int CopyWriteValues(Span<int> destination) => Copy(_writeValues, ModbusValueKind.Registers, WriteValueCount, destination);

    private static int Copy(ReadOnlySpan<byte> src, ModbusValueKind kind, int count, Span<int> destination)
    {
        int n = Math.Min(count, destination.Length);
        for (int i = 0; i < n; i++)
        {
            destination[i] = kind switch
            {
                ModbusValueKind.Bits => (src[i >> 3] >> (i & 7)) & 1,
                ModbusValueKind.Registers => BinaryPrimitives.ReadUInt16BigEndian(src.Slice(i * 2, 2)),
                ModbusValueKind.CoilWord => BinaryPrimitives.ReadUInt16BigEndian(src) switch
                {
                    0xFF00 => 1,
                    0x0000 => 0,
                    var raw => raw,
                },
                _ => src[i],
            };
        }

        return n;
    }

    private void SetValues(ReadOnlySpan<byte> bytes, ModbusValueKind kind, int limit = int.MaxValue)
    {
        _values = bytes;
        _kind = kind;
        int count = kind switch
        {
            ModbusValueKind.Bits => bytes.Length * 8,
            ModbusValueKind.Registers => bytes.Length / 2,
            ModbusValueKind.CoilWord => bytes.Length >= 2 ? 1 : 0,
            ModbusValueKind.Bytes => bytes.Length,
            _ => 0,
        };
        ValueCount = Math.Min(count, limit);
    }

    /// <summary>
    /// Extracts the fields. Either ADU may be empty (unanswered request, unsolicited response); false when neither
    /// holds at least a header and a function byte.
    /// </summary>
    public static bool TryExtract(ReadOnlySpan<byte> requestAdu, ReadOnlySpan<byte> responseAdu, out ModbusTransactionFields f)
    {
        f = default;
        f.FunctionName = string.Empty;
        const int Min = ModbusFraming.HeaderLength + 1;
        bool hasReq = requestAdu.Length >= Min;
        bool hasResp = responseAdu.Length >= Min;
        if (!hasReq && !hasResp)
        {
            return false;
        }

        f.HasRequest = hasReq;
        f.HasResponse = hasResp;
        var header = ModbusFraming.ReadHeader(hasReq ? requestAdu : responseAdu);
        f.TransactionId = header.TransactionId;
        f.UnitId = header.UnitId;

        ModbusRequest req = default;
        ModbusResponse resp = default;
        if (hasReq)
        {
            ModbusPduReader.TryReadRequest(requestAdu[ModbusFraming.HeaderLength..], out req);
        }

        if (hasResp)
        {
            ModbusPduReader.TryReadResponse(responseAdu[ModbusFraming.HeaderLength..], req.FunctionByte, out resp);
        }

        f.Function = hasReq ? req.FunctionByte : (byte)(resp.FunctionByte & 0x7F);
        f.FunctionName = ModbusFunctions.Name(f.Function);
        if (hasResp && resp.IsException)
        {
            f.IsException = true;
            f.ExceptionCode = resp.ExceptionCode;
            f.ExceptionName = ModbusFunctions.ExceptionName(resp.ExceptionCode);
        }

        if (hasReq ? req.HasSubFunction : resp.HasSubFunction)
        {
            f.SubFunction = hasReq ? req.SubFunction : resp.SubFunction;
        }

        if (hasReq && req.HasAddress)
        {
            f.Address = req.Address;
        }
        else if (!hasReq && resp.HasAddress)
        {
            f.Address = resp.Address;
        }

        if (hasReq && req.HasQuantity)
        {
            f.Quantity = req.Quantity;
        }
        else if (!hasReq && resp.HasQuantity)
        {
            f.Quantity = resp.Quantity;
        }

        // A response only counts for values when it answers the same function and is not an exception.
        bool respValues = hasResp && !resp.IsException && (!hasReq || (resp.FunctionByte == req.FunctionByte));
        var reqPdu = req.Pdu;
        var respPdu = resp.Pdu;
        switch ((ModbusFunction)f.Function)
        {
            case ModbusFunction.ReadCoils:
            case ModbusFunction.ReadDiscreteInputs:
                if (respValues)
                {
                    f.SetValues(resp.Values, ModbusValueKind.Bits, hasReq && req.HasQuantity ? req.Quantity : int.MaxValue);
                }

                break;
            case ModbusFunction.ReadHoldingRegisters:
            case ModbusFunction.ReadInputRegisters:
            case ModbusFunction.ReadFifoQueue:
                if (respValues)
                {
                    f.SetValues(resp.Values, ModbusValueKind.Registers);
                }

                break;
            case ModbusFunction.ReadWriteMultipleRegisters:
                if (hasReq && req.HasAddress)
                {
                    f.WriteAddress = req.WriteAddress;
                    f.WriteQuantity = req.WriteQuantity;
                    f._writeValues = req.Values;
                    f.WriteValueCount = Math.Min(req.Values.Length / 2, req.WriteQuantity);
                }

                if (respValues)
                {
                    f.SetValues(resp.Values, ModbusValueKind.Registers);
                }

                break;
            case ModbusFunction.ReadExceptionStatus:
                if (respValues && respPdu.Length >= 2)
                {
                    f.SetValues(respPdu.Slice(1, 1), ModbusValueKind.Bytes);
                }

                break;
            case ModbusFunction.WriteSingleCoil:
            case ModbusFunction.WriteSingleRegister:
                {
                    var kind = f.Function == (byte)ModbusFunction.WriteSingleCoil ? ModbusValueKind.CoilWord : ModbusValueKind.Registers;
                    if (hasReq ? reqPdu.Length >= 5 : respValues && respPdu.Length >= 5)
                    {
                        f.SetValues((hasReq ? reqPdu : respPdu).Slice(3, 2), kind);
                    }

                    break;
                }

            case ModbusFunction.WriteMultipleCoils:
                if (hasReq && req.HasQuantity)
                {
                    f.SetValues(req.Values, ModbusValueKind.Bits, req.Quantity);
                }

                break;
            case ModbusFunction.WriteMultipleRegisters:
                if (hasReq && req.HasQuantity)
                {
                    f.SetValues(req.Values, ModbusValueKind.Registers, req.Quantity);
                }

                break;
            case ModbusFunction.MaskWriteRegister:
                if (hasReq ? reqPdu.Length >= 7 : respValues && respPdu.Length >= 7)
                {
                    f.SetValues((hasReq ? reqPdu : respPdu).Slice(3, 4), ModbusValueKind.Registers);
                }

                break;
        }

        return true;
    }
}
