#!/usr/bin/python3
"""Build captures/MANIFEST.json from the generators' ground-truth files.

Usage: manifest.py CAPTURES_DIR TRUTH_DIR
TRUTH_DIR holds <capture>.json written by pymodbus_session.py / crafted.py / mqtt_session.py /
coap_session.py / iot_crafted.py. A capture whose <capture>.json is not in TRUTH_DIR (a part of
generate.sh that was not run, e.g. `./generate.sh mqtt coap`) keeps the ground truth of the current
MANIFEST.json, so captures that were not regenerated keep their entries unchanged. Variants
(pcapng, nanosecond pcap, gzip) are listed with "ground_truth_from" naming their source.
Packet counts and link types are read from the files themselves (stdlib parser).
"""
import gzip
import hashlib
import json
import os
import struct
import sys

LINKTYPES = {1: "ETHERNET", 113: "LINUX_SLL", 276: "LINUX_SLL2", 0: "NULL", 101: "RAW"}

# capture -> (how it was made, what it tests, ground-truth source, tshark extra args)
FILES = {
    "modbus_pymodbus.pcap": (
        "dumpcap -i lo -P while gen/pymodbus_session.py --mode full polls the pymodbus server on 127.0.0.1:502",
        "real client/server: FC 1-8, 11, 12, 15-17, 20-24, 43/14 (read codes 1-4), exceptions 1/2/3, "
        "unknown FCs 0x41/0x5A/0x64, unit ids 1/2/17 (+9 unanswered), 20 polling cycles at 100 ms, "
        "force listen only (unanswered) last",
        None, []),
    "modbus_pymodbus_port5020.pcap": (
        "dumpcap -i lo -P while gen/pymodbus_session.py --mode short polls the pymodbus server on 127.0.0.1:5020",
        "Modbus/TCP on a non-standard port (heuristic detection); tshark needs -d tcp.port==5020,mbtcp",
        None, ["-d", "tcp.port==5020,mbtcp"]),
    "modbus_crafted.pcap": (
        "gen/crafted.py (scapy, written to file, never sent)",
        "one TCP flow per spec-driven case (anomalies, TCP reassembly edge cases, VLAN/QinQ/IPv6/IPv4 fragments)",
        None, []),
    "modbus_sll.pcap": (
        "dumpcap -i any -y LINUX_SLL -P while gen/pymodbus_session.py --mode tiny runs on 127.0.0.1:502",
        "Linux cooked capture v1 link type (113)", None, []),
    "modbus_sll2.pcap": (
        "dumpcap -i any -y LINUX_SLL2 -P while gen/pymodbus_session.py --mode tiny runs on 127.0.0.1:502",
        "Linux cooked capture v2 link type (276)", None, []),
    "modbus_pymodbus.pcapng": (
        "editcap -F pcapng modbus_pymodbus.pcap", "pcapng reader path (SHB/IDB/EPB)",
        "modbus_pymodbus.pcap", []),
    "modbus_crafted_ns.pcap": (
        "editcap -F nsecpcap modbus_crafted.pcap", "nanosecond-resolution pcap (magic a1b23c4d)",
        "modbus_crafted.pcap", []),
    "modbus_pymodbus.pcap.gz": (
        "gzip -9n -c modbus_pymodbus.pcap", "gzip-compressed capture", "modbus_pymodbus.pcap", []),
    "mqtt_mosquitto.pcap": (
        "dumpcap -i lo -f 'tcp port 1883' -P while gen/mqtt_session.py --part main runs mosquitto_pub/mosquitto_sub "
        "against our own mosquitto on 127.0.0.1:1883 (anonymous)",
        "real broker and clients: MQTT 3.1, 3.1.1 and 5.0; PUBLISH QoS 0/1/2, retained; SUBSCRIBE with +, # and "
        "$SYS/# filters; UNSUBSCRIBE; PINGREQ (keep-alive 5 s); v5 PUBLISH properties (user property, content "
        "type, message expiry, topic alias); DISCONNECT; will message; CONNACK refusals 1 and 2",
        None, []),
    "mqtt_mosquitto_auth.pcap": (
        "dumpcap -i lo -f 'tcp port 1884' -P while gen/mqtt_session.py --part auth runs against mosquitto's "
        "password-protected listener 127.0.0.1:1884",
        "username/password logins (v3.1, v3.1.1, v5), wrong password (CONNACK 5 / reason 135), no credentials; "
        "MQTT on a non-standard port: tshark needs -d tcp.port==1884,mqtt",
        None, ["-d", "tcp.port==1884,mqtt"]),
    "coap_libcoap.pcap": (
        "dumpcap -i lo -f 'udp port 5683' -P while gen/coap_session.py runs coap-client-notls against "
        "coap-server-notls on 127.0.0.1:5683",
        "real CoAP client/server: discovery, GET/PUT/POST/DELETE, NON, query, Observe notifications, "
        "block-wise PUT (Block1) and GET (Block2), dynamic resource creation, separate response, 4.04, 4.05",
        None, []),
    "mqtt_crafted.pcap": (
        "gen/iot_crafted.py mqtt (scapy, written to file, never sent)",
        "one TCP flow per spec-driven MQTT case (malformed packets, protocol violations, segmentation, "
        "non-standard port 18830, injection strings)",
        None, ["-d", "tcp.port==18830,mqtt"]),
    "coap_crafted.pcap": (
        "gen/iot_crafted.py coap (scapy, written to file, never sent)",
        "one UDP exchange per spec-driven CoAP case (format errors, unsolicited responses, retransmission, "
        "critical option, block size, non-standard port 56830, injection strings)",
        None, ["-d", "udp.port==56830,coap"]),
}


def read_all(path):
    with open(path, "rb") as fh:
        data = fh.read()
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data), "gzip"
    return data, None


def inspect(data):
    """(format, linktypes, packets) for a pcap or pcapng byte string."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = "<" if magic[0] in (0xD4, 0x4D) else ">"
        ns = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
        linktype = struct.unpack(e + "I", data[20:24])[0] & 0x0FFFFFFF
        off, n = 24, 0
        while off + 16 <= len(data):
            incl = struct.unpack(e + "I", data[off + 8:off + 12])[0]
            off += 16 + incl
            n += 1
        return ("pcap-ns" if ns else "pcap"), [linktype], n
    if magic == b"\x0a\x0d\x0d\x0a":
        e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        off, n, links = 0, 0, []
        while off + 12 <= len(data):
            btype, blen = struct.unpack(e + "II", data[off:off + 8])
            if btype == 1:
                links.append(struct.unpack(e + "H", data[off + 8:off + 10])[0])
            elif btype in (2, 3, 6):
                n += 1
            off += blen
        return "pcapng", links, n
    return "unknown", [], 0


def main():
    cap_dir, truth_dir = sys.argv[1], sys.argv[2]
    previous = {}
    old_path = os.path.join(cap_dir, "MANIFEST.json")
    if os.path.exists(old_path):
        with open(old_path, encoding="utf-8") as fh:
            previous = {f["file"]: f for f in json.load(fh)["files"]}
    files = []
    for name, (how, tests, source, targs) in FILES.items():
        path = os.path.join(cap_dir, name)
        raw_bytes = open(path, "rb").read()
        data, comp = read_all(path)
        fmt, links, packets = inspect(data)
        entry = {
            "file": name,
            "format": fmt + ("+gzip" if comp else ""),
            "link_types": [LINKTYPES.get(x, str(x)) for x in links],
            "packets": packets,
            "bytes": len(raw_bytes),
            "sha256": hashlib.sha256(raw_bytes).hexdigest(),
            "made_by": how,
            "tests": tests,
            "tshark_extra_args": targs,
        }
        if source:
            entry["ground_truth_from"] = source
        else:
            truth_path = os.path.join(truth_dir, name + ".json")
            if os.path.exists(truth_path):
                with open(truth_path, encoding="utf-8") as fh:
                    entry["ground_truth"] = json.load(fh)
            elif name in previous and "ground_truth" in previous[name]:
                entry["ground_truth"] = previous[name]["ground_truth"]  # not regenerated in this run
            else:
                raise SystemExit(f"no ground truth for {name}: run its part of generate.sh")
        files.append(entry)
    doc = {
        "generated_by": "captures/generate.sh (gen/*.py); do not edit by hand",
        "counting_rules": {
            "pdus_by_function_code": "requests + responses per 7-bit function code (an exception response "
                                     "counts under its function); ADUs complete on the wire only",
            "exceptions_by_code": "exception responses per exception code",
            "direction": "port 502 (or the server_port) side is the server; client->server = request",
            "mqtt.messages_by_type": "MQTT control packets per fixed-header type (names as tshark_reference.sh: "
                                     "Reserved(0), CONNECT ... AUTH), both directions; one per packet even when "
                                     "several share a segment or one spans many",
            "mqtt.connect_versions": "CONNECT packets per protocol level (3=3.1, 4=3.1.1, 5=5.0, other 'level N')",
            "mqtt.connack_codes": "CONNACK return code (v3.x) or reason code (v5)",
            "coap.messages_by_type": "CoAP messages per type CON/NON/ACK/RST (one per UDP datagram)",
            "coap.messages_by_code": "CoAP messages per code c.dd (0.00 = empty)",
            "coap.uri_paths": "requests per '/'-joined Uri-Path (retransmissions count again)",
        },
        "anomaly_ids": ["modbus_invalid_protocol_id", "modbus_length_mismatch", "modbus_oversize_pdu",
                        "modbus_invalid_function_code", "modbus_illegal_quantity", "modbus_invalid_coil_value",
                        "modbus_non_modbus_on_port", "modbus_unsolicited_response", "modbus_response_mismatch",
                        "modbus_stream_resync",
                        "mqtt_malformed_remaining_length", "mqtt_reserved_packet_type", "mqtt_invalid_flags",
                        "mqtt_invalid_qos", "mqtt_publish_before_connect", "mqtt_double_connect",
                        "mqtt_malformed_packet", "mqtt_missing_packet_id", "mqtt_malformed_utf8",
                        "mqtt_malformed_property",
                        "coap_malformed", "coap_unsolicited_response", "coap_invalid_version",
                        "coap_invalid_token_length", "coap_invalid_option", "coap_payload_marker_without_payload",
                        "coap_unknown_critical_option", "coap_invalid_block_size"],
        "files": files,
    }
    with open(os.path.join(cap_dir, "MANIFEST.json"), "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    for f in files:
        print(f"{f['file']:32} {f['format']:12} {','.join(f['link_types']):10} {f['packets']:5} pkts {f['bytes']:7} B")


if __name__ == "__main__":
    main()
