using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using OtSensor.Core;
using OtSensor.Decoding;
using OtSensor.Flows;
using OtSensor.Benchmarks.Protocols;
using OtSensor.Pipeline;

namespace OtSensor.Benchmarks.Flows;

/// <summary>
/// Flow lookup, TCP reassembly and Modbus dissection (framing, decoding, checks, request/response matching) per
/// packet, on one long-lived polling connection; 0 B allocated per packet.
/// </summary>
[MemoryDiagnoser]
public class ModbusFlowBenchmarks
{
    private const int Pairs = 500;
    private const int Packets = Pairs * 2;
    private readonly byte[][] _frames = new byte[Packets][];
    private readonly DecodedPacket[] _decoded = new DecodedPacket[Packets];
    private FlowTable _table = null!;
    private CountingSink _sink = null!;
    private uint _pass;
    private long _packetNumber;
    private uint _requestBytesPerPass;
    private uint _responseBytesPerPass;

    [GlobalSetup]
    public void Setup()
    {
        uint cseq = 1000, sseq = 50000;
        for (int i = 0; i < Pairs; i++)
        {
            ushort tid = (ushort)i;
            byte[] req = [(byte)(tid >> 8), (byte)tid, 0, 0, 0, 6, 1, 3, 0, 100, 0, 10];
            var resp = new byte[9 + 20];
            resp[0] = (byte)(tid >> 8); resp[1] = (byte)tid; resp[5] = 23; resp[6] = 1; resp[7] = 3; resp[8] = 20;
            _frames[2 * i] = Frame(0x0A000001, 0x0A000002, 40000, 502, cseq, sseq, req);
            _frames[2 * i + 1] = Frame(0x0A000002, 0x0A000001, 502, 40000, sseq, cseq + (uint)req.Length, resp);
            cseq += (uint)req.Length;
            sseq += (uint)resp.Length;
        }
        _requestBytesPerPass = cseq - 1000;
        _responseBytesPerPass = sseq - 50000;
        for (int i = 0; i < Packets; i++) PacketDecoder.Decode(LinkType.Ethernet, _frames[i], ref _decoded[i]);
        _sink = new CountingSink();
        _table = new FlowTable(new FlowTableOptions(), new DissectorRegistry(new DissectorOptions(), _sink));
        Run(); // the flow is picked up mid-stream and warmed
    }

    [Benchmark(OperationsPerInvoke = Packets)]
    public long DissectModbusPolling() => Run();

    private long Run()
    {
        // Each pass continues the same TCP streams: shift sequence numbers by what one pass carries.
        uint c = _pass * _requestBytesPerPass, s = _pass * _responseBytesPerPass;
        _pass++;
        long now = 1_700_000_000L * PacketTime.NanosPerSecond + _pass * PacketTime.NanosPerSecond;
        for (int i = 0; i < Packets; i++)
        {
            var d = _decoded[i];
            bool toServer = (i & 1) == 0;
            d.Seq += toServer ? c : s;
            d.Ack += toServer ? s : c;
            _table.Process(in d, _frames[i], new PacketMeta(now + i * 1000L, ++_packetNumber));
        }
        return _sink.Transactions;
    }

    private static byte[] Frame(uint src, uint dst, ushort sport, ushort dport, uint seq, uint ack, byte[] payload)
    {
        var f = new byte[14 + 20 + 20 + payload.Length];
        f[12] = 0x08;
        var ip = f.AsSpan(14);
        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(40 + payload.Length));
        ip[8] = 64;
        ip[9] = 6;
        BinaryPrimitives.WriteUInt32BigEndian(ip[12..], src);
        BinaryPrimitives.WriteUInt32BigEndian(ip[16..], dst);
        var tcp = ip[20..];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sport);
        BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], dport);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(tcp[8..], ack);
        tcp[12] = 0x50;
        tcp[13] = 0x18;
        BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 8192);
        payload.CopyTo(tcp[20..]);
        return f;
    }
}
