using Xunit.Abstractions;

namespace OtSensor.Tests.Differential;

/// <summary>
/// tshark (the reference dissector) must see in each of our own captures exactly what the
/// generator (captures/generate.sh) says it sent, apart from the per-case differences the generator
/// documents (MANIFEST.json cases[].tshark_note / tshark_adjust, e.g. protocol id != 0 is not
/// Modbus for Wireshark, out-of-order segments are not reordered by tshark 4.0).
/// </summary>
public class CaptureGroundTruthTests(ITestOutputHelper output)
{
    public static TheoryData<string> ManifestFiles()
    {
        var data = new TheoryData<string>();
        foreach (var e in CaptureManifest.Entries)
        {
            data.Add(e.File);
        }

        return data;
    }

    [Fact]
    public void Manifest_ListsEveryCaptureInTheCapturesFolder()
    {
        var onDisk = Directory.EnumerateFiles(TestPaths.CapturesDir)
            .Select(p => Path.GetFileName(p))
            .Where(n => n.EndsWith(".pcap", StringComparison.Ordinal) || n.EndsWith(".pcapng", StringComparison.Ordinal)
                        || n.EndsWith(".pcap.gz", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .ToList();
        var listed = CaptureManifest.AllFiles.Order(StringComparer.Ordinal).ToList();
        Assert.Equal(onDisk, listed);
    }

    [Fact]
    public void Manifest_CraftedCasesCoverEveryAnomalyId()
    {
        var ids = new[]
        {
            "modbus_invalid_protocol_id", "modbus_length_mismatch", "modbus_oversize_pdu",
            "modbus_invalid_function_code", "modbus_illegal_quantity", "modbus_invalid_coil_value",
            "modbus_non_modbus_on_port", "modbus_unsolicited_response", "modbus_response_mismatch",
            "modbus_stream_resync",
        };
        var raised = CaptureManifest.Get("modbus_crafted.pcap").Cases.SelectMany(c => c.ExpectedAnomalies).ToHashSet();
        Assert.All(ids, id => Assert.Contains(id, raised));
        Assert.Subset(ids.ToHashSet(), raised);
    }

    [Theory]
    [MemberData(nameof(ManifestFiles))]
    public void Tshark_SeesTheFunctionAndExceptionCodesTheGeneratorSent(string file)
    {
        if (!TsharkReference.EnsureAvailable(output))
        {
            return;
        }

        var entry = CaptureManifest.Get(file);
        var reference = TsharkReference.Modbus(TestPaths.Capture(file), [.. entry.TsharkExtraArgs]);
        output.WriteLine(reference.ToString());

        Assert.Equal(entry.Packets, reference.Frames);
        Assert.Equal(ModbusReference.Format(entry.TsharkExpectedPdus), ModbusReference.Format(reference.PdusByFunctionCode));
        Assert.Equal(ModbusReference.Format(entry.TsharkExpectedExceptions), ModbusReference.Format(reference.ExceptionsByCode));
        Assert.Equal(0, reference.UnknownDirection);
        if (!entry.HasTsharkAdjustments)
        {
            Assert.Equal(entry.Requests, reference.Requests);
            Assert.Equal(entry.Responses, reference.Responses);
        }
    }

    [Theory]
    [MemberData(nameof(ManifestFiles))]
    public void Tshark_SeesEveryTransactionThePymodbusClientRan(string file)
    {
        var entry = CaptureManifest.Get(file);
        if (entry.Transactions.Count == 0 || !TsharkReference.EnsureAvailable(output))
        {
            return; // crafted files list ADUs per case instead
        }

        var expected = new Dictionary<ModbusAduKey, int>();
        foreach (var t in entry.Transactions)
        {
            Bump(new ModbusAduKey(t.TransactionId, t.UnitId, ModbusDirection.Request));
            if (t.Answered)
            {
                Bump(new ModbusAduKey(t.TransactionId, t.UnitId, ModbusDirection.Response));
            }
        }

        var reference = TsharkReference.Modbus(TestPaths.Capture(file), [.. entry.TsharkExtraArgs]);
        Assert.Equal(Sorted(expected), Sorted(reference.Adus));

        void Bump(ModbusAduKey k) => expected[k] = expected.GetValueOrDefault(k) + 1;
    }

    [Fact]
    public void Tshark_NeedsDecodeAs_ForTheNonStandardPortCapture()
    {
        if (!TsharkReference.EnsureAvailable(output))
        {
            return;
        }

        // Without the side file's "-d tcp.port==5020,mbtcp" tshark does not recognise Modbus on 5020:
        // this is why that capture exercises port-independent (heuristic) detection.
        var copy = Path.Combine(Path.GetTempPath(), $"otsensor-5020-{Environment.ProcessId}.pcap");
        File.Copy(TestPaths.Capture("modbus_pymodbus_port5020.pcap"), copy, overwrite: true);
        try
        {
            Assert.Equal(0, TsharkReference.Modbus(copy).Pdus);
            Assert.True(TsharkReference.Modbus(copy, "-d", "tcp.port==5020,mbtcp").Pdus > 0);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    private static List<string> Sorted(IReadOnlyDictionary<ModbusAduKey, int> d) =>
        [.. d.Where(kv => kv.Value != 0).Select(kv => $"{kv.Key} x{kv.Value}").Order(StringComparer.Ordinal)];
}
