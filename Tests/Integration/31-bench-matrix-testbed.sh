#!/usr/bin/env bash
# 31-bench-matrix-testbed.sh — `baton bench matrix` on the 3-node namespace test bed
# (scripts/cluster), one rank per node: with every link even, no node stands out; with
# node 3's link throttled by `tc qdisc ... tbf` (both directions), node 3 is flagged as
# a slow node and its two pairs as slow pairs, and --fail-on-outliers exits 1.
# Needs root (namespaces, tc); otherwise says SKIP and exits 77. Small messages: seconds.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root "needs root for network namespaces and tc"
need_cmd tc "tc (iproute2) missing"
need_build
make_tmp bench-31

cluster_up bm 10.77.8 3 || fatal "cluster up"
"$C" hostfile 1 > "$tmp/hostfile"
# A small window keeps the throttled pairs to about a second each.
M=(bench matrix --json --size 64K --window 8 --iters 3 --latency-iters 50)
matrix() { timeout 120 mpirun --hostfile "$tmp/hostfile" -np 3 --map-by ppr:1:node "$B" "${M[@]}" "$@"; }

# Best of 5 sweeps, not 3: on the loaded 2-core machine one pair once came out at 0.49 of
# the median in every one of 3 (noise only slows a pair down; the throttled pair is at 1%).
# And a threshold of 0.1 of the median, not the tool's default 0.5, for links that are all
# the same: on this 2-core VM one direction of a healthy veth pair came out at 0.37-0.38 of
# the median in every one of 5 sweeps, idle, in 2 of 9 runs (2026-12-07), and at 0.16 with
# builds beside it; a slow link here is at 1% (below), a bad cable in the field at 10-50%.
matrix --rounds 5 --threshold 0.1 > "$tmp/even.json" 2> "$tmp/even.err"; rc=$?
if [ $rc -eq 0 ] && python3 - "$tmp/even.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["nodes"] == ["bm-n1", "bm-n2", "bm-n3"], d["nodes"]
bw = d["bandwidth_GBps"]
assert all(bw[i][j] > 0 for i in range(3) for j in range(3) if i != j), bw
assert not any(o["metric"] == "bandwidth" for o in d["outlier_nodes"] + d["outlier_pairs"]), d
PY
then pass "even links: 3x3 matrix named by node, no bandwidth outlier"; else fail "even links (exit $rc)"; cat "$tmp/even.err" "$tmp/even.json"; fi

# Throttle node 3 both ways: the bridge side of its veth (traffic to it) and its eth0.
tbf=(root tbf rate 50mbit burst 32kbit latency 400ms)
if ! tc qdisc add dev bm-v3 "${tbf[@]}" 2> "$tmp/tc.err" || ! ip netns exec bm-n3 tc qdisc add dev eth0 "${tbf[@]}" 2>> "$tmp/tc.err"; then
  skip "tc tbf is not available here: $(cat "$tmp/tc.err")"
fi
matrix --fail-on-outliers > "$tmp/slow.json" 2> "$tmp/slow.err"; rc=$?
if [ $rc -eq 1 ] && python3 - "$tmp/slow.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
nodes = [o["nodes"] for o in d["outlier_nodes"] if o["metric"] == "bandwidth"]
pairs = sorted(sorted(o["nodes"]) for o in d["outlier_pairs"] if o["metric"] == "bandwidth")
assert nodes == [["bm-n3"]], f"slow nodes {nodes}"
assert pairs == [["bm-n1", "bm-n3"], ["bm-n2", "bm-n3"]], f"slow pairs {pairs}"
print(f"node 3: {d['outlier_nodes'][0]['value']:.4f} GB/s against {d['outlier_nodes'][0]['reference']:.4f} GB/s")
PY
then pass "throttled node 3 flagged (slow node and both its pairs), exit 1"; else fail "throttled node not flagged (exit $rc)"; cat "$tmp/slow.err" "$tmp/slow.json"; fi

if timeout 120 mpirun --hostfile "$tmp/hostfile" -np 3 --map-by ppr:1:node "$B" bench matrix --size 64K --window 8 --iters 3 --latency-iters 50 > "$tmp/table.txt" 2>&1 \
  && grep -q "SLOW NODE  node bm-n3" "$tmp/table.txt"; then
  pass "table names the slow node"
else
  fail "table does not name bm-n3"; cat "$tmp/table.txt"
fi

finish
