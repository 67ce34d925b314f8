using System.Diagnostics;
using System.Globalization;
using OtSensor.Inventory;
using OtSensor.Output;
using OtSensor.Pipeline;
using OtSensor.Store;

namespace OtSensor.Benchmarks.Tools;

/// <summary>
/// One replay of a capture with a chosen analysis set-up, timed by phase, to tell what the inventory and the store cost:
/// "bare" (summary only), "memory" (inventory without a store), "store" (inventory + SQLite store, a fresh file).
/// Prints one line: set-up (store open + seed), pipeline (until the last batch is analysed), completion (final flush),
/// total, and each stage's busy time.
/// </summary>
public static class ReplayStages
{
    public static int Run(string mode, string capture, string? storePath)
    {
        if (mode is not ("bare" or "memory" or "store") || (mode == "store" && storePath is null))
        {
            Console.Error.WriteLine("usage: replay-stages bare|memory|store CAPTURE [STORE]");
            return 2;
        }
        long t0 = Stopwatch.GetTimestamp();
        var report = new ReplayReport();
        var consumers = new List<IEventConsumer> { report };
        InventoryStore? store = null;
        AssetInventory? inventory = null;
        if (mode == "store")
        {
            foreach (var f in new[] { storePath!, storePath + "-wal", storePath + "-shm" }) File.Delete(f);
            store = InventoryStore.Open(storePath!);
        }
        if (mode != "bare")
        {
            inventory = new AssetInventory(null, store);
            consumers.Add(inventory);
            report.Inventory = inventory;
        }
        var engine = new ReplayEngine(new ReplayOptions { Files = [capture] }, consumers);
        long t1 = Stopwatch.GetTimestamp();
        var stats = engine.RunAsync().GetAwaiter().GetResult();
        long t2 = Stopwatch.GetTimestamp();
        int assets = inventory?.Snapshot().Assets.Count ?? 0;
        long t3 = Stopwatch.GetTimestamp();
        store?.Dispose();
        long t4 = Stopwatch.GetTimestamp();
        double Ms(long a, long b) => Stopwatch.GetElapsedTime(a, b).TotalMilliseconds;
        var ci = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(ci,
            $"{mode,-6} setup {Ms(t0, t1),6:F0} ms  pipeline {stats.Elapsed.TotalMilliseconds,6:F0} ms  complete {Ms(t1, t2) - stats.Elapsed.TotalMilliseconds,6:F0} ms  snapshot {Ms(t2, t3),5:F0} ms  close {Ms(t3, t4),4:F0} ms  total {Ms(t0, t4),6:F0} ms | busy reader {stats.ReaderBusy.TotalMilliseconds:F0} workers {stats.WorkersBusy.TotalMilliseconds:F0} analysis {stats.AnalysisBusy.TotalMilliseconds:F0} ms | packets {stats.Decode.Packets} assets {assets}"));
        return 0;
    }
}
