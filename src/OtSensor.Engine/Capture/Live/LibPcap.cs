using System.Globalization;
using System.Net;
using System.Runtime.InteropServices;

namespace OtSensor.Capture.Live;

/// <summary>The process's libpcap: whether it is installed, its version and its capture devices.</summary>
public static unsafe class LibPcap
{
    private const ushort AfInet = 2;
    private const ushort AfInet6 = 10;
    private const ushort AfPacket = 17;

    private static readonly Lazy<bool> s_available = new(Probe);

    /// <summary>True when libpcap.so.0.8 can be loaded. Never throws.</summary>
    public static bool IsAvailable => s_available.Value;

    /// <summary>pcap_lib_version(), e.g. "libpcap version 1.10.3 (with TPACKET_V3)".</summary>
    /// <exception cref="LiveCaptureException">libpcap is not installed.</exception>
    public static string Version
    {
        get
        {
            EnsureAvailable();
            return PcapNative.Utf8(PcapNative.LibVersion()) ?? "libpcap (unknown version)";
        }
    }

    /// <summary>The devices libpcap can capture on (pcap_findalldevs), in libpcap's order.</summary>
    /// <exception cref="LiveCaptureException">libpcap is not installed, or pcap_findalldevs failed (its errbuf text is in the message).</exception>
    public static IReadOnlyList<CaptureInterface> ListInterfaces()
    {
        EnsureAvailable();
        byte* errbuf = stackalloc byte[PcapNative.ErrbufSize];
        errbuf[0] = 0;
        PcapNative.PcapIf* list = null;
        int rc = PcapNative.FindAllDevs(&list, errbuf);
        if (rc != 0)
            throw new LiveCaptureException(null, "pcap_findalldevs", rc, PcapNative.ErrbufText(new ReadOnlySpan<byte>(errbuf, PcapNative.ErrbufSize)));
        var result = new List<CaptureInterface>();
        try
        {
            for (PcapNative.PcapIf* d = list; d != null; d = d->Next)
            {
                var addresses = new List<string>();
                string? mac = null;
                for (PcapNative.PcapAddr* a = d->Addresses; a != null; a = a->Next)
                {
                    if (a->Addr != null)
                        AddAddress(a->Addr, addresses, ref mac);
                }
                uint f = d->Flags;
                result.Add(new CaptureInterface(PcapNative.Utf8(d->Name) ?? "", PcapNative.Utf8(d->Description), addresses,
                    (f & PcapNative.IfLoopback) != 0, (f & PcapNative.IfUp) != 0, (f & PcapNative.IfRunning) != 0)
                {
                    HardwareAddress = mac,
                    IsWireless = (f & PcapNative.IfWireless) != 0,
                });
            }
        }
        finally
        {
            if (list != null)
                PcapNative.FreeAllDevs(list);
        }
        return result;
    }

    internal static void EnsureAvailable()
    {
        if (!IsAvailable)
        {
            throw new LiveCaptureException(
                $"libpcap is not installed ({PcapNative.Library} cannot be loaded): install the libpcap0.8 package (Debian/Ubuntu) for live capture.");
        }
    }

    private static bool Probe()
    {
        try
        {
            return NativeLibrary.TryLoad(PcapNative.Library, out nint h) && NativeLibrary.TryGetExport(h, "pcap_create", out _);
        }
        catch (Exception ex) when (ex is BadImageFormatException or ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    // Linux sockaddr layouts: the family is the first 16 bits in host order.
    private static void AddAddress(byte* sa, List<string> addresses, ref string? mac)
    {
        ushort family = *(ushort*)sa;
        switch (family)
        {
            case AfInet:
                addresses.Add(new IPAddress(new ReadOnlySpan<byte>(sa + 4, 4)).ToString());
                break;
            case AfInet6:
                addresses.Add(new IPAddress(new ReadOnlySpan<byte>(sa + 8, 16), *(uint*)(sa + 24)).ToString());
                break;
            case AfPacket:
                // sockaddr_ll: family, protocol, ifindex, hatype, pkttype, halen (offset 11), addr[8] (offset 12).
                int len = sa[11];
                if (len == 6 && mac == null)
                {
                    var s = new ReadOnlySpan<byte>(sa + 12, 6);
                    mac = string.Create(CultureInfo.InvariantCulture, $"{s[0]:x2}:{s[1]:x2}:{s[2]:x2}:{s[3]:x2}:{s[4]:x2}:{s[5]:x2}");
                }
                break;
        }
    }
}
