namespace OtSensor.Protocols.Coap;

/// <summary>Payload heuristic for CoAP over UDP on ports other than 5683. Strict: DNS, NTP, SNMP, random data never match.</summary>
public static class CoapProbe
{
    /// <summary>
    /// True when <paramref name="payload"/> is one well-formed CoAP message: version 1, token length ≤ 8, an assigned
    /// code of class 0, 2, 4 or 5 (0.00 only as an exact 4-byte Empty ACK/RST/CON), a type consistent with the code,
    /// only known options with valid lengths (no option 0), and a payload marker followed by a payload.
    /// </summary>
    public static bool LooksLikeCoap(ReadOnlySpan<byte> payload)
    {
        if (CoapReader.TryRead(payload, out var m, out _) != CoapReadStatus.Ok)
        {
            return false;
        }

        var h = m.Header;
        if (h.IsEmpty)
        {
            return payload.Length == CoapReader.HeaderLength && h.Type != CoapMessageType.NonConfirmable;
        }

        if (h.CodeClass is not (0 or 2 or 4 or 5) || !CoapReader.IsAssignedCode(h.Code))
        {
            return false;
        }

        if (h.Type == CoapMessageType.Reset || (h.IsRequest && h.Type == CoapMessageType.Acknowledgement))
        {
            return false;
        }

        ulong bits = CoapValidation.Check(m, out var s);
        const ulong Fatal = (1UL << (int)CoapAnomaly.InvalidOption) | (1UL << (int)CoapAnomaly.RepeatedOption)
            | (1UL << (int)CoapAnomaly.InvalidBlockSize) | (1UL << (int)CoapAnomaly.Malformed);
        return (bits & Fatal) == 0 && s.UnknownOptions == 0;
    }
}
