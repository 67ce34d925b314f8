using System.CommandLine;
using System.Globalization;
using OtSensor.Capture.Live;
using OtSensor.Pipeline;

namespace OtSensor.Cli.Commands;

/// <summary>`otsensor capture`: the whole pipeline on live interfaces (libpcap), until Ctrl-C or --duration.</summary>
internal static class CaptureCommand
{
    public static Command Create()
    {
        var interfaces = new Option<string[]>("--interface", "-i") { Description = "Interface to capture on (repeat for several; see 'otsensor interfaces').", Required = true, AllowMultipleArgumentsPerToken = false };
        var bpf = new Option<string?>("--bpf") { Description = "Capture filter (libpcap/tcpdump syntax), e.g. 'tcp port 502 or udp port 5683'." };
        var snaplen = new Option<int>("--snaplen") { Description = "Bytes kept of each packet.", DefaultValueFactory = _ => 262144 };
        var bufferMb = new Option<int>("--buffer-mb") { Description = "Kernel capture buffer per interface, MiB.", DefaultValueFactory = _ => 32 };
        var ringMb = new Option<int>("--ring-mb") { Description = "Buffer between capture and decoding per interface, MiB (what overflows it is counted as an application drop).", DefaultValueFactory = _ => 64 };
        var noPromisc = new Option<bool>("--no-promisc") { Description = "Do not put the interface in promiscuous mode." };
        var duration = new Option<double?>("--duration") { Description = "Stop after this many seconds (default: until Ctrl-C / SIGTERM)." };
        var writePcap = new Option<string?>("--write-pcap") { Description = "Also write what is captured to rolling pcap files in this directory." };
        var rotateMb = new Option<int>("--rotate-mb") { Description = "With --write-pcap: start a new file after this many MiB.", DefaultValueFactory = _ => 100 };
        var keep = new Option<int>("--keep") { Description = "With --write-pcap: keep at most this many files per interface (the oldest are deleted).", DefaultValueFactory = _ => 10 };
        var options = new SensorOptions();
        var cmd = new Command("capture", "Capture live on one or more interfaces (a SPAN / mirror port) and run the sensor on the traffic. Passive: nothing is ever sent.")
        {
            interfaces, bpf, snaplen, bufferMb, ringMb, noPromisc, duration, writePcap, rotateMb, keep,
        };
        options.AddTo(cmd);
        cmd.SetAction(async (parse, ct) =>
        {
            var err = Console.Error;
            var names = parse.GetValue(interfaces) ?? [];
            string? usage = null;
            if (names.Length == 0) usage = "give at least one interface with -i";
            else if (names.Distinct(StringComparer.Ordinal).Count() != names.Length) usage = "an interface is given twice";
            else if (parse.GetValue(snaplen) is < 64 or > 262144) usage = "--snaplen must be between 64 and 262144";
            else if (parse.GetValue(bufferMb) is < 1 or > 4096) usage = "--buffer-mb must be between 1 and 4096";
            else if (parse.GetValue(ringMb) is < 1 or > 4096) usage = "--ring-mb must be between 1 and 4096";
            else if (parse.GetValue(duration) is double dur && (dur <= 0 || double.IsNaN(dur) || dur > 1e7)) usage = "--duration must be a positive number of seconds";
            else if (parse.GetValue(rotateMb) is < 1 or > 1_000_000) usage = "--rotate-mb must be at least 1";
            else if (parse.GetValue(keep) is < 1 or > 100_000) usage = "--keep must be at least 1";
            if (usage is not null)
            {
                await err.WriteLineAsync($"otsensor capture: {usage}.").ConfigureAwait(false);
                return Program.ExitUsage;
            }
            if (!LibPcap.IsAvailable)
            {
                await err.WriteLineAsync("otsensor capture: libpcap (libpcap.so.0.8) is not installed: run ./install (Debian package libpcap0.8).").ConfigureAwait(false);
                return Program.ExitError;
            }
            string? pcapDir = parse.GetValue(writePcap);
            if (pcapDir is not null)
            {
                try
                {
                    Directory.CreateDirectory(pcapDir);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
                {
                    await err.WriteLineAsync($"otsensor capture: cannot use '{pcapDir}' for --write-pcap: {ex.Message}").ConfigureAwait(false);
                    return Program.ExitError;
                }
            }
            using var session = SensorSession.Create("capture", parse, options, err, out int exit);
            if (session is null) return exit;

            long rotateBytes = parse.GetValue(rotateMb) * (1L << 20);
            int keepFiles = parse.GetValue(keep);
            var engine = new LiveEngine(new LiveOptions
            {
                Interfaces = [.. names.Select(n => new LiveCaptureOptions
                {
                    Interface = n,
                    Bpf = parse.GetValue(bpf),
                    Snaplen = parse.GetValue(snaplen),
                    BufferBytes = parse.GetValue(bufferMb) << 20,
                    Promiscuous = !parse.GetValue(noPromisc),
                })],
                Open = LiveSources.Open,
                RingBytes = parse.GetValue(ringMb) << 20,
                Duration = parse.GetValue(duration) is double d ? TimeSpan.FromSeconds(d) : null,
                Workers = session.Workers,
                Dissectors = session.Dissectors,
                WritePcap = pcapDir is null ? null : src => new RotatingPcapWriter(pcapDir, src.Interface, src.LinkType, src.Snaplen, rotateBytes, keepFiles),
            }, session.Consumers);
            try
            {
                engine.Open();
            }
            catch (LiveCaptureException ex)
            {
                await err.WriteLineAsync($"otsensor capture: {ex.Message}").ConfigureAwait(false);
                return Program.ExitError;
            }

            bool showStatus = !session.AsJson && !parse.GetValue(options.NoProgress) && !Console.IsOutputRedirected && !Console.IsErrorRedirected;
            var run = engine.RunAsync(ct);
            if (showStatus) await ShowStatus(engine, session, run).ConfigureAwait(false);
            var stats = await run.ConfigureAwait(false);
            session.Report.InternalErrors = engine.InternalErrors;
            session.CloseEvents();
            session.WriteSummary(stats, Console.Out);
            bool storeFailed = session.ReportStoreErrors(err);
            if (engine.FirstInternalError is { } bug)
                await err.WriteLineAsync($"otsensor: internal error (reported, capture continued): {bug}").ConfigureAwait(false);
            return engine.InternalErrors > 0 || storeFailed ? Program.ExitError : Program.ExitOk;
        });
        return cmd;
    }

    /// <summary>One status line on the terminal (stderr), rewritten every second until the capture ends.</summary>
    private static async Task ShowStatus(LiveEngine engine, SensorSession session, Task run)
    {
        var ci = CultureInfo.InvariantCulture;
        long lastPackets = 0, lastBytes = 0;
        var lastTime = engine.Uptime;
        while (!run.IsCompleted)
        {
            await Task.WhenAny(run, Task.Delay(1000)).ConfigureAwait(false);
            if (run.IsCompleted) break;
            var ifaces = engine.Interfaces;
            long packets = ifaces.Sum(i => i.Captured), bytes = ifaces.Sum(i => i.Bytes);
            var now = engine.Uptime;
            double secs = Math.Max(0.001, (now - lastTime).TotalSeconds);
            double pps = (packets - lastPackets) / secs, mbit = (bytes - lastBytes) * 8 / secs / 1e6;
            (lastPackets, lastBytes, lastTime) = (packets, bytes, now);
            long queue = ifaces.Sum(i => i.QueueBytes), capacity = ifaces.Sum(i => (long)i.QueueCapacity);
            string line = string.Create(ci,
                $"{string.Join(",", ifaces.Select(i => i.Interface))} {packets:N0} pkts {pps:N0} pkt/s {mbit:F1} Mbit/s | drops if {ifaces.Sum(i => i.InterfaceDropped):N0} kernel {ifaces.Sum(i => i.KernelDropped):N0} app {ifaces.Sum(i => i.ApplicationDropped):N0} | queue {100.0 * queue / Math.Max(1, capacity):F1}% | hosts {session.Inventory?.Endpoints.Count ?? 0:N0} | alerts {session.Detection?.Raised.Count ?? 0:N0}");
            if (ifaces.FirstOrDefault(i => i.Error is not null) is { } bad) line += $" | {bad.Interface}: {bad.Error}";
            int width = Math.Max(40, Console.WindowWidth - 1);
            if (line.Length > width) line = line[..width];
            await Console.Error.WriteAsync("\r" + line.PadRight(width)).ConfigureAwait(false);
        }
        await Console.Error.WriteAsync("\r" + new string(' ', Math.Max(40, Console.WindowWidth - 1)) + "\r").ConfigureAwait(false);
    }
}
