using OtSensor.Detection;

namespace OtSensor.Forwarding;

/// <summary>
/// One message straight to a destination, without the store or a cursor: `otsensor siem-test`, and the sensor's
/// health events, which must reach the SIEM precisely when the store cannot hold them (disk full).
/// </summary>
public static class DirectSend
{
    /// <summary>Connects, sends and flushes; null when the message was handed over, else what went wrong.</summary>
    public static async Task<string?> SendAsync(Destination d, TlsSettings? tls, byte[] message, TimeSpan timeout, Action<string>? log, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(d);
        IMessageTransport transport;
        try
        {
            transport = MessageTransport.Create(d, tls, log);
        }
        catch (ForwardConfigException ex)
        {
            return ex.Message;
        }
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            limit.CancelAfter(timeout);
            await transport.ConnectAsync(limit.Token).ConfigureAwait(false);
            await transport.SendAsync(message, limit.Token).ConfigureAwait(false);
            await transport.FlushAsync(limit.Token).ConfigureAwait(false);
            if (transport is UdpTransport udp)
            {
                await udp.CheckRefusedAsync(TimeSpan.FromMilliseconds(500)).ConfigureAwait(false);
            }
            else if (d.Kind != TransportKind.File)
            {
                await Task.Delay(500, limit.Token).ConfigureAwait(false);
                if (transport.PeerClosed) return "the receiver closed the connection right after the event was sent";
            }
            return null;
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException
            || (ex is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return ex is OperationCanceledException ? "timed out" : ex.Message;
        }
        finally
        {
            await transport.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Signature id of a sensor health event (outside the detection catalog's 5100-5399 and the inventory's 5401-5408).</summary>
    public const int StoreFailureSignature = 5901;
    public const int StoreRecoveredSignature = 5902;

    /// <summary>
    /// A health event about the sensor's own store: not in the store (it may be full), so it carries no externalId;
    /// its evidence has a unique event_id for de-duplication.
    /// </summary>
    public static Alert StoreHealthEvent(bool failed, string storePath, string detail)
    {
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
        return new Alert
        {
            Type = failed ? "sensor_store_failure" : "sensor_store_recovered",
            SignatureId = failed ? StoreFailureSignature : StoreRecoveredSignature,
            Name = failed ? "Sensor store cannot be written" : "Sensor store writable again",
            Severity = failed ? 8 : 3,
            Category = "sensor-health",
            FirstSeenNs = now,
            LastSeenNs = now,
            Proto = "",
            Message = failed
                ? $"OtSensor on {Environment.MachineName} cannot write its store ({detail}); capture goes on, inventory and alerts wait in memory"
                : $"OtSensor on {Environment.MachineName} writes its store again; what waited in memory is written and forwarded",
            Evidence = new() { ["store"] = storePath, ["detail"] = detail, ["event_id"] = Guid.NewGuid().ToString("N") },
        };
    }
}
