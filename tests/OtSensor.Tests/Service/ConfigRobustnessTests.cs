using OtSensor.Service;

namespace OtSensor.Tests.Service;

public sealed class ConfigRobustnessTests
{
    private const string Yaml = "interfaces:\n  - name: \"eth1\" # c\n    bpf: 'tcp'\n  - eth2\nretention:\n  pcap: { }\nmodbus_ports: [1, 2]\nsiem:\n  destinations:\n  - url: udp://h:514\n";

    [Fact]
    public void Yaml_EveryPrefix_ParsesOrFailsWithAConfigException()
    {
        for (int i = 0; i <= Yaml.Length; i++)
        {
            try
            {
                ServiceConfig.Parse(Yaml[..i], "p.yaml", yaml: true);
            }
            catch (ConfigException ex)
            {
                Assert.StartsWith("p.yaml:", ex.Message, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public void Yaml_RandomMutations_NeverThrowAnythingElse()
    {
        var rng = new Random(7);
        const string alphabet = " -:#'\"[]{},\t\n\\xa0&|~";
        for (int n = 0; n < 3000; n++)
        {
            var chars = Yaml.ToCharArray();
            for (int k = 0; k < 3; k++) chars[rng.Next(chars.Length)] = alphabet[rng.Next(alphabet.Length)];
            try
            {
                ServiceConfig.Parse(new string(chars), "m.yaml", yaml: true);
            }
            catch (ConfigException)
            {
            }
        }
    }

    [Fact]
    public void Json_EveryPrefix_FailsWithAConfigException()
    {
        const string json = """{ "interfaces": [ { "name": "eth1" } ], "metrics": { "enabled": true } }""";
        for (int i = 0; i < json.Length; i++)
        {
            Assert.Throws<ConfigException>(() => ServiceConfig.Parse(json[..i], "p.json", yaml: false));
        }
        Assert.Single(ServiceConfig.Parse(json, "p.json", yaml: false).Interfaces);
    }
}
