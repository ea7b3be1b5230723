#!/usr/bin/env bash
# baton launch inside a real Slurm allocation (scripts/slurm-bed: slurmctld, 3 slurmd in
# network namespaces, munged), where mpirun starts its daemons with one srun step.
# Checks: the environment matrix for salloc -N3 --ntasks-per-node=2 (hosts taken from
# SLURM_JOB_NODELIST and said so); one node crashed (every process of it, slurmd too),
# cut off (link down) and hung (SIGSTOP) mid-launch: the job restarts exactly once on the
# 2 survivors, whose new srun step starts (it used to pend behind the dead step, and the
# survivors were then called lost), and completes with every sample exactly once.
# Prints, per fault, fault -> restart for Baton and fault -> DOWN for Slurm itself
# (SlurmdTimeout 10 s). Then Examples/slurm/launch.sbatch requeued mid-run: the requeued
# run does `launch --resume` and completes, every sample exactly once. Needs root and the Slurm packages; otherwise SKIP (exit 77).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root "needs root for network namespaces and slurmd"
need_build
make_tmp
# No process of run $1 left anywhere on this machine (every process of an attempt carries its token).
nothing_left() { wait_for 20 bash -c "[ \$(grep -lsa 'BATON_ATTEMPT_TOKEN=$1#' /proc/[0-9]*/environ 2>/dev/null | wc -l) -eq 0 ]"; }
# No rank (wrapper or command) of run $1 left. A cut-off or hung node's Open MPI daemon
# lives on until Slurm ends its step, which it does some 20 s after the node is back
# (measured); its ranks have fenced themselves long before.
no_ranks_left() {
  wait_for 20 bash -c "for p in \$(grep -lsa 'BATON_ATTEMPT_TOKEN=$1#' /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
    grep -qa -e baton-exec -e baton-test-trainer /proc/\$p/cmdline 2>/dev/null && exit 1; done; exit 0"
}
# salloc's options for every test job: --no-kill, or Slurm ends the whole allocation (and
# baton launch with it) when it declares the lost node DOWN.
A=(salloc -N3 --ntasks-per-node=2 --no-kill --quiet)

slurm_up 3
cat "$tmp/up.out"

# 1. Environment matrix from salloc's variables.
R=$tmp/env
timeout 60 "${A[@]}" "$B" launch --run-dir "$R" --heartbeat-timeout 3s --grace 2s -- \
  sh -c 'echo "ENV $RANK $LOCAL_RANK $NODE_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $NNODES $MASTER_ADDR $BATON_NODE $(hostname)"' \
  > "$tmp/env.out" 2> "$tmp/env.err"
check "env: exit 0" "[ $? -eq 0 ]" || tail -20 "$tmp/env.err"
check "env: says where the hosts came from" "grep -q 'hosts from SLURM_JOB_NODELIST=sl\[1-3\] (tasks per node 2(x3)): sl1:2,sl2:2,sl3:2' '$tmp/env.err'"
for r in 0 1 2 3 4 5; do
  n=$((r / 2 + 1)); l=$((r % 2))
  check "env: rank $r on sl$n" "grep -qx 'sl$n:$r ENV $r $l $((n - 1)) 6 2 3 sl1 sl$n sl$n' '$tmp/env.out'"
done
check "env: srun step overlaps, excludes nothing" "grep -q '\"--overlap\"' '$R/attempts/attempt-1.plan.json'"
check "env: nothing left" "nothing_left '$R'"

# 2-4. One node lost three ways; the job restarts once on the survivors and completes.
figures=()
for how in crash partition hang; do
  R=$tmp/$how
  ( timeout 120 "${A[@]}" "$B" launch --run-dir "$R" --heartbeat-timeout 3s --grace 2s \
      --shard-samples 300 --shard-shuffle --shard-seed 7 -- "$T" --samples 300 --step-ms 40 > "$tmp/$how.out" 2> "$tmp/$how.err"
    echo $? > "$tmp/$how.rc" ) &
  bg_pid $!
  wait_for 60 grep -qs '"consumed"' "$R/metrics/attempt-1/rank-0.jsonl" || echo "  (no consumed line before the fault)"
  t_fault=$(date +%s.%N)
  "$S" "$how" sl3
  # Slurm's own verdict on the same fault, measured alongside.
  ( "$S" wait-state sl3 down 60 > "$tmp/$how.down" 2>&1 ) &
  down_pid=$!
  wait_for 120 test -s "$tmp/$how.rc"
  t_restart=$(grep '"event":"restart"' "$R/events.jsonl" | sed -n 's/.*"time":\([0-9.]*\).*/\1/p')
  check "$how: exit 0" "[ \"\$(cat '$tmp/$how.rc')\" = 0 ]" || grep -v '^sl[0-9]:' "$tmp/$how.err" | tail -20
  check "$how: exactly one restart, on sl1,sl2" "[ \$(grep -c '\"event\":\"restart\"' '$R/events.jsonl') -eq 1 ] && grep -q '\"event\":\"restart\".*\"lost\":\[\"sl3\"\].*\"survivors\":\[\"sl1\",\"sl2\"\]' '$R/events.jsonl'"
  check "$how: attempt 2 completed on sl1,sl2" "grep -q 'attempt 2 on sl1,sl2 (4 ranks): completed' '$tmp/$how.err'"
  check "$how: its srun excluded sl3" "grep -q '\"--overlap --exclude=sl3\"' '$R/attempts/attempt-2.plan.json'"
  check "$how: exactly once across attempts" "grep -q '\"ok\": true' '$R/exactly-once.json' && grep -q '\"attempts\": 2' '$R/exactly-once.json'" || cat "$R/exactly-once.json" "$R/checkpoints/latest.json" 2>/dev/null
  if [ "$how" != crash ]; then
    check "$how: detected by heartbeat timeout" "grep -q '\"how\":\"heartbeat timeout\"' '$R/events.jsonl'"
  fi
  wait $down_pid
  slurm_down=$(cat "$tmp/$how.down")
  baton=$(python3 -c "print(round(${t_restart:-0} - $t_fault, 2))")
  figures+=("$how: baton restarted on the survivors ${baton} s after the fault; Slurm marked sl3 DOWN after ${slurm_down} s")
  "$S" heal sl3
  if [ "$how" = crash ]; then
    check "$how: nothing of the job left" "nothing_left '$R'"
  else
    check "$how: no rank of the job left" "no_ranks_left '$R'"
    check "$how: sl3's ranks fenced themselves" "wait_for 20 bash -c \"[ \\\$(grep -l 'fenced' '$R'/logs/sl3.*.log 2>/dev/null | wc -l) -eq 2 ]\""
  fi
  check "$how: sl3 back in service" "'$S' wait-state sl3 idle 40 >/dev/null"
done
for f in "${figures[@]}"; do echo "  $f"; done

# 5. sbatch of Examples/slurm/launch.sbatch, `scontrol requeue` mid-run: the requeued run of
# the script resumes the launch (its command line from RUN/launch.json, the new allocation's
# nodes, the consumed count) and completes in its first attempt (the batch node's ranks,
# which mpirun starts itself, hear their leases: BatonProtocol/HeadChannel); every sample
# exactly once over both runs. Slurm holds a
# requeued job ~2 min (Reason=BeginTime, see 59): lifted with `scontrol update StartTime=now`.
R=$tmp/batch
job=$(cd "$tmp" && BATON=$B sbatch --parsable -o "$tmp/job.out" "$root/Examples/slurm/launch.sbatch" "$R" \
  "$T" --samples 1800 --step-ms 40 2>"$tmp/sbatch.err")
check "batch: sbatch accepted" "[ -n '$job' ]" || cat "$tmp/sbatch.err"
wait_for 60 grep -qs '"consumed"' "$R/metrics/attempt-1/rank-0.jsonl"
check "batch: training under way" "[ -s '$R/metrics/attempt-1/rank-0.jsonl' ]" || tail -20 "$tmp/job.out"
scontrol requeue "$job"
t_requeue=$(date +%s.%N)
pending() { scontrol show job "$job" 2>/dev/null | grep -q 'JobState=PENDING'; }
check "batch: requeued job pending" "wait_for 30 pending"
scontrol update JobId="$job" StartTime=now
gone() { [ -z "$(squeue -h -j "$job" 2>/dev/null)" ]; }
check "batch: requeued run finished" "wait_for 90 gone" || { scontrol show job "$job"; tail -20 "$tmp/job.out"; }
check "batch: the second run resumed the launch" "grep -q 'launch.sbatch: job $job run 1' '$tmp/job.out' && grep -q 'resuming after attempt 1' '$tmp/job.out'" || tail -20 "$tmp/job.out"
check "batch: completed by attempt 2, exactly once over both runs" "grep -q '\"result\" : \"completed\"' '$R/report.json' && grep -q '\"ok\": true' '$R/exactly-once.json' && grep -q '\"attempts\": 2' '$R/exactly-once.json'" || { cat "$R/exactly-once.json"; tail -20 "$tmp/job.out"; }
grep -E '^  attempt [0-9]+ on' "$tmp/job.out" | sed 's/^/  batch:/'

check "batch: attempt 2 resumed from the consumed count" "grep -q 'attempt 2: .* resuming at consumed [1-9]' '$R'/logs/sl1.0.log"
t_end=$(python3 -c "import json; print([e for e in map(json.loads, open('$R/events.jsonl')) if e['event'] == 'attempt-start' and e['attempt'] == 2][0]['time'])" 2>/dev/null)
[ -n "$t_end" ] && echo "  requeue -> resumed attempt started: $(python3 -c "print(round($t_end - $t_requeue, 1))") s (with the BeginTime hold lifted at once)"
check "batch: nothing left" "nothing_left '$R'"

finish
