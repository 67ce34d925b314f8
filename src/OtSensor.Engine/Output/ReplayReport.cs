using System.Buffers;
using System.Globalization;
using System.Text.Json;
using OtSensor.Decoding;
using OtSensor.Pipeline;

namespace OtSensor.Output;

/// <summary>The replay summary: capture, decode and flow counters plus each protocol's report.</summary>
public sealed class ReplayReport : IEventConsumer
{
    public ModbusReport Modbus { get; } = new();
    public CoapReport Coap { get; } = new();
    public MqttReport Mqtt { get; } = new();
    public long InternalErrors { get; set; }
    /// <summary>The inventory built during the replay, when one was (its store is written at the end of the replay).</summary>
    public Inventory.AssetInventory? Inventory { get; set; }
    public string? StorePath { get; set; }
    /// <summary>The detection engine of the replay, when one ran: its alerts go into the JSON summary.</summary>
    public Detection.DetectionEngine? Detection { get; set; }
    public ReplayStats? Stats { get; private set; }

    /// <summary>
    /// The protocol reports read only the events (the inventory and the detection engine are read by the summary,
    /// once the replay is complete): an analysis thread of its own, so that with a store the inventory and detection
    /// lane does not also carry the reports (12% of that lane's instructions on the mixed benchmark).
    /// </summary>
    public bool RunsApart => true;

    public void OnPackets(PacketBatch batch) { }

    public void OnEvent(in EventEntry entry, EventBuffer buffer, PacketBatch batch)
    {
        ProtocolId proto = entry.Kind == EventKind.Transaction ? entry.Transaction.Protocol : entry.Anomaly.Protocol;
        if (proto == ProtocolId.Modbus) Modbus.OnEvent(in entry, buffer);
        else if (proto == ProtocolId.Coap) Coap.OnEvent(in entry, buffer);
        else if (proto == ProtocolId.Mqtt) Mqtt.OnEvent(in entry, buffer);
    }

    /// <summary>
    /// Set when the JSON summary will be written after a completion that has work of its own (the store's final
    /// write, the alerts' and baseline's): the protocol sections and the alerts are serialized on a thread of their
    /// own from <see cref="OnComplete"/> on, meanwhile, as none of them changes once the last batch is analysed. Left
    /// false (the sections are then written by <see cref="WriteJson"/>) when nothing would overlap them.
    /// </summary>
    public bool PrepareJson { get; set; }

    private PreparedSections? _prepared;

    public void OnComplete(ReplayStats stats)
    {
        Stats = stats;
        if (PrepareJson && _prepared is null) _prepared = PreparedSections.Start(this);
    }

    /// <summary>The sections <see cref="OnComplete"/> started serializing (modbus, mqtt, coap, alerts), in that order, on one thread.</summary>
    private sealed class PreparedSections
    {
        public readonly TaskCompletionSource<ChunkedBuffer> Modbus = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource<ChunkedBuffer> Mqtt = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource<ChunkedBuffer> Coap = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly TaskCompletionSource<ChunkedBuffer>? Alerts;

        private PreparedSections(bool alerts)
        {
            if (alerts) Alerts = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        public static PreparedSections Start(ReplayReport report)
        {
            var detection = report.Detection;
            var p = new PreparedSections(detection is not null);
            // A thread, not the thread pool: the store's completion runs pool tasks that must not queue behind these.
            new Thread(() =>
            {
                var options = JsonOptions;
                Run(p.Modbus, () => SectionJson("modbus", report.Modbus.WriteJson, options));
                Run(p.Mqtt, () => SectionJson("mqtt", report.Mqtt.WriteJson, options));
                Run(p.Coap, () => SectionJson("coap", report.Coap.WriteJson, options));
                if (p.Alerts is not null)
                {
                    Run(p.Alerts, () =>
                    {
                        // The last alerts get their asset names when the detection engine completes, meanwhile.
                        detection!.NameAssetsAfterAnalysis();
                        return SectionJson("alerts", w => WriteAlerts(w, detection), options);
                    });
                }
            }) { IsBackground = true, Name = "otsensor summary" }.Start();
            return p;
        }

        private static void Run(TaskCompletionSource<ChunkedBuffer> into, Func<ChunkedBuffer> make)
        {
            try
            {
                into.SetResult(make());
            }
            catch (Exception ex)
            {
                into.SetException(ex);
            }
        }
    }

    private static readonly JsonWriterOptions JsonOptions = new() { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public void WriteText(TextWriter w, ReplayStats stats)
    {
        var d = stats.Decode;
        var f = stats.Flows;
        var ci = CultureInfo.InvariantCulture;
        w.WriteLine("== Capture");
        foreach (var file in stats.Files)
        {
            w.WriteLine(string.Create(ci, $"  {file.Path}: {(file.Format.Length == 0 ? "unreadable" : file.Format)}, {file.Packets:N0} packets, {file.Bytes:N0} bytes{(file.Error is null ? "" : " — ERROR: " + file.Error)}"));
        }
        foreach (var i in stats.Interfaces ?? [])
        {
            w.WriteLine(string.Create(ci, $"  interface {i.Interface} ({i.LinkType}): captured {i.Captured:N0} packets, {i.Bytes:N0} bytes; dropped: interface {i.InterfaceDropped:N0}, kernel {i.KernelDropped:N0}, application {i.ApplicationDropped:N0}{(i.Reopens > 0 ? $"; reopened {i.Reopens}" : "")}{(i.Error is null ? "" : " — ERROR: " + i.Error)}"));
            if (i.PcapPacketsWritten > 0 || i.PcapWriteErrors > 0)
                w.WriteLine(string.Create(ci, $"    written to rolling pcap: {i.PcapPacketsWritten:N0} packets, write errors {i.PcapWriteErrors:N0}{(i.PcapLastError is null ? "" : " (" + i.PcapLastError + ")")}"));
        }
        w.WriteLine(string.Create(ci, $"  packets {d.Packets:N0}, bytes {d.Bytes:N0}, elapsed {stats.Elapsed.TotalSeconds:F2} s ({Rate(d.Packets, stats.Elapsed)} packets/s, {stats.Workers} workers)"));
        w.WriteLine(string.Create(ci, $"  stage busy time: reader+decode {stats.ReaderBusy.TotalSeconds:F2} s, workers {stats.WorkersBusy.TotalSeconds:F2} s, analysis {stats.AnalysisBusy.TotalSeconds:F2} s"));
        if (stats.FirstTimestampNs != 0)
            w.WriteLine(string.Create(ci, $"  packet time {Core.PacketTime.ToRfc3339(stats.FirstTimestampNs)} .. {Core.PacketTime.ToRfc3339(stats.LastTimestampNs)}"));
        w.WriteLine("== Decode");
        w.WriteLine(string.Create(ci, $"  IPv4 {d.Ipv4:N0}, IPv6 {d.Ipv6:N0}, ARP {d.Arp:N0}, other L3 {d.OtherNetwork:N0}; TCP {d.Tcp:N0}, UDP {d.Udp:N0}, other L4 {d.OtherTransport:N0}"));
        w.WriteLine(string.Create(ci, $"  IP fragments {d.Fragments:N0} (datagrams reassembled {d.Reassembled:N0}), snaplen-truncated {d.SnapTruncated:N0}"));
        w.WriteLine(string.Create(ci, $"  decode errors {d.ErrorTotal:N0}{FormatErrors(d)}"));
        w.WriteLine("== Flows");
        w.WriteLine(string.Create(ci, $"  flows {f.FlowsCreated:N0} (TCP {f.TcpFlows:N0}, UDP {f.UdpFlows:N0}), mid-stream pickups {f.MidstreamPickups:N0}, timed out {f.FlowsTimedOut:N0}, evicted {f.FlowsEvicted:N0}"));
        w.WriteLine(string.Create(ci, $"  TCP retransmissions {f.Retransmissions:N0}, out-of-order segments {f.OutOfOrderSegments:N0}, gaps {f.Gaps:N0} ({f.GapBytes:N0} bytes), conflicting overlaps {f.ConflictingOverlaps:N0}"));
        Modbus.WriteText(w);
        Mqtt.WriteText(w);
        Coap.WriteText(w);
        if (Inventory is not null)
        {
            var snap = Inventory.Snapshot();
            w.WriteLine("== Inventory");
            w.WriteLine(string.Create(ci, $"  assets {snap.Assets.Count:N0} ({Inventory.NewAssets:N0} new in the store), links {snap.Links.Count:N0}{(StorePath is null ? "" : ", store " + StorePath)}"));
        }
        if (InternalErrors > 0) w.WriteLine(string.Create(ci, $"== INTERNAL ERRORS: {InternalErrors} (a bug: please report it with the capture)"));
    }

    private static string FormatErrors(DecodeStats d)
    {
        var parts = d.ErrorsByKind().Select(e => $"{e.Error} {e.Count}").ToList();
        return parts.Count == 0 ? "" : " (" + string.Join(", ", parts) + ")";
    }

    /// <summary>
    /// Hands what the writer holds to its stream once it is large: a summary of thousands of devices would otherwise
    /// sit whole in the writer's buffer, grown by copying (megabytes) before the single write at the end.
    /// </summary>
    internal static void FlushIfLarge(Utf8JsonWriter w)
    {
        if (w.BytesPending >= 1 << 16) w.Flush();
    }

    /// <summary>Servers from which the CoAP section is worth a thread of its own (below, the hand-off costs more than it saves).</summary>
    internal int ParallelSectionServers { get; set; } = 256;

    /// <summary>
    /// Alerts from which the alerts array is serialized on a thread of its own when <see cref="WriteJson"/> starts (it
    /// is when the sections are prepared, <see cref="PrepareJson"/>). Off by default: with nothing else to write
    /// meanwhile the other thread only adds a copy through megabytes of fresh buffer (Modbus 1M with detection, 21,184
    /// alerts: 0.239 s to 0.271 s); the tests set it to check the section's bytes.
    /// </summary>
    internal int ParallelSectionAlerts { get; set; } = int.MaxValue;

    /// <summary>
    /// A section's JSON exactly as the summary's writer would write it as the value of a top-level property: the bytes
    /// of <see cref="ChunkedBuffer"/> from <c>Start</c> to <c>End</c>.
    /// </summary>
    private static ChunkedBuffer SectionJson(string name, Action<Utf8JsonWriter> write, JsonWriterOptions options)
    {
        var buffer = new ChunkedBuffer();
        using (var w = new Utf8JsonWriter(buffer, options))
        {
            // Written inside an object of its own, so that its lines carry the indentation of the summary's first level.
            w.WriteStartObject();
            w.WritePropertyName(name);
            write(w);
            w.WriteEndObject();
        }
        // What lies between `{` NEWLINE `  "name": ` and the closing NEWLINE `}`.
        buffer.Start = 1 + options.NewLine.Length + options.IndentSize + name.Length + 4;
        buffer.End = buffer.Length - options.NewLine.Length - 1;
        return buffer;
    }

    private static string Rate(long n, TimeSpan t) => (n / Math.Max(1e-6, t.TotalSeconds)).ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>The summary as one JSON object. <paramref name="includeTiming"/> false leaves out wall-clock figures (golden files).</summary>
    public void WriteJson(Stream output, ReplayStats stats, bool includeTiming = true, Func<string, string>? pathMapper = null)
    {
        var options = JsonOptions;
        var prepared = _prepared;
        _prepared = null;
        // A large replay's summary is megabytes of JSON written after the last packet, while the second core idles:
        // the CoAP section (the largest on mixed traffic) is serialized on another thread meanwhile.
        var coapJson = prepared?.Coap.Task
            ?? (Coap.ServerCount >= ParallelSectionServers ? Task.Run(() => SectionJson("coap", Coap.WriteJson, options)) : null);
        // The alerts are, when prepared during the completion (the detection engine is done with them by then).
        var detection = Detection;
        var alertsJson = prepared?.Alerts?.Task
            ?? (detection is not null && detection.Raised.Count >= ParallelSectionAlerts
                ? Task.Run(() => SectionJson("alerts", w => WriteAlerts(w, detection), options))
                : null);
        using var w = new Utf8JsonWriter(output, options);
        w.WriteStartObject();
        w.WriteStartArray("files");
        foreach (var file in stats.Files)
        {
            w.WriteStartObject();
            w.WriteString("path", pathMapper is null ? file.Path : pathMapper(file.Path));
            w.WriteString("format", file.Format);
            w.WriteNumber("packets", file.Packets);
            w.WriteNumber("bytes", file.Bytes);
            if (file.Error is null) w.WriteNull("error");
            else w.WriteString("error", pathMapper is null ? file.Error : file.Error.Replace(file.Path, pathMapper(file.Path), StringComparison.Ordinal));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        if (stats.Interfaces is { } ifaces)
        {
            w.WriteStartArray("interfaces");
            foreach (var i in ifaces)
            {
                w.WriteStartObject();
                w.WriteString("name", i.Interface);
                w.WriteString("link_type", i.LinkType.ToString());
                w.WriteNumber("captured", i.Captured);
                w.WriteNumber("bytes", i.Bytes);
                w.WriteNumber("kernel_received", i.KernelReceived);
                w.WriteNumber("interface_dropped", i.InterfaceDropped);
                w.WriteNumber("kernel_dropped", i.KernelDropped);
                w.WriteNumber("application_dropped", i.ApplicationDropped);
                w.WriteNumber("reopens", i.Reopens);
                w.WriteNumber("pcap_packets_written", i.PcapPacketsWritten);
                w.WriteNumber("pcap_write_errors", i.PcapWriteErrors);
                if (i.Error is null) w.WriteNull("error");
                else w.WriteString("error", i.Error);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        var d = stats.Decode;
        w.WriteNumber("packets", d.Packets);
        w.WriteNumber("bytes", d.Bytes);
        if (stats.FirstTimestampNs != 0)
        {
            w.WriteString("first_packet", Core.PacketTime.ToRfc3339(stats.FirstTimestampNs));
            w.WriteString("last_packet", Core.PacketTime.ToRfc3339(stats.LastTimestampNs));
        }
        if (includeTiming)
        {
            w.WriteNumber("elapsed_ms", Math.Round(stats.Elapsed.TotalMilliseconds, 1));
            w.WriteNumber("packets_per_second", Math.Round(d.Packets / Math.Max(1e-6, stats.Elapsed.TotalSeconds)));
            w.WriteNumber("workers", stats.Workers);
        }
        w.WriteStartObject("decode");
        w.WriteNumber("ipv4", d.Ipv4);
        w.WriteNumber("ipv6", d.Ipv6);
        w.WriteNumber("arp", d.Arp);
        w.WriteNumber("other_network", d.OtherNetwork);
        w.WriteNumber("tcp", d.Tcp);
        w.WriteNumber("udp", d.Udp);
        w.WriteNumber("other_transport", d.OtherTransport);
        w.WriteNumber("fragments", d.Fragments);
        w.WriteNumber("reassembled", d.Reassembled);
        w.WriteNumber("snaplen_truncated", d.SnapTruncated);
        w.WriteNumber("errors", d.ErrorTotal);
        w.WriteStartObject("errors_by_kind");
        foreach (var (error, count) in d.ErrorsByKind()) w.WriteNumber(error.ToString(), count);
        w.WriteEndObject();
        w.WriteEndObject();
        var f = stats.Flows;
        w.WriteStartObject("flows");
        w.WriteNumber("total", f.FlowsCreated);
        w.WriteNumber("tcp", f.TcpFlows);
        w.WriteNumber("udp", f.UdpFlows);
        w.WriteNumber("midstream", f.MidstreamPickups);
        w.WriteNumber("timed_out", f.FlowsTimedOut);
        w.WriteNumber("evicted", f.FlowsEvicted);
        w.WriteNumber("retransmissions", f.Retransmissions);
        w.WriteNumber("out_of_order", f.OutOfOrderSegments);
        w.WriteNumber("gaps", f.Gaps);
        w.WriteNumber("gap_bytes", f.GapBytes);
        w.WriteNumber("conflicting_overlaps", f.ConflictingOverlaps);
        w.WriteEndObject();
        w.WritePropertyName("modbus");
        if (prepared is null) Modbus.WriteJson(w);
        else WriteSection(w, output, prepared.Modbus.Task);
        w.WritePropertyName("mqtt");
        if (prepared is null) Mqtt.WriteJson(w);
        else WriteSection(w, output, prepared.Mqtt.Task);
        w.WritePropertyName("coap");
        if (coapJson is null)
        {
            Coap.WriteJson(w);
        }
        else
        {
            WriteSection(w, output, coapJson);
        }
        if (Inventory is not null)
        {
            var snap = Inventory.Snapshot();
            w.WriteStartObject("inventory");
            w.WriteNumber("assets", snap.Assets.Count);
            w.WriteNumber("new_assets", Inventory.NewAssets);
            w.WriteNumber("links", snap.Links.Count);
            if (StorePath is not null) w.WriteString("store", StorePath);
            w.WriteEndObject();
        }
        if (detection is not null)
        {
            w.WritePropertyName("alerts");
            if (alertsJson is null) WriteAlerts(w, detection);
            else WriteSection(w, output, alertsJson);
        }
        w.WriteNumber("internal_errors", InternalErrors);
        w.WriteEndObject();
    }

    private static void WriteAlerts(Utf8JsonWriter w, OtSensor.Detection.DetectionEngine detection)
    {
        w.WriteStartArray();
        foreach (var a in detection.Raised)
        {
            OtSensor.Detection.AlertFormats.WriteJson(w, a);
            FlushIfLarge(w);
        }
        w.WriteEndArray();
    }

    /// <summary>The value of the property just named: a section serialized on another thread (<see cref="SectionJson"/>).</summary>
    private static void WriteSection(Utf8JsonWriter w, Stream output, Task<ChunkedBuffer> pending)
    {
        using var section = pending.GetAwaiter().GetResult();
        // Straight to the stream (the writer would first copy megabytes into a buffer of its own); the writer writes
        // the last byte itself, so that it knows the property has its value.
        w.Flush();
        section.CopyTo(output, section.Start, section.End - 1);
        w.WriteRawValue(section.ByteAt(section.End - 1), skipInputValidation: true);
    }
}
