using System.Globalization;
using System.Text.Json;
using OtSensor.Core;
using OtSensor.Pipeline;
using OtSensor.Protocols.Modbus;

namespace OtSensor.Output;

/// <summary>Modbus/TCP part of the replay summary: PDUs by function and exception, unanswered requests, devices.</summary>
public sealed class ModbusReport
{
    private readonly long[] _requests = new long[128];
    private readonly long[] _responses = new long[128];
    private readonly long[] _exceptionsByFunction = new long[128];
    private readonly long[] _exceptions = new long[256];
    private readonly long[] _anomalies = new long[64];
    private readonly Dictionary<(IpAddr Ip, ushort Port), ModbusDevice> _devices = new();
    private readonly List<ModbusDevice> _deviceList = [];
    private const int DeviceCacheSize = 4093;
    private readonly ModbusDevice?[] _deviceCache = new ModbusDevice?[DeviceCacheSize];

    public long Transactions { get; private set; }
    public long Requests { get; private set; }
    public long Responses { get; private set; }
    public long Unanswered { get; private set; }
    public long Unsolicited { get; private set; }

    /// <summary>Devices in address order.</summary>
    public IReadOnlyList<ModbusDevice> Devices
    {
        get
        {
            var list = new List<ModbusDevice>(_deviceList);
            list.Sort(static (a, b) =>
            {
                int c = a.Ip.CompareTo(b.Ip);
                return c != 0 ? c : a.Port.CompareTo(b.Port);
            });
            return list;
        }
    }

    /// <summary>Request PDUs per (7-bit) function code.</summary>
    public long RequestsFor(int function) => _requests[function & 0x7F];
    /// <summary>Response PDUs (normal and exception) per (7-bit) function code.</summary>
    public long ResponsesFor(int function) => _responses[function & 0x7F];
    public long ExceptionsFor(int code) => _exceptions[code & 0xFF];
    public long AnomalyCount(ModbusAnomaly a) => _anomalies[(int)a];

    public void OnEvent(in EventEntry entry, EventBuffer buffer)
    {
        if (entry.Kind == EventKind.Anomaly)
        {
            int id = entry.Anomaly.AnomalyId;
            if ((uint)id < 64) _anomalies[id]++;
            return;
        }
        ref readonly var tx = ref entry.Transaction;
        Transactions++;
        for (ulong m = tx.Anomalies; m != 0; m &= m - 1) _anomalies[System.Numerics.BitOperations.TrailingZeroCount(m)]++;

        var req = buffer.Slice(entry.RequestOffset, entry.RequestLength);
        var resp = buffer.Slice(entry.ResponseOffset, entry.ResponseLength);
        byte unit = 0;
        if (tx.HasRequest && req.Length >= 8)
        {
            Requests++;
            _requests[req[7] & 0x7F]++;
            unit = req[6];
        }
        if (tx.HasResponse && resp.Length >= 8)
        {
            Responses++;
            byte fc = resp[7];
            _responses[fc & 0x7F]++;
            unit = resp[6];
            if ((fc & 0x80) != 0 && resp.Length >= 9)
            {
                _exceptions[resp[8]]++;
                _exceptionsByFunction[fc & 0x7F]++;
            }
        }
        if (tx.HasRequest && !tx.HasResponse) Unanswered++;
        if (!tx.HasRequest && tx.HasResponse) Unsolicited++;

        // Events of many flows interleave: a small cache by flow id (checked against the address, so always right)
        // spares the dictionary lookup on nearly every event.
        ref var cached = ref _deviceCache[(int)((ulong)entry.Flow.FlowId % DeviceCacheSize)];
        var dev = cached;
        if (dev is null || dev.Ip != entry.Flow.ServerIp || dev.Port != entry.Flow.ServerPort)
        {
            var key = (entry.Flow.ServerIp, entry.Flow.ServerPort);
            if (!_devices.TryGetValue(key, out dev))
            {
                dev = new ModbusDevice(entry.Flow.ServerIp, entry.Flow.ServerPort);
                _devices.Add(key, dev);
                _deviceList.Add(dev);
            }
            cached = dev;
        }
        dev.AddClient(entry.Flow.ClientIp);
        if (tx.HasResponse) dev.AddUnit(unit);
        else if (tx.HasRequest) dev.AddUnitAsked(unit);
        if (tx.HasResponse && resp.Length > 8) dev.OnResponse(unit, resp[7..]);
    }

    public void WriteText(TextWriter w)
    {
        var ci = CultureInfo.InvariantCulture;
        w.WriteLine("== Modbus/TCP");
        w.WriteLine(string.Create(ci, $"  transactions {Transactions:N0} (request PDUs {Requests:N0}, response PDUs {Responses:N0}), unanswered requests {Unanswered:N0}, unsolicited responses {Unsolicited:N0}"));
        if (Transactions == 0 && _deviceList.Count == 0) return;
        w.WriteLine("  by function code:        requests  responses  exceptions");
        for (int fc = 0; fc < 128; fc++)
        {
            if (_requests[fc] == 0 && _responses[fc] == 0) continue;
            w.WriteLine(string.Create(ci, $"    {fc,3} {ModbusFunctions.Name((byte)fc),-30} {_requests[fc],9:N0} {_responses[fc],10:N0} {_exceptionsByFunction[fc],11:N0}"));
        }
        bool anyEx = false;
        for (int c = 0; c < 256; c++)
        {
            if (_exceptions[c] == 0) continue;
            if (!anyEx) w.WriteLine("  exceptions by code:");
            anyEx = true;
            w.WriteLine(string.Create(ci, $"    {c,3} {ModbusFunctions.ExceptionName((byte)c) ?? "UNDEFINED",-40} {_exceptions[c],9:N0}"));
        }
        bool anyAn = false;
        for (int a = 1; a < 64; a++)
        {
            if (_anomalies[a] == 0) continue;
            if (!anyAn) w.WriteLine("  anomalies:");
            anyAn = true;
            w.WriteLine(string.Create(ci, $"    {ModbusAnomalies.Info((ModbusAnomaly)a).Id,-40} {_anomalies[a],9:N0}"));
        }
        w.WriteLine(string.Create(ci, $"  devices ({_devices.Count}):"));
        foreach (var d in Devices)
        {
            string never = string.Join(",", d.UnitsNeverAnswered);
            string silent = never.Length > 0 ? $"  never answered [{never}]" : "";
            w.WriteLine(string.Create(ci, $"    {d.Ip}:{d.Port}  units [{string.Join(",", d.Units)}]{silent}  clients [{string.Join(", ", d.SortedClients())}]"));
            for (int i = 0; i < d.IdentityCount; i++)
            {
                w.WriteLine(string.Create(ci, $"      unit {d.IdentityUnit(i)}: {d.IdentityAt(i).Describe()}"));
            }
        }
    }

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteNumber("transactions", Transactions);
        w.WriteNumber("request_pdus", Requests);
        w.WriteNumber("response_pdus", Responses);
        w.WriteNumber("unanswered_requests", Unanswered);
        w.WriteNumber("unsolicited_responses", Unsolicited);
        w.WriteStartObject("by_function");
        for (int fc = 0; fc < 128; fc++)
        {
            if (_requests[fc] == 0 && _responses[fc] == 0) continue;
            w.WriteStartObject(fc.ToString(CultureInfo.InvariantCulture));
            w.WriteString("name", ModbusFunctions.Name((byte)fc));
            w.WriteNumber("requests", _requests[fc]);
            w.WriteNumber("responses", _responses[fc]);
            w.WriteNumber("exceptions", _exceptionsByFunction[fc]);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteStartObject("exceptions");
        for (int c = 0; c < 256; c++)
        {
            if (_exceptions[c] == 0) continue;
            w.WriteStartObject(c.ToString(CultureInfo.InvariantCulture));
            w.WriteString("name", ModbusFunctions.ExceptionName((byte)c) ?? "UNDEFINED");
            w.WriteNumber("count", _exceptions[c]);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteStartObject("anomalies");
        for (int a = 1; a < 64; a++)
            if (_anomalies[a] != 0) w.WriteNumber(ModbusAnomalies.Info((ModbusAnomaly)a).Id, _anomalies[a]);
        w.WriteEndObject();
        w.WriteStartArray("devices");
        foreach (var d in Devices)
        {
            d.WriteJson(w);
            ReplayReport.FlushIfLarge(w);
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}

/// <summary>A Modbus server seen on the network, with the unit ids behind it and their identities.</summary>
public sealed class ModbusDevice(IpAddr ip, ushort port)
{
    public IpAddr Ip { get; } = ip;
    public ushort Port { get; } = port;
    private readonly ulong[] _units = new ulong[4];
    private readonly ulong[] _unitsAsked = new ulong[4];
    private readonly HashSet<IpAddr> _clients = [];
    private IpAddr _lastClient;

    /// <summary>Unit ids that answered, ascending.</summary>
    public IEnumerable<byte> Units => Bits(_units, null);
    /// <summary>Unit ids that were asked but never answered, ascending.</summary>
    public IEnumerable<byte> UnitsNeverAnswered => Bits(_unitsAsked, _units);
    public IEnumerable<IpAddr> Clients => SortedClients();

    internal void AddUnit(byte unit) => _units[unit >> 6] |= 1UL << (unit & 63);
    internal void AddUnitAsked(byte unit) => _unitsAsked[unit >> 6] |= 1UL << (unit & 63);

    internal void AddClient(IpAddr client)
    {
        if (client == _lastClient && _clients.Count > 0) return;
        _clients.Add(client);
        _lastClient = client;
    }

    /// <summary>The clients in address order.</summary>
    internal IpAddr[] SortedClients() => AddressOrder.Sorted(_clients);

    /// <summary>Unit ids set in <paramref name="set"/> and not in <paramref name="except"/>, ascending.</summary>
    private static IEnumerable<byte> Bits(ulong[] set, ulong[]? except)
    {
        for (int u = 0; u < 256; u++)
        {
            ulong bit = 1UL << (u & 63);
            if ((set[u >> 6] & bit) != 0 && (except is null || (except[u >> 6] & bit) == 0)) yield return (byte)u;
        }
    }

    // Identities by ascending unit id: plain arrays rather than a SortedDictionary<byte, ModbusIdentity>, whose generic
    // code is compiled when the summary starts and ran unoptimised for each of thousands of devices.
    private byte[] _identityUnits = [];
    private ModbusIdentity[] _identities = [];

    /// <summary>The units' identities, by ascending unit id.</summary>
    public IEnumerable<KeyValuePair<byte, ModbusIdentity>> Identities
    {
        get
        {
            for (int i = 0; i < IdentityCount; i++) yield return new KeyValuePair<byte, ModbusIdentity>(_identityUnits[i], _identities[i]);
        }
    }

    internal int IdentityCount { get; private set; }
    internal byte IdentityUnit(int i) => _identityUnits[i];
    internal ModbusIdentity IdentityAt(int i) => _identities[i];

    private ModbusIdentity IdentityFor(byte unit)
    {
        int at = 0;
        while (at < IdentityCount && _identityUnits[at] < unit) at++;
        if (at < IdentityCount && _identityUnits[at] == unit) return _identities[at];
        if (IdentityCount == _identities.Length)
        {
            int size = Math.Max(2, IdentityCount * 2);
            Array.Resize(ref _identityUnits, size);
            Array.Resize(ref _identities, size);
        }
        Array.Copy(_identityUnits, at, _identityUnits, at + 1, IdentityCount - at);
        Array.Copy(_identities, at, _identities, at + 1, IdentityCount - at);
        var id = new ModbusIdentity();
        _identityUnits[at] = unit;
        _identities[at] = id;
        IdentityCount++;
        return id;
    }

    internal void OnResponse(byte unit, ReadOnlySpan<byte> pdu)
    {
        if (pdu.Length < 2 || pdu[0] != 43 || pdu[1] != ModbusFunctions.MeiReadDeviceIdentification) return;
        IdentityFor(unit).Add(pdu);
    }

    private static void WriteUnits(Utf8JsonWriter w, ulong[] set, ulong[]? except)
    {
        for (int u = 0; u < 256; u++)
        {
            ulong bit = 1UL << (u & 63);
            if ((set[u >> 6] & bit) != 0 && (except is null || (except[u >> 6] & bit) == 0)) w.WriteNumberValue(u);
        }
    }

    private static readonly JsonEncodedText UnitIdsName = JsonEncodedText.Encode("unit_ids");
    private static readonly JsonEncodedText UnitIdsNeverAnsweredName = JsonEncodedText.Encode("unit_ids_never_answered");
    private static readonly JsonEncodedText IdentitiesName = JsonEncodedText.Encode("identities");
    private static readonly JsonEncodedText UnitName = JsonEncodedText.Encode("unit");

    internal void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        SummaryJson.WriteIp(w, SummaryJson.ServerIp, Ip);
        w.WriteNumber(SummaryJson.ServerPort, Port);
        w.WriteStartArray(UnitIdsName);
        WriteUnits(w, _units, null);
        w.WriteEndArray();
        w.WriteStartArray(UnitIdsNeverAnsweredName);
        WriteUnits(w, _unitsAsked, _units);
        w.WriteEndArray();
        w.WriteStartArray(SummaryJson.Clients);
        foreach (var c in SortedClients()) SummaryJson.WriteIpValue(w, c);
        w.WriteEndArray();
        w.WriteStartArray(IdentitiesName);
        for (int i = 0; i < IdentityCount; i++)
        {
            w.WriteStartObject();
            w.WriteNumber(UnitName, _identityUnits[i]);
            _identities[i].WriteFields(w);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
