using BenchmarkDotNet.Attributes;
using OtSensor.Core;
using OtSensor.Flows;
using OtSensor.Protocols.Coap;

namespace OtSensor.Benchmarks.Protocols.Coap;

/// <summary>
/// CoAP session: decoding, options, CON/ACK and token matching with a piggybacked 2.05 response and the event's field
/// blob, per datagram; 0 B allocated per datagram.
/// </summary>
[MemoryDiagnoser]
public class CoapSessionBenchmarks
{
    private const int Pairs = 500;
    private readonly byte[][] _requests = new byte[Pairs][];
    private readonly byte[][] _responses = new byte[Pairs][];
    private readonly CountingSink _sink = new();
    private CoapSession _session = null!;
    private FlowContext _flow = null!;
    private long _packet;
    private long _pass;

    [GlobalSetup]
    public void Setup()
    {
        _flow = new FlowContext
        {
            FlowId = 1, Transport = OtSensor.Decoding.TransportLayer.Udp, ClientIp = IpAddr.Parse("10.0.0.1"), ClientPort = 40000,
            ServerIp = IpAddr.Parse("10.0.0.2"), ServerPort = 5683,
        };
        _session = new CoapSession(_sink, new CoapOptions());
        for (int i = 0; i < Pairs; i++)
        {
            byte mh = (byte)(i >> 8), ml = (byte)i;
            // CON GET /sensors/temp, token 2 bytes; ACK 2.05 Content-Format 0 with a payload.
            _requests[i] = [0x42, 0x01, mh, ml, 0xA1, (byte)i, 0xB7, .. "sensors"u8, 0x04, .. "temp"u8];
            _responses[i] = [0x62, 0x45, mh, ml, 0xA1, (byte)i, 0xC0, 0xFF, .. "21.5"u8];
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs * 2)]
    public long GetWithPiggybackedResponse()
    {
        // Each pass starts after the exchange lifetime of the previous one, so message ids may repeat.
        long ts = ++_pass * 300 * PacketTime.NanosPerSecond;
        for (int i = 0; i < Pairs; i++)
        {
            _session.OnDatagram(_flow, Direction.ToServer, _requests[i], new PacketMeta(ts + i * 1000, ++_packet));
            _session.OnDatagram(_flow, Direction.ToClient, _responses[i], new PacketMeta(ts + i * 1000 + 500, ++_packet));
        }
        _session.OnTick(_flow, ts + Pairs * 1000 + 1000);
        return _sink.Transactions;
    }
}
