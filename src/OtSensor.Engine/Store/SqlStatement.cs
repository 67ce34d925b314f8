using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace OtSensor.Store;

/// <summary>
/// One SQL statement prepared once on an open connection and run many times (bulk writes inside a transaction the
/// connection already holds): parameters bound by position, text bound straight from UTF-8 bytes. Failures are the
/// same <see cref="SqliteException"/>s (error code, message) Microsoft.Data.Sqlite's commands throw.
/// </summary>
internal sealed class SqlStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _stmt;

    public SqlStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle ?? throw new InvalidOperationException("the connection is not open");
        int rc = raw.sqlite3_prepare_v2(_db, sql, out _stmt);
        SqliteException.ThrowExceptionForRC(rc, _db);
    }

    /// <summary>Binds parameter <paramref name="index"/> (1-based) to text, or NULL.</summary>
    public void Text(int index, string? value)
    {
        if (value is null) Check(raw.sqlite3_bind_null(_stmt, index));
        else if (value.Length <= MaxStackText)
        {
            // Encoded on the stack (the string overload allocates a NUL-terminated array per value): the same UTF-8.
            Span<byte> utf8 = stackalloc byte[MaxStackText * 3];
            Utf8(index, utf8[..System.Text.Encoding.UTF8.GetBytes(value, utf8)]);
        }
        else Check(raw.sqlite3_bind_text(_stmt, index, value));
    }

    /// <summary>Longest text (UTF-16 units) <see cref="Text"/> encodes on the stack.</summary>
    private const int MaxStackText = 256;

    /// <summary>Binds parameter <paramref name="index"/> to <paramref name="values"/> joined by single spaces (as string.Join(' ', values)).</summary>
    public void Joined(int index, List<string> values)
    {
        int chars = values.Count;
        foreach (var v in values) chars += v.Length;
        if (chars > MaxStackText)
        {
            Text(index, string.Join(' ', values));
            return;
        }
        Span<byte> utf8 = stackalloc byte[MaxStackText * 3];
        int n = 0;
        for (int i = 0; i < values.Count; i++)
        {
            if (i > 0) utf8[n++] = (byte)' ';
            n += System.Text.Encoding.UTF8.GetBytes(values[i], utf8[n..]);
        }
        Utf8(index, utf8[..n]);
    }

    /// <summary>Binds parameter <paramref name="index"/> to UTF-8 text (copied); empty is empty text, not NULL.</summary>
    public void Utf8(int index, ReadOnlySpan<byte> value) => Check(value.IsEmpty ? raw.sqlite3_bind_text(_stmt, index, "") : raw.sqlite3_bind_text(_stmt, index, value));

    public void Int(int index, long value) => Check(raw.sqlite3_bind_int64(_stmt, index, value));

    /// <summary>Binds parameter <paramref name="index"/> to an integer, or NULL.</summary>
    public void Int(int index, long? value) => Check(value is { } v ? raw.sqlite3_bind_int64(_stmt, index, v) : raw.sqlite3_bind_null(_stmt, index));

    /// <summary>Binds parameter <paramref name="index"/> to a blob (copied); empty is an empty blob, as Microsoft.Data.Sqlite binds it, not NULL.</summary>
    public void Blob(int index, ReadOnlySpan<byte> value) => Check(value.IsEmpty ? raw.sqlite3_bind_zeroblob(_stmt, index, 0) : raw.sqlite3_bind_blob(_stmt, index, value));

    /// <summary>Binds parameter <paramref name="index"/> to NULL.</summary>
    public void Null(int index) => Check(raw.sqlite3_bind_null(_stmt, index));

    /// <summary>Runs the statement to completion with the bound values, then resets it (bindings are kept until rebound).</summary>
    public void Run()
    {
        int rc = raw.sqlite3_step(_stmt);
        while (rc == raw.SQLITE_ROW) rc = raw.sqlite3_step(_stmt);
        try
        {
            if (rc != raw.SQLITE_DONE) SqliteException.ThrowExceptionForRC(rc, _db); // reads the message before the reset
        }
        finally
        {
            raw.sqlite3_reset(_stmt);
        }
    }

    /// <summary>The prepared statement (for tests binding through SQLitePCL directly).</summary>
    internal sqlite3_stmt Handle => _stmt;

    /// <summary>The rowid of the last row inserted on this connection.</summary>
    public long LastInsertRowId => raw.sqlite3_last_insert_rowid(_db);

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK) SqliteException.ThrowExceptionForRC(rc, _db);
    }

    public void Dispose() => _stmt.Dispose();
}
