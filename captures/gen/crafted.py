#!/usr/bin/python3
"""Spec-driven crafted Modbus/TCP cases, written straight to a pcap file (never sent).

Usage: crafted.py OUT.pcap TRUTH.json

One TCP flow per case (full handshake, correct seq/ack, FIN close), each with its own
addresses (clients 10.20.x.y, servers 192.168.x.y; IPv6 fd00:: for the IPv6 case).
Timestamps are fixed (case i starts at 2024-01-01T00:00:00Z + i s) so the output is byte-for-byte
reproducible. The ground truth (ADUs per case, anomalies each case is meant to raise, and
where tshark is known to see the case differently) is written to TRUTH.json for MANIFEST.json.
"""
import collections
import json
import struct
import sys
from decimal import Decimal

from scapy.all import IP, TCP, Dot1AD, Dot1Q, Ether, IPv6, Raw, fragment, raw, wrpcap

BASE_TIME = 1704067200  # 2024-01-01T00:00:00Z


def mbap(tid, unit, pdu, pid=0, length=None):
    """MBAP header + PDU. length defaults to the correct value (unit id + PDU)."""
    if length is None:
        length = len(pdu) + 1
    return struct.pack(">HHHB", tid, pid, length, unit) + pdu


class Writer:
    def __init__(self):
        self.frames = []
        self.us = 0  # integer microseconds: no float drift in the timestamps

    def start_case(self, idx):
        self.us = (BASE_TIME + idx) * 1_000_000

    def add(self, frame, dt=0.001):
        self.us += round(dt * 1_000_000)
        frame.time = Decimal(self.us) / 1_000_000
        self.frames.append(frame)


class Flow:
    """One TCP connection; client port 40000+idx, server port 502."""

    def __init__(self, w, idx, l2=None, ipv6=False, dport=502):
        self.w = w
        self.idx = idx
        self.l2 = l2 or []
        self.ipv6 = ipv6
        if ipv6:
            self.cip, self.sip = f"fd00:20::{idx + 10:x}", f"fd00:168::{idx + 10:x}"
        else:
            self.cip, self.sip = f"10.20.{idx // 200}.{idx % 200 + 10}", f"192.168.{idx // 200 + 50}.{idx % 200 + 10}"
        self.cmac, self.smac = f"02:00:0a:14:00:{idx:02x}", f"02:00:c0:a8:00:{idx:02x}"
        self.cport, self.sport = 40000 + idx, dport
        self.cseq = 1000000 + idx * 7919
        self.sseq = 5000000 + idx * 104729
        self.cipid, self.sipid = 0x1000 + idx * 16, 0x8000 + idx * 16

    def frame(self, from_client, flags, seq, ack, payload=b""):
        src_mac, dst_mac = (self.cmac, self.smac) if from_client else (self.smac, self.cmac)
        src, dst = (self.cip, self.sip) if from_client else (self.sip, self.cip)
        sp, dp = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        if self.ipv6:
            l3 = IPv6(src=src, dst=dst, hlim=64)
        else:
            if from_client:
                self.cipid += 1
                ipid = self.cipid
            else:
                self.sipid += 1
                ipid = self.sipid
            l3 = IP(src=src, dst=dst, id=ipid, ttl=64, flags="DF")
        seg = TCP(sport=sp, dport=dp, flags=flags, seq=seq, ack=ack, window=8192)
        if payload:
            seg = seg / Raw(payload)
        eth = Ether(src=src_mac, dst=dst_mac)
        p = eth
        for tag in self.l2:
            p = p / tag.copy()
        return p / l3 / seg

    def handshake(self):
        self.w.add(self.frame(True, "S", self.cseq, 0))
        self.w.add(self.frame(False, "SA", self.sseq, self.cseq + 1))
        self.cseq += 1
        self.sseq += 1
        self.w.add(self.frame(True, "A", self.cseq, self.sseq))

    def c2s(self, payload, write=True, dt=0.001):
        f = self.frame(True, "PA", self.cseq, self.sseq, payload)
        self.cseq += len(payload)
        if write:
            self.w.add(f, dt)
        return f

    def s2c(self, payload, write=True, dt=0.001):
        f = self.frame(False, "PA", self.sseq, self.cseq, payload)
        self.sseq += len(payload)
        if write:
            self.w.add(f, dt)
        return f

    def ack_from_server(self):
        self.w.add(self.frame(False, "A", self.sseq, self.cseq))

    def close(self):
        self.w.add(self.frame(True, "FA", self.cseq, self.sseq))
        self.cseq += 1
        self.w.add(self.frame(False, "FA", self.sseq, self.cseq))
        self.sseq += 1
        self.w.add(self.frame(True, "A", self.cseq, self.sseq))


class Case:
    """Ground truth of one case: ADUs visible complete on the wire, anomalies, tshark notes."""

    def __init__(self, name, description, anomalies, tshark_note=None, tshark_adjust=None):
        self.name = name
        self.description = description
        self.anomalies = anomalies
        self.adus = []
        self.tshark_note = tshark_note
        # Known tshark differences: {"pdus": {fc: delta}, "exceptions": {code: delta}}
        self.tshark_adjust = tshark_adjust or {}
        self.flow = None

    def adu(self, direction, tid, unit, fc, exception=None, note=None):
        self.adus.append({"direction": direction, "trans_id": tid, "unit_id": unit,
                          "function_code": fc, "exception_code": exception, **({"note": note} if note else {})})


def req(case, flow, tid, unit, pdu, **kw):
    """Client request ADU (written, and recorded in the case)."""
    flow.c2s(mbap(tid, unit, pdu, **kw))
    case.adu("request", tid, unit, pdu[0])


def rsp(case, flow, tid, unit, pdu, **kw):
    flow.s2c(mbap(tid, unit, pdu, **kw))
    exc = pdu[1] if pdu[0] & 0x80 and len(pdu) > 1 else None
    case.adu("response", tid, unit, pdu[0], exc)


def regs(n, start=0):
    return b"".join(struct.pack(">H", (start + i) & 0xFFFF) for i in range(n))


def fc3_req(addr, qty):
    return struct.pack(">BHH", 3, addr, qty)


def fc3_rsp(qty, start=0):
    return struct.pack(">BB", 3, 2 * qty) + regs(qty, start)


def build(w):
    cases = []

    def new(name, description, anomalies, l2=None, ipv6=False, **kw):
        c = Case(name, description, anomalies, **kw)
        idx = len(cases)
        w.start_case(idx)
        c.flow = Flow(w, idx, l2=l2, ipv6=ipv6)
        c.flow.handshake()
        cases.append(c)
        return c, c.flow

    # 0. Control: a clean poll.
    c, f = new("baseline", "Clean FC3 read and FC6 write (control case; nothing to report).", [])
    req(c, f, 1, 1, fc3_req(0, 4)); rsp(c, f, 1, 1, fc3_rsp(4, 100))
    req(c, f, 2, 1, struct.pack(">BHH", 6, 7, 0x00FF)); rsp(c, f, 2, 1, struct.pack(">BHH", 6, 7, 0x00FF))
    f.close()

    # 1. Protocol identifier != 0.
    c, f = new("invalid_protocol_id", "FC3 request and response whose MBAP protocol identifier is 0x0001.",
               ["modbus_invalid_protocol_id"],
               tshark_note="Wireshark's mbtcp dissector rejects protocol id != 0 (not Modbus/TCP): no PDU counted.",
               tshark_adjust={"pdus": {3: -2}})
    req(c, f, 1, 1, fc3_req(0, 2), pid=1); rsp(c, f, 1, 1, fc3_rsp(2), pid=1)
    f.close()

    # 2-4. MBAP length inconsistent with the PDU.
    c, f = new("length_too_short", "FC3 request whose MBAP length (4) leaves a 3-byte PDU (FC3 needs 5); "
               "the server answers exception 3.", ["modbus_length_mismatch"],
               tshark_note="tshark dissects the short FC3 request (counted, marked malformed).")
    req(c, f, 1, 1, b"\x03\x00\x00"); rsp(c, f, 1, 1, b"\x83\x03")
    f.close()
    c, f = new("length_too_long", "FC3 request whose MBAP length (9) carries 3 extra bytes after the 5-byte PDU; "
               "the server answers exception 3.", ["modbus_length_mismatch"])
    req(c, f, 1, 1, fc3_req(0, 10) + b"\x00\x00\x00"); rsp(c, f, 1, 1, b"\x83\x03")
    f.close()
    c, f = new("length_below_minimum", "ADU with MBAP length 1 (unit id only, no function code), then a valid FC3 "
               "poll on the same connection.", ["modbus_length_mismatch"],
               tshark_note="Wireshark rejects MBAP length < 2; the segment is not Modbus for tshark.")
    f.c2s(mbap(1, 1, b""))
    c.adu("request", 1, 1, None, note="no function code")
    f.ack_from_server()
    req(c, f, 2, 1, fc3_req(0, 1)); rsp(c, f, 2, 1, fc3_rsp(1))
    f.close()

    # 5. PDU > 253 bytes (user-defined function 65 carrying 300 data bytes).
    c, f = new("oversize_pdu", "User-defined FC 0x41 request with a 301-byte PDU (MBAP length 302 > 254); "
               "exception 1 reply.", ["modbus_oversize_pdu"])
    req(c, f, 1, 1, b"\x41" + bytes(range(256)) + bytes(44)); rsp(c, f, 1, 1, b"\xc1\x01")
    f.close()

    # 6-7. Invalid function codes in requests.
    c, f = new("function_code_zero", "Request with function code 0; server replies 0x80/exception 1.",
               ["modbus_invalid_function_code"])
    req(c, f, 1, 1, b"\x00\x00\x01"); rsp(c, f, 1, 1, b"\x80\x01")
    f.close()
    c, f = new("function_code_exception_bit_request", "Client sends a request with function code 0x83 "
               "(exception bit set; not a valid request code); no reply.", ["modbus_invalid_function_code"],
               tshark_note="tshark reads any PDU with the 0x80 bit as an exception and counts its second byte "
               "(0x02) as exception code 2.", tshark_adjust={"exceptions": {2: 1}})
    req(c, f, 1, 1, b"\x83\x02\x00\x00\x01")
    f.ack_from_server()
    f.close()

    # 8-11. Illegal quantities.
    c, f = new("illegal_quantity_fc3_zero", "FC3 quantity 0; exception 3.", ["modbus_illegal_quantity"])
    req(c, f, 1, 1, fc3_req(0, 0)); rsp(c, f, 1, 1, b"\x83\x03")
    f.close()
    c, f = new("illegal_quantity_fc3_126", "FC3 quantity 126 (max 125); exception 3.", ["modbus_illegal_quantity"])
    req(c, f, 1, 1, fc3_req(0, 126)); rsp(c, f, 1, 1, b"\x83\x03")
    f.close()
    c, f = new("illegal_quantity_fc1_2001", "FC1 quantity 2001 (max 2000); exception 3.", ["modbus_illegal_quantity"])
    req(c, f, 1, 1, struct.pack(">BHH", 1, 0, 2001)); rsp(c, f, 1, 1, b"\x81\x03")
    f.close()
    c, f = new("illegal_quantity_fc16_124", "FC16 quantity 124 (max 123) with byte count 248 and all 248 bytes: "
               "the PDU is 254 bytes, so it is oversize too; exception 3.",
               ["modbus_illegal_quantity", "modbus_oversize_pdu"])
    req(c, f, 1, 1, struct.pack(">BHHB", 16, 0, 124, 248) + regs(124)); rsp(c, f, 1, 1, b"\x90\x03")
    f.close()

    # 12. FC5 value neither 0xFF00 nor 0x0000.
    c, f = new("invalid_coil_value", "FC5 write single coil with value 0x1234; exception 3.",
               ["modbus_invalid_coil_value"])
    req(c, f, 1, 1, struct.pack(">BHH", 5, 3, 0x1234)); rsp(c, f, 1, 1, b"\x85\x03")
    f.close()

    # 13. Not Modbus at all on port 502.
    c, f = new("non_modbus_on_port", "HTTP GET sent to port 502 and an HTTP 400 reply.",
               ["modbus_non_modbus_on_port"])
    f.c2s(b"GET / HTTP/1.1\r\nHost: 192.168.50.23:502\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n")
    f.s2c(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    f.close()

    # 14. Response without request.
    c, f = new("unsolicited_response", "Server sends an FC3 response (tid 77) that no request asked for.",
               ["modbus_unsolicited_response"])
    rsp(c, f, 77, 1, fc3_rsp(2, 5))
    f.close()

    # 15. Function code of the response differs from its request.
    c, f = new("response_function_mismatch", "FC3 request (tid 5) answered by an FC4 response with tid 5.",
               ["modbus_response_mismatch"])
    req(c, f, 5, 1, fc3_req(0, 2)); rsp(c, f, 5, 1, struct.pack(">BB", 4, 4) + regs(2))
    f.close()

    # 16. Unanswered request.
    c, f = new("unanswered_request", "FC3 request that never gets a response (server only ACKs, then FIN).", [])
    req(c, f, 9, 1, fc3_req(0, 8))
    f.ack_from_server()
    f.close()

    # 17. Every standard exception code.
    c, f = new("exception_codes", "FC3 requests answered with exception codes 1, 2, 3, 4, 5, 6, 8, 10 and 11 "
               "(one each).", [])
    for i, code in enumerate((1, 2, 3, 4, 5, 6, 8, 10, 11)):
        req(c, f, 100 + i, 1, fc3_req(i * 10, 2)); rsp(c, f, 100 + i, 1, bytes([0x83, code]))
    f.close()

    # 18. One byte per TCP segment.
    c, f = new("split_one_byte_per_segment", "FC16 request (3 registers, 19 bytes) sent one byte per TCP segment; "
               "normal response.", [],
               tshark_note="Wireshark's mbtcp dissector needs 8 bytes in the first segment before it asks TCP "
               "for reassembly, so the byte-per-segment request is not dissected (the response is).",
               tshark_adjust={"pdus": {16: -1}})
    adu = mbap(1, 1, struct.pack(">BHHB", 16, 10, 3, 6) + regs(3, 500))
    for b in adu:
        f.c2s(bytes([b]))
    c.adu("request", 1, 1, 16)
    rsp(c, f, 1, 1, struct.pack(">BHH", 16, 10, 3))
    f.close()

    # 19. Three ADUs in one segment (pipelined requests, then three responses in one segment).
    c, f = new("three_adus_one_segment", "Three pipelined requests (FC3, FC4, FC1) in one segment, answered by "
               "three responses in one segment.", [])
    pdus = [(1, fc3_req(0, 1)), (2, struct.pack(">BHH", 4, 0, 1)), (3, struct.pack(">BHH", 1, 0, 8))]
    f.c2s(b"".join(mbap(t, 1, p) for t, p in pdus))
    for t, p in pdus:
        c.adu("request", t, 1, p[0])
    rs = [(1, fc3_rsp(1)), (2, struct.pack(">BBH", 4, 2, 42)), (3, b"\x01\x01\x55")]
    f.s2c(b"".join(mbap(t, 1, p) for t, p in rs))
    for t, p in rs:
        c.adu("response", t, 1, p[0])
    f.close()

    # 20. Out-of-order segments.
    c, f = new("out_of_order", "Two request ADUs in two segments; the second segment is captured before the first. "
               "Then both responses.", [],
               tshark_note="tshark 4.0 does not reorder TCP segments by default (tcp.reassemble_out_of_order is "
               "off): the late first segment is flagged Out-Of-Order and not dissected.",
               tshark_adjust={"pdus": {3: -1}})
    s1 = f.c2s(mbap(1, 1, fc3_req(0, 2)), write=False)
    s2 = f.c2s(mbap(2, 1, fc3_req(10, 2)), write=False)
    w.add(s2)
    w.add(s1)
    c.adu("request", 1, 1, 3)
    c.adu("request", 2, 1, 3)
    rsp(c, f, 1, 1, fc3_rsp(2)); rsp(c, f, 2, 1, fc3_rsp(2, 10))
    f.close()

    # 21. Retransmission.
    c, f = new("retransmission", "FC3 request segment sent twice (identical retransmission 200 ms later), one "
               "response.", [])
    s1 = f.c2s(mbap(1, 1, fc3_req(0, 3)))
    w.add(s1.copy(), dt=0.2)
    c.adu("request", 1, 1, 3)
    rsp(c, f, 1, 1, fc3_rsp(3))
    f.close()

    # 22. Lost segment: gap in the middle of an ADU, then more ADUs (resync needed).
    c, f = new("gap_resync", "Five FC3 requests (tid 1..5); the segment with ADU 2 and the first 5 bytes of ADU 3 "
               "is missing from the capture, so the next segment starts mid-ADU (rest of ADU 3 + ADU 4), then ADU 5. "
               "The server's five responses are all captured.", ["modbus_stream_resync"],
               tshark_note="After the gap Wireshark's reassembly does not realign inside the segment holding "
               "the rest of ADU 3 + ADU 4; ADU 4 is not dissected by tshark.",
               tshark_adjust={"pdus": {3: -1}})
    stream = [mbap(t, 1, fc3_req(t * 10, 2)) for t in range(1, 6)]
    f.c2s(stream[0]); c.adu("request", 1, 1, 3)
    f.c2s(stream[1] + stream[2][:5], write=False)  # lost
    f.c2s(stream[2][5:] + stream[3]); c.adu("request", 4, 1, 3)
    f.c2s(stream[4]); c.adu("request", 5, 1, 3)
    for t in range(1, 6):
        rsp(c, f, t, 1, fc3_rsp(2, t * 10))
    f.close()

    # 23. User-defined / vendor function codes with responses.
    c, f = new("user_defined_function_codes", "Vendor / user-defined function codes with normal responses: "
               "0x5A (Schneider UMAS: read id), 0x41 (65) and 0x64 (100).", [])
    req(c, f, 1, 0xFF, b"\x5a\x00\x02"); rsp(c, f, 1, 0xFF, b"\x5a\x00\xfe\x01\x02\x03\x04")
    req(c, f, 2, 1, b"\x41\x01\x02\x03"); rsp(c, f, 2, 1, b"\x41\x01\x02\x03\x04")
    req(c, f, 3, 1, b"\x64\x10\x00"); rsp(c, f, 3, 1, b"\x64\x10\x00\xaa\xbb")
    f.close()

    # 24. FC8 diagnostics: restart communications, clear counters, force listen only.
    c, f = new("diagnostics_fc8", "FC8 restart communications (sub 1) and clear counters (sub 10), both answered "
               "(echo), then force listen only mode (sub 4), which is never answered.", [])
    req(c, f, 1, 1, b"\x08\x00\x01\x00\x00"); rsp(c, f, 1, 1, b"\x08\x00\x01\x00\x00")
    req(c, f, 2, 1, b"\x08\x00\x0a\x00\x00"); rsp(c, f, 2, 1, b"\x08\x00\x0a\x00\x00")
    req(c, f, 3, 1, b"\x08\x00\x04\x00\x00")
    f.ack_from_server()
    f.close()

    # 25. Broadcast write (unit 0): no response by design.
    c, f = new("broadcast_write", "FC6 write single register to unit 0 (broadcast); no response.", [])
    req(c, f, 1, 0, struct.pack(">BHH", 6, 1, 500))
    f.ack_from_server()
    f.close()

    # 26. Read device identification with "more follows" over two transactions.
    c, f = new("device_id_more_follows", "FC43/14 read code 1: first response carries objects 0 and 1 with more "
               "follows = 0xFF, next object id 2; a second request (object id 2) gets object 2 with more "
               "follows = 0. VendorName 'Crafted Vendor AG', ProductCode 'CV-9000', Revision 'V1.0.7'.", [])
    def obj(i, s):
        return bytes([i, len(s)]) + s.encode()
    req(c, f, 1, 1, b"\x2b\x0e\x01\x00")
    rsp(c, f, 1, 1, b"\x2b\x0e\x01\x01\xff\x02\x02" + obj(0, "Crafted Vendor AG") + obj(1, "CV-9000"))
    req(c, f, 2, 1, b"\x2b\x0e\x01\x02")
    rsp(c, f, 2, 1, b"\x2b\x0e\x01\x01\x00\x00\x01" + obj(2, "V1.0.7"))
    f.close()

    # 27-28. VLAN tags.
    c, f = new("vlan_8021q", "FC3 request/response in an 802.1Q frame (VLAN 10).", [], l2=[Dot1Q(vlan=10)])
    req(c, f, 1, 3, fc3_req(0, 2)); rsp(c, f, 1, 3, fc3_rsp(2))
    f.close()
    c, f = new("qinq_8021ad", "FC3 request/response with QinQ: outer 802.1ad S-tag VLAN 100, inner 802.1Q VLAN 20.",
               [], l2=[Dot1AD(vlan=100), Dot1Q(vlan=20)])
    req(c, f, 1, 4, fc3_req(0, 2)); rsp(c, f, 1, 4, fc3_rsp(2))
    f.close()

    # 29. IPv6.
    c, f = new("ipv6", "FC4 request/response over IPv6 (fd00:20::/fd00:168:: ULA addresses).", [], ipv6=True)
    req(c, f, 1, 1, struct.pack(">BHH", 4, 0, 3)); rsp(c, f, 1, 1, struct.pack(">BB", 4, 6) + regs(3, 7))
    f.close()

    # 30. IPv4 fragments.
    c, f = new("ipv4_fragmented", "FC16 request (20 registers) whose IPv4 packet is split into 24-byte fragments; "
               "normal response.", [])
    frm = f.c2s(mbap(1, 1, struct.pack(">BHHB", 16, 0, 20, 40) + regs(20, 900)), write=False)
    ip = IP(raw(frm[IP]))
    ip.flags = 0
    ip = IP(raw(ip))
    ip.chksum = None
    for frag in fragment(ip, fragsize=24):
        w.add(Ether(src=f.cmac, dst=f.smac) / frag)
    c.adu("request", 1, 1, 16)
    rsp(c, f, 1, 1, struct.pack(">BHH", 16, 0, 20))
    f.close()

    return cases


def summarize(cases):
    pdus = collections.Counter()
    reqs = collections.Counter()
    rsps = collections.Counter()
    exc = collections.Counter()
    adj_p = collections.Counter()
    adj_e = collections.Counter()
    out_cases = []
    for i, c in enumerate(cases):
        for a in c.adus:
            if a["function_code"] is None:
                continue
            fc = a["function_code"] & 0x7F
            pdus[fc] += 1
            (reqs if a["direction"] == "request" else rsps)[fc] += 1
            if a["exception_code"] is not None:
                exc[a["exception_code"]] += 1
        for k, v in c.tshark_adjust.get("pdus", {}).items():
            adj_p[k] += v
        for k, v in c.tshark_adjust.get("exceptions", {}).items():
            adj_e[k] += v
        fl = c.flow
        out_cases.append({
            "case": c.name,
            "index": i,
            "description": c.description,
            "expected_anomalies": c.anomalies,
            "client": f"{fl.cip}:{fl.cport}" if not fl.ipv6 else f"[{fl.cip}]:{fl.cport}",
            "server": f"{fl.sip}:{fl.sport}" if not fl.ipv6 else f"[{fl.sip}]:{fl.sport}",
            "start_time": BASE_TIME + i,
            "adus": c.adus,
            **({"tshark_note": c.tshark_note} if c.tshark_note else {}),
            **({"tshark_adjust": {k: {str(x): y for x, y in v.items()} for k, v in c.tshark_adjust.items()}}
               if c.tshark_adjust else {}),
        })

    def s(cnt):
        return {str(k): v for k, v in sorted(cnt.items())}
    return {
        "source": "scapy-crafted (written to file, never sent); one TCP flow per case",
        "server_port": 502,
        "requests_by_function_code": s(reqs),
        "responses_by_function_code": s(rsps),
        "pdus_by_function_code": s(pdus),
        "exceptions_by_code": s(exc),
        "requests": sum(reqs.values()),
        "responses": sum(rsps.values()),
        "tshark_adjust": {"pdus": s(adj_p), "exceptions": s(adj_e),
                          "note": "add these to the generator's counts to get what tshark 4.0 reports; "
                                  "reasons per case in cases[].tshark_note"},
        "cases": out_cases,
    }


def main():
    out, truth = sys.argv[1], sys.argv[2]
    w = Writer()
    cases = build(w)
    wrpcap(out, w.frames, linktype=1)
    with open(truth, "w", encoding="utf-8") as fh:
        json.dump(summarize(cases), fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
