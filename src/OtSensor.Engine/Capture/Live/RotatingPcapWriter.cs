using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using OtSensor.Core;

namespace OtSensor.Capture.Live;

/// <summary>
/// A rolling capture to disk (<c>--write-pcap DIR --rotate-mb N --keep N</c>): classic pcap files with nanosecond
/// timestamps (written by <see cref="PcapWriter"/>), named <c>otsensor-IFACE-yyyyMMddTHHmmssfff-SEQ.pcap</c> after the
/// UTC time of their first packet. A new file starts when the current one would exceed the rotation size; at most
/// <c>keep</c> files of this interface are kept in the directory (the oldest are deleted, including those left by an
/// earlier run; files of other interfaces are never touched).
/// Disk errors never escape <see cref="Write"/>: they are counted (<see cref="WriteErrors"/>, <see cref="LastError"/>),
/// packets are dropped (<see cref="PacketsDropped"/>) and a new file is tried at the next rotation point.
/// The directory is created by the constructor only: a directory removed while running is not re-created
/// (it may be an unmounted volume). Not thread-safe: one thread writes.
/// </summary>
public sealed class RotatingPcapWriter : OtSensor.Pipeline.IRollingPacketWriter
{
    private const int FileHeaderBytes = 24;
    private const int RecordHeaderBytes = 16;

    private readonly string _directory;
    private readonly string _prefix;
    private readonly Regex _ownName;
    private readonly LinkType _linkType;
    private readonly int _snaplen;
    private readonly long _rotateBytes;
    private readonly int _keep;
    /// <summary>Files of this interface, oldest first: those found at start (by name), then ours in creation order.</summary>
    private readonly List<string> _files;
    private PcapWriter? _writer;
    private long _fileBytes;
    private bool _failed;
    private int _seq;
    private bool _disposed;

    /// <param name="directory">Created if missing.</param>
    /// <param name="iface">Interface name, used in file names (characters other than letters, digits, '.', '_' and '-' become '_').</param>
    /// <param name="rotateBytes">Maximum file size; a single larger packet still gets a file of its own.</param>
    /// <param name="keep">Maximum number of this interface's files in the directory; 0 for no limit.</param>
    /// <exception cref="IOException">The directory cannot be created or listed.</exception>
    public RotatingPcapWriter(string directory, string iface, LinkType linkType, int snaplen, long rotateBytes, int keep)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentException.ThrowIfNullOrEmpty(iface);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(snaplen);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(rotateBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        _directory = Path.GetFullPath(directory);
        Interface = iface;
        _prefix = "otsensor-" + SanitizeName(iface) + "-";
        _ownName = new Regex("^" + Regex.Escape(_prefix) + @"\d{8}T\d{9}-\d{6,}\.pcap$", RegexOptions.CultureInvariant);
        _linkType = linkType;
        _snaplen = snaplen;
        _rotateBytes = rotateBytes;
        _keep = keep;
        try
        {
            Directory.CreateDirectory(_directory);
            _files = [.. Directory.EnumerateFiles(_directory, _prefix + "*.pcap")
                .Where(f => _ownName.IsMatch(Path.GetFileName(f)))
                .Order(StringComparer.Ordinal)];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot write pcap files in {_directory}: {ex.Message}", ex);
        }
    }

    public string Interface { get; }

    public long PacketsWritten { get; private set; }

    /// <summary>Packets not written because of a disk error.</summary>
    public long PacketsDropped { get; private set; }

    /// <summary>Files created.</summary>
    public long FilesWritten { get; private set; }

    /// <summary>Disk errors (creating, writing, flushing, closing or deleting a file).</summary>
    public long WriteErrors { get; private set; }

    public string? LastError { get; private set; }

    /// <summary>The file being written, or null before the first packet and after an error until the next rotation.</summary>
    public string? CurrentFile { get; private set; }

    /// <summary>Appends one frame (cut to the snap length). Never throws for disk errors.</summary>
    public void Write(ReadOnlySpan<byte> data, int originalLength, long timestampNs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long record = RecordHeaderBytes + Math.Min(data.Length, _snaplen);
        bool haveFile = _writer != null || _failed;
        if (!haveFile || _fileBytes + record > _rotateBytes && _fileBytes > FileHeaderBytes)
            Rotate(timestampNs);
        _fileBytes += record;
        if (_writer == null)
        {
            PacketsDropped++;
            return;
        }
        try
        {
            _writer.WritePacket(timestampNs, data, originalLength);
            PacketsWritten++;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            PacketsDropped++;
            Fail(ex);
        }
    }

    /// <summary>Pushes buffered packets to the file. Never throws for disk errors.</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_writer == null)
            return;
        try
        {
            _writer.Flush();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Fail(ex);
        }
    }

    public void Dispose()
    {
        if (_disposed)
            return;
        CloseCurrent();
        _disposed = true;
    }

    private void Rotate(long timestampNs)
    {
        CloseCurrent();
        _failed = false;
        _fileBytes = FileHeaderBytes;
        _seq++;
        string name = string.Create(CultureInfo.InvariantCulture,
            $"{_prefix}{PacketTime.ToDateTimeOffset(timestampNs).UtcDateTime:yyyyMMdd'T'HHmmssfff}-{_seq:D6}.pcap");
        string path = Path.Combine(_directory, name);
        FileStream? stream = null;
        try
        {
            stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read, bufferSize: 0);
            _writer = new PcapWriter(stream, _linkType, _snaplen, nanosecond: true);
            stream = null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            stream?.Dispose();
            Fail(ex);
            return;
        }
        CurrentFile = path;
        FilesWritten++;
        _files.Add(path);
        Prune();
    }

    private void Prune()
    {
        if (_keep == 0)
            return;
        while (_files.Count > _keep)
        {
            string victim = _files[0];
            _files.RemoveAt(0);
            try
            {
                File.Delete(victim);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Count(ex);
            }
        }
    }

    /// <summary>Stops writing to the current file; the next rotation point tries a new one.</summary>
    private void Fail(Exception ex)
    {
        Count(ex);
        DisposeWriter();
        _failed = true;
    }

    private void CloseCurrent()
    {
        if (_writer == null)
            return;
        try
        {
            _writer.Flush();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Count(ex);
        }
        DisposeWriter();
    }

    private void DisposeWriter()
    {
        if (_writer == null)
            return;
        try
        {
            _writer.Dispose();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The flush error, if any, was counted already; closing a broken file may fail again.
        }
        _writer = null;
        CurrentFile = null;
    }

    private void Count(Exception ex)
    {
        WriteErrors++;
        LastError = ex.Message;
    }

    private static string SanitizeName(string iface)
    {
        var sb = new StringBuilder(iface.Length);
        foreach (char c in iface)
            sb.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' ? c : '_');
        return sb.ToString();
    }
}
