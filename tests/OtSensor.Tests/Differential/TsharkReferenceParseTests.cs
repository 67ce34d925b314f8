namespace OtSensor.Tests.Differential;

public class TsharkReferenceParseTests
{
    [Fact]
    public void Parse_CountsEveryAduOfAFrame_AndStripsTheExceptionBit()
    {
        // frame 1: two requests in one segment; frame 2: a normal and an exception response; frame 3: not Modbus.
        const string Fields =
            "1\t40000\t502\t1,2\t1,17\t3,4\t\n" +
            "2\t502\t40000\t1,2\t1,17\t3,4\t2\n" +
            "3\t40000\t502\t\t\t\t\n";

        var r = TsharkReference.Parse("x.pcap", Fields, [502]);

        Assert.Equal(3, r.Frames);
        Assert.Equal("3:2;4:2", ModbusReference.Format(r.PdusByFunctionCode));
        Assert.Equal("2:1", ModbusReference.Format(r.ExceptionsByCode));
        Assert.Equal(2, r.Requests);
        Assert.Equal(2, r.Responses);
        Assert.Equal(1, r.Adus[new ModbusAduKey(2, 17, ModbusDirection.Response)]);
        Assert.Equal(4, r.AduCount);
    }

    [Fact]
    public void Parse_DirectionIsUnknown_WhenBothPortsAreServerPorts()
    {
        var r = TsharkReference.Parse("x.pcap", "1\t502\t502\t7\t1\t3\t\n", [502]);

        Assert.Equal(1, r.UnknownDirection);
        Assert.Equal(0, r.Requests + r.Responses);
    }

    [Fact]
    public void ParseCounts_RoundTripsTheCsvFormat()
    {
        var counts = ModbusReference.ParseCounts("1:4;43:2;3:6");

        Assert.Equal("1:4;3:6;43:2", ModbusReference.Format(counts));
        Assert.Empty(ModbusReference.ParseCounts(""));
    }
}
