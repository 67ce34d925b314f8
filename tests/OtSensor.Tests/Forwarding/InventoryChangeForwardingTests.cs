using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using OtSensor.Forwarding;
using OtSensor.Inventory;
using OtSensor.Store;
using OtSensor.Tests.Inventory;
using OtSensor.Tests.Store;

namespace OtSensor.Tests.Forwarding;

/// <summary>Inventory changes as CEF / JSON and their delivery beside alerts, with their own cursor.</summary>
public class InventoryChangeForwardingTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private const string Hostile = "ACME|Corp=1 \\ x\r\nCEF:0|Evil|Evil|1|1|forged|10|act=x\0";

    private static ForwarderOptions Fast => Options();

    private static ForwarderOptions Options(int batchSize = 256, long maxBacklog = 0) => new()
    {
        PollInterval = TimeSpan.FromMilliseconds(20),
        MinBackoff = TimeSpan.FromMilliseconds(50),
        MaxBackoff = TimeSpan.FromMilliseconds(400),
        ConfirmDelay = TimeSpan.FromMilliseconds(50),
        BatchSize = batchSize,
        MaxBacklogCount = maxBacklog,
    };

    private static InventoryChange Change(long id, string? vendor = "Schneider Electric", string? model = "M340", string oldValue = "V2.1", string newValue = "V3.0") => new()
    {
        Id = id, Type = "asset_firmware_changed", SignatureId = 5404, Name = "Asset firmware revision changed", Severity = 6,
        TimeNs = 1_700_000_000_004_000_000, Frame = 5, AssetId = 2, AssetKey = "mac:00:80:f4:01:02:03", Ip = "10.0.0.10", Mac = "00:80:f4:01:02:03",
        Vendor = vendor, Model = model, Attribute = "identity.revision", OldValue = oldValue, NewValue = newValue,
        Message = $"Firmware revision of 10.0.0.10 changed from '{oldValue}' to '{newValue}'",
    };

    [Fact]
    public void Cef_CarriesTheMapping()
    {
        var cef = CefRecord.Parse(new CefFormatter("sensor-1", "1.2.3").Format(Change(7)));
        Assert.Equal(["CEF:0", "OtSensor", "OtSensor", "1.2.3", "5404", "Asset firmware revision changed", "6"], cef.Header);
        Assert.Equal("inv-7", cef.Ext["externalId"]);
        Assert.Equal("1700000000004", cef.Ext["rt"]);
        Assert.Equal("10.0.0.10", cef.Ext["src"]);
        Assert.Equal("00:80:f4:01:02:03", cef.Ext["smac"]);
        Assert.Equal("inventory", cef.Ext["cat"]);
        Assert.Equal("changed", cef.Ext["act"]);
        Assert.Equal("asset_firmware_changed", cef.Custom("changeType"));
        Assert.Equal("identity.revision", cef.Custom("attribute"));
        Assert.Equal("V2.1", cef.Custom("oldValue"));
        Assert.Equal("V3.0", cef.Custom("newValue"));
        Assert.Equal("Schneider Electric", cef.Custom("vendor"));
        Assert.Equal("M340", cef.Custom("model"));
        Assert.Equal("mac:00:80:f4:01:02:03", cef.Custom("assetKey"));
        Assert.Equal("5", cef.Custom("packetNumber"));
        Assert.Contains("V3.0", cef.Ext["msg"], StringComparison.Ordinal);
    }

    [Fact]
    public void Cef_HostileIdentityStrings_AreEscapedAndCannotForgeFieldsOrRecords()
    {
        var c = Change(1, vendor: Hostile, model: "=cs1=x\\", oldValue: "a\nb", newValue: "CEF:0|x|y|");
        string line = new CefFormatter("sensor-1").Format(c);
        var cef = CefRecord.Parse(line); // fails on a raw line break, a bad escape, an unescaped '=' or a duplicate key
        Assert.Equal(Hostile.Replace("\0", "", StringComparison.Ordinal), cef.Custom("vendor"));
        Assert.Equal("=cs1=x\\", cef.Custom("model"));
        Assert.Equal("a\nb", cef.Custom("oldValue"));
        Assert.Equal("CEF:0|x|y|", cef.Custom("newValue"));
        Assert.Equal("inventory", cef.Ext["cat"]);
        Assert.Equal(1, CountOf(line, "CEF:0|OtSensor"));

        // A hostile name in the header is escaped too.
        var named = new InventoryChange { Type = "x", Name = "a|b\\c\nd", AssetKey = "k", Attribute = "asset", Message = "m", Severity = 3 };
        var h = CefRecord.Parse(new CefFormatter("s").Format(named));
        Assert.Equal("a|b\\c d", h.Header[5]);
    }

    [Theory]
    [InlineData(480)]
    [InlineData(700)]
    [InlineData(2048)]
    public void Cef_And_Json_StayWithinTheByteBound_WithHugeValues(int max)
    {
        string huge = string.Concat(Enumerable.Repeat("é=|\\\n", 2000));
        var c = Change(3, vendor: huge, model: huge, oldValue: huge, newValue: huge);
        var d = Destination.Parse("tcp://127.0.0.1:1?max_bytes=" + max.ToString(CultureInfo.InvariantCulture));
        var msg = new AlertMessageBuilder(d, "sensor-1", 1).Build(c);
        Assert.InRange(msg.Length, 1, max);
        var cef = CefRecord.Parse(Encoding.UTF8.GetString(msg));
        Assert.Equal("5404", cef.Header[4]);
        Assert.Equal("inv-3", cef.Ext["externalId"]);

        var json = new JsonAlertFormatter("sensor-1").Format(c, max);
        Assert.InRange(json.Length, 1, max);
        using var doc = JsonDocument.Parse(json);
        Assert.Equal("inventory_change", doc.RootElement.GetProperty("event_kind").GetString());
    }

    [Fact]
    public void Json_OneLine_WithTheChangeFields()
    {
        var line = new JsonAlertFormatter("sensor-1").FormatString(new OtSensor.Detection.Alert { Type = "t", Name = "n", Category = "c", Message = "m" });
        Assert.DoesNotContain("event_kind", line, StringComparison.Ordinal); // alerts are unchanged
        var bytes = new JsonAlertFormatter("sensor-1").Format(Change(9, vendor: Hostile));
        string text = Encoding.UTF8.GetString(bytes);
        Assert.DoesNotContain('\n', text);
        using var doc = JsonDocument.Parse(bytes);
        var r = doc.RootElement;
        Assert.Equal(9, r.GetProperty("id").GetInt64());
        Assert.Equal("asset_firmware_changed", r.GetProperty("type").GetString());
        Assert.Equal("inventory", r.GetProperty("category").GetString());
        Assert.Equal("changed", r.GetProperty("action").GetString());
        Assert.Equal("2023-11-14T22:13:20.004000Z", r.GetProperty("time").GetString());
        Assert.Equal(5, r.GetProperty("frame").GetInt64());
        Assert.Equal(("V2.1", "V3.0"), (r.GetProperty("old_value").GetString(), r.GetProperty("new_value").GetString()));
        Assert.Equal(Hostile.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Replace("\0", "", StringComparison.Ordinal), r.GetProperty("vendor").GetString());
    }

    [Fact]
    public void Destination_InventoryOption_AndFilters()
    {
        var c = Change(1);
        Assert.True(Destination.Parse("udp://h:514").Accepts(c));
        Assert.False(Destination.Parse("udp://h:514?inventory=false").Accepts(c));
        Assert.False(Destination.Parse("udp://h:514?min_severity=7").Accepts(c));
        Assert.True(Destination.Parse("udp://h:514?types=asset_firmware_changed").Accepts(c));
        Assert.False(Destination.Parse("udp://h:514?types=modbus_request_flood").Accepts(c));
        Assert.Throws<ForwardConfigException>(() => Destination.Parse("udp://h:514?inventory=maybe"));
    }

    [Fact]
    public async Task ChangesFromARealStore_AreDeliveredOverTcpBesideAlerts_AndARestartResumesFromTheCursor()
    {
        using var dir = new TempDir();
        string db = dir.File("s.db");
        Replay(db, IdentityCapture.Write(dir.File("v1.pcap"), "Schneider Electric", "BMX P34 2020", "V2.1"));
        Replay(db, IdentityCapture.Write(dir.File("v2.pcap"), "Schneider Electric", "BMX P34 2020", "V3.0"));
        using var receiver = new OctetReceiver();
        var alerts = new MemoryOutbox();
        alerts.Add(Alerts.Make(1));
        alerts.Add(Alerts.Make(2));
        var d = Destination.Parse($"tcp://127.0.0.1:{receiver.Port}");
        using (var changes = InventoryChangeStore.Open(db))
        {
            await using var f = new Forwarder(alerts, d, Fast, changes: changes);
            using var cts = new CancellationTokenSource(Wait);
            await f.DrainAsync(cts.Token);
            Assert.Equal((2L, 3L), (f.Stats.Cursor, f.Stats.InventoryCursor));
            Assert.Equal(3, f.Stats.InventorySent);
            Assert.Equal(3, changes.GetCursor(d.Name));
        }
        var got = await receiver.WaitForAsync(5, Wait);
        var inventory = got.Where(m => m.Contains("cat=inventory", StringComparison.Ordinal)).Select(m => CefRecord.Parse(m)).ToList();
        Assert.Equal(["inv-1", "inv-2", "inv-3"], inventory.Select(c => c.Ext["externalId"]));
        Assert.Equal(["5401", "5401", "5404"], inventory.Select(c => c.Header[4]));
        Assert.Contains(got, m => m.Contains(" inventory - CEF:", StringComparison.Ordinal)); // RFC 5424 MSGID
        Assert.Equal(2, got.Count(m => m.Contains("cat=policy", StringComparison.Ordinal)));

        // A restart (new forwarder, new connection to the store) after another replay sends only the new change.
        Replay(db, IdentityCapture.Write(dir.File("v1.pcap"), "Schneider Electric", "BMX P34 2020", "V2.1"));
        using (var changes = InventoryChangeStore.Open(db))
        {
            await using var f = new Forwarder(alerts, d, Fast, changes: changes);
            using var cts = new CancellationTokenSource(Wait);
            await f.DrainAsync(cts.Token);
            Assert.Equal(1, f.Stats.Sent);
        }
        var after = await receiver.WaitForAsync(6, Wait);
        var last = CefRecord.Parse(after[^1]);
        Assert.Equal(("inv-4", "V3.0", "V2.1"), (last.Ext["externalId"], last.Custom("oldValue"), last.Custom("newValue")));
    }

    [Fact]
    public async Task ForwarderKilledMidway_ResumesFromTheInventoryCursor_WithNoneMissing()
    {
        using var dir = new TempDir();
        string db = dir.File("s.db");
        const int total = 60;
        using (InventoryStore.Open(db)) { }
        using (var c = new SqliteConnection($"Data Source={db};Pooling=False"))
        {
            c.Open();
            using var tx = c.BeginTransaction();
            InventoryChangeStore.Insert(c, tx, [.. Enumerable.Range(1, total).Select(i => Change(0, newValue: "V" + i.ToString(CultureInfo.InvariantCulture)))]);
            tx.Commit();
        }
        using var receiver = new OctetReceiver();
        var d = Destination.Parse($"tcp://127.0.0.1:{receiver.Port}");
        var slow = Options(batchSize: 5);
        using (var store = InventoryChangeStore.Open(db))
        {
            var gated = new GatedChanges(store, gateAt: 20);
            var first = new Forwarder(new MemoryOutbox(), d, slow, changes: gated);
            using var kill = new CancellationTokenSource();
            var run = Task.Run(() => first.RunAsync(kill.Token)); // never on the test thread: the gate would block it
            Assert.True(gated.Reached.Wait(Wait), "the forwarder never got past 20 changes");
            await kill.CancelAsync();
            gated.Release();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
            await first.DisposeAsync();
        }
        long resumedAt;
        using (var store = InventoryChangeStore.Open(db)) resumedAt = store.GetCursor(d.Name);
        Assert.InRange(resumedAt, 1, total - 1);

        using (var store = InventoryChangeStore.Open(db))
        {
            await using var second = new Forwarder(new MemoryOutbox(), d, slow, changes: store);
            using var cts = new CancellationTokenSource(Wait);
            await second.DrainAsync(cts.Token);
            Assert.Equal(total, store.GetCursor(d.Name));
            Assert.Equal(total - resumedAt, second.Stats.Sent); // resumed from the cursor, not from the start
        }
        var got = await receiver.WaitForAsync(total, Wait);
        var ids = got.Select(m => CefRecord.Parse(m).Ext["externalId"]).ToHashSet();
        for (int i = 1; i <= total; i++) Assert.Contains("inv-" + i.ToString(CultureInfo.InvariantCulture), ids);
    }

    [Fact]
    public async Task BacklogCountBound_AppliesToInventoryChanges_AndIsCounted()
    {
        var changes = new MemoryChanges();
        for (int i = 0; i < 10; i++) changes.Add(Change(0));
        using var receiver = new OctetReceiver();
        var d = Destination.Parse($"tcp://127.0.0.1:{receiver.Port}");
        var log = new ConcurrentQueue<string>();
        await using var f = new Forwarder(new MemoryOutbox(), d, Options(maxBacklog: 4), log: log.Enqueue, changes: changes);
        using var cts = new CancellationTokenSource(Wait);
        await f.DrainAsync(cts.Token);
        Assert.Equal((6L, 4L, 10L), (f.Stats.SkippedBacklog, f.Stats.InventorySent, changes.GetCursor(d.Name)));
        Assert.Contains(log, l => l.Contains("inventory changes exceeds the bound", StringComparison.Ordinal));
        var got = await receiver.WaitForAsync(4, Wait);
        Assert.Equal(["inv-7", "inv-8", "inv-9", "inv-10"], got.Select(m => CefRecord.Parse(m).Ext["externalId"]));
    }

    [Fact]
    public async Task InventoryFalse_PassesOverChanges_WithoutSendingThem()
    {
        var changes = new MemoryChanges();
        for (int i = 0; i < 3; i++) changes.Add(Change(0));
        var alerts = new MemoryOutbox();
        alerts.Add(Alerts.Make(1));
        using var receiver = new OctetReceiver();
        var d = Destination.Parse($"tcp://127.0.0.1:{receiver.Port}?inventory=false");
        await using var f = new Forwarder(alerts, d, Fast, changes: changes);
        using var cts = new CancellationTokenSource(Wait);
        await f.DrainAsync(cts.Token);
        Assert.Equal((1L, 0L, 3L, 3L), (f.Stats.Sent, f.Stats.InventorySent, f.Stats.Filtered, changes.GetCursor(d.Name)));
        Assert.Single(await receiver.WaitForAsync(1, Wait));
    }

    private static void Replay(string db, string capture)
    {
        using var s = InventoryStore.Open(db);
        InventoryHarness.Run([capture], s);
    }

    private static int CountOf(string s, string what)
    {
        int n = 0;
        for (int i = s.IndexOf(what, StringComparison.Ordinal); i >= 0; i = s.IndexOf(what, i + 1, StringComparison.Ordinal)) n++;
        return n;
    }

    private sealed class MemoryChanges : IInventoryChangeOutbox
    {
        private readonly List<InventoryChange> _all = [];
        private readonly Dictionary<string, long> _cursors = new(StringComparer.Ordinal);
        private readonly Lock _lock = new();

        public void Add(InventoryChange c)
        {
            lock (_lock)
            {
                c.Id = _all.Count + 1;
                _all.Add(c);
            }
        }

        public IReadOnlyList<InventoryChange> ReadAfter(long afterId, int max)
        {
            lock (_lock) return _all.Where(c => c.Id > afterId).Take(max).ToList();
        }

        public long GetCursor(string destination)
        {
            lock (_lock) return _cursors.GetValueOrDefault(destination);
        }

        public void SetCursor(string destination, long deliveredId)
        {
            lock (_lock) _cursors[destination] = Math.Max(_cursors.GetValueOrDefault(destination), deliveredId);
        }
    }

    /// <summary>Reads take 30 ms; once the forwarder asks past <paramref name="gateAt"/> it is held until released.</summary>
    private sealed class GatedChanges(IInventoryChangeOutbox inner, long gateAt) : IInventoryChangeOutbox
    {
        private readonly ManualResetEventSlim _released = new(false);

        public ManualResetEventSlim Reached { get; } = new(false);

        public void Release() => _released.Set();

        public IReadOnlyList<InventoryChange> ReadAfter(long afterId, int max)
        {
            Thread.Sleep(30);
            if (afterId >= gateAt)
            {
                Reached.Set();
                _released.Wait(TimeSpan.FromMinutes(5));
            }
            return inner.ReadAfter(afterId, max);
        }

        public long GetCursor(string destination) => inner.GetCursor(destination);

        public void SetCursor(string destination, long deliveredId) => inner.SetCursor(destination, deliveredId);
    }
}

/// <summary>A syslog receiver on 127.0.0.1 (TCP, octet counting as RFC 6587 / RFC 5425): every message it got, in order.</summary>
internal sealed class OctetReceiver : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentQueue<string> _messages = new();

    public OctetReceiver()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(AcceptLoop);
    }

    public int Port { get; }

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => Read(client));
        }
    }

    private async Task Read(TcpClient client)
    {
        using var c = client;
        var s = c.GetStream();
        var buf = new List<byte>();
        var chunk = new byte[8192];
        try
        {
            while (true)
            {
                int n = await s.ReadAsync(chunk, _stop.Token);
                if (n == 0) return;
                buf.AddRange(chunk.AsSpan(0, n).ToArray());
                while (true)
                {
                    int sp = buf.IndexOf((byte)' ');
                    if (sp <= 0) break;
                    int len = int.Parse(Encoding.ASCII.GetString([.. buf.GetRange(0, sp)]), CultureInfo.InvariantCulture);
                    if (buf.Count < sp + 1 + len) break;
                    _messages.Enqueue(Encoding.UTF8.GetString([.. buf.GetRange(sp + 1, len)]));
                    buf.RemoveRange(0, sp + 1 + len);
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
        }
    }

    public async Task<string[]> WaitForAsync(int count, TimeSpan timeout)
    {
        await Ports.WaitUntilAsync(() => _messages.Count >= count, timeout, $"{count} messages (got {_messages.Count})");
        return [.. _messages];
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _stop.Dispose();
    }
}
