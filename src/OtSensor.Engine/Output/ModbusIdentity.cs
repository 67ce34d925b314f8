using System.Text.Json;

namespace OtSensor.Output;

/// <summary>Read Device Identification (FC 43/14) objects of one unit, merged over every response seen.</summary>
public sealed class ModbusIdentity
{
    public const int MaxValueLength = 245;

    private static readonly string[] Keys = ["vendor_name", "product_code", "revision", "vendor_url", "product_name", "model_name", "user_application_name"];

    public SortedDictionary<int, string> Objects { get; } = [];
    public int ConformityLevel { get; private set; } = -1;

    public string? VendorName => Objects.GetValueOrDefault(0);
    public string? ProductCode => Objects.GetValueOrDefault(1);
    public string? Revision => Objects.GetValueOrDefault(2);

    internal void Add(ReadOnlySpan<byte> pdu)
    {
        // TODO(merge): replace with ModbusDeviceIdentification from Protocols/Modbus.
        _ = pdu;
    }

    public static string KeyFor(int objectId) => objectId < Keys.Length ? Keys[objectId] : $"object_{objectId}";

    public string Describe() => string.Join(", ", Objects.Select(o => $"{KeyFor(o.Key)}={o.Value}"));

    internal void WriteFields(Utf8JsonWriter w)
    {
        foreach (var (id, value) in Objects) w.WriteString(KeyFor(id), value);
    }
}
