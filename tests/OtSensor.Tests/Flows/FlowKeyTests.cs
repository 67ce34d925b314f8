using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;

namespace OtSensor.Tests.Flows;

public class FlowKeyTests
{
    private static readonly IpAddr A = IpAddr.Parse("192.168.0.10");
    private static readonly IpAddr B = IpAddr.Parse("192.168.0.20");

    [Fact]
    public void FlowKey_IsTheSameForBothDirections()
    {
        var ab = FlowKey.From(FlowHarness.Tcp(A, 50000, B, 502, 0, 0, TcpFlags.Syn, 0), out bool abSourceIsA);
        var ba = FlowKey.From(FlowHarness.Tcp(B, 502, A, 50000, 0, 0, TcpFlags.Ack, 0), out bool baSourceIsA);
        Assert.Equal(ab, ba);
        Assert.Equal(ab.SymmetricHash, ba.SymmetricHash);
        Assert.NotEqual(abSourceIsA, baSourceIsA);
    }

    [Fact]
    public void FlowKey_DiffersByVlanPortAndTransport()
    {
        var p = FlowHarness.Tcp(A, 50000, B, 502, 0, 0, TcpFlags.Syn, 0);
        var key = FlowKey.From(p);
        var vlan = p;
        vlan.Vlan = 10;
        var inner = p;
        inner.InnerVlan = 10;
        var port = p;
        port.SrcPort = 50001;
        var udp = p;
        udp.Transport = TransportLayer.Udp;
        Assert.NotEqual(key, FlowKey.From(vlan));
        Assert.NotEqual(key, FlowKey.From(inner));
        Assert.NotEqual(key, FlowKey.From(port));
        Assert.NotEqual(key, FlowKey.From(udp));
    }

    [Fact]
    public void FlowKey_SameAddressDifferentPorts_IsSymmetric()
    {
        var ab = FlowKey.From(FlowHarness.Tcp(A, 1000, A, 2000, 0, 0, TcpFlags.Syn, 0));
        var ba = FlowKey.From(FlowHarness.Tcp(A, 2000, A, 1000, 0, 0, TcpFlags.Syn, 0));
        Assert.Equal(ab, ba);
    }

    [Fact]
    public void SymmetricHash_SpreadsSequentialPortsEvenlyOverWorkers()
    {
        var buckets = new int[4];
        var lowBits = new int[256];
        for (ushort port = 40000; port < 44000; port++)
        {
            uint h = FlowKey.From(FlowHarness.Tcp(A, port, B, 502, 0, 0, TcpFlags.Syn, 0)).SymmetricHash;
            buckets[h % 4]++;
            lowBits[h & 0xFF]++;
        }
        foreach (int n in buckets)
        {
            Assert.InRange(n, 850, 1150);
        }
        Assert.True(lowBits.Count(n => n > 0) > 240);
    }

    [Fact]
    public void DispatcherClassification_GivesTheKeyAndHashOfFrom()
    {
        // The dispatcher keeps only HashOf's hash and direction; the worker rebuilds the key with FromClassified. Both
        // must agree with From on every packet (the flow table compares the hash first), IPv4 and IPv6, equal
        // addresses, both directions.
        var rng = new Random(11);
        IpAddr[] addresses = [A, B, IpAddr.Parse("2001:db8::1"), IpAddr.Parse("2001:db8::2"), IpAddr.Parse("::ffff:192.168.0.10"), IpAddr.Parse("10.0.0.1")];
        var workers = new int[2];
        for (int i = 0; i < 20_000; i++)
        {
            var p = FlowHarness.Tcp(addresses[rng.Next(addresses.Length)], (ushort)rng.Next(65536), addresses[rng.Next(addresses.Length)], (ushort)rng.Next(4), 0, 0, TcpFlags.Ack, 0);
            if (i % 3 == 0) p.Transport = TransportLayer.Udp;
            if (i % 5 == 0) p.Vlan = (ushort)rng.Next(4096);
            if (i % 7 == 0) p.InnerVlan = (ushort)rng.Next(4096);
            var expected = FlowKey.From(p, out bool expectedSourceIsA);
            uint hash = FlowKey.HashOf(p, out bool sourceIsA);
            Assert.Equal(expectedSourceIsA, sourceIsA);
            Assert.Equal(expected.SymmetricHash, hash);
            var rebuilt = FlowKey.FromClassified(p, sourceIsA, hash);
            Assert.Equal(expected, rebuilt);
            Assert.Equal(expected.AddressA, rebuilt.AddressA);
            Assert.Equal(expected.PortA, rebuilt.PortA);
            workers[(int)(((ulong)hash * 2) >> 32)]++;
        }
        // The worker is taken from the hash's high bits: an even split.
        Assert.InRange(workers[0], 9_300, 10_700);
    }

    [Theory]
    [InlineData(502, true)]
    [InlineData(802, true)]
    [InlineData(1883, true)]
    [InlineData(5683, true)]
    [InlineData(20000, true)]
    [InlineData(34963, true)]
    [InlineData(44818, true)]
    [InlineData(47808, true)]
    [InlineData(80, true)]
    [InlineData(8080, true)]
    [InlineData(0, false)]
    [InlineData(1024, false)]
    [InlineData(49152, false)]
    [InlineData(65535, false)]
    public void WellKnownPorts_KnowsIcsAndServicePorts(int port, bool expected)
        => Assert.Equal(expected, WellKnownPorts.IsServerPort((ushort)port));
}
