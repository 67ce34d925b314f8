namespace OtSensor.Pipeline;

/// <summary>
/// The analysis stage: one consumer thread sees every batch and every event in a deterministic order
/// (packet order, whatever the number of workers). Implementations need no locks.
/// </summary>
public interface IEventConsumer
{
    /// <summary>A batch of packets, before its events (per-packet facts such as addresses and ARP).</summary>
    void OnPackets(PacketBatch batch);

    /// <summary>One event; <paramref name="buffer"/> holds the raw messages it references.</summary>
    void OnEvent(in EventEntry entry, EventBuffer buffer, PacketBatch batch);

    /// <summary>The replay is over; <paramref name="stats"/> holds the final counters.</summary>
    void OnComplete(ReplayStats stats);
}
