using OtSensor.Detection;
using OtSensor.Forwarding;

namespace OtSensor.Service;

/// <summary>What the validated configuration resolves to: the forwarding destinations with their TLS settings and the rules.</summary>
public sealed class ResolvedServiceConfig
{
    public required ServiceConfig Config { get; init; }
    public List<Destination> Destinations { get; } = [];
    public List<TlsSettings?> Tls { get; } = [];
    public DetectionOptions Rules { get; init; } = new();
    public BaselineMode Baseline { get; init; }
}

/// <summary>
/// Checks a configuration before the service starts anything: interfaces exist, the store's directory is writable,
/// destinations and rules load. The first problem is a <see cref="ConfigException"/> naming the file and the key.
/// </summary>
public static class ServiceConfigValidator
{
    /// <summary>The interfaces of this machine, from /sys/class/net (the libpcap list is a superset: any, lo...).</summary>
    public static IReadOnlyCollection<string> SystemInterfaces()
    {
        try
        {
            return Directory.Exists("/sys/class/net") ? Directory.GetDirectories("/sys/class/net").Select(Path.GetFileName).OfType<string>().ToList() : [];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <exception cref="ConfigException">The first problem found.</exception>
    public static ResolvedServiceConfig Validate(ServiceConfig c, Func<IReadOnlyCollection<string>>? listInterfaces = null, Action<string>? log = null)
    {
        string f = c.File;
        if (c.Interfaces.Count == 0) throw new ConfigException($"{f}: 'interfaces': at least one capture interface is required");
        var known = (listInterfaces ?? SystemInterfaces)();
        for (int i = 0; i < c.Interfaces.Count; i++)
        {
            var itf = c.Interfaces[i];
            if (c.Interfaces.FindIndex(x => x.Name == itf.Name) != i)
                throw new ConfigException($"{f}: 'interfaces[{i}].name': interface '{itf.Name}' is listed twice");
            if (known.Count > 0 && !known.Contains(itf.Name) && itf.Name != "any")
                throw new ConfigException($"{f}: 'interfaces[{i}].name': no interface '{itf.Name}' on this machine (have: {string.Join(", ", known.Order(StringComparer.Ordinal))})");
        }
        if (c.Store.Trim().Length == 0) throw new ConfigException($"{f}: 'store': must not be empty");
        CheckWritableDir(Path.GetDirectoryName(Path.GetFullPath(c.Store)) ?? ".", f, "store");
        if (c.Retention.Pcap.Dir is { } pcapDir) CheckWritableDir(Path.GetFullPath(pcapDir), f, "retention.pcap.dir");

        DetectionOptions rules = new();
        if (c.Detection.RulesConfig is { } rc)
        {
            try
            {
                rules = DetectionOptions.Load(rc);
            }
            catch (FormatException ex)
            {
                throw new ConfigException($"{f}: 'detection.rules_config': {ex.Message}");
            }
        }
        var r = new ResolvedServiceConfig
        {
            Config = c,
            Rules = rules,
            Baseline = c.Detection.Baseline switch
            {
                "learn" => BaselineMode.Learn,
                "protect" => BaselineMode.Protect,
                "off" => BaselineMode.Off,
                _ => BaselineMode.Auto,
            },
        };
        for (int i = 0; i < c.Siem.Destinations.Count; i++)
        {
            string key = $"siem.destinations[{i}]";
            try
            {
                var d = c.Siem.Destinations[i].ToDestination();
                if (r.Destinations.Exists(x => x.Name == d.Name))
                    throw new ForwardConfigException($"'{d.Url}' is given twice (add ?name=... to keep two cursors)");
                r.Destinations.Add(d);
                r.Tls.Add(d.Kind == TransportKind.Tls ? TlsSettings.Load(d, log) : null);
            }
            catch (ForwardConfigException ex)
            {
                throw new ConfigException($"{f}: '{key}': {ex.Message}");
            }
        }
        string sock = c.EffectiveStatusSocket;
        if (sock.Length > 100) throw new ConfigException($"{f}: 'status_socket': path too long for a Unix socket ({sock.Length} characters, at most 100)");
        return r;
    }

    private static void CheckWritableDir(string dir, string f, string key)
    {
        try
        {
            Directory.CreateDirectory(dir);
            string probe = Path.Combine(dir, $".otsensor-write-test-{Environment.ProcessId}");
            System.IO.File.WriteAllBytes(probe, [1]);
            System.IO.File.Delete(probe);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            throw new ConfigException($"{f}: '{key}': directory '{dir}' is not writable: {ex.Message}");
        }
    }
}
