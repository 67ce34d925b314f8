using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using OtSensor.Detection;

namespace OtSensor.Tests.Forwarding;

/// <summary>A strict reader of one CEF record (test oracle): header fields and extension map, unescaped.</summary>
internal sealed record CefRecord(string[] Header, Dictionary<string, string> Ext)
{
    public static CefRecord Parse(string line)
    {
        int start = line.IndexOf("CEF:", StringComparison.Ordinal);
        Assert.True(start >= 0, "no CEF: in " + line);
        string s = line[start..];
        Assert.DoesNotContain('\n', s);
        Assert.DoesNotContain('\r', s);
        Assert.DoesNotContain('\0', s);
        var header = new List<string>();
        var cur = new StringBuilder();
        int i = 0;
        for (; i < s.Length && header.Count < 7; i++)
        {
            char c = s[i];
            if (c == '\\')
            {
                Assert.True(i + 1 < s.Length, "dangling backslash in header");
                char n = s[++i];
                Assert.True(n is '\\' or '|', $"bad header escape \\{n}");
                cur.Append(n);
            }
            else if (c == '|')
            {
                header.Add(cur.ToString());
                cur.Clear();
            }
            else cur.Append(c);
        }
        Assert.Equal(7, header.Count);
        string ext = s[i..];
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        int p = 0;
        while (p < ext.Length)
        {
            int eq = ext.IndexOf('=', p);
            Assert.True(eq > p, "extension key expected at " + ext[p..]);
            string key = ext[p..eq];
            Assert.Matches("^[A-Za-z0-9]+$", key);
            var val = new StringBuilder();
            int j = eq + 1;
            for (; j < ext.Length; j++)
            {
                char c = ext[j];
                if (c == '\\')
                {
                    Assert.True(j + 1 < ext.Length, "dangling backslash in value of " + key);
                    char n = ext[++j];
                    val.Append(n switch
                    {
                        '\\' => '\\',
                        '=' => '=',
                        'n' => '\n',
                        'r' => '\r',
                        _ => throw new Xunit.Sdk.XunitException($"bad extension escape \\{n} in {key}"),
                    });
                    continue;
                }
                Assert.NotEqual('=', c); // an unescaped '=' would start a (forged) field
                if (c == ' ' && IsNextKey(ext, j + 1)) break;
                val.Append(c);
            }
            Assert.False(map.ContainsKey(key), "duplicate key " + key);
            map[key] = val.ToString();
            p = j + 1;
        }
        return new CefRecord([.. header], map);
    }

    private static bool IsNextKey(string ext, int from)
    {
        int k = from;
        while (k < ext.Length && char.IsAsciiLetterOrDigit(ext[k])) k++;
        return k > from && k < ext.Length && ext[k] == '=';
    }

    public string Custom(string label)
    {
        foreach (var (k, v) in Ext)
            if (k.EndsWith("Label", StringComparison.Ordinal) && v == label) return Ext[k[..^5]];
        throw new Xunit.Sdk.XunitException("no custom field labelled " + label);
    }
}

internal sealed class MemoryOutbox : IAlertOutbox
{
    private readonly List<Alert> _alerts = [];
    private readonly Dictionary<string, long> _cursors = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public long Add(Alert a)
    {
        lock (_lock)
        {
            a.Id = _alerts.Count + 1;
            _alerts.Add(a);
            return a.Id;
        }
    }

    public IReadOnlyList<Alert> ReadAfter(long afterId, int max)
    {
        lock (_lock) return _alerts.Where(a => a.Id > afterId).Take(max).ToList();
    }

    public long GetCursor(string destination)
    {
        lock (_lock) return _cursors.GetValueOrDefault(destination);
    }

    public void SetCursor(string destination, long deliveredId)
    {
        lock (_lock) _cursors[destination] = Math.Max(_cursors.GetValueOrDefault(destination), deliveredId);
    }
}

/// <summary>Alerts and cursors in a directory (one JSON file each), so a new instance sees what an old one wrote.</summary>
internal sealed class FileOutbox(string dir) : IAlertOutbox
{
    public void Add(Alert a)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, $"alert-{a.Id:D8}.json"), JsonSerializer.Serialize(new { a.Id, a.Type, a.Name, a.Severity, a.Category, a.LastSeenNs, a.Message }));
    }

    public IReadOnlyList<Alert> ReadAfter(long afterId, int max)
        => Directory.GetFiles(dir, "alert-*.json").Order(StringComparer.Ordinal)
            .Select(f => JsonDocument.Parse(File.ReadAllText(f)).RootElement)
            .Select(e => new Alert
            {
                Id = e.GetProperty("Id").GetInt64(),
                Type = e.GetProperty("Type").GetString()!,
                Name = e.GetProperty("Name").GetString()!,
                Severity = e.GetProperty("Severity").GetInt32(),
                Category = e.GetProperty("Category").GetString()!,
                LastSeenNs = e.GetProperty("LastSeenNs").GetInt64(),
                Message = e.GetProperty("Message").GetString()!,
            })
            .Where(a => a.Id > afterId).Take(max).ToList();

    private string CursorFile(string destination) => Path.Combine(dir, "cursor-" + Convert.ToHexString(Encoding.UTF8.GetBytes(destination)));

    public long GetCursor(string destination) => File.Exists(CursorFile(destination)) ? long.Parse(File.ReadAllText(CursorFile(destination)), System.Globalization.CultureInfo.InvariantCulture) : 0;

    public void SetCursor(string destination, long deliveredId)
    {
        if (deliveredId <= GetCursor(destination)) return;
        string tmp = CursorFile(destination) + ".tmp";
        File.WriteAllText(tmp, deliveredId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        File.Move(tmp, CursorFile(destination), overwrite: true);
    }
}

internal static class Alerts
{
    public static Alert Make(int n, string proto = "modbus", int severity = 7) => new()
    {
        Type = "modbus_write_unexpected",
        SignatureId = 1000 + n % 7,
        Name = "Unexpected Modbus write",
        Severity = severity,
        Category = "policy",
        Mitre = ["T0855", "T0836"],
        FirstSeenNs = 1_700_000_000_000_000_000 + n * 1_000_000_000L,
        LastSeenNs = 1_700_000_000_500_000_000 + n * 1_000_000_000L,
        Count = 1 + n % 3,
        Proto = proto,
        SrcIp = "10.0.0.5",
        SrcPort = 40000 + n,
        SrcMac = "00:11:22:33:44:55",
        DstIp = "10.0.0.10",
        DstPort = 502,
        DstMac = "66:77:88:99:aa:bb",
        SrcAsset = "HMI-1",
        DstAsset = "Schneider Electric BMX P34",
        Message = $"write #{n} to holding register 100",
        Evidence = new() { ["unit_id"] = "1", ["function_code"] = "6", ["address_range"] = "100-100", ["value"] = n.ToString(System.Globalization.CultureInfo.InvariantCulture) },
    };
}

internal static class Ports
{
    public static int Free()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public static async Task WaitUntilAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout) throw new TimeoutException("timed out waiting for " + what);
            await Task.Delay(50);
        }
    }
}

/// <summary>A CA and a server certificate (localhost, 127.0.0.1) written as PEM files.</summary>
internal sealed class TestCertificates
{
    public required string CaFile { get; init; }
    public required string CertFile { get; init; }
    public required string KeyFile { get; init; }
    public required string OtherCaFile { get; init; }

    public static TestCertificates Create(string dir)
    {
        Directory.CreateDirectory(dir);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caReq = new CertificateRequest("CN=OtSensor Test CA", caKey, HashAlgorithmName.SHA256);
        caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caReq.PublicKey, false));
        using var ca = caReq.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        using var cert = req.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(29), [1, 2, 3, 4]);

        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var otherReq = new CertificateRequest("CN=Some Other CA", otherKey, HashAlgorithmName.SHA256);
        otherReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var other = otherReq.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        var t = new TestCertificates
        {
            CaFile = Path.Combine(dir, "ca.pem"),
            CertFile = Path.Combine(dir, "server.pem"),
            KeyFile = Path.Combine(dir, "server.key"),
            OtherCaFile = Path.Combine(dir, "other-ca.pem"),
        };
        File.WriteAllText(t.CaFile, ca.ExportCertificatePem() + "\n");
        File.WriteAllText(t.CertFile, cert.ExportCertificatePem() + "\n");
        File.WriteAllText(t.KeyFile, key.ExportPkcs8PrivateKeyPem() + "\n");
        File.WriteAllText(t.OtherCaFile, other.ExportCertificatePem() + "\n");
        return t;
    }
}

/// <summary>
/// A real rsyslogd (no system service: its own config, pid file and work directory under a temp dir) listening on
/// 127.0.0.1 only: UDP (imudp), TCP (imptcp, octet counting or newline) and, when asked, TLS (imtcp + gtls). Every
/// message is written raw (%rawmsg%) as one line of <see cref="OutputFile"/>.
/// </summary>
internal sealed class Rsyslog : IDisposable
{
    public const string Binary = "/usr/sbin/rsyslogd";
    private Process? _process;
    private readonly string _conf;
    private readonly string _pidFile;

    public string Dir { get; }
    public string OutputFile { get; }
    public int UdpPort { get; } = Ports.Free();
    public int TcpPort { get; } = Ports.Free();
    public int TlsPort { get; }
    public TestCertificates? Certs { get; }

    public Rsyslog(bool tls = false)
    {
        Assert.True(File.Exists(Binary), "rsyslog is not installed: apt-get install -y rsyslog rsyslog-gnutls (the ./install script does)");
        Dir = Path.Combine(Path.GetTempPath(), "otsensor-rsyslog-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Dir);
        OutputFile = Path.Combine(Dir, "out.log");
        _conf = Path.Combine(Dir, "rsyslog.conf");
        _pidFile = Path.Combine(Dir, "rsyslog.pid");
        var sb = new StringBuilder();
        sb.AppendLine($"global(workDirectory=\"{Dir}\" maxMessageSize=\"64k\"");
        if (tls)
        {
            Certs = TestCertificates.Create(Path.Combine(Dir, "certs"));
            TlsPort = Ports.Free();
            sb.AppendLine($"  defaultNetstreamDriver=\"gtls\" defaultNetstreamDriverCAFile=\"{Certs.CaFile}\" defaultNetstreamDriverCertFile=\"{Certs.CertFile}\" defaultNetstreamDriverKeyFile=\"{Certs.KeyFile}\"");
        }
        sb.AppendLine(")");
        sb.AppendLine("module(load=\"imudp\")");
        sb.AppendLine("module(load=\"imptcp\")");
        sb.AppendLine($"input(type=\"imudp\" address=\"127.0.0.1\" port=\"{UdpPort}\")");
        sb.AppendLine($"input(type=\"imptcp\" address=\"127.0.0.1\" port=\"{TcpPort}\")");
        if (tls)
        {
            sb.AppendLine("module(load=\"imtcp\" streamDriver.name=\"gtls\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\")");
            sb.AppendLine($"input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{TlsPort}\")");
        }
        sb.AppendLine("template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")");
        sb.AppendLine($"action(type=\"omfile\" file=\"{OutputFile}\" template=\"raw\" flushOnTXEnd=\"on\" asyncWriting=\"off\")");
        File.WriteAllText(_conf, sb.ToString());
        Start();
    }

    public void Start()
    {
        var psi = new ProcessStartInfo(Binary) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in (string[])["-n", "-f", _conf, "-i", _pidFile]) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (Errors) Errors.AppendLine(e.Data); };
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (Errors) Errors.AppendLine(e.Data); };
        _process.BeginErrorReadLine();
        _process.BeginOutputReadLine();
        var sw = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException("rsyslogd exited: " + Errors);
            if (Listening(TcpPort) && (TlsPort == 0 || Listening(TlsPort))) break;
            if (sw.Elapsed > TimeSpan.FromSeconds(15)) throw new TimeoutException("rsyslogd did not listen: " + Errors);
            Thread.Sleep(50);
        }
    }

    public StringBuilder Errors { get; } = new();

    private static bool Listening(int port)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>SIGTERM and wait (rsyslog writes out its queue and exits).</summary>
    public void Stop()
    {
        var p = _process;
        if (p is null) return;
        if (!p.HasExited)
        {
            using (var kill = Process.Start("kill", ["-TERM", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) kill.WaitForExit(5000);
            if (!p.WaitForExit(10000)) p.Kill();
            p.WaitForExit();
        }
        p.Dispose();
        _process = null;
    }

    public string[] Lines() => File.Exists(OutputFile)
        ? File.ReadAllText(OutputFile).Split('\n', StringSplitOptions.RemoveEmptyEntries)
        : [];

    public async Task<string[]> WaitForLinesAsync(int count, TimeSpan timeout, Func<string, bool>? match = null)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var lines = Lines().Where(l => match is null || match(l)).ToArray();
            if (lines.Length >= count) return lines;
            if (sw.Elapsed > timeout) throw new TimeoutException($"rsyslog wrote {lines.Length} of {count} lines; errors: {Errors}");
            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        Stop();
        try
        {
            Directory.Delete(Dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
