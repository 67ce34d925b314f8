namespace OtSensor.Store;

public enum StoreErrorKind
{
    Other = 0,
    Locked = 1,
    Corrupt = 2,
    ReadOnly = 3,
    DiskFull = 4,
    CannotOpen = 5,
    NewerSchema = 6,
    IoError = 7,
}

/// <summary>A store that cannot be opened or written: the message names the file and says why (never a stack trace).</summary>
public sealed class StoreException : Exception
{
    public StoreException(string path, StoreErrorKind kind, string message, Exception? inner = null)
        : base(message, inner)
    {
        Path = path;
        Kind = kind;
    }

    public StoreException()
    {
        Path = "";
    }

    public StoreException(string message) : base(message)
    {
        Path = "";
    }

    public StoreException(string message, Exception innerException) : base(message, innerException)
    {
        Path = "";
    }

    public string Path { get; }
    public StoreErrorKind Kind { get; }
}
