using OtSensor.Inventory;
using OtSensor.Pipeline;
using OtSensor.Store;

namespace OtSensor.Tests.Inventory;

/// <summary>Runs the real replay engine with an <see cref="AssetInventory"/> consumer.</summary>
internal static class InventoryHarness
{
    public static AssetInventory Run(IReadOnlyList<string> files, InventoryStore? store = null, InventoryOptions? options = null, int workers = 2)
    {
        var inventory = new AssetInventory(options, store);
        var engine = new ReplayEngine(new ReplayOptions { Files = files, Workers = workers }, [inventory]);
        engine.RunAsync().GetAwaiter().GetResult();
        if (engine.FirstInternalError is { } e) throw new InvalidOperationException("internal error in the pipeline", e);
        if (inventory.StoreError is { } se) throw se;
        return inventory;
    }
}
