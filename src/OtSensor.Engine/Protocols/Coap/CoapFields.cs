namespace OtSensor.Protocols.Coap;

/// <summary>
/// Field ids of CoAP event blobs (<see cref="EventFieldWriter"/>) and their JSON names. Plain names describe the
/// request message (type, method, mid, uri_*...) or exchange-wide facts (token, code); <c>response_*</c> names
/// describe the response message where both could carry the same option. Stable values.
/// </summary>
public static class CoapFields
{
    public const byte Type = 1;
    public const byte Method = 2;
    public const byte Code = 3;
    public const byte Mid = 4;
    public const byte Token = 5;
    public const byte UriPath = 6;
    public const byte UriQuery = 7;
    public const byte UriHost = 8;
    public const byte UriPort = 9;
    public const byte ContentFormat = 10;
    public const byte Accept = 11;
    public const byte Observe = 12;
    public const byte Block2 = 13;
    public const byte Block1 = 14;
    public const byte PayloadLen = 15;
    public const byte ResponseType = 16;
    public const byte ResponseMid = 17;
    public const byte PayloadPrefix = 18;
    public const byte LocationPath = 19;
    public const byte MaxAge = 20;
    public const byte ETag = 21;
    public const byte Options = 22;
    public const byte Resources = 23;
    public const byte Transfer = 24;
    public const byte Notification = 25;
    public const byte SeparateResponse = 26;
    public const byte ResponseContentFormat = 27;
    public const byte ResponseObserve = 28;
    public const byte ResponseBlock2 = 29;
    public const byte ResponseBlock1 = 30;
    public const byte ResponsePayloadLen = 31;
    public const byte ResponsePayloadPrefix = 32;
    public const byte ResponseOptions = 33;
    /// <summary>Type (ACK/RST) of the empty message that acknowledged a CON request before its separate response.</summary>
    public const byte RequestAck = 34;
    /// <summary>Type (ACK/RST) of the empty message that answered a CON response (separate response, notification).</summary>
    public const byte ResponseAck = 35;
    /// <summary>Retransmissions of the request (same message id) seen while the exchange was open.</summary>
    public const byte Retransmissions = 36;
    public const byte ProxyUri = 37;
    public const byte ProxyScheme = 38;
    public const byte Size1 = 39;
    public const byte Size2 = 40;
    public const byte LocationQuery = 41;
    public const byte IfNoneMatch = 42;
    public const byte Oscore = 43;
    public const byte NoResponse = 44;
    public const byte HopLimit = 45;
    public const byte RequestETag = 46;
    public const byte CodeName = 47;
    public const byte ResponseRetransmissions = 48;
    public const byte ResourcesTruncated = 49;
    public const byte Ping = 50;

    // Nested object members.
    public const byte Num = 60;
    public const byte More = 61;
    public const byte Size = 62;
    public const byte Blocks = 63;
    public const byte TotalSize = 64;
    public const byte Complete = 65;
    public const byte Number = 66;
    public const byte Critical = 67;
    public const byte Value = 68;
    public const byte BlockOption = 69;
    public const byte Path = 70;
    public const byte Rt = 71;
    public const byte If = 72;
    public const byte Ct = 73;
    public const byte Obs = 74;
    public const byte Title = 75;
    public const byte Sz = 76;
    public const byte Anchor = 77;
    public const byte Unsafe = 78;

    private static readonly string[] Names = Build();

    private static string[] Build()
    {
        var n = new string[256];
        for (int i = 0; i < n.Length; i++)
        {
            n[i] = "field_" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        void Set(byte id, string name) => n[id] = name;
        Set(Type, "type");
        Set(Method, "method");
        Set(Code, "code");
        Set(Mid, "mid");
        Set(Token, "token");
        Set(UriPath, "uri_path");
        Set(UriQuery, "uri_query");
        Set(UriHost, "uri_host");
        Set(UriPort, "uri_port");
        Set(ContentFormat, "content_format");
        Set(Accept, "accept");
        Set(Observe, "observe");
        Set(Block2, "block2");
        Set(Block1, "block1");
        Set(PayloadLen, "payload_len");
        Set(ResponseType, "response_type");
        Set(ResponseMid, "response_mid");
        Set(PayloadPrefix, "payload_prefix");
        Set(LocationPath, "location_path");
        Set(MaxAge, "max_age");
        Set(ETag, "etag");
        Set(Options, "options");
        Set(Resources, "resources");
        Set(Transfer, "transfer");
        Set(Notification, "notification");
        Set(SeparateResponse, "separate_response");
        Set(ResponseContentFormat, "response_content_format");
        Set(ResponseObserve, "response_observe");
        Set(ResponseBlock2, "response_block2");
        Set(ResponseBlock1, "response_block1");
        Set(ResponsePayloadLen, "response_payload_len");
        Set(ResponsePayloadPrefix, "response_payload_prefix");
        Set(ResponseOptions, "response_options");
        Set(RequestAck, "request_ack");
        Set(ResponseAck, "response_ack");
        Set(Retransmissions, "retransmissions");
        Set(ProxyUri, "proxy_uri");
        Set(ProxyScheme, "proxy_scheme");
        Set(Size1, "size1");
        Set(Size2, "size2");
        Set(LocationQuery, "location_query");
        Set(IfNoneMatch, "if_none_match");
        Set(Oscore, "oscore");
        Set(NoResponse, "no_response");
        Set(HopLimit, "hop_limit");
        Set(RequestETag, "request_etag");
        Set(CodeName, "code_name");
        Set(ResponseRetransmissions, "response_retransmissions");
        Set(ResourcesTruncated, "resources_truncated");
        Set(Ping, "ping");
        Set(Num, "num");
        Set(More, "more");
        Set(Size, "size");
        Set(Blocks, "blocks");
        Set(TotalSize, "total_size");
        Set(Complete, "complete");
        Set(Number, "number");
        Set(Critical, "critical");
        Set(Value, "value");
        Set(BlockOption, "block_option");
        Set(Path, "path");
        Set(Rt, "rt");
        Set(If, "if");
        Set(Ct, "ct");
        Set(Obs, "obs");
        Set(Title, "title");
        Set(Sz, "sz");
        Set(Anchor, "anchor");
        Set(Unsafe, "unsafe");
        return n;
    }

    /// <summary>JSON name of a field id (never null; unknown ids are "field_N").</summary>
    public static string Name(byte id) => Names[id];
}
