using OtSensor.Flows;

namespace OtSensor.Pipeline;

/// <summary>The worker's <see cref="IEventSink"/>: copies each event and its raw messages into the batch's buffer (every field of each entry is written: the buffer does not clear them).</summary>
internal sealed class WorkerSink : IEventSink
{
    private EventBuffer _buffer = new();
    private int _sequence;

    public int PacketIndex { get; set; }

    public void Begin(EventBuffer buffer)
    {
        _buffer = buffer;
        _sequence = 0;
    }

    public void Transaction(FlowContext flow, in TransactionRecord transaction, ReadOnlySpan<byte> request, ReadOnlySpan<byte> response)
    {
        ref var e = ref _buffer.AddUnset();
        e.Kind = EventKind.Transaction;
        e.PacketIndex = PacketIndex;
        e.Sequence = _sequence++;
        FlowEndpoints.Fill(ref e.Flow, flow);
        e.Transaction = transaction;
        e.Anomaly = default;
        e.RequestOffset = _buffer.Store(request);
        e.RequestLength = request.Length;
        e.ResponseOffset = _buffer.Store(response);
        e.ResponseLength = response.Length;
    }

    public void Anomaly(FlowContext flow, in AnomalyRecord anomaly)
    {
        ref var e = ref _buffer.AddUnset();
        e.Kind = EventKind.Anomaly;
        e.PacketIndex = PacketIndex;
        e.Sequence = _sequence++;
        FlowEndpoints.Fill(ref e.Flow, flow);
        e.Transaction = default;
        e.Anomaly = anomaly;
        e.RequestOffset = e.RequestLength = e.ResponseOffset = e.ResponseLength = 0;
    }
}
