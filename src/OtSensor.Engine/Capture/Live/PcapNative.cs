using System.Runtime.InteropServices;

namespace OtSensor.Capture.Live;

/// <summary>
/// The libpcap entry points the sensor binds. Receive-only by construction: nothing here can put a frame on the wire
/// (no pcap_inject, pcap_sendpacket or send queues); a test reflects over the assembly's imports to keep it so.
/// Layouts are those of 64-bit Linux (LP64): <c>struct timeval</c> is two <c>long</c>s.
/// </summary>
internal static unsafe partial class PcapNative
{
    public const string Library = "libpcap.so.0.8";
    public const int ErrbufSize = 256;
    public const uint NetmaskUnknown = 0xFFFFFFFF;

    public const int TstampPrecisionMicro = 0;
    public const int TstampPrecisionNano = 1;

    public const uint IfLoopback = 0x1;
    public const uint IfUp = 0x2;
    public const uint IfRunning = 0x4;
    public const uint IfWireless = 0x8;

    // pcap_activate / pcap_dispatch status codes (pcap/pcap.h).
    public const int Error = -1;
    public const int ErrorBreak = -2;
    public const int ErrorNoSuchDevice = -5;
    public const int ErrorPermDenied = -8;
    public const int ErrorIfaceNotUp = -9;
    public const int ErrorPromiscPermDenied = -11;
    public const int ErrorTstampPrecisionNotSup = -12;

    [StructLayout(LayoutKind.Sequential)]
    public struct PcapIf
    {
        public PcapIf* Next;
        public byte* Name;
        public byte* Description;
        public PcapAddr* Addresses;
        public uint Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PcapAddr
    {
        public PcapAddr* Next;
        public byte* Addr;
        public byte* Netmask;
        public byte* BroadAddr;
        public byte* DstAddr;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PacketHeader
    {
        public nint TvSec;
        /// <summary>Microseconds, or nanoseconds when the handle's timestamp precision is nano.</summary>
        public nint TvFrac;
        public uint CapLen;
        public uint Len;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct PcapStat
    {
        public uint Recv;
        public uint Drop;
        public uint IfDrop;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct BpfProgram
    {
        public uint Length;
        public nint Instructions;
    }

    [LibraryImport(Library, EntryPoint = "pcap_lib_version")]
    public static partial byte* LibVersion();

    [LibraryImport(Library, EntryPoint = "pcap_findalldevs")]
    public static partial int FindAllDevs(PcapIf** list, byte* errbuf);

    [LibraryImport(Library, EntryPoint = "pcap_freealldevs")]
    public static partial void FreeAllDevs(PcapIf* list);

    [LibraryImport(Library, EntryPoint = "pcap_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial PcapHandle Create(string source, byte* errbuf);

    [LibraryImport(Library, EntryPoint = "pcap_set_snaplen")]
    public static partial int SetSnaplen(PcapHandle p, int snaplen);

    [LibraryImport(Library, EntryPoint = "pcap_set_promisc")]
    public static partial int SetPromisc(PcapHandle p, int promisc);

    [LibraryImport(Library, EntryPoint = "pcap_set_timeout")]
    public static partial int SetTimeout(PcapHandle p, int timeoutMs);

    [LibraryImport(Library, EntryPoint = "pcap_set_buffer_size")]
    public static partial int SetBufferSize(PcapHandle p, int bytes);

    [LibraryImport(Library, EntryPoint = "pcap_set_immediate_mode")]
    public static partial int SetImmediateMode(PcapHandle p, int immediate);

    [LibraryImport(Library, EntryPoint = "pcap_set_tstamp_precision")]
    public static partial int SetTstampPrecision(PcapHandle p, int precision);

    [LibraryImport(Library, EntryPoint = "pcap_get_tstamp_precision")]
    public static partial int GetTstampPrecision(PcapHandle p);

    [LibraryImport(Library, EntryPoint = "pcap_activate")]
    public static partial int Activate(PcapHandle p);

    [LibraryImport(Library, EntryPoint = "pcap_statustostr")]
    public static partial byte* StatusToStr(int status);

    [LibraryImport(Library, EntryPoint = "pcap_geterr")]
    public static partial byte* GetErr(PcapHandle p);

    [LibraryImport(Library, EntryPoint = "pcap_datalink")]
    public static partial int Datalink(PcapHandle p);

    [LibraryImport(Library, EntryPoint = "pcap_datalink_val_to_name")]
    public static partial byte* DatalinkValToName(int dlt);

    [LibraryImport(Library, EntryPoint = "pcap_snapshot")]
    public static partial int Snapshot(PcapHandle p);

    [LibraryImport(Library, EntryPoint = "pcap_compile", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Compile(PcapHandle p, BpfProgram* program, string filter, int optimize, uint netmask);

    [LibraryImport(Library, EntryPoint = "pcap_setfilter")]
    public static partial int SetFilter(PcapHandle p, BpfProgram* program);

    [LibraryImport(Library, EntryPoint = "pcap_freecode")]
    public static partial void FreeCode(BpfProgram* program);

    [LibraryImport(Library, EntryPoint = "pcap_dispatch")]
    public static partial int Dispatch(PcapHandle p, int count, delegate* unmanaged[Cdecl]<byte*, PacketHeader*, byte*, void> callback, byte* user);

    [LibraryImport(Library, EntryPoint = "pcap_setnonblock")]
    public static partial int SetNonblock(PcapHandle p, int nonblock, byte* errbuf);

    [LibraryImport(Library, EntryPoint = "pcap_get_selectable_fd")]
    public static partial int GetSelectableFd(PcapHandle p);

    [LibraryImport(Library, EntryPoint = "pcap_breakloop")]
    public static partial void BreakLoop(PcapHandle p);

    [LibraryImport(Library, EntryPoint = "pcap_stats")]
    public static partial int Stats(PcapHandle p, PcapStat* stats);

    [LibraryImport(Library, EntryPoint = "pcap_close")]
    public static partial void Close(nint p);

    public static string? Utf8(byte* s) => s == null ? null : Marshal.PtrToStringUTF8((nint)s);

    public static string ErrbufText(ReadOnlySpan<byte> errbuf)
    {
        int n = errbuf.IndexOf((byte)0);
        return System.Text.Encoding.UTF8.GetString(n < 0 ? errbuf : errbuf[..n]).Trim();
    }

    public static string StatusText(int status) => Utf8(StatusToStr(status)) ?? $"libpcap status {status}";
}

/// <summary>A <c>pcap_t*</c>; released with <c>pcap_close</c> exactly once, after any call in flight on it returns.</summary>
internal sealed class PcapHandle : Microsoft.Win32.SafeHandles.SafeHandleZeroOrMinusOneIsInvalid
{
    public PcapHandle() : base(ownsHandle: true)
    {
    }

    protected override bool ReleaseHandle()
    {
        PcapNative.Close(handle);
        return true;
    }
}
