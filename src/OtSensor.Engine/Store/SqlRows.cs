using Microsoft.Data.Sqlite;

namespace OtSensor.Store;

/// <summary>One parameterised SELECT turned into a list of records (the stores' row readers share it).</summary>
internal static class SqlRows
{
    public static List<T> Select<T>(SqliteConnection db, string sql, Func<SqliteDataReader, T> read, params (string Name, object Value)[] parameters)
    {
        var list = new List<T>();
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value);
        using var r = cmd.ExecuteReader();
        while (r.Read()) list.Add(read(r));
        return list;
    }

    /// <summary>A forwarding destination's delivered id in a cursor table (0 when it never delivered).</summary>
    public static long GetCursor(SqliteConnection db, string table, string destination)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"SELECT delivered_id FROM {table} WHERE destination = $d;";
        cmd.Parameters.AddWithValue("$d", destination);
        return cmd.ExecuteScalar() is long v ? v : 0L;
    }

    /// <summary>Moves a destination's cursor forward (never back: a late confirmation cannot undo a later one).</summary>
    public static void SetCursor(SqliteConnection db, string table, string destination, long deliveredId)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = $"""
            INSERT INTO {table}(destination, delivered_id) VALUES ($d, $i)
            ON CONFLICT(destination) DO UPDATE SET delivered_id = max(delivered_id, excluded.delivered_id);
            """;
        cmd.Parameters.AddWithValue("$d", destination);
        cmd.Parameters.AddWithValue("$i", deliveredId);
        cmd.ExecuteNonQuery();
    }
}
