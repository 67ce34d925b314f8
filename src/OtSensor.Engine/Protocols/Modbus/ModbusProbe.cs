namespace OtSensor.Protocols.Modbus;

/// <summary>Payload heuristic for Modbus/TCP on ports other than 502. Strict: random data, HTTP, TLS, MQTT, DNS... never match.</summary>
public static class ModbusProbe
{
    private const int MaxAdusChecked = 32;

    /// <summary>
    /// True when <paramref name="payload"/> is exactly one or more whole Modbus ADUs: protocol id 0, length 2..254,
    /// a public function code (responses: also with the exception bit and a defined exception code), and a PDU whose
    /// size is exactly what its function needs.
    /// </summary>
    public static bool LooksLikeModbus(ReadOnlySpan<byte> payload, bool fromClient)
    {
        if (payload.Length < ModbusFraming.HeaderLength + 1)
        {
            return false;
        }

        int pos = 0;
        int checkedAdus = 0;
        while (pos < payload.Length)
        {
            if (checkedAdus++ >= MaxAdusChecked)
            {
                // Enough whole ADUs in a row: more evidence is not needed.
                return true;
            }

            var rest = payload[pos..];
            if (!ModbusFraming.IsPlausibleHeader(rest, fromClient))
            {
                return false;
            }

            byte fc = rest[7];
            if (!ModbusFunctions.IsPublic((byte)(fc & 0x7F)))
            {
                return false;
            }

            int adu = ((rest[4] << 8) | rest[5]) + 6;
            if (rest.Length < adu)
            {
                return false;
            }

            var pdu = rest.Slice(ModbusFraming.HeaderLength, adu - ModbusFraming.HeaderLength);
            if (fromClient)
            {
                var status = ModbusPduReader.TryReadRequest(pdu, out var req);
                if (status != PduStatus.Ok)
                {
                    return false;
                }

                ulong bits = ModbusValidation.CheckRequest(status, req);
                const ulong Fatal = (1UL << (int)ModbusAnomaly.IllegalQuantity) | (1UL << (int)ModbusAnomaly.ByteCountMismatch)
                    | (1UL << (int)ModbusAnomaly.InvalidSubFunction) | (1UL << (int)ModbusAnomaly.InvalidDeviceIdentification);
                if ((bits & Fatal) != 0)
                {
                    return false;
                }
            }
            else
            {
                var status = ModbusPduReader.TryReadResponse(pdu, 0, out var resp);
                if (status != PduStatus.Ok)
                {
                    return false;
                }

                if (resp.IsException && !ModbusFunctions.IsDefinedException(resp.ExceptionCode))
                {
                    return false;
                }
            }

            pos += adu;
        }

        return true;
    }
}
