#!/usr/bin/python3
"""Spec-driven crafted MQTT and CoAP cases, written straight to pcap files (never sent).

Usage: iot_crafted.py mqtt OUT.pcap TRUTH.json
       iot_crafted.py coap OUT.pcap TRUTH.json

MQTT: one TCP flow per case (full handshake, correct seq/ack, FIN close; TCP helpers from
crafted.py), clients 10.30.0.x:4xxxx, brokers 192.168.60.x:1883 (one case on 18830).
CoAP: one UDP exchange per case, clients 10.40.0.x:4xxxx, servers 192.168.70.x:5683 (one case on 56830).
Timestamps are fixed (MQTT case i at 2024-02-01T00:00:00Z + i s, CoAP at 2024-03-01T00:00:00Z + i s),
so the files are byte-for-byte reproducible. The ground truth (messages per case, anomaly ids each
case is meant to raise, documented tshark differences) goes to TRUTH.json for MANIFEST.json.
"""
import collections
import json
import struct
import sys
from decimal import Decimal

from scapy.all import IP, UDP, Ether, Raw, wrpcap

sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from crafted import Flow, Writer  # noqa: E402

MQTT_BASE = 1706745600  # 2024-02-01T00:00:00Z
COAP_BASE = 1709251200  # 2024-03-01T00:00:00Z
MQTT_NAMES = {0: "Reserved(0)", 1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL",
              7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ",
              13: "PINGRESP", 14: "DISCONNECT", 15: "AUTH"}
COAP_TYPES = {0: "CON", 1: "NON", 2: "ACK", 3: "RST"}
INJECT = "|=\\\r\n\x00"  # characters for later injection tests


# ---------------------------------------------------------------- MQTT encoding

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ustr(s):
    b = s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s
    return struct.pack(">H", len(b)) + b


def packet(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


def connect(client_id, level=4, flags=0x02, keepalive=60, props=b"", name="MQTT"):
    var = ustr(name) + bytes([level, flags]) + struct.pack(">H", keepalive)
    if level == 5:
        var += varint(len(props)) + props
    return packet(1, 0, var + ustr(client_id))


def connack(code=0, level=4):
    return packet(2, 0, bytes([0, code]) + (b"\x00" if level == 5 else b""))


def publish(topic, payload, qos=0, pid=None, retain=False, dup=False, level=4, flags=None):
    body = ustr(topic) + (struct.pack(">H", pid) if qos else b"") + (b"\x00" if level == 5 else b"") + payload
    if flags is None:
        flags = (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    return packet(3, flags, body)


def ack(ptype, pid, flags=0):
    return packet(ptype, flags, struct.pack(">H", pid))


def subscribe(pid, filters, flags=0x02):
    return packet(8, flags, struct.pack(">H", pid) + b"".join(ustr(f) + bytes([q]) for f, q in filters))


def suback(pid, codes):
    return packet(9, 0, struct.pack(">H", pid) + bytes(codes))


PINGREQ, PINGRESP, DISCONNECT = b"\xc0\x00", b"\xd0\x00", b"\xe0\x00"


class MqttCase:
    def __init__(self, name, description, anomalies, tshark_note=None, tshark_adjust=None):
        self.name, self.description, self.anomalies = name, description, anomalies
        self.tshark_note = tshark_note
        self.tshark_adjust = tshark_adjust or {}  # {"messages_by_type": {name: delta}, ...}
        self.messages = []
        self.flow = None

    def record(self, direction, raw, **info):
        t = raw[0] >> 4
        if t == 2 and len(raw) >= 4:
            info.setdefault("connack_code", raw[3])
        self.messages.append({"direction": direction, "type": MQTT_NAMES[t], "header": f"0x{raw[0]:02x}", **info})


def build_mqtt(w):
    cases = []

    def new(name, description, anomalies, port=1883, **kw):
        c = MqttCase(name, description, anomalies, **kw)
        i = len(cases)
        w.us = (MQTT_BASE + i) * 1_000_000
        f = Flow(w, i, dport=port)
        f.cip, f.sip = f"10.30.0.{i + 10}", f"192.168.60.{i + 10}"
        f.cmac, f.smac = f"02:00:0a:1e:00:{i:02x}", f"02:00:c0:a8:3c:{i:02x}"
        f.cport = 41000 + i
        c.flow = f
        f.handshake()
        cases.append(c)
        return c, f

    def c2s(c, f, raw, **info):
        f.c2s(raw)
        c.record("client->server", raw, **info)

    def s2c(c, f, raw, **info):
        f.s2c(raw)
        c.record("server->client", raw, **info)

    def hello(c, f, cid, level=4):
        c2s(c, f, connect(cid, level), version=level, client_id=cid)
        s2c(c, f, connack(0, level), connack_code=0)

    # 0. Control.
    c, f = new("baseline", "Clean v3.1.1 session: CONNECT/CONNACK, PUBLISH QoS 1 + PUBACK, SUBSCRIBE plant/# + "
               "SUBACK, PINGREQ/PINGRESP, DISCONNECT (control case).", [])
    hello(c, f, "crafted-baseline")
    c2s(c, f, publish("plant/line1/temp", b"21.5", qos=1, pid=1), topic="plant/line1/temp", qos=1)
    s2c(c, f, ack(4, 1))
    c2s(c, f, subscribe(2, [("plant/#", 0)]), filters=["plant/#"])
    s2c(c, f, suback(2, [0]))
    c2s(c, f, PINGREQ)
    s2c(c, f, PINGRESP)
    c2s(c, f, DISCONNECT)
    f.close()

    # 1. Remaining length in 5 bytes (max is 4).
    c, f = new("remaining_length_5_bytes", "After CONNECT/CONNACK, a PUBLISH whose remaining length is encoded in "
               "5 bytes (ff ff ff ff 7f; the maximum is 4), followed by 6 stray bytes; the broker closes.",
               ["mqtt_malformed_remaining_length"],
               tshark_note="tshark stops reading the remaining length after 4 bytes and takes the 5th byte (0x7f) as "
               "the header of a new packet: it counts no PUBLISH field but a malformed PUBCOMP.",
               tshark_adjust={"messages_by_type": {"PUBLISH": -1, "PUBCOMP": 1}})
    hello(c, f, "crafted-rl5")
    c2s(c, f, b"\x30\xff\xff\xff\xff\x7f" + b"\x00\x01a\x00\x00\x00", malformed="5-byte remaining length")
    f.ack_from_server()
    f.close()

    # 2-3. Reserved packet types.
    c, f = new("reserved_packet_type_0", "Packet type 0 (reserved) with remaining length 0 after CONNECT/CONNACK.",
               ["mqtt_reserved_packet_type"])
    hello(c, f, "crafted-type0")
    c2s(c, f, b"\x00\x00")
    f.ack_from_server()
    f.close()
    c, f = new("reserved_packet_type_15", "Packet type 15 (reserved in v3.1.1; AUTH exists only in v5) in a "
               "v3.1.1 session.", ["mqtt_reserved_packet_type"],
               tshark_note="tshark names type 15 AUTH whatever the version (counted as AUTH).")
    hello(c, f, "crafted-type15")
    c2s(c, f, b"\xf0\x00")
    f.ack_from_server()
    f.close()

    # 4-5. Invalid fixed-header flags.
    c, f = new("subscribe_invalid_flags", "SUBSCRIBE with fixed-header flags 0000 (must be 0010).",
               ["mqtt_invalid_flags"])
    hello(c, f, "crafted-subflags")
    c2s(c, f, subscribe(1, [("plant/#", 0)], flags=0x00), filters=["plant/#"])
    f.ack_from_server()
    f.close()
    c, f = new("pubrel_invalid_flags", "QoS 2 PUBLISH, PUBREC, then a PUBREL with flags 0000 (must be 0010); "
               "PUBCOMP.", ["mqtt_invalid_flags"])
    hello(c, f, "crafted-relflags")
    c2s(c, f, publish("plant/valve", b"open", qos=2, pid=7), topic="plant/valve", qos=2)
    s2c(c, f, ack(5, 7))
    c2s(c, f, ack(6, 7, flags=0x00))
    s2c(c, f, ack(7, 7))
    f.close()

    # 6. QoS 3.
    c, f = new("publish_qos_3", "PUBLISH with both QoS bits set (QoS 3, invalid) and a packet id.",
               ["mqtt_invalid_qos"])
    hello(c, f, "crafted-qos3")
    c2s(c, f, packet(3, 0x06, ustr("plant/line1/temp") + struct.pack(">H", 3) + b"22.0"),
        topic="plant/line1/temp", qos=3)
    f.ack_from_server()
    f.close()

    # 7. PUBLISH before CONNECT.
    c, f = new("publish_before_connect", "Right after the TCP handshake the client sends a QoS 0 PUBLISH without "
               "any CONNECT; the broker closes.", ["mqtt_publish_before_connect"])
    c2s(c, f, publish("plant/line1/temp", b"99.9"), topic="plant/line1/temp", qos=0)
    f.ack_from_server()
    f.close()

    # 8. Second CONNECT.
    c, f = new("double_connect", "CONNECT, CONNACK, then a second CONNECT on the same connection (protocol "
               "violation); the broker closes.", ["mqtt_double_connect"])
    hello(c, f, "crafted-double")
    c2s(c, f, connect("crafted-double", 4), version=4, client_id="crafted-double")
    f.ack_from_server()
    f.close()

    # 9-10. Malformed CONNECT.
    c, f = new("connect_bad_protocol_name", "CONNECT whose protocol name is 'MQTX' (level 4); no CONNACK, the "
               "broker closes.", ["mqtt_malformed_packet"],
               tshark_note="tshark still counts the CONNECT and its level 4.")
    c2s(c, f, connect("crafted-mqtx", 4, name="MQTX"), version=4, client_id="crafted-mqtx",
        malformed="protocol name MQTX")
    f.ack_from_server()
    f.close()
    c, f = new("connect_truncated", "CONNECT whose remaining length (7) ends after the protocol level: no flags, "
               "keep-alive or client id.", ["mqtt_malformed_packet"],
               tshark_note="tshark counts the truncated CONNECT (with level 4) and flags it Malformed.")
    c2s(c, f, b"\x10\x07" + ustr("MQTT") + b"\x04", version=4, malformed="truncated after protocol level")
    f.ack_from_server()
    f.close()

    # 11. Invalid UTF-8 topic.
    c, f = new("invalid_utf8_topic", "QoS 0 PUBLISH whose topic 'plant/\\xff\\xfe/temp' is not valid UTF-8.",
               ["mqtt_malformed_utf8"])
    hello(c, f, "crafted-utf8")
    c2s(c, f, publish(b"plant/\xff\xfe/temp", b"1"), topic_hex=b"plant/\xff\xfe/temp".hex(), qos=0)
    f.ack_from_server()
    f.close()

    # 12. MQTT v5 CONNECT with a property length beyond the packet.
    c, f = new("v5_excessive_property_length", "MQTT v5 CONNECT whose property length (200) exceeds the rest of "
               "the packet (a 5-byte session-expiry property and the client id follow).",
               ["mqtt_malformed_property"],
               tshark_note="tshark counts the CONNECT (level 5) and flags it Malformed; it cannot reach the client "
               "id behind the oversized property block, so crafted-v5prop is not among its client ids.",
               tshark_adjust={"client_ids": {"crafted-v5prop": -1}})
    body = ustr("MQTT") + bytes([5, 0x02]) + struct.pack(">H", 60) + varint(200) + b"\x11\x00\x00\x00\x1e" + \
        ustr("crafted-v5prop")
    c2s(c, f, packet(1, 0, body), version=5, client_id="crafted-v5prop", malformed="property length 200")
    f.ack_from_server()
    f.close()

    # 13. SUBSCRIBE with packet id 0.
    c, f = new("subscribe_packet_id_zero", "SUBSCRIBE with packet identifier 0 (must be non-zero); SUBACK 0.",
               ["mqtt_missing_packet_id"])
    hello(c, f, "crafted-pid0")
    c2s(c, f, subscribe(0, [("alarms/+", 1)]), filters=["alarms/+"])
    s2c(c, f, suback(0, [1]))
    f.close()

    # 14. One byte per segment.
    c, f = new("split_one_byte_per_segment", "CONNECT (v3.1.1) sent one byte per TCP segment, then CONNACK, a "
               "QoS 0 PUBLISH split one byte per segment too, DISCONNECT.", [],
               tshark_note="tshark's MQTT dissector reassembles across TCP segments: all messages counted.")
    raw = connect("crafted-split", 4)
    for b in raw:
        f.c2s(bytes([b]))
    c.record("client->server", raw, version=4, client_id="crafted-split")
    s2c(c, f, connack(0))
    raw = publish("plant/split", b"one-byte-segments")
    for b in raw:
        f.c2s(bytes([b]))
    c.record("client->server", raw, topic="plant/split", qos=0)
    c2s(c, f, DISCONNECT)
    f.close()

    # 15. Several packets in one segment.
    c, f = new("several_packets_one_segment", "CONNECT, two PUBLISH (QoS 0, QoS 1) and PINGREQ in one segment; "
               "CONNACK, PUBACK and PINGRESP in one segment.", [])
    msgs = [(connect("crafted-batch", 4), {"version": 4, "client_id": "crafted-batch"}),
            (publish("plant/batch/a", b"1"), {"topic": "plant/batch/a", "qos": 0}),
            (publish("plant/batch/b", b"2", qos=1, pid=5), {"topic": "plant/batch/b", "qos": 1}),
            (PINGREQ, {})]
    f.c2s(b"".join(m for m, _ in msgs))
    for m, info in msgs:
        c.record("client->server", m, **info)
    rs = [(connack(0), {"connack_code": 0}), (ack(4, 5), {}), (PINGRESP, {})]
    f.s2c(b"".join(m for m, _ in rs))
    for m, info in rs:
        c.record("server->client", m, **info)
    f.close()

    # 16. Non-standard port.
    c, f = new("non_standard_port", "Clean v5 session on TCP port 18830: CONNECT, CONNACK, QoS 0 PUBLISH, "
               "DISCONNECT.", [], port=18830,
               tshark_note="tshark decodes port 18830 as MQTT only with -d tcp.port==18830,mqtt (side file).")
    hello(c, f, "crafted-port18830", level=5)
    c2s(c, f, publish("plant/alt-port", b"ok", level=5), topic="plant/alt-port", qos=0)
    c2s(c, f, b"\xe0\x01\x00")
    f.close()

    # 17-18. Strings for injection tests.
    cid = "inj|cid=1\\x\r\ny"
    topic = "site|a=b\\c\r\nd"
    c, f = new("injection_strings", "Client id 'inj|cid=1\\x<CR><LF>y' and topic 'site|a=b\\c<CR><LF>d' "
               "(| = \\ CR LF; valid UTF-8, control characters only discouraged by the spec).", [])
    hello(c, f, cid)
    c2s(c, f, publish(topic, b"v=1|w=2"), topic=topic, qos=0)
    c2s(c, f, DISCONNECT)
    f.close()
    cid0 = "inj|nul=\\\r\n\x00end"
    topic0 = "site|nul=\\\r\n\x00end"
    c, f = new("injection_strings_nul", "Client id and topic containing | = \\ CR LF and NUL (U+0000, which the "
               "MQTT spec forbids in UTF-8 strings).", ["mqtt_malformed_utf8"],
               tshark_note="tshark prints CR and LF as \\r and \\n and cuts client id and topic at the NUL.")
    hello(c, f, cid0)
    c2s(c, f, publish(topic0, b"x"), topic=topic0, qos=0)
    c2s(c, f, DISCONNECT)
    f.close()
    return cases


def summarize_mqtt(cases):
    by_type, versions, connack = collections.Counter(), collections.Counter(), collections.Counter()
    adj = collections.defaultdict(collections.Counter)
    cids, topics, filters = [], collections.Counter(), []
    out = []
    for i, c in enumerate(cases):
        for m in c.messages:
            by_type[m["type"]] += 1
            if m["type"] == "CONNECT" and "version" in m:
                versions[{3: "3.1", 4: "3.1.1", 5: "5.0"}[m["version"]]] += 1
            if "client_id" in m and m["client_id"] not in cids:
                cids.append(m["client_id"])
            if "topic" in m:
                topics[m["topic"]] += 1
            if "connack_code" in m:
                connack[str(m["connack_code"])] += 1
            filters.extend(m.get("filters", []))
        for k, d in c.tshark_adjust.items():
            for x, v in d.items():
                adj[k][x] += v
        fl = c.flow
        out.append({"case": c.name, "index": i, "description": c.description, "expected_anomalies": c.anomalies,
                    "client": f"{fl.cip}:{fl.cport}", "server": f"{fl.sip}:{fl.sport}", "start_time": MQTT_BASE + i,
                    "messages": c.messages,
                    **({"tshark_note": c.tshark_note} if c.tshark_note else {}),
                    **({"tshark_adjust": c.tshark_adjust} if c.tshark_adjust else {})})

    def s(cnt):
        return dict(sorted(cnt.items()))
    return {
        "source": "scapy-crafted (written to file, never sent); one TCP flow per case",
        "protocol": "mqtt",
        "server_port": 1883,
        "server_ports": [1883, 18830],
        "messages": sum(by_type.values()),
        "messages_by_type": s(by_type),
        "connect_versions": s(versions),
        "connack_codes": s(connack),
        "client_ids": cids,
        "topics_published": s(topics),
        "topics_subscribed": sorted(set(filters)),
        "tshark_adjust": {**{k: s(v) for k, v in adj.items()},
                          "note": "add these to the generator's counts to get what tshark 4.0 reports; reasons "
                                  "per case in cases[].tshark_note"},
        "cases": out,
    }


# ---------------------------------------------------------------- CoAP

def coap_opts(opts):
    """opts: [(number, value bytes)] in any order -> encoded options (sorted, delta/length extended)."""
    out, last = bytearray(), 0
    for num, val in sorted(opts, key=lambda o: o[0]):
        delta, ln = num - last, len(val)
        last = num

        def nib(x):
            return (x, b"") if x < 13 else (13, bytes([x - 13])) if x < 269 else (14, struct.pack(">H", x - 269))
        dn, dx = nib(delta)
        ln_, lx = nib(ln)
        out += bytes([(dn << 4) | ln_]) + dx + lx + val
    return bytes(out)


def coap(typ, code, mid, token=b"", opts=(), payload=b"", ver=1, tkl=None, raw_opts=None):
    tkl = len(token) if tkl is None else tkl
    hdr = bytes([(ver << 6) | (typ << 4) | tkl, code]) + struct.pack(">H", mid) + token
    body = raw_opts if raw_opts is not None else coap_opts(list(opts))
    return hdr + body + (b"\xff" + payload if payload else b"")


def code(c, dd):
    return (c << 5) | dd


def path(*segs):
    return [(11, s.encode("utf-8", "surrogatepass") if isinstance(s, str) else s) for s in segs]


GET, POST, PUT, DELETE = code(0, 1), code(0, 2), code(0, 3), code(0, 4)
CONTENT, NOT_FOUND, BAD_OPTION, BAD_REQUEST = code(2, 5), code(4, 4), code(4, 2), code(4, 0)


class CoapCase:
    def __init__(self, name, description, anomalies, tshark_note=None, tshark_adjust=None):
        self.name, self.description, self.anomalies = name, description, anomalies
        self.tshark_note = tshark_note
        self.tshark_adjust = tshark_adjust or {}
        self.messages = []
        self.client = self.server = None


def build_coap(w):
    cases = []

    def new(name, description, anomalies, port=5683, **kw):
        c = CoapCase(name, description, anomalies, **kw)
        i = len(cases)
        w.us = (COAP_BASE + i) * 1_000_000
        c.client = (f"02:00:0a:28:00:{i:02x}", f"10.40.0.{i + 10}", 42000 + i)
        c.server = (f"02:00:c0:a8:46:{i:02x}", f"192.168.70.{i + 10}", port)
        c.ipid = 0x2000 + i * 16
        cases.append(c)
        return c

    def send(c, from_client, data, dt=0.001, **info):
        src, dst = (c.client, c.server) if from_client else (c.server, c.client)
        c.ipid += 1
        w.add(Ether(src=src[0], dst=dst[0]) / IP(src=src[1], dst=dst[1], id=c.ipid, ttl=64) /
              UDP(sport=src[2], dport=dst[2]) / Raw(data), dt)
        if info.get("count", True):
            t = (data[0] >> 4) & 3
            cd = data[1]
            c.messages.append({"direction": "client->server" if from_client else "server->client",
                               "type": COAP_TYPES[t], "code": f"{cd >> 5}.{cd & 31:02d}",
                               "mid": struct.unpack(">H", data[2:4])[0],
                               **{k: v for k, v in info.items() if k != "count"}})

    c = new("baseline", "CON GET /sensors/temp, piggybacked ACK 2.05 (control case).", [])
    send(c, True, coap(0, GET, 0x1001, b"\x11", path("sensors", "temp")), uri_path="/sensors/temp")
    send(c, False, coap(2, CONTENT, 0x1001, b"\x11", [(12, b"")], b"21.5"))

    c = new("version_2", "CON GET /sensors/temp with version field 2 (only 1 is defined); no answer.",
            ["coap_invalid_version"],
            tshark_note="tshark dissects it like a version 1 message (counted, no warning).")
    send(c, True, coap(0, GET, 0x1002, b"\x12", path("sensors", "temp"), ver=2), uri_path="/sensors/temp",
         version=2)

    c = new("token_length_9", "CON GET whose token length field is 9 (9-15 are reserved), 9 bytes follow; "
            "the server answers RST.", ["coap_invalid_token_length"])
    send(c, True, coap(0, GET, 0x1003, bytes(range(1, 10)), path("sensors"), tkl=9), uri_path="/sensors")
    send(c, False, coap(3, 0, 0x1003))

    c = new("option_delta_15", "CON GET whose first option byte is 0xf1 (delta 15 is reserved unless the byte is "
            "the payload marker 0xff); RST.", ["coap_invalid_option"],
            tshark_note="tshark counts it with the warning 'end-of-options marker found, but option delta isn't 15'.")
    send(c, True, coap(0, GET, 0x1004, b"\x14", raw_opts=b"\xf1\x00"))
    send(c, False, coap(3, 0, 0x1004))

    c = new("option_length_15", "CON GET with option byte 0xbf (Uri-Path, length nibble 15 is reserved); RST.",
            ["coap_invalid_option"],
            tshark_note="tshark counts it with the warning 'end-of-options marker found, but option length isn't 15'.")
    send(c, True, coap(0, GET, 0x1005, b"\x15", raw_opts=b"\xbf" + b"x" * 15))
    send(c, False, coap(3, 0, 0x1005))

    c = new("payload_marker_without_payload", "CON PUT /actuators/valve ending with the payload marker 0xff and "
            "no payload (a message format error); RST.", ["coap_payload_marker_without_payload"])
    send(c, True, coap(0, PUT, 0x1006, b"\x16", path("actuators", "valve")) + b"\xff", uri_path="/actuators/valve")
    send(c, False, coap(3, 0, 0x1006))

    c = new("truncated_header", "3-byte UDP payload to port 5683 (the fixed CoAP header is 4 bytes).",
            ["coap_malformed"],
            tshark_note="tshark reads the type (CON) and code (0.01 GET) before the header runs out, counts a "
            "message and flags it Malformed; the generator counts no message.",
            tshark_adjust={"messages_by_type": {"CON": 1}, "messages_by_code": {"0.01": 1}})
    send(c, True, b"\x40\x01\x10", count=False)

    c = new("unsolicited_ack", "The server sends an ACK 2.05 (mid 0x7777, token 0x77) that acknowledges no CON.",
            ["coap_unsolicited_response"])
    send(c, False, coap(2, CONTENT, 0x7777, b"\x77", [], b"stale"))

    c = new("response_without_request", "The server sends a NON 2.05 response (token 0xbeef) no request asked for.",
            ["coap_unsolicited_response"])
    send(c, False, coap(1, CONTENT, 0x2001, b"\xbe\xef", [], b"23.1"))

    c = new("retransmitted_con", "CON GET /sensors/flow sent twice (same mid 0x1009, retransmission after 2 s), "
            "one ACK 2.05.", [])
    m = coap(0, GET, 0x1009, b"\x19", path("sensors", "flow"))
    send(c, True, m, uri_path="/sensors/flow")
    send(c, True, m, dt=2.0, uri_path="/sensors/flow", retransmission=True)
    send(c, False, coap(2, CONTENT, 0x1009, b"\x19", [], b"3.2"))

    c = new("unknown_critical_option", "CON GET /sensors/temp with option 25 (odd = critical, unassigned); the "
            "server answers ACK 4.02 Bad Option.", ["coap_unknown_critical_option"],
            tshark_note="tshark counts both messages and raises the Malformed-group warning 'Invalid Option "
            "Number 25' (the frame matches _ws.malformed).")
    send(c, True, coap(0, GET, 0x100a, b"\x1a", path("sensors", "temp") + [(25, b"\x01")]), uri_path="/sensors/temp")
    send(c, False, coap(2, BAD_OPTION, 0x100a, b"\x1a"))

    c = new("block_szx_7", "CON GET /fw/image with Block2 num 0, SZX 7 (reserved); ACK 4.00 Bad Request.",
            ["coap_invalid_block_size"])
    send(c, True, coap(0, GET, 0x100b, b"\x1b", path("fw", "image") + [(23, b"\x07")]), uri_path="/fw/image")
    send(c, False, coap(2, BAD_REQUEST, 0x100b, b"\x1b"))

    c = new("non_standard_port", "CON GET /sensors/level to UDP port 56830 and its ACK 2.05.", [], port=56830,
            tshark_note="tshark decodes UDP port 56830 as CoAP only with -d udp.port==56830,coap (side file).")
    send(c, True, coap(0, GET, 0x100c, b"\x1c", path("sensors", "level")), uri_path="/sensors/level")
    send(c, False, coap(2, CONTENT, 0x100c, b"\x1c", [], b"71%"))

    segs = ["a|b", "x=1", "back\\slash", "cr\rlf\n", "nul\x00end"]
    c = new("injection_uri_path", "CON GET with Uri-Path segments 'a|b', 'x=1', 'back\\slash', 'cr<CR>lf<LF>', "
            "'nul<NUL>end'; ACK 4.04.", [],
            tshark_note="tshark prints CR and LF as \\r and \\n and cuts a segment at NUL ('nul').")
    send(c, True, coap(0, GET, 0x100d, b"\x1d", path(*segs)), uri_path="/" + "/".join(segs))
    send(c, False, coap(2, NOT_FOUND, 0x100d, b"\x1d"))

    c = new("ping_reset", "CoAP ping: empty CON (code 0.00), answered by RST.", [])
    send(c, True, coap(0, 0, 0x100e))
    send(c, False, coap(3, 0, 0x100e))
    return cases


def summarize_coap(cases):
    by_type, by_code, by_tc = collections.Counter(), collections.Counter(), collections.Counter()
    mids, paths = collections.Counter(), collections.Counter()
    adj = collections.defaultdict(collections.Counter)
    out = []
    for i, c in enumerate(cases):
        for m in c.messages:
            by_type[m["type"]] += 1
            by_code[m["code"]] += 1
            by_tc[f"{m['type']} {m['code']}"] += 1
            mids[str(m["mid"])] += 1
            if "uri_path" in m:
                paths[m["uri_path"]] += 1
        for k, d in c.tshark_adjust.items():
            for x, v in d.items():
                adj[k][x] += v
        out.append({"case": c.name, "index": i, "description": c.description, "expected_anomalies": c.anomalies,
                    "client": f"{c.client[1]}:{c.client[2]}", "server": f"{c.server[1]}:{c.server[2]}",
                    "start_time": COAP_BASE + i, "messages": c.messages,
                    **({"tshark_note": c.tshark_note} if c.tshark_note else {}),
                    **({"tshark_adjust": c.tshark_adjust} if c.tshark_adjust else {})})

    def s(cnt):
        return dict(sorted(cnt.items()))
    return {
        "source": "scapy-crafted (written to file, never sent); one UDP exchange per case",
        "protocol": "coap",
        "server_port": 5683,
        "server_ports": [5683, 56830],
        "messages": sum(by_code.values()),
        "messages_by_type": s(by_type),
        "messages_by_code": s(by_code),
        "messages_by_type_and_code": s(by_tc),
        "message_ids": s(mids),
        "uri_paths": s(paths),
        "tshark_adjust": {**{k: s(v) for k, v in adj.items()},
                          "note": "add these to the generator's counts to get what tshark 4.0 reports; reasons "
                                  "per case in cases[].tshark_note"},
        "cases": out,
    }


def main():
    proto, out, truth = sys.argv[1], sys.argv[2], sys.argv[3]
    w = Writer()
    if proto == "mqtt":
        doc = summarize_mqtt(build_mqtt(w))
    elif proto == "coap":
        doc = summarize_coap(build_coap(w))
    else:
        raise SystemExit("usage: iot_crafted.py mqtt|coap OUT.pcap TRUTH.json")
    for fr in w.frames:
        fr.time = Decimal(fr.time)
    wrpcap(out, w.frames, linktype=1)
    with open(truth, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
