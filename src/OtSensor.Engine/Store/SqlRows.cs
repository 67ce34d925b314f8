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
}
