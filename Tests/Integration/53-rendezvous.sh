#!/usr/bin/env bash
# 53-rendezvous: a trainer that opens a TCP rendezvous at MASTER_ADDR:MASTER_PORT from every
# rank, as torch's TCPStore does (Tests/Integration/trainers/rendezvous.py, standard library
# only, run with /usr/bin/python3), under `baton launch --local`, `baton grid --local` with two
# configs at once on one machine (each attempt needs a port of its own), and on the namespace
# test bed (MASTER_ADDR a node name that resolves inside the nodes). Needs root for the test
# bed part (says SKIP and exits 77 without it). Bounded: about 60 s.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_build
PY=/usr/bin/python3
RDV=$root/Tests/Integration/trainers/rendezvous.py
[ -x "$PY" ] || fatal "$PY is missing (scripts/setup installs python3)"
make_tmp

# 1. launch --local: 2 simulated nodes x 2 ranks meet at local-0's loopback address.
timeout 60 "$B" launch --local 2 --nproc-per-node 2 --run-dir "$tmp/launch" --heartbeat-timeout 5s -- "$PY" "$RDV" \
  > "$tmp/launch.out" 2> "$tmp/launch.err"
rc=$?
check "launch --local: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/launch.err"
check "launch --local: all 4 ranks met at 127.1.0.1" "[ \$(grep -c 'RDV [0-3] 4 127.1.0.1 [0-9]* 6\$' '$tmp/launch.out') -eq 4 ]"

# 2. grid --local: 4 configs of 2 ranks on 2 nodes, two at a time, each holding its port 2 s.
cat > "$tmp/spec.yaml" <<YAML
command: [$PY, $RDV, "{hold}"]
parameters:
  hold: [2, 2.01, 2.02, 2.03]
ranks_per_node: 2
max_retries: 0
YAML
timeout 120 "$B" grid "$tmp/spec.yaml" --local 2 --run-dir "$tmp/grid" --heartbeat-timeout 5s > "$tmp/grid.out" 2>&1
rc=$?
check "grid --local: exit 0, 4 done" "[ $rc -eq 0 ] && grep -q 'grid finished: 4 done, 0 failed' '$tmp/grid.out'" || { tail -30 "$tmp/grid.out"; for f in "$tmp"/grid/configs/*/attempt-*.log; do grep -q . "$f" && { echo "--- $f"; grep -v '^mpirun: \[' "$f" | tail -15; }; done; for f in "$tmp"/grid/configs/*/mpirun/attempt-*/logs/*.log; do echo "--- $f"; tail -8 "$f"; done; }
ports=$(cat "$tmp"/grid/configs/*/checkpoint/rendezvous-1.txt 2>/dev/null | awk '{print $5}' | sort -u | wc -l)
check "grid --local: 4 rendezvous, 4 different ports" "[ \"$ports\" -eq 4 ]"
# Both nodes got a config at the grid's start: two rendezvous held their ports at once.
check "grid --local: two configs ran at once" "[ \$(grep -c '^\[+[0-9]*ms\] started' '$tmp/grid.out') -ge 2 ]"

# 3. The namespace test bed: MASTER_ADDR is rdv-n1, resolved inside every node.
need_root "the test-bed part needs root for network namespaces"
cluster_up rdv 10.77.9 2
timeout 90 "$B" launch -H rdv-n1:2,rdv-n2:2 --run-dir "$tmp/bed" --heartbeat-timeout 5s -- "$PY" "$RDV" > "$tmp/bed.out" 2> "$tmp/bed.err"
rc=$?
check "test bed: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/bed.err"
check "test bed: all 4 ranks met at rdv-n1" "[ \$(grep -c 'RDV [0-3] 4 rdv-n1 [0-9]* 6\$' '$tmp/bed.out') -eq 4 ]"

finish
