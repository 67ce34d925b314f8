using System.Numerics;
using OtSensor.Core;

namespace OtSensor.Tests.Output;

public class ThreadBufferCacheTests
{
    [Theory]
    [InlineData(0, 16)]
    [InlineData(1, 16)]
    [InlineData(16, 16)]
    [InlineData(17, 32)]
    [InlineData(260, 512)]
    [InlineData(65536, 65536)]
    [InlineData(65537, 131072)]
    public void Rent_GivesAPowerOfTwoArrayOfAtLeastTheLength(int length, int expected)
    {
        var a = ThreadBufferCache.Rent(length);
        Assert.Equal(expected, a.Length);
        Assert.True(BitOperations.IsPow2(a.Length));
        ThreadBufferCache.Return(a);
    }

    [Fact]
    public void ReturnedArrays_AreRentedAgainOnTheSameThread_LastInFirstOut()
    {
        // On a thread of its own, so that no other test's arrays are in its cache.
        OnOwnThread(() =>
        {
            var held = Enumerable.Range(0, 10).Select(_ => ThreadBufferCache.Rent(1000)).ToList();
            Assert.Equal(10, held.Distinct().Count());
            foreach (var a in held) ThreadBufferCache.Return(a);
            for (int i = held.Count - 1; i >= 0; i--) Assert.Same(held[i], ThreadBufferCache.Rent(600));
        });
    }

    [Fact]
    public void TheCacheIsBounded_AndTakesForeignOrOddArrays()
    {
        OnOwnThread(() =>
        {
            // 64 KiB arrays: at most 4 are kept, the rest go back to the shared pool.
            var big = Enumerable.Range(0, 20).Select(_ => ThreadBufferCache.Rent(65536)).ToList();
            foreach (var a in big) ThreadBufferCache.Return(a);
            var again = Enumerable.Range(0, 20).Select(_ => ThreadBufferCache.Rent(65536)).ToList();
            Assert.True(again.Count(a => big.Contains(a)) >= 4);
            foreach (var a in again) ThreadBufferCache.Return(a);
            // Not a power of two, or too large for the cache: handed to the shared pool, which keeps or drops them.
            ThreadBufferCache.Return(new byte[1 << 20]);
            ThreadBufferCache.Return(System.Buffers.ArrayPool<byte>.Shared.Rent(3000));
            Assert.Equal(4096, ThreadBufferCache.Rent(3000).Length);
        });
    }

    /// <summary>Runs <paramref name="body"/> on a new thread (an empty cache) and rethrows what it threw.</summary>
    private static void OnOwnThread(Action body)
    {
        Exception? failure = null;
        var t = new Thread(() =>
        {
            try { body(); }
            catch (Exception e) { failure = e; }
        });
        t.Start();
        t.Join();
        if (failure is not null) throw new Xunit.Sdk.XunitException(failure.ToString());
    }
}
