namespace OtSensor.Protocols.Mqtt;

/// <summary>Data types of MQTT 5 properties (MQTT 5.0 section 1.5).</summary>
public enum MqttPropertyType : byte
{
    Unknown = 0,
    Byte = 1,
    TwoByteInteger = 2,
    FourByteInteger = 3,
    VariableByteInteger = 4,
    Utf8String = 5,
    BinaryData = 6,
    Utf8StringPair = 7,
}

/// <summary>One decoded MQTT 5 property: integer types in <see cref="IntValue"/>, strings / binary in <see cref="Value"/>
/// (and the pair's value in <see cref="Value2"/>).</summary>
public readonly ref struct MqttProperty
{
    public MqttProperty(byte id, MqttPropertyType type, long intValue, ReadOnlySpan<byte> value, ReadOnlySpan<byte> value2)
    {
        Id = id;
        Type = type;
        IntValue = intValue;
        Value = value;
        Value2 = value2;
    }

    public byte Id { get; }
    public MqttPropertyType Type { get; }
    public long IntValue { get; }
    public ReadOnlySpan<byte> Value { get; }
    public ReadOnlySpan<byte> Value2 { get; }
}

/// <summary>
/// Cursor over an MQTT 5 property block (without its length prefix). <see cref="TryRead"/> stops at the end or at
/// the first property that cannot be decoded (unknown id, value cut): then <see cref="Error"/> is true.
/// </summary>
public ref struct MqttPropertyReader
{
    private readonly ReadOnlySpan<byte> _block;
    private int _pos;

    public MqttPropertyReader(ReadOnlySpan<byte> block)
    {
        _block = block;
        _pos = 0;
        Error = false;
    }

    public bool Error { get; private set; }

    public bool TryRead(out MqttProperty property)
    {
        property = default;
        if (Error || _pos >= _block.Length)
        {
            return false;
        }

        var rest = _block[_pos..];
        if (MqttFraming.TryReadVarInt(rest, out int idValue, out int idLen) != MqttFrameStatus.Complete || idValue > 255)
        {
            Error = true;
            return false;
        }

        byte id = (byte)idValue;
        var type = MqttProperties.TypeOf(id);
        var v = rest[idLen..];
        int used;
        switch (type)
        {
            case MqttPropertyType.Byte:
                if (v.Length < 1) break;
                property = new MqttProperty(id, type, v[0], default, default);
                _pos += idLen + 1;
                return true;
            case MqttPropertyType.TwoByteInteger:
                if (v.Length < 2) break;
                property = new MqttProperty(id, type, (v[0] << 8) | v[1], default, default);
                _pos += idLen + 2;
                return true;
            case MqttPropertyType.FourByteInteger:
                if (v.Length < 4) break;
                property = new MqttProperty(id, type, ((long)v[0] << 24) | ((long)v[1] << 16) | ((long)v[2] << 8) | v[3], default, default);
                _pos += idLen + 4;
                return true;
            case MqttPropertyType.VariableByteInteger:
                if (MqttFraming.TryReadVarInt(v, out int vi, out used) != MqttFrameStatus.Complete) break;
                property = new MqttProperty(id, type, vi, default, default);
                _pos += idLen + used;
                return true;
            case MqttPropertyType.Utf8String or MqttPropertyType.BinaryData:
                if (!MqttReader.TryReadLengthPrefixed(v, out var s, out used)) break;
                property = new MqttProperty(id, type, s.Length, s, default);
                _pos += idLen + used;
                return true;
            case MqttPropertyType.Utf8StringPair:
                if (!MqttReader.TryReadLengthPrefixed(v, out var k, out used)) break;
                if (!MqttReader.TryReadLengthPrefixed(v[used..], out var val, out int used2)) break;
                property = new MqttProperty(id, type, 0, k, val);
                _pos += idLen + used + used2;
                return true;
        }

        Error = true;
        return false;
    }
}

/// <summary>The MQTT 5 property table: id → type, name, and the packets that may carry it.</summary>
public static class MqttProperties
{
    public const byte PayloadFormatIndicator = 0x01;
    public const byte MessageExpiryInterval = 0x02;
    public const byte ContentType = 0x03;
    public const byte ResponseTopic = 0x08;
    public const byte CorrelationData = 0x09;
    public const byte SubscriptionIdentifier = 0x0B;
    public const byte SessionExpiryInterval = 0x11;
    public const byte AssignedClientIdentifier = 0x12;
    public const byte ServerKeepAlive = 0x13;
    public const byte AuthenticationMethod = 0x15;
    public const byte AuthenticationData = 0x16;
    public const byte RequestProblemInformation = 0x17;
    public const byte WillDelayInterval = 0x18;
    public const byte RequestResponseInformation = 0x19;
    public const byte ResponseInformation = 0x1A;
    public const byte ServerReference = 0x1C;
    public const byte ReasonString = 0x1F;
    public const byte ReceiveMaximum = 0x21;
    public const byte TopicAliasMaximum = 0x22;
    public const byte TopicAlias = 0x23;
    public const byte MaximumQos = 0x24;
    public const byte RetainAvailable = 0x25;
    public const byte UserProperty = 0x26;
    public const byte MaximumPacketSize = 0x27;
    public const byte WildcardSubscriptionAvailable = 0x28;
    public const byte SubscriptionIdentifierAvailable = 0x29;
    public const byte SharedSubscriptionAvailable = 0x2A;

    /// <summary>Bit 0 of an allowed-in mask stands for the will properties of a CONNECT.</summary>
    private const int Will = 1 << 0;
    private const int Connect = 1 << 1;
    private const int ConnAck = 1 << 2;
    private const int Publish = 1 << 3;
    private const int PubAck = 1 << 4;
    private const int PubRec = 1 << 5;
    private const int PubRel = 1 << 6;
    private const int PubComp = 1 << 7;
    private const int Subscribe = 1 << 8;
    private const int SubAck = 1 << 9;
    private const int Unsubscribe = 1 << 10;
    private const int UnsubAck = 1 << 11;
    private const int Disconnect = 1 << 14;
    private const int Auth = 1 << 15;
    private const int AllPackets = 0xFFFF;

    private static readonly (MqttPropertyType Type, string Name, int AllowedIn)[] Table = BuildTable();

    private static (MqttPropertyType, string, int)[] BuildTable()
    {
        var t = new (MqttPropertyType, string, int)[64];
        for (int i = 0; i < t.Length; i++) t[i] = (MqttPropertyType.Unknown, "unknown", 0);
        t[PayloadFormatIndicator] = (MqttPropertyType.Byte, "payload_format_indicator", Publish | Will);
        t[MessageExpiryInterval] = (MqttPropertyType.FourByteInteger, "message_expiry_interval", Publish | Will);
        t[ContentType] = (MqttPropertyType.Utf8String, "content_type", Publish | Will);
        t[ResponseTopic] = (MqttPropertyType.Utf8String, "response_topic", Publish | Will);
        t[CorrelationData] = (MqttPropertyType.BinaryData, "correlation_data", Publish | Will);
        t[SubscriptionIdentifier] = (MqttPropertyType.VariableByteInteger, "subscription_identifier", Publish | Subscribe);
        t[SessionExpiryInterval] = (MqttPropertyType.FourByteInteger, "session_expiry_interval", Connect | ConnAck | Disconnect);
        t[AssignedClientIdentifier] = (MqttPropertyType.Utf8String, "assigned_client_identifier", ConnAck);
        t[ServerKeepAlive] = (MqttPropertyType.TwoByteInteger, "server_keep_alive", ConnAck);
        t[AuthenticationMethod] = (MqttPropertyType.Utf8String, "authentication_method", Connect | ConnAck | Auth);
        t[AuthenticationData] = (MqttPropertyType.BinaryData, "authentication_data", Connect | ConnAck | Auth);
        t[RequestProblemInformation] = (MqttPropertyType.Byte, "request_problem_information", Connect);
        t[WillDelayInterval] = (MqttPropertyType.FourByteInteger, "will_delay_interval", Will);
        t[RequestResponseInformation] = (MqttPropertyType.Byte, "request_response_information", Connect);
        t[ResponseInformation] = (MqttPropertyType.Utf8String, "response_information", ConnAck);
        t[ServerReference] = (MqttPropertyType.Utf8String, "server_reference", ConnAck | Disconnect);
        t[ReasonString] = (MqttPropertyType.Utf8String, "reason_string", ConnAck | PubAck | PubRec | PubRel | PubComp | SubAck | UnsubAck | Disconnect | Auth);
        t[ReceiveMaximum] = (MqttPropertyType.TwoByteInteger, "receive_maximum", Connect | ConnAck);
        t[TopicAliasMaximum] = (MqttPropertyType.TwoByteInteger, "topic_alias_maximum", Connect | ConnAck);
        t[TopicAlias] = (MqttPropertyType.TwoByteInteger, "topic_alias", Publish);
        t[MaximumQos] = (MqttPropertyType.Byte, "maximum_qos", ConnAck);
        t[RetainAvailable] = (MqttPropertyType.Byte, "retain_available", ConnAck);
        t[UserProperty] = (MqttPropertyType.Utf8StringPair, "user_property", AllPackets);
        t[MaximumPacketSize] = (MqttPropertyType.FourByteInteger, "maximum_packet_size", Connect | ConnAck);
        t[WildcardSubscriptionAvailable] = (MqttPropertyType.Byte, "wildcard_subscription_available", ConnAck);
        t[SubscriptionIdentifierAvailable] = (MqttPropertyType.Byte, "subscription_identifier_available", ConnAck);
        t[SharedSubscriptionAvailable] = (MqttPropertyType.Byte, "shared_subscription_available", ConnAck);
        return t;
    }

    /// <summary>Type of a property id (Unknown for undefined ids).</summary>
    public static MqttPropertyType TypeOf(byte id) => id < Table.Length ? Table[id].Type : MqttPropertyType.Unknown;

    /// <summary>snake_case name of a property id ("unknown" for undefined ids).</summary>
    public static string Name(byte id) => id < Table.Length ? Table[id].Name : "unknown";

    /// <summary>True when the property may appear in the packet type (or in CONNECT will properties).</summary>
    public static bool AllowedIn(byte id, MqttPacketType packet, bool will)
    {
        if (id >= Table.Length) return false;
        int mask = Table[id].AllowedIn;
        return will ? (mask & Will) != 0 : (mask & (1 << (int)packet)) != 0;
    }

    /// <summary>
    /// Checks a property block: every id known and allowed in the packet, no duplicate (user property and, in PUBLISH,
    /// subscription identifier may repeat), values in range, strings well-formed UTF-8. Returns anomaly bits.
    /// </summary>
    public static ulong Validate(ReadOnlySpan<byte> block, MqttPacketType packet, bool will)
    {
        ulong bits = 0;
        ulong seen = 0;
        var r = new MqttPropertyReader(block);
        while (r.TryRead(out var p))
        {
            if (!AllowedIn(p.Id, packet, will))
            {
                bits |= MqttAnomalies.Bit(MqttAnomaly.MalformedProperty);
            }

            bool repeatable = p.Id == UserProperty || (p.Id == SubscriptionIdentifier && packet == MqttPacketType.Publish);
            ulong bit = 1UL << p.Id;
            if ((seen & bit) != 0 && !repeatable)
            {
                bits |= MqttAnomalies.Bit(MqttAnomaly.MalformedProperty);
            }

            seen |= bit;
            switch (p.Type)
            {
                case MqttPropertyType.Utf8String:
                    if (!MqttReader.IsValidMqttUtf8(p.Value)) bits |= MqttAnomalies.Bit(MqttAnomaly.MalformedUtf8);
                    break;
                case MqttPropertyType.Utf8StringPair:
                    if (!MqttReader.IsValidMqttUtf8(p.Value) || !MqttReader.IsValidMqttUtf8(p.Value2)) bits |= MqttAnomalies.Bit(MqttAnomaly.MalformedUtf8);
                    break;
            }

            bool badValue = p.Id switch
            {
                PayloadFormatIndicator or RequestProblemInformation or RequestResponseInformation or MaximumQos
                    or RetainAvailable or WildcardSubscriptionAvailable or SubscriptionIdentifierAvailable
                    or SharedSubscriptionAvailable => p.IntValue > 1,
                SubscriptionIdentifier or ReceiveMaximum or MaximumPacketSize => p.IntValue == 0,
                _ => false,
            };
            if (badValue)
            {
                bits |= MqttAnomalies.Bit(MqttAnomaly.MalformedProperty);
            }
        }

        if (r.Error)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.MalformedProperty);
        }

        return bits;
    }

    /// <summary>The integer value of the first property with this id, if any.</summary>
    public static bool TryGetInt(ReadOnlySpan<byte> block, byte id, out long value)
    {
        var r = new MqttPropertyReader(block);
        while (r.TryRead(out var p))
        {
            if (p.Id == id)
            {
                value = p.IntValue;
                return true;
            }
        }

        value = 0;
        return false;
    }
}
