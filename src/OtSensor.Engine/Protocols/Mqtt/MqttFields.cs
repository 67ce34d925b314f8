namespace OtSensor.Protocols.Mqtt;

/// <summary>
/// Field ids of MQTT event blobs (<see cref="EventFieldWriter"/>) and their JSON names. Ids are stable; names are
/// what scripts read. Ids 0x80 + property id name the MQTT 5 properties inside a <c>properties</c> object.
/// </summary>
public static class MqttFields
{
    public const byte Type = 1;
    public const byte ResponseType = 2;
    public const byte Version = 3;
    public const byte ClientId = 4;
    public const byte Username = 5;
    public const byte PasswordPresent = 6;
    public const byte ReasonCode = 7;
    public const byte Topic = 8;
    public const byte Topics = 9;
    public const byte Filter = 10;
    public const byte Qos = 11;
    public const byte GrantedQos = 12;
    public const byte Retain = 13;
    public const byte Dup = 14;
    public const byte PacketId = 15;
    public const byte PayloadLen = 16;
    public const byte PayloadPrefix = 17;
    public const byte Direction = 18;
    public const byte KeepAlive = 19;
    public const byte CleanSession = 20;
    public const byte Will = 21;
    public const byte SessionPresent = 22;
    public const byte Properties = 23;
    public const byte ProtocolName = 24;
    /// <summary>Array of the packet types (numbers) of every wire packet folded into the event, in order.</summary>
    public const byte Packets = 25;
    public const byte NoLocal = 26;
    public const byte RetainAsPublished = 27;
    public const byte RetainHandling = 28;
    /// <summary>UNSUBACK (v5) reason codes.</summary>
    public const byte ReasonCodes = 29;
    public const byte TopicAlias = 30;
    public const byte Key = 31;
    public const byte Value = 32;
    public const byte FieldsTruncated = 33;
    public const byte ResponseProperties = 34;
    public const byte ProtocolLevel = 35;
    public const byte TopicCount = 36;
    public const byte Malformed = 37;
    public const byte Oversize = 38;
    /// <summary>Length of authentication data (the value is a credential: never written).</summary>
    public const byte AuthenticationDataLen = 39;
    public const byte ConnectFlags = 40;
    /// <summary>Base of the property name ids: <c>PropertyBase + property id</c>.</summary>
    public const byte PropertyBase = 0x80;

    private static readonly string[] Names = BuildNames();

    private static string[] BuildNames()
    {
        var n = new string[256];
        for (int i = 0; i < n.Length; i++) n[i] = "field_" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        n[Type] = "type";
        n[ResponseType] = "response_type";
        n[Version] = "version";
        n[ClientId] = "client_id";
        n[Username] = "username";
        n[PasswordPresent] = "password_present";
        n[ReasonCode] = "reason_code";
        n[Topic] = "topic";
        n[Topics] = "topics";
        n[Filter] = "filter";
        n[Qos] = "qos";
        n[GrantedQos] = "granted_qos";
        n[Retain] = "retain";
        n[Dup] = "dup";
        n[PacketId] = "packet_id";
        n[PayloadLen] = "payload_len";
        n[PayloadPrefix] = "payload_prefix";
        n[Direction] = "direction";
        n[KeepAlive] = "keep_alive";
        n[CleanSession] = "clean_session";
        n[Will] = "will";
        n[SessionPresent] = "session_present";
        n[Properties] = "properties";
        n[ProtocolName] = "protocol_name";
        n[Packets] = "packets";
        n[NoLocal] = "no_local";
        n[RetainAsPublished] = "retain_as_published";
        n[RetainHandling] = "retain_handling";
        n[ReasonCodes] = "reason_codes";
        n[TopicAlias] = "topic_alias";
        n[Key] = "key";
        n[Value] = "value";
        n[FieldsTruncated] = "fields_truncated";
        n[ResponseProperties] = "response_properties";
        n[ProtocolLevel] = "protocol_level";
        n[TopicCount] = "topic_count";
        n[Malformed] = "malformed";
        n[Oversize] = "oversize";
        n[AuthenticationDataLen] = "authentication_data_len";
        n[ConnectFlags] = "connect_flags";
        for (int id = 1; id < 0x80; id++)
        {
            if (MqttProperties.TypeOf((byte)id) != MqttPropertyType.Unknown) n[PropertyBase + id] = MqttProperties.Name((byte)id);
        }

        return n;
    }

    /// <summary>JSON name of a field id (never throws; unknown ids get "field_N").</summary>
    public static string Name(byte id) => Names[id];

    /// <summary>Lower-case name of a packet type as written in <c>type</c> / <c>response_type</c>, as UTF-8 (what the event blobs hold).</summary>
    public static ReadOnlySpan<byte> PacketTypeNameUtf8(MqttPacketType type) => type switch
    {
        MqttPacketType.Connect => "connect"u8,
        MqttPacketType.ConnAck => "connack"u8,
        MqttPacketType.Publish => "publish"u8,
        MqttPacketType.PubAck => "puback"u8,
        MqttPacketType.PubRec => "pubrec"u8,
        MqttPacketType.PubRel => "pubrel"u8,
        MqttPacketType.PubComp => "pubcomp"u8,
        MqttPacketType.Subscribe => "subscribe"u8,
        MqttPacketType.SubAck => "suback"u8,
        MqttPacketType.Unsubscribe => "unsubscribe"u8,
        MqttPacketType.UnsubAck => "unsuback"u8,
        MqttPacketType.PingReq => "pingreq"u8,
        MqttPacketType.PingResp => "pingresp"u8,
        MqttPacketType.Disconnect => "disconnect"u8,
        MqttPacketType.Auth => "auth"u8,
        _ => "reserved"u8,
    };

    private static readonly string[] s_packetTypeNames =
        [.. Enumerable.Range(0, 16).Select(t => System.Text.Encoding.ASCII.GetString(PacketTypeNameUtf8((MqttPacketType)t)))];

    /// <summary><see cref="PacketTypeNameUtf8"/> as a string.</summary>
    public static string PacketTypeName(MqttPacketType type) => (byte)type < 16 ? s_packetTypeNames[(byte)type] : "reserved";
}
