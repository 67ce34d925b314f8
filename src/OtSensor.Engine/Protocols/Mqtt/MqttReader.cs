namespace OtSensor.Protocols.Mqtt;

/// <summary>Result of decoding one whole MQTT packet.</summary>
public enum MqttReadStatus
{
    Ok = 0,
    /// <summary>The packet cannot be decoded (lengths inconsistent, fields missing, unknown protocol).</summary>
    Malformed = 1,
}

/// <summary>The fixed header of a packet.</summary>
public readonly record struct MqttFixedHeader(MqttPacketType Type, byte Flags, int RemainingLength, int HeaderLength)
{
    public int PacketLength => HeaderLength + RemainingLength;
}

/// <summary>A decoded CONNECT. The password is never exposed: only whether it is present.</summary>
public readonly ref struct MqttConnect
{
    public ReadOnlySpan<byte> ProtocolName { get; init; }
    public byte ProtocolLevel { get; init; }
    /// <summary>3 (MQIsdp/3), 4 (MQTT/4), 5 (MQTT/5), or 0 when name and level are not a known pair.</summary>
    public byte Version { get; init; }
    public byte ConnectFlags { get; init; }
    public bool CleanSession => (ConnectFlags & 0x02) != 0;
    public bool WillFlag => (ConnectFlags & 0x04) != 0;
    public int WillQos => (ConnectFlags >> 3) & 3;
    public bool WillRetain => (ConnectFlags & 0x20) != 0;
    public bool PasswordFlag => (ConnectFlags & 0x40) != 0;
    public bool UsernameFlag => (ConnectFlags & 0x80) != 0;
    public ushort KeepAlive { get; init; }
    public ReadOnlySpan<byte> Properties { get; init; }
    public ReadOnlySpan<byte> ClientId { get; init; }
    public ReadOnlySpan<byte> WillProperties { get; init; }
    public ReadOnlySpan<byte> WillTopic { get; init; }
    public int WillPayloadLength { get; init; }
    public ReadOnlySpan<byte> Username { get; init; }
    public bool PasswordPresent { get; init; }
}

/// <summary>A decoded CONNACK (v3 return code or v5 reason code).</summary>
public readonly ref struct MqttConnAck
{
    public bool SessionPresent { get; init; }
    public byte AckFlags { get; init; }
    public byte ReasonCode { get; init; }
    public ReadOnlySpan<byte> Properties { get; init; }
}

/// <summary>A decoded PUBLISH. <see cref="PayloadLength"/> is the declared payload size; <see cref="Payload"/> what is present.</summary>
public readonly ref struct MqttPublish
{
    public bool Dup { get; init; }
    public int Qos { get; init; }
    public bool Retain { get; init; }
    public ReadOnlySpan<byte> Topic { get; init; }
    public ushort PacketId { get; init; }
    public ReadOnlySpan<byte> Properties { get; init; }
    public int PayloadLength { get; init; }
    public ReadOnlySpan<byte> Payload { get; init; }
}

/// <summary>
/// A packet made of an optional packet id, an optional reason code, optional properties and a payload: PUBACK,
/// PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, PINGRESP.
/// For SUBSCRIBE / UNSUBSCRIBE the payload holds the topic filters (see <see cref="MqttReader.TryReadTopicFilter"/>);
/// for SUBACK / UNSUBACK it holds the codes.
/// </summary>
public readonly ref struct MqttGeneric
{
    public ushort PacketId { get; init; }
    /// <summary>The reason code (0 when the packet omits it).</summary>
    public byte ReasonCode { get; init; }
    public ReadOnlySpan<byte> Properties { get; init; }
    public ReadOnlySpan<byte> Payload { get; init; }
}

/// <summary>
/// Pure, allocation-free MQTT packet decoding over spans (MQTT 3.1, 3.1.1 and 5.0). Methods take a whole packet
/// (fixed header included) and return a status; values that parse but break a rule set anomaly bits instead.
/// </summary>
public static class MqttReader
{
    /// <summary>Reads a 2-byte-length-prefixed field.</summary>
    public static bool TryReadLengthPrefixed(ReadOnlySpan<byte> span, out ReadOnlySpan<byte> value, out int used)
    {
        value = default;
        used = 0;
        if (span.Length < 2) return false;
        int len = (span[0] << 8) | span[1];
        if (span.Length - 2 < len) return false;
        value = span.Slice(2, len);
        used = 2 + len;
        return true;
    }

    /// <summary>Well-formed UTF-8 (no surrogates, no overlongs) without U+0000 (MQTT 3.1.1 section 1.5.3).</summary>
    public static bool IsValidMqttUtf8(ReadOnlySpan<byte> s) => !s.Contains((byte)0) && System.Text.Unicode.Utf8.IsValid(s);

    public static bool TryReadFixedHeader(ReadOnlySpan<byte> packet, out MqttFixedHeader header)
    {
        header = default;
        if (MqttFraming.TryGetPacketLength(packet, out int length, out int hl) != MqttFrameStatus.Complete) return false;
        header = new MqttFixedHeader(MqttFraming.TypeOf(packet[0]), (byte)(packet[0] & 0x0F), length - hl, hl);
        return true;
    }

    /// <summary>
    /// Fixed-header rule violations of a packet's first byte for a version: reserved type, flags, PUBLISH QoS 3,
    /// DUP with QoS 0.
    /// </summary>
    public static ulong CheckFixedHeader(byte first, int version)
    {
        var type = MqttFraming.TypeOf(first);
        int flags = first & 0x0F;
        ulong bits = 0;
        if (type == MqttPacketType.Reserved || (type == MqttPacketType.Auth && version is 3 or 4))
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.ReservedPacketType);
        }

        int required = MqttFraming.RequiredFlags(type);
        if (required < 0)
        {
            int qos = (flags >> 1) & 3;
            if (qos == 3) bits |= MqttAnomalies.Bit(MqttAnomaly.InvalidQos);
            if (qos == 0 && (flags & 8) != 0) bits |= MqttAnomalies.Bit(MqttAnomaly.DupWithQos0);
        }
        else if (flags != required && type != MqttPacketType.Reserved)
        {
            bits |= MqttAnomalies.Bit(MqttAnomaly.InvalidFlags);
        }

        return bits;
    }

    private static bool Body(ReadOnlySpan<byte> packet, out ReadOnlySpan<byte> body, out byte flags)
    {
        body = default;
        flags = 0;
        if (!TryReadFixedHeader(packet, out var h) || packet.Length < h.PacketLength) return false;
        body = packet.Slice(h.HeaderLength, h.RemainingLength);
        flags = h.Flags;
        return true;
    }

    private static bool TryProperties(ReadOnlySpan<byte> span, scoped ref int pos, out ReadOnlySpan<byte> props)
    {
        props = default;
        if (MqttFraming.TryReadVarInt(span[pos..], out int len, out int used) != MqttFrameStatus.Complete) return false;
        if (span.Length - pos - used < len) return false;
        props = span.Slice(pos + used, len);
        pos += used + len;
        return true;
    }

    private static bool TryString(ReadOnlySpan<byte> span, scoped ref int pos, out ReadOnlySpan<byte> value, scoped ref ulong anomalies, bool utf8 = true)
    {
        if (!TryReadLengthPrefixed(span[pos..], out value, out int used)) return false;
        pos += used;
        if (utf8 && !IsValidMqttUtf8(value)) anomalies |= MqttAnomalies.Bit(MqttAnomaly.MalformedUtf8);
        return true;
    }

    private static bool TryU16(ReadOnlySpan<byte> span, scoped ref int pos, out ushort value)
    {
        value = 0;
        if (span.Length - pos < 2) return false;
        value = (ushort)((span[pos] << 8) | span[pos + 1]);
        pos += 2;
        return true;
    }

    /// <summary>Decodes a CONNECT; the version comes from its protocol name and level.</summary>
    public static MqttReadStatus TryReadConnect(ReadOnlySpan<byte> packet, out MqttConnect connect, scoped ref ulong anomalies)
    {
        connect = default;
        if (!Body(packet, out var b, out _)) return MqttReadStatus.Malformed;
        int pos = 0;
        if (!TryString(b, ref pos, out var name, ref anomalies)) return MqttReadStatus.Malformed;
        if (b.Length - pos < 4) return MqttReadStatus.Malformed;
        byte level = b[pos];
        byte flags = b[pos + 1];
        ushort keepAlive = (ushort)((b[pos + 2] << 8) | b[pos + 3]);
        pos += 4;
        byte version = 0;
        if (name.SequenceEqual("MQTT"u8) && level is 4 or 5) version = level;
        else if (name.SequenceEqual("MQIsdp"u8) && level == 3) version = 3;
        if (version == 0)
        {
            anomalies |= MqttAnomalies.Bit(MqttAnomaly.UnknownProtocolVersion);
            return MqttReadStatus.Malformed;
        }

        if ((flags & 1) != 0) anomalies |= MqttAnomalies.Bit(MqttAnomaly.ConnectReservedFlag);
        bool will = (flags & 0x04) != 0;
        int willQos = (flags >> 3) & 3;
        if (willQos == 3) anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidQos);
        if (!will && (willQos != 0 || (flags & 0x20) != 0)) anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidConnectFlags);
        if (version < 5 && (flags & 0xC0) == 0x40) anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidConnectFlags);

        ReadOnlySpan<byte> props = default, willProps = default, willTopic = default, willPayload = default, user = default;
        if (version == 5)
        {
            if (!TryProperties(b, ref pos, out props)) return MqttReadStatus.Malformed;
            anomalies |= MqttProperties.Validate(props, MqttPacketType.Connect, false);
        }

        if (!TryString(b, ref pos, out var clientId, ref anomalies)) return MqttReadStatus.Malformed;
        if (will)
        {
            if (version == 5)
            {
                if (!TryProperties(b, ref pos, out willProps)) return MqttReadStatus.Malformed;
                anomalies |= MqttProperties.Validate(willProps, MqttPacketType.Connect, true);
            }

            if (!TryString(b, ref pos, out willTopic, ref anomalies)) return MqttReadStatus.Malformed;
            if (!TryString(b, ref pos, out willPayload, ref anomalies, utf8: false)) return MqttReadStatus.Malformed;
        }

        if ((flags & 0x80) != 0 && !TryString(b, ref pos, out user, ref anomalies)) return MqttReadStatus.Malformed;
        if ((flags & 0x40) != 0)
        {
            if (!TryReadLengthPrefixed(b[pos..], out _, out int used)) return MqttReadStatus.Malformed;
            pos += used;
        }

        if (pos != b.Length) return MqttReadStatus.Malformed;
        connect = new MqttConnect
        {
            ProtocolName = name,
            ProtocolLevel = level,
            Version = version,
            ConnectFlags = flags,
            KeepAlive = keepAlive,
            Properties = props,
            ClientId = clientId,
            WillProperties = willProps,
            WillTopic = willTopic,
            WillPayloadLength = willPayload.Length,
            Username = user,
            PasswordPresent = (flags & 0x40) != 0,
        };
        return MqttReadStatus.Ok;
    }

    /// <summary>Decodes a CONNACK. Version 3/4: exactly 2 bytes; version 5: flags, reason code, properties.</summary>
    public static MqttReadStatus TryReadConnAck(ReadOnlySpan<byte> packet, int version, out MqttConnAck ack, scoped ref ulong anomalies)
    {
        ack = default;
        if (!Body(packet, out var b, out _)) return MqttReadStatus.Malformed;
        if (b.Length < 2) return MqttReadStatus.Malformed;
        ReadOnlySpan<byte> props = default;
        if (version == 5)
        {
            int pos = 2;
            if (b.Length > 2)
            {
                if (!TryProperties(b, ref pos, out props) || pos != b.Length) return MqttReadStatus.Malformed;
                anomalies |= MqttProperties.Validate(props, MqttPacketType.ConnAck, false);
            }
        }
        else if (b.Length != 2)
        {
            return MqttReadStatus.Malformed;
        }

        if ((b[0] & 0xFE) != 0) anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidFlags);
        if (!MqttReasonCodes.IsDefined(MqttPacketType.ConnAck, b[1], version)) anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidReasonCode);
        ack = new MqttConnAck { AckFlags = b[0], SessionPresent = (b[0] & 1) != 0, ReasonCode = b[1], Properties = props };
        return MqttReadStatus.Ok;
    }

    /// <summary>
    /// Decodes a PUBLISH. <paramref name="declaredLength"/> (0 = the packet is whole) is the real packet length when
    /// only the head of an oversize packet is given: the topic, id and properties must fit in it.
    /// </summary>
    public static MqttReadStatus TryReadPublish(ReadOnlySpan<byte> packet, int version, out MqttPublish publish, scoped ref ulong anomalies, int declaredLength = 0)
    {
        publish = default;
        if (!TryReadFixedHeader(packet, out var h)) return MqttReadStatus.Malformed;
        int total = declaredLength > 0 ? declaredLength : h.PacketLength;
        if (declaredLength <= 0 && packet.Length < h.PacketLength) return MqttReadStatus.Malformed;
        var b = packet.Slice(h.HeaderLength, Math.Min(packet.Length, total) - h.HeaderLength);
        int qos = (h.Flags >> 1) & 3;
        int pos = 0;
        if (!TryString(b, ref pos, out var topic, ref anomalies)) return MqttReadStatus.Malformed;
        if (topic.IndexOfAny((byte)'+', (byte)'#') >= 0) anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidTopic);
        ushort id = 0;
        if (qos > 0)
        {
            if (!TryU16(b, ref pos, out id)) return MqttReadStatus.Malformed;
            if (id == 0) anomalies |= MqttAnomalies.Bit(MqttAnomaly.MissingPacketId);
        }

        ReadOnlySpan<byte> props = default;
        if (version == 5)
        {
            if (!TryProperties(b, ref pos, out props)) return MqttReadStatus.Malformed;
            anomalies |= MqttProperties.Validate(props, MqttPacketType.Publish, false);
        }

        if (topic.IsEmpty && (version != 5 || !MqttProperties.TryGetInt(props, MqttProperties.TopicAlias, out _)))
        {
            anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidTopic);
        }

        publish = new MqttPublish
        {
            Dup = (h.Flags & 8) != 0,
            Qos = qos,
            Retain = (h.Flags & 1) != 0,
            Topic = topic,
            PacketId = id,
            Properties = props,
            PayloadLength = h.RemainingLength - pos,
            Payload = b[pos..],
        };
        return MqttReadStatus.Ok;
    }

    /// <summary>
    /// Decodes every packet type other than CONNECT, CONNACK and PUBLISH, with the version's rules (3.1.1 acks are
    /// exactly a packet id; v5 acks may add a reason code and properties).
    /// </summary>
    public static MqttReadStatus TryReadGeneric(ReadOnlySpan<byte> packet, int version, out MqttGeneric result, scoped ref ulong anomalies)
    {
        result = default;
        if (!Body(packet, out var b, out _)) return MqttReadStatus.Malformed;
        var type = MqttFraming.TypeOf(packet[0]);
        bool v5 = version == 5;
        int pos = 0;
        ushort id = 0;
        byte reason = 0;
        ReadOnlySpan<byte> props = default;
        switch (type)
        {
            case MqttPacketType.PubAck or MqttPacketType.PubRec or MqttPacketType.PubRel or MqttPacketType.PubComp:
                if (!TryU16(b, ref pos, out id)) return MqttReadStatus.Malformed;
                if (v5 && b.Length > 2)
                {
                    reason = b[pos++];
                    if (b.Length > 3 && !TryProperties(b, ref pos, out props)) return MqttReadStatus.Malformed;
                }

                if (pos != b.Length) return MqttReadStatus.Malformed;
                break;
            case MqttPacketType.Subscribe or MqttPacketType.Unsubscribe or MqttPacketType.SubAck or MqttPacketType.UnsubAck:
                if (!TryU16(b, ref pos, out id)) return MqttReadStatus.Malformed;
                if (v5 && !TryProperties(b, ref pos, out props)) return MqttReadStatus.Malformed;
                if (type == MqttPacketType.UnsubAck && !v5 && pos != b.Length) return MqttReadStatus.Malformed;
                break;
            case MqttPacketType.PingReq or MqttPacketType.PingResp:
                if (b.Length != 0) return MqttReadStatus.Malformed;
                break;
            case MqttPacketType.Disconnect or MqttPacketType.Auth:
                if (!v5)
                {
                    if (b.Length != 0) return MqttReadStatus.Malformed;
                    break;
                }

                if (b.Length > 0) reason = b[pos++];
                if (b.Length > 1 && !TryProperties(b, ref pos, out props)) return MqttReadStatus.Malformed;
                if (pos != b.Length) return MqttReadStatus.Malformed;
                break;
            default:
                return MqttReadStatus.Malformed;
        }

        if (type is not (MqttPacketType.PingReq or MqttPacketType.PingResp or MqttPacketType.Disconnect or MqttPacketType.Auth) && id == 0)
        {
            anomalies |= MqttAnomalies.Bit(MqttAnomaly.MissingPacketId);
        }

        var payload = b[pos..];
        if (v5 && !props.IsEmpty) anomalies |= MqttProperties.Validate(props, type, false);
        if (!MqttReasonCodes.IsDefined(type, reason, version)) anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidReasonCode);
        switch (type)
        {
            case MqttPacketType.Subscribe or MqttPacketType.Unsubscribe:
                if (payload.IsEmpty) anomalies |= MqttAnomalies.Bit(MqttAnomaly.EmptySubscription);
                int p = 0;
                while (p < payload.Length)
                {
                    var st = TryReadTopicFilter(payload[p..], type == MqttPacketType.Subscribe, version, out var f, out int used, ref anomalies);
                    if (st != MqttReadStatus.Ok) return MqttReadStatus.Malformed;
                    p += used;
                }

                break;
            case MqttPacketType.SubAck or MqttPacketType.UnsubAck:
                foreach (byte code in payload)
                {
                    if (!MqttReasonCodes.IsDefined(type, code, version)) anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidReasonCode);
                }

                if (type == MqttPacketType.SubAck && payload.IsEmpty) return MqttReadStatus.Malformed;
                break;
        }

        result = new MqttGeneric { PacketId = id, ReasonCode = reason, Properties = props, Payload = payload };
        return MqttReadStatus.Ok;
    }

    /// <summary>
    /// Reads one topic filter of a SUBSCRIBE (with its options byte) or UNSUBSCRIBE payload.
    /// Options: bits 0-1 QoS, v5 bit 2 no-local, bit 3 retain-as-published, bits 4-5 retain handling.
    /// </summary>
    public static MqttReadStatus TryReadTopicFilter(ReadOnlySpan<byte> span, bool withOptions, int version, out MqttTopicFilter filter, out int used, scoped ref ulong anomalies)
    {
        filter = default;
        used = 0;
        if (!TryReadLengthPrefixed(span, out var f, out int n)) return MqttReadStatus.Malformed;
        if (!IsValidMqttUtf8(f)) anomalies |= MqttAnomalies.Bit(MqttAnomaly.MalformedUtf8);
        if (f.IsEmpty) anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidTopic);
        byte options = 0;
        if (withOptions)
        {
            if (span.Length <= n) return MqttReadStatus.Malformed;
            options = span[n++];
            if ((options & 3) == 3) anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidQos);
            int reservedMask = version == 5 ? 0xC0 : 0xFC;
            if ((options & reservedMask) != 0 || (version == 5 && ((options >> 4) & 3) == 3))
            {
                anomalies |= MqttAnomalies.Bit(MqttAnomaly.InvalidSubscriptionOptions);
            }
        }

        filter = new MqttTopicFilter { Filter = f, Options = options };
        used = n;
        return MqttReadStatus.Ok;
    }
}

/// <summary>A SUBSCRIBE / UNSUBSCRIBE topic filter and its subscription options byte (0 for UNSUBSCRIBE).</summary>
public readonly ref struct MqttTopicFilter
{
    public ReadOnlySpan<byte> Filter { get; init; }
    public byte Options { get; init; }
    public int Qos => Options & 3;
    public bool NoLocal => (Options & 4) != 0;
    public bool RetainAsPublished => (Options & 8) != 0;
    public int RetainHandling => (Options >> 4) & 3;
}

/// <summary>Return / reason codes the specifications define per packet type.</summary>
public static class MqttReasonCodes
{
    private static ReadOnlySpan<byte> ConnAckV5 => [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F];
    private static ReadOnlySpan<byte> PubAckV5 => [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
    private static ReadOnlySpan<byte> PubRelV5 => [0x00, 0x92];
    private static ReadOnlySpan<byte> SubAckV5 => [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2];
    private static ReadOnlySpan<byte> UnsubAckV5 => [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
    private static ReadOnlySpan<byte> DisconnectV5 => [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2];
    private static ReadOnlySpan<byte> AuthV5 => [0x00, 0x18, 0x19];
    private static ReadOnlySpan<byte> SubAckV3 => [0x00, 0x01, 0x02, 0x80];

    /// <summary>True when <paramref name="code"/> is defined for the packet type in the version (packets without codes: 0 only).</summary>
    public static bool IsDefined(MqttPacketType type, byte code, int version)
    {
        bool v5 = version == 5;
        return type switch
        {
            MqttPacketType.ConnAck => v5 ? ConnAckV5.Contains(code) : code <= 5,
            MqttPacketType.PubAck or MqttPacketType.PubRec => v5 ? PubAckV5.Contains(code) : code == 0,
            MqttPacketType.PubRel or MqttPacketType.PubComp => v5 ? PubRelV5.Contains(code) : code == 0,
            MqttPacketType.SubAck => v5 ? SubAckV5.Contains(code) : SubAckV3.Contains(code),
            MqttPacketType.UnsubAck => !v5 || UnsubAckV5.Contains(code),
            MqttPacketType.Disconnect => v5 ? DisconnectV5.Contains(code) : code == 0,
            MqttPacketType.Auth => AuthV5.Contains(code),
            _ => code == 0,
        };
    }
}
