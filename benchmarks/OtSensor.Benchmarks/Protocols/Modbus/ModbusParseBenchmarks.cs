using BenchmarkDotNet.Attributes;
using OtSensor.Protocols.Modbus;

namespace OtSensor.Benchmarks.Protocols.Modbus;

/// <summary>Framing, typed decoding and spec checks of Modbus ADUs (no flow, no matching): cost per ADU, 0 B allocated.</summary>
[MemoryDiagnoser]
public class ModbusParseBenchmarks
{
    private const int Adus = 8;
    private readonly byte[][] _requests =
    [
        [0, 1, 0, 0, 0, 6, 1, 3, 0, 100, 0, 10],
        [0, 2, 0, 0, 0, 6, 1, 1, 0, 0, 0, 16],
        [0, 3, 0, 0, 0, 6, 1, 6, 0, 10, 0x12, 0x34],
        [0, 4, 0, 0, 0, 11, 1, 16, 0, 20, 0, 2, 4, 0, 1, 0, 2],
    ];
    private readonly byte[][] _responses =
    [
        [0, 1, 0, 0, 0, 23, 1, 3, 20, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8, 0, 9, 0, 10],
        [0, 2, 0, 0, 0, 5, 1, 1, 2, 0xAA, 0x55],
        [0, 3, 0, 0, 0, 6, 1, 6, 0, 10, 0x12, 0x34],
        [0, 4, 0, 0, 0, 6, 1, 16, 0, 20, 0, 2],
    ];

    [Benchmark(OperationsPerInvoke = Adus)]
    public ulong FrameDecodeAndCheck()
    {
        ulong flags = 0;
        for (int i = 0; i < _requests.Length; i++)
        {
            var req = _requests[i];
            ModbusFraming.TryGetAduLength(req, out int len);
            var rs = ModbusPduReader.TryReadRequest(req.AsSpan(7, len - 7), out var r);
            flags |= ModbusValidation.CheckRequest(rs, in r);
            var resp = _responses[i];
            ModbusFraming.TryGetAduLength(resp, out len);
            var ps = ModbusPduReader.TryReadResponse(resp.AsSpan(7, len - 7), r.FunctionByte, out var p);
            flags |= ModbusValidation.CheckResponse(ps, in p, true, rs, in r);
        }
        return flags;
    }
}
