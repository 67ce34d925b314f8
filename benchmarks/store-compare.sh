#!/usr/bin/env bash
# Store cost, before/after, interleaved (the machine is shared): benchmarks/store-compare.sh BASE_DIR [ROUNDS]
#   BASE_DIR: a published otsensor to compare with (e.g. `git worktree` of main, `dotnet publish src/OtSensor.Cli -c Release
#   -r linux-x64 -o benchmarks/data/base`, Native AOT like ./install); the current build is ./out (./install).
# Each round runs base and out, bare (--no-store --no-detection) and store (--store, --no-detection), on the 1M-packet
# Modbus capture, and prints wall, process CPU (user+sys), in-pipeline elapsed and analysis busy time; then medians.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: $0 BASE_DIR [ROUNDS]}
rounds=${2:-3}
cap=benchmarks/data/modbus_large_1000000.pcap
db=benchmarks/data/compare.db
res=$(mktemp)
for r in $(seq 1 "$rounds"); do
  for bin in "$base" out; do
    for m in bare store; do
      rm -f "$db" "$db-wal" "$db-shm"
      if [ "$m" = bare ]; then a=(--no-store --no-detection); else a=(--store "$db" --no-detection); fi
      /usr/bin/time -f "%e %U %S" -o "$res.t" "$bin/otsensor" replay --no-progress "${a[@]}" "$cap" > "$res.o"
      read -r w u s < "$res.t"
      el=$(grep -o "elapsed [0-9.]* s" "$res.o" | awk '{print $2}')
      an=$(grep -o "analysis [0-9.]* s" "$res.o" | awk '{print $2}')
      line=$(printf "%s %s %s %s %s %s %s" "$r" "$(basename "$bin")" "$m" "$w" "$(echo "$u + $s" | bc)" "$el" "$an")
      echo "$line" | tee -a "$res"
    done
  done
done
/usr/bin/python3 - "$res" <<'PY'
import sys, statistics as st
d = {}
for l in open(sys.argv[1]):
    r = l.split()
    d.setdefault((r[1], r[2]), []).append([float(x) for x in r[3:7]])
for k, v in sorted(d.items()):
    m = [st.median(x[i] for x in v) for i in range(4)]
    print("%-6s %-5s median wall %.2f s  cpu %.2f s  in-pipeline %.2f s  analysis busy %.2f s  wall-in_pipeline (start-up, store open, final flush) %.2f s" % (*k, *m, m[0] - m[2]))
PY
rm -f "$res" "$res.t" "$res.o" "$db" "$db-wal" "$db-shm"
