using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace OtSensor.Service;

/// <summary>The Prometheus text exposition format (version 0.0.4) of a status snapshot: otsensor_* with HELP and TYPE.</summary>
public static class PrometheusFormatter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static string Format(ServiceStatusSnapshot s)
    {
        var w = new Writer();
        w.Metric("otsensor_uptime_seconds", "gauge", "Seconds since the service started capturing.", s.UptimeSeconds);
        w.Metric("otsensor_packets_per_second", "gauge", "Packets captured per second over the last stats interval.", s.Pps);
        w.Metric("otsensor_megabits_per_second", "gauge", "Megabits captured per second over the last stats interval.", s.Mbps);
        w.Metric("otsensor_processed_packets_total", "counter", "Packets the analysis stage has finished.", s.ProcessedPackets);
        w.Metric("otsensor_queue_batches", "gauge", "Batches between the decoder and the end of the analysis stage.", s.BatchesInFlight);
        w.Metric("otsensor_assets", "gauge", "Assets in the inventory.", s.Assets);
        w.Metric("otsensor_alerts", "gauge", "Alerts in the store.", s.Alerts);
        w.Metric("otsensor_store_errors_total", "counter", "Store write failures (disk full...); the service keeps capturing and retries.", s.StoreErrors);
        w.Metric("otsensor_retention_pruned_total", "counter", "Alerts pruned by the retention job.", s.RetentionPruned);
        w.Metric("otsensor_internal_errors_total", "counter", "Internal errors of the pipeline stages.", s.InternalErrors);

        w.Header("otsensor_captured_packets_total", "counter", "Packets captured, per interface.");
        foreach (var i in s.Interfaces) w.Sample("otsensor_captured_packets_total", i.Captured, ("interface", i.Name));
        w.Header("otsensor_captured_bytes_total", "counter", "Bytes captured, per interface.");
        foreach (var i in s.Interfaces) w.Sample("otsensor_captured_bytes_total", i.Bytes, ("interface", i.Name));
        w.Header("otsensor_dropped_packets_total", "counter", "Packets dropped, per interface and kind (interface, kernel, application).");
        foreach (var i in s.Interfaces)
        {
            w.Sample("otsensor_dropped_packets_total", i.InterfaceDropped, ("interface", i.Name), ("kind", "interface"));
            w.Sample("otsensor_dropped_packets_total", i.KernelDropped, ("interface", i.Name), ("kind", "kernel"));
            w.Sample("otsensor_dropped_packets_total", i.ApplicationDropped, ("interface", i.Name), ("kind", "application"));
        }
        w.Header("otsensor_queue_bytes", "gauge", "Bytes waiting in the capture ring, per interface.");
        foreach (var i in s.Interfaces) w.Sample("otsensor_queue_bytes", i.QueueBytes, ("interface", i.Name));
        w.Header("otsensor_interface_up", "gauge", "1 while the interface captures, 0 after a capture error.");
        foreach (var i in s.Interfaces) w.Sample("otsensor_interface_up", i.Error is null ? 1 : 0, ("interface", i.Name));

        w.Header("otsensor_forward_backlog", "gauge", "Alerts not yet delivered, per destination.");
        foreach (var d in s.Destinations) w.Sample("otsensor_forward_backlog", d.Backlog, ("destination", d.Name));
        w.Header("otsensor_forward_inventory_backlog", "gauge", "Inventory changes not yet delivered, per destination.");
        foreach (var d in s.Destinations) w.Sample("otsensor_forward_inventory_backlog", d.InventoryBacklog, ("destination", d.Name));
        w.Header("otsensor_forward_sent_total", "counter", "Alerts delivered, per destination.");
        foreach (var d in s.Destinations) w.Sample("otsensor_forward_sent_total", d.Sent, ("destination", d.Name));
        w.Header("otsensor_forward_failures_total", "counter", "Connection or send failures, per destination.");
        foreach (var d in s.Destinations) w.Sample("otsensor_forward_failures_total", d.Failures, ("destination", d.Name));
        return w.ToString();
    }

    /// <summary>A label value: backslash, double quote and line feed escaped.</summary>
    public static string EscapeLabel(string v) => v.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private sealed class Writer
    {
        private readonly StringBuilder _sb = new();

        public void Metric(string name, string type, string help, double value)
        {
            Header(name, type, help);
            Sample(name, value);
        }

        public void Header(string name, string type, string help)
        {
            _sb.Append("# HELP ").Append(name).Append(' ').Append(help.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal)).Append('\n');
            _sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
        }

        public void Sample(string name, double value, params (string Key, string Value)[] labels)
        {
            _sb.Append(name);
            if (labels.Length > 0)
            {
                _sb.Append('{');
                for (int i = 0; i < labels.Length; i++)
                {
                    if (i > 0) _sb.Append(',');
                    _sb.Append(labels[i].Key).Append("=\"").Append(EscapeLabel(labels[i].Value)).Append('"');
                }
                _sb.Append('}');
            }
            _sb.Append(' ').Append(FormatValue(value)).Append('\n');
        }

        private static string FormatValue(double v)
            => double.IsNaN(v) ? "NaN" : double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf"
                : v == Math.Floor(v) && Math.Abs(v) < 1e15 ? ((long)v).ToString(CultureInfo.InvariantCulture) : v.ToString("R", CultureInfo.InvariantCulture);

        public override string ToString() => _sb.ToString();
    }
}

/// <summary>
/// A tiny HTTP/1.1 responder for <c>GET /metrics</c>, bound to 127.0.0.1 only (never all interfaces: the sensor
/// is passive on its capture ports and exposes nothing on the network). One request per connection.
/// </summary>
public sealed class MetricsServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly Func<ServiceStatusSnapshot> _snapshot;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private MetricsServer(TcpListener listener, Func<ServiceStatusSnapshot> snapshot)
    {
        _listener = listener;
        _snapshot = snapshot;
        _loop = Task.Run(LoopAsync);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Listens on 127.0.0.1:<paramref name="port"/> (0: any free port).</summary>
    /// <exception cref="IOException">The port is taken (with the port in the message).</exception>
    public static MetricsServer Start(int port, Func<ServiceStatusSnapshot> snapshot)
    {
        var l = new TcpListener(IPAddress.Loopback, port);
        try
        {
            l.Start(16);
        }
        catch (SocketException ex)
        {
            l.Dispose();
            throw new IOException($"cannot listen for metrics on 127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}: {ex.Message}", ex);
        }
        return new MetricsServer(l, snapshot);
    }

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient c;
            try
            {
                c = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stop.IsCancellationRequested) return;
                continue;
            }
            _ = Task.Run(() => ServeAsync(c));
        }
    }

    private async Task ServeAsync(TcpClient c)
    {
        using (c)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                var stream = c.GetStream();
                var buf = new byte[8192];
                int len = 0;
                while (len < buf.Length)
                {
                    int n = await stream.ReadAsync(buf.AsMemory(len), timeout.Token).ConfigureAwait(false);
                    if (n == 0) break;
                    len += n;
                    if (buf.AsSpan(0, len).IndexOf("\r\n\r\n"u8) >= 0) break;
                }
                string head = Encoding.ASCII.GetString(buf, 0, len);
                int eol = head.IndexOf('\r', StringComparison.Ordinal);
                var parts = (eol >= 0 ? head[..eol] : head).Split(' ');
                string status;
                string body;
                string type = "text/plain; charset=utf-8";
                if (parts.Length < 3 || !parts[2].StartsWith("HTTP/", StringComparison.Ordinal))
                {
                    status = "400 Bad Request";
                    body = "bad request\n";
                }
                else if (parts[0] is not ("GET" or "HEAD"))
                {
                    status = "405 Method Not Allowed";
                    body = "only GET\n";
                }
                else if (parts[1] is "/metrics" or "/metrics/")
                {
                    status = "200 OK";
                    body = PrometheusFormatter.Format(_snapshot());
                    type = PrometheusFormatter.ContentType;
                }
                else
                {
                    status = "404 Not Found";
                    body = "see /metrics\n";
                }
                var bodyBytes = Encoding.UTF8.GetBytes(body);
                var header = Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Type: {type}\r\nContent-Length: {bodyBytes.Length.ToString(CultureInfo.InvariantCulture)}\r\nConnection: close\r\n\r\n");
                await stream.WriteAsync(header, timeout.Token).ConfigureAwait(false);
                if (parts[0] != "HEAD") await stream.WriteAsync(bodyBytes, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _listener.Dispose();
        _stop.Dispose();
    }
}
