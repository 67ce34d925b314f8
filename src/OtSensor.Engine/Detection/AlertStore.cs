using System.Globalization;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using OtSensor.Store;

namespace OtSensor.Detection;

/// <summary>One alert write: a new alert (with its trace pcap, null when it kept none) or an update of count / last seen.</summary>
public readonly record struct AlertWrite(Alert Alert, long Count, long LastSeenNs, bool IsNew, ReadOnlyMemory<byte>? Trace);

/// <summary>
/// Detection's tables in the store's SQLite file (WAL): alerts (with evidence JSON and the trace pcap), forwarder
/// cursors (<see cref="IAlertOutbox"/>), the baseline and its state. Versioned by its own table
/// <c>detection_schema_version</c> and migrated on open. Failures are <see cref="StoreException"/>s naming the file.
/// </summary>
public sealed class AlertStore : IAlertOutbox, IDisposable
{
    public const int CurrentSchemaVersion = 1;

    private static readonly string[] s_migrations =
    [
        """
        CREATE TABLE alerts(id INTEGER PRIMARY KEY, type TEXT NOT NULL, signature_id INTEGER NOT NULL, name TEXT NOT NULL,
            severity INTEGER NOT NULL, category TEXT NOT NULL, mitre TEXT NOT NULL, first_seen_ns INTEGER NOT NULL,
            last_seen_ns INTEGER NOT NULL, count INTEGER NOT NULL, proto TEXT NOT NULL, src_asset TEXT, src_ip TEXT, src_mac TEXT,
            src_port INTEGER, dst_asset TEXT, dst_ip TEXT, dst_mac TEXT, dst_port INTEGER, message TEXT NOT NULL,
            evidence TEXT NOT NULL, trace_packets TEXT NOT NULL, trace BLOB);
        CREATE INDEX alerts_last_seen ON alerts(last_seen_ns);
        CREATE TABLE forward_cursors(destination TEXT PRIMARY KEY, delivered_id INTEGER NOT NULL) WITHOUT ROWID;
        CREATE TABLE baseline_state(id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
        CREATE TABLE baseline(id INTEGER PRIMARY KEY CHECK (id = 1), data TEXT NOT NULL);
        """,
    ];

    private const string Columns = "id, type, signature_id, name, severity, category, mitre, first_seen_ns, last_seen_ns, count, proto, src_asset, src_ip, src_mac, src_port, dst_asset, dst_ip, dst_mac, dst_port, message, evidence, trace_packets";

    private readonly SqliteConnection _db;
    private readonly Lock _lock = new();

    private AlertStore(string path, SqliteConnection db)
    {
        Path = path;
        _db = db;
    }

    public string Path { get; }

    /// <summary>Opens (creating the tables unless <paramref name="readOnly"/>) the detection part of the store at <paramref name="path"/>.</summary>
    public static AlertStore Open(string path, bool readOnly = false, int busyTimeoutMs = 5000)
    {
        return StoreFile.Open(path, readOnly, busyTimeoutMs, (db, full) =>
        {
            int version = ReadVersion(db, null);
            if (version > CurrentSchemaVersion)
                throw new StoreException(full, StoreErrorKind.NewerSchema, $"store '{full}': detection schema version {version} is newer than this otsensor supports ({CurrentSchemaVersion})");
            if (!readOnly)
            {
                Exec(db, "PRAGMA journal_mode=WAL;");
                Exec(db, "PRAGMA synchronous=NORMAL;");
                using var tx = db.BeginTransaction(deferred: false);
                version = ReadVersion(db, tx);
                if (version == 0) Exec(db, "CREATE TABLE IF NOT EXISTS detection_schema_version(version INTEGER NOT NULL);", tx);
                for (int v = version; v < CurrentSchemaVersion; v++) Exec(db, s_migrations[v], tx);
                if (version < CurrentSchemaVersion)
                {
                    Exec(db, "DELETE FROM detection_schema_version;", tx);
                    Exec(db, $"INSERT INTO detection_schema_version(version) VALUES ({CurrentSchemaVersion});", tx);
                }
                tx.Commit();
            }
            else if (version == 0)
            {
                throw new StoreException(full, StoreErrorKind.Corrupt, $"store '{full}': no detection data (replay a capture into it first)");
            }
            return new AlertStore(full, db);
        });
    }

    private static int ReadVersion(SqliteConnection db, SqliteTransaction? tx)
    {
        var exists = Scalar(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='detection_schema_version';", tx);
        if (Convert.ToInt64(exists, CultureInfo.InvariantCulture) == 0) return 0;
        var v = Scalar(db, "SELECT max(version) FROM detection_schema_version;", tx);
        return v is null or DBNull ? 0 : (int)Convert.ToInt64(v, CultureInfo.InvariantCulture);
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
                throw OtSensor.Store.StoreFile.Translate(Path, ex);
            }
            catch (JsonException ex)
            {
                throw new StoreException(Path, StoreErrorKind.Corrupt, $"store '{Path}': corrupt record: {ex.Message}", ex);
            }
            catch (FormatException ex)
            {
                throw new StoreException(Path, StoreErrorKind.Corrupt, $"store '{Path}': corrupt record: {ex.Message}", ex);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new StoreException(Path, StoreErrorKind.IoError, $"store '{Path}': {ex.Message}", ex);
            }
        }
    }

    // ---- alerts ----

    public long MaxAlertId() => Run(() => Scalar(_db, "SELECT max(id) FROM alerts;") is long v ? v : 0L);

    private const string InsertSql = $"""
        INSERT INTO alerts({Columns}, trace) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
            ?19, ?20, ?21, ?22, ?23)
        ON CONFLICT(id) DO UPDATE SET count = excluded.count, last_seen_ns = excluded.last_seen_ns;
        """;

    // The JSON columns' text, written by hand with Utf8JsonWriter (the reflection-based serialiser's default encoder
    // and layout, so the same bytes) into one reused buffer, and bound as UTF-8: no reflection, no string per column.
    private readonly System.Buffers.ArrayBufferWriter<byte> _jsonBuffer = new(1024);
    private Utf8JsonWriter? _jsonWriter;

    /// <summary>Writes new alerts and updates in one transaction (two statements, each prepared once per call).</summary>
    public void Write(IReadOnlyList<AlertWrite> writes) => Run(() =>
    {
        if (writes.Count == 0) return 0;
        using var tx = _db.BeginTransaction(deferred: false);
        using var ins = new SqlStatement(_db, InsertSql);
        using var upd = new SqlStatement(_db, "UPDATE alerts SET count = ?1, last_seen_ns = ?2 WHERE id = ?3;");
        for (int k = 0; k < writes.Count; k++)
        {
            var w = writes[k];
            var a = w.Alert;
            if (!w.IsNew)
            {
                upd.Int(1, w.Count);
                upd.Int(2, w.LastSeenNs);
                upd.Int(3, a.Id);
                upd.Run();
                continue;
            }
            ins.Int(1, a.Id);
            ins.Text(2, a.Type);
            ins.Int(3, a.SignatureId);
            ins.Text(4, a.Name);
            ins.Int(5, a.Severity);
            ins.Text(6, a.Category);
            ins.Utf8(7, Json(a.Mitre));
            ins.Int(8, a.FirstSeenNs);
            ins.Int(9, w.LastSeenNs);
            ins.Int(10, w.Count);
            ins.Text(11, a.Proto);
            ins.Text(12, a.SrcAsset);
            ins.Text(13, a.SrcIp);
            ins.Text(14, a.SrcMac);
            ins.Int(15, a.SrcPort);
            ins.Text(16, a.DstAsset);
            ins.Text(17, a.DstIp);
            ins.Text(18, a.DstMac);
            ins.Int(19, a.DstPort);
            ins.Text(20, a.Message);
            ins.Utf8(21, Json(a.Evidence));
            ins.Utf8(22, Json(a.TracePackets));
            if (w.Trace is { } trace) ins.Blob(23, trace.Span);
            else ins.Null(23);
            ins.Run();
        }
        tx.Commit();
        return 0;
    });

    private Utf8JsonWriter StartJson()
    {
        _jsonBuffer.ResetWrittenCount();
        if (_jsonWriter is null) _jsonWriter = new Utf8JsonWriter(_jsonBuffer);
        else _jsonWriter.Reset(_jsonBuffer);
        return _jsonWriter;
    }

    private ReadOnlySpan<byte> EndJson(Utf8JsonWriter w)
    {
        w.Flush();
        return _jsonBuffer.WrittenSpan;
    }

    /// <summary>As <c>JsonSerializer.Serialize(list)</c>: <c>["a","b"]</c>.</summary>
    internal ReadOnlySpan<byte> Json(IReadOnlyList<string> list)
    {
        var w = StartJson();
        w.WriteStartArray();
        for (int i = 0; i < list.Count; i++) w.WriteStringValue(list[i]);
        w.WriteEndArray();
        return EndJson(w);
    }

    /// <summary>As <c>JsonSerializer.Serialize(list)</c>: <c>[1,2]</c>.</summary>
    internal ReadOnlySpan<byte> Json(IReadOnlyList<long> list)
    {
        var w = StartJson();
        w.WriteStartArray();
        for (int i = 0; i < list.Count; i++) w.WriteNumberValue(list[i]);
        w.WriteEndArray();
        return EndJson(w);
    }

    /// <summary>As <c>JsonSerializer.Serialize(evidence)</c>: <c>{"k":"v"}</c>, keys in the dictionary's (ordinal) order.</summary>
    internal ReadOnlySpan<byte> Json(AlertEvidence evidence)
    {
        var w = StartJson();
        w.WriteStartObject();
        foreach (var kv in evidence) w.WriteString(kv.Key, kv.Value);
        w.WriteEndObject();
        return EndJson(w);
    }

    private static Alert ReadAlert(SqliteDataReader r)
    {
        string? S(int i) => r.IsDBNull(i) ? null : r.GetString(i);
        int? I(int i) => r.IsDBNull(i) ? null : r.GetInt32(i);
        return new Alert
        {
            Id = r.GetInt64(0),
            Type = r.GetString(1),
            SignatureId = r.GetInt32(2),
            Name = r.GetString(3),
            Severity = r.GetInt32(4),
            Category = r.GetString(5),
            Mitre = JsonSerializer.Deserialize(r.GetString(6), AlertJsonContext.Default.ListString) ?? [],
            FirstSeenNs = r.GetInt64(7),
            LastSeenNs = r.GetInt64(8),
            Count = r.GetInt64(9),
            Proto = r.GetString(10),
            SrcAsset = S(11),
            SrcIp = S(12),
            SrcMac = S(13),
            SrcPort = I(14),
            DstAsset = S(15),
            DstIp = S(16),
            DstMac = S(17),
            DstPort = I(18),
            Message = r.GetString(19),
            Evidence = new AlertEvidence(JsonSerializer.Deserialize(r.GetString(20), AlertJsonContext.Default.DictionaryStringString) ?? []),
            TracePackets = JsonSerializer.Deserialize(r.GetString(21), AlertJsonContext.Default.ListInt64) ?? [],
        };
    }

    public IReadOnlyList<Alert> ReadAfter(long afterId, int max) => Run<IReadOnlyList<Alert>>(() =>
        SqlRows.Select(_db, $"SELECT {Columns} FROM alerts WHERE id > $a ORDER BY id LIMIT $n;", ReadAlert, ("$a", afterId), ("$n", Math.Max(0, max))));

    /// <summary>Alerts whose last sighting is at or after <paramref name="sinceNs"/> with at least <paramref name="minSeverity"/>, by id.</summary>
    public List<Alert> Query(long sinceNs = long.MinValue, int minSeverity = 0) => Run(() =>
        SqlRows.Select(_db, $"SELECT {Columns} FROM alerts WHERE last_seen_ns >= $s AND severity >= $m ORDER BY id;", ReadAlert, ("$s", sinceNs), ("$m", minSeverity)));

    /// <summary>The trace pcap of an alert; null when the alert does not exist or kept no packet.</summary>
    public byte[]? ReadTrace(long id, out bool exists)
    {
        bool found = false;
        var blob = Run(() =>
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT trace FROM alerts WHERE id = $id;";
            cmd.Parameters.AddWithValue("$id", id);
            using var r = cmd.ExecuteReader();
            if (!r.Read()) return null;
            found = true;
            return r.IsDBNull(0) ? null : (byte[])r.GetValue(0);
        });
        exists = found;
        return blob;
    }

    public long GetCursor(string destination) => Run(() => SqlRows.GetCursor(_db, "forward_cursors", destination));

    public void SetCursor(string destination, long deliveredId) => Run(() =>
    {
        SqlRows.SetCursor(_db, "forward_cursors", destination, deliveredId);
        return 0;
    });

    // ---- baseline ----

    public BaselineState ReadBaselineState() => Run(() =>
        Scalar(_db, "SELECT data FROM baseline_state WHERE id = 1;") is string s ? JsonSerializer.Deserialize(s, BaselineStateJsonContext.Default.BaselineState) ?? new BaselineState() : new BaselineState());

    public void WriteBaselineState(BaselineState state) => Run(() =>
    {
        Put("baseline_state", JsonSerializer.Serialize(state, BaselineStateJsonContext.Default.BaselineState));
        return 0;
    });

    public BaselineModel ReadBaseline() => Run(() =>
        Scalar(_db, "SELECT data FROM baseline WHERE id = 1;") is string s ? BaselineModel.FromJson(s) : new BaselineModel());

    public void WriteBaseline(BaselineModel model, BaselineState state) => WriteBaseline(model.ToJson(), state);

    /// <summary>Writes a baseline already in its JSON form as UTF-8 (<see cref="BaselineModel.ToJsonUtf8"/>) and its state.</summary>
    public void WriteBaseline(byte[] modelJsonUtf8, BaselineState state) => Run(() =>
    {
        using var tx = _db.BeginTransaction(deferred: false);
        using (var put = new SqlStatement(_db, "INSERT INTO baseline(id, data) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET data = excluded.data;"))
        {
            put.Utf8(1, modelJsonUtf8);
            put.Run();
        }
        Put("baseline_state", JsonSerializer.Serialize(state, BaselineStateJsonContext.Default.BaselineState), tx);
        tx.Commit();
        return 0;
    });

    /// <summary>Writes a baseline already in its JSON form (<see cref="BaselineModel.ToJson"/>) and its state.</summary>
    public void WriteBaseline(string modelJson, BaselineState state) => Run(() =>
    {
        using var tx = _db.BeginTransaction(deferred: false);
        Put("baseline", modelJson, tx);
        Put("baseline_state", JsonSerializer.Serialize(state, BaselineStateJsonContext.Default.BaselineState), tx);
        tx.Commit();
        return 0;
    });

    private void Put(string table, string data, SqliteTransaction? tx = null)
    {
        using var cmd = _db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = $"INSERT INTO {table}(id, data) VALUES (1, $d) ON CONFLICT(id) DO UPDATE SET data = excluded.data;";
        cmd.Parameters.AddWithValue("$d", data);
        cmd.ExecuteNonQuery();
    }

    public void Dispose()
    {
        _jsonWriter?.Dispose();
        _db.Dispose();
    }
}

/// <summary>
/// Compile-time JSON metadata for what the alert store reads back (alerts' JSON columns): no reflection. The text is
/// what the reflection-based serialiser with the same options reads and writes. (The baseline state row has its own
/// context, <see cref="BaselineStateJsonContext"/>.)
/// </summary>
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<string>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(List<long>))]
[System.Text.Json.Serialization.JsonSerializable(typeof(Dictionary<string, string>))]
internal sealed partial class AlertJsonContext : System.Text.Json.Serialization.JsonSerializerContext;

/// <summary>Writes alert batches on a background task so the analysis thread never waits on the disk (except at the end).</summary>
/// <summary>
/// Writes alerts in the background, one transaction per submission. A failed write (disk full, store locked) is kept
/// and retried with the next submission, at most every <see cref="RetryInterval"/>, so alerts raised while the store
/// cannot take them reach it (and the SIEM) once it can; what exceeds <see cref="MaxRetained"/> writes meanwhile is
/// counted in <see cref="Dropped"/>, never silent. Writes are idempotent (insert or update by id), so a retry is safe.
/// </summary>
public sealed class AlertStoreWriter(AlertStore store)
{
    public const int MaxRetained = 20_000;
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(5);
    private Task _current = Task.CompletedTask;
    private volatile StoreException? _error;
    private volatile bool _failing;
    private List<AlertWrite> _retained = [];
    private long _lastFailure;
    private long _dropped;

    public AlertStore Store { get; } = store;
    /// <summary>The first failure of this run (sticky, for the exit code and the summary).</summary>
    public StoreException? Error => _error;
    /// <summary>True while the last write failed (its writes are retained for a retry).</summary>
    public bool Failing => _failing;
    /// <summary>Writes given up because more than <see cref="MaxRetained"/> waited for a failing store.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);
    /// <summary>Writes waiting for a retry (read on the submitting thread).</summary>
    public int Retained => _retained.Count;

    /// <summary>Queues <paramref name="writes"/> (the writer owns the list afterwards); <paramref name="force"/> retries at once.</summary>
    public void Submit(List<AlertWrite> writes, bool force = false)
    {
        WaitIdle();
        if (_retained.Count > 0)
        {
            _retained.AddRange(writes);
            writes = _retained;
            _retained = [];
        }
        if (writes.Count == 0) return;
        if (_failing && !force && System.Diagnostics.Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastFailure)) < RetryInterval)
        {
            Retain(writes);
            return;
        }
        _current = Task.Run(() =>
        {
            try
            {
                Store.Write(writes);
                _failing = false;
            }
            catch (StoreException ex)
            {
                _error ??= ex;
                Interlocked.Exchange(ref _lastFailure, System.Diagnostics.Stopwatch.GetTimestamp());
                _failing = true;
                Retain(writes);
            }
        });
    }

    private void Retain(List<AlertWrite> writes)
    {
        int over = writes.Count - MaxRetained;
        if (over > 0)
        {
            // The oldest go first: a later write of the same alert carries its newer count.
            writes.RemoveRange(0, over);
            Interlocked.Add(ref _dropped, over);
        }
        _retained = writes;
    }

    public void WaitIdle() => _current.GetAwaiter().GetResult();
}
