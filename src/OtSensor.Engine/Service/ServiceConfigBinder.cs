using System.Globalization;

namespace OtSensor.Service;

/// <summary>
/// Maps a <see cref="ConfigNode"/> tree onto <see cref="ServiceConfig"/>: every key must be known, every value of the
/// right type and range; the error names the file, the key path (<c>interfaces[0].snaplen</c>) and, for YAML, the line.
/// </summary>
internal sealed class ServiceConfigBinder
{
    private readonly string _file;

    private ServiceConfigBinder(string file) => _file = file;

    public static ServiceConfig Bind(ConfigNode root, string file)
    {
        var b = new ServiceConfigBinder(file);
        var c = new ServiceConfig();
        b.Map(root, "", (key, v, p) =>
        {
            switch (key)
            {
                case "interfaces": c.Interfaces = b.List(v, p, b.Interface); return true;
                case "ring_mb": c.RingMb = b.Int(v, p, 1, 4096); return true;
                case "workers": c.Workers = b.Int(v, p, 0, 64); return true;
                case "store": c.Store = b.Str(v, p); return true;
                case "retention": c.Retention = b.Retention(v, p); return true;
                case "detection": c.Detection = b.Detection(v, p); return true;
                case "modbus_ports": c.ModbusPorts = b.List(v, p, (n, q) => b.Int(n, q, 1, 65535)); return true;
                case "siem": c.Siem = b.Siem(v, p); return true;
                case "metrics": c.Metrics = b.Metrics(v, p); return true;
                case "status_socket": c.StatusSocket = b.OptStr(v, p); return true;
                case "stats_interval_seconds": c.StatsIntervalSeconds = b.Int(v, p, 1, 86400); return true;
                default: return false;
            }
        });
        return c;
    }

    private InterfaceConfig Interface(ConfigNode n, string path)
    {
        if (n is ConfigScalar { Kind: ConfigScalarKind.String } s) return new InterfaceConfig { Name = NonEmpty(s, path) };
        var i = new InterfaceConfig();
        Map(n, path, (key, v, p) =>
        {
            switch (key)
            {
                case "name": i.Name = NonEmpty(v, p); return true;
                case "bpf": i.Bpf = OptStr(v, p); return true;
                case "snaplen": i.Snaplen = Int(v, p, 64, 262144); return true;
                case "buffer_mb": i.BufferMb = Int(v, p, 1, 2048); return true;
                case "promiscuous": i.Promiscuous = Bool(v, p); return true;
                default: return false;
            }
        });
        if (i.Name.Length == 0) throw Fail(n, path, "'name' is required");
        return i;
    }

    private RetentionConfig Retention(ConfigNode n, string path)
    {
        var r = new RetentionConfig();
        Map(n, path, (key, v, p) =>
        {
            switch (key)
            {
                case "alerts_max_age_days": r.AlertsMaxAgeDays = Int(v, p, 0, 36500); return true;
                case "max_alerts": r.MaxAlerts = Int(v, p, 0, int.MaxValue); return true;
                case "changes_max_age_days": r.ChangesMaxAgeDays = Int(v, p, 0, 36500); return true;
                case "max_changes": r.MaxChanges = Int(v, p, 0, int.MaxValue); return true;
                case "interval_minutes": r.IntervalMinutes = Int(v, p, 1, 10080); return true;
                case "pcap":
                    var pc = new PcapRetentionConfig();
                    Map(v, p, (k2, v2, p2) =>
                    {
                        switch (k2)
                        {
                            case "dir": pc.Dir = OptStr(v2, p2); return true;
                            case "rotate_mb": pc.RotateMb = Int(v2, p2, 1, 100_000); return true;
                            case "keep": pc.Keep = Int(v2, p2, 1, 100_000); return true;
                            default: return false;
                        }
                    });
                    r.Pcap = pc;
                    return true;
                default: return false;
            }
        });
        return r;
    }

    private DetectionConfig Detection(ConfigNode n, string path)
    {
        var d = new DetectionConfig();
        Map(n, path, (key, v, p) =>
        {
            switch (key)
            {
                case "enabled": d.Enabled = Bool(v, p); return true;
                case "baseline":
                    d.Baseline = Str(v, p);
                    if (d.Baseline is not ("learn" or "protect" or "auto" or "off")) throw Fail(v, p, $"must be learn, protect, auto or off (not '{d.Baseline}')");
                    return true;
                case "rules_config": d.RulesConfig = OptStr(v, p); return true;
                default: return false;
            }
        });
        return d;
    }

    private SiemConfig Siem(ConfigNode n, string path)
    {
        var s = new SiemConfig();
        Map(n, path, (key, v, p) =>
        {
            switch (key)
            {
                case "destinations": s.Destinations = List(v, p, Destination); return true;
                case "max_backlog": s.MaxBacklog = Int(v, p, 0, int.MaxValue); return true;
                case "max_age_seconds": s.MaxAgeSeconds = Int(v, p, 0, int.MaxValue); return true;
                default: return false;
            }
        });
        return s;
    }

    private DestinationConfig Destination(ConfigNode n, string path)
    {
        if (n is ConfigScalar { Kind: ConfigScalarKind.String } s) return new DestinationConfig { Url = NonEmpty(s, path) };
        var d = new DestinationConfig();
        Map(n, path, (key, v, p) =>
        {
            switch (key)
            {
                case "url": d.Url = NonEmpty(v, p); return true;
                case "format": d.Format = Str(v, p); return true;
                case "syslog": d.Syslog = Str(v, p); return true;
                case "facility": d.Facility = Str(v, p, allowNumber: true); return true;
                case "min_severity": d.MinSeverity = Int(v, p, 0, 10); return true;
                case "types": d.Types = List(v, p, (x, q) => Str(x, q)); return true;
                case "ca": d.Ca = OptStr(v, p); return true;
                case "cert": d.Cert = OptStr(v, p); return true;
                case "key": d.Key = OptStr(v, p); return true;
                case "server_name": d.ServerName = OptStr(v, p); return true;
                case "insecure_skip_verify": d.InsecureSkipVerify = Bool(v, p); return true;
                case "inventory": d.Inventory = Bool(v, p); return true;
                default: return false;
            }
        });
        if (d.Url.Length == 0) throw Fail(n, path, "'url' is required");
        return d;
    }

    private MetricsConfig Metrics(ConfigNode n, string path)
    {
        var m = new MetricsConfig();
        Map(n, path, (key, v, p) =>
        {
            switch (key)
            {
                case "enabled": m.Enabled = Bool(v, p); return true;
                case "port": m.Port = Int(v, p, 1, 65535); return true;
                default: return false;
            }
        });
        return m;
    }

    // ---- primitives ----

    private void Map(ConfigNode n, string path, Func<string, ConfigNode, string, bool> set)
    {
        if (n is ConfigScalar { Kind: ConfigScalarKind.Null }) return; // "key:" with nothing: the defaults
        if (n is not ConfigMap map) throw Fail(n, path, "expected a map of 'key: value'");
        for (int i = 0; i < map.Entries.Count; i++)
        {
            var (key, value) = map.Entries[i];
            string p = JsonConfigReader.Join(path, key);
            int line = map.KeyLines[i];
            if (!set(key, value, p)) throw Fail(line > 0 ? new ConfigScalar { Text = key, Line = line } : n, p, "unknown key");
        }
    }

    private List<T> List<T>(ConfigNode n, string path, Func<ConfigNode, string, T> item)
    {
        if (n is ConfigScalar { Kind: ConfigScalarKind.Null }) return [];
        if (n is not ConfigSeq seq) throw Fail(n, path, "expected a list");
        var list = new List<T>(seq.Items.Count);
        for (int i = 0; i < seq.Items.Count; i++) list.Add(item(seq.Items[i], string.Create(CultureInfo.InvariantCulture, $"{path}[{i}]")));
        return list;
    }

    private int Int(ConfigNode n, string path, int min, int max)
    {
        if (n is not ConfigScalar { Kind: ConfigScalarKind.Number } s || !long.TryParse(s.Text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long v))
            throw Fail(n, path, $"expected a whole number, got {Describe(n)}");
        if (v < min || v > max) throw Fail(n, path, string.Create(CultureInfo.InvariantCulture, $"must be from {min} to {max} (got {v})"));
        return (int)v;
    }

    private bool Bool(ConfigNode n, string path)
        => n is ConfigScalar { Kind: ConfigScalarKind.Bool } s ? s.Text == "true" : throw Fail(n, path, $"expected true or false, got {Describe(n)}");

    private string Str(ConfigNode n, string path, bool allowNumber = false)
    {
        if (n is ConfigScalar { Kind: ConfigScalarKind.String } s) return s.Text;
        if (allowNumber && n is ConfigScalar { Kind: ConfigScalarKind.Number } num) return num.Text;
        throw Fail(n, path, $"expected a string, got {Describe(n)}");
    }

    private string? OptStr(ConfigNode n, string path)
        => n is ConfigScalar { Kind: ConfigScalarKind.Null } ? null : Str(n, path) is { Length: > 0 } s ? s : null;

    private string NonEmpty(ConfigNode n, string path)
    {
        string s = Str(n, path);
        return s.Trim().Length > 0 ? s : throw Fail(n, path, "must not be empty");
    }

    private static string Describe(ConfigNode n) => n switch
    {
        ConfigMap => "a map",
        ConfigSeq => "a list",
        ConfigScalar { Kind: ConfigScalarKind.Null } => "nothing (null)",
        ConfigScalar { Kind: ConfigScalarKind.String } s => $"\"{(s.Text.Length > 40 ? s.Text[..40] + "..." : s.Text)}\"",
        ConfigScalar s => s.Text,
        _ => "?",
    };

    private ConfigException Fail(ConfigNode n, string path, string what)
    {
        string line = n.Line > 0 ? string.Create(CultureInfo.InvariantCulture, $" line {n.Line}:") : "";
        string key = path.Length == 0 ? "the document" : $"'{path}'";
        return new ConfigException($"{_file}:{line} {key}: {what}");
    }
}
