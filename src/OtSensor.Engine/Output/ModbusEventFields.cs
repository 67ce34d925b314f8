using System.Text.Json;
using OtSensor.Protocols.Modbus;

namespace OtSensor.Output;

/// <summary>The Modbus fields of a transaction event (the names scripts and SIEM parsers rely on; see README).</summary>
internal static class ModbusEventFields
{
    /// <summary>Upper bound on the values written per event (FC 1/2 can read 2000 coils).</summary>
    private const int MaxValues = 2048;

    public static void Write(Utf8JsonWriter w, in TransactionRecord tx, ReadOnlySpan<byte> request, ReadOnlySpan<byte> response)
    {
        if (!ModbusTransactionFields.TryExtract(tx.HasRequest ? request : default, tx.HasResponse ? response : default, out var f))
        {
            w.WriteNumber("tid", (ushort)tx.Key);
            w.WriteNumber("unit", (byte)(tx.Key >> 16));
            return;
        }
        w.WriteNumber("tid", f.TransactionId);
        w.WriteNumber("unit", f.UnitId);
        w.WriteNumber("func", f.Function);
        w.WriteString("func_name", f.FunctionName);
        WriteNullable(w, "sub_func", f.SubFunction);
        WriteNullable(w, "address", f.Address);
        WriteNullable(w, "quantity", f.Quantity);
        Span<int> values = stackalloc int[MaxValues];
        int n = f.CopyValues(values);
        w.WriteStartArray("values");
        for (int i = 0; i < n; i++) w.WriteNumberValue(values[i]);
        w.WriteEndArray();
        if (f.WriteAddress is not null)
        {
            WriteNullable(w, "write_address", f.WriteAddress);
            WriteNullable(w, "write_quantity", f.WriteQuantity);
            n = f.CopyWriteValues(values);
            w.WriteStartArray("write_values");
            for (int i = 0; i < n; i++) w.WriteNumberValue(values[i]);
            w.WriteEndArray();
        }
        if (f.ExceptionCode is { } ex)
        {
            w.WriteNumber("exception", ex);
            w.WriteString("exception_name", f.ExceptionName ?? "UNDEFINED");
        }
        else
        {
            w.WriteNull("exception");
        }
    }

    private static void WriteNullable(Utf8JsonWriter w, string name, int? value)
    {
        if (value is { } v) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }
}
