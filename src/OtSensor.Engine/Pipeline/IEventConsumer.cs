namespace OtSensor.Pipeline;

/// <summary>
/// The analysis stage: each consumer sees every batch and every event on one thread, in a deterministic order
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

    /// <summary>
    /// True when, until <see cref="OnComplete"/>, the consumer reads no other consumer's state and no other consumer
    /// reads its state: the pipeline may then run it on an analysis thread of its own, where it sees the batches and
    /// events in the same order (the others' order relative to it is then unspecified). Read when the pipeline starts.
    /// </summary>
    bool RunsApart => false;

    /// <summary>
    /// True when <see cref="OnComplete"/> reads no other consumer's state and no other consumer's OnComplete reads its
    /// state: the pipeline may then run it at the same time as the others' (their order relative to it unspecified).
    /// At the end of a replay the store writes of the inventory and of the alerts and baseline then share the two
    /// cores instead of following each other.
    /// </summary>
    bool CompletesApart => false;
}
