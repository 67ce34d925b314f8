using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace OtSensor.Forwarding;

/// <summary>Carries framed messages to one destination. Not thread-safe: one forwarder uses it.</summary>
public interface IMessageTransport : IAsyncDisposable
{
    /// <summary>Connects (resolves the host, TCP connect, TLS handshake); throws with the exact reason.</summary>
    Task ConnectAsync(CancellationToken ct);

    /// <summary>Hands one message to the transport (framed as configured); throws when the connection is lost.</summary>
    Task SendAsync(ReadOnlyMemory<byte> message, CancellationToken ct);

    /// <summary>Flushes what <see cref="SendAsync"/> buffered (file sink); a no-op on sockets.</summary>
    Task FlushAsync(CancellationToken ct);

    /// <summary>
    /// The peer closed or reset the connection (syslog receivers never send, so any end of the read side means the
    /// messages handed over recently may not have arrived). Always false for UDP and files.
    /// </summary>
    bool PeerClosed { get; }
}

/// <summary>Creates the transport of a destination.</summary>
public static class MessageTransport
{
    public static IMessageTransport Create(Destination d, TlsSettings? tls = null, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(d);
        return d.Kind switch
        {
            TransportKind.Udp => new UdpTransport(d.Host, d.Port),
            TransportKind.Tcp => new StreamTransport(d.Host, d.Port, d.Framing, null),
            TransportKind.Tls => new StreamTransport(d.Host, d.Port, d.Framing, tls ?? TlsSettings.Load(d, log)),
            TransportKind.File => new FileTransport(d.Path, d.MaxFileBytes, d.KeepFiles),
            _ => throw new ForwardConfigException("unknown transport"),
        };
    }

    internal static async Task<IPAddress> ResolveAsync(string host, CancellationToken ct)
    {
        if (IPAddress.TryParse(host, out var ip)) return ip;
        IPAddress[] all;
        try
        {
            all = await Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new IOException($"cannot resolve host '{host}': {ex.Message}", ex);
        }
        return all.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? all.FirstOrDefault()
            ?? throw new IOException($"host '{host}' has no address");
    }

    internal static TimeSpan ConnectTimeout { get; } = TimeSpan.FromSeconds(10);
}

/// <summary>One datagram per message (RFC 5426), on a connected socket so ICMP port-unreachable is reported.</summary>
public sealed class UdpTransport(string host, int port) : IMessageTransport
{
    private Socket? _socket;

    public bool PeerClosed => false;

    public async Task ConnectAsync(CancellationToken ct)
    {
        var ip = await MessageTransport.ResolveAsync(host, ct).ConfigureAwait(false);
        _socket?.Dispose();
        _socket = new Socket(ip.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        await _socket.ConnectAsync(new IPEndPoint(ip, port), ct).ConfigureAwait(false);
    }

    public async Task SendAsync(ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        var s = _socket ?? throw new InvalidOperationException("not connected");
        await s.SendAsync(message, SocketFlags.None, ct).ConfigureAwait(false);
    }

    public Task FlushAsync(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Waits up to <paramref name="wait"/> for an ICMP port-unreachable report (siem-test); throws it.</summary>
    public async Task CheckRefusedAsync(TimeSpan wait)
    {
        var s = _socket ?? throw new InvalidOperationException("not connected");
        var buf = new byte[16];
        using var cts = new CancellationTokenSource(wait);
        try
        {
            await s.ReceiveAsync(buf, SocketFlags.None, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    public ValueTask DisposeAsync()
    {
        _socket?.Dispose();
        _socket = null;
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// TCP (RFC 6587) or TLS (RFC 5425): octet counting (<c>LEN SP MSG</c>) or newline framing. A background read watches
/// the connection so a close or reset by the receiver is noticed (see <see cref="PeerClosed"/>).
/// </summary>
public sealed class StreamTransport(string host, int port, Framing framing, TlsSettings? tls) : IMessageTransport
{
    private Socket? _socket;
    private Stream? _stream;
    private Task? _watch;
    private volatile bool _closed;
    private byte[] _frame = new byte[4096];

    public bool PeerClosed => _closed;

    public async Task ConnectAsync(CancellationToken ct)
    {
        await CloseAsync().ConfigureAwait(false);
        var ip = await MessageTransport.ResolveAsync(host, ct).ConfigureAwait(false);
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                timeout.CancelAfter(MessageTransport.ConnectTimeout);
                try
                {
                    await socket.ConnectAsync(new IPEndPoint(ip, port), timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new IOException($"connect to {host}:{port} timed out");
                }
                catch (SocketException ex)
                {
                    throw new IOException($"connect to {host}:{port} failed: {ex.Message}", ex);
                }
            }
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (tls is not null)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                try
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    timeout.CancelAfter(MessageTransport.ConnectTimeout);
                    await ssl.AuthenticateAsClientAsync(tls.ClientOptions(host), timeout.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException && !ct.IsCancellationRequested)
                {
                    await ssl.DisposeAsync().ConfigureAwait(false);
                    string why = tls.LastValidationError ?? (ex.InnerException?.Message is { } inner ? $"{ex.Message} ({inner})" : ex.Message);
                    throw new IOException($"TLS handshake with {host}:{port} failed: {why}", ex);
                }
                stream = ssl;
            }
            _socket = socket;
            _stream = stream;
            _closed = false;
            _watch = WatchAsync(stream);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task WatchAsync(Stream stream)
    {
        var buf = new byte[512];
        try
        {
            while (await stream.ReadAsync(buf).ConfigureAwait(false) > 0)
            {
                // Receivers do not talk; whatever they send is ignored.
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException or InvalidOperationException)
        {
        }
        _closed = true;
    }

    public async Task SendAsync(ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        var stream = _stream ?? throw new InvalidOperationException("not connected");
        if (_closed) throw new IOException($"connection to {host}:{port} closed by the receiver");
        int n = 0;
        if (framing == Framing.OctetCounting)
        {
            string prefix = message.Length.ToString(CultureInfo.InvariantCulture) + " ";
            Ensure(prefix.Length + message.Length);
            n = Encoding.ASCII.GetBytes(prefix, _frame);
            message.Span.CopyTo(_frame.AsSpan(n));
            n += message.Length;
        }
        else
        {
            Ensure(message.Length + 1);
            message.Span.CopyTo(_frame);
            n = message.Length;
            _frame[n++] = (byte)'\n';
        }
        try
        {
            await stream.WriteAsync(_frame.AsMemory(0, n), ct).ConfigureAwait(false);
            await stream.FlushAsync(ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            _closed = true;
            throw new IOException($"send to {host}:{port} failed: {ex.Message}", ex);
        }
        catch (IOException)
        {
            _closed = true;
            throw;
        }
    }

    private void Ensure(int size)
    {
        if (_frame.Length < size) _frame = new byte[Math.Max(size, _frame.Length * 2)];
    }

    public Task FlushAsync(CancellationToken ct) => Task.CompletedTask;

    private async Task CloseAsync()
    {
        if (_stream is not null) await _stream.DisposeAsync().ConfigureAwait(false);
        _socket?.Dispose();
        if (_watch is not null) await _watch.ConfigureAwait(false);
        _stream = null;
        _socket = null;
        _watch = null;
    }

    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);
}

/// <summary>Appends one message per line to a file; rotates to PATH.1 .. PATH.N when it would exceed the size bound.</summary>
public sealed class FileTransport(string path, long maxBytes, int keep) : IMessageTransport
{
    private FileStream? _file;
    private static readonly byte[] Newline = [(byte)'\n'];

    public bool PeerClosed => false;

    public Task ConnectAsync(CancellationToken ct)
    {
        _file?.Dispose();
        try
        {
            string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
            if (dir is not null) Directory.CreateDirectory(dir);
            _file = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new IOException($"cannot write '{path}': {ex.Message}", ex);
        }
        return Task.CompletedTask;
    }

    public async Task SendAsync(ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        var f = _file ?? throw new InvalidOperationException("not open");
        if (f.Length > 0 && f.Length + message.Length + 1 > maxBytes)
        {
            await f.FlushAsync(ct).ConfigureAwait(false);
            await f.DisposeAsync().ConfigureAwait(false);
            _file = null;
            Rotate();
            await ConnectAsync(ct).ConfigureAwait(false);
            f = _file!;
        }
        await f.WriteAsync(message, ct).ConfigureAwait(false);
        await f.WriteAsync(Newline, ct).ConfigureAwait(false);
    }

    private void Rotate()
    {
        if (keep <= 0)
        {
            File.Delete(path);
            return;
        }
        File.Delete($"{path}.{keep}");
        for (int i = keep - 1; i >= 1; i--)
        {
            if (File.Exists($"{path}.{i}")) File.Move($"{path}.{i}", $"{path}.{i + 1}");
        }
        File.Move(path, path + ".1");
    }

    public async Task FlushAsync(CancellationToken ct)
    {
        if (_file is not null) await _file.FlushAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_file is not null) await _file.DisposeAsync().ConfigureAwait(false);
        _file = null;
    }
}

/// <summary>
/// TLS client settings (RFC 5425): the server certificate is validated against the CA file (only those roots) or the
/// system store, and its name checked; an optional client certificate; <see cref="Destination.InsecureSkipVerify"/>
/// turns validation off (logged loudly).
/// </summary>
public sealed class TlsSettings
{
    private X509Certificate2Collection? _roots;
    private X509Certificate2? _client;
    private bool _insecure;
    private string? _serverName;

    /// <summary>Why the last server certificate was rejected (for the error message).</summary>
    public string? LastValidationError { get; private set; }

    /// <exception cref="ForwardConfigException">An unreadable or invalid CA, certificate or key file.</exception>
    public static TlsSettings Load(Destination d, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(d);
        var s = new TlsSettings { _insecure = d.InsecureSkipVerify, _serverName = d.ServerName };
        if (d.CaFile is not null)
        {
            try
            {
                var roots = new X509Certificate2Collection();
                roots.ImportFromPemFile(d.CaFile);
                if (roots.Count == 0) throw new ForwardConfigException($"CA file '{d.CaFile}' holds no PEM certificate");
                s._roots = roots;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                throw new ForwardConfigException($"cannot read CA file '{d.CaFile}': {ex.Message}", ex);
            }
        }
        if (d.CertFile is not null || d.KeyFile is not null)
        {
            if (d.CertFile is null || d.KeyFile is null) throw new ForwardConfigException("--cert and --key go together");
            try
            {
                using var pem = X509Certificate2.CreateFromPemFile(d.CertFile, d.KeyFile);
                // Re-imported so the private key is usable by the TLS stack on every platform.
                s._client = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                throw new ForwardConfigException($"cannot load client certificate '{d.CertFile}' with key '{d.KeyFile}': {ex.Message}", ex);
            }
        }
        if (s._insecure)
            log?.Invoke($"WARNING: {d.Url}: server certificate verification is DISABLED (--insecure-skip-verify); anyone on the path can read and forge the alerts");
        return s;
    }

    internal SslClientAuthenticationOptions ClientOptions(string host)
    {
        LastValidationError = null;
        var o = new SslClientAuthenticationOptions
        {
            TargetHost = _serverName ?? host,
            RemoteCertificateValidationCallback = Validate,
            EnabledSslProtocols = SslProtocols.None,
        };
        if (_client is not null) o.ClientCertificates = [_client];
        return o;
    }

    private bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (_insecure) return true;
        if (certificate is null)
        {
            LastValidationError = "the server sent no certificate";
            return false;
        }
        if (_roots is null)
        {
            if (errors == SslPolicyErrors.None) return true;
            LastValidationError = $"server certificate rejected: {errors}{ChainText(chain)}";
            return false;
        }
        if ((errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            LastValidationError = $"server certificate does not match the name '{_serverName ?? "(host)"}' (RemoteCertificateNameMismatch)";
            return false;
        }
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_roots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var e in chain.ChainPolicy.ExtraStore) custom.ChainPolicy.ExtraStore.Add(e);
        }
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (custom.Build(leaf)) return true;
        LastValidationError = "server certificate not trusted by the CA file" + ChainText(custom);
        return false;
    }

    private static string ChainText(X509Chain? chain)
    {
        if (chain is null) return "";
        var parts = chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct().ToArray();
        return parts.Length == 0 ? "" : ": " + string.Join("; ", parts);
    }
}
