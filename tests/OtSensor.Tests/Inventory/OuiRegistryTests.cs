using OtSensor.Core;
using OtSensor.Inventory;

namespace OtSensor.Tests.Inventory;

public class OuiRegistryTests
{
    private static MacAddress Mac(string s) => new(Convert.ToUInt64(s.Replace(":", "", StringComparison.Ordinal), 16));

    [Fact]
    public void Default_ReadsTheIeeeRegistryDebianShips()
    {
        var reg = OuiRegistry.Default;
        Assert.True(reg.Count > 10000);
        Assert.Equal(OuiRegistry.IeeeOuiPath, reg.Source);
        Assert.Equal("Rockwell Automation", reg.Vendor(Mac("08:61:95:12:34:56")));
    }

    [Fact]
    public void FallsBackToWiresharkManuf_WhenTheIeeeFileIsMissing()
    {
        var reg = OuiRegistry.Load("/nonexistent/oui.txt", OuiRegistry.WiresharkManufPath);
        Assert.Equal(OuiRegistry.WiresharkManufPath, reg.Source);
        Assert.Equal("ABB Automation AB, Dept. Q", reg.Vendor(Mac("00:00:23:00:00:01")));
    }

    [Fact]
    public void LabelsLocallyAdministeredMulticastAndBroadcast()
    {
        var reg = OuiRegistry.Default;
        Assert.Equal(OuiRegistry.LocallyAdministered, reg.Describe(Mac("02:00:0a:14:00:00")));
        Assert.Equal(OuiRegistry.Multicast, reg.Describe(Mac("01:00:5e:00:00:01")));
        Assert.Equal(OuiRegistry.Broadcast, reg.Describe(Mac("ff:ff:ff:ff:ff:ff")));
        Assert.Null(reg.Vendor(Mac("02:00:0a:14:00:00")));
        Assert.Null(reg.Describe(default));
    }

    [Fact]
    public void Parse_SkipsMalformedLines_AndStripsControlCharacters()
    {
        var reg = OuiRegistry.Parse("garbage\n(base 16) x\nZZZZZZ     (base 16)\t\tNope\n001122     (base 16)\t\tGood\u0007 Corp\n00:11:33\tShort\tManuf Inc.\n00:11:44:50/28\tSub\tSub Block\n");
        Assert.Equal(2, reg.Count);
        Assert.Equal("Good  Corp", reg.Vendor(Mac("00:11:22:00:00:00")));
        Assert.Equal("Manuf Inc.", reg.Vendor(Mac("00:11:33:00:00:00")));
        Assert.Null(reg.Vendor(Mac("00:11:44:50:00:00")));
        Assert.Null(OuiRegistry.Load("/nonexistent/a", "/nonexistent/b").Source);
    }
}
