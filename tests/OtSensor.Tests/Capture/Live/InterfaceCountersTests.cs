using OtSensor.Capture.Live;

namespace OtSensor.Tests.Capture.Live;

public class InterfaceCountersTests
{
    [Fact]
    public void Read_Loopback_ReturnsTheKernelCountersAndTheyMoveWithTraffic()
    {
        var before = InterfaceCounters.Read("lo");
        Assert.NotNull(before);
        Assert.True(before.Value.RxPackets >= 0 && before.Value.TxPackets >= 0 && before.Value.RxDropped >= 0);
        using (var udp = new LoopbackUdp())
        {
            for (int i = 0; i < 5; i++) udp.Send([1, 2, 3]);
        }
        var after = InterfaceCounters.Read("lo");
        Assert.NotNull(after);
        Assert.True(after.Value.RxPackets >= before.Value.RxPackets + 5);
        Assert.True(after.Value.TxPackets >= before.Value.TxPackets + 5);
    }

    [Theory]
    [InlineData("otsnope9")]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("../lo")]
    [InlineData("lo/../lo")]
    public void Read_UnknownOrUnsafeName_ReturnsNull(string iface) => Assert.Null(InterfaceCounters.Read(iface));
}
