namespace OtSensor.Tests.Differential;

/// <summary>Direction of a Modbus/TCP ADU, by the server-port rule (the server port side answers).</summary>
public enum ModbusDirection
{
    /// <summary>Neither or both ports are a server port.</summary>
    Unknown = 0,

    /// <summary>Client to server (destination port is a server port).</summary>
    Request = 1,

    /// <summary>Server to client (source port is a server port).</summary>
    Response = 2,
}

/// <summary>One ADU as seen by the reference: MBAP transaction id, unit id, direction.</summary>
public readonly record struct ModbusAduKey(int TransactionId, int UnitId, ModbusDirection Direction)
{
    public override string ToString() => $"{Direction}(tid={TransactionId}, unit={UnitId})";
}

/// <summary>
/// What tshark (the reference dissector) sees of Modbus/TCP in one capture file.
/// Counting rules follow /work/shared/captures/public/tshark_reference.sh: one PDU per
/// occurrence of modbus.func_code (7-bit code; an exception response counts under its function),
/// one exception per occurrence of modbus.exception_code, one ADU per mbtcp.trans_id.
/// </summary>
public sealed record ModbusReference(
    string Path,
    int Frames,
    IReadOnlyDictionary<int, int> PdusByFunctionCode,
    IReadOnlyDictionary<int, int> ExceptionsByCode,
    int Requests,
    int Responses,
    int UnknownDirection,
    IReadOnlyDictionary<ModbusAduKey, int> Adus,
    IReadOnlyList<int> ServerPorts)
{
    /// <summary>Total PDUs (occurrences of modbus.func_code).</summary>
    public int Pdus => PdusByFunctionCode.Values.Sum();

    /// <summary>Total exception responses.</summary>
    public int Exceptions => ExceptionsByCode.Values.Sum();

    /// <summary>Total ADU headers (occurrences of mbtcp.trans_id, including ones without a dissected PDU).</summary>
    public int AduCount => Adus.Values.Sum();

    /// <summary>"fc:count;fc:count" sorted by code, the format of expected.tshark.csv.</summary>
    public static string Format(IReadOnlyDictionary<int, int> counts) =>
        string.Join(';', counts.Where(kv => kv.Value != 0).OrderBy(kv => kv.Key).Select(kv => $"{kv.Key}:{kv.Value}"));

    /// <summary>Parses "fc:count;fc:count" (empty string = no entries).</summary>
    public static Dictionary<int, int> ParseCounts(string text)
    {
        var result = new Dictionary<int, int>();
        foreach (var part in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new FormatException($"bad count entry '{part}' in '{text}'");
            }

            result[int.Parse(part.AsSpan(0, colon), System.Globalization.CultureInfo.InvariantCulture)] =
                int.Parse(part.AsSpan(colon + 1), System.Globalization.CultureInfo.InvariantCulture);
        }

        return result;
    }

    public override string ToString() =>
        $"{System.IO.Path.GetFileName(Path)}: frames={Frames} pdus={Pdus} (req {Requests}/resp {Responses}/unknown {UnknownDirection}) " +
        $"fc=[{Format(PdusByFunctionCode)}] exc=[{Format(ExceptionsByCode)}]";
}
