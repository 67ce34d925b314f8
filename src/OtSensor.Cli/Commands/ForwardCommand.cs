using System.CommandLine;
using System.Globalization;
using OtSensor.Detection;
using OtSensor.Forwarding;
using OtSensor.Inventory;

namespace OtSensor.Cli.Commands;

/// <summary>
/// <c>otsensor forward</c>: runs one forwarder per <c>--to</c> destination over the store's alert outbox.
/// The outbox comes from <c>openOutbox(storePath)</c> (disposed after the run when it is <see cref="IDisposable"/>);
/// inventory changes are forwarded too when <paramref name="openChanges"/> gives their outbox.
/// </summary>
public static class ForwardCommand
{
    public static Command Create(Func<string, IAlertOutbox> openOutbox, string defaultStorePath = "otsensor.db",
        Func<string, IInventoryChangeOutbox>? openChanges = null)
    {
        ArgumentNullException.ThrowIfNull(openOutbox);
        var store = new Option<string?>("--store") { Description = $"SQLite store whose alerts are forwarded (default {defaultStorePath})." };
        var o = new DestinationCliOptions(multiple: true);
        var once = new Option<bool>("--once") { Description = "Deliver the backlog, then exit (0 when everything was delivered)." };
        var timeout = new Option<int>("--timeout") { Description = "With --once: give up after this many seconds (exit 1).", DefaultValueFactory = _ => 60 };
        var maxBacklog = new Option<long>("--max-backlog") { Description = "At most this many waiting alerts per destination; older ones are skipped, counted and reported (0: no bound)." };
        var maxAge = new Option<int>("--max-age") { Description = "Skip (count and report) waiting alerts older than this many seconds (0: no bound)." };
        var cmd = new Command("forward", "Forward alerts and inventory changes from the store to SIEMs (syslog CEF over UDP/TCP/TLS, JSON lines); nothing is lost across outages and restarts.")
        {
            store, once, timeout, maxBacklog, maxAge,
        };
        o.AddTo(cmd);
        cmd.SetAction(async (parse, ct) =>
        {
            const string me = "otsensor forward";
            if (!o.TryBuild(parse, me, out var destinations, out var tls)) return Program.ExitUsage;
            int timeoutSeconds = parse.GetValue(timeout);
            long backlog = parse.GetValue(maxBacklog);
            int ageSeconds = parse.GetValue(maxAge);
            if (timeoutSeconds < 1 || backlog < 0 || ageSeconds < 0)
            {
                await Console.Error.WriteLineAsync($"{me}: --timeout must be at least 1, --max-backlog and --max-age not negative.").ConfigureAwait(false);
                return Program.ExitUsage;
            }
            string storePath = parse.GetValue(store) ?? defaultStorePath;
            IAlertOutbox outbox;
            IInventoryChangeOutbox? changes = null;
            try
            {
                outbox = openOutbox(storePath);
                try
                {
                    changes = openChanges?.Invoke(storePath);
                }
                catch
                {
                    (outbox as IDisposable)?.Dispose();
                    throw;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                await Console.Error.WriteLineAsync($"{me}: cannot open the store '{storePath}': {ex.Message}").ConfigureAwait(false);
                return Program.ExitError;
            }
            var options = new ForwarderOptions
            {
                MaxBacklogCount = backlog,
                MaxBacklogAge = ageSeconds > 0 ? TimeSpan.FromSeconds(ageSeconds) : null,
            };
            var log = new Action<string>(m => Console.Error.WriteLine($"{me}: {m}"));
            var forwarders = destinations.Select((d, i) => new Forwarder(outbox, d, options,
                () => MessageTransport.Create(d, tls[i], log), log, changes: changes)).ToList();
            bool runOnce = parse.GetValue(once);
            try
            {
                if (runOnce)
                {
                    using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    limit.CancelAfter(TimeSpan.FromSeconds(timeoutSeconds));
                    var runs = forwarders.Select(f => f.DrainAsync(limit.Token)).ToList();
                    try
                    {
                        await Task.WhenAll(runs).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException)
                    {
                    }
                    bool all = runs.TrueForAll(r => r.IsCompletedSuccessfully);
                    foreach (var (f, r) in forwarders.Zip(runs))
                    {
                        string state = r.IsCompletedSuccessfully ? "delivered" : $"NOT delivered ({f.Stats.LastError ?? (ct.IsCancellationRequested ? "interrupted" : "timed out")})";
                        await Console.Out.WriteLineAsync(Summary(f, state)).ConfigureAwait(false);
                    }
                    if (!all) await Console.Error.WriteLineAsync($"{me}: not everything was delivered; the rest stays in the store and is sent next time.").ConfigureAwait(false);
                    return all ? Program.ExitOk : Program.ExitError;
                }
                var tasks = forwarders.Select(f => f.RunAsync(ct)).ToList();
                try
                {
                    await Task.WhenAll(tasks).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
                foreach (var f in forwarders) await Console.Out.WriteLineAsync(Summary(f, "stopped")).ConfigureAwait(false);
                return Program.ExitOk;
            }
            finally
            {
                foreach (var f in forwarders) await f.DisposeAsync().ConfigureAwait(false);
                (outbox as IDisposable)?.Dispose();
                (changes as IDisposable)?.Dispose();
            }
        });
        return cmd;
    }

    private static string Summary(Forwarder f, string state)
    {
        var s = f.Stats;
        return string.Create(CultureInfo.InvariantCulture,
            $"{f.Destination.Url}: {state}; cursor {s.Cursor}, inventory cursor {s.InventoryCursor}, sent {s.Sent} ({s.InventorySent} inventory changes), filtered {s.Filtered}, skipped by backlog bound {s.SkippedBacklog}, failures {s.Failures}");
    }
}

/// <summary>The destination options shared by <c>forward</c> and <c>siem-test</c>.</summary>
internal sealed class DestinationCliOptions
{
    private readonly Option<string[]> _to;
    private readonly Option<string?> _format = new("--format") { Description = "Payload: cef (default) or json (file destinations: json)." };
    private readonly Option<string?> _syslog = new("--syslog") { Description = "Syslog header: 5424 (default), 3164 or none." };
    private readonly Option<string?> _facility = new("--facility") { Description = "Syslog facility (default local4)." };
    private readonly Option<int> _minSeverity = new("--min-severity") { Description = "Send only alerts of at least this severity (0-10)." };
    private readonly Option<string[]> _types = new("--type") { Description = "Send only alerts of this type (repeatable)." };
    private readonly Option<string?> _ca = new("--ca") { Description = "TLS: PEM file of the CA(s) the SIEM's certificate must chain to (default: the system store)." };
    private readonly Option<string?> _cert = new("--cert") { Description = "TLS: client certificate (PEM)." };
    private readonly Option<string?> _key = new("--key") { Description = "TLS: private key of the client certificate (PEM)." };
    private readonly Option<string?> _serverName = new("--server-name") { Description = "TLS: name the server certificate must carry (default: the URL's host)." };
    private readonly Option<bool> _noInventory = new("--no-inventory") { Description = "Do not send inventory changes (new assets, firmware changes...), only alerts (per destination: ?inventory=false)." };
    private readonly Option<bool> _insecure = new("--insecure-skip-verify") { Description = "TLS: do NOT verify the server certificate (testing only; logged loudly)." };

    public DestinationCliOptions(bool multiple)
    {
        _to = new Option<string[]>("--to")
        {
            Description = multiple
                ? "Destination URL (repeatable): udp://host:port, tcp://host:port[?framing=newline], tls://host:port, file:///path.jsonl; per-destination ?format=, syslog=, min_severity=, types=, facility=, name=."
                : "Destination URL (repeatable, each is tested): udp://host:port, tcp://host:port[?framing=newline], tls://host:port or file:///path.",
            Required = true,
            Arity = ArgumentArity.OneOrMore,
        };
    }

    public void AddTo(Command cmd)
    {
        foreach (var opt in (Option[])[_to, _format, _syslog, _facility, _minSeverity, _types, _noInventory, _ca, _cert, _key, _serverName, _insecure])
            cmd.Options.Add(opt);
    }

    /// <summary>Parses and validates the destinations and loads their TLS settings; prints the error and returns false.</summary>
    public bool TryBuild(ParseResult parse, string me, out List<Destination> destinations, out List<TlsSettings?> tls)
    {
        destinations = [];
        tls = [];
        try
        {
            var defaults = new Destination();
            if (parse.GetValue(_format) is { } f) defaults = defaults with { Format = Destination.ParseFormat(f) };
            if (parse.GetValue(_syslog) is { } s) defaults = defaults with { Syslog = Destination.ParseSyslog(s) };
            if (parse.GetValue(_facility) is { } fac) defaults = defaults with { Facility = Destination.ParseFacility(fac) };
            int min = parse.GetValue(_minSeverity);
            if (min is < 0 or > 10) throw new ForwardConfigException("--min-severity must be from 0 to 10");
            defaults = defaults with
            {
                MinSeverity = min,
                Types = new HashSet<string>(parse.GetValue(_types) ?? [], StringComparer.Ordinal),
                CaFile = parse.GetValue(_ca),
                CertFile = parse.GetValue(_cert),
                KeyFile = parse.GetValue(_key),
                ServerName = parse.GetValue(_serverName),
                InsecureSkipVerify = parse.GetValue(_insecure),
                Inventory = !parse.GetValue(_noInventory),
            };
            foreach (var url in parse.GetValue(_to) ?? [])
            {
                var d = Destination.Parse(url, defaults);
                if (destinations.Exists(x => x.Name == d.Name))
                    throw new ForwardConfigException($"'{url}' is given twice (add ?name=... to keep two cursors)");
                destinations.Add(d);
            }
            if (destinations.Count == 0) throw new ForwardConfigException("no destination (--to URL)");
            bool anyTls = destinations.Exists(d => d.Kind == TransportKind.Tls);
            if (!anyTls && (defaults.CaFile ?? defaults.CertFile ?? defaults.KeyFile) is not null)
                throw new ForwardConfigException("--ca, --cert and --key apply to tls:// destinations only");
            var log = new Action<string>(m => Console.Error.WriteLine($"{me}: {m}"));
            foreach (var d in destinations)
                tls.Add(d.Kind == TransportKind.Tls ? TlsSettings.Load(d, log) : null);
            return true;
        }
        catch (ForwardConfigException ex)
        {
            Console.Error.WriteLine($"{me}: {ex.Message}");
            return false;
        }
    }
}
