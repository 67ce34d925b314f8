using OtSensor.Inventory;

namespace OtSensor.Tests.Inventory;

/// <summary>Modbus function codes and exceptions are counted by slot; what Operations shows must not change.</summary>
public class LinkOperationCountTests
{
    [Fact]
    public void CountSlot_ShowsInOperations_InFirstSeenOrder_WithTheStringCounts()
    {
        var link = new LinkState();
        link.CountSlot(3);
        link.CountOperation("PUBLISH");
        link.CountSlot(LinkState.ExceptionSlot);
        link.CountSlot(3);
        link.CountSlot(16);
        link.CountSlot(3);
        Assert.Equal(["fc3", "PUBLISH", "exception", "fc16"], link.Operations.Keys);
        Assert.Equal(3, link.Operations["fc3"]);
        Assert.Equal(1, link.Operations["exception"]);
        Assert.Equal(1, link.Operations["fc16"]);
        link.CountSlot(3);
        link.CountOperation("fc3");
        Assert.Equal(5, link.Operations["fc3"]);
    }

    [Fact]
    public void CountSlot_RespectsTheOperationBound_LikeCountOperation()
    {
        var link = new LinkState();
        for (int i = 0; i < LinkState.MaxOperations; i++) link.CountOperation("op" + i);
        link.CountSlot(5);
        link.CountSlot(5);
        Assert.Equal(LinkState.MaxOperations, link.Operations.Count);
        Assert.False(link.Operations.ContainsKey("fc5"));
    }

    [Fact]
    public void CountSlot_AddsToACountLoadedFromTheStore()
    {
        var link = new LinkState { Operations = new() { ["fc6"] = 10 } };
        link.CountSlot(6);
        Assert.Equal(11, link.Operations["fc6"]);
        link.Operations = new() { ["fc6"] = 1 };
        link.CountSlot(6);
        Assert.Equal(2, link.Operations["fc6"]);
    }
}
