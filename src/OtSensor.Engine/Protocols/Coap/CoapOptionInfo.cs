namespace OtSensor.Protocols.Coap;

/// <summary>Value formats of CoAP options (RFC 7252 §3.2).</summary>
public enum CoapOptionFormat : byte
{
    Unknown = 0,
    Empty = 1,
    Opaque = 2,
    Uint = 3,
    String = 4,
}

/// <summary>Option numbers the dissector knows (RFC 7252, 7641, 7959, 7967, 8613, 8768, 9175, 9177, 9668).</summary>
public static class CoapOptionNumber
{
    public const int IfMatch = 1;
    public const int UriHost = 3;
    public const int ETag = 4;
    public const int IfNoneMatch = 5;
    public const int Observe = 6;
    public const int UriPort = 7;
    public const int LocationPath = 8;
    public const int Oscore = 9;
    public const int UriPath = 11;
    public const int ContentFormat = 12;
    public const int MaxAge = 14;
    public const int UriQuery = 15;
    public const int HopLimit = 16;
    public const int Accept = 17;
    public const int QBlock1 = 19;
    public const int LocationQuery = 20;
    public const int Edhoc = 21;
    public const int Block2 = 23;
    public const int Block1 = 27;
    public const int Size2 = 28;
    public const int QBlock2 = 31;
    public const int ProxyUri = 35;
    public const int ProxyScheme = 39;
    public const int Size1 = 60;
    public const int Echo = 252;
    public const int NoResponse = 258;
    public const int RequestTag = 292;
}

/// <summary>Definition of one known option: name, value format, allowed value length, repeatable.</summary>
public readonly record struct CoapOptionInfo(int Number, string Name, CoapOptionFormat Format, int MinLength, int MaxLength, bool Repeatable)
{
    public bool IsKnown => Format != CoapOptionFormat.Unknown;

    /// <summary>Critical options have an odd number (RFC 7252 §5.4.6).</summary>
    public static bool IsCritical(int number) => (number & 1) != 0;

    /// <summary>Unsafe-to-forward options have bit 1 set.</summary>
    public static bool IsUnsafe(int number) => (number & 2) != 0;

    /// <summary>NoCacheKey options: bits 2-4 all set (only meaningful for safe-to-forward options).</summary>
    public static bool IsNoCacheKey(int number) => (number & 0x1E) == 0x1C;
}

/// <summary>The table of known options.</summary>
public static class CoapOptionTable
{
    private static readonly CoapOptionInfo[] Known =
    [
        new(CoapOptionNumber.IfMatch, "If-Match", CoapOptionFormat.Opaque, 0, 8, true),
        new(CoapOptionNumber.UriHost, "Uri-Host", CoapOptionFormat.String, 1, 255, false),
        new(CoapOptionNumber.ETag, "ETag", CoapOptionFormat.Opaque, 1, 8, true),
        new(CoapOptionNumber.IfNoneMatch, "If-None-Match", CoapOptionFormat.Empty, 0, 0, false),
        new(CoapOptionNumber.Observe, "Observe", CoapOptionFormat.Uint, 0, 3, false),
        new(CoapOptionNumber.UriPort, "Uri-Port", CoapOptionFormat.Uint, 0, 2, false),
        new(CoapOptionNumber.LocationPath, "Location-Path", CoapOptionFormat.String, 0, 255, true),
        new(CoapOptionNumber.Oscore, "OSCORE", CoapOptionFormat.Opaque, 0, 255, false),
        new(CoapOptionNumber.UriPath, "Uri-Path", CoapOptionFormat.String, 0, 255, true),
        new(CoapOptionNumber.ContentFormat, "Content-Format", CoapOptionFormat.Uint, 0, 2, false),
        new(CoapOptionNumber.MaxAge, "Max-Age", CoapOptionFormat.Uint, 0, 4, false),
        new(CoapOptionNumber.UriQuery, "Uri-Query", CoapOptionFormat.String, 0, 255, true),
        new(CoapOptionNumber.HopLimit, "Hop-Limit", CoapOptionFormat.Uint, 1, 1, false),
        new(CoapOptionNumber.Accept, "Accept", CoapOptionFormat.Uint, 0, 2, false),
        new(CoapOptionNumber.QBlock1, "Q-Block1", CoapOptionFormat.Uint, 0, 3, false),
        new(CoapOptionNumber.LocationQuery, "Location-Query", CoapOptionFormat.String, 0, 255, true),
        new(CoapOptionNumber.Edhoc, "EDHOC", CoapOptionFormat.Empty, 0, 0, false),
        new(CoapOptionNumber.Block2, "Block2", CoapOptionFormat.Uint, 0, 3, false),
        new(CoapOptionNumber.Block1, "Block1", CoapOptionFormat.Uint, 0, 3, false),
        new(CoapOptionNumber.Size2, "Size2", CoapOptionFormat.Uint, 0, 4, false),
        new(CoapOptionNumber.QBlock2, "Q-Block2", CoapOptionFormat.Uint, 0, 3, true),
        new(CoapOptionNumber.ProxyUri, "Proxy-Uri", CoapOptionFormat.String, 1, 1034, false),
        new(CoapOptionNumber.ProxyScheme, "Proxy-Scheme", CoapOptionFormat.String, 1, 255, false),
        new(CoapOptionNumber.Size1, "Size1", CoapOptionFormat.Uint, 0, 4, false),
        new(CoapOptionNumber.Echo, "Echo", CoapOptionFormat.Opaque, 1, 40, false),
        new(CoapOptionNumber.NoResponse, "No-Response", CoapOptionFormat.Uint, 0, 1, false),
        new(CoapOptionNumber.RequestTag, "Request-Tag", CoapOptionFormat.Opaque, 0, 8, true),
    ];

    private static readonly CoapOptionInfo[] ByNumber = Build();

    private static CoapOptionInfo[] Build()
    {
        var t = new CoapOptionInfo[293];
        foreach (var o in Known)
        {
            t[o.Number] = o;
        }

        return t;
    }

    /// <summary>All known options, ascending by number.</summary>
    public static IReadOnlyList<CoapOptionInfo> All => Known;

    /// <summary>Definition of an option; unknown numbers get a generic entry with <see cref="CoapOptionFormat.Unknown"/>.</summary>
    public static CoapOptionInfo Info(int number)
    {
        if ((uint)number < (uint)ByNumber.Length && ByNumber[number].Name is not null)
        {
            return ByNumber[number];
        }

        return new CoapOptionInfo(number, "Unknown", CoapOptionFormat.Unknown, 0, 65535 + 269, true);
    }

    public static bool IsKnown(int number) => (uint)number < (uint)ByNumber.Length && ByNumber[number].Name is not null;

    /// <summary>The option's name ("Uri-Path"), or "Unknown".</summary>
    public static string Name(int number) => Info(number).Name;
}
