using OtSensor.Pipeline;

namespace OtSensor.Tests.Pipeline.Live;

public class PacketRingTests
{
    private static byte[] Packet(int length, int seed)
    {
        var b = new byte[length];
        for (int i = 0; i < length; i++) b[i] = (byte)(seed + i * 7);
        return b;
    }

    [Fact]
    public void Packets_ComeOutInOrder_WithTheirLengthsAndTimestamps()
    {
        var ring = new PacketRing(4096);
        Assert.True(ring.TryWrite(Packet(60, 1), 60, 1000));
        Assert.True(ring.TryWrite(Packet(13, 2), 1500, 2000));
        Assert.True(ring.TryPeek(out var d, out int orig, out long ts));
        Assert.Equal(Packet(60, 1), d.ToArray());
        Assert.Equal(60, orig);
        Assert.Equal(1000, ts);
        ring.Release();
        Assert.True(ring.TryPeek(out d, out orig, out ts));
        Assert.Equal(Packet(13, 2), d.ToArray());
        Assert.Equal(1500, orig);
        Assert.Equal(2000, ts);
        ring.Release();
        Assert.False(ring.TryPeek(out _, out _, out _));
        Assert.Equal(0, ring.UsedBytes);
    }

    [Fact]
    public void Write_IsRefused_WhenTheRingIsFull_AndAcceptedAgainOnceTheConsumerReleases()
    {
        var ring = new PacketRing(4096);
        int written = 0;
        while (ring.TryWrite(Packet(100, written), 100, written)) written++;
        Assert.Equal(4096 / (16 + 104), written);
        Assert.True(ring.TryPeek(out _, out _, out _));
        ring.Release();
        Assert.True(ring.TryWrite(Packet(100, 99), 100, 99));
    }

    [Fact]
    public void Write_IsRefused_ForAPacketLargerThanAQuarterOfTheRing()
    {
        var ring = new PacketRing(4096);
        Assert.False(ring.TryWrite(new byte[ring.MaxPacketBytes + 1], 5000, 1));
        Assert.True(ring.TryWrite(new byte[ring.MaxPacketBytes], 5000, 1));
    }

    [Fact]
    public void Wrapping_KeepsEveryPacketIntact_WhateverTheSizes()
    {
        var ring = new PacketRing(4096);
        var rnd = new Random(7);
        var expected = new Queue<(byte[] Data, long Ts)>();
        long next = 0;
        for (int round = 0; round < 20_000; round++)
        {
            if (rnd.Next(3) != 0)
            {
                var p = Packet(rnd.Next(0, ring.MaxPacketBytes + 1), round);
                if (ring.TryWrite(p, p.Length, next)) expected.Enqueue((p, next++));
            }
            else if (ring.TryPeek(out var d, out int orig, out long ts))
            {
                var (data, ets) = expected.Dequeue();
                Assert.Equal(ets, ts);
                Assert.Equal(data.Length, orig);
                Assert.True(d.SequenceEqual(data));
                ring.Release();
            }
        }
        Assert.True(next > 5000);
    }

    [Fact]
    public void ProducerAndConsumerThreads_LoseNothingTheRingAccepted()
    {
        var ring = new PacketRing(1 << 16);
        const int Count = 200_000;
        long accepted = 0, refused = 0;
        var producer = new Thread(() =>
        {
            var buf = new byte[256];
            for (int i = 0; i < Count; i++)
            {
                int len = 8 + i % 200;
                BitConverter.TryWriteBytes(buf, i);
                buf[len - 1] = (byte)i;
                if (ring.TryWrite(buf.AsSpan(0, len), len, i)) accepted++;
                else refused++;
            }
        });
        producer.Start();
        long received = 0;
        long last = -1;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while ((producer.IsAlive || ring.UsedBytes > 0) && DateTime.UtcNow < deadline)
        {
            while (ring.TryPeek(out var d, out int orig, out long ts))
            {
                int seq = BitConverter.ToInt32(d);
                Assert.Equal(ts, seq);
                Assert.True(seq > last);
                Assert.Equal(8 + seq % 200, d.Length);
                Assert.Equal(d.Length, orig);
                Assert.Equal((byte)seq, d[^1]);
                last = seq;
                received++;
                ring.Release();
            }
        }
        producer.Join();
        while (ring.TryPeek(out _, out _, out _)) { received++; ring.Release(); }
        Assert.Equal(Count, accepted + refused);
        Assert.Equal(accepted, received);
    }
}
