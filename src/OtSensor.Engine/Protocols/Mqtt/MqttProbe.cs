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
}
