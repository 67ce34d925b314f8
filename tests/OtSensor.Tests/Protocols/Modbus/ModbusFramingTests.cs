using OtSensor.Protocols.Modbus;
using static OtSensor.Tests.Protocols.Modbus.ModbusTestData;

namespace OtSensor.Tests.Protocols.Modbus;

public class ModbusFramingTests
{
    public static TheoryData<string> Adus()
    {
        var data = new TheoryData<string>();
        // A write-echo response equals its request: list each distinct ADU once.
        foreach (var adu in CapturePairs.SelectMany(p => new[] { p.Request, p.Response }).Distinct(StringComparer.Ordinal))
        {
            data.Add(adu);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Adus))]
    public void Mbap_NeedsMoreData_ForEveryPrefixShorterThanSeven_ThenKnowsTheLength(string hex)
    {
        var adu = Hex(hex);
        for (int i = 0; i < adu.Length; i++)
        {
            var status = ModbusFraming.TryGetAduLength(adu.AsSpan(0, i), out int length);
            if (i < 7)
            {
                Assert.Equal(FrameStatus.NeedMoreData, status);
            }
            else
            {
                Assert.Equal(FrameStatus.Complete, status);
                Assert.Equal(adu.Length, length);
                Assert.True(i < length, "a prefix is never a whole ADU");
            }
        }

        Assert.Equal(FrameStatus.Complete, ModbusFraming.TryGetAduLength(adu, out int whole));
        Assert.Equal(adu.Length, whole);
    }

    [Theory]
    [InlineData("00010000000004")]
    [InlineData("00010000000104")]
    public void Mbap_IsInvalid_WhenLengthBelowTwo(string hex)
        => Assert.Equal(FrameStatus.Invalid, ModbusFraming.TryGetAduLength(Hex(hex), out _));

    [Fact]
    public void Mbap_ReportsOversizeLength_ForTheCallerToSkip()
    {
        Assert.Equal(FrameStatus.Complete, ModbusFraming.TryGetAduLength(Hex("0001000001000103"), out int len));
        Assert.Equal(256 + 6, len);
        Assert.True(len > ModbusFraming.MaxAduLength);
        Assert.Equal(FrameStatus.Complete, ModbusFraming.TryGetAduLength(Hex("0001 0000 ffff 01 03"), out int max));
        Assert.Equal(ModbusFraming.MaxDeclaredAduLength, max);
    }

    [Fact]
    public void Mbap_HeaderFields_AndKey()
    {
        Assert.True(ModbusFraming.TryReadHeader(Hex("1234000000060503"), out var h));
        Assert.Equal(0x1234, h.TransactionId);
        Assert.Equal(0, h.ProtocolId);
        Assert.Equal(6, h.Length);
        Assert.Equal(5, h.UnitId);
        Assert.Equal(0x1234u | (5u << 16), h.Key);
        Assert.False(ModbusFraming.TryReadHeader(Hex("123400000006"), out _));
    }

    [Theory]
    [InlineData("0001000000060103", true, true)]
    [InlineData("0001000000060183", true, false)]
    [InlineData("0001000000060183", false, true)]
    [InlineData("0001000100060103", true, false)]
    [InlineData("0001000001000103", true, false)]
    [InlineData("0001000000060100", true, false)]
    [InlineData("0001000000060141", true, true)]
    public void PlausibleHeader_RequiresProtocolZero_LengthInRange_AndAKnownFunction(string hex, bool request, bool expected)
        => Assert.Equal(expected, ModbusFraming.IsPlausibleHeader(Hex(hex), request));
}
