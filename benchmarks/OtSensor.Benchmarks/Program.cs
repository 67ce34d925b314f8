using BenchmarkDotNet.Running;
using OtSensor.Benchmarks.Tools;

namespace OtSensor.Benchmarks;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "make-capture")
        {
            // make-capture OUT MIN_PACKETS SOURCE...
            if (args.Length < 4)
            {
                Console.Error.WriteLine("usage: make-capture OUT MIN_PACKETS SOURCE [SOURCE...]");
                return 2;
            }
            long n = LargeCaptureBuilder.Build(args[3..], args[1], long.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture));
            Console.WriteLine($"wrote {n} packets to {args[1]}");
            return 0;
        }
        if (args.Length > 0 && args[0] == "replay-stages")
        {
            // replay-stages bare|memory|store CAPTURE [STORE]: what the inventory and the store cost, by phase.
            return args.Length < 3 ? Tools.ReplayStages.Run("", "", null) : Tools.ReplayStages.Run(args[1], args[2], args.Length > 3 ? args[3] : null);
        }
        if (args.Length > 0 && args[0] == "selftest")
        {
            // One operation of each dissection benchmark, printing what it produced: proves they measure real work.
            var modbus = new Flows.ModbusFlowBenchmarks();
            modbus.Setup();
            var mqtt = new Protocols.Mqtt.MqttSessionBenchmarks();
            mqtt.Setup();
            var coap = new Protocols.Coap.CoapSessionBenchmarks();
            coap.Setup();
            long m0 = modbus.DissectModbusPolling(), q0 = mqtt.PublishQos1WithPuback(), c0 = coap.GetWithPiggybackedResponse();
            long m1 = modbus.DissectModbusPolling(), q1 = mqtt.PublishQos1WithPuback(), c1 = coap.GetWithPiggybackedResponse();
            Console.WriteLine($"transactions per operation: modbus {m1 - m0}, mqtt {q1 - q0}, coap {c1 - c0}");
            return m1 - m0 == 500 && q1 - q0 == 500 && c1 - c0 == 500 ? 0 : 1;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
