using BenchmarkDotNet.Attributes;
using OtSensor.Core;
using OtSensor.Decoding;

namespace OtSensor.Benchmarks.Decoding;

/// <summary>L2-L4 decoding of the frames of a real Modbus/TCP capture: cost per packet, 0 B allocated.</summary>
[MemoryDiagnoser]
public class DecoderBenchmarks
{
    private const int Frames = 1000;
    private (LinkType Link, byte[] Data)[] _frames = [];
    private DecodedPacket _packet;

    [GlobalSetup]
    public void Setup()
    {
        var source = BenchData.Packets("modbus_pymodbus.pcap");
        _frames = [.. Enumerable.Range(0, Frames).Select(i => (source[i % source.Count].Link, source[i % source.Count].Data))];
    }

    [Benchmark(OperationsPerInvoke = Frames)]
    public int DecodeFrames()
    {
        int tcp = 0;
        var frames = _frames;
        for (int i = 0; i < frames.Length; i++)
        {
            PacketDecoder.Decode(frames[i].Link, frames[i].Data, ref _packet);
            if (_packet.Transport == TransportLayer.Tcp) tcp++;
        }
        return tcp;
    }
}
