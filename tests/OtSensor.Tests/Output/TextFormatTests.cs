using System.Text;
using OtSensor.Core;

namespace OtSensor.Tests.Output;

public class IpAddrFormatTests
{
    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("1.2.3.4")]
    [InlineData("10.0.99.100")]
    [InlineData("192.168.1.255")]
    [InlineData("255.255.255.255")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("fe80::1:2:3:4")]
    [InlineData("2001:db8:0:0:1:0:0:1")]
    [InlineData("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    [InlineData("::ffff:0:1.2.3.4")]
    public void FormatUtf8_WritesTheSameTextAsToString(string text)
    {
        var ip = IpAddr.Parse(text);
        Span<byte> buf = stackalloc byte[64];
        int n = ip.FormatUtf8(buf);
        Assert.Equal(ip.ToString(), Encoding.UTF8.GetString(buf[..n]));
        // Both are the text System.Net gives the address.
        Assert.Equal(System.Net.IPAddress.Parse(text).ToString(), ip.ToString());
    }

    [Fact]
    public void FormatUtf8_MatchesToString_ForEveryOctetValue()
    {
        Span<byte> buf = stackalloc byte[64];
        for (uint o = 0; o < 256; o++)
        {
            uint v = (o << 24) | ((255 - o) << 16) | ((o * 7 & 0xFF) << 8) | (o / 3);
            var ip = IpAddr.FromV4(v);
            int n = ip.FormatUtf8(buf);
            string expected = $"{v >> 24}.{(v >> 16) & 0xFF}.{(v >> 8) & 0xFF}.{v & 0xFF}";
            Assert.Equal(expected, Encoding.UTF8.GetString(buf[..n]));
            Assert.Equal(expected, ip.ToString());
        }
    }
}

public class PacketTimeFormatTests
{
    private static string Reference(long ns)
        => DateTimeOffset.UnixEpoch.AddTicks(ns / 100).UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    [Theory]
    [InlineData(0L)]
    [InlineData(1L)]
    [InlineData(999L)]
    [InlineData(1_700_000_000_123_456_789L)]
    [InlineData(-1L)]
    [InlineData(-150L)]
    [InlineData(long.MinValue)] // 1677-09-21
    [InlineData(long.MaxValue)] // 2262-04-11
    [InlineData(951_782_400_000_000_000L)]           // 2000-02-29, a leap day
    public void ToRfc3339_MatchesTheCustomFormat(long ns)
    {
        Assert.Equal(Reference(ns), PacketTime.ToRfc3339(ns));
        Span<byte> b = stackalloc byte[PacketTime.Rfc3339Length];
        Assert.Equal(PacketTime.Rfc3339Length, PacketTime.FormatRfc3339(ns, b));
        Assert.Equal(Reference(ns), System.Text.Encoding.ASCII.GetString(b));
    }

    [Fact]
    public void ToRfc3339_MatchesTheCustomFormat_OverManyTimes()
    {
        var rng = new Random(20261204);
        for (int i = 0; i < 20_000; i++)
        {
            long ns = rng.NextInt64(long.MinValue, long.MaxValue);
            Assert.Equal(Reference(ns), PacketTime.ToRfc3339(ns));
        }
    }
}
