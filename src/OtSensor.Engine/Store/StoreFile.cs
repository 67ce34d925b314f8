using Microsoft.Data.Sqlite;

namespace OtSensor.Store;

/// <summary>The one SQLite file the sensor keeps: how every part of the store (inventory, detection) opens it.</summary>
internal static class StoreFile
{
    /// <summary>
    /// Checks the path and returns an unopened connection to it: read-only stores must exist, a directory is refused
    /// with a clear error, pooling is off (one writer per process) and the busy timeout applies to locks.
    /// </summary>
    public static SqliteConnection Connection(string path, bool readOnly, int busyTimeoutMs, out string fullPath)
    {
        string full = Path.GetFullPath(path);
        fullPath = full;
        if (readOnly && !File.Exists(full))
            throw new StoreException(full, StoreErrorKind.CannotOpen, $"store '{full}': no such file (run 'otsensor replay --store {path} CAPTURE' first)");
        if (Directory.Exists(full))
            throw new StoreException(full, StoreErrorKind.CannotOpen, $"store '{full}': is a directory");
        var csb = new SqliteConnectionStringBuilder
        {
            DataSource = full,
            Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
            DefaultTimeout = Math.Max(1, busyTimeoutMs / 1000),
        };
        return new SqliteConnection(csb.ToString());
    }

    /// <summary>
    /// Opens the file, sets the busy timeout, proves it is an SQLite database before anything is written, then lets
    /// <paramref name="init"/> migrate or check its part of the schema. Every failure becomes a <see cref="StoreException"/>
    /// naming the file (locked, corrupt, read-only, disk full...), never a raw exception.
    /// </summary>
    public static T Open<T>(string path, bool readOnly, int busyTimeoutMs, Func<SqliteConnection, string, T> init)
    {
        var db = Connection(path, readOnly, busyTimeoutMs, out string full);
        try
        {
            db.Open();
            using (var cmd = db.CreateCommand())
            {
                cmd.CommandText = $"PRAGMA busy_timeout={busyTimeoutMs};";
                cmd.ExecuteNonQuery();
            }
            using (var cmd = db.CreateCommand())
            {
                cmd.CommandText = "SELECT count(*) FROM sqlite_master;";
                cmd.ExecuteScalar();
            }
            return init(db, full);
        }
        catch (StoreException)
        {
            db.Dispose();
            throw;
        }
        catch (SqliteException ex)
        {
            db.Dispose();
            throw Translate(full, ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            db.Dispose();
            throw new StoreException(full, StoreErrorKind.IoError, $"store '{full}': {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Loads SQLite and runs its first open, statement and transaction on an in-memory database: the native library,
    /// the provider's reflection set-up and the interop stubs, which the first real open otherwise pays for on the
    /// thread that is waiting for it. Failures are left for the real open to report.
    /// </summary>
    public static void WarmUp()
    {
        try
        {
            using var db = new SqliteConnection("Data Source=:memory:;Pooling=False");
            db.Open();
            using var tx = db.BeginTransaction(deferred: false);
            using (var cmd = db.CreateCommand())
            {
                cmd.Transaction = tx;
                cmd.CommandText = "SELECT count(*) FROM sqlite_master;";
                cmd.ExecuteScalar();
            }
            tx.Commit();
        }
        catch (Exception ex) when (ex is SqliteException or InvalidOperationException or TypeInitializationException or DllNotFoundException)
        {
            // The store's own open reports it, naming the file.
        }
    }

    /// <summary>An SQLite error as the store's typed error, with what it means for the user.</summary>
    public static StoreException Translate(string path, SqliteException ex)
    {
        int primary = ex.SqliteErrorCode & 0xFF;
        var (kind, what) = primary switch
        {
            5 or 6 => (StoreErrorKind.Locked, "locked by another process (another otsensor writing to it?)"),
            11 or 26 => (StoreErrorKind.Corrupt, "corrupt or not an otsensor store"),
            8 => (StoreErrorKind.ReadOnly, "read-only (file or folder permissions, or a read-only disk)"),
            13 => (StoreErrorKind.DiskFull, "the disk is full"),
            14 => (StoreErrorKind.CannotOpen, "cannot open the file (missing folder or no permission)"),
            10 => (StoreErrorKind.IoError, "disk I/O error"),
            _ => (StoreErrorKind.Other, "database error"),
        };
        return new StoreException(path, kind, $"store '{path}': {what}: {ex.Message.Replace("SQLite Error ", "sqlite error ", StringComparison.Ordinal)}", ex);
    }
}
