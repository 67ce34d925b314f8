using System.Text;
using OtSensor.Protocols.Coap;

namespace OtSensor.Tests.Protocols.Coap;

public class CoapLinkFormatTests
{
    private sealed record Link(string Target, string Rt, string If, string Ct, string Title, string Sz, string Anchor, bool Obs, int Params);

    private static (List<Link> Links, bool Invalid) Parse(string doc)
    {
        var links = new List<Link>();
        var r = new CoapLinkReader(Encoding.UTF8.GetBytes(doc));
        static string S(ReadOnlySpan<byte> v) => Encoding.UTF8.GetString(v);
        while (r.TryReadLink(out var l))
        {
            links.Add(new Link(S(l.Target), S(l.Rt), S(l.If), S(l.Ct), S(l.Title), S(l.Sz), S(l.Anchor), l.Obs, l.ParamCount));
        }

        return (links, r.Invalid);
    }

    [Fact]
    public void Rfc6690Section5_Example1_TwoSensors()
    {
        var (links, invalid) = Parse("</sensors/temp>;if=\"sensor\",</sensors/light>;if=\"sensor\"");
        Assert.False(invalid);
        Assert.Equal(2, links.Count);
        Assert.Equal("/sensors/temp", links[0].Target);
        Assert.Equal("sensor", links[0].If);
        Assert.Equal("/sensors/light", links[1].Target);
    }

    [Fact]
    public void Rfc6690Section5_Example3_WithAnchorsAndRel()
    {
        const string doc = "</sensors>;ct=40;title=\"Sensor Index\",</sensors/temp>;rt=\"temperature-c\";if=\"sensor\","
            + "</sensors/light>;rt=\"light-lux\";if=\"sensor\",<http://www.example.com/sensors/t123>;anchor=\"/sensors/temp\";rel=\"describedby\","
            + "</t>;anchor=\"/sensors/temp\";rel=\"alternate\"";
        var (links, invalid) = Parse(doc);
        Assert.False(invalid);
        Assert.Equal(5, links.Count);
        Assert.Equal(new Link("/sensors", "", "", "40", "Sensor Index", "", "", false, 2), links[0]);
        Assert.Equal("temperature-c", links[1].Rt);
        Assert.Equal("http://www.example.com/sensors/t123", links[3].Target);
        Assert.Equal("/sensors/temp", links[3].Anchor);
        Assert.Equal(2, links[4].Params);
    }

    [Fact]
    public void QuotedStrings_MayHoldCommasSemicolonsAndEscapedQuotes()
    {
        var (links, invalid) = Parse("</a>;title=\"x, y; z\";rt=\"one two\",</b>;title=\"say \\\"hi\\\"\";obs");
        Assert.False(invalid);
        Assert.Equal(2, links.Count);
        Assert.Equal("x, y; z", links[0].Title);
        Assert.Equal("one two", links[0].Rt);
        Assert.Equal("say \\\"hi\\\"", links[1].Title);
        Assert.True(links[1].Obs);
    }

    [Fact]
    public void FirstOccurrenceOfAParameter_Wins_AndValuesMayBeTokens()
    {
        var (links, _) = Parse("</a>;rt=first;rt=\"second\";ct=\"0 41\";sz=1280");
        var l = Assert.Single(links);
        Assert.Equal("first", l.Rt);
        Assert.Equal("0 41", l.Ct);
        Assert.Equal("1280", l.Sz);
        Assert.Equal(4, l.Params);
    }

    [Fact]
    public void WhitespaceBetweenLinks_IsTolerated()
    {
        var (links, invalid) = Parse("</a>;obs,\n  </b>\r\n,</c>");
        Assert.False(invalid);
        Assert.Equal(["/a", "/b", "/c"], links.Select(l => l.Target));
    }

    [Theory]
    [InlineData("/a>")]
    [InlineData("</a")]
    [InlineData("</a>;title=\"open")]
    [InlineData("</a>x")]
    [InlineData("</a>;=1")]
    public void Malformed_StopsAndIsInvalid(string doc)
    {
        var (_, invalid) = Parse(doc);
        Assert.True(invalid);
    }

    [Fact]
    public void EmptyDocument_HasNoLinks()
    {
        var (links, invalid) = Parse("");
        Assert.Empty(links);
        Assert.False(invalid);
    }

    [Fact]
    public void Write_StopsAtTheResourceBound()
    {
        var doc = Encoding.UTF8.GetBytes(string.Join(",", Enumerable.Range(0, 50).Select(i => $"</r{i}>")));
        var buf = new byte[8192];
        var w = new EventFieldWriter(buf);
        Assert.True(CoapLinkFormat.Write(ref w, doc, buf.Length, 256, 10, out int count));
        Assert.Equal(10, count);
        var json = CoapTestData.ToJson(w.Written.ToArray());
        Assert.Equal(10, json.GetProperty("resources").GetArrayLength());
        Assert.True(json.GetProperty("resources_truncated").GetBoolean());
    }

    [Fact]
    public void RandomBytes_NeverThrow()
    {
        var rng = new Random(3);
        var buf = new byte[4096];
        for (int i = 0; i < 500; i++)
        {
            var doc = new byte[rng.Next(200)];
            rng.NextBytes(doc);
            if (doc.Length > 0) doc[0] = (byte)'<';
            var w = new EventFieldWriter(buf);
            CoapLinkFormat.Write(ref w, doc, buf.Length, 256, 128, out _);
            _ = CoapTestData.ToJson(w.Written.ToArray());
        }
    }
}
