using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using OtSensor.Core;
using OtSensor.Detection;
using OtSensor.Store;

namespace OtSensor.Cli.Commands;

/// <summary>`otsensor baseline status|learn|lock|reset|export|import`: manage the learned baseline in the store.</summary>
public static class BaselineCommand
{
    public const string ExportFormat = "otsensor-baseline";

    public static Command Create()
    {
        var cmd = new Command("baseline", "Manage the learned baseline (what normal traffic looks like) in the store.");
        cmd.Subcommands.Add(Simple("status", "Show whether the baseline is learning or protecting and what it holds.", Status));
        cmd.Subcommands.Add(Simple("learn", "(Re)start learning: replays add to the baseline and raise no baseline alerts.", Learn));
        cmd.Subcommands.Add(Simple("lock", "Stop learning: replays now raise alerts on deviations from the baseline.", Lock));
        cmd.Subcommands.Add(Simple("reset", "Forget everything learned and start learning again.", Reset));

        var exportFile = new Argument<string?>("file") { Description = "The JSON file to write (default: standard output).", Arity = ArgumentArity.ZeroOrOne };
        var exportStore = AssetsCommand.StoreOption();
        var export = new Command("export", "Write the baseline as JSON.") { exportFile, exportStore };
        export.SetAction(parse => Export(parse.GetValue(exportStore)!, parse.GetValue(exportFile), Console.Out, Console.Error));
        cmd.Subcommands.Add(export);

        var importFile = new Argument<string>("file") { Description = "A JSON file written by 'otsensor baseline export'." };
        var importStore = AssetsCommand.StoreOption();
        var import = new Command("import", "Replace the baseline with one exported before.") { importFile, importStore };
        import.SetAction(parse => Import(parse.GetValue(importStore)!, parse.GetValue(importFile)!, Console.Out, Console.Error));
        cmd.Subcommands.Add(import);
        return cmd;
    }

    private static Command Simple(string name, string description, Func<string, TextWriter, TextWriter, int> run)
    {
        var store = AssetsCommand.StoreOption();
        var c = new Command(name, description) { store };
        c.SetAction(parse => run(parse.GetValue(store)!, Console.Out, Console.Error));
        return c;
    }

    private static int WithStore(string verb, string storePath, TextWriter stderr, bool readOnly, Func<AlertStore, int> action)
    {
        try
        {
            using var st = AlertStore.Open(storePath, readOnly);
            return action(st);
        }
        catch (StoreException ex)
        {
            stderr.WriteLine($"otsensor baseline {verb}: {ex.Message}");
            return Program.ExitError;
        }
    }

    public static int Status(string storePath, TextWriter stdout, TextWriter stderr) => WithStore("status", storePath, stderr, readOnly: false, st =>
    {
        var s = st.ReadBaselineState();
        var m = st.ReadBaseline();
        var ci = CultureInfo.InvariantCulture;
        stdout.WriteLine($"baseline: {s.Mode}");
        if (s.LearnStartNs > 0) stdout.WriteLine($"  learning since {PacketTime.ToRfc3339(s.LearnStartNs)} (packet time)");
        if (s.Mode == BaselineState.Learning && s.LearnUntilNs > 0) stdout.WriteLine($"  learning until {PacketTime.ToRfc3339(s.LearnUntilNs)} (packet time), or 'otsensor baseline lock'");
        if (s.LockedAt is not null) stdout.WriteLine($"  locked at {s.LockedAt}");
        stdout.WriteLine(string.Create(ci, $"  assets {m.Assets.Count}, links {m.Links.Count}, services {m.Services.Count}, function codes {m.Codes.Count}"));
        stdout.WriteLine(string.Create(ci, $"  modbus writers {m.Writers.Count}, written registers {m.Written.Count}, read registers {m.Read.Count}, polls {m.Polls.Count}"));
        stdout.WriteLine(string.Create(ci, $"  mqtt clients {m.MqttClients.Count}, mqtt topics {m.MqttTopics.Count}, coap resources {m.CoapResources.Count}, accepted findings {m.Findings.Count}"));
        return Program.ExitOk;
    });

    public static int Learn(string storePath, TextWriter stdout, TextWriter stderr) => WithStore("learn", storePath, stderr, readOnly: false, st =>
    {
        var s = st.ReadBaselineState();
        s.Mode = BaselineState.Learning;
        s.LearnStartNs = 0;
        s.LearnUntilNs = 0;
        s.LockedAt = null;
        st.WriteBaselineState(s);
        stdout.WriteLine("baseline: learning");
        return Program.ExitOk;
    });

    public static int Lock(string storePath, TextWriter stdout, TextWriter stderr) => WithStore("lock", storePath, stderr, readOnly: false, st =>
    {
        var s = st.ReadBaselineState();
        s.Mode = BaselineState.Protecting;
        s.LockedAt = DateTimeOffset.UtcNow.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        st.WriteBaselineState(s);
        stdout.WriteLine("baseline: protecting (locked)");
        return Program.ExitOk;
    });

    public static int Reset(string storePath, TextWriter stdout, TextWriter stderr) => WithStore("reset", storePath, stderr, readOnly: false, st =>
    {
        st.WriteBaseline(new BaselineModel(), new BaselineState());
        stdout.WriteLine("baseline: reset, learning");
        return Program.ExitOk;
    });

    public static int Export(string storePath, string? file, TextWriter stdout, TextWriter stderr) => WithStore("export", storePath, stderr, readOnly: false, st =>
    {
        var root = new JsonObject
        {
            ["format"] = ExportFormat,
            ["version"] = 1,
            ["state"] = JsonSerializer.SerializeToNode(st.ReadBaselineState(), BaselineStateJsonContext.Default.BaselineState),
            ["baseline"] = JsonNode.Parse(st.ReadBaseline().ToJson()),
        };
        string text = root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        if (file is null)
        {
            stdout.WriteLine(text);
            return Program.ExitOk;
        }
        try
        {
            File.WriteAllText(file, text + "\n");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            stderr.WriteLine($"otsensor baseline export: cannot write '{file}': {ex.Message}");
            return Program.ExitError;
        }
        stdout.WriteLine($"wrote {file}");
        return Program.ExitOk;
    });

    public static int Import(string storePath, string file, TextWriter stdout, TextWriter stderr)
    {
        BaselineModel model;
        BaselineState? state;
        try
        {
            var root = JsonNode.Parse(File.ReadAllText(file)) as JsonObject ?? throw new FormatException("not a JSON object");
            if (root["format"]?.GetValue<string>() != ExportFormat) throw new FormatException($"not an '{ExportFormat}' file");
            model = BaselineModel.FromJson(root["baseline"]?.ToJsonString() ?? throw new FormatException("no 'baseline'"));
            state = root["state"]?.Deserialize(BaselineStateJsonContext.Default.BaselineState);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or JsonException or InvalidOperationException)
        {
            stderr.WriteLine($"otsensor baseline import: '{file}': {ex.Message}");
            return Program.ExitError;
        }
        return WithStore("import", storePath, stderr, readOnly: false, st =>
        {
            st.WriteBaseline(model, state ?? st.ReadBaselineState());
            stdout.WriteLine($"imported {model.ItemCount} baseline items from {file}");
            return Program.ExitOk;
        });
    }
}
