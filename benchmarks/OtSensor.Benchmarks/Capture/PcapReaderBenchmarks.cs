using BenchmarkDotNet.Attributes;
using OtSensor.Capture;
using OtSensor.Core;

namespace OtSensor.Benchmarks.Capture;

/// <summary>Reading pcap records from memory: cost per packet, and 0 B allocated per packet.</summary>
[MemoryDiagnoser]
public class PcapReaderBenchmarks
{
    private const int Packets = 100_000;
    private byte[] _file = [];

    [GlobalSetup]
    public void Setup()
    {
        var source = BenchData.Packets("modbus_pymodbus.pcap");
        using var ms = new MemoryStream();
        using (var w = new PcapWriter(ms, LinkType.Ethernet, leaveOpen: true))
        {
            for (int i = 0; i < Packets; i++)
            {
                var (ts, _, data) = source[i % source.Count];
                w.WritePacket(ts + i, data);
            }
        }
        _file = ms.ToArray();
    }

    [Benchmark(OperationsPerInvoke = Packets)]
    public long ReadAllPackets()
    {
        using var r = new CaptureFileReader(new MemoryStream(_file, writable: false), "bench");
        long bytes = 0;
        while (r.TryReadPacket(out var p)) bytes += p.Data.Length;
        return bytes;
    }
}
