using System.CommandLine;
using System.Text.Json;
using OtSensor.Cli.Commands;
using OtSensor.Store;
using OtSensor.Tests.Differential;
using OtSensor.Tests.Inventory;

namespace OtSensor.Tests.Store;

/// <summary>The assets / links / map commands, run through System.CommandLine in-process (Program.cs wires them after the merge).</summary>
public class InventoryCommandTests
{
    private static string MakeStore(TempDir dir)
    {
        string path = dir.File("s.db");
        using var s = InventoryStore.Open(path);
        InventoryHarness.Run([TestPaths.Capture("modbus_pymodbus.pcap"), TestPaths.Capture("modbus_crafted.pcap")], s);
        return path;
    }

    [Fact]
    public void Assets_Json_IsAnArrayWithTheDocumentedFields()
    {
        using var dir = new TempDir();
        string store = MakeStore(dir);
        var output = new StringWriter();
        Assert.Equal(0, AssetsCommand.Run(store, json: true, csv: false, filter: null, output, TextWriter.Null));
        using var doc = JsonDocument.Parse(output.ToString());
        Assert.Equal(JsonValueKind.Array, doc.RootElement.ValueKind);
        Assert.True(doc.RootElement.GetArrayLength() > 60);
        var server = doc.RootElement.EnumerateArray().Single(a => a.GetProperty("key").GetString() == "ip:127.0.0.1");
        Assert.Equal("OtSensor Test Devices", server.GetProperty("identity").GetProperty("vendor_name").GetString());
        Assert.Equal(502, server.GetProperty("services")[0].GetProperty("port").GetInt32());
    }

    [Fact]
    public void Assets_FilterCsvAndTable()
    {
        using var dir = new TempDir();
        string store = MakeStore(dir);
        var csv = new StringWriter();
        Assert.Equal(0, AssetsCommand.Run(store, json: false, csv: true, filter: "OTS-PLC", csv, TextWriter.Null));
        var lines = csv.ToString().TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Contains("127.0.0.1", lines[1]);
        var table = new StringWriter();
        Assert.Equal(0, AssetsCommand.Run(store, json: false, csv: false, filter: "fd00:", table, TextWriter.Null));
        Assert.Contains("fd00:168::27", table.ToString());
        Assert.Contains("2 assets", table.ToString());
        Assert.Equal(2, AssetsCommand.Run(store, json: true, csv: true, filter: null, TextWriter.Null, TextWriter.Null));
    }

    [Fact]
    public void Commands_MissingOrCorruptStore_IsExitOneWithAClearMessage()
    {
        using var dir = new TempDir();
        var err = new StringWriter();
        Assert.Equal(1, AssetsCommand.Run(dir.File("none.db"), false, false, null, TextWriter.Null, err));
        Assert.Contains("none.db", err.ToString());
        File.WriteAllText(dir.File("bad.db"), new string('x', 5000));
        err = new StringWriter();
        Assert.Equal(1, LinksCommand.Run(dir.File("bad.db"), true, false, TextWriter.Null, err));
        Assert.Contains("bad.db", err.ToString());
        Assert.DoesNotContain("   at ", err.ToString());
    }

    [Fact]
    public void Links_JsonAndMapFiles()
    {
        using var dir = new TempDir();
        string store = MakeStore(dir);
        var output = new StringWriter();
        Assert.Equal(0, LinksCommand.Run(store, json: true, csv: false, output, TextWriter.Null));
        using var doc = JsonDocument.Parse(output.ToString());
        Assert.Contains(doc.RootElement.EnumerateArray(), l => l.GetProperty("protocol").GetString() == "modbus" && l.GetProperty("port").GetInt32() == 502);
        foreach (var fmt in new[] { "dot", "svg", "html" })
        {
            string file = dir.File("map." + fmt);
            Assert.Equal(0, MapCommand.Run(store, null, file, TextWriter.Null));
            string text = File.ReadAllText(file);
            Assert.Contains("127.0.0.1", text);
            if (fmt == "svg") System.Xml.Linq.XDocument.Parse(text);
        }
        Assert.Equal(2, MapCommand.Run(store, null, dir.File("map.txt"), TextWriter.Null));
    }

    [Fact]
    public void Commands_ParseWithSystemCommandLine()
    {
        using var dir = new TempDir();
        string store = MakeStore(dir);
        var root = new RootCommand { AssetsCommand.Create(), LinksCommand.Create(), MapCommand.Create() };
        Assert.Empty(root.Parse(["assets", "--store", store, "--json", "--filter", "x"]).Errors);
        Assert.Empty(root.Parse(["map", "--store", store, "--format", "svg", "-o", dir.File("m.svg")]).Errors);
        Assert.NotEmpty(root.Parse(["map", "--store", store, "--format", "png", "-o", "m.png"]).Errors);
        Assert.NotEmpty(root.Parse(["map", "--store", store]).Errors);
        Assert.Equal(0, root.Parse(["map", "--store", store, "-o", dir.File("m.dot")]).Invoke());
        Assert.StartsWith("digraph", File.ReadAllText(dir.File("m.dot")));
    }
}
