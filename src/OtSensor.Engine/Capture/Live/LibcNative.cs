using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace OtSensor.Capture.Live;

/// <summary>
/// The few libc calls the live capture needs to wait on libpcap's descriptor with a real timeout and a wake-up
/// (libpcap 1.10 on Linux keeps polling past the read timeout until a packet arrives). Nothing here touches the network.
/// </summary>
internal static unsafe partial class LibcNative
{
    private const string Libc = "libc";

    public const short PollIn = 0x1;
    public const short PollErr = 0x8;
    public const short PollHup = 0x10;
    public const short PollNval = 0x20;
    public const int EintrErrno = 4;
    private const int EfdNonblock = 0x800;
    private const int EfdCloexec = 0x80000;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport(Libc, EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMs);

    [LibraryImport(Libc, EntryPoint = "eventfd", SetLastError = true)]
    private static partial int EventFd(uint initial, int flags);

    [LibraryImport(Libc, EntryPoint = "write", SetLastError = true)]
    private static partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "read", SetLastError = true)]
    private static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport(Libc, EntryPoint = "close")]
    public static partial int Close(int fd);

    /// <summary>A non-blocking eventfd, or an invalid handle (with errno) if the kernel refuses.</summary>
    public static EventFdHandle CreateEventFd()
    {
        var h = new EventFdHandle();
        h.SetFd(EventFd(0, EfdNonblock | EfdCloexec));
        return h;
    }

    /// <summary>Adds one to the eventfd counter: a poll on it returns.</summary>
    public static void Signal(int fd)
    {
        ulong one = 1;
        _ = Write(fd, (byte*)&one, sizeof(ulong));
    }

    /// <summary>Resets the eventfd counter (non-blocking: nothing to read is fine).</summary>
    public static void Drain(int fd)
    {
        ulong value;
        _ = Read(fd, (byte*)&value, sizeof(ulong));
    }
}

/// <summary>An eventfd descriptor, closed once after any poll in flight on it.</summary>
internal sealed class EventFdHandle : SafeHandleMinusOneIsInvalid
{
    public EventFdHandle() : base(ownsHandle: true)
    {
    }

    internal void SetFd(int fd) => SetHandle(fd);

    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => LibcNative.Close((int)handle) == 0;
}
