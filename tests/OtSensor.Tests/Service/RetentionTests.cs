using Microsoft.Data.Sqlite;
using OtSensor.Detection;
using OtSensor.Service;

namespace OtSensor.Tests.Service;

public sealed class RetentionTests : IDisposable
{
    private const long Day = 86_400L * 1_000_000_000;
    private const long Now = 1_800_000_000L * 1_000_000_000;
    private readonly string _dir = Directory.CreateTempSubdirectory("otsensor-retention-").FullName;
    private readonly string _path;

    public RetentionTests() => _path = Path.Combine(_dir, "s.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Alerts 1..n, alert i last seen (n - i) days ago.</summary>
    private void Seed(int n, params (string Name, long Cursor)[] cursors)
    {
        using var store = AlertStore.Open(_path);
        var writes = new List<AlertWrite>();
        for (int i = 1; i <= n; i++)
        {
            var a = new Alert { Id = i, Type = "t", Name = "n", Category = "policy", Message = "m", FirstSeenNs = Now - ((n - i) * Day), LastSeenNs = Now - ((n - i) * Day) };
            writes.Add(new AlertWrite(a, 1, a.LastSeenNs, true, null));
        }
        store.Write(writes);
        foreach (var (name, cursor) in cursors) store.SetCursor(name, cursor);
    }

    private List<long> Ids()
    {
        using var store = AlertStore.Open(_path, readOnly: true);
        return [.. store.ReadAfter(0, 10_000).Select(a => a.Id)];
    }

    [Fact]
    public void ByAge_PrunesOnlyDeliveredAlerts()
    {
        Seed(10, ("a", 6), ("b", 8));
        // older than 5 days: ids 1..4 (ages 9..6 days); delivered by both: <= 6.
        var r = Retention.Run(_path, ["a", "b"], TimeSpan.FromDays(5.5), 0, Now);
        Assert.Equal(4, r.PrunedByAge);
        Assert.Equal(6, r.DeliveredBound);
        Assert.Equal([5, 6, 7, 8, 9, 10], Ids());
    }

    [Fact]
    public void ByCount_PrunesTheOldestDeliveredFirst_AndNeverUndelivered()
    {
        Seed(10, ("a", 3));
        var r = Retention.Run(_path, ["a"], null, 5, Now);
        Assert.Equal(3, r.PrunedByCount); // would need 5, only 3 are delivered
        Assert.Equal(7, r.Remaining);
        Assert.Equal([4, 5, 6, 7, 8, 9, 10], Ids());
    }

    [Fact]
    public void ADestinationWithoutCursor_BlocksPruning()
    {
        Seed(5, ("a", 5));
        var r = Retention.Run(_path, ["a", "never-delivered"], TimeSpan.FromDays(0.5), 1, Now);
        Assert.Equal(0, r.Pruned);
        Assert.Equal(5, Ids().Count);
    }

    [Fact]
    public void WithoutDestinations_EveryAlertCountsAsDelivered()
    {
        Seed(6);
        var r = Retention.Run(_path, [], TimeSpan.FromDays(2.5), 2, Now);
        Assert.Equal(3, r.PrunedByAge); // ages 5, 4, 3 days
        Assert.Equal(1, r.PrunedByCount);
        Assert.Equal([5, 6], Ids());
    }

    [Fact]
    public void ManyAlerts_ArePrunedInChunks()
    {
        Seed(4500, ("a", 4500));
        var r = Retention.Run(_path, ["a"], null, 100, Now);
        Assert.Equal(4400, r.PrunedByCount);
        Assert.Equal(100, r.Remaining);
        Assert.Equal(4401, Ids()[0]);
    }

    [Fact]
    public void InventoryChanges_ArePrunedByTheirOwnCursorsAndTime()
    {
        using (var db = new SqliteConnection($"Data Source={_path};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE inventory_changes(id INTEGER PRIMARY KEY AUTOINCREMENT, time_ns INTEGER NOT NULL);
                CREATE TABLE inventory_change_cursors(destination TEXT PRIMARY KEY, delivered_id INTEGER NOT NULL) WITHOUT ROWID;
                """;
            cmd.ExecuteNonQuery();
            for (int i = 1; i <= 6; i++)
            {
                using var ins = db.CreateCommand();
                ins.CommandText = "INSERT INTO inventory_changes(time_ns) VALUES ($t);";
                ins.Parameters.AddWithValue("$t", Now - ((6 - i) * Day));
                ins.ExecuteNonQuery();
            }
            using var cur = db.CreateCommand();
            cur.CommandText = "INSERT INTO inventory_change_cursors VALUES ('a', 4);";
            cur.ExecuteNonQuery();
        }
        var r = Retention.Run(RetentionTable.InventoryChanges, _path, ["a"], TimeSpan.FromDays(1.5), 0, Now);
        Assert.Equal(4, r.PrunedByAge); // ages 5..2 days, all delivered (<= 4)
        Assert.Equal(2, r.Remaining);
        Assert.Equal(0, Retention.Run(RetentionTable.InventoryChanges, _path, ["a", "b"], TimeSpan.FromDays(0.1), 0, Now).Pruned);
    }

    [Fact]
    public void StoreWithoutAlertsTable_IsANoOp()
    {
        using (var db = new SqliteConnection($"Data Source={_path};Pooling=False"))
        {
            db.Open();
        }
        Assert.Equal(0, Retention.Run(_path, [], TimeSpan.FromDays(1), 1, Now).Pruned);
    }

    [Fact]
    public void ProbeWritable_TrueOnAWritableStore_FalseOnAReadOnlyFile()
    {
        Seed(1);
        Assert.True(Retention.ProbeWritable(_path, out string? error), error);
        string missingDir = Path.Combine(_dir, "no", "such", "dir", "s.db");
        Assert.False(Retention.ProbeWritable(missingDir, out string? why));
        Assert.False(string.IsNullOrEmpty(why));
    }
}
