using OtSensor.Inventory;

namespace OtSensor.Tests.Inventory;

public class OutputEscapingTests
{
    private const string Evil = "<script>alert(\"x\")</script>&'\\\n]";

    private static InventorySnapshot EvilSnapshot()
    {
        var a = new AssetRecord { Id = 1, Key = "ip:10.0.0.1", Kind = "ip", Ips = ["10.0.0.1"], Roles = ["modbus_server"] };
        a.Identity.VendorName = Evil;
        a.Identity.ProductName = Evil;
        var b = new AssetRecord { Id = 2, Key = "ip:10.0.0.2", Kind = "ip", Ips = ["10.0.0.2"], Roles = ["modbus_client"], MacVendor = Evil };
        var l = new LinkRecord { Id = 1, ClientId = 2, ServerId = 1, Client = "10.0.0.2", Server = Evil, Protocol = Evil, Transport = "tcp", Port = 502 };
        return new InventorySnapshot { Assets = [a, b], Links = [l] };
    }

    [Fact]
    public void Svg_EscapesDeviceNames()
    {
        string svg = MapRenderer.Svg(EvilSnapshot());
        Assert.DoesNotContain("<script", svg, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;", svg);
        var doc = System.Xml.Linq.XDocument.Parse(svg);
        Assert.DoesNotContain(doc.Descendants(), e => e.Name.LocalName == "script");
    }

    [Fact]
    public void Html_EscapesDeviceNames_AndForbidsScripts()
    {
        string html = MapRenderer.Html(EvilSnapshot());
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Content-Security-Policy", html);
        Assert.Contains("default-src 'none'", html);
    }

    [Fact]
    public void Dot_QuotesAndEscapesLabels()
    {
        string dot = MapRenderer.Dot(EvilSnapshot());
        foreach (var line in dot.Split('\n').Where(l => l.Contains("label=", StringComparison.Ordinal)))
        {
            // Each label is one quoted string: every inner quote is escaped, and nothing follows the closing bracket.
            int start = line.IndexOf("label=\"", StringComparison.Ordinal) + 7;
            int i = start;
            while (i < line.Length && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
            Assert.True(i < line.Length);
            Assert.Equal("];", line[(i + 1)..]);
        }
        Assert.Equal(1 + 2 + 1 + 4 + 1, dot.Split('\n').Length);
    }

    [Fact]
    public void Csv_QuotesSeparatorsAndNeutralisesFormulas()
    {
        Assert.Equal("\"a,b\"", InventoryFormats.CsvField("a,b"));
        Assert.Equal("\"say \"\"hi\"\"\"", InventoryFormats.CsvField("say \"hi\""));
        Assert.Equal("\"l1\nl2\"", InventoryFormats.CsvField("l1\nl2"));
        Assert.Equal("'=cmd|' /C calc'!A0", InventoryFormats.CsvField("=cmd|' /C calc'!A0"));
        Assert.Equal("plain", InventoryFormats.CsvField("plain"));
        string csv = InventoryFormats.AssetsCsv(EvilSnapshot().Assets);
        var lines = csv.Split('\n');
        Assert.StartsWith("id,kind,mac,mac_vendor,ips", lines[0]);
        Assert.Contains("\"<script>alert(\"\"x\"\")</script>&'\\\n]\"", csv);
    }

    [Fact]
    public void AssetsJson_HasTheDocumentedFields()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(InventoryFormats.AssetsJson(EvilSnapshot().Assets));
        var a = doc.RootElement[0];
        foreach (var f in new[] { "id", "mac", "mac_vendor", "ips", "vlans", "first_seen", "last_seen", "roles", "modbus_units", "identity", "mqtt_client_ids", "mqtt_usernames", "coap_resources", "services" })
            Assert.True(a.TryGetProperty(f, out _), f);
        foreach (var f in new[] { "vendor_name", "product_code", "revision", "vendor_url", "product_name", "model_name", "user_application_name" })
            Assert.True(a.GetProperty("identity").TryGetProperty(f, out _), f);
        Assert.Equal(Evil, a.GetProperty("identity").GetProperty("vendor_name").GetString());
    }
}
