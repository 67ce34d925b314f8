using System.Globalization;

namespace OtSensor.Capture.Live;

/// <summary>
/// The kernel's own counters of a network interface (/sys/class/net/IFACE/statistics): the passivity check
/// (TxPackets must not move because of the sensor) and drop reporting beside libpcap's counters.
/// </summary>
public static class InterfaceCounters
{
    internal static string SysClassNet { get; set; } = "/sys/class/net";

    /// <summary>rx_packets, tx_packets and rx_dropped; null when the interface does not exist or the counters cannot be read.</summary>
    public static (long RxPackets, long TxPackets, long RxDropped)? Read(string iface)
    {
        if (string.IsNullOrEmpty(iface) || iface.Length > 64 || iface is "." or ".." || iface.Contains('/', StringComparison.Ordinal) || iface.Contains('\0', StringComparison.Ordinal))
            return null;
        string dir = Path.Combine(SysClassNet, iface, "statistics");
        long? rx = ReadCounter(dir, "rx_packets");
        long? tx = ReadCounter(dir, "tx_packets");
        long? dropped = ReadCounter(dir, "rx_dropped");
        if (rx is null || tx is null || dropped is null)
            return null;
        return (rx.Value, tx.Value, dropped.Value);
    }

    private static long? ReadCounter(string dir, string name)
    {
        try
        {
            string text = File.ReadAllText(Path.Combine(dir, name)).Trim();
            return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
