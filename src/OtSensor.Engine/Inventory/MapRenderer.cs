using System.Globalization;
using System.Text;

namespace OtSensor.Inventory;

/// <summary>
/// The communication map as Graphviz DOT, a self-contained SVG (own deterministic layered layout: pure clients on the
/// left, pure servers on the right, the rest in the middle) or an HTML page embedding it. Every string comes off the
/// wire, so all text is escaped for its format; the HTML page forbids scripts with a Content-Security-Policy.
/// </summary>
public static class MapRenderer
{
    private const int ColumnWidth = 380;
    private const int NodeWidth = 240;
    private const int NodeHeight = 46;
    private const int RowHeight = 72;
    private const int Margin = 40;

    public static string NodeTitle(AssetRecord a)
    {
        string name = a.Identity.ToString();
        if (name.Length == 0) name = a.MacVendor ?? (a.Kind == "ip" ? "IP host" : "unknown vendor");
        return Bound(name, 48);
    }

    public static string NodeSubtitle(AssetRecord a)
    {
        var parts = new List<string> { a.Label };
        if (a.Roles.Count > 0) parts.Add(string.Join(",", a.Roles));
        return Bound(string.Join("  ", parts), 64);
    }

    private static string Bound(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";

    // ---------------------------------------------------------------- DOT

    public static string Dot(InventorySnapshot snap)
    {
        var sb = new StringBuilder();
        var ci = CultureInfo.InvariantCulture;
        sb.Append("digraph otsensor {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n");
        foreach (var a in Connected(snap))
            sb.Append(ci, $"  a{a.Id} [label={DotString(NodeTitle(a) + "\n" + NodeSubtitle(a))}];\n");
        foreach (var l in snap.Links)
            sb.Append(ci, $"  a{l.ClientId} -> a{l.ServerId} [label={DotString(EdgeLabel(l))}];\n");
        sb.Append("}\n");
        return sb.ToString();
    }

    /// <summary>A DOT double-quoted string: quotes and backslashes escaped, line breaks as \n, other control characters dropped.</summary>
    public static string DotString(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                default:
                    if (!char.IsControl(c)) sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    public static string EdgeLabel(LinkRecord l)
        => l.Protocol is null ? $"{l.Transport}/{l.Port.ToString(CultureInfo.InvariantCulture)}" : $"{l.Protocol} {l.Transport}/{l.Port.ToString(CultureInfo.InvariantCulture)}";

    private static List<AssetRecord> Connected(InventorySnapshot snap)
    {
        // Every asset is drawn: unconnected ones (seen, but no client/server link) sit in the middle column.
        return snap.Assets;
    }

    // ---------------------------------------------------------------- SVG

    /// <summary>Text and attribute escaping for XML; characters XML cannot carry are dropped.</summary>
    public static string Xml(string s)
    {
        var sb = new StringBuilder(s.Length);
        foreach (char c in s)
        {
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                default:
                    if (c >= 0x20 || c is '\t' or '\n') sb.Append(c);
                    break;
            }
        }
        return sb.ToString();
    }

    public static string Svg(InventorySnapshot snap)
    {
        var ci = CultureInfo.InvariantCulture;
        var clients = snap.Links.Select(l => l.ClientId).ToHashSet();
        var servers = snap.Links.Select(l => l.ServerId).ToHashSet();
        var columns = new List<AssetRecord>[] { [], [], [] };
        foreach (var a in snap.Assets)
        {
            bool c = clients.Contains(a.Id), s = servers.Contains(a.Id);
            columns[c && !s ? 0 : s && !c ? 2 : 1].Add(a);
        }
        var pos = new Dictionary<long, (int X, int Y)>();
        int rows = Math.Max(1, columns.Max(c => c.Count));
        for (int col = 0; col < 3; col++)
        {
            int offset = (rows - columns[col].Count) * RowHeight / 2;
            for (int i = 0; i < columns[col].Count; i++)
                pos[columns[col][i].Id] = (Margin + col * ColumnWidth, Margin + 30 + offset + i * RowHeight);
        }
        int width = Margin * 2 + 2 * ColumnWidth + NodeWidth;
        int height = Margin * 2 + 30 + rows * RowHeight;
        var sb = new StringBuilder();
        sb.Append(ci, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"Helvetica, Arial, sans-serif\">\n");
        sb.Append("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#555\"/></marker></defs>\n");
        sb.Append("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
        string[] heads = ["clients", "clients and servers", "servers"];
        for (int col = 0; col < 3; col++)
            sb.Append(ci, $"<text x=\"{Margin + col * ColumnWidth}\" y=\"{Margin}\" font-size=\"14\" font-weight=\"bold\" fill=\"#333\">{heads[col]}</text>\n");
        foreach (var l in snap.Links)
        {
            if (!pos.TryGetValue(l.ClientId, out var a) || !pos.TryGetValue(l.ServerId, out var b)) continue;
            int x1 = a.X + NodeWidth, y1 = a.Y + NodeHeight / 2, x2 = b.X, y2 = b.Y + NodeHeight / 2;
            if (l.ClientId == l.ServerId)
            {
                sb.Append(ci, $"<path d=\"M {x1} {y1 - 8} C {x1 + 40} {y1 - 40}, {x1 + 40} {y1 + 40}, {x1} {y1 + 8}\" fill=\"none\" stroke=\"#555\" marker-end=\"url(#arrow)\"/>\n");
                sb.Append(ci, $"<text x=\"{x1 + 44}\" y=\"{y1 + 4}\" font-size=\"11\" fill=\"#333\">{Xml(EdgeLabel(l))}</text>\n");
                continue;
            }
            if (x2 <= x1) { x1 = a.X; x2 = b.X + NodeWidth; }
            sb.Append(ci, $"<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\" stroke=\"#555\" stroke-width=\"1.2\" marker-end=\"url(#arrow)\"><title>{Xml(LinkTooltip(l))}</title></line>\n");
            sb.Append(ci, $"<text x=\"{(x1 + x2) / 2}\" y=\"{(y1 + y2) / 2 - 4}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">{Xml(EdgeLabel(l))}</text>\n");
        }
        foreach (var asset in snap.Assets)
        {
            var (x, y) = pos[asset.Id];
            string fill = asset.Roles.Contains("router") ? "#fde9c8" : asset.Roles.Any(r => r.EndsWith("server", StringComparison.Ordinal) || r == "mqtt_broker") ? "#dbeafe" : "#eef2f5";
            sb.Append(ci, $"<g><title>{Xml(AssetTooltip(asset))}</title><rect x=\"{x}\" y=\"{y}\" width=\"{NodeWidth}\" height=\"{NodeHeight}\" rx=\"8\" fill=\"{fill}\" stroke=\"#445\"/>");
            sb.Append(ci, $"<text x=\"{x + 8}\" y=\"{y + 19}\" font-size=\"12\" font-weight=\"bold\" fill=\"#111\">{Xml(Bound(NodeTitle(asset), 34))}</text>");
            sb.Append(ci, $"<text x=\"{x + 8}\" y=\"{y + 36}\" font-size=\"11\" fill=\"#333\">{Xml(Bound(NodeSubtitle(asset), 40))}</text></g>\n");
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static string AssetTooltip(AssetRecord a)
    {
        var ci = CultureInfo.InvariantCulture;
        return string.Create(ci, $"#{a.Id} {a.Key}\nvendor: {a.MacVendor}\nips: {string.Join(", ", a.Ips)}\nroles: {string.Join(", ", a.Roles)}\nidentity: {a.Identity}\nlast seen: {a.LastSeen}");
    }

    private static string LinkTooltip(LinkRecord l)
        => string.Create(CultureInfo.InvariantCulture, $"{l.Client} -> {l.Server} {EdgeLabel(l)}: {l.Packets} packets, {l.Bytes} bytes, {l.Transactions} transactions");

    // ---------------------------------------------------------------- HTML

    public static string Html(InventorySnapshot snap)
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        sb.Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
        sb.Append("<title>OtSensor communication map</title>\n<style>body{font-family:Helvetica,Arial,sans-serif;margin:20px;color:#222}table{border-collapse:collapse;margin-top:16px}td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px;text-align:left;vertical-align:top}th{background:#f0f3f6}.map{overflow:auto;border:1px solid #ddd}</style>\n</head>\n<body>\n");
        sb.Append(ci, $"<h1>Communication map</h1>\n<p>{snap.Assets.Count} assets, {snap.Links.Count} links.</p>\n<div class=\"map\">\n");
        sb.Append(Svg(snap));
        sb.Append("</div>\n<h2>Assets</h2>\n<table>\n<tr><th>id</th><th>vendor</th><th>IPs</th><th>MAC</th><th>roles</th><th>identity</th><th>last seen</th></tr>\n");
        foreach (var a in snap.Assets)
        {
            sb.Append(ci, $"<tr><td>{a.Id}</td><td>{Xml(a.MacVendor ?? "")}</td><td>{Xml(string.Join(", ", a.Ips))}</td><td>{Xml(a.Mac ?? "")}</td><td>{Xml(string.Join(", ", a.Roles))}</td><td>{Xml(a.Identity.ToString())}</td><td>{Xml(a.LastSeen ?? "")}</td></tr>\n");
        }
        sb.Append("</table>\n<h2>Links</h2>\n<table>\n<tr><th>client</th><th>server</th><th>protocol</th><th>packets</th><th>bytes</th><th>transactions</th></tr>\n");
        foreach (var l in snap.Links)
            sb.Append(ci, $"<tr><td>{Xml(l.Client)}</td><td>{Xml(l.Server)}</td><td>{Xml(EdgeLabel(l))}</td><td>{l.Packets}</td><td>{l.Bytes}</td><td>{l.Transactions}</td></tr>\n");
        sb.Append("</table>\n</body>\n</html>\n");
        return sb.ToString();
    }
}
