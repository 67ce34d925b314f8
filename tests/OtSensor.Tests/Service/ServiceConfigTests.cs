using OtSensor.Forwarding;
using OtSensor.Service;

namespace OtSensor.Tests.Service;

public sealed class ServiceConfigTests
{
    private const string FullJson = """
        {
          // comment
          "interfaces": [ { "name": "eth1", "bpf": "tcp port 502", "snaplen": 1500, "buffer_mb": 8, "promiscuous": false }, "eth2" ],
          "ring_mb": 16,
          "workers": 2,
          "store": "/data/s.db",
          "retention": { "alerts_max_age_days": 7, "max_alerts": 500, "interval_minutes": 5, "pcap": { "dir": "/data/pcap", "rotate_mb": 10, "keep": 3 } },
          "detection": { "enabled": true, "baseline": "protect", "rules_config": null },
          "modbus_ports": [5020, 1502],
          "siem": { "destinations": [ "udp://127.0.0.1:514", { "url": "tcp://10.0.0.1:601", "format": "json", "min_severity": 5, "types": ["a", "b"] } ], "max_backlog": 1000, "max_age_seconds": 60 },
          "metrics": { "enabled": true, "port": 9100 },
          "status_socket": "/tmp/x.sock",
          "stats_interval_seconds": 30
        }
        """;

    private const string FullYaml = """
        # the same configuration in YAML
        interfaces:
          - name: eth1
            bpf: "tcp port 502"   # Modbus only
            snaplen: 1500
            buffer_mb: 8
            promiscuous: false
          - eth2
        ring_mb: 16
        workers: 2
        store: /data/s.db
        retention:
          alerts_max_age_days: 7
          max_alerts: 500
          interval_minutes: 5
          pcap:
            dir: '/data/pcap'
            rotate_mb: 10
            keep: 3
        detection:
          enabled: true
          baseline: protect
          rules_config: ~
        modbus_ports: [5020, 1502]
        siem:
          destinations:
          - udp://127.0.0.1:514
          - url: tcp://10.0.0.1:601
            format: json
            min_severity: 5
            types: [a, "b"]
          max_backlog: 1000
          max_age_seconds: 60
        metrics:
          enabled: true
          port: 9100
        status_socket: /tmp/x.sock
        stats_interval_seconds: 30
        """;

    private static void AssertFull(ServiceConfig c)
    {
        Assert.Equal(2, c.Interfaces.Count);
        Assert.Equal("eth1", c.Interfaces[0].Name);
        Assert.Equal("tcp port 502", c.Interfaces[0].Bpf);
        Assert.Equal(1500, c.Interfaces[0].Snaplen);
        Assert.Equal(8, c.Interfaces[0].BufferMb);
        Assert.False(c.Interfaces[0].Promiscuous);
        Assert.Equal("eth2", c.Interfaces[1].Name);
        Assert.True(c.Interfaces[1].Promiscuous);
        Assert.Equal(16, c.RingMb);
        Assert.Equal(2, c.Workers);
        Assert.Equal("/data/s.db", c.Store);
        Assert.Equal(7, c.Retention.AlertsMaxAgeDays);
        Assert.Equal(500, c.Retention.MaxAlerts);
        Assert.Equal(5, c.Retention.IntervalMinutes);
        Assert.Equal("/data/pcap", c.Retention.Pcap.Dir);
        Assert.Equal(10, c.Retention.Pcap.RotateMb);
        Assert.Equal(3, c.Retention.Pcap.Keep);
        Assert.Equal("protect", c.Detection.Baseline);
        Assert.Null(c.Detection.RulesConfig);
        Assert.Equal([5020, 1502], c.ModbusPorts);
        Assert.Equal(2, c.Siem.Destinations.Count);
        Assert.Equal("udp://127.0.0.1:514", c.Siem.Destinations[0].Url);
        Assert.Equal("json", c.Siem.Destinations[1].Format);
        Assert.Equal(5, c.Siem.Destinations[1].MinSeverity);
        Assert.Equal(["a", "b"], c.Siem.Destinations[1].Types);
        Assert.Equal(1000, c.Siem.MaxBacklog);
        Assert.Equal(60, c.Siem.MaxAgeSeconds);
        Assert.True(c.Metrics.Enabled);
        Assert.Equal(9100, c.Metrics.Port);
        Assert.Equal("/tmp/x.sock", c.StatusSocket);
        Assert.Equal(30, c.StatsIntervalSeconds);
    }

    [Fact]
    public void Json_ReadsEveryKey() => AssertFull(ServiceConfig.Parse(FullJson, "c.json", yaml: false));

    [Fact]
    public void Yaml_ReadsTheSameModelAsJson() => AssertFull(ServiceConfig.Parse(FullYaml, "c.yaml", yaml: true));

    [Fact]
    public void EmptyMapsAndMissingKeys_KeepTheDefaults()
    {
        var c = ServiceConfig.Parse("interfaces: [eth0]\nmetrics: {}\nretention:\n", "c.yaml", yaml: true);
        Assert.Equal(ServiceConfig.DefaultStorePath, c.Store);
        Assert.False(c.Metrics.Enabled);
        Assert.Equal(9469, c.Metrics.Port);
        Assert.Equal(90, c.Retention.AlertsMaxAgeDays);
        Assert.Equal(64, c.RingMb);
        Assert.Equal(60, c.StatsIntervalSeconds);
    }

    [Fact]
    public void Json_UnknownKey_IsRejectedWithItsPath()
    {
        var ex = Assert.Throws<ConfigException>(() => ServiceConfig.Parse("""{ "interfaces": [ { "name": "eth0", "snaplenn": 10 } ] }""", "/etc/o.json", yaml: false));
        Assert.Equal("/etc/o.json: 'interfaces[0].snaplenn': unknown key", ex.Message);
    }

    [Fact]
    public void Yaml_UnknownKey_IsRejectedWithItsPathAndLine()
    {
        var ex = Assert.Throws<ConfigException>(() => ServiceConfig.Parse("interfaces: [eth0]\nretention:\n  pcap:\n    dirr: /x\n", "o.yaml", yaml: true));
        Assert.Equal("o.yaml: line 4: 'retention.pcap.dirr': unknown key", ex.Message);
    }

    [Theory]
    [InlineData("""{ "ring_mb": "big" }""", "c.json: 'ring_mb': expected a whole number, got \"big\"")]
    [InlineData("""{ "ring_mb": 1.5 }""", "c.json: 'ring_mb': expected a whole number, got 1.5")]
    [InlineData("""{ "ring_mb": 0 }""", "c.json: 'ring_mb': must be from 1 to 4096 (got 0)")]
    [InlineData("""{ "metrics": { "enabled": "yes" } }""", "c.json: 'metrics.enabled': expected true or false, got \"yes\"")]
    [InlineData("""{ "interfaces": { "name": "eth0" } }""", "c.json: 'interfaces': expected a list")]
    [InlineData("""{ "interfaces": [ { "bpf": "tcp" } ] }""", "c.json: 'interfaces[0]': 'name' is required")]
    [InlineData("""{ "detection": { "baseline": "sometimes" } }""", "c.json: 'detection.baseline': must be learn, protect, auto or off (not 'sometimes')")]
    [InlineData("""{ "store": 5 }""", "c.json: 'store': expected a string, got 5")]
    [InlineData("""{ "modbus_ports": [502, 70000] }""", "c.json: 'modbus_ports[1]': must be from 1 to 65535 (got 70000)")]
    [InlineData("""[1, 2]""", "c.json: the document: expected a map of 'key: value'")]
    public void Json_BadValues_AreRejectedWithKeyAndReason(string json, string message)
        => Assert.Equal(message, Assert.Throws<ConfigException>(() => ServiceConfig.Parse(json, "c.json", yaml: false)).Message);

    [Fact]
    public void Json_SyntaxError_NamesFileAndLine()
    {
        var ex = Assert.Throws<ConfigException>(() => ServiceConfig.Parse("{\n \"ring_mb\": 4,\n \"workers\" 2\n}", "c.json", yaml: false));
        Assert.StartsWith("c.json: line 3: not valid JSON", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Json_DuplicateKey_IsRejected()
        => Assert.Contains("'ring_mb' is given twice", Assert.Throws<ConfigException>(() => ServiceConfig.Parse("""{ "ring_mb": 1, "ring_mb": 2 }""", "c.json", yaml: false)).Message, StringComparison.Ordinal);

    [Theory]
    [InlineData("ring_mb: big\n", "c.yaml: line 1: 'ring_mb': expected a whole number, got \"big\"")]
    [InlineData("ring_mb: '8'\n", "c.yaml: line 1: 'ring_mb': expected a whole number, got \"8\"")]
    [InlineData("interfaces:\n\t- eth0\n", "c.yaml: line 2: tabs cannot indent YAML (use spaces)")]
    [InlineData("store: \"/x\n", "c.yaml: line 1: unterminated quoted string (multi-line strings are not supported)")]
    [InlineData("a: &anchor 1\n", "c.yaml: line 1: unsupported YAML syntax '&' (anchors, tags and block scalars are not supported)")]
    [InlineData("store: |\n  x\n", "c.yaml: line 1: unsupported YAML syntax '|' (anchors, tags and block scalars are not supported)")]
    [InlineData("workers: 1\nworkers: 2\n", "c.yaml: line 2: key 'workers' is given twice")]
    [InlineData("metrics:\n  enabled: true\n    port: 1\n", "c.yaml: line 3: unexpected indentation")]
    [InlineData("metrics:\n    enabled: true\n  port: 1\n", "c.yaml: line 3: unexpected indentation")]
    [InlineData("just a line\n", "c.yaml: line 1: expected 'key: value', got 'just a line'")]
    [InlineData("modbus_ports: [1, 2\n", "c.yaml: line 1: unterminated '[' list")]
    [InlineData("metrics: {enabled: true}\n", "c.yaml: line 1: flow maps '{...}' are not supported except the empty map {}; use one 'key: value' per line")]
    [InlineData("a: 1\n---\nb: 2\n", "c.yaml: line 2: several YAML documents are not supported")]
    public void Yaml_Errors_NameTheLine(string yaml, string message)
        => Assert.Equal(message, Assert.Throws<ConfigException>(() => ServiceConfig.Parse(yaml, "c.yaml", yaml: true)).Message);

    [Fact]
    public void Yaml_QuotedStrings_KeepHashesColonsAndEscapes()
    {
        var c = ServiceConfig.Parse("interfaces:\n  - name: eth0\n    bpf: \"tcp port 502 # not a comment: really\\t\"\nstore: 'it''s.db'  # comment\n", "c.yaml", yaml: true);
        Assert.Equal("tcp port 502 # not a comment: really\t", c.Interfaces[0].Bpf);
        Assert.Equal("it's.db", c.Store);
    }

    [Fact]
    public void Yaml_SequenceNotIndentedUnderItsKey_IsAccepted()
    {
        var c = ServiceConfig.Parse("interfaces:\n- eth0\n- name: eth1\n  snaplen: 100\nworkers: 3\n", "c.yaml", yaml: true);
        Assert.Equal(["eth0", "eth1"], c.Interfaces.Select(i => i.Name));
        Assert.Equal(100, c.Interfaces[1].Snaplen);
        Assert.Equal(3, c.Workers);
    }

    [Fact]
    public void Load_RefusesOtherExtensions()
    {
        string path = Path.Combine(Path.GetTempPath(), $"otsensor-cfg-{Guid.NewGuid():N}.toml");
        File.WriteAllText(path, "x");
        try
        {
            Assert.Contains("must be a .json, .yaml or .yml file", Assert.Throws<ConfigException>(() => ServiceConfig.Load(path)).Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Load_MissingFile_IsAClearError()
        => Assert.StartsWith("/nonexistent/o.json: cannot read the configuration", Assert.Throws<ConfigException>(() => ServiceConfig.Load("/nonexistent/o.json")).Message, StringComparison.Ordinal);

    [Fact]
    public void PackagedDefaultConfig_Parses()
    {
        string repo = FindRepo();
        var c = ServiceConfig.Load(Path.Combine(repo, "packaging", "otsensor.json"));
        Assert.Equal("eth1", Assert.Single(c.Interfaces).Name);
        Assert.Equal(ServiceConfig.DefaultStorePath, c.Store);
        Assert.False(c.Metrics.Enabled);
    }

    internal static string FindRepo()
    {
        var d = new DirectoryInfo(AppContext.BaseDirectory);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "OtSensor.sln"))) d = d.Parent;
        return d?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}

public sealed class ServiceConfigValidationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("otsensor-validate-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private ServiceConfig Config(string json)
    {
        var c = ServiceConfig.Parse(json, "v.json", yaml: false);
        if (!json.Contains("\"store\"", StringComparison.Ordinal)) c.Store = Path.Combine(_dir, "s.db");
        return c;
    }

    private static IReadOnlyCollection<string> Ifaces() => ["eth0", "lo"];

    [Fact]
    public void Valid_ResolvesDestinationsAndBaseline()
    {
        var r = ServiceConfigValidator.Validate(Config("""{ "interfaces": ["eth0"], "detection": { "baseline": "learn" }, "siem": { "destinations": [ "udp://127.0.0.1:514?name=soc", { "url": "file:///tmp/a.jsonl" } ] } }"""), Ifaces);
        Assert.Equal(2, r.Destinations.Count);
        Assert.Equal("soc", r.Destinations[0].Name);
        Assert.Equal(TransportKind.File, r.Destinations[1].Kind);
        Assert.Equal(OtSensor.Detection.BaselineMode.Learn, r.Baseline);
    }

    [Fact]
    public void InventoryOff_KeepsTheDestinationToAlerts()
    {
        var r = ServiceConfigValidator.Validate(Config("""{ "interfaces": ["lo"], "siem": { "destinations": [ { "url": "udp://127.0.0.1:514", "inventory": false }, "udp://127.0.0.1:515" ] } }"""), Ifaces);
        Assert.False(r.Destinations[0].Inventory);
        Assert.True(r.Destinations[1].Inventory);
    }

    [Fact]
    public void NoInterface_IsAnError()
        => Assert.Equal("v.json: 'interfaces': at least one capture interface is required", Assert.Throws<ConfigException>(() => ServiceConfigValidator.Validate(Config("{}"), Ifaces)).Message);

    [Fact]
    public void UnknownInterface_ListsTheMachinesInterfaces()
        => Assert.Equal("v.json: 'interfaces[1].name': no interface 'eth9' on this machine (have: eth0, lo)",
            Assert.Throws<ConfigException>(() => ServiceConfigValidator.Validate(Config("""{ "interfaces": ["lo", "eth9"] }"""), Ifaces)).Message);

    [Fact]
    public void DuplicateInterface_IsAnError()
        => Assert.Contains("interface 'lo' is listed twice", Assert.Throws<ConfigException>(() => ServiceConfigValidator.Validate(Config("""{ "interfaces": ["lo", "lo"] }"""), Ifaces)).Message, StringComparison.Ordinal);

    [Fact]
    public void StoreDirectoryNotWritable_IsAnError()
    {
        var ex = Assert.Throws<ConfigException>(() => ServiceConfigValidator.Validate(Config("""{ "interfaces": ["lo"], "store": "/proc/otsensor/s.db" }"""), Ifaces));
        Assert.StartsWith("v.json: 'store': directory '/proc/otsensor' is not writable", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BadDestination_NamesItsIndex()
    {
        var ex = Assert.Throws<ConfigException>(() => ServiceConfigValidator.Validate(Config("""{ "interfaces": ["lo"], "siem": { "destinations": [ "udp://127.0.0.1:514", "smtp://x:25" ] } }"""), Ifaces));
        Assert.Equal("v.json: 'siem.destinations[1]': 'smtp://x:25': unknown scheme 'smtp' (use udp, tcp, tls or file)", ex.Message);
    }

    [Fact]
    public void TlsOptionsOnAPlainDestination_AreAnError()
        => Assert.Contains("ca, cert and key apply to tls:// destinations only",
            Assert.Throws<ConfigException>(() => ServiceConfigValidator.Validate(Config("""{ "interfaces": ["lo"], "siem": { "destinations": [ { "url": "tcp://127.0.0.1:601", "ca": "/x.pem" } ] } }"""), Ifaces)).Message, StringComparison.Ordinal);

    [Fact]
    public void SameDestinationTwice_IsAnError()
        => Assert.Contains("is given twice", Assert.Throws<ConfigException>(() => ServiceConfigValidator.Validate(Config("""{ "interfaces": ["lo"], "siem": { "destinations": [ "udp://127.0.0.1:514", "udp://127.0.0.1:514" ] } }"""), Ifaces)).Message, StringComparison.Ordinal);

    [Fact]
    public void MissingRulesFile_IsAnError()
        => Assert.StartsWith("v.json: 'detection.rules_config': ", Assert.Throws<ConfigException>(() => ServiceConfigValidator.Validate(Config("""{ "interfaces": ["lo"], "detection": { "rules_config": "/nonexistent/rules.json" } }"""), Ifaces)).Message, StringComparison.Ordinal);

    [Fact]
    public void StatusSocket_DefaultsBesideTheStoreWithoutRunOtsensor()
    {
        var c = Config("""{ "interfaces": ["lo"] }""");
        string expected = Directory.Exists("/run/otsensor") ? ServiceConfig.DefaultStatusSocket : Path.Combine(_dir, "status.sock");
        Assert.Equal(expected, c.EffectiveStatusSocket);
    }
}

public sealed class ReadmeConfigTests
{
    [Fact]
    public void ReadmeServiceExample_IsAValidYamlConfig()
    {
        string readme = File.ReadAllText(Path.Combine(ServiceConfigTests.FindRepo(), "README.md"));
        int section = readme.IndexOf("## Running as a service", StringComparison.Ordinal);
        Assert.True(section >= 0);
        int start = readme.IndexOf("```yaml\n", section, StringComparison.Ordinal) + 8;
        int end = readme.IndexOf("```", start, StringComparison.Ordinal);
        var c = ServiceConfig.Parse(readme[start..end], "README.md", yaml: true);
        Assert.Equal("eth1", Assert.Single(c.Interfaces).Name);
        Assert.Equal(2, c.Siem.Destinations.Count);
        Assert.Equal("json", c.Siem.Destinations[1].Format);
        Assert.Equal([5020], c.ModbusPorts);
        Assert.Null(c.Retention.Pcap.Dir);
        Assert.All(c.Siem.Destinations, d => d.ToDestination());
    }
}
