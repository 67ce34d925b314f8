#!/usr/bin/python3
"""Crafted attack and baseline captures for the detection tests (scapy; written to files, never sent).

Usage: /usr/bin/python3 captures/attacks/gen_attacks.py [OUTDIR]   (default: the folder of this script)

Every file is byte-for-byte reproducible (fixed timestamps, ports, sequence numbers). Addresses are private
(10.60-10.80.x.x); nothing is ever put on a network. See README.md beside this script for what each file holds.
"""
import os
import struct
import sys

from scapy.all import Ether, IP, TCP, UDP, Raw, wrpcap  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
T_ATTACK = 1_717_200_000.0  # 2024-06-01T00:00:00Z


def mac(ip):
    a = [int(x) for x in ip.split(".")]
    return "02:00:%02x:%02x:%02x:%02x" % tuple(a)


class Capture:
    def __init__(self, t0):
        self.frames = []
        self.t = t0

    def add(self, frame, at=None):
        if at is not None:
            self.t = max(self.t, at)
        frame.time = round(self.t, 6)
        self.frames.append(frame)
        self.t += 0.0005

    def write(self, name):
        self.frames.sort(key=lambda f: float(f.time))
        wrpcap(os.path.join(OUT, name), self.frames)
        print(name, len(self.frames))


class Tcp:
    """One TCP connection with correct sequence numbers."""

    def __init__(self, cap, cip, sip, cport, sport, isn=1000):
        self.cap, self.cip, self.sip, self.cport, self.sport = cap, cip, sip, cport, sport
        self.cseq, self.sseq = isn, isn * 7 + 11

    def _f(self, c2s, flags, payload=b""):
        if c2s:
            e = Ether(src=mac(self.cip), dst=mac(self.sip)) / IP(src=self.cip, dst=self.sip, ttl=64)
            t = TCP(sport=self.cport, dport=self.sport, flags=flags, seq=self.cseq, ack=self.sseq if "A" in flags else 0, window=64240)
        else:
            e = Ether(src=mac(self.sip), dst=mac(self.cip)) / IP(src=self.sip, dst=self.cip, ttl=64)
            t = TCP(sport=self.sport, dport=self.cport, flags=flags, seq=self.sseq, ack=self.cseq, window=64240)
        f = e / t
        if payload:
            f = f / Raw(payload)
        return f

    def open(self, at=None):
        self.cap.add(self._f(True, "S"), at)
        self.cseq += 1
        self.cap.add(self._f(False, "SA"))
        self.sseq += 1
        self.cap.add(self._f(True, "A"))
        return self

    def c2s(self, data, at=None, mss=1400):
        first = True
        for i in range(0, len(data), mss):
            chunk = data[i:i + mss]
            self.cap.add(self._f(True, "PA", chunk), at if first else None)
            first = False
            self.cseq += len(chunk)

    def s2c(self, data, at=None, mss=1400):
        first = True
        for i in range(0, len(data), mss):
            chunk = data[i:i + mss]
            self.cap.add(self._f(False, "PA", chunk), at if first else None)
            first = False
            self.sseq += len(chunk)

    def close(self, at=None):
        self.cap.add(self._f(True, "FA"), at)
        self.cseq += 1
        self.cap.add(self._f(False, "FA"))
        self.sseq += 1
        self.cap.add(self._f(True, "A"))


def udp(cap, src, dst, sport, dport, payload, at=None):
    cap.add(Ether(src=mac(src), dst=mac(dst)) / IP(src=src, dst=dst, ttl=64) / UDP(sport=sport, dport=dport) / Raw(payload), at)


# ---------------------------------------------------------------- Modbus helpers

def mbap(tid, unit, pdu):
    return struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu


class Modbus:
    def __init__(self, tcp):
        self.tcp, self.tid = tcp, 0

    def tx(self, unit, pdu, resp, at=None, dt=0.002):
        self.tid = (self.tid + 1) & 0xFFFF
        self.tcp.c2s(mbap(self.tid, unit, pdu), at)
        if resp is not None:
            self.tcp.s2c(mbap(self.tid, unit, resp), self.tcp.cap.t + dt)


def fc3(addr, qty):
    return struct.pack(">BHH", 3, addr, qty)


def fc3_rsp(values):
    return struct.pack(">BB", 3, 2 * len(values)) + b"".join(struct.pack(">H", v) for v in values)


def fc4(addr, qty):
    return struct.pack(">BHH", 4, addr, qty)


def fc4_rsp(values):
    return struct.pack(">BB", 4, 2 * len(values)) + b"".join(struct.pack(">H", v) for v in values)


def fc6(addr, value):
    return struct.pack(">BHH", 6, addr, value)


def fc16(addr, values):
    return struct.pack(">BHHB", 16, addr, len(values), 2 * len(values)) + b"".join(struct.pack(">H", v) for v in values)


def exc(fc, code):
    return bytes([fc | 0x80, code])


# ---------------------------------------------------------------- MQTT helpers

def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def ustr(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def mqtt(ptype, flags, body):
    return bytes([(ptype << 4) | flags]) + varint(len(body)) + body


def connect(cid, user=None, password=None):
    flags = 0x02 | (0x80 if user is not None else 0) | (0x40 if password is not None else 0)
    body = ustr("MQTT") + bytes([4, flags]) + struct.pack(">H", 60) + ustr(cid)
    if user is not None:
        body += ustr(user)
    if password is not None:
        body += ustr(password)
    return mqtt(1, 0, body)


def connack(code):
    return mqtt(2, 0, bytes([0, code]))


def publish(topic, payload):
    return mqtt(3, 0, ustr(topic) + payload)


def subscribe(pid, filt):
    return mqtt(8, 2, struct.pack(">H", pid) + ustr(filt) + b"\x00")


def suback(pid):
    return mqtt(9, 0, struct.pack(">H", pid) + b"\x00")


def disconnect():
    return mqtt(14, 0, b"")


# ---------------------------------------------------------------- CoAP helpers

def coap(typ, code, mid, token, opts=(), payload=b""):
    out = bytes([0x40 | (typ << 4) | len(token), code]) + struct.pack(">H", mid) + token
    last = 0
    for num, val in opts:
        delta, ln = num - last, len(val)
        last = num

        def nib(v):
            if v < 13:
                return v, b""
            if v < 269:
                return 13, bytes([v - 13])
            return 14, struct.pack(">H", v - 269)
        dn, dx = nib(delta)
        ln_n, lx = nib(ln)
        out += bytes([(dn << 4) | ln_n]) + dx + lx + val
    if payload:
        out += b"\xff" + payload
    return out


def uri(*segs):
    return [(11, s.encode()) for s in segs]


# ---------------------------------------------------------------- attack captures

def modbus_fc_scan():
    cap = Capture(T_ATTACK)
    t = Tcp(cap, "10.60.0.66", "10.60.0.20", 51000, 502).open()
    m = Modbus(t)
    supported = {1: b"\x01\x01\x00", 2: b"\x02\x01\x00", 3: fc3_rsp([0]), 4: fc4_rsp([0])}
    for fc in range(1, 41):
        pdu = bytes([fc]) + b"\x00\x00\x00\x01"
        m.tx(1, pdu, supported.get(fc, exc(fc, 1)), at=T_ATTACK + 0.05 * fc)
    t.close()
    cap.write("modbus_fc_scan.pcap")


def modbus_points_scan():
    cap = Capture(T_ATTACK)
    t = Tcp(cap, "10.60.0.67", "10.60.0.20", 51001, 502).open()
    m = Modbus(t)
    for i, addr in enumerate(range(0, 4000, 100)):
        resp = fc3_rsp([addr & 0xFF] * 10) if addr < 200 else exc(3, 2)
        m.tx(1, fc3(addr, 10), resp, at=T_ATTACK + 0.05 * i)
    t.close()
    cap.write("modbus_points_scan.pcap")


def modbus_unit_id_scan():
    cap = Capture(T_ATTACK)
    t = Tcp(cap, "10.60.0.68", "10.60.0.21", 51002, 502).open()
    m = Modbus(t)
    for unit in range(1, 21):
        m.tx(unit, fc3(0, 1), fc3_rsp([1]) if unit == 1 else exc(3, 11), at=T_ATTACK + 0.05 * unit)
    t.close()
    cap.write("modbus_unit_id_scan.pcap")


def modbus_exception_burst():
    cap = Capture(T_ATTACK)
    t = Tcp(cap, "10.60.0.69", "10.60.0.22", 51003, 502).open()
    m = Modbus(t)
    for i in range(15):
        m.tx(1, fc3(0, 10), exc(3, 6 if i % 3 else 5), at=T_ATTACK + 0.1 * i)
    t.close()
    cap.write("modbus_exception_burst.pcap")


def modbus_request_flood():
    cap = Capture(T_ATTACK)
    t = Tcp(cap, "10.60.0.70", "10.60.0.23", 51004, 502).open()
    m = Modbus(t)
    for i in range(300):
        m.tx(1, fc3(0, 2), fc3_rsp([i & 0xFF, 7]), at=T_ATTACK + 0.002 * i, dt=0.0003)
    t.close()
    cap.write("modbus_request_flood.pcap")


def modbus_program_download():
    cap = Capture(T_ATTACK)
    t = Tcp(cap, "10.60.0.71", "10.60.0.24", 51005, 502).open()
    m = Modbus(t)
    # Schneider UMAS (FC 90): reserve, initialize download, download blocks, end download, start PLC.
    m.tx(1, bytes([0x5A, 0x00, 0x10]) + b"\x00\x0cENGINEERING", bytes([0x5A, 0x00, 0xFE, 0x42]), at=T_ATTACK + 0.1)
    m.tx(1, bytes([0x5A, 0x42, 0x30, 0x01, 0x00]), bytes([0x5A, 0x42, 0xFE]), at=T_ATTACK + 0.2)
    for blk in range(3):
        m.tx(1, bytes([0x5A, 0x42, 0x31, 0x01, blk, 0x00, 0x40]) + bytes(range(64)), bytes([0x5A, 0x42, 0xFE]), at=T_ATTACK + 0.3 + 0.1 * blk)
    m.tx(1, bytes([0x5A, 0x42, 0x32, 0x01, 0x00]), bytes([0x5A, 0x42, 0xFE]), at=T_ATTACK + 0.7)
    m.tx(1, bytes([0x5A, 0x42, 0x40, 0xFF, 0x00]), bytes([0x5A, 0x42, 0xFE]), at=T_ATTACK + 0.8)
    t.close()
    # FC 21 write file record (program transfer to a file) from another workstation.
    t2 = Tcp(cap, "10.60.0.72", "10.60.0.24", 51006, 502).open(at=T_ATTACK + 1.0)
    m2 = Modbus(t2)
    rec = bytes([6]) + struct.pack(">HHH", 4, 1, 3) + struct.pack(">HHH", 0x1111, 0x2222, 0x3333)
    pdu = bytes([21, len(rec)]) + rec
    m2.tx(1, pdu, pdu, at=T_ATTACK + 1.1)
    t2.close()
    cap.write("modbus_program_download.pcap")


def mqtt_bruteforce():
    cap = Capture(T_ATTACK)
    for i in range(8):
        t = Tcp(cap, "10.60.0.80", "10.60.0.90", 52000 + i, 1883, isn=3000 + i).open(at=T_ATTACK + 0.5 * i)
        t.c2s(connect("probe", user="admin", password="guess%d" % i))
        t.s2c(connack(5))
        t.close()
    cap.write("mqtt_bruteforce.pcap")


def mqtt_policy():
    cap = Capture(T_ATTACK)
    t = Tcp(cap, "10.60.0.81", "10.60.0.91", 52100, 1883).open()
    t.c2s(connect("spy"))
    t.s2c(connack(0))
    t.c2s(subscribe(1, "#"), at=T_ATTACK + 0.5)
    t.s2c(suback(1))
    t.c2s(subscribe(2, "$SYS/#"), at=T_ATTACK + 1.0)
    t.s2c(suback(2))
    t.c2s(publish("plant/dump", bytes(i & 0xFF for i in range(70000))), at=T_ATTACK + 1.5)
    t.c2s(disconnect(), at=T_ATTACK + 2.0)
    t.close()
    cap.write("mqtt_policy.pcap")


def coap_amplification():
    cap = Capture(T_ATTACK)
    victim, reflector = "10.70.0.5", "10.70.0.9"
    link = b",".join(b"</sensors/s%03d>;rt=\"temperature\";if=\"sensor\"" % i for i in range(24))[:1000]
    for i in range(12):
        tok = bytes([0xA0, i])
        udp(cap, victim, reflector, 40000, 5683, coap(1, 1, 0x2000 + i, tok, uri(".well-known", "core")), at=T_ATTACK + 0.05 * i)
        udp(cap, reflector, victim, 5683, 40000, coap(1, 0x45, 0x5000 + i, tok, [(12, b"\x28")], link))
    cap.write("coap_amplification.pcap")


def coap_reflection():
    """Responses to a host that never asked (the requests were spoofed elsewhere)."""
    cap = Capture(T_ATTACK)
    payload = b"x" * 600
    for i in range(12):
        udp(cap, "10.70.0.19", "10.70.0.15", 5683, 40001, coap(1, 0x45, 0x6000 + i, bytes([0xB0, i]), [(12, b"\x00")], payload), at=T_ATTACK + 0.05 * i)
    cap.write("coap_reflection.pcap")


def port_scan():
    cap = Capture(T_ATTACK)
    scanner = "10.60.0.99"
    ports = [102, 502, 2404, 4840, 20000, 44818, 47808, 1883, 5007, 9600]
    n = 0
    for host in ("10.60.0.20", "10.60.0.21"):
        for p in ports:
            syn = Ether(src=mac(scanner), dst=mac(host)) / IP(src=scanner, dst=host) / TCP(sport=60000 + n, dport=p, flags="S", seq=77 + n)
            cap.add(syn, T_ATTACK + 0.01 * n)
            rst = Ether(src=mac(host), dst=mac(scanner)) / IP(src=host, dst=scanner) / TCP(sport=p, dport=60000 + n, flags="RA", seq=0, ack=78 + n)
            cap.add(rst)
            n += 1
    cap.write("port_scan.pcap")


# ---------------------------------------------------------------- the plant: normal, later, attack

HMI, PLC, EWS, GW, BROKER, SENSOR, COAPSRV = "10.80.0.10", "10.80.0.20", "10.80.0.30", "10.80.0.40", "10.80.0.50", "10.80.0.60", "10.80.0.70"


def plant(t0, seconds, port_base, attack=False):
    cap = Capture(t0)
    hmi = Modbus(Tcp(cap, HMI, PLC, port_base, 502, isn=port_base).open(at=t0))
    ews = Modbus(Tcp(cap, EWS, PLC, port_base + 1, 502, isn=port_base + 1).open(at=t0 + 0.1))
    gw = Tcp(cap, GW, BROKER, port_base + 2, 1883, isn=port_base + 2).open(at=t0 + 0.2)
    gw.c2s(connect("gw-1", user="gw", password="s3cret"))
    gw.s2c(connack(0))
    mid = 0x100
    cycle0 = int(t0) % 1000
    events = []
    for s in range(seconds):
        events.append((t0 + 1 + s, "poll", s))
        if s % 10 == 0:
            events.append((t0 + 1.3 + s, "write", s // 10))
        if s % 5 == 0:
            events.append((t0 + 1.5 + s, "ews", s))
        if s % 2 == 0:
            events.append((t0 + 1.7 + s, "mqtt", s))
        if s % 3 == 0:
            events.append((t0 + 1.9 + s, "coap", s))
    if attack:
        a = t0 + 30
        events += [(a + 0.25, "rogue_write", 0), (a + 20.25, "write_new_addr", 0),
                   (a + 30.25, "hmi_devid", 0), (a + 40.0, "bad_value", 0), (a + 50.25, "ews_coap", 0),
                   (a + 60.25, "hmi_coap", 0), (a + 70.25, "mqtt_new_client", 0), (a + 71.25, "mqtt_new_topic", 0),
                   (a + 80.25, "coap_new_resource", 0)]
        events += [(a + 5.6 + 0.2 * k, "ews_fast", k) for k in range(4)]
    events.sort(key=lambda e: e[0])
    bad_cycle = None
    for at, kind, k in events:
        if kind == "poll":
            values = [100 + ((cycle0 + k) * 7 + i * 13) % 101 for i in range(10)]
            if k < 2:
                values = [100 + 100 * ((k + i) % 2) for i in range(10)]  # the extremes, early
            if bad_cycle is not None and bad_cycle == k:
                values[3] = 5000
            hmi.tx(1, fc3(0, 10), fc3_rsp(values), at=at)
        elif kind == "bad_value":
            bad_cycle = int(at - t0 - 1) + 1
        elif kind == "write":
            v = 10 + k % 11
            if attack and k == 4:
                v = 999  # out of the learned range, at the regular time
            hmi.tx(1, fc6(50, v), fc6(50, v), at=at)
        elif kind in ("ews", "ews_fast"):
            ews.tx(1, fc4(100, 4), fc4_rsp([1, 2, 3, 4]), at=at)
        elif kind == "mqtt":
            gw.c2s(publish("plant/line1/temp" if k % 4 == 0 else "plant/line1/pressure", b"%d" % (20 + k % 5)), at=at)
        elif kind == "coap":
            mid += 1
            tok = struct.pack(">H", mid)
            udp(cap, SENSOR, COAPSRV, port_base + 3, 5683, coap(0, 1, mid, tok, uri("sensors", "temp")), at=at)
            udp(cap, COAPSRV, SENSOR, 5683, port_base + 3, coap(2, 0x45, mid, tok, [(12, b"")], b"21.5"))
        elif kind == "rogue_write":
            r = Modbus(Tcp(cap, "10.80.0.66", PLC, port_base + 9, 502, isn=9).open(at=at))
            r.tx(1, fc16(50, [15, 15]), struct.pack(">BHH", 16, 50, 2))
            r.tcp.close()
        elif kind == "write_new_addr":
            hmi.tx(1, fc6(60, 15), fc6(60, 15), at=at)
        elif kind == "hmi_devid":
            hmi.tx(1, b"\x2b\x0e\x01\x00", b"\x2b\x0e\x01\x01\x00\x00\x01\x00\x04ACME", at=at)
        elif kind == "ews_coap":
            udp(cap, EWS, COAPSRV, port_base + 4, 5683, coap(0, 1, 0x999, b"\x09", uri("sensors", "temp")), at=at)
            udp(cap, COAPSRV, EWS, 5683, port_base + 4, coap(2, 0x45, 0x999, b"\x09", [(12, b"")], b"21.5"))
        elif kind == "hmi_coap":
            udp(cap, HMI, PLC, port_base + 5, 5683, coap(0, 1, 0x99A, b"\x0a", uri("status")), at=at)
            udp(cap, PLC, HMI, 5683, port_base + 5, coap(2, 0x45, 0x99A, b"\x0a", [(12, b"")], b"ok"))
        elif kind == "mqtt_new_client":
            t = Tcp(cap, GW, BROKER, port_base + 6, 1883, isn=66).open(at=at)
            t.c2s(connect("gw-2", user="gw", password="s3cret"))
            t.s2c(connack(0))
            t.c2s(disconnect())
            t.close()
        elif kind == "mqtt_new_topic":
            gw.c2s(publish("plant/line1/setpoint", b"99"), at=at)
        elif kind == "coap_new_resource":
            udp(cap, SENSOR, COAPSRV, port_base + 3, 5683, coap(0, 1, 0x77, b"\x77", uri("sensors", "pressure")), at=at)
            udp(cap, COAPSRV, SENSOR, 5683, port_base + 3, coap(2, 0x45, 0x77, b"\x77", [(12, b"")], b"1.2"))
    end = t0 + seconds + 2
    hmi.tcp.close(at=end)
    ews.tcp.close(at=end + 0.1)
    gw.c2s(disconnect(), at=end + 0.2)
    gw.close()
    return cap


def main():
    os.makedirs(OUT, exist_ok=True)
    modbus_fc_scan()
    modbus_points_scan()
    modbus_unit_id_scan()
    modbus_exception_burst()
    modbus_request_flood()
    modbus_program_download()
    mqtt_bruteforce()
    mqtt_policy()
    coap_amplification()
    coap_reflection()
    port_scan()
    t_normal = 1_717_000_000.0  # 2024-05-29T16:26:40Z
    plant(t_normal, 120, 41000).write("plant_normal.pcap")
    plant(t_normal + 3600, 120, 42000).write("plant_later.pcap")
    plant(t_normal + 7200, 120, 43000, attack=True).write("plant_attack.pcap")


if __name__ == "__main__":
    main()
