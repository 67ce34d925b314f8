namespace OtSensor.Protocols.Modbus;

/// <summary>Public Modbus function codes (MODBUS Application Protocol V1.1b3, section 5.1). The raw byte is always kept beside it.</summary>
public enum ModbusFunction : byte
{
    Unknown = 0,
    ReadCoils = 1,
    ReadDiscreteInputs = 2,
    ReadHoldingRegisters = 3,
    ReadInputRegisters = 4,
    WriteSingleCoil = 5,
    WriteSingleRegister = 6,
    ReadExceptionStatus = 7,
    Diagnostics = 8,
    GetCommEventCounter = 11,
    GetCommEventLog = 12,
    WriteMultipleCoils = 15,
    WriteMultipleRegisters = 16,
    ReportServerId = 17,
    ReadFileRecord = 20,
    WriteFileRecord = 21,
    MaskWriteRegister = 22,
    ReadWriteMultipleRegisters = 23,
    ReadFifoQueue = 24,
    EncapsulatedInterfaceTransport = 43,
}

/// <summary>Modbus exception codes (section 7).</summary>
public enum ModbusExceptionCode : byte
{
    None = 0,
    IllegalFunction = 1,
    IllegalDataAddress = 2,
    IllegalDataValue = 3,
    ServerDeviceFailure = 4,
    Acknowledge = 5,
    ServerDeviceBusy = 6,
    NegativeAcknowledge = 7,
    MemoryParityError = 8,
    GatewayPathUnavailable = 10,
    GatewayTargetDeviceFailedToRespond = 11,
}

/// <summary>Names and classification of function codes, sub-functions and exception codes.</summary>
public static class ModbusFunctions
{
    /// <summary>MEI type of Encapsulated Interface Transport (FC 43) for CANopen General Reference.</summary>
    public const byte MeiCanOpen = 13;

    /// <summary>MEI type of Encapsulated Interface Transport (FC 43) for Read Device Identification.</summary>
    public const byte MeiReadDeviceIdentification = 14;

    private static readonly string[] FunctionNames = BuildFunctionNames();

    private static string[] BuildFunctionNames()
    {
        var names = new string[256];
        for (int i = 0; i < names.Length; i++)
        {
            names[i] = "UNKNOWN_" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        names[1] = "READ_COILS";
        names[2] = "READ_DISCRETE_INPUTS";
        names[3] = "READ_HOLDING_REGISTERS";
        names[4] = "READ_INPUT_REGISTERS";
        names[5] = "WRITE_SINGLE_COIL";
        names[6] = "WRITE_SINGLE_REGISTER";
        names[7] = "READ_EXCEPTION_STATUS";
        names[8] = "DIAGNOSTICS";
        names[11] = "GET_COMM_EVENT_COUNTER";
        names[12] = "GET_COMM_EVENT_LOG";
        names[15] = "WRITE_MULTIPLE_COILS";
        names[16] = "WRITE_MULTIPLE_REGISTERS";
        names[17] = "REPORT_SLAVE_ID";
        names[20] = "READ_FILE_RECORD";
        names[21] = "WRITE_FILE_RECORD";
        names[22] = "MASK_WRITE_REGISTER";
        names[23] = "READ_WRITE_MULTIPLE_REGISTERS";
        names[24] = "READ_FIFO_QUEUE";
        names[43] = "ENCAP_INTERFACE_TRANSPORT";
        return names;
    }

    /// <summary>True for the function codes defined publicly by the specification.</summary>
    public static bool IsPublic(byte code) => code switch
    {
        1 or 2 or 3 or 4 or 5 or 6 or 7 or 8 or 11 or 12 or 15 or 16 or 17 or 20 or 21 or 22 or 23 or 24 or 43 => true,
        _ => false,
    };

    /// <summary>True for the user-defined ranges 65-72 and 100-110.</summary>
    public static bool IsUserDefined(byte code) => code is (>= 65 and <= 72) or (>= 100 and <= 110);

    /// <summary>The enum value of a raw function byte (the exception bit is ignored), or <see cref="ModbusFunction.Unknown"/>.</summary>
    public static ModbusFunction FromByte(byte code)
    {
        byte c = (byte)(code & 0x7F);
        return IsPublic(c) ? (ModbusFunction)c : ModbusFunction.Unknown;
    }

    /// <summary>ICSNPP/Zeek style upper-case name (READ_COILS...), "UNKNOWN_&lt;n&gt;" for other codes. The exception bit is ignored.</summary>
    public static string Name(byte code) => FunctionNames[code & 0x7F];

    /// <summary>Name of a Diagnostics (FC 8) sub-function, or null when not defined.</summary>
    public static string? DiagnosticSubFunctionName(ushort subFunction) => subFunction switch
    {
        0 => "RETURN_QUERY_DATA",
        1 => "RESTART_COMMUNICATIONS_OPTION",
        2 => "RETURN_DIAGNOSTIC_REGISTER",
        3 => "CHANGE_ASCII_INPUT_DELIMITER",
        4 => "FORCE_LISTEN_ONLY_MODE",
        10 => "CLEAR_COUNTERS_AND_DIAGNOSTIC_REGISTER",
        11 => "RETURN_BUS_MESSAGE_COUNT",
        12 => "RETURN_BUS_COMMUNICATION_ERROR_COUNT",
        13 => "RETURN_BUS_EXCEPTION_ERROR_COUNT",
        14 => "RETURN_SERVER_MESSAGE_COUNT",
        15 => "RETURN_SERVER_NO_RESPONSE_COUNT",
        16 => "RETURN_SERVER_NAK_COUNT",
        17 => "RETURN_SERVER_BUSY_COUNT",
        18 => "RETURN_BUS_CHARACTER_OVERRUN_COUNT",
        20 => "CLEAR_OVERRUN_COUNTER_AND_FLAG",
        _ => null,
    };

    /// <summary>True when the Diagnostics sub-function is defined by the specification.</summary>
    public static bool IsDefinedDiagnosticSubFunction(ushort subFunction) => DiagnosticSubFunctionName(subFunction) is not null;

    /// <summary>Name of an FC 43 MEI type, or null.</summary>
    public static string? MeiTypeName(byte meiType) => meiType switch
    {
        MeiCanOpen => "CANOPEN_GENERAL_REFERENCE",
        MeiReadDeviceIdentification => "READ_DEVICE_IDENTIFICATION",
        _ => null,
    };

    /// <summary>True for the exception codes defined by the specification (1-8, 10, 11).</summary>
    public static bool IsDefinedException(byte code) => code is (>= 1 and <= 8) or 10 or 11;

    /// <summary>Upper-case exception name, or null when the code is not defined.</summary>
    public static string? ExceptionName(byte code) => code switch
    {
        1 => "ILLEGAL_FUNCTION",
        2 => "ILLEGAL_DATA_ADDRESS",
        3 => "ILLEGAL_DATA_VALUE",
        4 => "SERVER_DEVICE_FAILURE",
        5 => "ACKNOWLEDGE",
        6 => "SERVER_DEVICE_BUSY",
        7 => "NEGATIVE_ACKNOWLEDGE",
        8 => "MEMORY_PARITY_ERROR",
        10 => "GATEWAY_PATH_UNAVAILABLE",
        11 => "GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND",
        _ => null,
    };
}
