using Microsoft.Data.Sqlite;
using OtSensor.Store;
using SQLitePCL;

namespace OtSensor.Tests.Store;

/// <summary>Text bound from UTF-8 (on the stack, or encoded ahead) is stored as SQLitePCL's string binding stores it.</summary>
public class SqlStatementTextTests
{
    private static readonly string?[] s_values =
    [
        null, "", "a", "ip:10.0.0.1", "é ü 漢字 \U0001F600", "nul\0inside", "\0", "trailing\0", new string('x', 256) + "\0tail",
        new string('y', 255) + "\0", new string('z', 300), "space separated words",
    ];

    private static (long? Type, byte[]? Bytes) Read(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT typeof(v) = 'null', CAST(v AS BLOB) FROM t;";
        using var r = cmd.ExecuteReader();
        Assert.True(r.Read());
        return (r.GetInt64(0), r.IsDBNull(1) ? null : (byte[])r.GetValue(1));
    }

    [Fact]
    public void Text_StoresWhatTheStringBindingStores()
    {
        using var db = new SqliteConnection("Data Source=:memory:");
        db.Open();
        using (var c = db.CreateCommand()) { c.CommandText = "CREATE TABLE t(v TEXT);"; c.ExecuteNonQuery(); }
        foreach (var v in s_values)
        {
            var expected = Store(db, st => Assert.Equal(raw.SQLITE_OK, v is null ? raw.sqlite3_bind_null(st.Handle, 1) : raw.sqlite3_bind_text(st.Handle, 1, v)));
            Assert.Equal(expected, Store(db, st => st.Text(1, v)));
            if (v is not null)
            {
                Assert.Equal(expected, Store(db, st => st.Joined(1, [v])));
                var split = v.Split(' ');
                var joined = Store(db, st => Assert.Equal(raw.SQLITE_OK, raw.sqlite3_bind_text(st.Handle, 1, string.Join(' ', split))));
                Assert.Equal(joined, Store(db, st => st.Joined(1, [.. split])));
            }
        }
    }

    private static (long?, string?) Store(SqliteConnection db, Action<SqlStatement> bind)
    {
        using (var c = db.CreateCommand()) { c.CommandText = "DELETE FROM t;"; c.ExecuteNonQuery(); }
        using (var st = new SqlStatement(db, "INSERT INTO t(v) VALUES ($v);"))
        {
            bind(st);
            st.Run();
        }
        var (isNull, bytes) = Read(db);
        return (isNull, bytes is null ? null : Convert.ToHexString(bytes));
    }
}
