using OtSensor.Core;

namespace OtSensor.Output;

/// <summary>
/// Address sets in address order for the summary, without LINQ: the summary sorts one small set for each of thousands
/// of devices, servers and clients, where LINQ's generic sorters over <see cref="IpAddr"/> are compiled when the summary
/// starts and run unoptimised.
/// </summary>
internal static class AddressOrder
{
    public static IpAddr[] Sorted(HashSet<IpAddr> set)
    {
        var a = new IpAddr[set.Count];
        set.CopyTo(a);
        if (a.Length > 1) Array.Sort(a);
        return a;
    }
}
