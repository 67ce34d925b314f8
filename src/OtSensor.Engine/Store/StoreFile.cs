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
}
