using System.Text.Unicode;

namespace OtSensor.Protocols.Coap;

/// <summary>The options a session needs for matching and transfers, read in one pass.</summary>
public struct CoapSummary
{
    public bool HasObserve;
    public uint Observe;
    public bool HasBlock1;
    public CoapBlock Block1;
    public bool HasBlock2;
    public CoapBlock Block2;
    /// <summary>Content-Format, or -1.</summary>
    public int ContentFormat;
    /// <summary>Accept, or -1.</summary>
    public int Accept;
    /// <summary>FNV-1a hash of Uri-Host, Uri-Port, Uri-Path and Uri-Query (the resource a block-wise transfer is about).</summary>
    public uint ResourceHash;
    /// <summary>Unknown options seen.</summary>
    public int UnknownOptions;
}

/// <summary>Checks a read message against RFC 7252 / 7959 rules and summarises it. Never throws.</summary>
public static class CoapValidation
{
    private const uint FnvOffset = 2166136261;
    private const uint FnvPrime = 16777619;

    /// <summary>Anomaly bits of a message whose header and token are usable (status Ok or FormatError).</summary>
    public static ulong Check(scoped in CoapMessage m, out CoapSummary s)
    {
        s = default;
        s.ContentFormat = -1;
        s.Accept = -1;
        ulong bits = 0;
        var h = m.Header;
        if (m.FormatError != CoapAnomaly.None)
        {
            bits |= CoapAnomalies.Bit(CoapAnomaly.Malformed) | CoapAnomalies.Bit(m.FormatError);
        }

        if (h.IsEmpty && (h.TokenLength != 0 || !m.AfterToken.IsEmpty || h.Type == CoapMessageType.NonConfirmable))
        {
            bits |= CoapAnomalies.Bit(CoapAnomaly.Malformed) | CoapAnomalies.Bit(CoapAnomaly.InvalidEmptyMessage);
        }

        if (!CoapReader.IsAssignedCode(h.Code))
        {
            bits |= CoapAnomalies.Bit(CoapAnomaly.ReservedCode);
        }

        if ((h.IsRequest && h.Type is CoapMessageType.Acknowledgement or CoapMessageType.Reset)
            || (!h.IsEmpty && h.Type == CoapMessageType.Reset))
        {
            bits |= CoapAnomalies.Bit(CoapAnomaly.InvalidMessageType);
        }

        uint hash = FnvOffset;
        int previous = -1;
        var r = m.Options;
        while (r.TryRead(out var o))
        {
            int n = o.Number;
            var info = CoapOptionTable.Info(n);
            if (!info.IsKnown)
            {
                s.UnknownOptions++;
                if (o.IsCritical)
                {
                    bits |= CoapAnomalies.Bit(CoapAnomaly.UnknownCriticalOption);
                }

                previous = n;
                continue;
            }

            if (n == previous && !info.Repeatable)
            {
                bits |= CoapAnomalies.Bit(CoapAnomaly.RepeatedOption);
            }

            previous = n;
            var v = o.Value;
            if (v.Length < info.MinLength || v.Length > info.MaxLength
                || (info.Format == CoapOptionFormat.String && !Utf8.IsValid(v)))
            {
                bits |= CoapAnomalies.Bit(CoapAnomaly.InvalidOption);
            }

            switch (n)
            {
                case CoapOptionNumber.Observe:
                    s.HasObserve = true;
                    s.Observe = o.Uint;
                    break;
                case CoapOptionNumber.Block1:
                case CoapOptionNumber.Block2:
                case CoapOptionNumber.QBlock1:
                case CoapOptionNumber.QBlock2:
                    var b = CoapBlock.Decode(o.Uint);
                    if (b.IsReservedSize)
                    {
                        bits |= CoapAnomalies.Bit(CoapAnomaly.InvalidBlockSize);
                    }

                    if (n == CoapOptionNumber.Block1)
                    {
                        s.HasBlock1 = true;
                        s.Block1 = b;
                    }
                    else if (n == CoapOptionNumber.Block2)
                    {
                        s.HasBlock2 = true;
                        s.Block2 = b;
                    }

                    break;
                case CoapOptionNumber.ContentFormat:
                    s.ContentFormat = (int)Math.Min(o.Uint, 65535);
                    break;
                case CoapOptionNumber.Accept:
                    s.Accept = (int)Math.Min(o.Uint, 65535);
                    break;
                case CoapOptionNumber.UriHost:
                case CoapOptionNumber.UriPort:
                case CoapOptionNumber.UriPath:
                case CoapOptionNumber.UriQuery:
                    hash = (hash ^ (uint)n) * FnvPrime;
                    foreach (byte c in v)
                    {
                        hash = (hash ^ c) * FnvPrime;
                    }

                    break;
            }
        }

        s.ResourceHash = hash;
        return bits;
    }
}
