using System.Text;
using OtSensor.Core;
using OtSensor.Inventory;
using OtSensor.Store;

namespace OtSensor.Tests.Store;

/// <summary>The store's keys and addresses formatted as UTF-8 are the bytes of their string forms.</summary>
public class Utf8KeyTests
{
    private static readonly IpAddr[] s_ips =
    [
        default, IpAddr.FromV4(0), IpAddr.FromV4(0x0A000001), IpAddr.FromV4(0xFFFFFFFF), IpAddr.FromV4(0xC0A86405), IpAddr.FromV4(0x01020304),
        IpAddr.Parse("fe80::1"), IpAddr.Parse("2001:db8:85a3::8a2e:370:7334"), IpAddr.Parse("::ffff:0:0"), IpAddr.Parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        IpAddr.Parse("::"), IpAddr.Parse("::1"), IpAddr.Parse("64:ff9b::192.0.2.33"),
    ];

    private static readonly MacAddress[] s_macs = [default, new(1), new(0x0123456789AB), new(0xFFFFFFFFFFFF), new(0xA0B0C0D0E0F0)];

    [Fact]
    public void Addresses_AsUtf8_AreTheirText()
    {
        Span<byte> buf = stackalloc byte[IpAddr.MaxTextLength];
        foreach (var ip in s_ips) Assert.Equal(ip.ToString(), Encoding.UTF8.GetString(buf[..ip.FormatUtf8(buf)]));
        foreach (var mac in s_macs) Assert.Equal(mac.ToString(), Encoding.UTF8.GetString(buf[..mac.FormatUtf8(buf)]));
        Assert.Equal("01:23:45:67:89:ab", new MacAddress(0x0123456789AB).ToString());
    }

    [Fact]
    public void Keys_AsUtf8_AreTheKeyText()
    {
        Span<byte> buf = stackalloc byte[InventoryStore.MaxLinkKeyLength];
        foreach (var mac in s_macs)
            foreach (var ip in s_ips)
                Assert.Equal(InventoryStore.EndpointKey(mac, ip), Encoding.UTF8.GetString(buf[..InventoryStore.EndpointKeyUtf8(mac, ip, buf)]));
        foreach (var (transport, port) in new[] { ("tcp", 502), ("udp", 5683), ("tcp", 0), ("udp", 65535), ("sctp-long", 7), ("tcp", int.MinValue) })
        {
            var l = new LinkState
            {
                ClientMac = s_macs[2], ClientIp = s_ips[9], ServerMac = s_macs[3], ServerIp = s_ips[12], Transport = transport, Port = port,
            };
            Assert.Equal(InventoryStore.LinkKeyText(l), Encoding.UTF8.GetString(buf[..InventoryStore.LinkKeyUtf8(l, buf)]));
        }
    }
}
