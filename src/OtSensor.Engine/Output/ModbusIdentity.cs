using System.Text;
using System.Text.Json;
using OtSensor.Protocols.Modbus;

namespace OtSensor.Output;

/// <summary>Read Device Identification (FC 43/14) objects of one unit, merged over every response seen.</summary>
public sealed class ModbusIdentity
{
    public const int MaxValueLength = 245;

    private static readonly string[] Keys = ["vendor_name", "product_code", "revision", "vendor_url", "product_name", "model_name", "user_application_name"];
    private static readonly JsonEncodedText[] EncodedKeys = [.. Keys.Select(k => JsonEncodedText.Encode(k))];

    // Object ids ascending, with their values: plain arrays rather than a SortedDictionary<int, string>, whose generic
    // code is compiled at start-up of the summary and ran unoptimised for each of thousands of devices.
    private int[] _ids = new int[8];
    private string[] _values = new string[8];
    private int _count;

    /// <summary>The objects by ascending object id.</summary>
    public IEnumerable<KeyValuePair<int, string>> Objects
    {
        get
        {
            for (int i = 0; i < _count; i++) yield return new KeyValuePair<int, string>(_ids[i], _values[i]);
        }
    }

    public int ConformityLevel { get; private set; } = -1;

    public string? VendorName => Get(0);
    public string? ProductCode => Get(1);
    public string? Revision => Get(2);

    /// <summary>The value of an object, or null.</summary>
    public string? Get(int objectId)
    {
        int i = IndexOf(objectId);
        return i >= 0 ? _values[i] : null;
    }

    private int IndexOf(int objectId)
    {
        for (int i = 0; i < _count; i++)
        {
            if (_ids[i] == objectId) return i;
            if (_ids[i] > objectId) break;
        }
        return -1;
    }

    private void Set(int objectId, string value)
    {
        int at = 0;
        while (at < _count && _ids[at] < objectId) at++;
        if (at < _count && _ids[at] == objectId)
        {
            _values[at] = value;
            return;
        }
        if (_count == _ids.Length)
        {
            Array.Resize(ref _ids, _count * 2);
            Array.Resize(ref _values, _count * 2);
        }
        Array.Copy(_ids, at, _ids, at + 1, _count - at);
        Array.Copy(_values, at, _values, at + 1, _count - at);
        _ids[at] = objectId;
        _values[at] = value;
        _count++;
    }

    /// <summary>Merges the objects of one FC 43/14 response PDU (several responses when "more follows").</summary>
    internal void Add(ReadOnlySpan<byte> pdu)
    {
        if (!ModbusDeviceIdentification.TryParse(pdu, out var id)) return;
        ConformityLevel = id.ConformityLevel;
        foreach (var o in id)
        {
            var v = o.Value.Length > MaxValueLength ? o.Value[..MaxValueLength] : o.Value;
            Set(o.ObjectId, Sanitize(Encoding.Latin1.GetString(v)));
        }
    }

    /// <summary>Device strings come off the wire: control characters are replaced so they cannot forge output lines.</summary>
    private static string Sanitize(string s)
    {
        if (s.AsSpan().IndexOfAnyInRange('\u0000', '\u001F') < 0 && s.AsSpan().IndexOfAnyInRange('\u007F', '\u009F') < 0) return s;
        var sb = new StringBuilder(s.Length);
        foreach (char c in s) sb.Append(char.IsControl(c) ? '?' : c);
        return sb.ToString();
    }

    public static string KeyFor(int objectId) => objectId < Keys.Length ? Keys[objectId] : $"object_{objectId}";

    public string Describe()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < _count; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(KeyFor(_ids[i])).Append('=').Append(_values[i]);
        }
        return sb.ToString();
    }

    internal void WriteFields(Utf8JsonWriter w)
    {
        for (int i = 0; i < _count; i++)
        {
            int id = _ids[i];
            if (id < EncodedKeys.Length) w.WriteString(EncodedKeys[id], _values[i]);
            else w.WriteString(KeyFor(id), _values[i]);
        }
    }
}
