namespace OtSensor.Protocols.Modbus;

/// <summary>
/// Modbus protocol anomalies. The numeric values are stable (1..63): they are the bit index in
/// <see cref="TransactionRecord.Anomalies"/> and the <see cref="AnomalyRecord.AnomalyId"/>. Never renumber.
/// </summary>
public enum ModbusAnomaly : byte
{
    None = 0,
    /// <summary>MBAP protocol identifier is not 0.</summary>
    InvalidProtocolId = 1,
    /// <summary>
    /// MBAP length is inconsistent with what the PDU needs (trailing bytes, PDU shorter than its function needs,
    /// byte count ≠ data, MBAP length 1 with no function code).
    /// </summary>
    LengthMismatch = 2,
    /// <summary>
    /// MBAP length announces a PDU above 253 bytes: the first 260 bytes are kept as a truncated message, the rest is
    /// skipped (an anomaly record when the ADU never completes).
    /// </summary>
    OversizePdu = 3,
    /// <summary>Function code 0, or ≥ 128 in a request.</summary>
    InvalidFunctionCode = 4,
    /// <summary>Quantity / count / byte count outside the range the function allows.</summary>
    IllegalQuantity = 5,
    /// <summary>Write Single Coil value other than 0x0000 / 0xFF00.</summary>
    InvalidCoilValue = 6,
    /// <summary>Data on a Modbus flow that is not Modbus (never framed as Modbus).</summary>
    NonModbusOnPort = 7,
    /// <summary>A response without a pending request (transaction id, unit id).</summary>
    UnsolicitedResponse = 8,
    /// <summary>The response function code differs from the request's.</summary>
    ResponseMismatch = 9,
    /// <summary>The PDU is shorter than its function requires.</summary>
    MalformedPdu = 10,
    /// <summary>Exception response with a code outside 1-8, 10, 11.</summary>
    InvalidExceptionCode = 11,
    /// <summary>A request reused a (transaction id, unit id) still pending; the older one is reported unanswered.</summary>
    DuplicateTransactionId = 12,
    /// <summary>The pending-request table was full; the oldest request is reported unanswered.</summary>
    PendingOverflow = 13,
    /// <summary>The stream was resynchronised on an MBAP header after a gap or after garbage.</summary>
    StreamResync = 14,
    /// <summary>Start address + quantity - 1 exceeds 65535.</summary>
    AddressOverflow = 15,
    /// <summary>A byte count disagrees with the quantity (request's own, or the response's with its request's).</summary>
    ByteCountMismatch = 16,
    /// <summary>Diagnostics sub-function or MEI type not defined by the specification.</summary>
    InvalidSubFunction = 17,
    /// <summary>File record reference type other than 6.</summary>
    InvalidReferenceType = 18,
    /// <summary>Read Device Identification code outside 1-4 or malformed object list.</summary>
    InvalidDeviceIdentification = 19,
    /// <summary>The flow kept failing to frame as Modbus; dissection stopped for that direction.</summary>
    DissectionAbandoned = 20,
    /// <summary>Bytes lost in the stream (TCP gap) dropped a partial ADU.</summary>
    StreamGap = 21,
    /// <summary>A response echo (address / value / quantity) differs from the request.</summary>
    EchoMismatch = 22,
}

/// <summary>Catalog entry of one anomaly: its string id, CEF signature id, name, severity (0-10) and category.</summary>
public readonly record struct ModbusAnomalyInfo(string Id, int SignatureId, string Name, int Severity, string Category);

/// <summary>The catalog table of <see cref="ModbusAnomaly"/>.</summary>
public static class ModbusAnomalies
{
    public const int SignatureBase = 1000;

    private const string ProtocolViolation = "protocol-violation";
    private const string StreamCategory = "stream";
    private const string SessionCategory = "session";

    private static readonly ModbusAnomalyInfo[] Table = BuildTable();

    /// <summary>All defined anomalies, in id order.</summary>
    public static IReadOnlyList<ModbusAnomaly> All { get; } = BuildAll();

    private static ModbusAnomalyInfo[] BuildTable()
    {
        var t = new ModbusAnomalyInfo[64];
        void Add(ModbusAnomaly a, string id, string name, int severity, string category)
            => t[(int)a] = new ModbusAnomalyInfo(id, SignatureBase + (int)a, name, severity, category);

        Add(ModbusAnomaly.None, "modbus_none", "No anomaly", 0, ProtocolViolation);
        Add(ModbusAnomaly.InvalidProtocolId, "modbus_invalid_protocol_id", "Modbus MBAP protocol identifier is not 0", 5, ProtocolViolation);
        Add(ModbusAnomaly.LengthMismatch, "modbus_length_mismatch", "Modbus MBAP length inconsistent with the PDU", 5, ProtocolViolation);
        Add(ModbusAnomaly.OversizePdu, "modbus_oversize_pdu", "Modbus PDU larger than 253 bytes", 6, ProtocolViolation);
        Add(ModbusAnomaly.InvalidFunctionCode, "modbus_invalid_function_code", "Modbus invalid function code", 5, ProtocolViolation);
        Add(ModbusAnomaly.IllegalQuantity, "modbus_illegal_quantity", "Modbus quantity out of the allowed range", 4, ProtocolViolation);
        Add(ModbusAnomaly.InvalidCoilValue, "modbus_invalid_coil_value", "Modbus Write Single Coil value not 0x0000/0xFF00", 4, ProtocolViolation);
        Add(ModbusAnomaly.NonModbusOnPort, "modbus_non_modbus_on_port", "Non-Modbus data on a Modbus flow", 6, ProtocolViolation);
        Add(ModbusAnomaly.UnsolicitedResponse, "modbus_unsolicited_response", "Modbus response without a request", 5, ProtocolViolation);
        Add(ModbusAnomaly.ResponseMismatch, "modbus_response_mismatch", "Modbus response function differs from the request", 5, ProtocolViolation);
        Add(ModbusAnomaly.MalformedPdu, "modbus_malformed_pdu", "Modbus PDU shorter than its function requires", 5, ProtocolViolation);
        Add(ModbusAnomaly.InvalidExceptionCode, "modbus_invalid_exception_code", "Modbus undefined exception code", 4, ProtocolViolation);
        Add(ModbusAnomaly.DuplicateTransactionId, "modbus_duplicate_transaction_id", "Modbus transaction id reused while pending", 3, ProtocolViolation);
        Add(ModbusAnomaly.PendingOverflow, "modbus_pending_overflow", "Modbus pending request table overflow", 3, SessionCategory);
        Add(ModbusAnomaly.StreamResync, "modbus_stream_resync", "Modbus stream resynchronised", 2, StreamCategory);
        Add(ModbusAnomaly.AddressOverflow, "modbus_address_overflow", "Modbus address + quantity beyond 65535", 4, ProtocolViolation);
        Add(ModbusAnomaly.ByteCountMismatch, "modbus_byte_count_mismatch", "Modbus byte count inconsistent with the quantity", 4, ProtocolViolation);
        Add(ModbusAnomaly.InvalidSubFunction, "modbus_invalid_sub_function", "Modbus undefined sub-function or MEI type", 3, ProtocolViolation);
        Add(ModbusAnomaly.InvalidReferenceType, "modbus_invalid_reference_type", "Modbus file record reference type not 6", 4, ProtocolViolation);
        Add(ModbusAnomaly.InvalidDeviceIdentification, "modbus_invalid_device_identification", "Modbus invalid Read Device Identification", 4, ProtocolViolation);
        Add(ModbusAnomaly.DissectionAbandoned, "modbus_dissection_abandoned", "Modbus dissection abandoned on non-Modbus data", 5, StreamCategory);
        Add(ModbusAnomaly.StreamGap, "modbus_stream_gap", "Modbus stream bytes lost", 2, StreamCategory);
        Add(ModbusAnomaly.EchoMismatch, "modbus_echo_mismatch", "Modbus response echo differs from the request", 4, ProtocolViolation);
        return t;
    }

    private static ModbusAnomaly[] BuildAll()
    {
        var list = new List<ModbusAnomaly>();
        foreach (var a in Enum.GetValues<ModbusAnomaly>())
        {
            if (a != ModbusAnomaly.None)
            {
                list.Add(a);
            }
        }

        return [.. list];
    }

    /// <summary>Catalog entry of an anomaly. Unknown ids get a generic entry (never throws).</summary>
    public static ModbusAnomalyInfo Info(ModbusAnomaly anomaly)
    {
        int i = (int)anomaly;
        if (i is > 0 and < 64 && Table[i].Id is not null)
        {
            return Table[i];
        }

        return new ModbusAnomalyInfo("modbus_unknown_anomaly", SignatureBase + (i & 63), "Modbus unknown anomaly", 3, ProtocolViolation);
    }

    /// <summary>Bit of an anomaly in <see cref="TransactionRecord.Anomalies"/>.</summary>
    public static ulong Bit(ModbusAnomaly anomaly) => 1UL << (int)anomaly;

    /// <summary>True when <paramref name="mask"/> has <paramref name="anomaly"/> set.</summary>
    public static bool Has(ulong mask, ModbusAnomaly anomaly) => (mask & Bit(anomaly)) != 0;
}
