#!/usr/bin/env bash
# 33-bench-find-slow-testbed.sh — `baton bench matrix --find-slow` on an 8-node namespace
# test bed (scripts/cluster), one rank per node: with even links it names nothing after
# every pair; with one node throttled (`scripts/cluster slow NODE`: tbf both ways) it
# names that node in at most 2N rounds; with one link throttled (`scripts/cluster slow
# NODE PEER`: htb + u32 filter on the peer's address, both ways) it names that pair, slow
# three times; --fail-on-outliers exits 1 on a verdict; 3 ranks are refused with exit 2.
# Placements are random (the seed is printed; BATON_FIND_SLOW_SEED repeats one).
# Needs root (namespaces, tc); otherwise says SKIP and exits 77. Small messages: seconds.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root "needs root for network namespaces and tc"
need_cmd tc "tc (iproute2) missing"
need_build
make_tmp

N=8
cluster_up fsl 10.77.21 $N || fatal "cluster up"
"$C" hostfile 1 > "$tmp/hostfile"
find_slow() {
  timeout 120 mpirun --hostfile "$tmp/hostfile" -np "${NP:-$N}" --map-by ppr:1:node "$B" \
    bench matrix --find-slow --size 64K --window 8 --iters 5 "$@" < /dev/null
}
# check_verdict FILE KIND NODES...: the JSON verdict is KIND over NODES, within 2N rounds.
check_verdict() {
  python3 - "$@" <<'PY'
import json, sys
path, kind, want = sys.argv[1], sys.argv[2], sys.argv[3:]
d = json.load(open(path))
n = len(d["nodes"])
c = d["culprit"]
assert c["kind"] == kind and sorted(c["nodes"]) == sorted(want), f"culprit {c}, wanted {kind} {want}"
assert d["rounds"] <= 2 * n, f'{d["rounds"]} rounds for {n} nodes'
assert d["pairs_measured"] == len(d["figures"]) and d["all_pairs"] == n * (n - 1) // 2, d
for f in d["figures"]:
    assert f["bandwidth_GBps"] > 0 and f["reference_GBps"] > 0, f
if kind == "none":
    seen = {tuple(sorted(f["nodes"])) for f in d["figures"]}
    assert len(seen) == n * (n - 1) // 2, f"{len(seen)} distinct pairs measured"
if kind == "node":
    partners = {x for f in d["evidence"] if f["slow"] for x in f["nodes"] if x != want[0]}
    assert len(partners) >= 3, f"slow with {partners} only"
if kind == "link":
    again = [f for f in d["evidence"] if f["slow"] and sorted(f["nodes"]) == sorted(want)]
    assert len(again) == 3, f"the link's slow figures: {again}"
print(f'{c["kind"]} {"+".join(c["nodes"])}: {d["rounds"]} rounds, {d["pairs_measured"]} pair measurements (all pairs {d["all_pairs"]}), {d["seconds"]:.2f} s')
PY
}

NP=3 find_slow > "$tmp/three.out" 2>&1; rc=$?
if [ $rc -eq 2 ] && grep -q "needs at least 4 ranks" "$tmp/three.out"; then pass "3 ranks refused, exit 2"; else fail "3 ranks (exit $rc)"; cat "$tmp/three.out"; fi

find_slow --json > "$tmp/even.json" 2> "$tmp/even.err"; rc=$?
if [ $rc -eq 0 ] && check_verdict "$tmp/even.json" none; then pass "even links: nothing slow, every pair measured"; else fail "even links (exit $rc)"; cat "$tmp/even.err" "$tmp/even.json"; fi

seed=${BATON_FIND_SLOW_SEED:-$RANDOM}
echo "placements from seed $seed"
read -r s1 s2 l1 l2 l3 l4 < <(python3 -c "
import random; r = random.Random($seed)
print(*r.sample(range(1, $N + 1), 2), *sorted(r.sample(range(1, $N + 1), 2)), *sorted(r.sample(range(1, $N + 1), 2)))")

for k in "$s1" "$s2"; do
  node=fsl-n$k
  "$C" slow "$node" 2> "$tmp/tc.err" || skip "tc throttling is not available here: $(cat "$tmp/tc.err")"
  find_slow --json --fail-on-outliers > "$tmp/node.json" 2> "$tmp/node.err"; rc=$?
  if [ $rc -eq 1 ] && check_verdict "$tmp/node.json" node "$node"; then pass "slow node $node named, exit 1"; else fail "slow node $node (exit $rc)"; cat "$tmp/node.err" "$tmp/node.json"; fi
  "$C" heal "$node"
done

for pair in "$l1 $l2" "$l3 $l4"; do
  read -r x y <<< "$pair"
  "$C" slow "fsl-n$x" "fsl-n$y" 2> "$tmp/tc.err" || skip "tc htb/u32 is not available here: $(cat "$tmp/tc.err")"
  find_slow --json > "$tmp/link.json" 2> "$tmp/link.err"; rc=$?
  if [ $rc -eq 0 ] && check_verdict "$tmp/link.json" link "fsl-n$x" "fsl-n$y"; then pass "slow link fsl-n$x <-> fsl-n$y named"; else fail "slow link fsl-n$x <-> fsl-n$y (exit $rc)"; cat "$tmp/link.err" "$tmp/link.json"; fi
  "$C" heal "fsl-n$x"
done

"$C" slow "fsl-n$s1"
if find_slow > "$tmp/table.txt" 2>&1 && grep -q "^SLOW NODE  fsl-n$s1:" "$tmp/table.txt" && grep -q "pair measurements (every pair one at a time: 28)" "$tmp/table.txt"; then
  pass "table names the slow node and the count"
else
  fail "table does not name fsl-n$s1"; cat "$tmp/table.txt"
fi

finish
