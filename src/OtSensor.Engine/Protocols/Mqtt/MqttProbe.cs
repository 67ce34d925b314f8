namespace OtSensor.Protocols.Mqtt;

/// <summary>Payload heuristic for MQTT on ports other than 1883. Strict: only a well-formed CONNECT matches.</summary>
public static class MqttProbe
{
    /// <summary>
    /// True when <paramref name="payload"/> starts with a whole, well-formed CONNECT from the client: type 1 with flags
    /// 0, protocol "MQTT" level 4/5 or "MQIsdp" level 3, reserved flag clear, consistent lengths up to the end of the
    /// packet (which may be followed by more packets).
    /// </summary>
    public static bool LooksLikeMqtt(ReadOnlySpan<byte> payload, bool fromClient)
    {
        if (!fromClient || payload.Length < 12 || payload[0] != 0x10)
        {
            return false;
        }

        if (MqttFraming.TryGetPacketLength(payload, out int length) != MqttFrameStatus.Complete || payload.Length < length)
        {
            return false;
        }

        ulong anomalies = 0;
        if (MqttReader.TryReadConnect(payload[..length], out var c, ref anomalies) != MqttReadStatus.Ok)
        {
            return false;
        }

        const ulong Fatal = (1UL << (int)MqttAnomaly.ConnectReservedFlag) | (1UL << (int)MqttAnomaly.InvalidQos)
            | (1UL << (int)MqttAnomaly.MalformedUtf8);
        return c.Version != 0 && (anomalies & Fatal) == 0;
    }

    /// <summary>
    /// Evidence that a payload seen mid-stream (no CONNECT: the sensor started after the connection) is MQTT on a port
    /// other than 1883. The payload must frame exactly into whole packets, each with the flags its type requires and
    /// a sane remaining length. <see cref="MqttMidStreamEvidence.Strong"/>: at least one PUBLISH with a valid,
    /// printable, wildcard-free topic (under 3.1.1 or 5 rules), SUBSCRIBE, UNSUBSCRIBE or CONNACK. Small control
    /// packets alone (PINGREQ, PINGRESP, PUBACK...) are only <see cref="MqttMidStreamEvidence.Weak"/>.
    /// </summary>
    public static MqttMidStreamEvidence MidStreamEvidence(ReadOnlySpan<byte> payload)
    {
        if (payload.Length < 2) return MqttMidStreamEvidence.None;
        bool strong = false;
        int packets = 0;
        while (!payload.IsEmpty)
        {
            if (MqttFraming.TryGetPacketLength(payload, out int length) != MqttFrameStatus.Complete || length > payload.Length)
                return MqttMidStreamEvidence.None;
            byte first = payload[0];
            var type = MqttFraming.TypeOf(first);
            if (type is MqttPacketType.Reserved or MqttPacketType.Connect or MqttPacketType.Auth) return MqttMidStreamEvidence.None;
            if (MqttReader.CheckFixedHeader(first, 4) != 0) return MqttMidStreamEvidence.None;
            var packet = payload[..length];
            switch (type)
            {
                case MqttPacketType.Publish:
                    if (!PlausiblePublish(packet)) return MqttMidStreamEvidence.None;
                    strong = true;
                    break;
                case MqttPacketType.Subscribe or MqttPacketType.Unsubscribe:
                    if (length < 7) return MqttMidStreamEvidence.None;
                    strong = true;
                    break;
                case MqttPacketType.ConnAck:
                    if (length != 4 && (length < 5 || packet[1] > 64)) return MqttMidStreamEvidence.None;
                    strong = true;
                    break;
                case MqttPacketType.PingReq or MqttPacketType.PingResp:
                    if (length != 2) return MqttMidStreamEvidence.None;
                    break;
                case MqttPacketType.PubAck or MqttPacketType.PubRec or MqttPacketType.PubRel or MqttPacketType.PubComp or MqttPacketType.UnsubAck:
                    if (length < 4 || length > 64) return MqttMidStreamEvidence.None;
                    break;
                case MqttPacketType.SubAck:
                    if (length < 5 || length > 1024) return MqttMidStreamEvidence.None;
                    break;
                case MqttPacketType.Disconnect:
                    if (length > 64) return MqttMidStreamEvidence.None;
                    break;
            }
            packets++;
            payload = payload[length..];
        }
        return strong ? MqttMidStreamEvidence.Strong : packets > 0 ? MqttMidStreamEvidence.Weak : MqttMidStreamEvidence.None;
    }

    private static bool PlausiblePublish(ReadOnlySpan<byte> packet)
    {
        foreach (int version in (ReadOnlySpan<int>)[4, 5])
        {
            ulong anomalies = 0;
            if (MqttReader.TryReadPublish(packet, version, out var p, ref anomalies) != MqttReadStatus.Ok) continue;
            var topic = p.Topic;
            if (topic.IsEmpty || p.Qos == 3 || !MqttReader.IsValidMqttUtf8(topic)) continue;
            bool printable = true;
            foreach (byte b in topic)
            {
                if (b < 0x20 || b == 0x7F || b == (byte)'+' || b == (byte)'#')
                {
                    printable = false;
                    break;
                }
            }
            if (printable) return true;
        }
        return false;
    }
}

/// <summary>How strongly a mid-stream payload looks like MQTT.</summary>
public enum MqttMidStreamEvidence
{
    None = 0,
    Weak = 1,
    Strong = 2,
}
