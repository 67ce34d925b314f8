using OtSensor.Inventory;
using OtSensor.Pipeline;
using OtSensor.Store;

/// <summary>
/// A child-process entry point for the kill test: started as a .NET startup hook (DOTNET_STARTUP_HOOKS) in the real
/// `otsensor` process, it replays a capture into a store over and over, flushing constantly, and records each
/// committed replay in a marker file, until the test kills the process with SIGKILL. Does nothing unless
/// OTSENSOR_TEST_KILL_STORE is set. (A startup hook must be a global-namespace class named StartupHook.)
/// </summary>
internal static class StartupHook
{
    public static void Initialize()
    {
        string? store = Environment.GetEnvironmentVariable("OTSENSOR_TEST_KILL_STORE");
        string? capture = Environment.GetEnvironmentVariable("OTSENSOR_TEST_KILL_CAPTURE");
        string? marker = Environment.GetEnvironmentVariable("OTSENSOR_TEST_KILL_MARKER");
        if (store is null || capture is null || marker is null) return;
        for (int run = 1; ; run++)
        {
            using var s = InventoryStore.Open(store);
            var inv = new AssetInventory(new InventoryOptions { FlushInterval = TimeSpan.Zero }, s);
            var engine = new ReplayEngine(new ReplayOptions { Files = [capture], Workers = 1, BatchPackets = 8 }, [inv]);
            engine.RunAsync().GetAwaiter().GetResult();
            if (inv.StoreError is { } e) throw e;
            File.WriteAllText(marker + ".tmp", run.ToString(System.Globalization.CultureInfo.InvariantCulture));
            File.Move(marker + ".tmp", marker, overwrite: true);
        }
    }
}
