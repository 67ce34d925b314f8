using OtSensor.Core;

namespace OtSensor.Tests;

public class CoreTypeTests
{
    [Fact]
    public void IpAddr_V4_RoundTripsThroughText()
    {
        var a = IpAddr.Parse("192.168.1.20");
        Assert.True(a.IsV4);
        Assert.Equal("192.168.1.20", a.ToString());
    }

    [Fact]
    public void IpAddr_V6_RoundTripsThroughText()
    {
        var a = IpAddr.Parse("fe80::1");
        Assert.False(a.IsV4);
        Assert.Equal("fe80::1", a.ToString());
    }

    [Fact]
    public void MacAddress_FormatsLowerCaseColonSeparated()
    {
        var m = MacAddress.Read(new byte[] { 0x00, 0x1D, 0x9C, 0xAB, 0xCD, 0xEF });
        Assert.Equal("00:1d:9c:ab:cd:ef", m.ToString());
        Assert.False(m.IsMulticast);
        Assert.False(m.IsLocallyAdministered);
        Assert.Equal(0x001D9Cu, m.Oui);
    }
}
