using System.Reflection;
using System.Runtime.InteropServices;
using OtSensor.Capture.Live;

namespace OtSensor.Tests.Capture.Live;

/// <summary>The sensor is passive by construction: no native function that can put a frame on the wire is bound.</summary>
public class PassivityTests
{
    private static readonly string[] Forbidden = ["inject", "sendpacket", "sendqueue", "send", "sendto", "sendmsg", "sendmmsg", "writev", "pwrite"];

    /// <summary>Every native function bound anywhere in the engine: [LibraryImport] declarations and the [DllImport] stubs they generate.</summary>
    private static List<(string Library, string EntryPoint, string Where)> NativeImports()
    {
        var found = new List<(string, string, string)>();
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;
        foreach (var type in typeof(LiveCapture).Assembly.GetTypes())
        {
            foreach (var m in type.GetMethods(all))
            {
                if (m.GetCustomAttribute<LibraryImportAttribute>() is { } li)
                    found.Add((li.LibraryName, li.EntryPoint ?? m.Name, $"{type.FullName}.{m.Name}"));
                if (m.GetCustomAttribute<DllImportAttribute>() is { } di)
                    found.Add((di.Value, di.EntryPoint ?? m.Name, $"{type.FullName}.{m.Name}"));
            }
        }
        return found;
    }

    [Fact]
    public void Engine_BindsNoNativeFunctionThatSends()
    {
        var imports = NativeImports();
        // Not vacuous: the scan sees the libpcap binding, both the declarations and the generated stubs.
        Assert.Contains(imports, i => i.EntryPoint == "pcap_dispatch" && i.Where.Contains("PcapNative.Dispatch", StringComparison.Ordinal));
        Assert.True(imports.Count(i => i.EntryPoint == "pcap_dispatch") >= 2, "the generated DllImport stub was not found");
        foreach (var (library, entry, where) in imports)
        {
            Assert.False(Forbidden.Any(f => entry.Contains(f, StringComparison.OrdinalIgnoreCase)), $"{where} binds {library}!{entry}");
        }
    }

    [Fact]
    public void Engine_BindsOnlyTheReceiveSideOfLibpcap()
    {
        string[] allowed =
        [
            "pcap_lib_version", "pcap_findalldevs", "pcap_freealldevs", "pcap_create", "pcap_set_snaplen", "pcap_set_promisc",
            "pcap_set_timeout", "pcap_set_buffer_size", "pcap_set_immediate_mode", "pcap_set_tstamp_precision",
            "pcap_get_tstamp_precision", "pcap_activate", "pcap_statustostr", "pcap_geterr", "pcap_datalink",
            "pcap_datalink_val_to_name", "pcap_snapshot", "pcap_compile", "pcap_setfilter", "pcap_freecode", "pcap_setnonblock",
            "pcap_get_selectable_fd", "pcap_dispatch", "pcap_breakloop", "pcap_stats", "pcap_close",
        ];
        var pcap = NativeImports().Where(i => i.Library.Contains("pcap", StringComparison.OrdinalIgnoreCase)).Select(i => i.EntryPoint).Distinct().ToList();
        Assert.NotEmpty(pcap);
        Assert.All(pcap, e => Assert.Contains(e, allowed));
    }
}
