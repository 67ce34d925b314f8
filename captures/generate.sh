#!/usr/bin/env bash
# Regenerate every capture in this folder and MANIFEST.json.
# Needs: root (dumpcap on lo/any, server on port 502), Debian's /usr/bin/python3 with
# python3-pymodbus (3.0.0rc1) and python3-scapy, dumpcap + editcap (wireshark/tshark packages), gzip.
# Live traffic is on 127.0.0.1 only; the crafted file is written by scapy and never sent.
# The live captures differ between runs in ports, sequence numbers and timestamps; the crafted
# file and its variants are byte-for-byte reproducible.
set -euo pipefail
cd "$(dirname "$0")"
PY=/usr/bin/python3
[ "$(id -u)" = 0 ] || { echo "generate.sh: run as root (dumpcap, port 502)" >&2; exit 1; }
for t in dumpcap editcap gzip; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done
$PY -c 'import pymodbus, scapy' || { echo "need python3-pymodbus and python3-scapy" >&2; exit 1; }

T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT

echo "== live pymodbus sessions (loopback)"
$PY gen/pymodbus_session.py --port 502  --mode full  --pcap modbus_pymodbus.pcap          --truth "$T/modbus_pymodbus.pcap.json"
$PY gen/pymodbus_session.py --port 5020 --mode short --pcap modbus_pymodbus_port5020.pcap --truth "$T/modbus_pymodbus_port5020.pcap.json"
$PY gen/pymodbus_session.py --port 502  --mode tiny  --iface any --linktype LINUX_SLL  --pcap modbus_sll.pcap  --truth "$T/modbus_sll.pcap.json"
$PY gen/pymodbus_session.py --port 502  --mode tiny  --iface any --linktype LINUX_SLL2 --pcap modbus_sll2.pcap --truth "$T/modbus_sll2.pcap.json"

echo "== crafted cases (scapy, file only)"
$PY gen/crafted.py modbus_crafted.pcap "$T/modbus_crafted.pcap.json"

echo "== reader/link-type variants"
editcap -F pcapng   modbus_pymodbus.pcap modbus_pymodbus.pcapng
editcap -F nsecpcap modbus_crafted.pcap  modbus_crafted_ns.pcap
gzip -9n -c modbus_pymodbus.pcap > modbus_pymodbus.pcap.gz
printf -- '-d\ntcp.port==5020,mbtcp\n' > modbus_pymodbus_port5020.pcap.tshark-args
chmod 644 ./*.pcap ./*.pcapng ./*.gz

echo "== MANIFEST.json"
$PY gen/manifest.py . "$T"
