using OtSensor.Flows;

namespace OtSensor.Benchmarks.Protocols;

/// <summary>An event sink that only counts: the benchmarks measure the dissectors, not the pipeline's copies.</summary>
internal sealed class CountingSink : IEventSink
{
    public long Transactions;
    public long Anomalies;

    public void Transaction(FlowContext flow, in OtSensor.TransactionRecord transaction, ReadOnlySpan<byte> request, ReadOnlySpan<byte> response) => Transactions++;

    public void Anomaly(FlowContext flow, in OtSensor.AnomalyRecord anomaly) => Anomalies++;
}
