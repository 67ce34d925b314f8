namespace OtSensor.Detection;

/// <summary>Categories of alert types (stable strings, as stored and forwarded).</summary>
public static class AlertCategory
{
    public const string ProtocolViolation = "protocol-violation";
    public const string Policy = "policy";
    public const string Reconnaissance = "reconnaissance";
    public const string BaselineDeviation = "baseline-deviation";
    public const string ProcessDeviation = "process-deviation";
    public const string DenialOfService = "denial-of-service";
}

/// <summary>One alert type of the catalog: stable string id, CEF signature id, defaults and ATT&amp;CK for ICS techniques.</summary>
public sealed record AlertType(string Id, int SignatureId, string Name, int Severity, string Category, string Proto, IReadOnlyList<string> Mitre, string Description)
{
    /// <summary>Position in <see cref="AlertCatalog.All"/> (dense, for array-indexed state).</summary>
    public int Index { get; internal set; }
}

/// <summary>
/// The catalog of every alert the detection engine raises. Ids and signature ids are stable (5100-5199 protocol
/// violations, 5200-5299 policy and attack signatures, 5300-5399 learned baseline); never renumber.
/// </summary>
public static class AlertCatalog
{
    // MITRE ATT&CK for ICS technique ids.
    private const string T0855 = "T0855"; // Unauthorized Command Message
    private const string T0846 = "T0846"; // Remote System Discovery
    private const string T0814 = "T0814"; // Denial of Service
    private const string T0836 = "T0836"; // Modify Parameter
    private const string T0843 = "T0843"; // Program Download
    private const string T0816 = "T0816"; // Device Restart/Shutdown
    private const string T0888 = "T0888"; // Remote System Information Discovery
    private const string T0859 = "T0859"; // Valid Accounts
    private const string T0861 = "T0861"; // Point & Tag Identification
    private const string T0869 = "T0869"; // Standard Application Layer Protocol
    private const string T0831 = "T0831"; // Manipulation of Control
    private const string T0815 = "T0815"; // Denial of View
    private const string T0886 = "T0886"; // Remote Services
    private const string T0830 = "T0830"; // Adversary-in-the-Middle (spoofed traffic)

    private static readonly AlertType[] s_all =
    [
        // ---- protocol violations (from the dissectors' anomalies) ----
        new("modbus_invalid_protocol_id", 5101, "Modbus MBAP protocol identifier is not 0", 5, AlertCategory.ProtocolViolation, "modbus", [], "MBAP header with a protocol id other than 0 (crafted or non-Modbus traffic)."),
        new("modbus_length_mismatch", 5102, "Modbus MBAP length inconsistent with the PDU", 5, AlertCategory.ProtocolViolation, "modbus", [], "MBAP length, byte count or PDU size disagree (malformed or evasive traffic)."),
        new("modbus_oversize_pdu", 5103, "Modbus PDU larger than 253 bytes", 6, AlertCategory.ProtocolViolation, "modbus", [T0814], "A PDU beyond the protocol maximum (buffer overflow attempt)."),
        new("modbus_invalid_function_code", 5104, "Modbus invalid function code", 5, AlertCategory.ProtocolViolation, "modbus", [], "Function code 0 or with the exception bit in a request."),
        new("modbus_illegal_quantity", 5105, "Modbus quantity out of the allowed range", 4, AlertCategory.ProtocolViolation, "modbus", [], "Quantity, count, address range or byte count outside what the function allows."),
        new("modbus_invalid_coil_value", 5106, "Modbus Write Single Coil value not 0x0000/0xFF00", 4, AlertCategory.ProtocolViolation, "modbus", [], "Write Single Coil with an undefined value."),
        new("modbus_non_modbus_on_port", 5107, "Non-Modbus data on a Modbus flow", 6, AlertCategory.ProtocolViolation, "modbus", [T0869], "Data on the Modbus port that does not frame as Modbus (tunnel, scan or misuse)."),
        new("modbus_unsolicited_response", 5108, "Modbus response without a request", 5, AlertCategory.ProtocolViolation, "modbus", [T0830], "A response no request asked for (spoofing or injection)."),
        new("modbus_response_mismatch", 5109, "Modbus response function differs from the request", 5, AlertCategory.ProtocolViolation, "modbus", [T0830], "A response whose function code differs from its request's."),
        new("mqtt_malformed_remaining_length", 5121, "MQTT remaining length longer than 4 bytes", 6, AlertCategory.ProtocolViolation, "mqtt", [T0814], "An MQTT fixed header whose remaining length cannot be decoded."),
        new("mqtt_reserved_packet_type", 5122, "MQTT reserved control packet type", 5, AlertCategory.ProtocolViolation, "mqtt", [], "Packet type 0, or 15 outside MQTT 5."),
        new("mqtt_invalid_flags", 5123, "MQTT fixed header flags invalid for the packet type", 5, AlertCategory.ProtocolViolation, "mqtt", [], "Fixed-header flags other than the packet type requires."),
        new("mqtt_invalid_qos", 5124, "MQTT QoS 3", 5, AlertCategory.ProtocolViolation, "mqtt", [], "QoS 3 in a PUBLISH, will or subscription."),
        new("mqtt_publish_before_connect", 5125, "MQTT client packet before CONNECT", 6, AlertCategory.ProtocolViolation, "mqtt", [T0855], "A client packet other than CONNECT first on a connection."),
        new("mqtt_double_connect", 5126, "MQTT second CONNECT on a connection", 5, AlertCategory.ProtocolViolation, "mqtt", [], "A second CONNECT on the same connection."),
        new("mqtt_malformed_packet", 5127, "MQTT malformed packet", 5, AlertCategory.ProtocolViolation, "mqtt", [], "An MQTT packet that does not decode (lengths, UTF-8, properties, CONNECT flags, protocol name)."),
        new("coap_malformed", 5141, "CoAP message format error", 5, AlertCategory.ProtocolViolation, "coap", [], "A CoAP message format error (version, token length, options, payload marker, truncation)."),
        new("coap_unsolicited_response", 5142, "CoAP response or ACK without a request", 4, AlertCategory.ProtocolViolation, "coap", [T0830], "A response, ACK or RST that matches no request (spoofing, reflection)."),

        // ---- policy and attack signatures ----
        new("modbus_diag_force_listen_only", 5201, "Modbus Diagnostics: Force Listen Only Mode", 9, AlertCategory.DenialOfService, "modbus", [T0814, T0816], "FC 8 sub-function 4 silences a server until restarted."),
        new("modbus_diag_restart_comm", 5202, "Modbus Diagnostics: Restart Communications", 8, AlertCategory.DenialOfService, "modbus", [T0816], "FC 8 sub-function 1 restarts the server's communications."),
        new("modbus_diag_clear_counters", 5203, "Modbus Diagnostics: clear counters", 5, AlertCategory.Policy, "modbus", [T0855], "FC 8 sub-function 10 or 0x0A-0x14 clears diagnostic counters (hides traces)."),
        new("modbus_diagnostics_other", 5204, "Modbus Diagnostics function", 3, AlertCategory.Policy, "modbus", [T0888], "Another FC 8 diagnostics sub-function."),
        new("modbus_program_download", 5205, "Modbus program / firmware transfer", 9, AlertCategory.Policy, "modbus", [T0843], "Schneider UMAS (FC 90) program transfer, FC 0x7E-style firmware functions or FC 21 file record write."),
        new("modbus_broadcast_write", 5206, "Modbus broadcast write (unit 0)", 7, AlertCategory.Policy, "modbus", [T0855, T0836], "A write sent to unit 0: every device on the line executes it and none answers."),
        new("modbus_function_code_scan", 5207, "Modbus function code scan", 7, AlertCategory.Reconnaissance, "modbus", [T0888, T0846], "One client tried many distinct function codes on a server."),
        new("modbus_points_scan", 5208, "Modbus points (address) scan", 6, AlertCategory.Reconnaissance, "modbus", [T0861], "One client swept register/coil addresses (many ILLEGAL_DATA_ADDRESS)."),
        new("modbus_unit_id_scan", 5209, "Modbus unit id scan", 6, AlertCategory.Reconnaissance, "modbus", [T0846], "One client addressed many unit ids behind a server."),
        new("modbus_exception_burst", 5210, "Modbus exception burst", 6, AlertCategory.DenialOfService, "modbus", [T0814], "Many SLAVE_DEVICE_BUSY / ACKNOWLEDGE exceptions: the device is overloaded."),
        new("modbus_request_flood", 5211, "Modbus request flood", 7, AlertCategory.DenialOfService, "modbus", [T0814], "A client's request rate to a server far above normal."),
        new("mqtt_anonymous_connect", 5221, "MQTT anonymous connection accepted", 5, AlertCategory.Policy, "mqtt", [T0886], "CONNECT without a user name accepted by the broker."),
        new("mqtt_cleartext_credentials", 5222, "MQTT credentials in clear text", 6, AlertCategory.Policy, "mqtt", [T0859], "User name / password sent over unencrypted MQTT."),
        new("mqtt_auth_bruteforce", 5223, "MQTT authentication brute force", 8, AlertCategory.Reconnaissance, "mqtt", [T0859], "Many refused CONNECTs from one source."),
        new("mqtt_wildcard_subscribe", 5224, "MQTT wildcard subscription", 3, AlertCategory.Policy, "mqtt", [T0861], "SUBSCRIBE to '#' or a broad wildcard filter."),
        new("mqtt_sys_topic_access", 5225, "MQTT $SYS topic access", 4, AlertCategory.Reconnaissance, "mqtt", [T0888], "SUBSCRIBE to the broker's $SYS statistics."),
        new("mqtt_oversize_payload", 5226, "MQTT oversize PUBLISH payload", 5, AlertCategory.DenialOfService, "mqtt", [T0814], "A PUBLISH payload above the configured size."),
        new("coap_resource_discovery", 5241, "CoAP resource discovery", 3, AlertCategory.Reconnaissance, "coap", [T0846, T0861], "GET /.well-known/core lists a server's resources."),
        new("coap_unauthenticated_state_change", 5242, "CoAP state change without OSCORE/DTLS", 5, AlertCategory.Policy, "coap", [T0855, T0836], "PUT/POST/DELETE over plain CoAP without OSCORE."),
        new("coap_amplification", 5243, "CoAP amplification", 7, AlertCategory.DenialOfService, "coap", [T0814], "Responses far larger than the requests, or responses to a host that never asked."),
        new("ics_port_scan", 5251, "ICS port scan", 7, AlertCategory.Reconnaissance, "tcp", [T0846], "One host probing many ICS ports or hosts (SYNs)."),

        // ---- learned baseline ----
        new("new_asset", 5301, "New asset", 5, AlertCategory.BaselineDeviation, "", [T0846], "An address never seen while learning."),
        new("new_link", 5302, "New communication link", 5, AlertCategory.BaselineDeviation, "", [T0886], "A client/server pair never seen while learning."),
        new("new_protocol", 5303, "New protocol on a link", 5, AlertCategory.BaselineDeviation, "", [T0869], "A protocol or port never seen on the link while learning."),
        new("new_function_code", 5304, "New function code / message type on a link", 5, AlertCategory.BaselineDeviation, "", [T0855], "A function code, packet type or method never used on the link while learning."),
        new("modbus_write_unauthorized_master", 5305, "Modbus write from a master that never wrote", 8, AlertCategory.BaselineDeviation, "modbus", [T0855, T0836], "A client wrote to a unit it never wrote to while learning."),
        new("modbus_write_new_range", 5306, "Modbus write to a new register range", 6, AlertCategory.BaselineDeviation, "modbus", [T0836], "A write to addresses of a unit never written while learning."),
        new("modbus_write_value_out_of_range", 5307, "Modbus written value out of the learned range", 7, AlertCategory.ProcessDeviation, "modbus", [T0836, T0831], "A written register value outside the learned range."),
        new("process_value_out_of_range", 5308, "Process value out of the learned range", 5, AlertCategory.ProcessDeviation, "modbus", [T0831], "A holding register read with a value outside the learned range."),
        new("mqtt_new_client", 5309, "New MQTT client", 5, AlertCategory.BaselineDeviation, "mqtt", [T0886], "A client id or user never seen while learning."),
        new("mqtt_new_topic", 5310, "New MQTT topic", 4, AlertCategory.BaselineDeviation, "mqtt", [T0861], "A topic published or subscribed that was never seen while learning."),
        new("coap_new_resource", 5311, "New CoAP resource or method", 4, AlertCategory.BaselineDeviation, "coap", [T0861], "A resource or method never used while learning."),
        new("polling_cycle_deviation", 5312, "Polling cycle deviation", 5, AlertCategory.BaselineDeviation, "", [T0831, T0815], "A link's polling period far from the learned one."),
    ];

    private static readonly Dictionary<string, AlertType> s_byId = Index();

    private static Dictionary<string, AlertType> Index()
    {
        for (int i = 0; i < s_all.Length; i++) s_all[i].Index = i;
        return s_all.ToDictionary(t => t.Id, StringComparer.Ordinal);
    }

    /// <summary>Every alert type, in signature id order.</summary>
    public static IReadOnlyList<AlertType> All => s_all;

    public static AlertType Get(string id) => s_byId.TryGetValue(id, out var t) ? t : throw new KeyNotFoundException($"unknown alert type '{id}'");

    public static bool TryGet(string id, out AlertType type)
    {
        if (s_byId.TryGetValue(id, out var t))
        {
            type = t;
            return true;
        }

        type = null!;
        return false;
    }
}
