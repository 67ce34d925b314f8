using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using OtSensor.Core;

namespace OtSensor.Capture.Live;

/// <summary>
/// One libpcap live capture handle. Receive-only: the binding has no way to send.
/// The handle runs in libpcap's non-blocking mode and <see cref="Dispatch"/> waits on its descriptor itself, so that
/// the read timeout really ends a call without packets (libpcap 1.10 on Linux otherwise keeps waiting until one arrives)
/// and <see cref="BreakLoop"/> wakes the wait on any libpcap version.
/// One thread calls <see cref="Dispatch"/>; <see cref="BreakLoop"/>, <see cref="GetStats"/> and <see cref="Dispose"/>
/// may be called from any thread (Dispose wakes a blocked Dispatch; pcap_close runs once the Dispatch has returned).
/// </summary>
public sealed unsafe class LiveCapture : OtSensor.Pipeline.ILivePacketSource
{
    /// <summary>DLT_RAW on Linux (and most systems), whose pcap-file LINKTYPE is 101.</summary>
    private const int DltRaw = 12;

    private readonly PcapHandle _handle;
    private readonly EventFdHandle _wake;
    private readonly DispatchState _state;
    private readonly List<string> _warnings;
    private readonly Lock _statsLock = new();
    private StatsAccumulator _stats;
    private int _disposed;
    private int _breakRequested;
    private int _fd = -1;
    private int _pollTimeoutMs;

    private LiveCapture(string iface, PcapHandle handle, List<string> warnings)
    {
        Interface = iface;
        _handle = handle;
        _warnings = warnings;
        _state = new DispatchState(handle);
        _wake = LibcNative.CreateEventFd();
    }

    public string Interface { get; }

    /// <summary>The link type of the frames (libpcap's datalink mapped to the pcap-file LINKTYPE the decoder uses).</summary>
    public LinkType LinkType { get; private set; }

    /// <summary>libpcap's raw datalink (DLT_) value.</summary>
    public int Datalink { get; private set; }

    /// <summary>The snap length in effect (pcap_snapshot).</summary>
    public int Snaplen { get; private set; }

    /// <summary>True when timestamps come from the kernel with nanosecond precision (else microseconds, scaled to ns).</summary>
    public bool NanosecondTimestamps { get; private set; }

    /// <summary>The BPF filter in effect, if any.</summary>
    public string? Filter { get; private set; }

    /// <summary>pcap_activate warnings and fallbacks (e.g. nanosecond timestamps refused, promiscuous mode not supported).</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>
    /// Creates, configures and activates a capture on <see cref="LiveCaptureOptions.Interface"/>, then applies the filter.
    /// </summary>
    /// <exception cref="LiveCaptureException">libpcap is missing, the interface does not exist, permission is denied,
    /// or the filter does not compile (the message names the interface, the libpcap call and libpcap's text).</exception>
    public static LiveCapture Open(LiveCaptureOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.Interface);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Snaplen);
        ArgumentOutOfRangeException.ThrowIfNegative(options.BufferBytes);
        ArgumentOutOfRangeException.ThrowIfNegative(options.TimeoutMs);
        LibPcap.EnsureAvailable();
        string iface = options.Interface;

        byte* errbuf = stackalloc byte[PcapNative.ErrbufSize];
        errbuf[0] = 0;
        PcapHandle handle = PcapNative.Create(iface, errbuf);
        if (handle.IsInvalid)
        {
            handle.Dispose();
            throw new LiveCaptureException(iface, "pcap_create", PcapNative.Error, PcapNative.ErrbufText(new ReadOnlySpan<byte>(errbuf, PcapNative.ErrbufSize)));
        }
        var warnings = new List<string>();
        var capture = new LiveCapture(iface, handle, warnings);
        try
        {
            capture.Check(PcapNative.SetSnaplen(handle, options.Snaplen), "pcap_set_snaplen");
            capture.Check(PcapNative.SetPromisc(handle, options.Promiscuous ? 1 : 0), "pcap_set_promisc");
            capture.Check(PcapNative.SetTimeout(handle, options.TimeoutMs), "pcap_set_timeout");
            if (options.BufferBytes > 0)
                capture.Check(PcapNative.SetBufferSize(handle, options.BufferBytes), "pcap_set_buffer_size");
            capture.Check(PcapNative.SetImmediateMode(handle, options.Immediate ? 1 : 0), "pcap_set_immediate_mode");
            if (options.NanosecondTimestamps)
            {
                int rc = PcapNative.SetTstampPrecision(handle, PcapNative.TstampPrecisionNano);
                if (rc != 0)
                {
                    warnings.Add($"nanosecond timestamps refused ({PcapNative.StatusText(rc)}): using microseconds");
                    capture.Check(PcapNative.SetTstampPrecision(handle, PcapNative.TstampPrecisionMicro), "pcap_set_tstamp_precision");
                }
            }

            int act = PcapNative.Activate(handle);
            if (act < 0)
                throw new LiveCaptureException(iface, "pcap_activate", act, capture.ActivateText(act));
            if (act > 0)
                warnings.Add(capture.ActivateText(act));

            capture.NanosecondTimestamps = PcapNative.GetTstampPrecision(handle) == PcapNative.TstampPrecisionNano;
            capture._state.Nano = capture.NanosecondTimestamps;
            capture.Datalink = PcapNative.Datalink(handle);
            capture.LinkType = FromDatalink(capture.Datalink);
            if (!Enum.IsDefined(capture.LinkType))
            {
                string name = PcapNative.Utf8(PcapNative.DatalinkValToName(capture.Datalink)) ?? "unknown";
                warnings.Add($"datalink {capture.Datalink} ({name}) is not decoded: its frames will be counted as unsupported");
            }
            capture.Snaplen = PcapNative.Snapshot(handle);
            errbuf[0] = 0;
            if (PcapNative.SetNonblock(handle, 1, errbuf) < 0)
                throw new LiveCaptureException(iface, "pcap_setnonblock", PcapNative.Error, PcapNative.ErrbufText(new ReadOnlySpan<byte>(errbuf, PcapNative.ErrbufSize)));
            capture._fd = PcapNative.GetSelectableFd(handle);
            if (capture._fd < 0)
                throw new LiveCaptureException(iface, "pcap_get_selectable_fd", capture._fd, "no selectable descriptor");
            if (capture._wake.IsInvalid)
                throw new LiveCaptureException(iface, "eventfd", Marshal.GetLastPInvokeError(), Marshal.GetLastPInvokeErrorMessage());
            capture._pollTimeoutMs = options.TimeoutMs == 0 ? -1 : options.TimeoutMs;
            if (options.Bpf != null)
                capture.SetFilter(options.Bpf);
            return capture;
        }
        catch
        {
            capture.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Maps libpcap's DLT_ value to the pcap-file LINKTYPE_ value, as a capture file would store it: the same cast
    /// <see cref="CaptureFileReader"/> applies to a file's link type, except DLT_RAW (12), which files store as LINKTYPE_RAW (101).
    /// </summary>
    internal static LinkType FromDatalink(int dlt) => dlt == DltRaw ? LinkType.Raw : (LinkType)(ushort)dlt;

    /// <summary>
    /// Reads what libpcap has (pcap_dispatch): calls <paramref name="handler"/> once per frame with a span over
    /// libpcap's buffer (no copy, no allocation per packet). Waits up to the read timeout for the first packet.
    /// </summary>
    /// <param name="maxPackets">At most this many packets; -1 (or 0) for all of one buffer.</param>
    /// <returns>Packets processed; 0 when the timeout expired with none; -2 when <see cref="BreakLoop"/> was called.</returns>
    /// <exception cref="LiveCaptureException">pcap_dispatch failed (e.g. the interface went down).</exception>
    /// <remarks>An exception thrown by the handler stops the dispatch and is rethrown here.</remarks>
    public int Dispatch(int maxPackets, ILivePacketHandler handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        DispatchState st = _state;
        if (Interlocked.Exchange(ref st.Busy, 1) != 0)
            throw new InvalidOperationException("LiveCapture.Dispatch is already running on another thread.");
        int rc = 0;
        bool deviceError = false;
        bool pcapRef = false;
        bool wakeRef = false;
        GCHandle gch = default;
        try
        {
            // Held for the whole call: a Dispose on another thread closes the descriptors only after we return.
            _handle.DangerousAddRef(ref pcapRef);
            _wake.DangerousAddRef(ref wakeRef);
            st.Handler = handler;
            gch = GCHandle.Alloc(st);
            bool waited = false;
            while (true)
            {
                if (Interlocked.Exchange(ref _breakRequested, 0) != 0)
                {
                    LibcNative.Drain(_wake.Fd);
                    rc = PcapNative.ErrorBreak;
                    break;
                }
                rc = PcapNative.Dispatch(_handle, maxPackets, &OnPacket, (byte*)GCHandle.ToIntPtr(gch));
                if (rc != 0 || waited)
                    break;
                waited = true;
                deviceError = Wait();
            }
        }
        catch (ObjectDisposedException)
        {
            // Disposed on another thread before the call started.
            rc = PcapNative.ErrorBreak;
        }
        finally
        {
            if (gch.IsAllocated)
                gch.Free();
            st.Handler = null;
            if (wakeRef)
                _wake.DangerousRelease();
            if (pcapRef)
                _handle.DangerousRelease();
            Volatile.Write(ref st.Busy, 0);
        }
        if (st.HandlerError is { } error)
        {
            st.HandlerError = null;
            error.Throw();
        }
        if (rc == 0 && deviceError)
        {
            // The descriptor reports an error libpcap did not turn into one (e.g. the interface is down): do not spin.
            Thread.Sleep(_pollTimeoutMs is < 0 or > 100 ? 100 : _pollTimeoutMs);
        }
        if (rc >= 0 || rc == PcapNative.ErrorBreak)
            return rc;
        throw new LiveCaptureException(Interface, "pcap_dispatch", rc, ErrText(rc));
    }

    /// <summary>Waits up to the read timeout for libpcap's descriptor or a break; true when the descriptor reports an error.</summary>
    private bool Wait()
    {
        LibcNative.PollFd* fds = stackalloc LibcNative.PollFd[2];
        fds[0] = new LibcNative.PollFd { Fd = _fd, Events = LibcNative.PollIn };
        fds[1] = new LibcNative.PollFd { Fd = _wake.Fd, Events = LibcNative.PollIn };
        int n = LibcNative.Poll(fds, 2, _pollTimeoutMs);
        if (n <= 0)
            return false; // timeout, or EINTR: the caller dispatches once more and returns
        if ((fds[1].Revents & LibcNative.PollIn) != 0)
            LibcNative.Drain(_wake.Fd);
        return (fds[0].Revents & (LibcNative.PollErr | LibcNative.PollHup | LibcNative.PollNval)) != 0;
    }

    /// <summary>Makes the current (or next) <see cref="Dispatch"/> return -2 promptly. Safe from any thread.</summary>
    public void BreakLoop()
    {
        Volatile.Write(ref _breakRequested, 1);
        bool added = false;
        try
        {
            _wake.DangerousAddRef(ref added);
            LibcNative.Signal(_wake.Fd);
        }
        catch (ObjectDisposedException)
        {
            // Closed: nothing to wake.
        }
        finally
        {
            if (added)
                _wake.DangerousRelease();
        }
    }

    /// <summary>libpcap's counters since open (pcap_stats), accumulated into 64 bits across the 32-bit wrap.</summary>
    /// <remarks>Call at least once per 2^32 packets so a wrap is not missed (once a minute is plenty).</remarks>
    public LiveCaptureStats GetStats()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_statsLock)
        {
            PcapNative.PcapStat s;
            int rc = PcapNative.Stats(_handle, &s);
            if (rc < 0)
                throw new LiveCaptureException(Interface, "pcap_stats", rc, ErrText(rc));
            return _stats.Add(s.Recv, s.Drop, s.IfDrop);
        }
    }

    /// <summary>Compiles (optimised, netmask unknown) and installs a BPF filter. Call from the dispatching thread or before dispatching.</summary>
    /// <exception cref="LiveCaptureException">The expression does not compile or cannot be installed; the message contains it.</exception>
    public void SetFilter(string bpf)
    {
        ArgumentNullException.ThrowIfNull(bpf);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        PcapNative.BpfProgram program = default;
        int rc = PcapNative.Compile(_handle, &program, bpf, 1, PcapNative.NetmaskUnknown);
        if (rc < 0)
            throw new LiveCaptureException(Interface, "pcap_compile", rc, ErrText(rc), bpf);
        try
        {
            rc = PcapNative.SetFilter(_handle, &program);
            if (rc < 0)
                throw new LiveCaptureException(Interface, "pcap_setfilter", rc, ErrText(rc), bpf);
        }
        finally
        {
            PcapNative.FreeCode(&program);
        }
        Filter = bpf;
    }

    /// <summary>Wakes a blocked <see cref="Dispatch"/> and closes the handle (pcap_close runs once, after it returns).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        BreakLoop();
        _handle.Dispose();
        _wake.Dispose();
    }

    private void Check(int rc, string function)
    {
        if (rc != 0)
            throw new LiveCaptureException(Interface, function, rc, ErrText(rc));
    }

    private string ErrText(int rc)
    {
        string? text = PcapNative.Utf8(PcapNative.GetErr(_handle));
        return string.IsNullOrWhiteSpace(text) ? PcapNative.StatusText(rc) : text.Trim();
    }

    private string ActivateText(int rc)
    {
        string status = PcapNative.StatusText(rc);
        string? detail = PcapNative.Utf8(PcapNative.GetErr(_handle))?.Trim();
        // For PCAP_ERROR and PCAP_WARNING the status text is generic; for the others geterr may be empty or stale.
        string text = rc is PcapNative.Error or 1 && !string.IsNullOrEmpty(detail) ? detail
            : string.IsNullOrEmpty(detail) || detail == status ? status : $"{status}: {detail}";
        if (rc is PcapNative.ErrorPermDenied or PcapNative.ErrorPromiscPermDenied)
            text += " (capture needs root or the CAP_NET_RAW and CAP_NET_ADMIN capabilities)";
        return text;
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnPacket(byte* user, PcapNative.PacketHeader* header, byte* bytes)
    {
        var st = (DispatchState)GCHandle.FromIntPtr((nint)user).Target!;
        if (st.HandlerError != null)
            return;
        try
        {
            long frac = header->TvFrac;
            long ts = (long)header->TvSec * 1_000_000_000L + (st.Nano ? frac : frac * 1000);
            int captured = (int)Math.Min(header->CapLen, int.MaxValue);
            int original = (int)Math.Min(header->Len, int.MaxValue);
            st.Handler!.OnPacket(new ReadOnlySpan<byte>(bytes, captured), original, ts);
        }
        catch (Exception ex)
        {
            // An exception must not unwind through libpcap: keep it, stop the loop, rethrow from Dispatch.
            st.HandlerError = ExceptionDispatchInfo.Capture(ex);
            PcapNative.BreakLoop(st.Handle);
        }
    }

    private sealed class DispatchState(PcapHandle handle)
    {
        public readonly PcapHandle Handle = handle;
        public ILivePacketHandler? Handler;
        public ExceptionDispatchInfo? HandlerError;
        public bool Nano;
        public int Busy;
    }
}

/// <summary>Widens libpcap's 32-bit cumulative counters to 64 bits by adding the unsigned difference of each reading.</summary>
internal struct StatsAccumulator
{
    private uint _lastRecv;
    private uint _lastDrop;
    private uint _lastIfDrop;
    private long _recv;
    private long _drop;
    private long _ifDrop;

    public LiveCaptureStats Add(uint recv, uint drop, uint ifDrop)
    {
        _recv += unchecked(recv - _lastRecv);
        _drop += unchecked(drop - _lastDrop);
        _ifDrop += unchecked(ifDrop - _lastIfDrop);
        _lastRecv = recv;
        _lastDrop = drop;
        _lastIfDrop = ifDrop;
        return new LiveCaptureStats(_recv, _drop, _ifDrop);
    }
}
