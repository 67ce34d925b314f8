using System.Buffers.Binary;

namespace OtSensor.Protocols.Modbus;

/// <summary>
/// Specification checks on decoded PDUs. A message that decodes but carries bad values raises anomaly bits
/// (<c>1UL &lt;&lt; (int)ModbusAnomaly</c>); nothing here fails.
/// </summary>
public static class ModbusValidation
{
    private static ulong Bit(ModbusAnomaly a) => 1UL << (int)a;

    /// <summary>
    /// A complete PDU (as delimited by the MBAP length) that is shorter than its function needs is malformed, and its
    /// MBAP length disagrees with the PDU; one with bytes left over has an MBAP length that disagrees too.
    /// </summary>
    private static ulong StatusBits(PduStatus status) => status switch
    {
        PduStatus.Malformed => Bit(ModbusAnomaly.MalformedPdu) | Bit(ModbusAnomaly.LengthMismatch),
        PduStatus.Empty => Bit(ModbusAnomaly.MalformedPdu),
        PduStatus.TrailingBytes => Bit(ModbusAnomaly.LengthMismatch),
        _ => 0,
    };

    /// <summary>
    /// The status to validate a PDU with: a PDU the sensor cut (oversize ADU, <paramref name="truncated"/>) misses
    /// its tail through no fault of the sender, so "shorter than needed" is not held against it.
    /// </summary>
    public static PduStatus EffectiveStatus(PduStatus status, bool truncated)
        => truncated && status == PduStatus.Malformed ? PduStatus.Ok : status;

    /// <summary>
    /// Anomaly bits of a request PDU the sensor cut (the first bytes of an oversize ADU): the fields that are there
    /// are checked (function code, quantities, byte count against quantity); checks that need the missing tail are not.
    /// </summary>
    public static ulong CheckTruncatedRequest(PduStatus status, scoped in ModbusRequest req)
    {
        ulong bits = CheckRequest(EffectiveStatus(status, truncated: true), req);
        if (status == PduStatus.Malformed && req.Function is ModbusFunction.ReadFileRecord or ModbusFunction.WriteFileRecord)
        {
            // The sub-request walk ran out of kept bytes, not of sent bytes.
            bits &= ~Bit(ModbusAnomaly.ByteCountMismatch);
        }

        return bits;
    }

    private static ulong Quantity(int q, int min, int max) => q < min || q > max ? Bit(ModbusAnomaly.IllegalQuantity) : 0;

    private static ulong Overflow(int address, int quantity)
        => quantity > 0 && address + quantity - 1 > 0xFFFF ? Bit(ModbusAnomaly.AddressOverflow) : 0;

    /// <summary>Anomaly bits of a request PDU decoded with <see cref="ModbusPduReader.TryReadRequest"/>.</summary>
    public static ulong CheckRequest(PduStatus status, scoped in ModbusRequest req)
    {
        ulong bits = StatusBits(status);
        if (status == PduStatus.Empty)
        {
            return bits;
        }

        byte fc = req.FunctionByte;
        if (fc == 0 || fc >= 0x80)
        {
            return bits | Bit(ModbusAnomaly.InvalidFunctionCode);
        }

        if (status == PduStatus.Malformed)
        {
            return bits;
        }

        switch (req.Function)
        {
            case ModbusFunction.ReadCoils:
            case ModbusFunction.ReadDiscreteInputs:
                bits |= Quantity(req.Quantity, 1, 2000) | Overflow(req.Address, req.Quantity);
                break;
            case ModbusFunction.ReadHoldingRegisters:
            case ModbusFunction.ReadInputRegisters:
                bits |= Quantity(req.Quantity, 1, 125) | Overflow(req.Address, req.Quantity);
                break;
            case ModbusFunction.WriteSingleCoil:
                if (req.Value is not 0x0000 and not 0xFF00)
                {
                    bits |= Bit(ModbusAnomaly.InvalidCoilValue);
                }

                break;
            case ModbusFunction.Diagnostics:
                if (!ModbusFunctions.IsDefinedDiagnosticSubFunction(req.SubFunction))
                {
                    bits |= Bit(ModbusAnomaly.InvalidSubFunction);
                }

                break;
            case ModbusFunction.WriteMultipleCoils:
                bits |= Quantity(req.Quantity, 1, 1968) | Overflow(req.Address, req.Quantity);
                if (req.ByteCount != (req.Quantity + 7) / 8)
                {
                    bits |= Bit(ModbusAnomaly.ByteCountMismatch);
                }

                break;
            case ModbusFunction.WriteMultipleRegisters:
                bits |= Quantity(req.Quantity, 1, 123) | Overflow(req.Address, req.Quantity);
                if (req.ByteCount != req.Quantity * 2)
                {
                    bits |= Bit(ModbusAnomaly.ByteCountMismatch);
                }

                break;
            case ModbusFunction.ReadFileRecord:
                bits |= Quantity(req.ByteCount, 7, 245) | CheckFileSubRequests(req.Values, write: false);
                break;
            case ModbusFunction.WriteFileRecord:
                bits |= Quantity(req.ByteCount, 9, 251) | CheckFileSubRequests(req.Values, write: true);
                break;
            case ModbusFunction.ReadWriteMultipleRegisters:
                bits |= Quantity(req.Quantity, 1, 125) | Quantity(req.WriteQuantity, 1, 121)
                    | Overflow(req.Address, req.Quantity) | Overflow(req.WriteAddress, req.WriteQuantity);
                if (req.ByteCount != req.WriteQuantity * 2)
                {
                    bits |= Bit(ModbusAnomaly.ByteCountMismatch);
                }

                break;
            case ModbusFunction.EncapsulatedInterfaceTransport:
                if (req.SubFunction == ModbusFunctions.MeiReadDeviceIdentification)
                {
                    if (req.ReadDeviceIdCode is < 1 or > 4)
                    {
                        bits |= Bit(ModbusAnomaly.InvalidDeviceIdentification);
                    }
                }
                else if (req.SubFunction != ModbusFunctions.MeiCanOpen)
                {
                    bits |= Bit(ModbusAnomaly.InvalidSubFunction);
                }

                break;
        }

        return bits;
    }

    /// <summary>
    /// Walks FC20 (7-byte) or FC21 (7-byte header + record data) sub-requests: reference type must be 6, the groups
    /// must fill the byte count exactly.
    /// </summary>
    private static ulong CheckFileSubRequests(ReadOnlySpan<byte> data, bool write)
    {
        ulong bits = 0;
        int pos = 0;
        int guard = 0;
        while (pos < data.Length && guard++ < 64)
        {
            if (data.Length - pos < 7)
            {
                return bits | Bit(ModbusAnomaly.ByteCountMismatch);
            }

            if (data[pos] != 6)
            {
                bits |= Bit(ModbusAnomaly.InvalidReferenceType);
            }

            int recordLength = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(pos + 5, 2));
            int size = 7 + (write ? recordLength * 2 : 0);
            if (data.Length - pos < size)
            {
                return bits | Bit(ModbusAnomaly.ByteCountMismatch);
            }

            pos += size;
        }

        return bits;
    }

    /// <summary>
    /// Anomaly bits of a response PDU. When <paramref name="hasRequest"/>, checks consistency with the request
    /// (function, byte count against quantity, echoes).
    /// </summary>
    public static ulong CheckResponse(PduStatus status, scoped in ModbusResponse resp, bool hasRequest, PduStatus requestStatus, scoped in ModbusRequest req)
    {
        ulong bits = StatusBits(status);
        if (status == PduStatus.Empty)
        {
            return bits;
        }

        byte fc = (byte)(resp.FunctionByte & 0x7F);
        if (fc == 0)
        {
            bits |= Bit(ModbusAnomaly.InvalidFunctionCode);
        }

        bool requestUsable = hasRequest && requestStatus is PduStatus.Ok or PduStatus.TrailingBytes;
        if (hasRequest && requestStatus != PduStatus.Empty && fc != req.FunctionByte)
        {
            bits |= Bit(ModbusAnomaly.ResponseMismatch);
            requestUsable = false;
        }

        if (resp.IsException)
        {
            if (status != PduStatus.Malformed && !ModbusFunctions.IsDefinedException(resp.ExceptionCode))
            {
                bits |= Bit(ModbusAnomaly.InvalidExceptionCode);
            }

            return bits;
        }

        if (status == PduStatus.Malformed)
        {
            return bits;
        }

        switch (resp.Function)
        {
            case ModbusFunction.ReadCoils:
            case ModbusFunction.ReadDiscreteInputs:
                if (requestUsable && resp.ByteCount != (req.Quantity + 7) / 8)
                {
                    bits |= Bit(ModbusAnomaly.ByteCountMismatch);
                }

                break;
            case ModbusFunction.ReadHoldingRegisters:
            case ModbusFunction.ReadInputRegisters:
            case ModbusFunction.ReadWriteMultipleRegisters:
                if ((resp.ByteCount & 1) != 0 || (requestUsable && resp.ByteCount != req.Quantity * 2))
                {
                    bits |= Bit(ModbusAnomaly.ByteCountMismatch);
                }

                break;
            case ModbusFunction.WriteSingleCoil:
                if (resp.Value is not 0x0000 and not 0xFF00)
                {
                    bits |= Bit(ModbusAnomaly.InvalidCoilValue);
                }

                if (requestUsable && (resp.Address != req.Address || resp.Value != req.Value))
                {
                    bits |= Bit(ModbusAnomaly.EchoMismatch);
                }

                break;
            case ModbusFunction.WriteSingleRegister:
                if (requestUsable && (resp.Address != req.Address || resp.Value != req.Value))
                {
                    bits |= Bit(ModbusAnomaly.EchoMismatch);
                }

                break;
            case ModbusFunction.WriteMultipleCoils:
            case ModbusFunction.WriteMultipleRegisters:
                if (requestUsable && (resp.Address != req.Address || resp.Quantity != req.Quantity))
                {
                    bits |= Bit(ModbusAnomaly.EchoMismatch);
                }

                break;
            case ModbusFunction.MaskWriteRegister:
                if (requestUsable && (resp.Address != req.Address || resp.AndMask != req.AndMask || resp.OrMask != req.OrMask))
                {
                    bits |= Bit(ModbusAnomaly.EchoMismatch);
                }

                break;
            case ModbusFunction.Diagnostics:
                if (requestUsable && resp.SubFunction != req.SubFunction)
                {
                    bits |= Bit(ModbusAnomaly.EchoMismatch);
                }

                break;
            case ModbusFunction.ReadFifoQueue:
                if (resp.FifoCount > 31)
                {
                    bits |= Bit(ModbusAnomaly.IllegalQuantity);
                }

                if (resp.ByteCount != 2 + (resp.FifoCount * 2))
                {
                    bits |= Bit(ModbusAnomaly.ByteCountMismatch);
                }

                break;
            case ModbusFunction.EncapsulatedInterfaceTransport:
                if (resp.SubFunction == ModbusFunctions.MeiReadDeviceIdentification)
                {
                    if (resp.ReadDeviceIdCode is < 1 or > 4 || resp.MoreFollows is not 0x00 and not 0xFF)
                    {
                        bits |= Bit(ModbusAnomaly.InvalidDeviceIdentification);
                    }
                }
                else if (resp.SubFunction != ModbusFunctions.MeiCanOpen)
                {
                    bits |= Bit(ModbusAnomaly.InvalidSubFunction);
                }

                if (requestUsable && resp.SubFunction != req.SubFunction)
                {
                    bits |= Bit(ModbusAnomaly.EchoMismatch);
                }

                break;
        }

        return bits;
    }
}
