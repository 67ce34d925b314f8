using Microsoft.Data.Sqlite;
using OtSensor.Store;

namespace OtSensor.Service;

/// <summary>What one retention pass did.</summary>
public readonly record struct RetentionResult(long PrunedByAge, long PrunedByCount, long DeliveredBound, long Remaining)
{
    public long Pruned => PrunedByAge + PrunedByCount;
}

/// <summary>A table retention prunes: its rows, the time column and the delivery cursors of its forwarders.</summary>
public sealed record RetentionTable(string Table, string TimeColumn, string CursorTable)
{
    public static readonly RetentionTable Alerts = new("alerts", "last_seen_ns", "forward_cursors");
    public static readonly RetentionTable InventoryChanges = new("inventory_changes", "time_ns", "inventory_change_cursors");
}

/// <summary>
/// Keeps the store from filling the disk: deletes alerts older than the age bound or beyond the count bound (oldest
/// first), but only alerts every configured SIEM destination has already delivered (its cursor in
/// <c>forward_cursors</c> is past them), so retention never loses an alert a SIEM has not received. Works on the store
/// file by SQL, in short transactions (the pipeline keeps writing meanwhile).
/// </summary>
public static class Retention
{
    private const int Chunk = 2000;

    /// <param name="storePath">The SQLite store.</param>
    /// <param name="destinationNames">Cursor keys of the configured destinations (none: every alert counts as delivered).</param>
    /// <param name="maxAge">Alerts last seen before now - maxAge are pruned (null: no age bound).</param>
    /// <param name="maxAlerts">At most this many alerts are kept (0: no count bound).</param>
    /// <param name="nowNs">Now, Unix nanoseconds (alert times are packet times, which live capture stamps with the wall clock).</param>
    /// <exception cref="StoreException">The store cannot be read or written (disk full...).</exception>
    public static RetentionResult Run(string storePath, IReadOnlyCollection<string> destinationNames, TimeSpan? maxAge, long maxAlerts, long nowNs)
        => Run(RetentionTable.Alerts, storePath, destinationNames, maxAge, maxAlerts, nowNs);

    /// <summary>The same for any <see cref="RetentionTable"/> (alerts, inventory changes).</summary>
    public static RetentionResult Run(RetentionTable table, string storePath, IReadOnlyCollection<string> destinationNames, TimeSpan? maxAge, long maxAlerts, long nowNs)
    {
        ArgumentNullException.ThrowIfNull(table);
        try
        {
            using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = storePath, Mode = SqliteOpenMode.ReadWrite, Pooling = false, DefaultTimeout = 5 }.ToString());
            db.Open();
            Exec(db, "PRAGMA busy_timeout=5000;");
            if (!TableExists(db, table.Table)) return default;
            long bound = DeliveredBound(db, table, destinationNames);
            long byAge = 0;
            if (maxAge is { } age && bound > 0)
            {
                long cutoff = nowNs - (long)(age.TotalMilliseconds * 1_000_000);
                while (true)
                {
                    int n = Delete(db, $"DELETE FROM {table.Table} WHERE id IN (SELECT id FROM {table.Table} WHERE id <= $b AND {table.TimeColumn} < $c ORDER BY id LIMIT $n);", bound, cutoff);
                    byAge += n;
                    if (n < Chunk) break;
                }
            }
            long byCount = 0;
            if (maxAlerts > 0 && bound > 0)
            {
                long total = Count(db, table);
                while (total > maxAlerts)
                {
                    long take = Math.Min(total - maxAlerts, Chunk);
                    int n = Delete(db, $"DELETE FROM {table.Table} WHERE id IN (SELECT id FROM {table.Table} WHERE id <= $b ORDER BY id LIMIT $n);", bound, 0, take);
                    byCount += n;
                    total -= n;
                    if (n == 0) break; // the rest is not delivered yet
                }
            }
            if (byAge + byCount > 0) Exec(db, "PRAGMA wal_checkpoint(PASSIVE);");
            return new RetentionResult(byAge, byCount, bound, Count(db, table));
        }
        catch (SqliteException ex)
        {
            throw new StoreException(storePath, ex.SqliteErrorCode == 13 ? StoreErrorKind.DiskFull : StoreErrorKind.Other, $"store '{storePath}': retention of {table.Table}: {ex.Message}", ex);
        }
    }

    /// <summary>The highest alert id every destination has delivered (max id when there is no destination).</summary>
    public static long DeliveredBound(SqliteConnection db, RetentionTable table, IReadOnlyCollection<string> destinationNames)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(destinationNames);
        if (destinationNames.Count == 0) return Scalar(db, $"SELECT coalesce(max(id), 0) FROM {table.Table};");
        if (!TableExists(db, table.CursorTable)) return 0;
        long bound = long.MaxValue;
        foreach (var name in destinationNames)
        {
            using var cmd = db.CreateCommand();
            cmd.CommandText = $"SELECT delivered_id FROM {table.CursorTable} WHERE destination = $d;";
            cmd.Parameters.AddWithValue("$d", name);
            long v = cmd.ExecuteScalar() is long l ? l : 0;
            bound = Math.Min(bound, v);
        }
        return bound;
    }

    private static int Delete(SqliteConnection db, string sql, long bound, long cutoff, long limit = Chunk)
    {
        using var tx = db.BeginTransaction();
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$b", bound);
        if (sql.Contains("$c", StringComparison.Ordinal)) cmd.Parameters.AddWithValue("$c", cutoff);
        cmd.Parameters.AddWithValue("$n", limit);
        int n = cmd.ExecuteNonQuery();
        tx.Commit();
        return n;
    }

    private static long Count(SqliteConnection db, RetentionTable table) => Scalar(db, $"SELECT count(*) FROM {table.Table};");

    private static bool TableExists(SqliteConnection db, string table)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $t;";
        cmd.Parameters.AddWithValue("$t", table);
        return cmd.ExecuteScalar() is long n && n > 0;
    }

    private static long Scalar(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar() is long v ? v : 0;
    }

    private static void Exec(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    /// <summary>
    /// Whether the store can take a write again (after "database or disk is full"): a small write in a table of the
    /// service's own. False with the reason otherwise.
    /// </summary>
    public static bool ProbeWritable(string storePath, out string? error)
    {
        error = null;
        try
        {
            using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = storePath, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false, DefaultTimeout = 5 }.ToString());
            db.Open();
            Exec(db, "PRAGMA busy_timeout=5000;");
            Exec(db, "CREATE TABLE IF NOT EXISTS service_state(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;");
            using var cmd = db.CreateCommand();
            cmd.CommandText = "INSERT INTO service_state(key, value) VALUES ('probe', $v) ON CONFLICT(key) DO UPDATE SET value = excluded.value;";
            cmd.Parameters.AddWithValue("$v", DateTime.UtcNow.ToString("O", System.Globalization.CultureInfo.InvariantCulture) + new string(' ', 4096));
            cmd.ExecuteNonQuery();
            return true;
        }
        catch (SqliteException ex)
        {
            error = ex.Message;
            return false;
        }
    }
}
