namespace OtSensor.Protocols.Mqtt;

/// <summary>Result of an MQTT framing attempt.</summary>
public enum MqttFrameStatus
{
    /// <summary>The packet length is known (the packet may still need more bytes: compare with the buffer).</summary>
    Complete = 0,
    /// <summary>The fixed header is not complete yet. Nothing consumed.</summary>
    NeedMoreData = 1,
    /// <summary>The remaining length has a 5th continuation byte: never valid.</summary>
    Invalid = 2,
}

/// <summary>MQTT control packet types (fixed header bits 7-4). Value 0 is reserved; 15 is AUTH in MQTT 5 only.</summary>
public enum MqttPacketType : byte
{
    Reserved = 0,
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

/// <summary>Fixed header framing (MQTT 3.1.1 section 2.2, MQTT 5.0 section 2.1).</summary>
public static class MqttFraming
{
    /// <summary>Largest remaining length a 4-byte variable byte integer can carry.</summary>
    public const int MaxRemainingLength = 268_435_455;

    /// <summary>
    /// Length of the whole packet starting at <paramref name="buffer"/>[0]: 1 + size of the remaining-length varint
    /// + remaining length. Complete means the length is known (the packet is whole when
    /// <c>buffer.Length &gt;= length</c>).
    /// </summary>
    public static MqttFrameStatus TryGetPacketLength(ReadOnlySpan<byte> buffer, out int length)
        => TryGetPacketLength(buffer, out length, out _);

    /// <summary>As <see cref="TryGetPacketLength(ReadOnlySpan{byte}, out int)"/>, also giving the fixed header size (2..5).</summary>
    public static MqttFrameStatus TryGetPacketLength(ReadOnlySpan<byte> buffer, out int length, out int headerLength)
    {
        length = 0;
        headerLength = 0;
        if (buffer.Length < 2)
        {
            return MqttFrameStatus.NeedMoreData;
        }

        var status = TryReadVarInt(buffer[1..], out int remaining, out int used);
        if (status != MqttFrameStatus.Complete)
        {
            return status;
        }

        headerLength = 1 + used;
        length = headerLength + remaining;
        return MqttFrameStatus.Complete;
    }

    /// <summary>Reads a variable byte integer (1-4 bytes). Invalid on a 5th continuation byte.</summary>
    public static MqttFrameStatus TryReadVarInt(ReadOnlySpan<byte> buffer, out int value, out int used)
    {
        value = 0;
        used = 0;
        int multiplier = 1;
        for (int i = 0; i < 4; i++)
        {
            if (i >= buffer.Length)
            {
                value = 0;
                return MqttFrameStatus.NeedMoreData;
            }

            byte b = buffer[i];
            value += (b & 0x7F) * multiplier;
            multiplier <<= 7;
            if ((b & 0x80) == 0)
            {
                used = i + 1;
                return MqttFrameStatus.Complete;
            }
        }

        value = 0;
        return MqttFrameStatus.Invalid;
    }

    /// <summary>Packet type of a fixed header's first byte.</summary>
    public static MqttPacketType TypeOf(byte first) => (MqttPacketType)(first >> 4);

    /// <summary>
    /// The flags a packet type must carry (PUBREL, SUBSCRIBE, UNSUBSCRIBE: 0b0010; others 0), or -1 for PUBLISH
    /// (flags are DUP/QoS/RETAIN).
    /// </summary>
    public static int RequiredFlags(MqttPacketType type) => type switch
    {
        MqttPacketType.Publish => -1,
        MqttPacketType.PubRel or MqttPacketType.Subscribe or MqttPacketType.Unsubscribe => 2,
        _ => 0,
    };

    /// <summary>
    /// True when a first byte is a plausible fixed header for the direction: a defined type (AUTH only for version 5),
    /// sent in that direction, with the required flags (PUBLISH: QoS below 3).
    /// </summary>
    public static bool IsPlausibleFirstByte(byte first, bool fromClient, int version)
    {
        var type = TypeOf(first);
        int flags = first & 0x0F;
        switch (type)
        {
            case MqttPacketType.Reserved:
                return false;
            case MqttPacketType.Auth:
                if (version is not (0 or 5)) return false;
                break;
            case MqttPacketType.Connect or MqttPacketType.Subscribe or MqttPacketType.Unsubscribe or MqttPacketType.PingReq:
                if (!fromClient) return false;
                break;
            case MqttPacketType.ConnAck or MqttPacketType.SubAck or MqttPacketType.UnsubAck or MqttPacketType.PingResp:
                if (fromClient) return false;
                break;
        }

        int required = RequiredFlags(type);
        return required < 0 ? ((flags >> 1) & 3) != 3 : flags == required;
    }
}
