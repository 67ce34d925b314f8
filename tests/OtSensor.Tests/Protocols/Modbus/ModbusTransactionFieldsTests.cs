using OtSensor.Protocols.Modbus;
using static OtSensor.Tests.Protocols.Modbus.ModbusTestData;

namespace OtSensor.Tests.Protocols.Modbus;

public class ModbusTransactionFieldsTests
{
    private static int[] Values(ModbusTransactionFields f)
    {
        var buf = new int[f.ValueCount];
        Assert.Equal(f.ValueCount, f.CopyValues(buf));
        return buf;
    }

    private static ModbusTransactionFields Extract(int pair)
    {
        Assert.True(ModbusTransactionFields.TryExtract(Hex(CapturePairs[pair].Request), Hex(CapturePairs[pair].Response), out var f));
        return f;
    }

    [Fact]
    public void ReadHoldingRegisters_GivesAddressQuantityAndRegisters()
    {
        var f = Extract(5);
        Assert.Equal(6, f.TransactionId);
        Assert.Equal(5, f.UnitId);
        Assert.Equal(3, f.Function);
        Assert.Equal("READ_HOLDING_REGISTERS", f.FunctionName);
        Assert.Equal(1, f.Address);
        Assert.Equal(8, f.Quantity);
        Assert.Null(f.SubFunction);
        Assert.False(f.IsException);
        Assert.Equal([0xaa, 0xaa, 0xbb, 0xcc, 0xef84, 0xe3eb, 0x9f8b, 0xe4c1], Values(f));
    }

    [Fact]
    public void ReadCoilsAndInputs_GiveBitsLimitedToTheRequestedQuantity()
    {
        Assert.Equal([1], Values(Extract(0)));
        Assert.Equal([1, 0, 0, 1, 0, 1, 1, 1], Values(Extract(1)));
        Assert.Equal([0, 0, 1, 1, 0, 1, 0, 0], Values(Extract(3)));
    }

    [Fact]
    public void Writes_GiveTheWrittenValues()
    {
        var coil = Extract(8);
        Assert.Equal("WRITE_SINGLE_COIL", coil.FunctionName);
        Assert.Equal(1, coil.Address);
        Assert.Null(coil.Quantity);
        Assert.Equal([1], Values(coil));
        Assert.Equal([0xabcd], Values(Extract(9)));
        var coils = Extract(12);
        Assert.Equal(4, coils.Quantity);
        Assert.Equal([1, 0, 0, 1], Values(coils));
        Assert.Equal([0xaa, 0xbb, 0xcc, 0xdd], Values(Extract(13)));
        var mask = Extract(15);
        Assert.Equal("MASK_WRITE_REGISTER", mask.FunctionName);
        Assert.Equal(10, mask.Address);
        Assert.Equal([0xdead, 0x0000], Values(mask));
    }

    [Fact]
    public void ReadWriteMultiple_GivesReadAndWriteParts()
    {
        var f = Extract(18);
        Assert.Equal("READ_WRITE_MULTIPLE_REGISTERS", f.FunctionName);
        Assert.Equal(1, f.Address);
        Assert.Equal(4, f.Quantity);
        Assert.Equal(2, f.WriteAddress);
        Assert.Equal(3, f.WriteQuantity);
        Assert.Equal([0xaa, 0xaa, 0xbb, 0xcc], Values(f));
        var w = new int[f.WriteValueCount];
        Assert.Equal(3, f.CopyWriteValues(w));
        Assert.Equal([0xaa, 0xbb, 0xcc], w);
    }

    [Fact]
    public void ExceptionStatus_Diagnostics_Fifo_AndDeviceIdentification()
    {
        Assert.Equal([0], Values(Extract(10)));
        var diag = Extract(11);
        Assert.Equal("DIAGNOSTICS", diag.FunctionName);
        Assert.Equal(2, diag.SubFunction);
        var fifo = Extract(19);
        Assert.Equal("READ_FIFO_QUEUE", fifo.FunctionName);
        Assert.Equal(0, fifo.Address);
        Assert.Equal(0, fifo.ValueCount);
        var mei = Extract(20);
        Assert.Equal("ENCAP_INTERFACE_TRANSPORT", mei.FunctionName);
        Assert.Equal(14, mei.SubFunction);
        Assert.True(ModbusTransactionFields.TryExtract(Adu(1, 1, "18 0001"), Adu(1, 1, "18 0006 0002 01b8 1284"), out var f2));
        Assert.Equal([0x1b8, 0x1284], Values(f2));
    }

    [Fact]
    public void Exception_GivesCodeAndName_AndNoValues()
    {
        var f = Extract(21);
        Assert.True(f.IsException);
        Assert.Equal(3, f.Function);
        Assert.Equal((byte)2, f.ExceptionCode);
        Assert.Equal("ILLEGAL_DATA_ADDRESS", f.ExceptionName);
        Assert.Equal(600, f.Address);
        Assert.Equal(10, f.Quantity);
        Assert.Equal(0, f.ValueCount);
    }

    [Fact]
    public void ResponseWithoutRequest_UsesTheResponse()
    {
        Assert.True(ModbusTransactionFields.TryExtract([], Adu(4, 2, "81 01"), out var ex));
        Assert.False(ex.HasRequest);
        Assert.Equal(1, ex.Function);
        Assert.Equal("READ_COILS", ex.FunctionName);
        Assert.True(ex.IsException);
        Assert.Null(ex.Address);
        Assert.True(ModbusTransactionFields.TryExtract([], Adu(4, 2, "06 0010 0102"), out var w));
        Assert.Equal(0x10, w.Address);
        Assert.Equal([0x102], Values(w));
        Assert.True(ModbusTransactionFields.TryExtract([], Adu(4, 2, "01 01 05"), out var bits));
        Assert.Equal(8, bits.ValueCount);
    }

    [Fact]
    public void RequestWithoutResponse_AndUnknownCodes()
    {
        Assert.True(ModbusTransactionFields.TryExtract(Adu(1, 1, "03 0005 0002"), [], out var f));
        Assert.False(f.HasResponse);
        Assert.Equal(5, f.Address);
        Assert.Equal(0, f.ValueCount);
        Assert.True(ModbusTransactionFields.TryExtract(Adu(1, 1, "5a 0102"), Adu(1, 1, "5a 03"), out var u));
        Assert.Equal(0x5a, u.Function);
        Assert.Equal("UNKNOWN_90", u.FunctionName);
        Assert.Null(u.Address);
        Assert.False(ModbusTransactionFields.TryExtract([], [], out _));
        Assert.False(ModbusTransactionFields.TryExtract(Hex("00010000"), [], out _));
    }

    [Fact]
    public void CopyValues_StopsAtTheDestinationLength_AndLyingCountsAreBounded()
    {
        var f = Extract(5);
        Span<int> small = stackalloc int[3];
        Assert.Equal(3, f.CopyValues(small));
        Assert.Equal(0xbb, small[2]);
        // Quantity 100 written but only 2 register bytes present.
        Assert.True(ModbusTransactionFields.TryExtract(Adu(1, 1, "10 0000 0064 c8 0001"), [], out var lying));
        Assert.Equal(1, lying.ValueCount);
    }
}
