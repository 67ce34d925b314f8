using System.Globalization;

namespace OtSensor.Inventory;

/// <summary>
/// One inventory change that matters to a SIEM (a new asset, a changed identity or firmware revision...), as stored
/// (table <c>inventory_changes</c>), listed (<c>otsensor changes --json</c>) and forwarded (CEF, JSON lines). Wire
/// strings inside (identity values, client ids) were cleaned of control characters by the inventory; sinks still
/// escape and bound them.
/// </summary>
public sealed class InventoryChange
{
    /// <summary>Store sequence number (monotonic, never reused), assigned when committed; 0 before.</summary>
    public long Id { get; set; }
    /// <summary>Catalog id (<see cref="InventoryChangeCatalog"/>), e.g. <c>asset_firmware_changed</c>.</summary>
    public required string Type { get; init; }
    public int SignatureId { get; init; }
    public required string Name { get; init; }
    /// <summary>0–10.</summary>
    public int Severity { get; init; }
    /// <summary>Packet time of the proof (ns since the Unix epoch); the asset's last-seen time when no single packet proves it.</summary>
    public long TimeNs { get; init; }
    /// <summary>Frame number of the proving packet in the replay that saw it (0 when unknown).</summary>
    public long Frame { get; init; }
    public long AssetId { get; init; }
    /// <summary><c>mac:…</c> or <c>ip:…</c>.</summary>
    public required string AssetKey { get; init; }
    /// <summary>The asset's first IP (for <c>asset_ip_moved</c>: the IP that moved).</summary>
    public string? Ip { get; init; }
    public string? Mac { get; init; }
    /// <summary>Identity vendor name, else the MAC vendor.</summary>
    public string? Vendor { get; init; }
    /// <summary>Model name, else product name, else product code.</summary>
    public string? Model { get; init; }
    /// <summary>What changed: <c>asset</c>, <c>identity.revision</c>, <c>role</c>, <c>service</c>, <c>mqtt_client_id</c>, <c>ip</c>...</summary>
    public required string Attribute { get; init; }
    public string? OldValue { get; init; }
    public string? NewValue { get; init; }
    public required string Message { get; init; }

    /// <summary>CEF <c>act</c>: <c>new</c>, <c>changed</c> or <c>moved</c>.</summary>
    public string Action => Type.EndsWith("_changed", StringComparison.Ordinal) ? "changed" : Type.EndsWith("_moved", StringComparison.Ordinal) ? "moved" : "new";
}

/// <summary>One inventory change type: stable id, CEF signature id (5400–5499, beside the alerts' 5100–5399), name and severity.</summary>
public sealed record InventoryChangeType(string Id, int SignatureId, string Name, int Severity, string Description);

/// <summary>The catalog of inventory change types. Ids and signature ids are stable; never renumber.</summary>
public static class InventoryChangeCatalog
{
    /// <summary>The CEF <c>cat</c> (and JSON <c>category</c>) of every inventory change.</summary>
    public const string Category = "inventory";

    public static readonly InventoryChangeType AssetNew = new("asset_new", 5401, "New asset", 3, "An asset appears in the store for the first time.");
    public static readonly InventoryChangeType IdentityNew = new("asset_identity_new", 5402, "Asset identity attribute learned", 2, "A device reports an identity attribute (Modbus FC 43/14 vendor, product code, revision, product / model name...) it never reported before.");
    public static readonly InventoryChangeType IdentityChanged = new("asset_identity_changed", 5403, "Asset identity changed", 7, "A device reports a different vendor, product code, product / model name, vendor URL or application name than before (replaced device or spoofing).");
    public static readonly InventoryChangeType FirmwareChanged = new("asset_firmware_changed", 5404, "Asset firmware revision changed", 6, "A device reports a different firmware revision (Modbus FC 43/14 object 2) than before.");
    public static readonly InventoryChangeType MqttIdentityNew = new("asset_mqtt_identity_new", 5405, "New MQTT client id or user on an asset", 3, "An asset connects to a broker with a client id or user name never seen for it.");
    public static readonly InventoryChangeType RoleNew = new("asset_role_new", 5406, "New role on an asset", 4, "An asset starts playing a role it did not have (Modbus server, MQTT broker, router...).");
    public static readonly InventoryChangeType ServiceNew = new("asset_service_new", 5407, "New listening service on an asset", 4, "An asset answers on a TCP/UDP port it was not known to serve.");
    public static readonly InventoryChangeType IpMoved = new("asset_ip_moved", 5408, "IP address moved to another MAC", 6, "An IP address known on one MAC shows up on another (replacement, DHCP, or ARP spoofing).");

    private static readonly InventoryChangeType[] s_all = [AssetNew, IdentityNew, IdentityChanged, FirmwareChanged, MqttIdentityNew, RoleNew, ServiceNew, IpMoved];

    /// <summary>Every change type, in signature id order.</summary>
    public static IReadOnlyList<InventoryChangeType> All => s_all;

    public static bool TryGet(string id, out InventoryChangeType type)
    {
        foreach (var t in s_all)
        {
            if (t.Id == id)
            {
                type = t;
                return true;
            }
        }
        type = null!;
        return false;
    }
}

/// <summary>
/// The store side of inventory changes that sinks read from (like <see cref="OtSensor.Detection.IAlertOutbox"/>):
/// changes are committed with the inventory snapshot that caused them, and each forwarder keeps its own cursor.
/// </summary>
public interface IInventoryChangeOutbox
{
    /// <summary>Changes with an id greater than <paramref name="afterId"/>, oldest first, at most <paramref name="max"/>.</summary>
    IReadOnlyList<InventoryChange> ReadAfter(long afterId, int max);

    /// <summary>The last delivered change id of a destination (0 when it never delivered).</summary>
    long GetCursor(string destination);

    /// <summary>Moves a destination's cursor forward (never backward).</summary>
    void SetCursor(string destination, long deliveredId);
}

/// <summary>What change detection remembers of one committed asset row (compared with the next snapshot).</summary>
public sealed class AssetFacts
{
    public required string Key { get; init; }
    public string? Mac { get; init; }
    public bool IsRouter { get; init; }
    public required string[] Ips { get; init; }
    public required string[] Roles { get; init; }
    public required string[] Services { get; init; }
    public required string[] MqttClientIds { get; init; }
    public required string[] MqttUsernames { get; init; }
    /// <summary>The identity values in <see cref="InventoryChangeDetector.IdentityAttributes"/> order.</summary>
    public required string?[] Identity { get; init; }
    public long FirstSeenNs { get; init; }

    public static AssetFacts Of(AssetRecord a) => new()
    {
        Key = a.Key,
        Mac = a.Kind == "mac" ? a.Mac : null,
        IsRouter = a.Roles.Contains("router"),
        Ips = [.. a.Ips],
        Roles = [.. a.Roles],
        Services = [.. a.Services.Select(ServiceText)],
        MqttClientIds = [.. a.MqttClientIds],
        MqttUsernames = [.. a.MqttUsernames],
        Identity = InventoryChangeDetector.IdentityValues(a.Identity),
        FirstSeenNs = InventoryChangeDetector.ParseTime(a.FirstSeen),
    };

    internal static string ServiceText(ServiceRecord s)
        => string.Create(CultureInfo.InvariantCulture, $"{s.Transport}/{s.Port}");
}

/// <summary>
/// Compares an inventory snapshot with what the store last committed and lists the changes that matter. Pure and
/// deterministic (snapshot order, then attribute order): the same snapshot against the same state gives the same
/// changes, and a snapshot equal to the state gives none, so re-replaying a capture adds nothing.
/// </summary>
public static class InventoryChangeDetector
{
    /// <summary>Identity attributes in comparison order (as the asset's <c>sources</c> names them, after <c>identity.</c>).</summary>
    public static readonly string[] IdentityAttributes = ["vendor_name", "product_code", "revision", "vendor_url", "product_name", "model_name", "user_application_name"];

    private const int RevisionIndex = 2;
    /// <summary>Bound on a list of old values written into one change.</summary>
    private const int MaxOldValueChars = 512;

    internal static string?[] IdentityValues(IdentityRecord i)
        => [i.VendorName, i.ProductCode, i.Revision, i.VendorUrl, i.ProductName, i.ModelName, i.UserApplicationName];

    /// <summary>Nanoseconds since the epoch of an RFC 3339 time (0 when absent or unreadable).</summary>
    public static long ParseTime(string? rfc3339)
    {
        if (rfc3339 is { Length: 27 } && TryParseOwnTime(rfc3339, out long ns)) return ns;
        if (string.IsNullOrEmpty(rfc3339)
            || !DateTimeOffset.TryParse(rfc3339, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)) return 0;
        return (t.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
    }

    /// <summary>
    /// The form the inventory writes times in ("2023-11-14T22:13:23.613144Z", see InventoryMaterializer.Time), read
    /// digit by digit: the general parser costs more than detecting the changes of an asset does. Anything else
    /// (another form, an impossible date) is left to the general parser.
    /// </summary>
    private static bool TryParseOwnTime(string s, out long ns)
    {
        ns = 0;
        if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z') return false;
        int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, micros = 0;
        if (!Digits(s, 0, 4, ref year) || !Digits(s, 5, 2, ref month) || !Digits(s, 8, 2, ref day) || !Digits(s, 11, 2, ref hour)
            || !Digits(s, 14, 2, ref minute) || !Digits(s, 17, 2, ref second) || !Digits(s, 20, 6, ref micros)) return false;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return false;
        long ticks = new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc).Ticks + micros * 10L;
        ns = (ticks - DateTimeOffset.UnixEpoch.UtcTicks) * 100;
        return true;

        static bool Digits(string s, int at, int count, ref int value)
        {
            for (int i = at; i < at + count; i++)
            {
                int d = s[i] - '0';
                if ((uint)d > 9) return false;
                value = value * 10 + d;
            }
            return true;
        }
    }

    /// <summary>
    /// The changes from <paramref name="previous"/> (committed rows by key; empty for a new store) to
    /// <paramref name="assets"/>, and the state to remember once they are committed (<paramref name="next"/>).
    /// </summary>
    public static List<InventoryChange> Detect(IReadOnlyList<AssetRecord> assets, IReadOnlyDictionary<string, AssetFacts> previous,
        out Dictionary<string, AssetFacts> next)
    {
        var changes = new List<InventoryChange>();
        next = new Dictionary<string, AssetFacts>(assets.Count, StringComparer.Ordinal);
        var facts = new AssetFacts[assets.Count];
        for (int i = 0; i < assets.Count; i++)
        {
            facts[i] = AssetFacts.Of(assets[i]);
            next[assets[i].Key] = facts[i];
        }

        // Who held each IP (hosts on the local segment: MAC assets that are not routers), before and now.
        var oldHolders = new Dictionary<string, List<AssetFacts>>(StringComparer.Ordinal);
        foreach (var f in previous.Values)
            if (f.Mac is not null && !f.IsRouter)
                foreach (var ip in f.Ips) Holders(oldHolders, ip).Add(f);
        var newHolders = new Dictionary<string, List<AssetFacts>>(StringComparer.Ordinal);
        foreach (var f in facts)
            if (f.Mac is not null && !f.IsRouter)
                foreach (var ip in f.Ips) Holders(newHolders, ip).Add(f);

        for (int i = 0; i < assets.Count; i++)
        {
            var a = assets[i];
            var now = facts[i];
            previous.TryGetValue(a.Key, out var old);
            if (old is null)
            {
                changes.Add(Make(InventoryChangeCatalog.AssetNew, a, "asset", null, a.Label, FirstTime(a), FirstFrame(a),
                    $"New asset {Describe(a)}"));
            }
            else
            {
                for (int k = 0; k < IdentityAttributes.Length; k++)
                {
                    string? was = old.Identity[k], v = now.Identity[k];
                    if (string.IsNullOrEmpty(v) || string.Equals(was, v, StringComparison.Ordinal)) continue;
                    string attr = "identity." + IdentityAttributes[k];
                    var (t, frame) = Proof(a, attr);
                    string label = IdentityAttributes[k].Replace('_', ' ');
                    if (string.IsNullOrEmpty(was))
                        changes.Add(Make(InventoryChangeCatalog.IdentityNew, a, attr, null, v, t, frame, $"{Describe(a)} reports {label} '{v}'"));
                    else if (k == RevisionIndex)
                        changes.Add(Make(InventoryChangeCatalog.FirmwareChanged, a, attr, was, v, t, frame, $"Firmware revision of {Describe(a)} changed from '{was}' to '{v}'"));
                    else
                        changes.Add(Make(InventoryChangeCatalog.IdentityChanged, a, attr, was, v, t, frame, $"{label} of {Describe(a)} changed from '{was}' to '{v}'"));
                }
                AddNew(changes, a, old.MqttClientIds, now.MqttClientIds, "mqtt_client_id", InventoryChangeCatalog.MqttIdentityNew, "MQTT client id");
                AddNew(changes, a, old.MqttUsernames, now.MqttUsernames, "mqtt_username", InventoryChangeCatalog.MqttIdentityNew, "MQTT user");
                AddNew(changes, a, old.Roles, now.Roles, "role", InventoryChangeCatalog.RoleNew, "role");
                foreach (var s in a.Services)
                {
                    string text = AssetFacts.ServiceText(s);
                    if (Array.IndexOf(old.Services, text) >= 0) continue;
                    string shown = s.Proto is null ? text : text + " (" + s.Proto + ")";
                    changes.Add(Make(InventoryChangeCatalog.ServiceNew, a, "service", Join(old.Services), shown,
                        ParseTime(s.FirstSeen) is > 0 and var ft ? ft : LastTime(a), 0, $"{Describe(a)} serves {shown}"));
                }
            }

            // An IP new on this host that another host held: moved.
            if (now.Mac is null || now.IsRouter) continue;
            foreach (var ip in now.Ips)
            {
                if (old is not null && Array.IndexOf(old.Ips, ip) >= 0) continue;
                AssetFacts? from = null;
                if (oldHolders.TryGetValue(ip, out var before))
                    foreach (var h in before)
                        if (h.Key != now.Key) { from = h; break; }
                if (from is null && newHolders.TryGetValue(ip, out var others))
                {
                    // Both hosts got the IP in this flush: report it once, on the one seen later.
                    foreach (var h in others)
                    {
                        if (h.Key == now.Key || (previous.TryGetValue(h.Key, out var hOld) && Array.IndexOf(hOld.Ips, ip) >= 0)) continue;
                        bool nowIsLater = now.FirstSeenNs != h.FirstSeenNs ? now.FirstSeenNs > h.FirstSeenNs : string.CompareOrdinal(now.Key, h.Key) > 0;
                        if (nowIsLater) { from = h; break; }
                    }
                }
                if (from is null) continue;
                var (t, frame) = Proof(a, "ip." + ip);
                changes.Add(new InventoryChange
                {
                    Type = InventoryChangeCatalog.IpMoved.Id, SignatureId = InventoryChangeCatalog.IpMoved.SignatureId,
                    Name = InventoryChangeCatalog.IpMoved.Name, Severity = InventoryChangeCatalog.IpMoved.Severity,
                    TimeNs = t, Frame = frame, AssetId = a.Id, AssetKey = a.Key, Ip = ip, Mac = a.Mac, Vendor = Vendor(a), Model = Model(a),
                    Attribute = "ip", OldValue = from.Mac, NewValue = a.Mac,
                    Message = $"IP {ip} moved from MAC {from.Mac} to MAC {a.Mac}" + (Vendor(a) is { } v ? $" ({v})" : ""),
                });
            }
        }
        return changes;
    }

    private static List<AssetFacts> Holders(Dictionary<string, List<AssetFacts>> map, string ip)
    {
        if (!map.TryGetValue(ip, out var list))
        {
            list = [];
            map[ip] = list;
        }
        return list;
    }

    private static void AddNew(List<InventoryChange> changes, AssetRecord a, string[] old, string[] now, string attribute, InventoryChangeType type, string what)
    {
        foreach (var v in now)
        {
            if (Array.IndexOf(old, v) >= 0) continue;
            var (t, frame) = Proof(a, attribute);
            if (attribute == "mqtt_client_id" && a.Sources.TryGetValue(attribute, out var f) && f.Value != v) (t, frame) = (LastTime(a), 0);
            changes.Add(Make(type, a, attribute, Join(old), v, t, frame, $"{Describe(a)}: new {what} '{v}'"));
        }
    }

    private static string? Join(string[] values)
    {
        if (values.Length == 0) return null;
        string s = string.Join(',', values);
        return s.Length > MaxOldValueChars ? s[..MaxOldValueChars] : s;
    }

    private static InventoryChange Make(InventoryChangeType type, AssetRecord a, string attribute, string? oldValue, string? newValue, long timeNs, long frame, string message) => new()
    {
        Type = type.Id, SignatureId = type.SignatureId, Name = type.Name, Severity = type.Severity,
        TimeNs = timeNs, Frame = frame, AssetId = a.Id, AssetKey = a.Key, Ip = a.Ips.Count > 0 ? a.Ips[0] : null, Mac = a.Mac,
        Vendor = Vendor(a), Model = Model(a), Attribute = attribute, OldValue = oldValue, NewValue = newValue, Message = message,
    };

    private static string? Vendor(AssetRecord a) => NonEmpty(a.Identity.VendorName) ?? NonEmpty(a.MacVendor);

    private static string? Model(AssetRecord a) => NonEmpty(a.Identity.ModelName) ?? NonEmpty(a.Identity.ProductName) ?? NonEmpty(a.Identity.ProductCode);

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private static string Describe(AssetRecord a)
    {
        string who = a.Ips.Count > 0 ? a.Ips[0] + (a.Mac is { } m ? " (" + m + ")" : "") : a.Mac ?? a.Key;
        string? what = string.Join(' ', new[] { Vendor(a), Model(a) }.Where(s => s is not null));
        return what.Length > 0 ? who + " " + what : who;
    }

    private static long LastTime(AssetRecord a) => ParseTime(a.LastSeen) is > 0 and var t ? t : ParseTime(a.FirstSeen);

    private static long FirstTime(AssetRecord a) => ParseTime(a.FirstSeen) is > 0 and var t ? t : ParseTime(a.LastSeen);

    /// <summary>Time and frame of the packet that proved an attribute (its source record), else the asset's last-seen time and 0.</summary>
    private static (long TimeNs, long Frame) Proof(AssetRecord a, string attribute)
        => a.Sources.TryGetValue(attribute, out var f) && ParseTime(f.Time) is > 0 and var t ? (t, f.Frame) : (LastTime(a), 0);

    /// <summary>The frame of the earliest proof the asset carries (0 when none).</summary>
    private static long FirstFrame(AssetRecord a)
    {
        long best = long.MaxValue, frame = 0;
        foreach (var f in a.Sources.Values)
        {
            long t = ParseTime(f.Time);
            if (t > 0 && t < best && f.Frame > 0) { best = t; frame = f.Frame; }
        }
        return frame;
    }
}
