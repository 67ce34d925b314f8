#!/usr/bin/python3
"""Capture a pymodbus client <-> pymodbus server session on loopback.

Usage: pymodbus_session.py --port PORT --mode full|short --pcap OUT.pcap --truth OUT.json

Starts dumpcap on `lo` (filter "tcp port 502 or tcp port 5020"), the gateway-like server
(gen/pymodbus_server.py, units 1, 2, 17) on 127.0.0.1:PORT, then a pymodbus 3.0.0rc1 client
that polls it. Every request sent and every response received is recorded and written as
ground truth (JSON) for MANIFEST.json. Traffic goes to 127.0.0.1 only.
"""
import argparse
import collections
import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys

from livecap import wait_for_dumpcap  # same folder: shared by the live-capture scripts
import time

from pymodbus.bit_read_message import ReadCoilsRequest, ReadDiscreteInputsRequest
from pymodbus.bit_write_message import WriteMultipleCoilsRequest, WriteSingleCoilRequest
from pymodbus.client import ModbusTcpClient
from pymodbus.diag_message import (
    ClearCountersRequest,
    RestartCommunicationsOptionRequest,
    ReturnBusMessageCountRequest,
    ReturnDiagnosticRegisterRequest,
    ReturnQueryDataRequest,
)
from pymodbus.file_message import (
    FileRecord,
    ReadFifoQueueRequest,
    ReadFileRecordRequest,
    WriteFileRecordRequest,
)
from pymodbus.mei_message import ReadDeviceInformationRequest
from pymodbus.other_message import (
    GetCommEventCounterRequest,
    GetCommEventLogRequest,
    ReadExceptionStatusRequest,
    ReportSlaveIdRequest,
)
from pymodbus.register_read_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    ReadWriteMultipleRegistersRequest,
)
from pymodbus.register_write_message import (
    MaskWriteRegisterRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from pymodbus_server import EXTENDED, IDENTITY, UNITS  # noqa: E402


class Truth:
    """Ground truth as seen by the client (what it sent, what it got back)."""

    def __init__(self):
        self.requests = collections.Counter()      # fc -> count
        self.responses = collections.Counter()     # fc (7-bit) -> count
        self.exceptions = collections.Counter()    # exception code -> count
        self.exceptions_by_fc = collections.Counter()  # "fc/code" -> count
        self.units = collections.Counter()
        self.unanswered = collections.Counter()    # fc -> requests without a response
        self.diag_subfunctions = collections.Counter()
        self.device_id_read_codes = collections.Counter()
        self.transactions = []                     # [tid, unit, fc, answered, exception]

    def request(self, fc, unit):
        self.requests[fc] += 1
        self.units[unit] += 1

    def response(self, fc, exc):
        self.responses[fc & 0x7F] += 1
        if exc is not None:
            self.exceptions[exc] += 1
            self.exceptions_by_fc[f"{fc & 0x7F}/{exc}"] += 1

    def as_json(self):
        def s(c):
            return {str(k): v for k, v in sorted(c.items(), key=lambda kv: (isinstance(kv[0], str), kv[0]))}
        pdus = collections.Counter()
        pdus.update(self.requests)
        pdus.update(self.responses)
        return {
            "requests_by_function_code": s(self.requests),
            "responses_by_function_code": s(self.responses),
            "pdus_by_function_code": s(pdus),
            "exceptions_by_code": s(self.exceptions),
            "exceptions_by_function_and_code": s(self.exceptions_by_fc),
            "unanswered_requests_by_function_code": s(self.unanswered),
            "requests_by_unit_id": s(self.units),
            "diagnostics_subfunctions": s(self.diag_subfunctions),
            "device_id_read_codes": s(self.device_id_read_codes),
            "requests": sum(self.requests.values()),
            "responses": sum(self.responses.values()),
            "transactions": self.transactions,
        }


class Session:
    def __init__(self, port, truth):
        self.truth = truth
        self.client = ModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
        if not self.client.connect():
            raise SystemExit("cannot connect to the pymodbus server")
        self.raw_tid = 0x7000

    def run(self, request):
        """Send one pymodbus request object and record it and its answer."""
        fc = request.function_code
        self.truth.request(fc, request.unit_id)
        if fc == 8:
            self.truth.diag_subfunctions[request.sub_function_code] += 1
        if fc == 0x2B:
            self.truth.device_id_read_codes[request.read_code] += 1
        resp = self.client.execute(request)
        if resp is None or not hasattr(resp, "function_code"):
            raise SystemExit(f"no response to {request}: {resp}")
        exc = getattr(resp, "exception_code", None) if resp.function_code & 0x80 else None
        self.truth.response(resp.function_code, exc)
        self.truth.transactions.append([request.transaction_id, request.unit_id, fc, True, exc])
        return resp

    def raw(self, unit, pdu, expect_answer=True, wait=0.3):
        """Send a hand-built ADU on the same connection (unknown FCs, no-answer cases)."""
        self.raw_tid += 1
        tid = self.raw_tid
        fc = pdu[0]
        self.truth.request(fc, unit)
        if fc == 8:
            self.truth.diag_subfunctions[struct.unpack(">H", pdu[1:3])[0]] += 1
        sock = self.client.socket
        sock.sendall(struct.pack(">HHHB", tid, 0, len(pdu) + 1, unit) + pdu)
        sock.settimeout(wait)
        data = b""
        try:
            while True:
                if len(data) >= 7 and len(data) >= 6 + struct.unpack(">H", data[4:6])[0]:
                    break
                chunk = sock.recv(260)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        finally:
            sock.settimeout(self.client.params.timeout)
        if not data:
            if expect_answer:
                raise SystemExit(f"no answer to raw fc {fc}")
            self.truth.unanswered[fc] += 1
            self.truth.transactions.append([tid, unit, fc, False, None])
            return None
        rfc = data[7]
        exc = data[8] if rfc & 0x80 else None
        self.truth.response(rfc, exc)
        self.truth.transactions.append([tid, unit, fc, True, exc])
        return data


def full_session(s):
    u1, u2, u17 = UNITS
    # One of each standard function (unit 1), then a few on the other units.
    s.run(ReadCoilsRequest(0, 16, unit=u1))
    s.run(ReadDiscreteInputsRequest(0, 16, unit=u1))
    s.run(ReadHoldingRegistersRequest(0, 10, unit=u1))
    s.run(ReadInputRegistersRequest(0, 8, unit=u1))
    s.run(WriteSingleCoilRequest(3, True, unit=u1))
    s.run(WriteSingleCoilRequest(3, False, unit=u1))
    s.run(WriteSingleRegisterRequest(10, 0x1234, unit=u1))
    s.run(WriteMultipleCoilsRequest(20, [True, False, True, True, False, False, True, False, True, True], unit=u1))
    s.run(WriteMultipleRegistersRequest(30, [1, 2, 3, 4], unit=u1))
    s.run(MaskWriteRegisterRequest(10, 0x00F2, 0x0025, unit=u1))
    s.run(ReadWriteMultipleRegistersRequest(read_address=0, read_count=4, write_address=40,
                                            write_registers=[7, 8], unit=u1))
    s.run(ReadFifoQueueRequest(5, unit=u1))
    s.run(ReadExceptionStatusRequest(unit=u1))
    s.run(ReturnQueryDataRequest(0xA537, unit=u1))
    s.run(RestartCommunicationsOptionRequest(toggle=False, unit=u1))
    s.run(ReturnDiagnosticRegisterRequest(unit=u1))
    s.run(ClearCountersRequest(unit=u1))
    s.run(ReturnBusMessageCountRequest(unit=u1))
    s.run(GetCommEventCounterRequest(unit=u1))
    s.run(GetCommEventLogRequest(unit=u1))
    s.run(ReportSlaveIdRequest(unit=u1))
    s.run(ReadFileRecordRequest([FileRecord(file_number=4, record_number=1, record_length=2)], unit=u1))
    s.run(WriteFileRecordRequest([FileRecord(file_number=4, record_number=7, record_data=b"\x06\xaf\x04\xbe")],
                                 unit=u1))
    for code in (1, 2, 3):
        s.run(ReadDeviceInformationRequest(code, 0, unit=u1))
    s.run(ReadDeviceInformationRequest(4, 0x05, unit=u1))   # one specific object: ModelName
    s.run(ReadDeviceInformationRequest(1, 0, unit=u17))
    s.run(WriteSingleRegisterRequest(5, 321, unit=u2))
    s.run(WriteMultipleRegistersRequest(0, [11, 12, 13], unit=u17))
    # Exceptions produced by the server itself.
    s.run(ReadHoldingRegistersRequest(98, 5, unit=u1))     # 2: beyond the 100-register block
    s.run(ReadCoilsRequest(95, 20, unit=u2))               # 2
    s.run(ReadInputRegistersRequest(200, 2, unit=u17))     # 2
    s.run(ReadHoldingRegistersRequest(0, 126, unit=u1))    # 3: quantity > 125
    s.run(ReadCoilsRequest(0, 2001, unit=u1))              # 3: quantity > 2000
    s.raw(u1, bytes([0x41, 0x00, 0x01]))                   # 1: unknown function code
    s.raw(u2, bytes([0x64, 0x00]))                         # 1: unknown function code
    s.raw(u1, bytes([0x5A, 0x00, 0x02]))                   # 1: UMAS-like (not supported here)
    # Polling period: 20 cycles every 100 ms.
    for _ in range(20):
        t0 = time.monotonic()
        s.run(ReadHoldingRegistersRequest(0, 10, unit=u1))
        s.run(ReadInputRegistersRequest(0, 4, unit=u2))
        s.run(ReadCoilsRequest(0, 16, unit=u17))
        s.run(ReadDiscreteInputsRequest(8, 8, unit=u1))
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))
    # Requests that get no answer: a unit the gateway does not know (pymodbus drops it),
    # then Force Listen Only Mode (a device in listen-only mode never answers it).
    s.raw(9, bytes([0x03, 0x00, 0x00, 0x00, 0x02]), expect_answer=False)
    s.raw(u1, bytes([0x08, 0x00, 0x04, 0x00, 0x00]), expect_answer=False)


def short_session(s):
    u1, u2, u17 = UNITS
    s.run(ReadDeviceInformationRequest(1, 0, unit=u1))
    for _ in range(5):
        s.run(ReadHoldingRegistersRequest(0, 6, unit=u1))
        s.run(ReadCoilsRequest(0, 8, unit=u2))
        time.sleep(0.05)
    s.run(WriteSingleRegisterRequest(4, 99, unit=u17))
    s.run(ReadHoldingRegistersRequest(99, 4, unit=u17))    # 2
    s.raw(u1, bytes([0x41, 0x00, 0x01]))                   # 1


def tiny_session(s):
    u1, u2, _ = UNITS
    for _ in range(3):
        s.run(ReadHoldingRegistersRequest(0, 4, unit=u1))
        s.run(ReadDiscreteInputsRequest(0, 8, unit=u2))
    s.run(WriteSingleCoilRequest(1, True, unit=u1))
    s.run(ReadHoldingRegistersRequest(120, 1, unit=u1))    # 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=("full", "short", "tiny"), required=True)
    ap.add_argument("--pcap", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--iface", default="lo", help="lo (Ethernet-like link type) or any (Linux SLL/SLL2)")
    ap.add_argument("--linktype", default=None, help="dumpcap -y value, e.g. LINUX_SLL")
    a = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    if os.path.exists(a.pcap):
        os.remove(a.pcap)
    cmd = ["dumpcap", "-q", "-i", a.iface, "-f", "tcp port 502 or tcp port 5020", "-w", a.pcap, "-P"]
    if a.linktype:
        cmd += ["-y", a.linktype]
    cap = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    srv = None
    try:
        wait_for_dumpcap(cap)
        srv = subprocess.Popen([sys.executable, os.path.join(HERE, "pymodbus_server.py"), str(a.port)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if srv.stdout.readline().strip() != b"READY":
            raise SystemExit("server did not start")
        truth = Truth()
        s = Session(a.port, truth)
        {"full": full_session, "short": short_session, "tiny": tiny_session}[a.mode](s)
        s.client.close()
        time.sleep(0.3)
    finally:
        if srv is not None:
            srv.send_signal(signal.SIGTERM)
            srv.wait(timeout=10)
        time.sleep(0.5)
        cap.send_signal(signal.SIGTERM)
        cap.wait(timeout=10)
    out = {
        "source": f"pymodbus 3.0.0rc1 client and server on 127.0.0.1 (real peers), captured with dumpcap -i {a.iface}",
        "server_port": a.port,
        "session": a.mode,
        "unit_ids": list(UNITS),
        "device_identity": IDENTITY,
        "device_identity_extended": {f"0x{k:02X}": v for k, v in EXTENDED.items()},
        **truth.as_json(),
    }
    with open(a.truth, "w", encoding="utf-8") as fh:
        json.dump(out, fh, indent=1)
        fh.write("\n")


if __name__ == "__main__":
    main()
