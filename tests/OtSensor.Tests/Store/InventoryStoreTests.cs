using System.Diagnostics;
using Microsoft.Data.Sqlite;
using OtSensor.Inventory;
using OtSensor.Store;
using OtSensor.Tests.Differential;
using OtSensor.Tests.Inventory;

namespace OtSensor.Tests.Store;

public class InventoryStoreTests
{
    private static string Crafted => TestPaths.Capture("modbus_crafted.pcap");

    private static InventorySnapshot ReplayInto(string store, string capture)
    {
        using var s = InventoryStore.Open(store);
        InventoryHarness.Run([capture], s);
        return new InventorySnapshot { Assets = s.ReadAssets(), Links = s.ReadLinks() };
    }

    [Fact]
    public void Open_CreatesAndMigratesANewFile_AndAnEmptyFile()
    {
        using var dir = new TempDir();
        using (var s = InventoryStore.Open(dir.File("new.db")))
        {
            Assert.Equal(InventoryStore.CurrentSchemaVersion, s.SchemaVersion);
            Assert.Empty(s.ReadAssets());
        }
        File.WriteAllBytes(dir.File("empty.db"), []);
        using (var s = InventoryStore.Open(dir.File("empty.db")))
            Assert.Equal(InventoryStore.CurrentSchemaVersion, s.SchemaVersion);
        using var db = new SqliteConnection($"Data Source={dir.File("new.db")};Pooling=False");
        db.Open();
        using var cmd = db.CreateCommand();
        cmd.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", cmd.ExecuteScalar());
        cmd.CommandText = "SELECT version FROM schema_version;";
        Assert.Equal((long)InventoryStore.CurrentSchemaVersion, cmd.ExecuteScalar());
    }

    [Fact]
    public void Store_MatchesTheInMemoryInventory()
    {
        using var dir = new TempDir();
        var stored = ReplayInto(dir.File("s.db"), Crafted);
        var memory = InventoryHarness.Run([Crafted]).Snapshot();
        Assert.Equal(InventoryFormats.AssetsJson(memory.Assets), InventoryFormats.AssetsJson(stored.Assets));
        Assert.Equal(InventoryFormats.LinksJson(memory.Links), InventoryFormats.LinksJson(stored.Links));
    }

    [Fact]
    public void SecondReplay_AccumulatesCountsWithoutDuplicatingAssets()
    {
        using var dir = new TempDir();
        var first = ReplayInto(dir.File("s.db"), Crafted);
        var second = ReplayInto(dir.File("s.db"), Crafted);
        Assert.Equal(first.Assets.Count, second.Assets.Count);
        Assert.Equal(first.Assets.Select(a => (a.Id, a.Key)), second.Assets.Select(a => (a.Id, a.Key)));
        for (int i = 0; i < first.Assets.Count; i++)
        {
            Assert.Equal(first.Assets[i].PacketsSent * 2, second.Assets[i].PacketsSent);
            Assert.Equal(first.Assets[i].BytesReceived * 2, second.Assets[i].BytesReceived);
            Assert.Equal(first.Assets[i].FirstSeen, second.Assets[i].FirstSeen);
            Assert.Equal(first.Assets[i].Roles, second.Assets[i].Roles);
        }
        Assert.Equal(first.Links.Count, second.Links.Count);
        Assert.Equal(first.Links.Sum(l => l.Transactions) * 2, second.Links.Sum(l => l.Transactions));

        // A different capture adds its assets next to the existing ones, keeping their ids.
        var third = ReplayInto(dir.File("s.db"), TestPaths.Capture("modbus_pymodbus.pcap"));
        Assert.Equal(first.Assets.Count + 1, third.Assets.Count);
        Assert.Equal(first.Assets.Select(a => (a.Id, a.Key)), third.Assets.Take(first.Assets.Count).Select(a => (a.Id, a.Key)));
    }

    [Fact]
    public void CorruptFile_IsAStoreErrorNamingTheFile_AndIsLeftUntouched()
    {
        using var dir = new TempDir();
        string path = dir.File("bad.db");
        var junk = new byte[8192];
        new Random(7).NextBytes(junk);
        File.WriteAllBytes(path, junk);
        var ex = Assert.Throws<StoreException>(() => InventoryStore.Open(path));
        Assert.Equal(StoreErrorKind.Corrupt, ex.Kind);
        Assert.Contains(path, ex.Message);
        Assert.Equal(junk, File.ReadAllBytes(path));
        var ro = Assert.Throws<StoreException>(() => InventoryStore.Open(path, readOnly: true));
        Assert.Contains(path, ro.Message);
    }

    [Fact]
    public void ForeignSqliteDatabase_IsNotAnOtsensorStore_WhenReading()
    {
        using var dir = new TempDir();
        string path = dir.File("other.db");
        using (var db = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "CREATE TABLE t(x);";
            cmd.ExecuteNonQuery();
        }
        var ex = Assert.Throws<StoreException>(() => InventoryStore.Open(path, readOnly: true));
        Assert.Contains("not an otsensor store", ex.Message);
        var missing = Assert.Throws<StoreException>(() => InventoryStore.Open(dir.File("missing.db"), readOnly: true));
        Assert.Equal(StoreErrorKind.CannotOpen, missing.Kind);
    }

    [Fact]
    public void LockedFile_IsAStoreError_AndCommittedDataSurvives()
    {
        using var dir = new TempDir();
        string path = dir.File("s.db");
        int assets = ReplayInto(path, Crafted).Assets.Count;
        using (var holder = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            holder.Open();
            using var cmd = holder.CreateCommand();
            cmd.CommandText = "BEGIN EXCLUSIVE;";
            cmd.ExecuteNonQuery();
            var ex = Assert.Throws<StoreException>(() => InventoryStore.Open(path, busyTimeoutMs: 100));
            Assert.Equal(StoreErrorKind.Locked, ex.Kind);
            Assert.Contains(path, ex.Message);
            Assert.Contains("locked", ex.Message);
        }
        using var s = InventoryStore.Open(path, readOnly: true);
        Assert.Equal(assets, s.ReadAssets().Count);
    }

    [Fact]
    public void ReadOnlyLocation_IsAStoreErrorNamingTheFile()
    {
        // /proc refuses new files even for root: a read-only file system as far as SQLite is concerned.
        string path = "/proc/otsensor-test-store.db";
        var ex = Assert.Throws<StoreException>(() => InventoryStore.Open(path));
        Assert.Contains(path, ex.Message);
        Assert.True(ex.Kind is StoreErrorKind.CannotOpen or StoreErrorKind.ReadOnly or StoreErrorKind.IoError, ex.Kind.ToString());
    }

    [Fact]
    public void ReadOnlyFile_IsAStoreError_WhenNotRoot()
    {
        if (OperatingSystem.IsWindows() || Environment.UserName == "root") return; // root ignores file permissions: covered by ReadOnlyLocation.
        using var dir = new TempDir();
        string path = dir.File("ro.db");
        ReplayInto(path, Crafted);
        File.SetUnixFileMode(path, UnixFileMode.UserRead);
        var ex = Assert.Throws<StoreException>(() => InventoryStore.Open(path));
        Assert.Contains(path, ex.Message);
    }

    [Theory]
    [InlineData(13, StoreErrorKind.DiskFull, "disk is full")]
    [InlineData(8, StoreErrorKind.ReadOnly, "read-only")]
    [InlineData(5, StoreErrorKind.Locked, "locked")]
    [InlineData(26, StoreErrorKind.Corrupt, "corrupt")]
    [InlineData(10 | (3 << 8), StoreErrorKind.IoError, "I/O")]
    public void SqliteErrors_BecomeTypedStoreErrors(int code, StoreErrorKind kind, string words)
    {
        var ex = StoreFile.Translate("/x/y.db", new SqliteException("boom", code));
        Assert.Equal(kind, ex.Kind);
        Assert.Contains("/x/y.db", ex.Message);
        Assert.Contains(words, ex.Message);
    }

    [Fact]
    public async Task WriteFailure_IsReportedByTheInventory_NotThrownIntoThePipeline()
    {
        using var dir = new TempDir();
        string path = dir.File("s.db");
        using var s = InventoryStore.Open(path);
        var inv = new AssetInventory(null, s);
        using (var db = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "DROP TABLE assets;";
            cmd.ExecuteNonQuery();
        }
        var engine = new OtSensor.Pipeline.ReplayEngine(new OtSensor.Pipeline.ReplayOptions { Files = [Crafted], Workers = 1 }, [inv]);
        await engine.RunAsync();
        Assert.NotNull(inv.StoreError);
        Assert.Contains(path, inv.StoreError!.Message);
        Assert.Equal(0, engine.InternalErrors);
    }

    [Fact]
    public async Task StoreKilledMidWrite_OpensCleanly_WithEverythingCommittedBeforeTheKill()
    {
        using var dir = new TempDir();
        string store = dir.File("killed.db");
        string marker = dir.File("committed");
        int expectedAssets = InventoryHarness.Run([Crafted]).Snapshot().Assets.Count;
        long onePass = InventoryHarness.Run([Crafted]).Snapshot().Assets.Sum(a => a.PacketsSent);

        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "otsensor.dll"));
        psi.ArgumentList.Add("--help");
        psi.Environment["DOTNET_STARTUP_HOOKS"] = typeof(StartupHook).Assembly.Location;
        psi.Environment["OTSENSOR_TEST_KILL_STORE"] = store;
        psi.Environment["OTSENSOR_TEST_KILL_CAPTURE"] = Crafted;
        psi.Environment["OTSENSOR_TEST_KILL_MARKER"] = marker;
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var sw = Stopwatch.StartNew();
        while (!File.Exists(marker) || int.Parse(File.ReadAllText(marker), System.Globalization.CultureInfo.InvariantCulture) < 2)
        {
            Assert.False(p.HasExited, "the writer process ended early: " + (p.HasExited ? await stderr : ""));
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(90), "the writer process did not commit two replays in time");
            await Task.Delay(20);
        }
        await Task.Delay(37); // land somewhere inside a later replay's writes
        p.Kill(); // SIGKILL on Unix
        await p.WaitForExitAsync();
        int committed = int.Parse(File.ReadAllText(marker), System.Globalization.CultureInfo.InvariantCulture);

        using var s = InventoryStore.Open(store);
        var assets = s.ReadAssets();
        Assert.Equal(expectedAssets, assets.Count);
        Assert.True(assets.Sum(a => a.PacketsSent) >= onePass * committed, "a committed replay was lost");
        using var check = new SqliteConnection($"Data Source={store};Pooling=False");
        check.Open();
        using var cmd = check.CreateCommand();
        cmd.CommandText = "PRAGMA integrity_check;";
        Assert.Equal("ok", cmd.ExecuteScalar());
    }
}
