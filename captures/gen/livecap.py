#!/usr/bin/python3
"""Small helpers shared by the live (loopback) capture scripts: dumpcap start/stop, free ports."""
import os
import signal
import subprocess
import time


def wait_for_dumpcap(proc):
    """dumpcap prints "Capturing on 'Loopback: lo'" then "File: ..." to stderr when ready."""
    buf = b""
    deadline = time.monotonic() + 10
    os.set_blocking(proc.stderr.fileno(), False)
    while time.monotonic() < deadline:
        try:
            chunk = proc.stderr.read()
        except BlockingIOError:
            chunk = None
        if chunk:
            buf += chunk
            if b"File:" in buf:
                return
        if proc.poll() is not None:
            raise SystemExit("dumpcap exited: " + buf.decode(errors="replace"))
        time.sleep(0.05)
    raise SystemExit("dumpcap did not start: " + buf.decode(errors="replace"))


def start_capture(pcap, capture_filter, iface="lo"):
    """dumpcap -i lo -f FILTER -w PCAP -P (libpcap format); returns the process once it is capturing."""
    if os.path.exists(pcap):
        os.remove(pcap)
    cap = subprocess.Popen(["dumpcap", "-q", "-i", iface, "-f", capture_filter, "-w", pcap, "-P"],
                           stderr=subprocess.PIPE)
    wait_for_dumpcap(cap)
    return cap


def stop_capture(cap):
    time.sleep(0.5)
    cap.send_signal(signal.SIGTERM)
    cap.wait(timeout=10)


def stop(proc):
    """Stop one process we started (by its own handle), politely then firmly."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
