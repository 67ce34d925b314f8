using System.Text;
using OtSensor.Output;
using OtSensor.Pipeline;

namespace OtSensor.Tests.Pipeline;

/// <summary>Runs the real replay engine in-process and keeps what the tests compare.</summary>
internal sealed class ReplayRun
{
    public required ReplayStats Stats { get; init; }
    public required ReplayReport Report { get; init; }
    public required long InternalErrors { get; init; }
    public required string EventsJsonl { get; init; }
    public required List<(ushort Tid, byte Unit, bool Request, bool Response)> Transactions { get; init; }

    public string SummaryJson(Func<string, string>? pathMapper = null)
    {
        using var ms = new MemoryStream();
        Report.WriteJson(ms, Stats, includeTiming: false, pathMapper);
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}

internal static class ReplayHarness
{
    public static ReplayRun Run(IReadOnlyList<string> files, int workers = 2, Action<DissectorOptions>? configure = null, int batchPackets = 512)
    {
        var report = new ReplayReport();
        var events = new MemoryStream();
        var jsonl = new JsonEventWriter(events);
        var recorder = new TransactionRecorder();
        var dissectors = new DissectorOptions();
        configure?.Invoke(dissectors);
        var engine = new ReplayEngine(new ReplayOptions
        {
            Files = files,
            Workers = workers,
            Dissectors = dissectors,
            BatchPackets = batchPackets,
        }, [report, jsonl, recorder]);
        var stats = engine.RunAsync().GetAwaiter().GetResult();
        report.InternalErrors = engine.InternalErrors;
        jsonl.Dispose();
        if (engine.FirstInternalError is { } e) throw new InvalidOperationException("internal error in the pipeline", e);
        return new ReplayRun
        {
            Stats = stats,
            Report = report,
            InternalErrors = engine.InternalErrors,
            EventsJsonl = Encoding.UTF8.GetString(events.ToArray()),
            Transactions = recorder.Transactions,
        };
    }

    private sealed class TransactionRecorder : IEventConsumer
    {
        public List<(ushort Tid, byte Unit, bool Request, bool Response)> Transactions { get; } = [];

        public void OnPackets(PacketBatch batch) { }

        public void OnEvent(in EventEntry entry, EventBuffer buffer, PacketBatch batch)
        {
            if (entry.Kind != EventKind.Transaction || entry.Transaction.Protocol != ProtocolId.Modbus) return;
            uint key = entry.Transaction.Key;
            Transactions.Add(((ushort)key, (byte)(key >> 16), entry.Transaction.HasRequest, entry.Transaction.HasResponse));
        }

        public void OnComplete(ReplayStats stats) { }
    }
}
