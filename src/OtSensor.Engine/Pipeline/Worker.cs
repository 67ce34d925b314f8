using OtSensor.Flows;

namespace OtSensor.Pipeline;

/// <summary>
/// One dissector worker: owns a flow table (so a flow's state is never shared) and processes the packets of each
/// batch that hash to it.
/// </summary>
internal sealed class Worker
{
    private readonly int _index;
    private readonly WorkerSink _sink = new();
    private readonly FlowTable _flows;

    public Worker(int index, FlowTableOptions flowOptions, DissectorOptions dissectorOptions)
    {
        _index = index;
        _flows = new FlowTable(flowOptions, new DissectorRegistry(dissectorOptions, _sink));
    }

    public FlowTableStats Stats => _flows.Stats;

    public void Process(PacketBatch batch)
    {
        _sink.Begin(batch.Outputs[_index]);
        if (batch.CloseFlowsFirst)
        {
            _sink.PacketIndex = -1;
            _flows.CloseAll(batch.CloseFlowsAtNs);
        }
        var slots = batch.Slots;
        var decoded = batch.Decoded;
        byte me = (byte)_index;
        for (int i = 0; i < batch.Count; i++)
        {
            ref readonly var slot = ref slots[i];
            if (slot.Worker != me) continue;
            _sink.PacketIndex = i;
            var key = FlowKey.FromClassified(in decoded[i], slot.SourceIsA, slot.FlowHash);
            _flows.Process(in decoded[i], in key, slot.SourceIsA, batch.Data.AsSpan(slot.Offset, slot.Length), new PacketMeta(slot.TimestampNs, slot.PacketNumber));
        }
        _sink.PacketIndex = EventEntry.EndOfBatch;
        _flows.Advance(batch.ClockNs);
        if (batch.IsFinal) _flows.CloseAll(batch.ClockNs);
    }
}
