#!/usr/bin/python3
"""Capture a real CoAP session: libcoap's coap-server-notls and coap-client-notls on loopback.

Usage: coap_session.py --pcap OUT.pcap --truth OUT.json

Starts our own coap-server-notls (-A 127.0.0.1 -p 5683 -d 5: dynamic resources allowed) and runs
coap-client-notls requests one after the other while dumpcap captures "udp port 5683" on lo.
Client and server both run with -v 7, which logs every CoAP message they send ("sent N bytes" +
the decoded PDU). Each message on the wire is sent by exactly one of them, so the ground truth
(messages per type and per code, message ids, Uri-Paths) is the union of their "sent" records.
Traffic goes to 127.0.0.1 only.
"""
import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from livecap import start_capture, stop, stop_capture  # noqa: E402

PORT = 5683
BASE = f"coap://127.0.0.1:{PORT}"
METHODS = {"GET": "0.01", "POST": "0.02", "PUT": "0.03", "DELETE": "0.04", "FETCH": "0.05", "PATCH": "0.06",
           "IPATCH": "0.07"}
SENT_RE = re.compile(r"UDP : sent \d+ bytes\s*$")
PDU_RE = re.compile(r"^v:(\d+) t:(\S+) c:(\S+) i:([0-9a-f]+) \{([0-9a-f]*)\} \[ ?(.*?) ?\]")


def parse_sent(log):
    """CoAP messages this peer put on the wire, from its -v 7 log: [(type, code, mid, token, options)]."""
    out = []
    lines = log.splitlines()
    for i, line in enumerate(lines[:-1]):
        if not SENT_RE.search(line):
            continue
        m = PDU_RE.match(lines[i + 1])
        if not m:
            raise SystemExit(f"no PDU after a 'sent' line: {lines[i + 1]!r}")
        _, typ, code, mid, token, opts = m.groups()
        out.append((typ, METHODS.get(code, code), int(mid, 16), token, opts))
    return out


class Truth:
    def __init__(self):
        self.by_type = collections.Counter()
        self.by_code = collections.Counter()
        self.by_type_code = collections.Counter()
        self.mids = collections.Counter()
        self.uri_paths = collections.Counter()
        self.requests = []

    def add(self, sender, msgs):
        for typ, code, mid, token, opts in msgs:
            self.by_type[typ] += 1
            self.by_code[code] += 1
            self.by_type_code[f"{typ} {code}"] += 1
            self.mids[mid] += 1
            segs = [o[len("Uri-Path:"):] for o in opts.split(", ") if o.startswith("Uri-Path:")]
            if segs:
                self.uri_paths["/" + "/".join(segs)] += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--truth", required=True)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="otsensor-coap-")
    server = cap = None
    t = Truth()
    runs = []
    try:
        big = os.path.join(work, "big.txt")
        with open(big, "w", encoding="ascii") as fh:
            fh.write("".join(f"line {i:02d}: pump station 3 flow log entry\n" for i in range(6)))  # 228 bytes
        srv_log = open(os.path.join(work, "server.log"), "w+", encoding="utf-8")
        server = subprocess.Popen(["coap-server-notls", "-A", "127.0.0.1", "-p", str(PORT), "-d", "5", "-v", "7"],
                                  stdout=srv_log, stderr=subprocess.STDOUT)
        time.sleep(0.5)
        if server.poll() is not None:
            raise SystemExit("coap-server-notls did not start")
        cap = start_capture(a.pcap, f"udp port {PORT}")

        def client(desc, *args):
            cmd = ["coap-client-notls", "-v", "7", "-B", "10"] + list(args)
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            msgs = parse_sent(r.stdout.decode(errors="replace"))
            if not msgs:
                raise SystemExit(f"{desc}: the client sent nothing:\n{r.stdout.decode(errors='replace')}")
            t.add("client", msgs)
            runs.append({"request": desc, "args": args[:-1] + (args[-1].replace(BASE, ""),),
                         "client_sent": [[typ, code, mid] for typ, code, mid, _, _ in msgs]})
            time.sleep(0.1)

        client("GET /.well-known/core (resource discovery)", "-m", "get", f"{BASE}/.well-known/core")
        client("GET / (CON)", "-m", "get", f"{BASE}/")
        client("GET /time with query ?ticks", "-m", "get", f"{BASE}/time?ticks")
        client("NON GET /time", "-N", "-m", "get", f"{BASE}/time")
        client("PUT /example_data (small)", "-m", "put", "-e", "21.5", f"{BASE}/example_data")
        client("GET /example_data", "-m", "get", f"{BASE}/example_data")
        client("NON PUT /example_data", "-N", "-m", "put", "-e", "22.0", f"{BASE}/example_data")
        client("POST /example_data (not allowed: 4.05)", "-m", "post", "-e", "x", f"{BASE}/example_data")
        client("block-wise PUT /example_data (Block1, 32-byte blocks, 228 bytes)", "-m", "put", "-b", "32",
               "-f", big, f"{BASE}/example_data")
        client("block-wise GET /example_data (Block2, 64-byte blocks)", "-m", "get", "-b", "64",
               f"{BASE}/example_data")
        client("block-wise GET /example_data (Block2, 16-byte blocks, first blocks)", "-m", "get", "-b", "16",
               f"{BASE}/example_data")
        client("PUT /dyn/sensor (creates a dynamic resource: 2.01)", "-m", "put", "-e", "hello",
               f"{BASE}/dyn/sensor")
        client("GET /dyn/sensor", "-m", "get", f"{BASE}/dyn/sensor")
        client("DELETE /dyn/sensor (2.02)", "-m", "delete", f"{BASE}/dyn/sensor")
        client("GET /dyn/sensor after DELETE (4.04)", "-m", "get", f"{BASE}/dyn/sensor")
        client("GET /missing (4.04)", "-m", "get", f"{BASE}/missing")
        client("NON GET /missing/deep/path (4.04)", "-N", "-m", "get", f"{BASE}/missing/deep/path")
        client("GET /async?1 (separate response after 1 s)", "-m", "get", f"{BASE}/async?1")
        client("Observe /time for 4 s (CON notifications, empty ACKs, deregistration)", "-s", "4", "-m", "get",
               f"{BASE}/time")
        time.sleep(0.5)
    finally:
        stop(server)
        if cap is not None:
            stop_capture(cap)
    srv_log.seek(0)
    server_msgs = parse_sent(srv_log.read())
    srv_log.close()
    shutil.rmtree(work, ignore_errors=True)
    t.add("server", server_msgs)

    def s(c):
        return {str(k): v for k, v in sorted(c.items(), key=lambda kv: str(kv[0]))}
    out = {
        "source": "libcoap 4.3 coap-server-notls and coap-client-notls (real peers) on 127.0.0.1, captured with "
                  "dumpcap -i lo; messages from both peers' -v 7 'sent' records",
        "protocol": "coap",
        "server_port": PORT,
        "messages": sum(t.by_code.values()),
        "messages_by_type": s(t.by_type),
        "messages_by_code": s(t.by_code),
        "messages_by_type_and_code": s(t.by_type_code),
        "message_ids": s(t.mids),
        "uri_paths": s(t.uri_paths),
        "server_sent": len(server_msgs),
        "requests": runs,
    }
    with open(a.truth, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")
    print(f"{a.pcap}: {out['messages']} CoAP messages {out['messages_by_type']} {out['messages_by_code']}")


if __name__ == "__main__":
    main()
