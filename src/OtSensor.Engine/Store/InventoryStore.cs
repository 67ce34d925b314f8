using System.Text.Json;
using Microsoft.Data.Sqlite;
using OtSensor.Core;
using OtSensor.Inventory;

namespace OtSensor.Store;

/// <summary>What a store holds for the inventory to continue from.</summary>
public sealed class StoreSeed
{
    public List<EndpointState> Endpoints { get; } = [];
    public List<MacState> Macs { get; } = [];
    public List<LinkState> Links { get; } = [];
    public Dictionary<string, long> AssetIds { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Raw state rows of one table (key and data column), UTF-8: serialised on the analysis thread and bound by the writer
/// as they are, without a UTF-16 string per row in between. Rows are packed in 64 KiB chunks (each row contiguous):
/// small-object heap, no copying as a whole buffer grows, no large-object allocations to bring on a full collection.
/// </summary>
public sealed class StateRows : System.Buffers.IBufferWriter<byte>
{
    private const int ChunkSize = 64 * 1024;
    private readonly List<byte[]> _chunks = [];
    private readonly List<(int Chunk, int Start, int KeyLength, int Length)> _rows = [];
    private byte[] _chunk = [];
    private int _used, _rowStart;

    public int Count => _rows.Count;

    /// <summary>Appends a row: its key and data column.</summary>
    internal void Add(string key, ReadOnlySpan<byte> data)
    {
        Span<byte> utf8 = key.Length <= 256 ? stackalloc byte[256 * 3] : new byte[System.Text.Encoding.UTF8.GetMaxByteCount(key.Length)];
        Add(utf8[..System.Text.Encoding.UTF8.GetBytes(key, utf8)], data);
    }

    /// <summary>As above, the key given as UTF-8.</summary>
    internal void Add(ReadOnlySpan<byte> key, ReadOnlySpan<byte> data)
    {
        _rowStart = _used;
        var span = GetSpan(key.Length + data.Length);
        key.CopyTo(span);
        data.CopyTo(span[key.Length..]);
        Advance(key.Length + data.Length);
        _rows.Add((_chunks.Count - 1, _rowStart, key.Length, key.Length + data.Length));
        _rowStart = _used;
    }

    public ReadOnlySpan<byte> Key(int i)
    {
        var r = _rows[i];
        return _chunks[r.Chunk].AsSpan(r.Start, r.KeyLength);
    }

    public ReadOnlySpan<byte> Data(int i)
    {
        var r = _rows[i];
        return _chunks[r.Chunk].AsSpan(r.Start + r.KeyLength, r.Length - r.KeyLength);
    }

    /// <summary>Rows in key order (UTF-8 byte order: ordinal for these ASCII keys).</summary>
    internal void SortByKey()
    {
        var chunks = _chunks;
        _rows.Sort((x, y) => chunks[x.Chunk].AsSpan(x.Start, x.KeyLength).SequenceCompareTo(chunks[y.Chunk].AsSpan(y.Start, y.KeyLength)));
    }

    void System.Buffers.IBufferWriter<byte>.Advance(int count) => Advance(count);

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(Math.Max(sizeHint, 1));
        return _chunk.AsMemory(_used);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(Math.Max(sizeHint, 1));
        return _chunk.AsSpan(_used);
    }

    private void Advance(int count) => _used += count;

    /// <summary>Room for <paramref name="bytes"/> more in the current chunk; a new chunk takes the row written so far with it.</summary>
    private void Ensure(int bytes)
    {
        if (_chunk.Length - _used >= bytes) return;
        int row = _used - _rowStart;
        var next = new byte[Math.Max(ChunkSize, 2 * (row + bytes))];
        _chunk.AsSpan(_rowStart, row).CopyTo(next);
        _chunks.Add(next);
        _chunk = next;
        _rowStart = 0;
        _used = row;
    }
}

/// <summary>One flush: dirty endpoint / MAC / link state (serialised on the analysis thread) and the materialised view.</summary>
public sealed class StoreBatch
{
    public StateRows Endpoints { get; } = new();
    public StateRows Macs { get; } = new();
    public StateRows Links { get; } = new();

    /// <summary>The materialised view: given, or the result of <see cref="SnapshotTask"/> (waited for when first read).</summary>
    public InventorySnapshot Snapshot
    {
        get => _snapshot ??= SnapshotTask?.GetAwaiter().GetResult() ?? throw new InvalidOperationException("a store batch needs a snapshot");
        init => _snapshot = value;
    }

    /// <summary>
    /// A view still being built (at the end of a replay): the writer upserts the raw state meanwhile and reads the view
    /// only after that. Used when <see cref="Snapshot"/> is not set.
    /// </summary>
    public Task<InventorySnapshot>? SnapshotTask { get; init; }

    /// <summary>The last write of a run (the store checkpoints its WAL in the background after committing it).</summary>
    public bool Final { get; init; }

    private InventorySnapshot? _snapshot;
}

/// <summary>
/// The embedded local store: one SQLite file in WAL mode, schema versioned (schema_version) and migrated on open.
/// Raw inventory state (endpoints, MACs, endpoint links) is upserted by key so replays accumulate; the assets and
/// links tables are the materialised view that commands read. Every failure is a <see cref="StoreException"/> naming
/// the file; each write is one transaction, so a killed process leaves everything committed before it intact.
/// </summary>
public sealed class InventoryStore : IDisposable
{
    public const int CurrentSchemaVersion = 2;
    public const string EnvironmentVariable = "OTSENSOR_STORE";

    private static readonly string[] s_migrations =
    [
        // 1: initial schema.
        """
        CREATE TABLE endpoints(key TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE macs(mac TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE link_facts(key TEXT PRIMARY KEY, data TEXT NOT NULL) WITHOUT ROWID;
        CREATE TABLE assets(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, mac TEXT, mac_vendor TEXT,
            ips TEXT NOT NULL, roles TEXT NOT NULL, first_seen TEXT, last_seen TEXT, data TEXT NOT NULL);
        CREATE TABLE links(id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL, server_id INTEGER NOT NULL, protocol TEXT,
            transport TEXT NOT NULL, port INTEGER NOT NULL, first_seen TEXT, last_seen TEXT, data TEXT NOT NULL);
        """,
        // 2: inventory changes and their forwarding cursors (InventoryChangeStore).
        InventoryChangeStore.Migration,
    ];

    private readonly SqliteConnection _db;
    /// <summary>The assets rows as last committed by this process (key → data), null before the first write.</summary>
    private Dictionary<string, byte[]>? _assetRows;
    /// <summary>The links rows as last committed (data by id - 1), null before the first write.</summary>
    private byte[][]? _linkRows;
    /// <summary>Inventory change detection, committed with each write (see InventoryChangeStore.cs).</summary>
    private readonly InventoryChangeRecorder _changes = new();

    /// <summary>The WAL checkpoint started after the last write of a run (see <see cref="StoreBatch.Final"/>), or null.</summary>
    private Task? _checkpoint;

    private InventoryStore(string path, SqliteConnection db, int version)
    {
        Path = path;
        _db = db;
        SchemaVersion = version;
    }

    public string Path { get; }
    public int SchemaVersion { get; }

    /// <summary>$OTSENSOR_STORE, else ./otsensor.db.</summary>
    public static string DefaultPath
        => Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } p ? p : "otsensor.db";

    /// <summary>
    /// Starts loading SQLite on a thread-pool thread (see <see cref="StoreFile.WarmUp"/>), so that a command which will
    /// open a store soon overlaps that set-up with its own start.
    /// </summary>
    public static void WarmUpInBackground() => ThreadPool.UnsafeQueueUserWorkItem(static _ => StoreFile.WarmUp(), null);

    /// <summary>Opens (creating and migrating when <paramref name="readOnly"/> is false) the store at <paramref name="path"/>.</summary>
    public static InventoryStore Open(string path, bool readOnly = false, int busyTimeoutMs = 2000)
    {
        return StoreFile.Open(path, readOnly, busyTimeoutMs, (db, full) =>
        {
            int version = 0;
            if (!readOnly)
            {
                // A new file gets 16 KiB pages (no effect on an existing one): endpoint and link state rows (1-2 KB of JSON)
                // then fit in their b-tree pages instead of each taking an overflow page, which halves what a flush writes.
                // Must precede the switch to WAL, which fixes the page size.
                Exec(db, "PRAGMA page_size=16384;");
                Exec(db, "PRAGMA journal_mode=WAL;");
                Exec(db, "PRAGMA synchronous=NORMAL;");
                using var tx = db.BeginTransaction(deferred: false);
                version = ReadVersion(db, tx);
                if (version > CurrentSchemaVersion)
                    throw new StoreException(full, StoreErrorKind.NewerSchema, $"store '{full}': schema version {version} is newer than this otsensor supports ({CurrentSchemaVersion})");
                if (version == 0) Exec(db, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);", tx);
                for (int v = version; v < CurrentSchemaVersion; v++) Exec(db, s_migrations[v], tx);
                if (version < CurrentSchemaVersion)
                {
                    Exec(db, "DELETE FROM schema_version;", tx);
                    Exec(db, $"INSERT INTO schema_version(version) VALUES ({CurrentSchemaVersion});", tx);
                    version = CurrentSchemaVersion;
                }
                tx.Commit();
            }
            else
            {
                version = ReadVersion(db, null);
                if (version == 0) throw new StoreException(full, StoreErrorKind.Corrupt, $"store '{full}': not an otsensor store (no schema_version table)");
                if (version > CurrentSchemaVersion)
                    throw new StoreException(full, StoreErrorKind.NewerSchema, $"store '{full}': schema version {version} is newer than this otsensor supports ({CurrentSchemaVersion})");
            }
            return new InventoryStore(full, db, version);
        });
    }

    private static int ReadVersion(SqliteConnection db, SqliteTransaction? tx)
    {
        var exists = Scalar(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version';", tx);
        if (Convert.ToInt64(exists, System.Globalization.CultureInfo.InvariantCulture) == 0) return 0;
        var v = Scalar(db, "SELECT max(version) FROM schema_version;", tx);
        return v is null or DBNull ? 0 : (int)Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture);
    }


    private static void Exec(SqliteConnection db, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        cmd.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection db, string sql, SqliteTransaction? tx = null)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Transaction = tx;
        return cmd.ExecuteScalar();
    }

    public static string EndpointKey(MacAddress mac, IpAddr ip) => (mac.IsZero ? "-" : mac.ToString()) + "|" + (ip.IsZero ? "-" : ip.ToString());

    public static string LinkKeyText(LinkState l)
        => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{EndpointKey(l.ClientMac, l.ClientIp)}>{EndpointKey(l.ServerMac, l.ServerIp)}|{l.Transport}/{l.Port}");

    /// <summary>Room for any <see cref="EndpointKey"/> as UTF-8.</summary>
    internal const int MaxEndpointKeyLength = MacAddress.TextLength + 1 + IpAddr.MaxTextLength;
    /// <summary>Room for any <see cref="LinkKeyText"/> as UTF-8 (transports are "tcp" / "udp"; longer ones take the string path).</summary>
    internal const int MaxLinkKeyLength = 2 * MaxEndpointKeyLength + 2 + 8 + 1 + 11;

    /// <summary><see cref="EndpointKey"/> as UTF-8 into <paramref name="utf8"/> (<see cref="MaxEndpointKeyLength"/> bytes); its length.</summary>
    internal static int EndpointKeyUtf8(MacAddress mac, IpAddr ip, Span<byte> utf8)
    {
        int n;
        if (mac.IsZero) { utf8[0] = (byte)'-'; n = 1; }
        else n = mac.FormatUtf8(utf8);
        utf8[n++] = (byte)'|';
        if (ip.IsZero) utf8[n++] = (byte)'-';
        else n += ip.FormatUtf8(utf8[n..]);
        return n;
    }

    /// <summary><see cref="LinkKeyText"/> as UTF-8 into <paramref name="utf8"/> (<see cref="MaxLinkKeyLength"/> bytes); its length.</summary>
    internal static int LinkKeyUtf8(LinkState l, Span<byte> utf8)
    {
        if (l.Transport.Length > 8 || !System.Text.Ascii.IsValid(l.Transport))
            return System.Text.Encoding.UTF8.GetBytes(LinkKeyText(l), utf8);
        int n = EndpointKeyUtf8(l.ClientMac, l.ClientIp, utf8);
        utf8[n++] = (byte)'>';
        n += EndpointKeyUtf8(l.ServerMac, l.ServerIp, utf8[n..]);
        utf8[n++] = (byte)'|';
        n += System.Text.Encoding.ASCII.GetBytes(l.Transport, utf8[n..]);
        utf8[n++] = (byte)'/';
        l.Port.TryFormat(utf8[n..], out int digits, default, System.Globalization.CultureInfo.InvariantCulture);
        return n + digits;
    }

    /// <summary>A raw state row's data column (endpoint, MAC and link state are written by <see cref="StoreRowWriter"/>).</summary>
    public static string Serialize<T>(T value) => value switch
    {
        EndpointState e => StoreRowWriter.Endpoint(e),
        MacState m => StoreRowWriter.Mac(m),
        LinkState l => StoreRowWriter.Link(l),
        _ => JsonSerializer.Serialize(value, TypeInfo<T>()),
    };

    /// <summary>An asset or link row's data column.</summary>
    internal static string SerializeRow<T>(T value) => value switch
    {
        AssetRecord a => StoreRowWriter.Asset(a),
        LinkRecord l => StoreRowWriter.Link(l),
        _ => JsonSerializer.Serialize(value, TypeInfo<T>()),
    };

    /// <summary>The store's compile-time metadata for <typeparamref name="T"/> (no reflection: other types are not store rows).</summary>
    private static System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> TypeInfo<T>()
        => StoreJsonContext.Default.GetTypeInfo(typeof(T)) as System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>
            ?? throw new NotSupportedException($"{typeof(T).Name} is not a store row type");

    private T Run<T>(Func<T> action)
    {
        WaitForCheckpoint();
        try
        {
            return action();
        }
        catch (SqliteException ex)
        {
            throw StoreFile.Translate(Path, ex);
        }
        catch (JsonException ex)
        {
            throw new StoreException(Path, StoreErrorKind.Corrupt, $"store '{Path}': corrupt record: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StoreException(Path, StoreErrorKind.IoError, $"store '{Path}': {ex.Message}", ex);
        }
    }

    /// <summary>Everything the inventory needs to continue accumulating.</summary>
    public StoreSeed Load() => Run(() =>
    {
        var seed = new StoreSeed();
        foreach (var json in Column("SELECT data FROM endpoints ORDER BY key;"))
            if (JsonSerializer.Deserialize(json, StoreJsonContext.Default.EndpointState) is { } e) seed.Endpoints.Add(e);
        foreach (var json in Column("SELECT data FROM macs ORDER BY mac;"))
            if (JsonSerializer.Deserialize(json, StoreJsonContext.Default.MacState) is { } m) seed.Macs.Add(m);
        foreach (var json in Column("SELECT data FROM link_facts ORDER BY key;"))
            if (JsonSerializer.Deserialize(json, StoreJsonContext.Default.LinkState) is { } l) seed.Links.Add(l);
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT key, id FROM assets;";
        using var r = cmd.ExecuteReader();
        while (r.Read()) seed.AssetIds[r.GetString(0)] = r.GetInt64(1);
        return seed;
    });

    private List<string> Column(string sql)
    {
        var list = new List<string>();
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(r.GetString(0));
        return list;
    }

    public List<AssetRecord> ReadAssets() => Run(() =>
    {
        var list = new List<AssetRecord>();
        foreach (var json in Column("SELECT data FROM assets ORDER BY id;"))
            if (InventoryFormats.ReadAsset(json) is { } a) list.Add(a);
        return list;
    });

    public List<LinkRecord> ReadLinks() => Run(() =>
    {
        var list = new List<LinkRecord>();
        foreach (var json in Column("SELECT data FROM links ORDER BY id;"))
            if (InventoryFormats.ReadLink(json) is { } l) list.Add(l);
        return list;
    });

    /// <summary>Writes one flush in one transaction (all or nothing).</summary>
    public void Write(StoreBatch batch) => Run(() =>
    {
        // Rows in key order fill the b-trees densely (random order splits pages half full): fewer pages to write.
        batch.Endpoints.SortByKey();
        batch.Macs.SortByKey();
        batch.Links.SortByKey();
        using var tx = _db.BeginTransaction(deferred: false);
        // The view's JSON and the inventory changes are made on other cores as soon as the view is built (at the end of a
        // replay it may still be being built, see StoreBatch.SnapshotTask) while this thread upserts the raw state (the
        // connection is used by this thread only). Changes are detected against the committed assets rows, read first.
        var snapshotTask = batch.SnapshotTask ?? Task.FromResult(batch.Snapshot);
        var rows = new ViewRows();
        var viewJson = Task.Run(async () =>
        {
            rows.Make(await snapshotTask.ConfigureAwait(false));
            return rows;
        });
        var detecting = _changes.Detect(_db, tx, snapshotTask);
        using var writeBack = batch.Final ? WalWriteBack.Start(Path + "-wal") : null;
        Upsert("INSERT INTO endpoints(key, data) VALUES ($k, $d) ON CONFLICT(key) DO UPDATE SET data = excluded.data;", batch.Endpoints);
        Upsert("INSERT INTO macs(mac, data) VALUES ($k, $d) ON CONFLICT(mac) DO UPDATE SET data = excluded.data;", batch.Macs);
        Upsert("INSERT INTO link_facts(key, data) VALUES ($k, $d) ON CONFLICT(key) DO UPDATE SET data = excluded.data;", batch.Links);

        var snapshot = batch.Snapshot;
        var assets = snapshot.Assets;
        var links = snapshot.Links;
        // Done with the raw state: this thread writes the view's rows in order as they are made, making the next ones
        // itself whenever the row it needs is not taken yet (so the inserts overlap the making instead of following it).
        rows.Start(snapshot);

        // The materialised view: only rows whose content changed since the last write are written.
        var assetChanges = new List<(string Key, byte[] Json)>();
        var keep = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in assets) keep.Add(a.Key);
        var stale = new List<string>();
        if (_assetRows is null)
        {
            using var sel = _db.CreateCommand();
            sel.Transaction = tx;
            sel.CommandText = "SELECT key FROM assets;";
            using var r = sel.ExecuteReader();
            while (r.Read())
                if (!keep.Contains(r.GetString(0))) stale.Add(r.GetString(0));
        }
        else
        {
            foreach (var k in _assetRows.Keys)
                if (!keep.Contains(k)) stale.Add(k);
        }
        if (stale.Count > 0)
        {
            using var del = new SqlStatement(_db, "DELETE FROM assets WHERE key = $k;");
            foreach (var st in stale) { del.Text(1, st); del.Run(); }
        }
        using (var ins = new SqlStatement(_db, """
            INSERT INTO assets(id, key, kind, mac, mac_vendor, ips, roles, first_seen, last_seen, data)
            VALUES ($id, $key, $kind, $mac, $vendor, $ips, $roles, $first, $last, $data)
            ON CONFLICT(key) DO UPDATE SET id = excluded.id, kind = excluded.kind, mac = excluded.mac, mac_vendor = excluded.mac_vendor,
                ips = excluded.ips, roles = excluded.roles, first_seen = excluded.first_seen, last_seen = excluded.last_seen, data = excluded.data;
            """))
        {
            for (int ai = 0; ai < assets.Count; ai++)
            {
                var a = assets[ai];
                byte[] json = rows.Asset(ai);
                if (_assetRows is not null && _assetRows.TryGetValue(a.Key, out var old) && old.AsSpan().SequenceEqual(json)) continue;
                ins.Int(1, a.Id); ins.Text(2, a.Key); ins.Text(3, a.Kind); ins.Text(4, a.Mac);
                ins.Text(5, a.MacVendor); ins.Joined(6, a.Ips); ins.Joined(7, a.Roles);
                ins.Text(8, a.FirstSeen); ins.Text(9, a.LastSeen);
                ins.Utf8(10, json);
                ins.Run();
                assetChanges.Add((a.Key, json));
            }
        }
        using (var del = new SqlStatement(_db, "DELETE FROM links WHERE id > $n;"))
        {
            del.Int(1, links.Count);
            del.Run();
        }
        using (var ins = new SqlStatement(_db, """
            INSERT INTO links(id, client_id, server_id, protocol, transport, port, first_seen, last_seen, data)
            VALUES ($id, $c, $s, $proto, $t, $port, $first, $last, $data)
            ON CONFLICT(id) DO UPDATE SET client_id = excluded.client_id, server_id = excluded.server_id, protocol = excluded.protocol,
                transport = excluded.transport, port = excluded.port, first_seen = excluded.first_seen, last_seen = excluded.last_seen, data = excluded.data;
            """))
        {
            for (int i = 0; i < links.Count; i++)
            {
                var l = links[i];
                byte[] json = rows.Link(i);
                // Ids are positions (1..n); a row is rewritten only when what sits at its id changed.
                if (l.Id == i + 1 && _linkRows is not null && i < _linkRows.Length && _linkRows[i].AsSpan().SequenceEqual(json)) continue;
                ins.Int(1, l.Id); ins.Int(2, l.ClientId); ins.Int(3, l.ServerId); ins.Text(4, l.Protocol);
                ins.Text(5, l.Transport); ins.Int(6, l.Port); ins.Text(7, l.FirstSeen);
                ins.Text(8, l.LastSeen); ins.Utf8(9, json);
                ins.Run();
            }
        }
        var changes = InventoryChangeRecorder.Insert(_db, tx, detecting.GetAwaiter().GetResult());
        byte[][] linkJson = viewJson.GetAwaiter().GetResult().Links;
        if (batch.Final)
        {
            // The last write of a run: its commit does not copy the WAL into the database (the automatic checkpoint,
            // ~24 MB and two fsyncs for a large inventory); that is done on another thread while the caller prints its
            // summary, and waited for before the connection is used again or closed. The commit is in the WAL either
            // way: a process killed before the checkpoint leaves it there, and the next open recovers it.
            Exec(_db, "PRAGMA wal_autocheckpoint=0;", tx);
        }
        tx.Commit();
        writeBack?.Dispose(); // after the commit, which writes what the page cache still held
        if (batch.Final)
        {
            Exec(_db, $"PRAGMA wal_autocheckpoint={DefaultAutoCheckpointPages};");
            _checkpoint = Task.Run(Checkpoint);
        }
        _changes.Committed(changes);
        // Remember what is committed (only now: a failed transaction leaves the file, and so the cache, as it was).
        _assetRows ??= new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var st in stale) _assetRows.Remove(st);
        foreach (var (k, json) in assetChanges) _assetRows[k] = json;
        _linkRows = linkJson;
        AssetRowsWritten += assetChanges.Count;
        return 0;
    });

    /// <summary>
    /// The view's rows as JSON (assets, links), made by every thread that calls <see cref="Make"/>: each takes the next
    /// row not yet taken. The task that started on the view as soon as it was built makes rows from the start; the
    /// writer thread, once it has upserted the raw state, reads them in order (<see cref="Asset"/>, <see cref="Link"/>)
    /// to insert them, and makes the next row not taken itself whenever the one it needs is not done yet: at the end of a
    /// replay both cores make rows, and the inserts run alongside instead of after. The result is complete when the task is.
    /// A class, not a tuple: the task and async builder over it use the framework's precompiled reference-type code.
    /// </summary>
    private sealed class ViewRows
    {
        private readonly Lock _lock = new();
        private InventorySnapshot? _view;
        private int _next = -1;
        /// <summary>A failure of a thread making rows (a row it took is never done: readers must not wait for it).</summary>
        private volatile Exception? _failed;

        public byte[][] Assets { get; private set; } = [];
        public byte[][] Links { get; private set; } = [];

        /// <summary>Sets up the rows of <paramref name="view"/> (the first caller's view counts).</summary>
        public void Start(InventorySnapshot view)
        {
            lock (_lock)
            {
                if (_view is not null) return;
                Assets = new byte[view.Assets.Count][];
                Links = new byte[view.Links.Count][];
                _view = view;
            }
        }

        public void Make(InventorySnapshot view)
        {
            Start(view);
            try
            {
                while (MakeNext()) { }
            }
            catch (Exception ex)
            {
                _failed = ex;
                throw;
            }
        }

        /// <summary>Makes the next row not taken; false when all are taken.</summary>
        private bool MakeNext()
        {
            var view = _view!;
            byte[][] assets = Assets, links = Links;
            int n = assets.Length + links.Length;
            if (Volatile.Read(ref _next) >= n - 1) return false; // all taken (and no further increments while waiting)
            int i = Interlocked.Increment(ref _next);
            if (i >= n) return false;
            if (i < assets.Length) Volatile.Write(ref assets[i], StoreRowWriter.AssetUtf8(view.Assets[i]));
            else Volatile.Write(ref links[i - assets.Length], StoreRowWriter.LinkUtf8(view.Links[i - assets.Length]));
            return true;
        }

        /// <summary>Asset row <paramref name="i"/> (after <see cref="Start"/>), made here or waited for.</summary>
        public byte[] Asset(int i) => Row(Assets, i);

        /// <summary>Link row <paramref name="i"/> (after <see cref="Start"/>), made here or waited for.</summary>
        public byte[] Link(int i) => Row(Links, i);

        private byte[] Row(byte[][] rows, int i)
        {
            var spin = new SpinWait();
            while (true)
            {
                if (Volatile.Read(ref rows[i]) is { } row) return row;
                if (_failed is { } ex) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex);
                // Not done: make the next row not taken (this one, or one further on), else it is being made elsewhere.
                if (!MakeNext()) spin.SpinOnce();
            }
        }
    }

    /// <summary>
    /// Flushes the WAL to disk on a thread of its own while a large final write is still being made: SQLite writes the
    /// transaction's pages to the WAL as its page cache fills, long before the commit, and the checkpoint after the
    /// commit starts with an fsync of the whole WAL (~24 MB for a large inventory) that the process then waits for.
    /// Flushing as the pages are written lets the disk work while the cores make the rest, so that fsync finds little
    /// left. It only makes data durable sooner: what SQLite syncs, and when, is unchanged. The WAL only: SQLite takes no
    /// POSIX locks on it, where closing another descriptor of the database file would drop the connection's locks.
    /// </summary>
    private sealed class WalWriteBack : IDisposable
    {
        private readonly FileStream _wal;
        private volatile bool _stop;

        private WalWriteBack(FileStream wal)
        {
            _wal = wal;
            new Thread(Run) { IsBackground = true, Name = "otsensor wal flush" }.Start();
        }

        public static WalWriteBack? Start(string walPath)
        {
            try
            {
                return new WalWriteBack(new FileStream(walPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete, 1));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return null; // no WAL to flush ahead of the checkpoint: it syncs what there is
            }
        }

        private void Run()
        {
            try
            {
                while (!_stop)
                {
                    _wal.Flush(flushToDisk: true);
                    if (!_stop) Thread.Sleep(2);
                }
            }
            catch (IOException)
            {
                // Only a head start: the checkpoint syncs the WAL itself.
            }
            finally
            {
                _wal.Dispose();
            }
        }

        /// <summary>Ends the flushing (not waited for: a flush under way finishes on its own, then the file is closed).</summary>
        public void Dispose() => _stop = true;
    }

    /// <summary>Inventory changes committed by <see cref="Write"/> since the store was opened, in all and by type.</summary>
    public long ChangesRecorded => _changes.Recorded;
    public IReadOnlyDictionary<string, long> ChangesByType => _changes.CountsByType;

    /// <summary>Asset rows inserted or updated by <see cref="Write"/> since the store was opened (unchanged rows are skipped).</summary>
    public long AssetRowsWritten { get; private set; }

    /// <summary>SQLite's default automatic checkpoint threshold (WAL pages), restored after a final write.</summary>
    private const int DefaultAutoCheckpointPages = 1000;

    /// <summary>Copies the WAL into the database, as the automatic checkpoint of a commit would (its failures are ignored alike).</summary>
    private void Checkpoint()
    {
        try
        {
            Exec(_db, "PRAGMA wal_checkpoint(PASSIVE);");
        }
        catch (SqliteException)
        {
            // As for the automatic checkpoint: the commit stands, and the next checkpoint (at the latest when the
            // connection closes) copies it.
        }
    }

    private void WaitForCheckpoint()
    {
        if (_checkpoint is { } t)
        {
            _checkpoint = null;
            t.GetAwaiter().GetResult();
        }
    }

    private void Upsert(string sql, StateRows rows)
    {
        if (rows.Count == 0) return;
        using var st = new SqlStatement(_db, sql);
        for (int i = 0; i < rows.Count; i++)
        {
            st.Utf8(1, rows.Key(i));
            st.Utf8(2, rows.Data(i));
            st.Run();
        }
    }

    public void Dispose()
    {
        WaitForCheckpoint();
        _db.Dispose();
    }
}

/// <summary>Writes flushes on a background task so the analysis thread never waits on the disk (except at the end).</summary>
public sealed class InventoryStoreWriter(InventoryStore store)
{
    private Task _current = Task.CompletedTask;
    private volatile StoreException? _error;
    private volatile bool _failing;
    private long _lastFailure;

    public InventoryStore Store { get; } = store;
    public bool Busy => !_current.IsCompleted;
    /// <summary>The first failure of this run (sticky, for the exit code and the summary).</summary>
    public StoreException? Error => _error;
    /// <summary>
    /// True while the last write failed (disk full, store locked): nothing of it was committed, so the inventory's
    /// next write must carry its whole state again.
    /// </summary>
    public bool Failing => _failing;
    /// <summary>Time since the last failed write.</summary>
    public TimeSpan SinceFailure => System.Diagnostics.Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastFailure));
    public long Flushes { get; private set; }
    /// <summary>How long the last <see cref="InventoryStore.Write"/> took (wall clock).</summary>
    public TimeSpan LastWriteDuration { get; private set; }

    public void Submit(StoreBatch batch)
    {
        WaitIdle();
        Flushes++;
        _current = Task.Run(() =>
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
            try
            {
                Store.Write(batch);
                _failing = false;
            }
            catch (StoreException ex)
            {
                _error ??= ex;
                Interlocked.Exchange(ref _lastFailure, System.Diagnostics.Stopwatch.GetTimestamp());
                _failing = true;
            }
            LastWriteDuration = System.Diagnostics.Stopwatch.GetElapsedTime(t0);
        });
    }

    public void WaitIdle() => _current.GetAwaiter().GetResult();
}
