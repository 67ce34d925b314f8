namespace OtSensor.Protocols.Coap;

/// <summary>Payload heuristic for CoAP over UDP on ports other than 5683. Strict: DNS, NTP, SNMP, random data never match.</summary>
public static class CoapProbe
{
    /// <summary>
    /// True when <paramref name="payload"/> is one well-formed CoAP message: version 1, token length ≤ 8, an assigned
    /// code of class 0, 2, 4 or 5 (0.00 only as an exact 4-byte Empty ACK/RST/CON), a type consistent with the code,
    /// only known options with valid lengths (no option 0), and a payload marker followed by a payload. A request
    /// carries at least one option; requests carry no response-only option (Location-*, Max-Age) and responses no
    /// request-only option (Uri-*, Proxy-*, Accept, If-*, Hop-Limit, No-Response).
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
        if ((bits & Fatal) != 0 || s.UnknownOptions != 0)
        {
            return false;
        }

        // An error response without Content-Format carries a diagnostic payload: UTF-8 text (RFC 7252 §5.5.2).
        if (h.CodeClass is 4 or 5 && s.ContentFormat < 0 && !System.Text.Unicode.Utf8.IsValid(m.Payload))
        {
            return false;
        }

        // A request names its resource (at least one option); options stay on their side of the exchange.
        if (h.IsRequest && m.OptionCount == 0)
        {
            return false;
        }

        var r = m.Options;
        while (r.TryRead(out var o))
        {
            if (h.IsRequest ? IsResponseOnly(o.Number) : IsRequestOnly(o.Number))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsRequestOnly(int n) => n is CoapOptionNumber.UriHost or CoapOptionNumber.UriPort or CoapOptionNumber.UriPath
        or CoapOptionNumber.UriQuery or CoapOptionNumber.ProxyUri or CoapOptionNumber.ProxyScheme or CoapOptionNumber.Accept
        or CoapOptionNumber.IfMatch or CoapOptionNumber.IfNoneMatch or CoapOptionNumber.HopLimit or CoapOptionNumber.NoResponse;

    private static bool IsResponseOnly(int n) => n is CoapOptionNumber.LocationPath or CoapOptionNumber.LocationQuery or CoapOptionNumber.MaxAge;
}
