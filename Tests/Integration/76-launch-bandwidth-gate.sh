#!/usr/bin/env bash
# baton launch --health-check bandwidth on the namespace test bed: 4 nodes, one slot each.
# (1) sp-n2's link throttled (`scripts/cluster slow`, 50mbit both ways): the fast checks pass
# everywhere, the bandwidth round among sp-n1..3 convicts sp-n2 with its figure, the spare
# sp-n4 takes its place (gated, then the new three measured again) and the job runs there;
# nothing ever starts on sp-n2. (2) A rate no link reaches (--health-min-bandwidth 1000GB/s):
# every proposal fails the floor, nothing starts, exit 4, the reasons said.
# Needs root (network namespaces, tc); otherwise says SKIP and exits 77.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root "needs root for network namespaces and tc"
need_cmd tc "tc (iproute2) missing"
need_build
make_tmp
gone() { [ -z "$(env_pids "BATON_ATTEMPT_TOKEN=$1#")" ]; }

cluster_up bw 10.77.76 4 || fatal "cluster up"
"$C" hostfile 1 > "$tmp/hostfile"
L=(launch --hostfile "$tmp/hostfile" --nnodes 3 --health-check bandwidth --health-timeout 20s)

# 1. A throttled node fails the bandwidth round; the spare takes its place. A floor of 10% of
# the median, not the default 50%: on this 2-core VM a healthy veth direction has measured at
# 0.16-0.38 of the median under load (31-bench-matrix-testbed.sh); the throttled one is at 1%.
"$C" slow bw-n2 || fatal "cluster slow"
R=$tmp/slow
t0=$SECONDS
timeout 90 "$B" "${L[@]}" --health-min-bandwidth 10% --run-dir "$R" -- sh -c 'echo "W $WORLD_SIZE $(hostname)"' > "$tmp/slow.out" 2> "$tmp/slow.err"
rc=$?
echo "launch with a throttled node: $((SECONDS - t0)) s"
grep -h 'health gate' "$tmp/slow.err" | sed 's/^/  /'
check "slow: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/slow.err"
check "slow: bw-n2 failed the bandwidth round, its figure and the floor said" \
  "grep -q 'health gate: bw-n2 failed: bandwidth [0-9.]* GB/s (the median of its links), under 10% of the other links. median [0-9.]* GB/s (--health-min-bandwidth 10%)' '$tmp/slow.err'" || cat "$tmp/slow.err"
check "slow: suspect in the store's events with that reason; the rounds recorded (bw-n1..3, then bw-n1,bw-n4,bw-n3)" \
  "grep -q '\"event\":\"node-suspect\".*\"node\":\"bw-n2\".*bandwidth' '$R/events.jsonl' \
   && grep '\"event\":\"gate\"' '$R/events.jsonl' | grep '\"bandwidth\":\"10%\"' | grep -q '\"nodes\":\[\"bw-n1\",\"bw-n2\",\"bw-n3\"\]' \
   && grep '\"event\":\"gate\"' '$R/events.jsonl' | grep '\"bandwidth\":\"10%\"' | grep -q '\"failed\":{}.*\"nodes\":\[\"bw-n1\",\"bw-n4\",\"bw-n3\"\]\|\"nodes\":\[\"bw-n1\",\"bw-n4\",\"bw-n3\"\].*\"failed\":{}'" \
  || grep '"event":"gate"\|suspect' "$R/events.jsonl"
check "slow: ran on bw-n1,bw-n4,bw-n3 with WORLD_SIZE 3, nothing on bw-n2" \
  "grep -q '\"event\":\"spare-in\".*\"node\":\"bw-n4\".*\"replacing\":\"bw-n2\"' '$R/events.jsonl' && [ \$(grep -c ' W 3 ' '$tmp/slow.out') -eq 3 ] && ! grep -q 'W 3 bw-n2' '$tmp/slow.out' && ! ls '$R'/logs/bw-n2.* > /dev/null 2>&1" \
  || cat "$tmp/slow.out"
"$B" status "$R" > "$tmp/status.txt" 2>&1
check "slow: status shows bw-n2 suspect with the figure" "grep -q 'bw-n2 *suspect .*bandwidth' '$tmp/status.txt'" || cat "$tmp/status.txt"
check "slow: nothing left" "wait_for 20 gone '$R'"
"$C" heal bw-n2

# 2. A floor no link reaches: every node fails it in turn, nothing starts, exit 4.
R=$tmp/floor
timeout 90 "$B" "${L[@]}" --health-min-bandwidth 1000GB/s --run-dir "$R" -- true > "$tmp/floor.out" 2> "$tmp/floor.err"
rc=$?
check "floor: exit 4, nothing started, the floor named" \
  "[ $rc -eq 4 ] && grep -q 'failed: bandwidth [0-9.]* GB/s (the median of its links), under the floor (--health-min-bandwidth 1000GB/s)' '$tmp/floor.err' && ! ls '$R'/logs/*.log > /dev/null 2>&1 && ! grep -q '\"event\":\"attempt-start\"' '$R/events.jsonl'" \
  || cat "$tmp/floor.err"
check "floor: nothing left" "wait_for 20 gone '$R'"

finish
