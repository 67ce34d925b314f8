namespace OtSensor.Flows;

/// <summary>
/// Ports on which a host is presumed to be the server when a flow is picked up without its handshake:
/// ICS/IoT protocols and common IT services. A 64 Kibit bitmap: one load and a bit test per lookup.
/// </summary>
public static class WellKnownPorts
{
    private static readonly ulong[] s_bits = Build();

    public static bool IsServerPort(ushort port) => (s_bits[port >> 6] & (1UL << (port & 63))) != 0;

    private static ulong[] Build()
    {
        var bits = new ulong[1024];
        ReadOnlySpan<ushort> single =
        [
            // ICS / OT
            102,    // ISO-TSAP: S7comm, IEC 61850 MMS, ICCP
            502,    // Modbus/TCP
            802,    // Modbus/TCP over TLS
            789,    // Red Lion Crimson v3
            1089, 1090, 1091, // Foundation Fieldbus HSE
            1200,   // CODESYS
            1541,   // Foxboro
            1911,   // Niagara Fox
            1962,   // PCWorx
            2222,   // EtherNet/IP implicit I/O
            2404,   // IEC 60870-5-104
            2455,   // CODESYS
            4000,   // Emerson ROC
            4840,   // OPC UA
            4843,   // OPC UA over TLS
            4911,   // Niagara Fox TLS
            5006, 5007, // Mitsubishi MELSEC
            5094,   // HART-IP
            5450,   // OSIsoft PI
            9600,   // Omron FINS
            18245, 18246, // GE SRTP
            20000,  // DNP3
            20547,  // ProConOS
            34962, 34963, 34964, // PROFINET
            44818,  // EtherNet/IP explicit
            47808,  // BACnet/IP
            48898,  // Beckhoff ADS
            // IoT
            1883, 8883, // MQTT, MQTT over TLS
            5683, 5684, // CoAP, CoAP over DTLS
            5672, 5671, // AMQP
            // IT services
            20, 21, 22, 23, 25, 53, 67, 69, 80, 88, 110, 111, 123, 135, 137, 138, 139, 143, 161, 162, 389, 443, 445,
            465, 514, 587, 636, 853, 993, 995, 1433, 1521, 1900, 3268, 3306, 3389, 5060, 5061, 5353, 5432, 5900,
            5985, 5986, 6379, 8000, 8080, 8443, 9200, 27017,
        ];
        foreach (ushort p in single)
        {
            bits[p >> 6] |= 1UL << (p & 63);
        }
        return bits;
    }
}
