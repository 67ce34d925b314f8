using Xunit.Abstractions;

namespace OtSensor.Tests.Differential;

/// <summary>
/// TsharkReference must reproduce the stored reference summaries (expected.tshark.csv, made by
/// /work/shared/captures/public/tshark_reference.sh) of the public third-party captures.
/// </summary>
public class PublicCorpusReferenceTests(ITestOutputHelper output)
{
    [Fact]
    public void TsharkReference_MatchesStoredFunctionCodes_ForIcsnppModbusExample()
    {
        var dir = Path.Combine(TestPaths.SharedPublicDir, "cisagov-icsnpp-modbus");
        if (!Directory.Exists(dir))
        {
            Assert.Fail($"public capture folder missing: {dir}");
        }

        if (!TsharkReference.EnsureAvailable(output))
        {
            return;
        }

        var row = ReferenceCsv.Read(Path.Combine(dir, "expected.tshark.csv")).Single(r => r["file"] == "modbus_example.pcap");
        var reference = TsharkReference.Modbus(Path.Combine(dir, "modbus_example.pcap"));

        Assert.Equal("1:4;2:4;3:6;4:4;5:2;6:2;7:2;8:2;15:2;16:2;17:2;20:2;21:2;22:4;23:4;24:2;43:2", row["modbus_function_codes"]);
        Assert.Equal(row["modbus_function_codes"], ModbusReference.Format(reference.PdusByFunctionCode));
        AssertRowCounters(row, reference);
    }

    public static TheoryData<string, string> PublicModbusCaptures()
    {
        var data = new TheoryData<string, string>();
        if (!Directory.Exists(TestPaths.SharedPublicDir))
        {
            return data;
        }

        foreach (var csv in Directory.EnumerateFiles(TestPaths.SharedPublicDir, "expected.tshark.csv", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            foreach (var row in ReferenceCsv.Read(csv))
            {
                if (int.TryParse(row["modbus_pdus"], out var n) && n > 0)
                {
                    data.Add(Path.GetFileName(Path.GetDirectoryName(csv)!), row["file"]);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(PublicModbusCaptures))]
    public void TsharkReference_MatchesStoredCounters_ForEveryPublicModbusCapture(string folder, string file)
    {
        if (!TsharkReference.EnsureAvailable(output))
        {
            return;
        }

        var dir = Path.Combine(TestPaths.SharedPublicDir, folder);
        var row = ReferenceCsv.Read(Path.Combine(dir, "expected.tshark.csv")).Single(r => r["file"] == file);
        var reference = TsharkReference.Modbus(Path.Combine(dir, file));
        output.WriteLine(reference.ToString());

        Assert.Equal(row["modbus_function_codes"], ModbusReference.Format(reference.PdusByFunctionCode));
        AssertRowCounters(row, reference);
    }

    private static void AssertRowCounters(IReadOnlyDictionary<string, string> row, ModbusReference reference)
    {
        Assert.Equal(int.Parse(row["packets"]), reference.Frames);
        Assert.Equal(int.Parse(row["modbus_pdus"]), reference.Pdus);
        Assert.Equal(int.Parse(row["modbus_requests"]), reference.Requests);
        Assert.Equal(int.Parse(row["modbus_responses"]), reference.Responses);
        Assert.Equal(int.Parse(row["modbus_unknown_dir"]), reference.UnknownDirection);
        Assert.Equal(int.Parse(row["modbus_exceptions"]), reference.Exceptions);
    }
}

/// <summary>Minimal RFC 4180 reader for the expected.tshark.csv files (header row + quoted fields).</summary>
public static class ReferenceCsv
{
    public static List<Dictionary<string, string>> Read(string path)
    {
        var rows = Parse(File.ReadAllText(path));
        var header = rows[0];
        return [.. rows.Skip(1).Where(r => r.Count > 1).Select(r =>
            header.Select((h, i) => (h, v: i < r.Count ? r[i] : "")).ToDictionary(x => x.h, x => x.v))];
    }

    private static List<List<string>> Parse(string text)
    {
        var rows = new List<List<string>>();
        var row = new List<string>();
        var field = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var ch = text[i];
            if (quoted)
            {
                if (ch == '"' && i + 1 < text.Length && text[i + 1] == '"')
                {
                    field.Append('"');
                    i++;
                }
                else if (ch == '"')
                {
                    quoted = false;
                }
                else
                {
                    field.Append(ch);
                }
            }
            else if (ch == '"')
            {
                quoted = true;
            }
            else if (ch == ',')
            {
                row.Add(field.ToString());
                field.Clear();
            }
            else if (ch == '\n')
            {
                row.Add(field.ToString().TrimEnd('\r'));
                field.Clear();
                rows.Add(row);
                row = [];
            }
            else
            {
                field.Append(ch);
            }
        }

        if (field.Length > 0 || row.Count > 0)
        {
            row.Add(field.ToString());
            rows.Add(row);
        }

        return rows;
    }
}
