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
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
