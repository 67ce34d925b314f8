using System.Text;
using OtSensor.Protocols.Modbus;
using static OtSensor.Tests.Protocols.Modbus.ModbusTestData;

namespace OtSensor.Tests.Protocols.Modbus;

public class ModbusPduReaderTests
{
    public static TheoryData<string, string> Pairs()
    {
        var data = new TheoryData<string, string>();
        foreach (var (req, resp) in CapturePairs)
        {
            data.Add(req, resp);
        }

        return data;
    }

    private static ModbusRequest Req(string pduHex, out PduStatus status)
    {
        status = ModbusPduReader.TryReadRequest(Hex(pduHex), out var req);
        return req;
    }

    private static ModbusResponse Resp(string pduHex, byte requestFunction, out PduStatus status)
    {
        status = ModbusPduReader.TryReadResponse(Hex(pduHex), requestFunction, out var resp);
        return resp;
    }

    [Theory]
    [MemberData(nameof(Pairs))]
    public void CapturePairs_DecodeExactly_WithoutAnomalies(string reqHex, string respHex)
    {
        var reqPdu = Hex(reqHex).AsSpan(7);
        var respPdu = Hex(respHex).AsSpan(7);
        var rs = ModbusPduReader.TryReadRequest(reqPdu, out var req);
        var ps = ModbusPduReader.TryReadResponse(respPdu, req.FunctionByte, out var resp);
        Assert.Equal(PduStatus.Ok, rs);
        Assert.Equal(PduStatus.Ok, ps);
        Assert.Equal(0UL, ModbusValidation.CheckRequest(rs, req));
        Assert.Equal(0UL, ModbusValidation.CheckResponse(ps, resp, true, rs, req));
        Assert.Equal(req.FunctionByte, (byte)(resp.FunctionByte & 0x7F));
    }

    [Fact]
    public void ReadHoldingRegisters_RequestAndResponse()
    {
        var req = Req("03 0001 0008", out var s1);
        Assert.Equal(PduStatus.Ok, s1);
        Assert.Equal(ModbusFunction.ReadHoldingRegisters, req.Function);
        Assert.Equal(1, req.Address);
        Assert.Equal(8, req.Quantity);
        Assert.True(req.HasAddress && req.HasQuantity);
        var resp = Resp("03 10 00aa00aa00bb00ccef84e3eb9f8be4c1", 3, out var s2);
        Assert.Equal(PduStatus.Ok, s2);
        Assert.Equal(16, resp.ByteCount);
        Assert.Equal(Hex("00aa00aa00bb00ccef84e3eb9f8be4c1"), resp.Values.ToArray());
    }

    [Theory]
    [InlineData("01 0013 0013", 1, 0x13, 0x13)]
    [InlineData("02 00c4 0016", 2, 0xc4, 0x16)]
    [InlineData("04 0008 0001", 4, 8, 1)]
    public void ReadRequests_DecodeAddressAndQuantity(string pdu, int fc, int address, int quantity)
    {
        var req = Req(pdu, out var s);
        Assert.Equal(PduStatus.Ok, s);
        Assert.Equal((ModbusFunction)fc, req.Function);
        Assert.Equal(address, req.Address);
        Assert.Equal(quantity, req.Quantity);
    }

    [Fact]
    public void ReadCoils_Response_KeepsCoilBytes()
    {
        var resp = Resp("01 03 cd6b05", 1, out var s);
        Assert.Equal(PduStatus.Ok, s);
        Assert.Equal(3, resp.ByteCount);
        Assert.Equal(Hex("cd6b05"), resp.Values.ToArray());
    }

    [Fact]
    public void WriteSingleCoilAndRegister_DecodeValue_AndResponseEcho()
    {
        var coil = Req("05 00ac ff00", out _);
        Assert.Equal(0xac, coil.Address);
        Assert.Equal(0xff00, coil.Value);
        var reg = Resp("06 0001 0003", 6, out var s);
        Assert.Equal(PduStatus.Ok, s);
        Assert.Equal(1, reg.Address);
        Assert.Equal(3, reg.Value);
    }

    [Fact]
    public void ReadExceptionStatus_CommEventCounter_AndLog()
    {
        Assert.Equal(PduStatus.Ok, ModbusPduReader.TryReadRequest(Hex("07"), out _));
        Assert.Equal(0x6d, Resp("07 6d", 7, out _).Status);
        var counter = Resp("0b ffff 0108", 11, out var s11);
        Assert.Equal(PduStatus.Ok, s11);
        Assert.Equal(0xffff, counter.Status);
        Assert.Equal(0x108, counter.EventCount);
        var log = Resp("0c 08 0000 0108 0121 2000", 12, out var s12);
        Assert.Equal(PduStatus.Ok, s12);
        Assert.Equal(0x108, log.EventCount);
        Assert.Equal(0x121, log.MessageCount);
        Assert.Equal(Hex("2000"), log.Values.ToArray());
    }

    [Theory]
    [InlineData(0, "RETURN_QUERY_DATA")]
    [InlineData(1, "RESTART_COMMUNICATIONS_OPTION")]
    [InlineData(2, "RETURN_DIAGNOSTIC_REGISTER")]
    [InlineData(3, "CHANGE_ASCII_INPUT_DELIMITER")]
    [InlineData(4, "FORCE_LISTEN_ONLY_MODE")]
    [InlineData(10, "CLEAR_COUNTERS_AND_DIAGNOSTIC_REGISTER")]
    [InlineData(11, "RETURN_BUS_MESSAGE_COUNT")]
    [InlineData(12, "RETURN_BUS_COMMUNICATION_ERROR_COUNT")]
    [InlineData(13, "RETURN_BUS_EXCEPTION_ERROR_COUNT")]
    [InlineData(14, "RETURN_SERVER_MESSAGE_COUNT")]
    [InlineData(15, "RETURN_SERVER_NO_RESPONSE_COUNT")]
    [InlineData(16, "RETURN_SERVER_NAK_COUNT")]
    [InlineData(17, "RETURN_SERVER_BUSY_COUNT")]
    [InlineData(18, "RETURN_BUS_CHARACTER_OVERRUN_COUNT")]
    [InlineData(20, "CLEAR_OVERRUN_COUNTER_AND_FLAG")]
    public void Diagnostics_DecodesEverySubFunction_WithItsName(int sub, string name)
    {
        var pdu = new byte[] { 8, (byte)(sub >> 8), (byte)sub, 0xA5, 0x37 };
        Assert.Equal(PduStatus.Ok, ModbusPduReader.TryReadRequest(pdu, out var req));
        Assert.True(req.HasSubFunction);
        Assert.Equal(sub, req.SubFunction);
        Assert.Equal(Hex("a537"), req.Values.ToArray());
        Assert.Equal(name, ModbusFunctions.DiagnosticSubFunctionName((ushort)sub));
        Assert.Equal(0UL, ModbusValidation.CheckRequest(PduStatus.Ok, req));
        Assert.Equal(PduStatus.Ok, ModbusPduReader.TryReadResponse(pdu, 8, out var resp));
        Assert.Equal(sub, resp.SubFunction);
    }

    [Fact]
    public void WriteMultiple_DecodeByteCountAndValues()
    {
        var coils = Req("0f 0013 000a 02 cd01", out var s1);
        Assert.Equal(PduStatus.Ok, s1);
        Assert.Equal(0x13, coils.Address);
        Assert.Equal(10, coils.Quantity);
        Assert.Equal(2, coils.ByteCount);
        Assert.Equal(Hex("cd01"), coils.Values.ToArray());
        var regs = Req("10 0001 0002 04 000a 0102", out var s2);
        Assert.Equal(PduStatus.Ok, s2);
        Assert.Equal(Hex("000a0102"), regs.Values.ToArray());
        var echo = Resp("10 0001 0002", 16, out var s3);
        Assert.Equal(PduStatus.Ok, s3);
        Assert.Equal(2, echo.Quantity);
    }

    [Fact]
    public void ReportServerId_KeepsTheData()
    {
        var resp = Resp("11 03 aa ff 01", 17, out var s);
        Assert.Equal(PduStatus.Ok, s);
        Assert.Equal(Hex("aaff01"), resp.Values.ToArray());
    }

    [Fact]
    public void FileRecords_DecodeSubRequests_WithoutAnomalies()
    {
        var read = Req("14 0e 06 0004 0001 0002 06 0003 0009 0002", out var s1);
        Assert.Equal(PduStatus.Ok, s1);
        Assert.Equal(14, read.ByteCount);
        Assert.Equal(0UL, ModbusValidation.CheckRequest(s1, read));
        var readResp = Resp("14 0c 05 06 0df8 0020 05 06 33cd 0040", 20, out var s2);
        Assert.Equal(PduStatus.Ok, s2);
        Assert.Equal(12, readResp.Values.Length);
        var write = Req("15 0d 06 0004 0007 0003 06af 04be 100d", out var s3);
        Assert.Equal(PduStatus.Ok, s3);
        Assert.Equal(0UL, ModbusValidation.CheckRequest(s3, write));
        Assert.Equal(PduStatus.Ok, ModbusPduReader.TryReadResponse(Hex("15 0d 06 0004 0007 0003 06af 04be 100d"), 21, out _));
    }

    [Fact]
    public void MaskWrite_ReadWriteMultiple_AndFifo()
    {
        var mask = Req("16 0004 00f2 0025", out _);
        Assert.Equal(4, mask.Address);
        Assert.Equal(0xf2, mask.AndMask);
        Assert.Equal(0x25, mask.OrMask);
        var rw = Req("17 0003 0006 000e 0003 06 00ff 00ff 00ff", out var s);
        Assert.Equal(PduStatus.Ok, s);
        Assert.Equal(3, rw.Address);
        Assert.Equal(6, rw.Quantity);
        Assert.Equal(0xe, rw.WriteAddress);
        Assert.Equal(3, rw.WriteQuantity);
        Assert.Equal(6, rw.Values.Length);
        var fifoReq = Req("18 04de", out _);
        Assert.Equal(0x4de, fifoReq.Address);
        var fifo = Resp("18 0006 0002 01b8 1284", 24, out var fs);
        Assert.Equal(PduStatus.Ok, fs);
        Assert.Equal(6, fifo.ByteCount);
        Assert.Equal(2, fifo.FifoCount);
        Assert.Equal(Hex("01b81284"), fifo.Values.ToArray());
    }

    [Fact]
    public void ReadDeviceIdentification_DecodesHeaderAndObjects()
    {
        var req = Req("2b 0e 01 00", out var s);
        Assert.Equal(PduStatus.Ok, s);
        Assert.Equal(14, req.SubFunction);
        Assert.Equal(1, req.ReadDeviceIdCode);
        Assert.Equal(0, req.ObjectId);
        var respPdu = Hex(CapturePairs[20].Response).AsSpan(7);
        Assert.Equal(PduStatus.Ok, ModbusPduReader.TryReadResponse(respPdu, 0x2b, out var resp));
        Assert.Equal(0x83, resp.ConformityLevel);
        Assert.Equal(3, resp.NumberOfObjects);
        Assert.True(ModbusDeviceIdentification.TryParse(respPdu, out var id));
        var objects = new List<(byte, string)>();
        foreach (var o in id)
        {
            objects.Add((o.ObjectId, Encoding.ASCII.GetString(o.Value)));
        }

        Assert.Equal([(0, "Zeek Modbus Test"), (1, "Protocol Parsing is fun!"), (2, "1.2.3.6")], objects);
        Assert.False(id.MoreFollows);
        Assert.Equal("VendorName", ModbusDeviceIdentification.ObjectName(0));
        Assert.Equal("UserApplicationName", ModbusDeviceIdentification.ObjectName(6));
        Assert.Null(ModbusDeviceIdentification.ObjectName(0x80));
    }

    [Fact]
    public void ReadDeviceIdentification_MoreFollows_GivesTheNextObject()
    {
        var pdu = Hex("2b 0e 02 82 ff 02 02 00 03 616263 01 02 7879");
        Assert.Equal(PduStatus.Ok, ModbusPduReader.TryReadResponse(pdu, 0x2b, out var resp));
        Assert.Equal(0xff, resp.MoreFollows);
        Assert.True(ModbusDeviceIdentification.TryParse(pdu, out var id));
        Assert.True(id.MoreFollows);
        Assert.Equal(2, id.NextObjectId);
        int n = 0;
        foreach (var o in id)
        {
            n++;
            Assert.Equal(o.ObjectId == 0 ? 3 : 2, o.Value.Length);
        }

        Assert.Equal(2, n);
    }

    [Fact]
    public void ReadDeviceIdentification_LyingLengths_StopTheEnumerationAndAreMalformed()
    {
        var pdu = Hex("2b 0e 01 01 00 00 05 00 40 4142");
        Assert.Equal(PduStatus.Malformed, ModbusPduReader.TryReadResponse(pdu, 0x2b, out _));
        Assert.True(ModbusDeviceIdentification.TryParse(pdu, out var id));
        int n = 0;
        foreach (var o in id)
        {
            n++;
        }

        Assert.Equal(0, n);
        Assert.False(ModbusDeviceIdentification.TryParse(Hex("2b 0d 01"), out _));
    }

    [Fact]
    public void CanOpen_IsKeptRaw()
    {
        var req = Req("2b 0d 0102ff", out var s);
        Assert.Equal(PduStatus.Ok, s);
        Assert.Equal(13, req.SubFunction);
        Assert.Equal(Hex("0102ff"), req.Values.ToArray());
        Assert.Equal(0UL, ModbusValidation.CheckRequest(s, req));
    }

    [Theory]
    [InlineData(1, "ILLEGAL_FUNCTION")]
    [InlineData(2, "ILLEGAL_DATA_ADDRESS")]
    [InlineData(3, "ILLEGAL_DATA_VALUE")]
    [InlineData(4, "SERVER_DEVICE_FAILURE")]
    [InlineData(5, "ACKNOWLEDGE")]
    [InlineData(6, "SERVER_DEVICE_BUSY")]
    [InlineData(7, "NEGATIVE_ACKNOWLEDGE")]
    [InlineData(8, "MEMORY_PARITY_ERROR")]
    [InlineData(10, "GATEWAY_PATH_UNAVAILABLE")]
    [InlineData(11, "GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND")]
    public void ExceptionResponse_DecodesCodeAndName(int code, string name)
    {
        var pdu = new byte[] { 0x83, (byte)code };
        Assert.Equal(PduStatus.Ok, ModbusPduReader.TryReadResponse(pdu, 3, out var resp));
        Assert.True(resp.IsException);
        Assert.Equal(ModbusFunction.ReadHoldingRegisters, resp.Function);
        Assert.Equal(0x83, resp.FunctionByte);
        Assert.Equal(code, resp.ExceptionCode);
        Assert.Equal(name, ModbusFunctions.ExceptionName((byte)code));
    }

    [Theory]
    [InlineData("5a 010203")]
    [InlineData("41 00")]
    [InlineData("64")]
    [InlineData("7d ffff")]
    [InlineData("5a")]
    public void UnknownAndUserDefinedCodes_AreKeptRaw_NeverAnError(string pduHex)
    {
        var pdu = Hex(pduHex);
        Assert.Equal(PduStatus.Ok, ModbusPduReader.TryReadRequest(pdu, out var req));
        Assert.Equal(ModbusFunction.Unknown, req.Function);
        Assert.Equal(pdu[0], req.FunctionByte);
        Assert.Equal(pdu.AsSpan(1).ToArray(), req.Values.ToArray());
        Assert.Equal(0UL, ModbusValidation.CheckRequest(PduStatus.Ok, req));
        Assert.Equal(PduStatus.Ok, ModbusPduReader.TryReadResponse(pdu, pdu[0], out var resp));
        Assert.Equal(pdu[0], resp.FunctionByte);
        Assert.Equal("UNKNOWN_" + pdu[0], ModbusFunctions.Name(pdu[0]));
    }

    [Theory]
    [InlineData("03 0001")]
    [InlineData("05 00")]
    [InlineData("0f 0001 0010 02 ff")]
    [InlineData("17 0001 0001 0002")]
    [InlineData("2b 0e 01")]
    [InlineData("08 00")]
    public void ShortRequests_AreMalformed(string pduHex)
        => Assert.Equal(PduStatus.Malformed, ModbusPduReader.TryReadRequest(Hex(pduHex), out _));

    [Fact]
    public void Empty_And_TrailingBytes_AreReported()
    {
        Assert.Equal(PduStatus.Empty, ModbusPduReader.TryReadRequest([], out _));
        Assert.Equal(PduStatus.Empty, ModbusPduReader.TryReadResponse([], 0, out _));
        Assert.Equal(PduStatus.TrailingBytes, ModbusPduReader.TryReadRequest(Hex("03 0001 0001 00"), out _));
        Assert.Equal(PduStatus.Malformed, ModbusPduReader.TryReadResponse(Hex("03 04 0001"), 3, out var r));
        Assert.Equal(2, r.Values.Length);
        Assert.Equal(PduStatus.Malformed, ModbusPduReader.TryReadResponse(Hex("83"), 3, out _));
    }

    [Fact]
    public void FunctionNames_AreIcsnppStyle()
    {
        string[] expected =
        [
            "READ_COILS", "READ_DISCRETE_INPUTS", "READ_HOLDING_REGISTERS", "READ_INPUT_REGISTERS", "WRITE_SINGLE_COIL",
            "WRITE_SINGLE_REGISTER", "READ_EXCEPTION_STATUS", "DIAGNOSTICS",
        ];
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], ModbusFunctions.Name((byte)(i + 1)));
        }

        Assert.Equal("GET_COMM_EVENT_COUNTER", ModbusFunctions.Name(11));
        Assert.Equal("GET_COMM_EVENT_LOG", ModbusFunctions.Name(12));
        Assert.Equal("WRITE_MULTIPLE_COILS", ModbusFunctions.Name(15));
        Assert.Equal("WRITE_MULTIPLE_REGISTERS", ModbusFunctions.Name(16));
        Assert.Equal("REPORT_SLAVE_ID", ModbusFunctions.Name(17));
        Assert.Equal("READ_FILE_RECORD", ModbusFunctions.Name(20));
        Assert.Equal("WRITE_FILE_RECORD", ModbusFunctions.Name(21));
        Assert.Equal("MASK_WRITE_REGISTER", ModbusFunctions.Name(22));
        Assert.Equal("READ_WRITE_MULTIPLE_REGISTERS", ModbusFunctions.Name(23));
        Assert.Equal("READ_FIFO_QUEUE", ModbusFunctions.Name(24));
        Assert.Equal("ENCAP_INTERFACE_TRANSPORT", ModbusFunctions.Name(43));
        Assert.Equal("READ_HOLDING_REGISTERS", ModbusFunctions.Name(0x83));
        Assert.Equal("UNKNOWN_90", ModbusFunctions.Name(0x5A));
    }
}
