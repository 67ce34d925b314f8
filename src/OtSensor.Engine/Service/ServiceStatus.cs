using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace OtSensor.Service;

/// <summary>One capture interface in a status snapshot.</summary>
public sealed record InterfaceStatusSnapshot
{
    public string Name { get; init; } = "";
    public long Captured { get; init; }
    public long Bytes { get; init; }
    public long KernelReceived { get; init; }
    public long KernelDropped { get; init; }
    public long InterfaceDropped { get; init; }
    public long ApplicationDropped { get; init; }
    public long QueueBytes { get; init; }
    public long QueueCapacity { get; init; }
    public long Reopens { get; init; }
    public string? Error { get; init; }
}

/// <summary>One forwarding destination in a status snapshot.</summary>
public sealed record DestinationStatusSnapshot
{
    public string Name { get; init; } = "";
    public string Url { get; init; } = "";
    public long Cursor { get; init; }
    /// <summary>Alerts in the store after the cursor (not yet delivered).</summary>
    public long Backlog { get; init; }
    /// <summary>Inventory changes in the store after the destination's inventory cursor.</summary>
    public long InventoryBacklog { get; init; }
    public long Sent { get; init; }
    public long Failures { get; init; }
    public string? LastError { get; init; }
}

/// <summary>The running service's counters, as <c>otsensor status</c> and the metrics endpoint show them.</summary>
public sealed record ServiceStatusSnapshot
{
    public string Version { get; init; } = "";
    public int Pid { get; init; }
    public string Config { get; init; } = "";
    public string Store { get; init; } = "";
    public double UptimeSeconds { get; init; }
    /// <summary>Packets per second and megabits per second over the last stats interval.</summary>
    public double Pps { get; init; }
    public double Mbps { get; init; }
    public long Packets { get; init; }
    public long Bytes { get; init; }
    public long ProcessedPackets { get; init; }
    public long KernelDropped { get; init; }
    public long InterfaceDropped { get; init; }
    public long ApplicationDropped { get; init; }
    public long QueueBytes { get; init; }
    public int BatchesInFlight { get; init; }
    public long Assets { get; init; }
    public long Alerts { get; init; }
    public long StoreErrors { get; init; }
    public string? LastStoreError { get; init; }
    public long RetentionPruned { get; init; }
    public long InternalErrors { get; init; }
    public List<InterfaceStatusSnapshot> Interfaces { get; init; } = [];
    public List<DestinationStatusSnapshot> Destinations { get; init; } = [];

    public string ToJson() => JsonSerializer.Serialize(this, ServiceStatusJsonContext.Default.ServiceStatusSnapshot);

    public static ServiceStatusSnapshot FromJson(string json)
        => JsonSerializer.Deserialize(json, ServiceStatusJsonContext.Default.ServiceStatusSnapshot) ?? throw new JsonException("empty status");

    /// <summary>The human-readable form of <c>otsensor status</c>.</summary>
    public string ToText()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine(string.Create(ci, $"otsensor {Version} running (pid {Pid}), up {FormatUptime(UptimeSeconds)}"));
        sb.AppendLine($"  config  {Config}");
        sb.AppendLine($"  store   {Store}");
        sb.AppendLine(string.Create(ci, $"  traffic {Pps:N0} pps, {Mbps:N2} Mbit/s; {Packets:N0} packets captured, {ProcessedPackets:N0} analysed"));
        sb.AppendLine(string.Create(ci, $"  drops   interface {InterfaceDropped:N0}, kernel {KernelDropped:N0}, application {ApplicationDropped:N0}"));
        sb.AppendLine(string.Create(ci, $"  queue   {QueueBytes:N0} bytes, {BatchesInFlight} batch(es) in flight"));
        sb.AppendLine(string.Create(ci, $"  assets  {Assets:N0}; alerts {Alerts:N0}"));
        sb.AppendLine(string.Create(ci, $"  store errors {StoreErrors:N0}{(LastStoreError is null ? "" : " (last: " + LastStoreError + ")")}; retention pruned {RetentionPruned:N0}"));
        foreach (var i in Interfaces)
        {
            sb.AppendLine(string.Create(ci, $"  interface {i.Name}: {i.Captured:N0} packets, drops interface {i.InterfaceDropped:N0} / kernel {i.KernelDropped:N0} / application {i.ApplicationDropped:N0}, queue {i.QueueBytes:N0}/{i.QueueCapacity:N0} bytes, reopens {i.Reopens}{(i.Error is null ? "" : ", error: " + i.Error)}"));
        }
        foreach (var d in Destinations)
        {
            sb.AppendLine(string.Create(ci, $"  forward {d.Url}: backlog {d.Backlog:N0} alert(s), {d.InventoryBacklog:N0} inventory change(s); sent {d.Sent:N0}, failures {d.Failures:N0}{(d.LastError is null ? "" : ", last error: " + d.LastError)}"));
        }
        return sb.ToString();
    }

    private static string FormatUptime(double s)
    {
        var t = TimeSpan.FromSeconds(s);
        return t.TotalDays >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)t.TotalDays}d {t:hh\\:mm\\:ss}") : t.ToString(@"hh\:mm\:ss", CultureInfo.InvariantCulture);
    }
}

/// <summary>Compile-time JSON metadata for <c>status --json</c> and the status socket (no reflection).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.Never, WriteIndented = true)]
[JsonSerializable(typeof(ServiceStatusSnapshot))]
internal sealed partial class ServiceStatusJsonContext : JsonSerializerContext;

/// <summary>
/// The service side of <c>otsensor status</c>: a Unix domain socket; each connection gets the current snapshot as
/// JSON and is closed. Owner-only permissions (the socket shows traffic counters, nothing else).
/// </summary>
public sealed class StatusSocketServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<ServiceStatusSnapshot> _snapshot;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public string Path { get; }

    private StatusSocketServer(string path, Socket listener, Func<ServiceStatusSnapshot> snapshot)
    {
        Path = path;
        _listener = listener;
        _snapshot = snapshot;
        _loop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Listens on <paramref name="path"/> (a stale socket file from an earlier run is replaced).</summary>
    /// <exception cref="IOException">The socket cannot be created (with the path in the message).</exception>
    public static StatusSocketServer Start(string path, Func<ServiceStatusSnapshot> snapshot)
    {
        try
        {
            if (System.IO.Path.GetDirectoryName(path) is { Length: > 0 } dir) Directory.CreateDirectory(dir);
            if (File.Exists(path))
            {
                // Someone accepting connections there is a live service, however slow it is to answer (a loaded
                // machine): only a file nobody listens on (connection refused) is stale and replaced.
                if (IsListening(path)) throw new IOException($"another otsensor service already answers on '{path}'");
                File.Delete(path);
            }
            var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                s.Bind(new UnixDomainSocketEndPoint(path));
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
                s.Listen(16);
            }
            catch
            {
                s.Dispose();
                throw;
            }
            return new StatusSocketServer(path, s, snapshot);
        }
        catch (Exception ex) when (ex is SocketException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot listen on the status socket '{path}': {ex.Message}", ex);
        }
    }

    private static bool IsListening(string path)
    {
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stop.IsCancellationRequested) return;
                continue;
            }
            _ = Task.Run(async () =>
            {
                using (client)
                {
                    try
                    {
                        var bytes = Encoding.UTF8.GetBytes(_snapshot().ToJson());
                        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                        await client.SendAsync(bytes, SocketFlags.None, timeout.Token).ConfigureAwait(false);
                        client.Shutdown(SocketShutdown.Both);
                    }
                    catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
                    {
                    }
                }
            });
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        try
        {
            File.Delete(Path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
        _stop.Dispose();
    }
}

/// <summary>The client side of <c>otsensor status</c>.</summary>
public static class StatusSocketClient
{
    /// <summary>False (with the reason) when nothing answers on <paramref name="path"/> or the answer is not a status.</summary>
    public static bool TryQuery(string path, TimeSpan timeout, out ServiceStatusSnapshot? status, out string error)
    {
        status = null;
        error = "";
        if (!File.Exists(path))
        {
            error = $"no status socket at '{path}' (is the service running? see 'systemctl status otsensor')";
            return false;
        }
        try
        {
            using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            s.ReceiveTimeout = (int)timeout.TotalMilliseconds;
            s.SendTimeout = (int)timeout.TotalMilliseconds;
            var connect = s.ConnectAsync(new UnixDomainSocketEndPoint(path));
            if (!connect.Wait(timeout)) throw new TimeoutException("timed out connecting");
            using var ms = new MemoryStream();
            var buf = new byte[16384];
            while (true)
            {
                int n = s.Receive(buf);
                if (n == 0) break;
                ms.Write(buf, 0, n);
                if (ms.Length > 4 << 20) throw new IOException("answer too large");
            }
            status = ServiceStatusSnapshot.FromJson(Encoding.UTF8.GetString(ms.ToArray()));
            return true;
        }
        catch (Exception ex) when (ex is SocketException or IOException or TimeoutException or JsonException or AggregateException or UnauthorizedAccessException)
        {
            var inner = ex is AggregateException { InnerException: { } ie } ? ie : ex;
            error = $"no otsensor service answers on '{path}': {inner.Message}";
            return false;
        }
    }
}
