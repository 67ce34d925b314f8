using System.Globalization;
using OtSensor.Forwarding;

namespace OtSensor.Service;

/// <summary>One capture interface of the service.</summary>
public sealed class InterfaceConfig
{
    public string Name { get; set; } = "";
    /// <summary>BPF filter compiled by libpcap (null: everything).</summary>
    public string? Bpf { get; set; }
    public int Snaplen { get; set; } = 262144;
    /// <summary>Kernel capture buffer, MiB.</summary>
    public int BufferMb { get; set; } = 32;
    public bool Promiscuous { get; set; } = true;
}

public sealed class PcapRetentionConfig
{
    /// <summary>Rolling capture directory (null: no rolling capture).</summary>
    public string? Dir { get; set; }
    public int RotateMb { get; set; } = 100;
    public int Keep { get; set; } = 10;
}

public sealed class RetentionConfig
{
    /// <summary>Delivered alerts whose last sighting is older than this are pruned (0: no age bound).</summary>
    public int AlertsMaxAgeDays { get; set; } = 90;
    /// <summary>Delivered inventory changes older than this are pruned (0: no age bound).</summary>
    public int ChangesMaxAgeDays { get; set; } = 90;
    /// <summary>At most this many inventory changes are kept; the oldest delivered ones go first (0: no bound).</summary>
    public long MaxChanges { get; set; } = 100_000;
    /// <summary>At most this many alerts are kept; the oldest delivered ones go first (0: no bound).</summary>
    public long MaxAlerts { get; set; } = 100_000;
    /// <summary>How often the retention job runs.</summary>
    public int IntervalMinutes { get; set; } = 60;
    public PcapRetentionConfig Pcap { get; set; } = new();
}

public sealed class DetectionConfig
{
    public bool Enabled { get; set; } = true;
    /// <summary>learn, protect, auto or off (as <c>otsensor replay --baseline</c>).</summary>
    public string Baseline { get; set; } = "auto";
    /// <summary>The rules JSON of <c>otsensor replay --rules-config</c> (null: built-in defaults).</summary>
    public string? RulesConfig { get; set; }
}

/// <summary>
/// One SIEM destination: the URL of <c>otsensor forward --to</c> (with its per-destination <c>?key=value</c> options)
/// and the defaults the forward command takes as options, under the same names.
/// </summary>
public sealed class DestinationConfig
{
    public string Url { get; set; } = "";
    public string? Format { get; set; }
    public string? Syslog { get; set; }
    public string? Facility { get; set; }
    public int MinSeverity { get; set; }
    public List<string> Types { get; set; } = [];
    public string? Ca { get; set; }
    public string? Cert { get; set; }
    public string? Key { get; set; }
    public string? ServerName { get; set; }
    public bool InsecureSkipVerify { get; set; }
    /// <summary>Also send inventory changes (new assets, firmware changes...), as <c>forward --no-inventory</c> inverted.</summary>
    public bool Inventory { get; set; } = true;

    /// <summary>The forwarding destination, parsed as <c>otsensor forward</c> does.</summary>
    /// <exception cref="ForwardConfigException">A bad URL or option.</exception>
    public Destination ToDestination()
    {
        var d = new Destination();
        if (Format is not null) d = d with { Format = Destination.ParseFormat(Format) };
        if (Syslog is not null) d = d with { Syslog = Destination.ParseSyslog(Syslog) };
        if (Facility is not null) d = d with { Facility = Destination.ParseFacility(Facility) };
        if (MinSeverity is < 0 or > 10) throw new ForwardConfigException("min_severity must be from 0 to 10");
        d = d with
        {
            MinSeverity = MinSeverity,
            Types = new HashSet<string>(Types, StringComparer.Ordinal),
            CaFile = Ca,
            CertFile = Cert,
            KeyFile = Key,
            ServerName = ServerName,
            InsecureSkipVerify = InsecureSkipVerify,
            Inventory = Inventory,
        };
        d = Destination.Parse(Url, d);
        if (d.Kind != TransportKind.Tls && (Ca ?? Cert ?? Key) is not null) throw new ForwardConfigException("ca, cert and key apply to tls:// destinations only");
        return d;
    }
}

public sealed class SiemConfig
{
    public List<DestinationConfig> Destinations { get; set; } = [];
    /// <summary>As <c>otsensor forward --max-backlog</c> (0: no bound).</summary>
    public long MaxBacklog { get; set; }
    /// <summary>As <c>otsensor forward --max-age</c>, seconds (0: no bound).</summary>
    public int MaxAgeSeconds { get; set; }
}

public sealed class MetricsConfig
{
    public bool Enabled { get; set; }
    /// <summary>TCP port of the Prometheus endpoint, always bound to 127.0.0.1.</summary>
    public int Port { get; set; } = 9469;
}

/// <summary>The service's configuration file (<c>otsensor run --config FILE</c>), JSON or YAML, keys in snake_case.</summary>
public sealed class ServiceConfig
{
    public const string DefaultStorePath = "/var/lib/otsensor/otsensor.db";
    public const string DefaultStatusSocket = "/run/otsensor/status.sock";

    /// <summary>The file it was read from (for messages).</summary>
    public string File { get; set; } = "";
    public List<InterfaceConfig> Interfaces { get; set; } = [];
    /// <summary>Ring between each capture thread and the decoder, MiB.</summary>
    public int RingMb { get; set; } = 64;
    /// <summary>Dissector workers (0: the number of cores).</summary>
    public int Workers { get; set; }
    public string Store { get; set; } = DefaultStorePath;
    public RetentionConfig Retention { get; set; } = new();
    public DetectionConfig Detection { get; set; } = new();
    public List<int> ModbusPorts { get; set; } = [];
    public SiemConfig Siem { get; set; } = new();
    public MetricsConfig Metrics { get; set; } = new();
    /// <summary>Unix socket <c>otsensor status</c> reads (null: /run/otsensor/status.sock when /run/otsensor exists, else beside the store).</summary>
    public string? StatusSocket { get; set; }
    public int StatsIntervalSeconds { get; set; } = 60;

    public int EffectiveWorkers => Workers > 0 ? Workers : Math.Max(1, Environment.ProcessorCount);

    /// <summary>The status socket path the service listens on and <c>otsensor status</c> connects to.</summary>
    public string EffectiveStatusSocket
    {
        get
        {
            if (!string.IsNullOrEmpty(StatusSocket)) return StatusSocket;
            if (Directory.Exists(Path.GetDirectoryName(DefaultStatusSocket))) return DefaultStatusSocket;
            return Path.Combine(Path.GetDirectoryName(Path.GetFullPath(Store)) ?? ".", "status.sock");
        }
    }

    /// <summary>Reads a JSON (<c>.json</c>) or YAML (<c>.yaml</c>, <c>.yml</c>) file; unknown keys and bad values are errors.</summary>
    /// <exception cref="ConfigException">With the file, the key path (and line for YAML) and what is wrong.</exception>
    public static ServiceConfig Load(string path)
    {
        string text;
        try
        {
            text = System.IO.File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new ConfigException($"{path}: cannot read the configuration: {ex.Message}");
        }
        string ext = Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".json" => Parse(text, path, yaml: false),
            ".yaml" or ".yml" => Parse(text, path, yaml: true),
            _ => throw new ConfigException($"{path}: the configuration must be a .json, .yaml or .yml file"),
        };
    }

    public static ServiceConfig Parse(string text, string file, bool yaml)
    {
        var root = yaml ? YamlSubsetReader.Parse(text, file) : JsonConfigReader.Parse(text, file);
        var c = ServiceConfigBinder.Bind(root, file);
        c.File = file;
        return c;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{File}: {Interfaces.Count} interface(s), store {Store}");
}
