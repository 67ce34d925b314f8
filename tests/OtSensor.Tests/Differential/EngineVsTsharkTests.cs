using OtSensor.Tests.Pipeline;
using Xunit.Abstractions;

namespace OtSensor.Tests.Differential;

/// <summary>
/// Differential tests of our replay engine against the reference dissector (tshark) and against the generator's
/// ground truth: Modbus PDU counts per function code, exceptions per code, and the (transaction id, unit, direction)
/// multiset. Every documented difference says why tshark is wrong or why we differ.
/// </summary>
public class EngineVsTsharkTests(ITestOutputHelper output)
{
    internal static Dictionary<int, int> OurPdus(ReplayRun run)
    {
        var d = new Dictionary<int, int>();
        for (int fc = 0; fc < 128; fc++)
        {
            long n = run.Report.Modbus.RequestsFor(fc) + run.Report.Modbus.ResponsesFor(fc);
            if (n > 0) d[fc] = (int)n;
        }
        return d;
    }

    internal static Dictionary<int, int> OurExceptions(ReplayRun run)
    {
        var d = new Dictionary<int, int>();
        for (int c = 0; c < 256; c++)
        {
            long n = run.Report.Modbus.ExceptionsFor(c);
            if (n > 0) d[c] = (int)n;
        }
        return d;
    }

    internal static Dictionary<ModbusAduKey, int> OurAdus(ReplayRun run)
    {
        var d = new Dictionary<ModbusAduKey, int>();
        foreach (var (tid, unit, req, resp) in run.Transactions)
        {
            if (req) Inc(new ModbusAduKey(tid, unit, ModbusDirection.Request));
            if (resp) Inc(new ModbusAduKey(tid, unit, ModbusDirection.Response));
        }
        return d;

        void Inc(ModbusAduKey k) => d[k] = d.GetValueOrDefault(k) + 1;
    }

    private static string FormatAdus(IReadOnlyDictionary<ModbusAduKey, int> adus)
        => string.Join(";", adus.OrderBy(a => a.Key.TransactionId).ThenBy(a => a.Key.UnitId).ThenBy(a => a.Key.Direction).Select(a => $"{a.Key}x{a.Value}"));

    public static TheoryData<string> ManifestFiles() => CaptureGroundTruthTests.ManifestFiles();

    [Theory]
    [MemberData(nameof(ManifestFiles))]
    public void Engine_CountsWhatTheGeneratorSent(string file)
    {
        var entry = CaptureManifest.Get(file);
        var run = ReplayHarness.Run([TestPaths.Capture(file)]);
        output.WriteLine($"ours: {ModbusReference.Format(OurPdus(run))} exceptions {ModbusReference.Format(OurExceptions(run))}");
        Assert.Equal(ModbusReference.Format(entry.PdusByFunctionCode), ModbusReference.Format(OurPdus(run)));
        Assert.Equal(ModbusReference.Format(entry.ExceptionsByCode), ModbusReference.Format(OurExceptions(run)));
        Assert.Equal(entry.Requests, run.Report.Modbus.Requests);
        Assert.Equal(entry.Responses, run.Report.Modbus.Responses);
    }

    [Theory]
    [MemberData(nameof(ManifestFiles))]
    public void Engine_AgreesWithTshark_OnProjectCaptures(string file)
    {
        if (!TsharkReference.EnsureAvailable(output)) return;
        var entry = CaptureManifest.Get(file);
        var reference = TsharkReference.Modbus(TestPaths.Capture(file));
        var run = ReplayHarness.Run([TestPaths.Capture(file)]);
        if (entry.HasTsharkAdjustments)
        {
            // tshark is wrong on these crafted cases (documented per case in MANIFEST.json "tshark_note" and
            // captures/README.md): we must equal tshark's counts minus its documented mistakes.
            var ours = OurPdus(run);
            foreach (var (fc, n) in entry.TsharkAdjustPdus) ours[fc] = ours.GetValueOrDefault(fc) + n;
            foreach (var k in ours.Where(kv => kv.Value == 0).Select(kv => kv.Key).ToList()) ours.Remove(k);
            Assert.Equal(ModbusReference.Format(reference.PdusByFunctionCode), ModbusReference.Format(ours));
            return;
        }
        Assert.Equal(ModbusReference.Format(reference.PdusByFunctionCode), ModbusReference.Format(OurPdus(run)));
        Assert.Equal(ModbusReference.Format(reference.ExceptionsByCode), ModbusReference.Format(OurExceptions(run)));
        Assert.Equal(FormatAdus(reference.Adus), FormatAdus(OurAdus(run)));
    }

    public static TheoryData<string, string> PublicModbusCaptures() => PublicCorpusReferenceTests.PublicModbusCaptures();

    /// <summary>Public captures where tshark is demonstrably wrong: what we see in addition to tshark, and why.</summary>
    private static readonly Dictionary<string, (Dictionary<int, int> ExtraPdus, Dictionary<int, int> ExtraExceptions, string Why)> KnownTsharkMistakes = new()
    {
        ["zeek/Traces/modbus/fuzz-72.pcap"] = (
            new() { [47] = 1, [51] = 1, [53] = 1, [54] = 1, [58] = 1, [59] = 1, [66] = 1 },
            new() { [1] = 6 },
            "tshark marks frames 19, 21, 23, 25, 26, 27 and 32 as (spurious) retransmissions and does not dissect them, " +
            "but their sequence ranges were never carried by an earlier segment (frame 12's fuzzed seq 131153 and an ACK " +
            "covering unseen client bytes mislead its analysis): the bytes are new, we reassemble and dissect them. " +
            "The transaction-id multiset differs by the same ADUs."),
    };

    [Theory]
    [MemberData(nameof(PublicModbusCaptures))]
    public void Engine_AgreesWithTshark_OnPublicCaptures(string folder, string file)
    {
        if (!TsharkReference.EnsureAvailable(output)) return;
        string path = Path.Combine(TestPaths.SharedPublicDir, folder, file);
        var reference = TsharkReference.Modbus(path);
        var run = ReplayHarness.Run([path]);
        output.WriteLine($"tshark: {reference}");
        output.WriteLine($"ours:   {ModbusReference.Format(OurPdus(run))} exceptions {ModbusReference.Format(OurExceptions(run))}");
        Assert.Equal(0, run.InternalErrors);
        if (KnownTsharkMistakes.TryGetValue($"{folder}/{file}", out var known))
        {
            output.WriteLine("documented difference: " + known.Why);
            Assert.Equal(ModbusReference.Format(Plus(reference.PdusByFunctionCode, known.ExtraPdus)), ModbusReference.Format(OurPdus(run)));
            Assert.Equal(ModbusReference.Format(Plus(reference.ExceptionsByCode, known.ExtraExceptions)), ModbusReference.Format(OurExceptions(run)));
            return;
        }
        Assert.Equal(ModbusReference.Format(reference.PdusByFunctionCode), ModbusReference.Format(OurPdus(run)));
        Assert.Equal(ModbusReference.Format(reference.ExceptionsByCode), ModbusReference.Format(OurExceptions(run)));
        Assert.Equal(FormatAdus(reference.Adus), FormatAdus(OurAdus(run)));
    }

    private static Dictionary<int, int> Plus(IReadOnlyDictionary<int, int> a, Dictionary<int, int> b)
    {
        var r = new Dictionary<int, int>(a);
        foreach (var (k, v) in b) r[k] = r.GetValueOrDefault(k) + v;
        return r;
    }
}
