#!/usr/bin/env bash
# 69-hang: a rank alive but making no progress is found, named with its stacks, and healed.
#  a. Real client: Examples/pytorch/train.py (Debian's torch, DDP on gloo) under `launch --local 2
#     --nproc-per-node 2`, rank 3 asleep after its 5th step in attempt 1 (--fault hang:3:5; the
#     others wait in the gradient all_reduce, every wrapper keeps beating): a hang is judged with
#     the learnt budget (--hang-timeout auto), rank 3 and local-1 named, every rank's stacks
#     saved (rank 3's in time.sleep, the others' in backward), restarted, completed, every
#     sample exactly once, replicas equal, nothing left.
#  b. A collective only rank 0 calls (--fault mismatch:0:5): rank 0 named from the stacks.
#  c. A marked evaluation phase 100 steps long (5 s) with --hang-timeout 2s: no hang; the
#     same pause unmarked: a hang (--on-hang fail: exit 4).
#  d. No change to the trainer: a shell loop whose progress is its output (--progress-pattern);
#     rank 1 stops printing: named, its stacks taken by a stack tool (eu-stack).
#  e. A straggler: once the DDP job steps, every process of simulated node local-1 goes into a
#     cgroup with a CPU quota of 20%; a straggler event names a rank of local-1 within 40 s
#     (window + sustain: 20 s), with its score; local-0's ranks never.
# Needs python3-torch for a and b: missing as root it FAILS, else SKIP. Bounded: about 90 s.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TRAIN=$root/Examples/pytorch/train.py
CHECK=$root/Tests/Integration/trainers/check_pytorch_run.py
PHASE=$root/Tests/Integration/trainers/phase_trainer.py
unset PYTHONPATH
need_torch
need_build
make_tmp
on_exit kill_env "BATON_ATTEMPT_TOKEN=$tmp/"
on_exit kill_sessions
nothing_left() { [ -z "$(env_pids "BATON_ATTEMPT_TOKEN=$tmp/")" ]; }
event() { "$PY" -c 'import json,sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["event"] == sys.argv[2]: print(json.dumps(e)); break' "$1" "$2"; }
field() { "$PY" -c 'import json,sys; v=json.loads(sys.argv[1]) if sys.argv[1] else {}; print(v.get(sys.argv[2], ""))' "$1" "$2"; }
N=1438
ddp() { # ddp NAME FAULT [LAUNCH ARGS...]: train.py, 2 epochs, in run $tmp/NAME
  local name=$1 fault=$2; shift 2
  timeout 150 "$B" launch --local 2 --nproc-per-node 2 --run-dir "$tmp/$name" --heartbeat-timeout 5s --grace 3s \
    --shard-samples $N --shard-shuffle --shard-seed 7 "$@" -- "$PY" "$TRAIN" --epochs 2 --quiet --fault "$fault" \
    > "$tmp/$name.out" 2> "$tmp/$name.err"
}

# a. rank 3 asleep.
R=$tmp/sleep
ddp sleep hang:3:5
rc=$?
h=$(event "$R/events.jsonl" hang)
check "sleep: exit 0 (restarted, completed)" "[ $rc -eq 0 ]" || tail -20 "$tmp/sleep.err"
check "sleep: a hang event names rank 3 on local-1" "[ \"$(field "$h" rank) $(field "$h" node)\" = '3 local-1' ]" || echo "$h"
check "sleep: the hang was judged by the learnt budget (5 x p99, floor 10 s)" "grep -q 'p99' <<< '$(field "$h" rule)'"
sleep_line=$(grep -n 'time.sleep(3600)' "$TRAIN" | cut -d: -f1)
check "sleep: rank 3's stack is in the sleeping line ($sleep_line)" "grep -q 'train.py\", line $sleep_line in main' '$R/attempts/attempt-1.stacks/rank-3.txt'"
in_backward() { local r; for r in 0 1 2; do grep -q 'in backward' "$R/attempts/attempt-1.stacks/rank-$r.txt" || return 1; done; }
check "sleep: ranks 0-2's stacks wait in backward" in_backward
check "sleep: attempt 2 restarted on the same nodes" "grep -q '\"event\":\"restart\".*\"survivors\":\[\"local-0\",\"local-1\"\]' '$R/events.jsonl'"
"$PY" "$CHECK" "$R/checkpoints" 2 > "$tmp/sleep.check" 2>&1
check "sleep: every sample exactly once per epoch, replicas equal" "grep -q '\"ok\": true' '$tmp/sleep.check'" || cat "$tmp/sleep.check"
check "sleep: baton status shows the hang" "'$B' status '$R' | grep -q 'hung'"
stalled=$(field "$h" stalled)
echo "a. hang judged $stalled s after rank 3's last step; restart to completion: see $R/events.jsonl"
check "sleep: nothing left" "wait_for 10 nothing_left"

# b. a collective only rank 0 calls.
R=$tmp/mismatch
ddp mismatch mismatch:0:5 --hang-timeout 5s
rc=$?
h=$(event "$R/events.jsonl" hang)
check "mismatch: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/mismatch.err"
check "mismatch: rank 0 named from the stacks, in all_reduce" "[ \"$(field "$h" rank)\" = 0 ] && grep -q all_reduce <<< '$(field "$h" frame)'" || echo "$h"
check "mismatch: nothing left" "wait_for 10 nothing_left"

# c. a long marked phase is no hang; unmarked it is.
R=$tmp/phase
timeout 60 "$B" launch --local 2 --run-dir "$R" --hang-timeout 2s -- "$PY" "$PHASE" 40 20 5 1 > "$tmp/phase.out" 2>&1
rc=$?
check "phase: a 5 s eval phase (100 steps long) with a 2 s budget: exit 0, no hang" "[ $rc -eq 0 ] && ! grep -q '\"event\":\"hang\"' '$R/events.jsonl'" || tail -5 "$tmp/phase.out"
R=$tmp/unmarked
timeout 60 "$B" launch --local 2 --run-dir "$R" --hang-timeout 2s --on-hang fail -- "$PY" "$PHASE" 40 20 5 0 > "$tmp/unmarked.out" 2>&1
rc=$?
check "unmarked: the same pause unmarked is a hang: exit 4, --on-hang fail" "[ $rc -eq 4 ] && grep -q '\"event\":\"hang\"' '$R/events.jsonl'" || tail -5 "$tmp/unmarked.out"

# d. progress from the output alone; stacks from a stack tool.
R=$tmp/pattern
timeout 60 "$B" launch --local 2 --run-dir "$R" --hang-timeout 2s --on-hang fail --progress-pattern 'step ([0-9]+)' -- \
  sh -c 'i=1; while [ $i -le 60 ]; do echo "step $i"; [ "$RANK" = 1 ] && [ $i = 5 ] && sleep 3600; sleep 0.05; i=$((i+1)); done' \
  > "$tmp/pattern.out" 2>&1
rc=$?
h=$(event "$R/events.jsonl" hang)
check "pattern: rank 1 named from its output alone, exit 4" "[ $rc -eq 4 ] && [ \"$(field "$h" rank)\" = 1 ]" || { echo "$h"; tail -5 "$tmp/pattern.out"; }
check "pattern: rank 1's stacks taken by eu-stack" "grep -q '^TID' '$R/attempts/attempt-1.stacks/rank-1.txt'"
check "pattern: nothing left" "wait_for 10 nothing_left"

# e. a straggler (root: a cgroup with a CPU quota; cgroup v2's cpu.max, else v1's cpu controller).
need_root "a CPU quota needs a cgroup (root)"
R=$tmp/straggler
cg=
if grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
  cg=/sys/fs/cgroup/baton-69-$$; mkdir "$cg" && echo "20000 100000" > "$cg/cpu.max"
elif [ -d /sys/fs/cgroup/cpu ]; then
  cg=/sys/fs/cgroup/cpu/baton-69-$$; mkdir "$cg" && echo 20000 > "$cg/cpu.cfs_quota_us"
fi
[ -n "$cg" ] || fatal "no cgroup CPU controller (v2 cpu.max or v1 cpu) to slow a node with"
on_exit rmdir "$cg" # after the processes in it are gone (on_exit runs in reverse order)
setsid timeout 120 "$B" launch --local 2 --nproc-per-node 2 --run-dir "$R" --heartbeat-timeout 5s --grace 3s -- \
  "$PY" "$TRAIN" --epochs 400 --quiet > "$tmp/straggler.out" 2>&1 &
head=$!
bg_pid "$head"
wait_for 60 grep -q 'first step' "$tmp/straggler.out" || fatal "straggler: the job never stepped"
t0=$(date +%s.%N)
for p in $(ps -s "$(cat "$R/local/local-1.sid")" -o pid=); do echo "$p" > "$cg/cgroup.procs" 2>/dev/null; done
wait_for 60 grep -q '"event":"straggler"' "$R/events.jsonl"
s=$(event "$R/events.jsonl" straggler)
check "straggler: a rank of local-1 named, with a score under 0.7" \
  "[ \"$(field "$s" node)\" = local-1 ] && python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.7 else 1)' '$(field "$s" score)'" || echo "$s"
echo "e. straggler named $(awk -v a="$t0" -v b="$(field "$s" time)" 'BEGIN { printf "%.1f", b - a }') s after the quota, score $(field "$s" score)"
kill -TERM "$head"; wait "$head"
check "straggler: local-0's ranks never named" "! grep '\"event\":\"straggler\"' '$R/events.jsonl' | grep -q '\"node\":\"local-0\"'"
check "straggler: nothing left" "wait_for 10 nothing_left"
finish
