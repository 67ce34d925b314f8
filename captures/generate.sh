#!/usr/bin/env bash
# Regenerate the captures in this folder and MANIFEST.json.
# Usage: sudo ./generate.sh [modbus] [mqtt] [coap]   (no argument = all parts)
#   modbus: pymodbus sessions, crafted Modbus cases and the reader/link-type variants
#   mqtt:   mosquitto broker + mosquitto_pub/sub sessions, crafted MQTT cases
#   coap:   libcoap coap-server-notls/coap-client-notls session, crafted CoAP cases
# A part that is not run keeps its files and MANIFEST.json entries unchanged (gen/manifest.py
# reuses their ground truth), e.g. `./generate.sh mqtt coap` leaves the Modbus captures byte-identical.
# Needs: root (dumpcap on lo/any, server on port 502), Debian's /usr/bin/python3 with python3-scapy
# (+ python3-pymodbus 3.0.0rc1 for modbus), dumpcap + editcap (wireshark/tshark packages), gzip,
# mosquitto + mosquitto-clients (mqtt), libcoap3-bin (coap-server-notls / coap-client-notls, coap).
# Live traffic is on 127.0.0.1 only; crafted files are written by scapy and never sent.
# The live captures differ between runs in ports, ids, sequence numbers, timestamps (and, for MQTT,
# in the number of keep-alive pings and $SYS messages, recorded in the ground truth of each run);
# the crafted files and their variants are byte-for-byte reproducible.
set -euo pipefail
cd "$(dirname "$0")"
PY=/usr/bin/python3
PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(modbus mqtt coap)
want() { local p; for p in "${PARTS[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }
for p in "${PARTS[@]}"; do
  case "$p" in modbus|mqtt|coap) ;; *) echo "generate.sh: unknown part '$p' (modbus, mqtt, coap)" >&2; exit 2;; esac
done
[ "$(id -u)" = 0 ] || { echo "generate.sh: run as root (dumpcap, port 502)" >&2; exit 1; }
for t in dumpcap editcap gzip; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done
$PY -c 'import scapy' || { echo "need python3-scapy" >&2; exit 1; }
if want modbus; then $PY -c 'import pymodbus' || { echo "need python3-pymodbus" >&2; exit 1; }; fi
if want mqtt; then
  for t in /usr/sbin/mosquitto mosquitto_pub mosquitto_sub mosquitto_passwd stdbuf; do
    command -v "$t" >/dev/null || { echo "missing $t (mosquitto, mosquitto-clients)" >&2; exit 1; }; done
fi
if want coap; then
  for t in coap-server-notls coap-client-notls; do
    command -v "$t" >/dev/null || { echo "missing $t (libcoap3-bin)" >&2; exit 1; }; done
fi

T="$(mktemp -d)"
trap 'rm -rf "$T"' EXIT

if want modbus; then
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
fi

if want mqtt; then
  echo "== live MQTT sessions: mosquitto broker + clients (loopback)"
  $PY gen/mqtt_session.py --part main --pcap mqtt_mosquitto.pcap      --truth "$T/mqtt_mosquitto.pcap.json"
  $PY gen/mqtt_session.py --part auth --pcap mqtt_mosquitto_auth.pcap --truth "$T/mqtt_mosquitto_auth.pcap.json"
  echo "== crafted MQTT cases (scapy, file only)"
  $PY gen/iot_crafted.py mqtt mqtt_crafted.pcap "$T/mqtt_crafted.pcap.json"
  printf -- '-d\ntcp.port==1884,mqtt\n'  > mqtt_mosquitto_auth.pcap.tshark-args
  printf -- '-d\ntcp.port==18830,mqtt\n' > mqtt_crafted.pcap.tshark-args
fi

if want coap; then
  echo "== live CoAP session: libcoap server + client (loopback)"
  $PY gen/coap_session.py --pcap coap_libcoap.pcap --truth "$T/coap_libcoap.pcap.json"
  echo "== crafted CoAP cases (scapy, file only)"
  $PY gen/iot_crafted.py coap coap_crafted.pcap "$T/coap_crafted.pcap.json"
  printf -- '-d\nudp.port==56830,coap\n' > coap_crafted.pcap.tshark-args
fi
chmod 644 ./*.pcap ./*.pcapng ./*.gz ./*.tshark-args

echo "== MANIFEST.json"
$PY gen/manifest.py . "$T"
