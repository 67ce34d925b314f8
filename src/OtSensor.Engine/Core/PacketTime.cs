using System.Globalization;

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
        var dto = ToDateTimeOffset(ns);
        return dto.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
    }

    /// <summary>Writes RFC 3339 UTC with microseconds into <paramref name="dst"/> (27 bytes).</summary>
    public static int FormatRfc3339(long ns, Span<byte> dst)
    {
        var dt = ToDateTimeOffset(ns).UtcDateTime;
        dt.TryFormat(dst, out int written, "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
        return written;
    }
}
