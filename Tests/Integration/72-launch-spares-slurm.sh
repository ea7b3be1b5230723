#!/usr/bin/env bash
# baton launch --nnodes inside a real Slurm allocation (scripts/slurm-bed, 4 slurmd in
# network namespaces): (1) salloc -N4, --nnodes 3, a node crashed mid-run: the spare is the
# allocation's fourth node, WORLD_SIZE stays 6, every sample exactly once; (2) a node of the
# allocation drained (`scontrol update state=drain`) before the launch: the health gate
# refuses it from sinfo's word, it is never started on, the spare runs in its place.
# Needs root and the Slurm packages; otherwise SKIP (exit 77).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root "needs root for network namespaces and slurmd"
need_build
make_tmp
nothing_left() { wait_for 20 bash -c "[ \$(grep -lsa 'BATON_ATTEMPT_TOKEN=$1#' /proc/[0-9]*/environ 2>/dev/null | wc -l) -eq 0 ]"; }
# --no-kill: Slurm would end the whole allocation when it declares the lost node DOWN.
A=(salloc -N4 --ntasks-per-node=2 --no-kill --quiet)

slurm_up 4

# 1. A crash: the allocation's spare takes the place.
R=$tmp/crash
( timeout 120 "${A[@]}" "$B" launch --nnodes 3 --run-dir "$R" --heartbeat-timeout 3s --grace 2s \
    --shard-samples 1200 -- "$T" --samples 1200 --step-ms 40 > "$tmp/crash.out" 2> "$tmp/crash.err"
  echo $? > "$tmp/crash.rc" ) &
bg_pid $!
wait_for 60 grep -qs '"consumed"' "$R/metrics/attempt-1/rank-0.jsonl" || fatal "no progress: $(tail -5 "$tmp/crash.err")"
check "crash: attempt 1 on sl1,sl2,sl3, sl4 a spare" "grep '\"event\":\"pool\"' '$R/events.jsonl' | head -1 | grep -q '\"active\":\[\"sl1\",\"sl2\",\"sl3\"\].*\"spare\":\[\"sl4\"\]'"
"$S" crash sl2
wait_for 100 test -s "$tmp/crash.rc"
check "crash: exit 0" "[ \"\$(cat '$tmp/crash.rc')\" = 0 ]" || grep -v '^sl[0-9]:' "$tmp/crash.err" | tail -20
check "crash: attempt 2 on sl1,sl4,sl3 with WORLD_SIZE 6" "grep -q 'attempt 2 on sl1,sl4,sl3 (6 ranks): completed' '$tmp/crash.err'"
check "crash: its srun excluded sl2" "grep -q '\"--overlap --exclude=sl2\"' '$R/attempts/attempt-2.plan.json'"
check "crash: exactly once" "grep -q '\"ok\": true' '$R/exactly-once.json' && grep -q '\"attempts\": 2' '$R/exactly-once.json'" || cat "$R/exactly-once.json"
check "crash: nothing left" "nothing_left '$R'"
"$S" heal sl2
"$S" wait-state sl2 idle 60 > /dev/null || echo "  (sl2 not idle again within 60 s)"

# 2. A drained node is never used.
R=$tmp/drain
timeout 90 "${A[@]}" sh -c 'scontrol update nodename=sl2 state=drain reason=baton-test && exec "$@"' sh \
  "$B" launch --nnodes 3 --run-dir "$R" --heartbeat-timeout 3s --grace 2s -- sh -c 'echo "W $WORLD_SIZE"' \
  > "$tmp/drain.out" 2> "$tmp/drain.err"
check "drain: exit 0" "[ $? -eq 0 ]" || tail -20 "$tmp/drain.err"
scontrol update nodename=sl2 state=resume > /dev/null 2>&1
check "drain: sl2 refused by the gate from Slurm's word" "grep -q 'health gate: sl2 failed: Slurm reports the node drain' '$tmp/drain.err'"
check "drain: nothing started on sl2, 6 ranks on sl1,sl4,sl3" "! ls '$R'/logs/sl2.* > /dev/null 2>&1 && [ \$(grep -c 'W 6' '$tmp/drain.out') -eq 6 ]"
check "drain: nothing left" "nothing_left '$R'"

finish
