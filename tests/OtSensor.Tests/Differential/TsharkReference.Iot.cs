using System.Globalization;

namespace OtSensor.Tests.Differential;

/// <summary>
/// tshark as the reference MQTT and CoAP dissector:
/// <c>tshark -n [side-file args] [extra args] -r FILE -T fields -E separator=/t -E occurrence=a
/// -E aggregator=&lt;0x1f&gt; -e frame.number -e ...</c>. The aggregator is the ASCII unit separator so
/// that commas inside client ids, topics and Uri-Path segments cannot split a value.
/// </summary>
public static partial class TsharkReference
{
    /// <summary>Aggregator between several occurrences of a field in one frame.</summary>
    public const char Aggregator = '\u001f';

    private static readonly string[] MqttFields =
    [
        "frame.number", "mqtt.msgtype", "mqtt.ver", "mqtt.conack.val", "mqtt.connack.reason_code",
        "mqtt.clientid", "mqtt.topic",
    ];

    private static readonly string[] CoapFields =
    [
        "frame.number", "coap.type", "coap.code", "coap.mid", "coap.opt.uri_path",
    ];

    /// <summary>
    /// MQTT summary of <paramref name="path"/> according to tshark. Arguments from the side file
    /// <c>path + ".tshark-args"</c> (e.g. "-d" / "tcp.port==1884,mqtt") come first, then
    /// <paramref name="extraArgs"/> (an identical "-d X" pair is not repeated).
    /// </summary>
    public static MqttReference Mqtt(string path, params string[] extraArgs) =>
        ParseMqtt(path, RunFields(path, extraArgs, MqttFields));

    /// <summary>CoAP summary of <paramref name="path"/> according to tshark (side file and extra args as for <see cref="Mqtt"/>).</summary>
    public static CoapReference Coap(string path, params string[] extraArgs) =>
        ParseCoap(path, RunFields(path, extraArgs, CoapFields));

    /// <summary>Parses the MQTT field output (frame, msgtype, ver, conack.val, connack.reason_code, clientid, topic).</summary>
    public static MqttReference ParseMqtt(string path, string fieldsOutput)
    {
        ArgumentNullException.ThrowIfNull(fieldsOutput);
        var types = new Dictionary<string, int>(StringComparer.Ordinal);
        var versions = new Dictionary<string, int>(StringComparer.Ordinal);
        var connack = new Dictionary<string, int>(StringComparer.Ordinal);
        var clientIds = new Dictionary<string, int>(StringComparer.Ordinal);
        var topics = new Dictionary<string, int>(StringComparer.Ordinal);
        var frames = 0;
        foreach (var cols in Rows(fieldsOutput))
        {
            frames++;
            foreach (var t in Numbers(Col(cols, 1)))
            {
                IotLabels.Bump(types, IotLabels.MqttType(t));
            }

            foreach (var v in Numbers(Col(cols, 2)))
            {
                IotLabels.Bump(versions, IotLabels.MqttVersion(v));
            }

            foreach (var c in Numbers(Col(cols, 3)).Concat(Numbers(Col(cols, 4))))
            {
                IotLabels.Bump(connack, c.ToString(CultureInfo.InvariantCulture));
            }

            foreach (var id in Strings(Col(cols, 5)))
            {
                IotLabels.Bump(clientIds, id);
            }

            foreach (var topic in Strings(Col(cols, 6)))
            {
                IotLabels.Bump(topics, topic);
            }
        }

        return new MqttReference(path, frames, types, versions, connack, clientIds, topics);
    }

    /// <summary>Parses the CoAP field output (frame, type, code, mid, uri_path segments).</summary>
    public static CoapReference ParseCoap(string path, string fieldsOutput)
    {
        ArgumentNullException.ThrowIfNull(fieldsOutput);
        var types = new Dictionary<string, int>(StringComparer.Ordinal);
        var codes = new Dictionary<string, int>(StringComparer.Ordinal);
        var mids = new Dictionary<int, int>();
        var paths = new Dictionary<string, int>(StringComparer.Ordinal);
        var frames = 0;
        foreach (var cols in Rows(fieldsOutput))
        {
            frames++;
            foreach (var t in Numbers(Col(cols, 1)))
            {
                IotLabels.Bump(types, IotLabels.CoapType(t));
            }

            foreach (var c in Numbers(Col(cols, 2)))
            {
                IotLabels.Bump(codes, IotLabels.CoapCode(c));
            }

            foreach (var m in Numbers(Col(cols, 3)))
            {
                IotLabels.Bump(mids, m);
            }

            // One CoAP message per UDP datagram: all Uri-Path occurrences of a frame form one path.
            var segments = Col(cols, 4);
            if (segments.Length > 0)
            {
                IotLabels.Bump(paths, "/" + string.Join('/', segments.Split(Aggregator)));
            }
        }

        return new CoapReference(path, frames, types, codes, mids, paths);
    }

    private static string RunFields(string path, string[]? extraArgs, string[] fields)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException("capture not found", path);
        }

        var cmd = new List<string> { "-n" };
        cmd.AddRange(MergeArgs(ReadSideFile(path), extraArgs ?? []));
        cmd.AddRange(["-r", path, "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
            "-E", "aggregator=" + Aggregator]);
        foreach (var f in fields)
        {
            cmd.Add("-e");
            cmd.Add(f);
        }

        var info = new FileInfo(path);
        var cacheKey = string.Join('\u0001', cmd) + $"\u0001{info.Length}\u0001{info.LastWriteTimeUtc.Ticks}";
        return Cache.GetOrAdd(cacheKey, _ => new Lazy<string>(() => Run(cmd))).Value;
    }

    private static IEnumerable<string[]> Rows(string output)
    {
        foreach (var line in output.Split('\n'))
        {
            var l = line.TrimEnd('\r');
            if (l.Length > 0)
            {
                yield return l.Split('\t');
            }
        }
    }

    private static string Col(string[] cols, int i) => i < cols.Length ? cols[i] : "";

    private static IEnumerable<string> Strings(string field) =>
        field.Length == 0 ? [] : field.Split(Aggregator);

    private static IEnumerable<int> Numbers(string field)
    {
        foreach (var part in field.Split(Aggregator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(part.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var h))
            {
                yield return h;
            }
            else if (int.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v))
            {
                yield return v;
            }
        }
    }
}
