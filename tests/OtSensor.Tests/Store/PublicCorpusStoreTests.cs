using System.Globalization;
using System.Text;
using OtSensor.Store;
using OtSensor.Tests.Differential;
using OtSensor.Tests.Inventory;

namespace OtSensor.Tests.Store;

public class PublicCorpusStoreTests
{
    [Fact]
    public void EveryPublicCapture_ReplaysIntoAStore_WithStableAssetCounts()
    {
        if (!Directory.Exists(TestPaths.SharedPublicDir)) return;
        var files = OtSensor.Pipeline.CaptureFiles.Expand([TestPaths.SharedPublicDir]).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(files);
        using var dir = new TempDir();
        var sb = new StringBuilder();
        int i = 0;
        foreach (var f in files)
        {
            string db = dir.File($"s{i++}.db");
            using var s = InventoryStore.Open(db);
            var inv = InventoryHarness.Run([f], s);
            int assets = s.ReadAssets().Count;
            int links = s.ReadLinks().Count;
            Assert.Equal(inv.Snapshot().Assets.Count, assets);
            sb.Append(CultureInfo.InvariantCulture, $"{Path.GetRelativePath(TestPaths.SharedPublicDir, f).Replace('\\', '/')}\tassets={assets}\tlinks={links}\n");
        }
        InventoryGoldenTests.AssertGolden("public_corpus_counts.tsv", sb.ToString().TrimEnd('\n'));
    }
}
