using OtSensor.Core;

namespace OtSensor.Inventory;

/// <summary>
/// The inventory's asset keys for alerts, answered on another analysis thread than the inventory's, exactly as
/// <see cref="AssetInventory.AssetKeyOf"/> answered on the inventory's thread at the same point of the replay. An
/// endpoint's key depends on two facts about its MAC, both only ever added during a run: the MAC is a router's, and
/// the IP was announced by it in ARP. The inventory records each fact with the point ("stamp") where it learned it
/// and publishes how far it has got; a question about an earlier point is answered from the facts up to it.
/// <para>
/// A stamp is (batch sequence, event index within the batch), the index counting the events the consumers are given
/// for that batch (0: the batch's packets, before its first event). The detection engine asks at the stamp of the
/// packet or event it is handling, and waits (rarely, and only when it writes alerts) until the inventory has got
/// that far: the inventory, before it in the consumers' order, had always handled the same point first when both ran
/// on one thread. One writer (the inventory's thread), any readers; the facts are few (routers, ARP addresses).
/// </para>
/// </summary>
public sealed class AssetNaming
{
    private sealed class MacFacts
    {
        public long RouterStamp = long.MaxValue;
        public readonly List<(IpAddr Ip, long Stamp)> ArpIps = [];
    }

    private readonly Lock _lock = new();
    private readonly Dictionary<MacAddress, MacFacts> _macs = [];
    private long _progress = -1;

    /// <summary>The stamp of event <paramref name="eventIndex"/> (0: the packets) of batch <paramref name="batchSequence"/>.</summary>
    public static long Stamp(long batchSequence, long eventIndex) => (batchSequence << 32) | (eventIndex & 0xFFFF_FFFF);

    /// <summary>Facts known before the run (seeded from the store): older than any stamp.</summary>
    public const long Before = -1;

    /// <summary>The MAC is a router's from <paramref name="stamp"/> on.</summary>
    internal void Router(MacAddress mac, long stamp)
    {
        lock (_lock)
        {
            var f = Facts(mac);
            if (stamp < f.RouterStamp) f.RouterStamp = stamp;
        }
    }

    /// <summary>The MAC announced <paramref name="ip"/> in ARP at <paramref name="stamp"/>.</summary>
    internal void ArpIp(MacAddress mac, IpAddr ip, long stamp)
    {
        lock (_lock) Facts(mac).ArpIps.Add((ip, stamp));
    }

    private MacFacts Facts(MacAddress mac)
    {
        if (!_macs.TryGetValue(mac, out var f)) _macs[mac] = f = new MacFacts();
        return f;
    }

    /// <summary>Every fact up to <paramref name="stamp"/> is recorded (stamps published only grow).</summary>
    internal void Publish(long stamp)
    {
        if (stamp > Volatile.Read(ref _progress)) Volatile.Write(ref _progress, stamp);
    }

    /// <summary>True when the inventory has recorded every fact up to <paramref name="stamp"/>.</summary>
    public bool Reached(long stamp) => Volatile.Read(ref _progress) >= stamp;

    /// <summary>
    /// Waits until <see cref="Reached"/> (the inventory's thread gets there on its own: it waits for nothing else), at
    /// most <paramref name="timeout"/>: false when it did not get there (an inventory that is not in the pipeline, or
    /// a thread stopped by a bug), so that a caller never hangs; it then names from the facts recorded so far.
    /// </summary>
    public bool WaitFor(long stamp, TimeSpan timeout)
    {
        if (Reached(stamp)) return true;
        long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        var spin = new SpinWait();
        while (!Reached(stamp))
        {
            if (System.Diagnostics.Stopwatch.GetTimestamp() > deadline) return false;
            spin.SpinOnce();
        }
        return true;
    }

    /// <summary>The asset key of (<paramref name="mac"/>, <paramref name="ip"/>) at <paramref name="stamp"/>: see <see cref="AssetInventory.AssetKeyOf"/>.</summary>
    public string? Name(MacAddress mac, IpAddr ip, long stamp)
    {
        if (!mac.IsZero && !mac.IsMulticast)
        {
            bool behindRouter;
            lock (_lock)
            {
                behindRouter = _macs.TryGetValue(mac, out var f) && f.RouterStamp <= stamp && !ip.IsZero && !Announced(f, ip, stamp);
            }
            return behindRouter ? "ip:" + ip : "mac:" + mac;
        }
        return ip.IsZero ? null : "ip:" + ip;
    }

    private static bool Announced(MacFacts f, IpAddr ip, long stamp)
    {
        foreach (var (i, s) in f.ArpIps)
        {
            if (s <= stamp && i == ip) return true;
        }
        return false;
    }
}
