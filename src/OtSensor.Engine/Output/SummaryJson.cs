using System.Text.Json;
using OtSensor.Core;

namespace OtSensor.Output;

/// <summary>
/// Helpers for the replay summary's JSON: property names the per-device loops write thousands of times are encoded
/// once (a string name is transcoded and checked for escapes on every call), and addresses are formatted straight
/// into UTF-8 without a string.
/// </summary>
internal static class SummaryJson
{
    public static readonly JsonEncodedText ServerIp = JsonEncodedText.Encode("server_ip");
    public static readonly JsonEncodedText ServerPort = JsonEncodedText.Encode("server_port");
    public static readonly JsonEncodedText Clients = JsonEncodedText.Encode("clients");

    public static void WriteIpValue(Utf8JsonWriter w, IpAddr ip)
    {
        Span<byte> buf = stackalloc byte[IpAddr.MaxTextLength];
        w.WriteStringValue(buf[..ip.FormatUtf8(buf)]);
    }

    public static void WriteIp(Utf8JsonWriter w, JsonEncodedText name, IpAddr ip)
    {
        Span<byte> buf = stackalloc byte[IpAddr.MaxTextLength];
        w.WriteString(name, buf[..ip.FormatUtf8(buf)]);
    }
}
