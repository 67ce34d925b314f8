using System.Text.Json;
using OtSensor.Tests.Inventory;
using OtSensor.Tests.Store;

namespace OtSensor.Tests.Cli;

/// <summary>The real `otsensor` command: replay's inventory change summary, `changes` and `forward` of changes.</summary>
public class InventoryChangesCliTests
{
    [Fact]
    public void Replay_PrintsTheChangesItRecorded_ChangesListsThem_AndForwardSendsThem()
    {
        using var dir = new TempDir();
        string db = dir.File("s.db");
        var v1 = IdentityCapture.Write(dir.File("v1.pcap"), "Schneider Electric", "BMX P34 2020", "V2.1");
        var v2 = IdentityCapture.Write(dir.File("v2.pcap"), "Schneider Electric", "BMX P34 2020", "V3.0");

        var (code, stdout, stderr) = CliProcess.Run("replay", "--no-progress", "--store", db, v1);
        Assert.True(code == 0, stderr);
        Assert.Contains("== Inventory changes", stdout, StringComparison.Ordinal);
        Assert.Contains("recorded 2 (asset_new 2)", stdout, StringComparison.Ordinal);

        (code, stdout, stderr) = CliProcess.Run("replay", "--no-progress", "--store", db, v2);
        Assert.True(code == 0, stderr);
        Assert.Contains("recorded 1 (asset_firmware_changed 1)", stdout, StringComparison.Ordinal);

        (code, stdout, _) = CliProcess.Run("replay", "--no-progress", "--store", db, v2);
        Assert.Contains("none (the store already knew", stdout, StringComparison.Ordinal);

        (code, stdout, stderr) = CliProcess.Run("changes", "--store", db, "--json");
        Assert.True(code == 0, stderr);
        using (var doc = JsonDocument.Parse(stdout))
        {
            var all = doc.RootElement.EnumerateArray().ToList();
            Assert.Equal(3, all.Count);
            Assert.Equal("asset_firmware_changed", all[2].GetProperty("type").GetString());
            Assert.Equal("V2.1", all[2].GetProperty("old_value").GetString());
            Assert.Equal("V3.0", all[2].GetProperty("new_value").GetString());
        }
        (code, stdout, _) = CliProcess.Run("changes", "--store", db);
        Assert.Equal(0, code);
        Assert.Contains("3 inventory changes", stdout, StringComparison.Ordinal);

        string file = dir.File("out.jsonl");
        (code, stdout, stderr) = CliProcess.Run("forward", "--store", db, "--once", "--timeout", "20", "--to", "file://" + file);
        Assert.True(code == 0, stderr + stdout);
        Assert.Contains("inventory cursor 3", stdout, StringComparison.Ordinal);
        var lines = File.ReadAllLines(file).Where(l => l.Contains("\"event_kind\":\"inventory_change\"", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, lines.Count);

        // Forwarding again (a restart) sends nothing twice.
        (code, stdout, _) = CliProcess.Run("forward", "--store", db, "--once", "--timeout", "20", "--to", "file://" + file);
        Assert.Equal(0, code);
        Assert.Equal(3, File.ReadAllLines(file).Count(l => l.Contains("inventory_change", StringComparison.Ordinal)));
    }
}
