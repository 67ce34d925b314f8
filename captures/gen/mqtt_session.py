#!/usr/bin/python3
"""Capture real MQTT sessions: a mosquitto broker and mosquitto_pub / mosquitto_sub clients on loopback.

Usage: mqtt_session.py --part main|auth --pcap OUT.pcap --truth OUT.json

Starts our own mosquitto (temporary config, never the system service) with two listeners:
127.0.0.1:1883 (anonymous) and 127.0.0.1:1884 (username/password from a password file made with
mosquitto_passwd -b). dumpcap captures one listener ("main": tcp port 1883, "auth": tcp port 1884)
while the clients run. Every client runs with -d: its own log of each MQTT packet it sent and
received is the ground truth (each packet on the wire is sent or received by exactly one client,
the broker being the other peer). Two CONNECTs are sent by a plain socket (a CONNECT the broker
must refuse), recorded byte for byte. Traffic goes to 127.0.0.1 only.
"""
import argparse
import collections
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from livecap import start_capture, stop, stop_capture  # noqa: E402

MAIN_PORT, AUTH_PORT = 1883, 1884
USER, PASSWORD = "operator", "S3cret-pass"
VERSIONS = {"mqttv31": "3.1", "mqttv311": "3.1.1", "mqttv5": "5.0"}
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP",
                8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
                14: "DISCONNECT", 15: "AUTH"}
LOG_RE = re.compile(r"^Client (\S+) (sending|received) ([A-Z]+)(?: \((.*)\))?\s*$")


class Truth:
    def __init__(self, port):
        self.port = port
        self.by_type = collections.Counter()
        self.versions = collections.Counter()
        self.connack = collections.Counter()
        self.client_ids = []
        self.published = collections.Counter()   # topic -> PUBLISH messages (either direction)
        self.subscribed = []
        self.unsubscribed = []
        self.clients = []

    def add_client(self, tool, client_id, version, sent, received, note):
        self.clients.append({"tool": tool, "client_id": client_id, "version": version, "sent": dict(sent),
                             "received": dict(received), "note": note})
        if client_id not in self.client_ids:
            self.client_ids.append(client_id)

    def to_json(self, part):
        def s(c):
            return {str(k): v for k, v in sorted(c.items(), key=lambda kv: str(kv[0]))}
        return {
            "source": "mosquitto 2.0 broker with mosquitto_pub / mosquitto_sub (real peers) on 127.0.0.1, "
                      "captured with dumpcap -i lo; counts from the clients' own -d logs",
            "protocol": "mqtt",
            "part": part,
            "server_port": self.port,
            "messages": sum(self.by_type.values()),
            "messages_by_type": s(self.by_type),
            "connect_versions": s(self.versions),
            "connack_codes": s(self.connack),
            "client_ids": self.client_ids,
            "topics_published": s(self.published),
            "topics_subscribed": sorted(set(self.subscribed)),
            "topics_unsubscribed": sorted(set(self.unsubscribed)),
            "clients": self.clients,
        }


def run_client(truth, tool, args, version, client_id, note, kill_after=None, wait=None):
    """Run mosquitto_pub/sub with -d and fold its log into the ground truth."""
    cmd = ["stdbuf", "-oL", "-eL", tool, "-d", "-h", "127.0.0.1", "-V", version, "-i", client_id] + args
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if wait is not None:
        return proc, (truth, tool, version, client_id, note)
    if kill_after is not None:
        time.sleep(kill_after)
        proc.kill()  # ungraceful: no DISCONNECT, the broker publishes the will
    out, _ = proc.communicate(timeout=60)
    fold(truth, tool, version, client_id, note, out.decode(errors="replace"))
    return None, None


def finish(proc, ctx):
    out, _ = proc.communicate(timeout=60)
    fold(*ctx[:4], ctx[4], out.decode(errors="replace"))


def fold(truth, tool, version, client_id, note, log):
    sent, received = collections.Counter(), collections.Counter()
    last_sub_mid = None
    last_unsub_mid = None
    for line in log.splitlines():
        m = LOG_RE.match(line)
        if not m:
            continue
        _, direction, ptype, detail = m.groups()
        detail = detail or ""
        if direction == "sending" and ptype in ("SUBSCRIBE", "UNSUBSCRIBE"):
            mid = re.search(r"Mid: (\d+)", detail).group(1)
            topic = re.search(r"Topic: (.*?)(?:, QoS:|$)", detail).group(1)
            (truth.subscribed if ptype == "SUBSCRIBE" else truth.unsubscribed).append(topic)
            # mosquitto logs one line per topic filter; one packet per message id.
            if ptype == "SUBSCRIBE":
                if mid == last_sub_mid:
                    continue
                last_sub_mid = mid
            else:
                if mid == last_unsub_mid:
                    continue
                last_unsub_mid = mid
        if ptype == "PUBLISH":
            truth.published[re.search(r"'(.*)', \.\.\.", detail).group(1)] += 1
        if ptype == "CONNECT":
            truth.versions[VERSIONS[version]] += 1
        if ptype == "CONNACK" and direction == "received":
            truth.connack[int(detail)] += 1
        (sent if direction == "sending" else received)[ptype] += 1
        truth.by_type[ptype] += 1
    if not sent:
        raise SystemExit(f"{tool} {client_id}: no MQTT packet in its log:\n{log}")
    truth.add_client(tool, client_id, VERSIONS[version], sent, received, note)


def utf8(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def raw_connect(truth, port, client_id, level, flags, note, keepalive=30):
    """Plain-socket CONNECT (protocol name 'MQTT', given level and flags); records the CONNACK."""
    var = utf8("MQTT") + bytes([level, flags]) + struct.pack(">H", keepalive) + utf8(client_id)
    pkt = bytes([0x10, len(var)]) + var
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(pkt)
        data = b""
        try:
            while len(data) < 4:
                chunk = s.recv(64)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
    if len(data) < 4 or data[0] != 0x20:
        raise SystemExit(f"raw CONNECT {note}: unexpected reply {data!r}")
    code = data[3]
    truth.by_type["CONNECT"] += 1
    truth.by_type["CONNACK"] += 1
    truth.versions[{3: "3.1", 4: "3.1.1", 5: "5.0"}.get(level, f"level {level}")] += 1
    truth.connack[code] += 1
    truth.add_client("python socket", client_id, f"level {level}", {"CONNECT": 1}, {"CONNACK": 1},
                     note + f" (CONNACK return code {code})")


def session_main(t):
    pub, sub = "mosquitto_pub", "mosquitto_sub"
    # Long-lived v5 subscriber: several filters incl. wildcards, QoS 2, short keep-alive (pings).
    p_sub, ctx = run_client(t, sub, ["-q", "2", "-k", "5", "-W", "11", "-t", "plant/+/temp", "-t", "plant/#",
                                     "-t", "alarms/+/high", "-t", "plant/status/+"],
                            "mqttv5", "scada-sub-v5", "subscriber: 4 filters (+, #), QoS 2, keep-alive 5 s", wait=True)
    time.sleep(0.5)
    # $SYS/# (v3.1.1): retained broker statistics, then a 1 s timeout and a clean DISCONNECT.
    run_client(t, sub, ["-t", "$SYS/broker/version", "-t", "$SYS/#", "-W", "1"], "mqttv311", "sys-monitor",
               "$SYS/# subscriber")
    run_client(t, pub, ["-q", "0", "-t", "plant/line1/temp", "-m", "21.5"], "mqttv31", "sensor-v31",
               "v3.1 PUBLISH QoS 0")
    run_client(t, pub, ["-q", "1", "-r", "-t", "plant/line1/pressure", "-m", "1.013"], "mqttv311", "sensor-v311",
               "v3.1.1 PUBLISH QoS 1 retained")
    run_client(t, pub, ["-q", "2", "-t", "alarms/pump3/high", "-m", "level=97%"], "mqttv311", "alarm-gw",
               "v3.1.1 PUBLISH QoS 2")
    run_client(t, pub, ["-q", "1", "-t", "plant/line2/temp", "-m", '{"t":19.75,"u":"C"}',
                        "-D", "publish", "user-property", "site", "north",
                        "-D", "publish", "content-type", "application/json",
                        "-D", "publish", "message-expiry-interval", "120",
                        "-D", "publish", "topic-alias", "7",
                        "-D", "publish", "payload-format-indicator", "1"],
               "mqttv5", "sensor-v5", "v5 PUBLISH QoS 1 with properties (user property, content type, expiry, topic alias)")
    run_client(t, pub, ["-q", "2", "-r", "-t", "plant/line2/setpoint", "-m", "20.0",
                        "-D", "connect", "session-expiry-interval", "30"],
               "mqttv5", "hmi-v5", "v5 PUBLISH QoS 2 retained, CONNECT with session expiry")
    # Subscribe + unsubscribe in one session (v3.1 and v5).
    run_client(t, sub, ["-t", "plant/line1/#", "-t", "alarms/#", "-U", "alarms/#", "-W", "1"], "mqttv31",
               "historian-v31", "v3.1 SUBSCRIBE 2 filters (retained delivered), UNSUBSCRIBE 1")
    run_client(t, sub, ["-q", "1", "-t", "plant/+/setpoint", "-U", "plant/+/setpoint", "-W", "1"], "mqttv5",
               "hmi-sub-v5", "v5 SUBSCRIBE QoS 1 (retained delivered), UNSUBSCRIBE")
    # Will message: connect with a will, then die without DISCONNECT.
    run_client(t, sub, ["-k", "5", "--will-topic", "plant/status/rtu7", "--will-payload", "offline",
                        "--will-qos", "1", "--will-retain", "-t", "cmd/rtu7"], "mqttv311", "rtu7",
               "CONNECT with a will (QoS 1, retained); killed without DISCONNECT: the broker publishes the will",
               kill_after=1.0)
    time.sleep(0.5)
    # CONNACK refusals from the broker: unsupported protocol level, empty client id with clean session 0.
    raw_connect(t, MAIN_PORT, "bad-level", 6, 0x02, "CONNECT with protocol level 6 (unsupported)")
    raw_connect(t, MAIN_PORT, "", 4, 0x00, "v3.1.1 CONNECT with an empty client id and clean session 0")
    finish(p_sub, ctx)


def session_auth(t):
    pub, sub = "mosquitto_pub", "mosquitto_sub"
    a = ["-p", str(AUTH_PORT)]
    good, bad = ["-u", USER, "-P", PASSWORD], ["-u", USER, "-P", "wrong-password"]
    p_sub, ctx = run_client(t, sub, a + good + ["-q", "1", "-t", "secure/#", "-W", "3"], "mqttv5", "auth-sub-v5",
                            "v5 good login, subscriber", wait=True)
    time.sleep(0.5)
    run_client(t, pub, a + good + ["-q", "1", "-t", "secure/valve1", "-m", "open"], "mqttv311", "auth-pub-v311",
               "v3.1.1 good login, PUBLISH QoS 1")
    run_client(t, pub, a + good + ["-q", "0", "-t", "secure/valve2", "-m", "closed"], "mqttv5", "auth-pub-v5",
               "v5 good login, PUBLISH QoS 0")
    run_client(t, pub, a + good + ["-q", "0", "-t", "secure/valve3", "-m", "closed"], "mqttv31", "auth-pub-v31",
               "v3.1 good login, PUBLISH QoS 0")
    run_client(t, pub, a + bad + ["-t", "secure/valve1", "-m", "close"], "mqttv311", "intruder-v311",
               "v3.1.1 wrong password: CONNACK 5 (not authorized)")
    run_client(t, pub, a + bad + ["-t", "secure/valve1", "-m", "close"], "mqttv5", "intruder-v5",
               "v5 wrong password: CONNACK reason 135 (not authorized)")
    run_client(t, pub, a + ["-t", "secure/valve1", "-m", "close"], "mqttv311", "anonymous-v311",
               "v3.1.1 without credentials: CONNACK 5")
    finish(p_sub, ctx)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["main", "auth"], required=True)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--truth", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="otsensor-mqtt-")
    broker = cap = None
    try:
        pwfile = os.path.join(work, "passwd")
        subprocess.run(["mosquitto_passwd", "-c", "-b", pwfile, USER, PASSWORD], check=True)
        os.chmod(pwfile, 0o644)
        os.chmod(work, 0o755)
        conf = os.path.join(work, "mosquitto.conf")
        with open(conf, "w", encoding="utf-8") as fh:
            fh.write(f"per_listener_settings true\npersistence false\nlog_dest none\nsys_interval 600\n"
                     f"listener {MAIN_PORT} 127.0.0.1\nallow_anonymous true\n"
                     f"listener {AUTH_PORT} 127.0.0.1\nallow_anonymous false\npassword_file {pwfile}\n")
        port = MAIN_PORT if a.part == "main" else AUTH_PORT
        broker = subprocess.Popen(["/usr/sbin/mosquitto", "-c", conf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()  # readiness probe (no MQTT)
                break
            except OSError:
                if time.monotonic() > deadline or broker.poll() is not None:
                    raise SystemExit("mosquitto did not start")
                time.sleep(0.1)
        cap = start_capture(a.pcap, f"tcp port {port}")  # after the readiness probe: not captured
        t = Truth(port)
        (session_main if a.part == "main" else session_auth)(t)
        time.sleep(0.3)
    finally:
        stop(broker)
        if cap is not None:
            stop_capture(cap)
        shutil.rmtree(work, ignore_errors=True)
    out = t.to_json(a.part)
    out["note"] = "PINGREQ/PINGRESP and $SYS counts depend on timing; they are taken from the logs of this run"
    with open(a.truth, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")
    print(f"{a.pcap}: {out['messages']} MQTT messages {out['messages_by_type']}")


if __name__ == "__main__":
    main()
