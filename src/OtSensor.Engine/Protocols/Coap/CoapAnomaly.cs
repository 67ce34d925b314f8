namespace OtSensor.Protocols.Coap;

/// <summary>
/// CoAP protocol anomalies. The numeric values are stable (1..63): they are the bit index in
/// <see cref="TransactionRecord.Anomalies"/> and the <see cref="AnomalyRecord.AnomalyId"/>. Never renumber.
/// </summary>
public enum CoapAnomaly : byte
{
    None = 0,
    /// <summary>Message format error (RFC 7252 §3): the umbrella flag set with every finer format error.</summary>
    Malformed = 1,
    /// <summary>Version field is not 1.</summary>
    InvalidVersion = 2,
    /// <summary>Token length 9-15 (reserved).</summary>
    InvalidTokenLength = 3,
    /// <summary>Code class 1, 6 or 7, or an unassigned code detail.</summary>
    ReservedCode = 4,
    /// <summary>A known option with a value length or format its definition does not allow.</summary>
    InvalidOption = 5,
    /// <summary>Payload marker 0xFF followed by no payload.</summary>
    PayloadMarkerWithoutPayload = 6,
    /// <summary>An option the dissector does not know, with an odd (critical) number.</summary>
    UnknownCriticalOption = 7,
    /// <summary>Block option with SZX 7 (reserved).</summary>
    InvalidBlockSize = 8,
    /// <summary>A block-wise transfer grew beyond the configured bound; it is no longer followed.</summary>
    BlockTransferTooLarge = 9,
    /// <summary>A Reset message that matches no Confirmable / Non-confirmable message.</summary>
    RstUnsolicited = 10,
    /// <summary>A response or ACK with no matching request / Confirmable message.</summary>
    UnsolicitedResponse = 11,
    /// <summary>An option whose value runs past the end of the datagram.</summary>
    TruncatedOption = 12,
    /// <summary>Option delta or length nibble 15 (reserved) outside the payload marker.</summary>
    ReservedOptionNibble = 13,
    /// <summary>Empty message (0.00) with a token, options or payload, or sent as Non-confirmable.</summary>
    InvalidEmptyMessage = 14,
    /// <summary>A request carried in an ACK or RST, or a non-empty RST.</summary>
    InvalidMessageType = 15,
    /// <summary>A piggybacked response whose token differs from its request's.</summary>
    TokenMismatch = 16,
    /// <summary>A block whose offset is not where the transfer stands (lost, repeated or reordered blocks).</summary>
    BlockOutOfOrder = 17,
    /// <summary>A block payload of another size than the block size (more flag set), or larger than it.</summary>
    BlockSizeMismatch = 18,
    /// <summary>The pending-exchange table was full; the oldest exchange is reported unanswered.</summary>
    PendingOverflow = 19,
    /// <summary>Observe registrations beyond the per-flow bound; the new one is not followed.</summary>
    ObserveLimitExceeded = 20,
    /// <summary>A non-repeatable option present more than once.</summary>
    RepeatedOption = 21,
    /// <summary>Datagram shorter than the 4-byte header plus its token.</summary>
    TruncatedMessage = 22,
    /// <summary>Option number above 65535.</summary>
    OptionNumberOverflow = 23,
    /// <summary>A link-format (Content-Format 40) payload that does not parse as RFC 6690.</summary>
    InvalidLinkFormat = 24,
    /// <summary>A request reused a token still pending from the same endpoint; the older one is reported unanswered.</summary>
    DuplicateToken = 25,
    /// <summary>
    /// Informational: a duplicate (retransmitted) message whose exchange was already reported. Carried only as an
    /// <see cref="AnomalyRecord"/> whose Detail is type | code &lt;&lt; 8 | message id &lt;&lt; 16 (see <see cref="CoapAnomalies.DuplicateDetail"/>).
    /// </summary>
    DuplicateMessage = 26,
    /// <summary>A response's Block1/Block2 SZX larger than the one its request proposed (RFC 7959 §2.3, §2.4: only smaller).</summary>
    BlockSizeIncreased = 27,
}

/// <summary>Catalog entry of one anomaly: its string id, CEF signature id, name, severity (0-10) and category.</summary>
public readonly record struct CoapAnomalyInfo(string Id, int SignatureId, string Name, int Severity, string Category);

/// <summary>The catalog table of <see cref="CoapAnomaly"/>.</summary>
public static class CoapAnomalies
{
    public const int SignatureBase = 3000;

    private const string ProtocolViolation = "protocol-violation";
    private const string SessionCategory = "session";
    private const string ResourceCategory = "resource";

    private static readonly CoapAnomalyInfo[] Table = BuildTable();

    /// <summary>All defined anomalies, in id order.</summary>
    public static IReadOnlyList<CoapAnomaly> All { get; } = [.. Enum.GetValues<CoapAnomaly>().Where(a => a != CoapAnomaly.None)];

    private static CoapAnomalyInfo[] BuildTable()
    {
        var t = new CoapAnomalyInfo[64];
        void Add(CoapAnomaly a, string id, string name, int severity, string category)
            => t[(int)a] = new CoapAnomalyInfo(id, SignatureBase + (int)a, name, severity, category);

        Add(CoapAnomaly.None, "coap_none", "No anomaly", 0, ProtocolViolation);
        Add(CoapAnomaly.Malformed, "coap_malformed", "CoAP message format error", 5, ProtocolViolation);
        Add(CoapAnomaly.InvalidVersion, "coap_invalid_version", "CoAP version is not 1", 5, ProtocolViolation);
        Add(CoapAnomaly.InvalidTokenLength, "coap_invalid_token_length", "CoAP token length 9-15 (reserved)", 5, ProtocolViolation);
        Add(CoapAnomaly.ReservedCode, "coap_reserved_code", "CoAP reserved or unassigned code", 4, ProtocolViolation);
        Add(CoapAnomaly.InvalidOption, "coap_invalid_option", "CoAP option with an invalid length or format", 4, ProtocolViolation);
        Add(CoapAnomaly.PayloadMarkerWithoutPayload, "coap_payload_marker_without_payload", "CoAP payload marker with an empty payload", 5, ProtocolViolation);
        Add(CoapAnomaly.UnknownCriticalOption, "coap_unknown_critical_option", "CoAP unknown critical option", 4, ProtocolViolation);
        Add(CoapAnomaly.InvalidBlockSize, "coap_invalid_block_size", "CoAP block option with reserved SZX 7", 4, ProtocolViolation);
        Add(CoapAnomaly.BlockTransferTooLarge, "coap_block_transfer_too_large", "CoAP block-wise transfer beyond the size bound", 5, ResourceCategory);
        Add(CoapAnomaly.RstUnsolicited, "coap_rst_unsolicited", "CoAP Reset matching no message", 3, SessionCategory);
        Add(CoapAnomaly.UnsolicitedResponse, "coap_unsolicited_response", "CoAP response or ACK without a request", 4, SessionCategory);
        Add(CoapAnomaly.TruncatedOption, "coap_truncated_option", "CoAP option runs past the end of the message", 5, ProtocolViolation);
        Add(CoapAnomaly.ReservedOptionNibble, "coap_reserved_option_nibble", "CoAP option delta or length 15 (reserved)", 5, ProtocolViolation);
        Add(CoapAnomaly.InvalidEmptyMessage, "coap_invalid_empty_message", "CoAP empty message with token, options or payload, or NON", 5, ProtocolViolation);
        Add(CoapAnomaly.InvalidMessageType, "coap_invalid_message_type", "CoAP request in ACK/RST, or non-empty RST", 4, ProtocolViolation);
        Add(CoapAnomaly.TokenMismatch, "coap_token_mismatch", "CoAP piggybacked response token differs from the request", 4, SessionCategory);
        Add(CoapAnomaly.BlockOutOfOrder, "coap_block_out_of_order", "CoAP block out of order", 2, SessionCategory);
        Add(CoapAnomaly.BlockSizeMismatch, "coap_block_size_mismatch", "CoAP block payload size differs from the block size", 3, ProtocolViolation);
        Add(CoapAnomaly.PendingOverflow, "coap_pending_overflow", "CoAP pending exchange table overflow", 3, SessionCategory);
        Add(CoapAnomaly.ObserveLimitExceeded, "coap_observe_limit_exceeded", "CoAP observe relations beyond the bound", 3, ResourceCategory);
        Add(CoapAnomaly.RepeatedOption, "coap_repeated_option", "CoAP non-repeatable option repeated", 3, ProtocolViolation);
        Add(CoapAnomaly.TruncatedMessage, "coap_truncated_message", "CoAP datagram shorter than header and token", 5, ProtocolViolation);
        Add(CoapAnomaly.OptionNumberOverflow, "coap_option_number_overflow", "CoAP option number above 65535", 5, ProtocolViolation);
        Add(CoapAnomaly.InvalidLinkFormat, "coap_invalid_link_format", "CoAP link-format payload does not parse", 3, ProtocolViolation);
        Add(CoapAnomaly.DuplicateToken, "coap_duplicate_token", "CoAP token reused while pending", 3, SessionCategory);
        Add(CoapAnomaly.BlockSizeIncreased, "coap_block_size_increased", "CoAP response block size larger than requested", 3, ProtocolViolation);
        Add(CoapAnomaly.DuplicateMessage, "coap_duplicate_message", "CoAP duplicate message after its exchange", 1, SessionCategory);
        return t;
    }

    /// <summary>Catalog entry of an anomaly. Unknown ids get a generic entry (never throws).</summary>
    public static CoapAnomalyInfo Info(CoapAnomaly anomaly)
    {
        int i = (int)anomaly;
        if (i is > 0 and < 64 && Table[i].Id is not null)
        {
            return Table[i];
        }

        return new CoapAnomalyInfo("coap_unknown_anomaly", SignatureBase + (i & 63), "CoAP unknown anomaly", 3, ProtocolViolation);
    }

    /// <summary>Detail of a <see cref="CoapAnomaly.DuplicateMessage"/> record: type | code &lt;&lt; 8 | message id &lt;&lt; 16.</summary>
    /// <summary>Set in the Detail of a <see cref="CoapAnomaly.Malformed"/> record whose header was readable: a wire message to count.</summary>
    public const long CountedMessageFlag = 1L << 48;

    public static long DuplicateDetail(CoapHeader h) => (long)h.Type | ((long)h.Code << 8) | ((long)h.MessageId << 16);

    /// <summary>Bit of an anomaly in <see cref="TransactionRecord.Anomalies"/>.</summary>
    public static ulong Bit(CoapAnomaly anomaly) => 1UL << (int)anomaly;

    /// <summary>True when <paramref name="mask"/> has <paramref name="anomaly"/> set.</summary>
    public static bool Has(ulong mask, CoapAnomaly anomaly) => (mask & Bit(anomaly)) != 0;

    /// <summary>True when the anomaly is a message format error (always reported together with <see cref="CoapAnomaly.Malformed"/>).</summary>
    public static bool IsFormatError(CoapAnomaly a) => a is CoapAnomaly.Malformed or CoapAnomaly.InvalidVersion
        or CoapAnomaly.InvalidTokenLength or CoapAnomaly.PayloadMarkerWithoutPayload or CoapAnomaly.TruncatedOption
        or CoapAnomaly.ReservedOptionNibble or CoapAnomaly.InvalidEmptyMessage or CoapAnomaly.TruncatedMessage
        or CoapAnomaly.OptionNumberOverflow;
}
