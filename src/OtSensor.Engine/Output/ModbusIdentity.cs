using System.Text;
using System.Text.Json;
using OtSensor.Protocols.Modbus;

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

    /// <summary>Merges the objects of one FC 43/14 response PDU (several responses when "more follows").</summary>
    internal void Add(ReadOnlySpan<byte> pdu)
    {
        if (!ModbusDeviceIdentification.TryParse(pdu, out var id)) return;
        ConformityLevel = id.ConformityLevel;
        foreach (var o in id)
        {
            var v = o.Value.Length > MaxValueLength ? o.Value[..MaxValueLength] : o.Value;
            Objects[o.ObjectId] = Sanitize(Encoding.Latin1.GetString(v));
        }
    }

    /// <summary>Device strings come off the wire: control characters are replaced so they cannot forge output lines.</summary>
    private static string Sanitize(string s)
    {
        if (!s.Any(char.IsControl)) return s;
        var sb = new StringBuilder(s.Length);
        foreach (char c in s) sb.Append(char.IsControl(c) ? '?' : c);
        return sb.ToString();
    }

    public static string KeyFor(int objectId) => objectId < Keys.Length ? Keys[objectId] : $"object_{objectId}";

    public string Describe() => string.Join(", ", Objects.Select(o => $"{KeyFor(o.Key)}={o.Value}"));

    internal void WriteFields(Utf8JsonWriter w)
    {
        foreach (var (id, value) in Objects) w.WriteString(KeyFor(id), value);
    }
}
