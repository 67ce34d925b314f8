#!/usr/bin/env bash
# End-to-end throughput: `otsensor replay` against `tshark -r` dissecting the same large Modbus/TCP capture.
# Usage: benchmarks/run-throughput.sh [MIN_PACKETS (default 1000000)] [modbus|mixed (default modbus)] [bare|detect|inventory|store|full|all]
# Builds (once) benchmarks/data/<mix>_large_N.pcap from the project's own captures by rewriting addresses
# (64 interleaved copies at a time, each copy with its own IPv4 addresses), then times both tools on it, whole
# process wall clock (start-up included), best of 3 for otsensor (the Native AOT build ./install publishes to out/)
# and best of 3 for tshark (`tshark -n -r FILE`, full dissection for its summary lines), and prints the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
mix=${2:-modbus}
# Third argument: what runs besides the dissectors: "bare" (no store, no detection: the default), "detect" (detection
# in memory), "inventory" (the inventory built in memory, no store, no detection: OTSENSOR_MEASURE_INVENTORY=1), "store"
# (inventory + SQLite store, no detection: what the store costs against "bare" and "inventory"), "full" (inventory +
# SQLite store + detection: what `otsensor replay` does by default).
engines=${3:-bare}
# "all": every mode above on the same capture in one go (tshark measured once), one table row per mode.
mode_args() {
  unset OTSENSOR_MEASURE_INVENTORY
  case "$1" in
    bare) store_arg=(--no-store --no-detection) ;;
    detect) store_arg=(--no-store) ;;
    inventory) store_arg=(--no-store --no-detection); export OTSENSOR_MEASURE_INVENTORY=1 ;;
    store) store_arg=(--store benchmarks/data/bench.db --no-detection) ;;
    full) store_arg=(--store benchmarks/data/bench.db) ;;
    *) echo "usage: $0 [MIN_PACKETS] [modbus|mixed] [bare|detect|inventory|store|full|all]" >&2; exit 2 ;;
  esac
}
if [ "$engines" = all ]; then modes=(bare detect inventory store full); else modes=("$engines"); mode_args "$engines"; fi
case "$mix" in
  modbus) sources=(captures/modbus_pymodbus.pcap) ;;
  mixed) sources=(captures/modbus_pymodbus.pcap captures/mqtt_mosquitto.pcap captures/coap_libcoap.pcap) ;;
  *) echo "usage: $0 [MIN_PACKETS] [modbus|mixed] [bare|detect|inventory|store|full|all]" >&2; exit 2 ;;
esac
command -v tshark >/dev/null || { echo "tshark not found: run ./install" >&2; exit 1; }

mkdir -p benchmarks/data
big=benchmarks/data/${mix}_large_${n}.pcap
dotnet build OtSensor.sln -c Release -nologo -v quiet -clp:ErrorsOnly
dotnet publish src/OtSensor.Cli -c Release -r linux-x64 -nologo -v quiet -clp:ErrorsOnly -o out
if [ ! -s "$big" ]; then
  dotnet benchmarks/OtSensor.Benchmarks/bin/Release/net10.0/OtSensor.Benchmarks.dll make-capture "$big" "$n" "${sources[@]}"
fi
packets=$(capinfos -M -c "$big" | awk -F: '/Number of packets/ {gsub(/ /,"",$2); print $2}')
size=$(stat -c %s "$big")
echo "capture: $big, $packets packets, $size bytes, $(nproc) cores"

now() { date +%s.%N; }
# One mode: best of 3 whole-process runs into $best (seconds) and the summary of the best run into $summary.
run_mode() {
  best=""
  for i in 1 2 3; do
    rm -f benchmarks/data/bench.db*
    t0=$(now)
    out/otsensor replay --no-progress --json "${store_arg[@]}" "$big" > benchmarks/data/otsensor.run.json
    t1=$(now)
    t=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
    echo "otsensor $1 run $i: ${t}s"
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$t; mv benchmarks/data/otsensor.run.json benchmarks/data/otsensor.json; fi
  done
  rm -f benchmarks/data/otsensor.run.json
}
declare -A best_of inpipe_of
for m in "${modes[@]}"; do
  mode_args "$m"
  run_mode "$m"
  best_of[$m]=$best
  inpipe_of[$m]=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["packets_per_second"])' benchmarks/data/otsensor.json)
done
# tshark gets the same best-of-N as otsensor (its speed varies by ±20% from run to run here); TSHARK_RUNS=1 for a quick look.
tt=""
for i in $(seq 1 "${TSHARK_RUNS:-3}"); do
  t0=$(now)
  tshark -n -r "$big" > /dev/null
  t1=$(now)
  t=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')
  echo "tshark run $i: ${t}s"
  if [ -z "$tt" ] || awk -v a="$t" -v b="$tt" 'BEGIN{exit !(a<b)}'; then tt=$t; fi
done

ts_pps=$(awk -v n="$packets" -v t="$tt" 'BEGIN{print n/t}')
if [ ${#modes[@]} -gt 1 ]; then
  echo
  echo "| engines | otsensor packets/s (whole process) | in-pipeline packets/s | tshark packets/s | ratio | share of bare |"
  echo "|---|---:|---:|---:|---:|---:|"
  for m in "${modes[@]}"; do
    awk -v m="$m" -v n="$packets" -v t="${best_of[$m]}" -v ip="${inpipe_of[$m]}" -v ts="$ts_pps" -v tb="${best_of[bare]}" \
      'BEGIN{ printf "| %s | %.0f | %.0f | %.0f | %.1fx | %.0f%% |\n", m, n/t, ip, ts, (n/t)/ts, 100*tb/t }'
  done
  exit 0
fi
ots_pps=$(awk -v n="$packets" -v t="$best" 'BEGIN{print n/t}')
tx=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("in-pipeline %d packets/s; transactions: modbus %d, mqtt %d, coap %d" % (d["packets_per_second"], d["modbus"]["transactions"], d["mqtt"]["transactions"], d["coap"]["exchanges"]))' benchmarks/data/otsensor.json)
printf 'otsensor: %.0f packets/s (whole process, engines %s; %s)\n' "$ots_pps" "$engines: ${store_arg[*]}" "$tx"
printf 'tshark:   %.0f packets/s\n' "$ts_pps"
printf 'ratio otsensor/tshark: %.1fx\n' "$(awk -v a="$ots_pps" -v b="$ts_pps" 'BEGIN{print a/b}')"
