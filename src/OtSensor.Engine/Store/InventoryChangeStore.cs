using System.Text.Json;
using Microsoft.Data.Sqlite;
using OtSensor.Inventory;

namespace OtSensor.Store;

/// <summary>
/// Inventory change detection on the store's write path: <see cref="InventoryStore.Write"/> calls
/// <see cref="Record"/> inside its transaction (the changes are committed with the snapshot that caused them, or not
/// at all) and <see cref="Committed"/> after it. The state compared against is the <c>assets</c> rows as committed:
/// read from the file on the first write of a process (so a change against an earlier run counts), then kept in memory.
/// Runs on the store writer's task, never on the analysis thread (no per-packet cost).
/// </summary>
internal sealed class InventoryChangeRecorder
{
    private Dictionary<string, AssetFacts>? _state;

    /// <summary>Changes committed by this process, by type (for the replay summary).</summary>
    public SortedDictionary<string, long> CountsByType { get; } = new(StringComparer.Ordinal);
    public long Recorded { get; private set; }

    /// <summary>
    /// Reads the committed state (on this thread: it uses the connection; call before the assets rows are rewritten) and
    /// detects the changes to <paramref name="snapshot"/> on another core once it is built, so the caller can write other
    /// tables meanwhile; then <see cref="Insert"/> in the same transaction.
    /// </summary>
    public Task<Pending> Detect(SqliteConnection db, SqliteTransaction tx, Task<InventorySnapshot> snapshot)
    {
        var previous = _state ?? LoadCommitted(db, tx);
        return Task.Run(async () =>
        {
            var changes = InventoryChangeDetector.Detect((await snapshot.ConfigureAwait(false)).Assets, previous, out var next);
            return new Pending(changes, next);
        });
    }

    /// <summary>Inserts detected changes in <paramref name="tx"/> (assigning their ids).</summary>
    public static Pending Insert(SqliteConnection db, SqliteTransaction tx, Pending pending)
    {
        InventoryChangeStore.Insert(db, tx, pending.Changes);
        return pending;
    }

    /// <summary>After the commit: remember the new state (a failed transaction leaves the old one, so nothing is lost).</summary>
    public void Committed(Pending pending)
    {
        _state = pending.Next;
        foreach (var c in pending.Changes) CountsByType[c.Type] = CountsByType.GetValueOrDefault(c.Type) + 1;
        Recorded += pending.Changes.Count;
    }

    private static Dictionary<string, AssetFacts> LoadCommitted(SqliteConnection db, SqliteTransaction tx)
    {
        var state = new Dictionary<string, AssetFacts>(StringComparer.Ordinal);
        using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "SELECT data FROM assets;";
        using var r = cmd.ExecuteReader();
        while (r.Read())
            if (JsonSerializer.Deserialize(r.GetString(0), StoreJsonContext.Default.AssetRecord) is { } a) state[a.Key] = AssetFacts.Of(a);
        return state;
    }

    /// <summary>
    /// A class, not a struct: the tasks and async builders over it then share the framework's precompiled code for
    /// reference types instead of being compiled for it on every run.
    /// </summary>
    public sealed record Pending(List<InventoryChange> Changes, Dictionary<string, AssetFacts> Next);
}

/// <summary>
/// The <c>inventory_changes</c> outbox (schema migration 2 of <see cref="InventoryStore"/>) on its own connection:
/// what <c>otsensor forward</c> sends and <c>otsensor changes</c> lists. Delivery cursors are kept per destination
/// name in <c>inventory_change_cursors</c> (beside the alerts' cursors, which stay in the detection tables).
/// </summary>
public sealed class InventoryChangeStore : IInventoryChangeOutbox, IDisposable
{
    /// <summary>Migration 2 of the inventory schema.</summary>
    internal const string Migration = """
        CREATE TABLE inventory_changes(id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, signature_id INTEGER NOT NULL,
            name TEXT NOT NULL, severity INTEGER NOT NULL, time_ns INTEGER NOT NULL, frame INTEGER NOT NULL, asset_id INTEGER NOT NULL,
            asset_key TEXT NOT NULL, ip TEXT, mac TEXT, vendor TEXT, model TEXT, attribute TEXT NOT NULL, old_value TEXT, new_value TEXT,
            message TEXT NOT NULL);
        CREATE TABLE inventory_change_cursors(destination TEXT PRIMARY KEY, delivered_id INTEGER NOT NULL) WITHOUT ROWID;
        """;

    private const string Columns = "id, type, signature_id, name, severity, time_ns, frame, asset_id, asset_key, ip, mac, vendor, model, attribute, old_value, new_value, message";

    private readonly SqliteConnection _db;
    private readonly Lock _lock = new();

    private InventoryChangeStore(string path, SqliteConnection db)
    {
        Path = path;
        _db = db;
    }

    public string Path { get; }

    /// <summary>
    /// Opens the changes of the store at <paramref name="path"/>. Unless <paramref name="readOnly"/>, the inventory
    /// schema is created or migrated first (an older store gains the tables, empty).
    /// </summary>
    public static InventoryChangeStore Open(string path, bool readOnly = false, int busyTimeoutMs = 5000)
    {
        if (!readOnly) InventoryStore.Open(path, readOnly: false, busyTimeoutMs).Dispose();
        return StoreFile.Open(path, readOnly, busyTimeoutMs, (db, full) =>
        {
            using (var cmd = db.CreateCommand())
            {
                cmd.CommandText = "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='inventory_changes';";
                if (Convert.ToInt64(cmd.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
                    throw new StoreException(full, StoreErrorKind.Corrupt, $"store '{full}': no inventory changes yet (replay a capture into it first)");
            }
            return new InventoryChangeStore(full, db);
        });
    }

    /// <summary>Inserts changes in <paramref name="tx"/>, assigning their ids (in list order).</summary>
    internal static void Insert(SqliteConnection db, SqliteTransaction tx, List<InventoryChange> changes)
    {
        if (changes.Count == 0) return;
        using var ins = new SqlStatement(db, """
            INSERT INTO inventory_changes(type, signature_id, name, severity, time_ns, frame, asset_id, asset_key, ip, mac, vendor, model, attribute, old_value, new_value, message)
            VALUES ($type, $sig, $name, $sev, $time, $frame, $aid, $akey, $ip, $mac, $vendor, $model, $attr, $old, $new, $msg);
            """);
        foreach (var c in changes)
        {
            ins.Text(1, c.Type); ins.Int(2, c.SignatureId); ins.Text(3, c.Name); ins.Int(4, c.Severity); ins.Int(5, c.TimeNs);
            ins.Int(6, c.Frame); ins.Int(7, c.AssetId); ins.Text(8, c.AssetKey); ins.Text(9, c.Ip); ins.Text(10, c.Mac);
            ins.Text(11, c.Vendor); ins.Text(12, c.Model); ins.Text(13, c.Attribute); ins.Text(14, c.OldValue); ins.Text(15, c.NewValue);
            ins.Text(16, c.Message);
            ins.Run();
            c.Id = ins.LastInsertRowId;
        }
    }

    private static InventoryChange Read(SqliteDataReader r)
    {
        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        return new InventoryChange
        {
            Id = r.GetInt64(0), Type = r.GetString(1), SignatureId = r.GetInt32(2), Name = r.GetString(3), Severity = r.GetInt32(4),
            TimeNs = r.GetInt64(5), Frame = r.GetInt64(6), AssetId = r.GetInt64(7), AssetKey = r.GetString(8), Ip = S(9), Mac = S(10),
            Vendor = S(11), Model = S(12), Attribute = r.GetString(13), OldValue = S(14), NewValue = S(15), Message = r.GetString(16),
        };
    }

    private T Run<T>(Func<T> action)
    {
        lock (_lock)
        {
            try
            {
                return action();
            }
            catch (SqliteException ex)
            {
                throw StoreFile.Translate(Path, ex);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidCastException or FormatException)
            {
                throw new StoreException(Path, StoreErrorKind.Corrupt, $"store '{Path}': {ex.Message}", ex);
            }
        }
    }

    public IReadOnlyList<InventoryChange> ReadAfter(long afterId, int max) => Run<IReadOnlyList<InventoryChange>>(() =>
        SqlRows.Select(_db, $"SELECT {Columns} FROM inventory_changes WHERE id > $a ORDER BY id LIMIT $n;", Read, ("$a", afterId), ("$n", Math.Max(0, max))));

    /// <summary>Changes at or after <paramref name="sinceNs"/> with at least <paramref name="minSeverity"/>, by id.</summary>
    public List<InventoryChange> Query(long sinceNs = long.MinValue, int minSeverity = 0) => Run(() =>
        SqlRows.Select(_db, $"SELECT {Columns} FROM inventory_changes WHERE time_ns >= $s AND severity >= $m ORDER BY id;", Read, ("$s", sinceNs), ("$m", minSeverity)));

    public long GetCursor(string destination) => Run(() => SqlRows.GetCursor(_db, "inventory_change_cursors", destination));

    public void SetCursor(string destination, long deliveredId) => Run(() =>
    {
        SqlRows.SetCursor(_db, "inventory_change_cursors", destination, deliveredId);
        return 0;
    });

    public void Dispose() => _db.Dispose();
}
