using System.Globalization;
using OtSensor.Core;

namespace OtSensor.Inventory;

/// <summary>
/// MAC vendor lookup from the IEEE MA-L registry that Debian ships (/usr/share/ieee-data/oui.txt, package ieee-data),
/// falling back to Wireshark's manuf file. Loaded lazily, once; malformed lines are skipped. No vendor is hard-coded.
/// </summary>
public sealed class OuiRegistry
{
    public const string IeeeOuiPath = "/usr/share/ieee-data/oui.txt";
    public const string WiresharkManufPath = "/usr/share/wireshark/manuf";
    public const string LocallyAdministered = "(locally administered)";
    public const string Multicast = "(multicast)";
    public const string Broadcast = "(broadcast)";

    private static readonly Lazy<OuiRegistry> s_default = new(() => Load(IeeeOuiPath, WiresharkManufPath));
    private readonly Dictionary<uint, string> _vendors;

    private OuiRegistry(Dictionary<uint, string> vendors, string? source)
    {
        _vendors = vendors;
        Source = source;
    }

    /// <summary>The system registry, loaded on first use.</summary>
    public static OuiRegistry Default => s_default.Value;

    /// <summary>The file the entries came from, or null when none could be read.</summary>
    public string? Source { get; }

    public int Count => _vendors.Count;

    /// <summary>Loads the first readable, non-empty file among <paramref name="paths"/> (IEEE oui.txt or Wireshark manuf format).</summary>
    public static OuiRegistry Load(params string[] paths)
    {
        foreach (var p in paths)
        {
            try
            {
                if (!File.Exists(p)) continue;
                var map = new Dictionary<uint, string>();
                foreach (var line in File.ReadLines(p)) ParseLine(line, map);
                if (map.Count > 0) return new OuiRegistry(map, p);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Try the next file.
            }
        }
        return new OuiRegistry([], null);
    }

    /// <summary>Builds a registry from text (tests).</summary>
    public static OuiRegistry Parse(string text)
    {
        var map = new Dictionary<uint, string>();
        foreach (var line in text.Split('\n')) ParseLine(line.TrimEnd('\r'), map);
        return new OuiRegistry(map, null);
    }

    internal static void ParseLine(string line, Dictionary<uint, string> map)
    {
        if (line.Length < 8 || line[0] == '#') return;
        // IEEE: "002272     (base 16)\t\tAmerican Micro-Fuel Device Corp."
        int b16 = line.IndexOf("(base 16)", StringComparison.Ordinal);
        if (b16 > 0)
        {
            var hex = line.AsSpan(0, b16).Trim();
            if (hex.Length == 6 && uint.TryParse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint oui))
            {
                var name = line.AsSpan(b16 + 9).Trim();
                if (!name.IsEmpty) map.TryAdd(oui, Clean(name));
            }
            return;
        }
        // Wireshark manuf: "00:00:22<TAB>VisualTe<TAB>Visual Technology Inc." (entries with a /mask are sub-blocks: skipped).
        int tab = line.IndexOf('\t');
        if (tab != 8) return;
        var prefix = line.AsSpan(0, 8);
        if (prefix[2] != ':' || prefix[5] != ':') return;
        Span<char> h = stackalloc char[6];
        h[0] = prefix[0]; h[1] = prefix[1]; h[2] = prefix[3]; h[3] = prefix[4]; h[4] = prefix[6]; h[5] = prefix[7];
        if (!uint.TryParse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out uint o)) return;
        var rest = line.AsSpan(tab + 1);
        int tab2 = rest.IndexOf('\t');
        var full = tab2 >= 0 ? rest[(tab2 + 1)..].Trim() : rest.Trim();
        if (!full.IsEmpty) map.TryAdd(o, Clean(full));
    }

    private static string Clean(ReadOnlySpan<char> s)
    {
        var str = s.Length > 128 ? s[..128].ToString() : s.ToString();
        foreach (char c in str)
            if (char.IsControl(c)) return string.Concat(str.Select(ch => char.IsControl(ch) ? ' ' : ch));
        return str;
    }

    /// <summary>The registered organisation for a globally unique unicast MAC, or null.</summary>
    public string? Vendor(MacAddress mac)
    {
        if (mac.IsMulticast || mac.IsLocallyAdministered) return null;
        return _vendors.GetValueOrDefault(mac.Oui);
    }

    /// <summary>What to show for a MAC: the vendor, or a label for broadcast / multicast / locally administered addresses.</summary>
    public string? Describe(MacAddress mac)
    {
        if (mac.IsZero) return null;
        if (mac.IsBroadcast) return Broadcast;
        if (mac.IsMulticast) return Multicast;
        if (mac.IsLocallyAdministered) return LocallyAdministered;
        return Vendor(mac);
    }
}
