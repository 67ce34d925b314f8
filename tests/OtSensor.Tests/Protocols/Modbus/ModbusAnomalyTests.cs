using OtSensor.Flows;
using OtSensor.Protocols.Modbus;
using static OtSensor.Tests.Protocols.Modbus.ModbusTestData;

namespace OtSensor.Tests.Protocols.Modbus;

public class ModbusAnomalyTests
{
    /// <summary>Runs an established session, then the request (and response) PDUs; returns the case's transaction anomalies.</summary>
    private static ulong TransactionAnomalies(string? requestPdu, string? responsePdu)
    {
        var (session, sink, flow) = NewSession();
        session.OnStreamData(flow, Direction.ToServer, Adu(100, 1, "03 0000 0001"), Meta(1));
        session.OnStreamData(flow, Direction.ToClient, Adu(100, 1, "03 02 0000"), Meta(2));
        if (requestPdu is not null)
        {
            session.OnStreamData(flow, Direction.ToServer, Adu(7, 1, requestPdu), Meta(3));
        }

        if (responsePdu is not null)
        {
            session.OnStreamData(flow, Direction.ToClient, Adu(7, 1, responsePdu), Meta(4));
        }

        session.OnClose(flow, FlowCloseReason.Closed, 0);
        Assert.Empty(sink.Anomalies);
        Assert.Equal(2, sink.Transactions.Count);
        return sink.Transactions[1].Record.Anomalies;
    }

    [Theory]
    [InlineData("03 0001 0001 00", null, ModbusAnomaly.LengthMismatch)]
    [InlineData("03 0001 0002", "03 04 0001", ModbusAnomaly.MalformedPdu)]
    [InlineData("00 01", null, ModbusAnomaly.InvalidFunctionCode)]
    [InlineData("83 0001 0001", null, ModbusAnomaly.InvalidFunctionCode)]
    [InlineData("03 0000 0000", null, ModbusAnomaly.IllegalQuantity)]
    [InlineData("03 0000 007e", null, ModbusAnomaly.IllegalQuantity)]
    [InlineData("01 0000 07d1", null, ModbusAnomaly.IllegalQuantity)]
    [InlineData("0f 0000 0000 00", null, ModbusAnomaly.IllegalQuantity)]
    [InlineData("10 0000 007c 00", null, ModbusAnomaly.IllegalQuantity)]
    [InlineData("17 0000 0001 0000 007a 00", null, ModbusAnomaly.IllegalQuantity)]
    [InlineData("14 00", null, ModbusAnomaly.IllegalQuantity)]
    [InlineData(null, "18 0042 0020" + "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000", ModbusAnomaly.IllegalQuantity)]
    [InlineData("05 0001 1234", null, ModbusAnomaly.InvalidCoilValue)]
    [InlineData(null, "03 02 0000", ModbusAnomaly.UnsolicitedResponse)]
    [InlineData("03 0001 0001", "04 02 0000", ModbusAnomaly.ResponseMismatch)]
    [InlineData("03 0001", null, ModbusAnomaly.MalformedPdu)]
    [InlineData("03 0001 0001", "83 09", ModbusAnomaly.InvalidExceptionCode)]
    [InlineData("03 ffff 0002", null, ModbusAnomaly.AddressOverflow)]
    [InlineData("01 fff0 0011", null, ModbusAnomaly.AddressOverflow)]
    [InlineData("03 0001 0002", "03 02 0001", ModbusAnomaly.ByteCountMismatch)]
    [InlineData("01 0001 0009", "01 01 ff", ModbusAnomaly.ByteCountMismatch)]
    [InlineData("0f 0001 0009 01 ff", null, ModbusAnomaly.ByteCountMismatch)]
    [InlineData("10 0001 0002 02 0001", null, ModbusAnomaly.ByteCountMismatch)]
    [InlineData(null, "18 0004 0002 0001 0002", ModbusAnomaly.ByteCountMismatch)]
    [InlineData("08 0005 0000", null, ModbusAnomaly.InvalidSubFunction)]
    [InlineData("2b 05 00", null, ModbusAnomaly.InvalidSubFunction)]
    [InlineData("14 07 05 0004 0001 0002", null, ModbusAnomaly.InvalidReferenceType)]
    [InlineData("2b 0e 05 00", null, ModbusAnomaly.InvalidDeviceIdentification)]
    [InlineData("2b 0e 01 00", "2b 0e 01 01 07 00 00", ModbusAnomaly.InvalidDeviceIdentification)]
    [InlineData("06 0001 0003", "06 0001 0004", ModbusAnomaly.EchoMismatch)]
    [InlineData("10 0001 0001 02 0001", "10 0002 0001", ModbusAnomaly.EchoMismatch)]
    public void MinimalCase_RaisesItsAnomaly(string? requestPdu, string? responsePdu, ModbusAnomaly expected)
    {
        ulong bits = TransactionAnomalies(requestPdu, responsePdu);
        Assert.True(ModbusAnomalies.Has(bits, expected), $"expected {expected} in 0x{bits:x}");
    }

    [Fact]
    public void Catalog_HasStableIds_UniqueStrings_AndSignatureIds()
    {
        string[] required =
        [
            "modbus_invalid_protocol_id", "modbus_length_mismatch", "modbus_oversize_pdu", "modbus_invalid_function_code",
            "modbus_illegal_quantity", "modbus_invalid_coil_value", "modbus_non_modbus_on_port", "modbus_unsolicited_response",
            "modbus_response_mismatch", "modbus_malformed_pdu", "modbus_invalid_exception_code", "modbus_duplicate_transaction_id",
            "modbus_pending_overflow", "modbus_stream_resync", "modbus_address_overflow",
        ];
        var infos = ModbusAnomalies.All.Select(a => (a, ModbusAnomalies.Info(a))).ToList();
        foreach (var id in required)
        {
            Assert.Contains(infos, x => x.Item2.Id == id);
        }

        Assert.Equal(infos.Count, infos.Select(x => x.Item2.Id).Distinct().Count());
        foreach (var (a, info) in infos)
        {
            Assert.InRange((int)a, 1, 63);
            Assert.Equal(1000 + (int)a, info.SignatureId);
            Assert.InRange(info.Severity, 0, 10);
            Assert.False(string.IsNullOrEmpty(info.Name));
            Assert.False(string.IsNullOrEmpty(info.Category));
        }

        Assert.Equal(1, (int)ModbusAnomaly.InvalidProtocolId);
        Assert.Equal(7, (int)ModbusAnomaly.NonModbusOnPort);
        Assert.Equal(14, (int)ModbusAnomaly.StreamResync);
        Assert.Equal("modbus_unknown_anomaly", ModbusAnomalies.Info((ModbusAnomaly)63).Id);
    }

    [Fact]
    public void EveryAnomaly_IsRaisedByATest()
    {
        // Transaction-level anomalies are covered by MinimalCase_RaisesItsAnomaly; the rest by session tests:
        // InvalidProtocolId, OversizePdu, NonModbusOnPort, DuplicateTransactionId, PendingOverflow, StreamResync,
        // DissectionAbandoned, StreamGap. This guards the list when an anomaly is added.
        var covered = new HashSet<ModbusAnomaly>
        {
            ModbusAnomaly.InvalidProtocolId, ModbusAnomaly.LengthMismatch, ModbusAnomaly.OversizePdu, ModbusAnomaly.InvalidFunctionCode,
            ModbusAnomaly.IllegalQuantity, ModbusAnomaly.InvalidCoilValue, ModbusAnomaly.NonModbusOnPort, ModbusAnomaly.UnsolicitedResponse,
            ModbusAnomaly.ResponseMismatch, ModbusAnomaly.MalformedPdu, ModbusAnomaly.InvalidExceptionCode, ModbusAnomaly.DuplicateTransactionId,
            ModbusAnomaly.PendingOverflow, ModbusAnomaly.StreamResync, ModbusAnomaly.AddressOverflow, ModbusAnomaly.ByteCountMismatch,
            ModbusAnomaly.InvalidSubFunction, ModbusAnomaly.InvalidReferenceType, ModbusAnomaly.InvalidDeviceIdentification,
            ModbusAnomaly.DissectionAbandoned, ModbusAnomaly.StreamGap, ModbusAnomaly.EchoMismatch,
        };
        Assert.Equal(covered.OrderBy(a => a), ModbusAnomalies.All.OrderBy(a => a));
    }
}
