namespace OtSensor.Core;

/// <summary>Packet time: nanoseconds since the Unix epoch, UTC.</summary>
public static class PacketTime
{
    public const long NanosPerSecond = 1_000_000_000L;
    public const long NanosPerMilli = 1_000_000L;

    public static DateTimeOffset ToDateTimeOffset(long ns)
        => DateTimeOffset.UnixEpoch.AddTicks(ns / 100);

    /// <summary>RFC 3339 UTC with microseconds, e.g. 2024-01-02T03:04:05.123456Z.</summary>
    public static string ToRfc3339(long ns)
    {
        Span<byte> b = stackalloc byte[Rfc3339Length];
        FormatRfc3339(ns, b);
        return string.Create(Rfc3339Length, b, static (c, bytes) =>
        {
            for (int i = 0; i < c.Length; i++) c[i] = (char)bytes[i];
        });
    }

    /// <summary>Length of <see cref="ToRfc3339"/>'s text.</summary>
    public const int Rfc3339Length = 27;

    /// <summary>
    /// Writes <see cref="ToRfc3339"/>'s text as ASCII into <paramref name="dst"/> (27 bytes); returns 27. Formatted by
    /// hand: the culture-aware custom format it replaces cost about 3,000 instructions per time in the summaries.
    /// </summary>
    public static int FormatRfc3339(long ns, Span<byte> dst)
    {
        var dt = ToDateTimeOffset(ns).UtcDateTime;
        dst = dst[..Rfc3339Length];
        Put(dst, 0, dt.Year, 4);
        dst[4] = (byte)'-';
        Put(dst, 5, dt.Month, 2);
        dst[7] = (byte)'-';
        Put(dst, 8, dt.Day, 2);
        dst[10] = (byte)'T';
        Put(dst, 11, dt.Hour, 2);
        dst[13] = (byte)':';
        Put(dst, 14, dt.Minute, 2);
        dst[16] = (byte)':';
        Put(dst, 17, dt.Second, 2);
        dst[19] = (byte)'.';
        Put(dst, 20, (int)(dt.Ticks % TimeSpan.TicksPerSecond / 10), 6);
        dst[26] = (byte)'Z';
        return Rfc3339Length;
    }

    private static void Put(Span<byte> d, int at, int value, int digits)
    {
        for (int i = at + digits - 1; i >= at; i--)
        {
            d[i] = (byte)('0' + (value % 10));
            value /= 10;
        }
    }
}
