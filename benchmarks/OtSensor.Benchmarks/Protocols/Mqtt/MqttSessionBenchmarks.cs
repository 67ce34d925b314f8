using System.Text;
using BenchmarkDotNet.Attributes;
using OtSensor.Core;
using OtSensor.Flows;
using OtSensor.Protocols.Mqtt;

namespace OtSensor.Benchmarks.Protocols.Mqtt;

/// <summary>
/// MQTT 3.1.1 session: framing, decoding, QoS 1 PUBLISH/PUBACK matching and the event's field blob, per packet,
/// on one connection; 0 B allocated per packet.
/// </summary>
[MemoryDiagnoser]
public class MqttSessionBenchmarks
{
    private const int Pairs = 500;
    private readonly byte[][] _publishes = new byte[Pairs][];
    private readonly byte[][] _acks = new byte[Pairs][];
    private readonly CountingSink _sink = new();
    private MqttSession _session = null!;
    private FlowContext _flow = null!;
    private long _packet;

    [GlobalSetup]
    public void Setup()
    {
        _flow = new FlowContext
        {
            FlowId = 1, Transport = OtSensor.Decoding.TransportLayer.Tcp, ClientIp = IpAddr.Parse("10.0.0.1"), ClientPort = 40000,
            ServerIp = IpAddr.Parse("10.0.0.2"), ServerPort = 1883, OrientationFromHandshake = true,
        };
        _session = new MqttSession(_sink, new MqttOptions());
        byte[] connect = [0x10, 0x12, 0x00, 0x04, .. "MQTT"u8, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x06, .. "bench1"u8];
        _session.OnStreamData(_flow, Direction.ToServer, connect, new PacketMeta(1, ++_packet));
        _session.OnStreamData(_flow, Direction.ToClient, [0x20, 0x02, 0x00, 0x00], new PacketMeta(2, ++_packet));
        var topic = Encoding.ASCII.GetBytes("plant/line1/temperature");
        var payload = Encoding.ASCII.GetBytes("{\"value\":21.5,\"unit\":\"C\"}");
        for (int i = 0; i < Pairs; i++)
        {
            ushort id = (ushort)(i + 1);
            int remaining = 2 + topic.Length + 2 + payload.Length;
            _publishes[i] = [0x32, (byte)remaining, (byte)(topic.Length >> 8), (byte)topic.Length, .. topic, (byte)(id >> 8), (byte)id, .. payload];
            _acks[i] = [0x40, 0x02, (byte)(id >> 8), (byte)id];
        }
    }

    [Benchmark(OperationsPerInvoke = Pairs * 2)]
    public long PublishQos1WithPuback()
    {
        long ts = _packet * 1000;
        for (int i = 0; i < Pairs; i++)
        {
            _session.OnStreamData(_flow, Direction.ToServer, _publishes[i], new PacketMeta(ts + i * 10, ++_packet));
            _session.OnStreamData(_flow, Direction.ToClient, _acks[i], new PacketMeta(ts + i * 10 + 5, ++_packet));
        }
        return _sink.Transactions;
    }
}
