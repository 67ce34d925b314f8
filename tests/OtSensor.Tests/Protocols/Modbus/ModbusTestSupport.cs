using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;
using OtSensor.Protocols.Modbus;

namespace OtSensor.Tests.Protocols.Modbus;

/// <summary>A transaction as the sink saw it, with copies of the spans.</summary>
internal sealed record RecordedTransaction(TransactionRecord Record, byte[] Request, byte[] Response);

/// <summary>An IEventSink that keeps everything (copies the spans, which are only valid during the call).</summary>
internal sealed class RecordingSink : IEventSink
{
    public List<RecordedTransaction> Transactions { get; } = [];

    public List<AnomalyRecord> Anomalies { get; } = [];

    public void Transaction(FlowContext flow, in TransactionRecord transaction, ReadOnlySpan<byte> request, ReadOnlySpan<byte> response)
        => Transactions.Add(new RecordedTransaction(transaction, request.ToArray(), response.ToArray()));

    public void Anomaly(FlowContext flow, in AnomalyRecord anomaly) => Anomalies.Add(anomaly);

    public IEnumerable<ModbusAnomaly> AnomalyIds => Anomalies.Select(a => (ModbusAnomaly)a.AnomalyId);
}

internal static class ModbusTestData
{
    public static byte[] Hex(string hex) => Convert.FromHexString(hex.Replace(" ", string.Empty, StringComparison.Ordinal));

    public static FlowContext Flow(ushort serverPort = 502) => new()
    {
        FlowId = 1,
        Transport = TransportLayer.Tcp,
        ClientIp = IpAddr.Parse("10.0.0.1"),
        ClientPort = 47785,
        ServerIp = IpAddr.Parse("10.0.0.2"),
        ServerPort = serverPort,
        OrientationFromHandshake = true,
    };

    public static PacketMeta Meta(long packet, long ts = 0) => new(ts == 0 ? packet * 1_000_000 : ts, packet);

    /// <summary>Request / response ADU pairs from cisagov ICSNPP's modbus_example.pcap (tshark tcp.payload).</summary>
    public static readonly (string Request, string Response)[] CapturePairs =
    [
        ("000100000006040100010001", "00010000000404010101"),
        ("000200000006050100010008", "000200000004050101e9"),
        ("000300000006040200010001", "00030000000404020100"),
        ("000400000006050200010008", "0004000000040502012c"),
        ("000500000006040300010001", "00050000000504030200aa"),
        ("000600000006050300010008", "00060000001305031000aa00aa00bb00ccef84e3eb9f8be4c1"),
        ("000700000006040400010001", "0007000000050404028e2b"),
        ("000800000006050400010008", "0008000000130504108e2b1f7b9b4b82511bfadb8f026bae97"),
        ("00090000000606050001ff00", "00090000000606050001ff00"),
        ("000a0000000607060001abcd", "000a0000000607060001abcd"),
        ("000b000000020207", "000b00000003020700"),
        ("000c00000006020800020000", "000c00000006020800020000"),
        ("000d00000008070f000100040109", "000d00000006070f00010004"),
        ("000e0000000f0710000100040800aa00bb00cc00dd", "000e00000006071000010004"),
        ("000f000000020211", "000f000000350211325a65656b204d6f6462757320546573742d50726f746f636f6c2050617273696e672069732066756e212d312e322e332e36ff"),
        ("0012000000080416000adead0000", "0012000000080416000adead0000"),
        ("0013000000080416000affffdead", "0013000000080416000affffdead"),
        ("00140000000d061700010001000200010200ff", "00140000000506170200aa"),
        ("001500000011061700010004000200030600aa00bb00cc", "00150000000b06170800aa00aa00bb00cc"),
        ("0016000000040a180000", "0016000000060a1800020000"),
        ("001700000005012b0e0100", "00170000003d012b0e018300000300105a65656b204d6f646275732054657374011850726f746f636f6c2050617273696e672069732066756e210207312e322e332e36"),
        ("00010000000600030258000a", "000100000003008302"),
    ];

    /// <summary>Builds an ADU from a tid, unit and PDU hex (MBAP length computed).</summary>
    public static byte[] Adu(ushort tid, byte unit, string pduHex)
    {
        var pdu = Hex(pduHex);
        var adu = new byte[7 + pdu.Length];
        adu[0] = (byte)(tid >> 8);
        adu[1] = (byte)tid;
        int len = pdu.Length + 1;
        adu[4] = (byte)(len >> 8);
        adu[5] = (byte)len;
        adu[6] = unit;
        pdu.CopyTo(adu, 7);
        return adu;
    }

    public static (ModbusSession Session, RecordingSink Sink, FlowContext Flow) NewSession(ModbusOptions? options = null)
    {
        var sink = new RecordingSink();
        return (new ModbusSession(sink, options ?? new ModbusOptions()), sink, Flow());
    }
}
