using System.Diagnostics;
using OtSensor.Capture;

namespace OtSensor.Pipeline;

public sealed class ReplayOptions : PipelineOptions
{
    public required IReadOnlyList<string> Files { get; init; }
    public ReplayProgress? Progress { get; init; }
}

/// <summary>
/// Offline replay: reader/decoder thread → N dissector workers → one analysis consumer. Lossless (the reader waits
/// for free batches) and deterministic (events are merged in packet order whatever the number of workers).
/// </summary>
public sealed class ReplayEngine
{
    private readonly ReplayOptions _options;
    private readonly PipelineCore _core;

    public ReplayEngine(ReplayOptions options, IReadOnlyList<IEventConsumer> consumers)
    {
        _options = options;
        _core = new PipelineCore(options, consumers);
    }

    /// <summary>Bugs caught at a stage boundary (a dissector that threw): counted, never silent, never a crash.</summary>
    public long InternalErrors => _core.InternalErrors;
    public Exception? FirstInternalError => _core.FirstInternalError;

    public async Task<ReplayStats> RunAsync(CancellationToken cancellationToken = default)
    {
        var sw = Stopwatch.StartNew();
        _core.Start();
        await Task.Factory.StartNew(() => RunReader(cancellationToken), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).ConfigureAwait(false);
        return await _core.CompleteAsync(sw.Elapsed).ConfigureAwait(false);
    }

    private void RunReader(CancellationToken ct)
    {
        var stats = _core.Stats;
        var progress = _options.Progress;
        if (progress is not null) progress.FileCount = _options.Files.Count;
        for (int fi = 0; fi < _options.Files.Count && !ct.IsCancellationRequested; fi++)
        {
            string path = _options.Files[fi];
            var fileStats = new CaptureFileStats { Path = path, FirstPacketNumber = _core.PacketNumber + 1 };
            stats.Files.Add(fileStats);
            CaptureFileReader reader;
            try
            {
                reader = CaptureFileReader.Open(path);
            }
            catch (CaptureFormatException ex)
            {
                fileStats.Error = ex.Message;
                continue;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                fileStats.Error = $"{path}: {ex.Message}";
                continue;
            }
            using (reader)
            {
                fileStats.Format = reader.Format == CaptureFormat.PcapNg ? "pcapng" : "pcap";
                if (progress is not null)
                {
                    progress.FileIndex = fi;
                    progress.StartFile(path, reader.Length);
                }
                bool firstOfFile = true;
                while (!ct.IsCancellationRequested)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    bool more = ReadBatch(reader, fileStats, ref firstOfFile);
                    _core.AddIngestTicks(Stopwatch.GetTimestamp() - t0);
                    if (!more) break;
                    _core.Flush(_core.Clock);
                    progress?.Update(_core.PacketNumber, reader.Position);
                }
                if (reader.Error is { } err) fileStats.Error = $"{err.File}: byte offset {err.Offset}: {err.Message}";
                progress?.Update(_core.PacketNumber, reader.Position);
            }
        }
    }

    /// <summary>Reads packets into the current batch; true when the batch is full (more may follow), false at end of file.</summary>
    private bool ReadBatch(CaptureFileReader reader, CaptureFileStats fileStats, ref bool firstOfFile)
    {
        var core = _core;
        while (!core.BatchFull)
        {
            if (!reader.TryReadPacket(out var pkt)) return false;
            // A file that starts before the previous one ended is another capture, not its continuation.
            if (firstOfFile && core.PacketNumber > 0 && pkt.TimestampNs < core.Clock) core.CloseFlowsBeforeNext(pkt.TimestampNs);
            firstOfFile = false;
            fileStats.Packets++;
            fileStats.Bytes += pkt.Data.Length;
            core.Add(pkt.Data, pkt.OriginalLength, pkt.TimestampNs, pkt.LinkType);
        }
        return true;
    }
}
