#!/usr/bin/env bash
# 57-pytorch-testbed: Examples/pytorch/train.py (PyTorch DDP, gloo, env://) on the namespace
# test bed, 3 nodes x 1 rank, `baton launch --hostfile` with --shard-samples:
#  1. a worker node crashed (scripts/cluster crash pt57-n3) once the first checkpoint exists;
#     again with the plainest rsh agent and the node's processes killed one by one in random
#     order (a rank may die before its wrapper; the survivors' gloo may fail first);
#  2. the master node cut off (scripts/cluster partition pt57-n1: MASTER_ADDR's node, rank 0);
#  3. a hang on a remote node: rank 2 (pt57-n3) asleep after its 5th step (--fault hang:2:5):
#     judged a hang (--hang-timeout 5s), rank 2 on pt57-n3 named from the stacks the wrappers
#     collected on their nodes, restarted on the same 3 nodes, completed, exactly once.
# Each: the job restarts on the 2 survivors (after the partition the new master is pt57-n2),
# completes, every sample committed exactly once per epoch across attempts, the survivors'
# final weights equal; after a partition the cut-off rank fenced itself. Prints the time
# from the fault to the first resumed training step. Baton must name the faulty node lost.
# Needs root (network namespaces; SKIP, exit 77, without it) and python3-torch (missing as
# root: FAILED). Bounded: about 70 s here.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root "needs root for network namespaces"
TRAIN=$root/Examples/pytorch/train.py
CHECK=$root/Tests/Integration/trainers/check_pytorch_run.py
need_torch
need_build
unset PYTHONPATH
make_tmp
nodes=(pt57-n1 pt57-n2 pt57-n3)
node_pids() { for n in "${nodes[@]}"; do "$C" pids "$n"; done | wc -l; }
nothing_left() { [ "$(node_pids)" -eq 0 ] && [ "$(pgrep -f -- "exec --run-dir $1" | wc -l)" -eq 0 ]; }
now() { date +%s.%N; }
hashes() { grep -o 'weights-sha256 [0-9]* [0-9a-f]*$' "$1" | awk '{print $3}' | sort -u; }

cluster_up pt57 10.77.57 3 || fatal "cluster up"
"$C" hostfile 1 > "$tmp/hostfile"
EPOCHS=3

default_agent=$OMPI_MCA_plm_rsh_agent
plain_agent=$(BATON_CLUSTER_AGENT=plain "$C" env | sed -n "s/^export OMPI_MCA_plm_rsh_agent='\(.*\)'$/\1/p")
for how in crash crash-plain-random partition; do
  t=$(now)
  R=$tmp/$how
  if [ "$how" = partition ]; then victim=pt57-n1; survivors='"pt57-n2","pt57-n3"'
  else victim=pt57-n3; survivors='"pt57-n1","pt57-n2"'; fi
  if [ "$how" = crash-plain-random ]; then export OMPI_MCA_plm_rsh_agent=$plain_agent; else export OMPI_MCA_plm_rsh_agent=$default_agent; fi
  setsid timeout 150 "$B" launch --hostfile "$tmp/hostfile" --run-dir "$R" --heartbeat-timeout 3s --grace 2s \
    --shard-samples 1438 --shard-shuffle --shard-seed 7 -- "$PY" "$TRAIN" --epochs "$EPOCHS" --quiet --step-sleep 0.05 \
    > "$tmp/$how.out" 2> "$tmp/$how.err" &
  head=$!
  bg_pid "$head"
  wait_for 90 test -s "$R/checkpoints/checkpoint.pt"
  check "$how: first checkpoint written" "[ -s '$R/checkpoints/checkpoint.pt' ]"
  t_fault=$(now)
  case $how in crash-plain-random) "$C" crash "$victim" random ;; *) "$C" "$how" "$victim" ;; esac
  wait "$head"
  rc=$?
  [ "$how" = partition ] && "$C" heal "$victim"
  check "$how: exit 0" "[ $rc -eq 0 ]" || tail -30 "$tmp/$how.err" "$tmp/$how.out"
  # The node Baton named, and the new master (the first survivor), from the restart event.
  lost=$(grep '"event":"restart"' "$R/events.jsonl" | sed -n 's/.*"lost":\[\([^]]*\)\].*/\1/p' | tr -d '"')
  first=$(grep '"event":"restart"' "$R/events.jsonl" | sed -n 's/.*"survivors":\["\([^"]*\)".*/\1/p')
  check "$how: one restart, after losing one node" "[ \$(grep -c '\"event\":\"restart\"' '$R/events.jsonl') -eq 1 ] && [[ '$lost' =~ ^pt57-n[123]\$ ]]" \
    || { grep -E '"event":"(node-lost|restart|attempt-end)"' "$R/events.jsonl"; grep 'baton launch' "$tmp/$how.err"; }
  if [ "$lost" = "$victim" ]; then
    check "$how: restart on the survivors ($survivors)" "grep -q '\"event\":\"restart\".*\"lost\":\[\"$victim\"\].*\"survivors\":\[$survivors\]' '$R/events.jsonl'"
  else
    check "$how: Baton named the faulty node $victim lost (it named '$lost')" false
    grep -E '"event":"(node-lost|restart|attempt-end)"' "$R/events.jsonl"; grep 'baton launch' "$tmp/$how.err"
  fi
  check "$how: attempt 2 resumed from the checkpoint on 2 ranks, master $first" \
    "[ -n '$first' ] && grep -q '^$first:0 train.py: resumed from .* (attempt 2, 2 ranks)' '$tmp/$how.out'"
  "$PY" "$CHECK" "$R/checkpoints" "$EPOCHS" > "$tmp/$how.check" 2>&1
  check "$how: every sample committed exactly once per epoch across attempts, replicas equal" \
    "grep -q '\"ok\": true' '$tmp/$how.check' && grep -q '\"attempts\": \[1, 2\]' '$tmp/$how.check'" || cat "$tmp/$how.check"
  check "$how: the 2 survivors printed one weight hash" "[ \$(grep -c 'weights-sha256 [01] ' '$tmp/$how.out') -eq 2 ] && [ \$(hashes '$tmp/$how.out' | wc -l) -eq 1 ]"
  if [ "$how" = partition ]; then
    check "partition: detected by heartbeat timeout" "grep -q '\"how\":\"heartbeat timeout\"' '$R/events.jsonl'"
    check "partition: the cut-off rank fenced itself" "wait_for 20 grep -qs 'fenced' '$R/logs/pt57-n1.0.log'"
  fi
  check "$how: nothing left on any node" "wait_for 20 nothing_left '$R'"
  resumed=$(grep -o 'attempt 2 first step at [0-9.]*' "$tmp/$how.out" | awk '{print $NF}')
  restart=$(grep '"event":"restart"' "$R/events.jsonl" | sed -n 's/.*"time":\([0-9.]*\).*/\1/p')
  [ -n "$resumed" ] && [ -n "$restart" ] && awk -v f="$t_fault" -v s="$restart" -v r="$resumed" -v t="$t" -v e="$(now)" -v h="$how" \
    'BEGIN { printf "%s: restart %.2f s after the fault, first resumed step %.2f s after it; scenario %.1f s\n", h, s - f, r - f, e - t }'
done

# 3. a hang on a remote node.
export OMPI_MCA_plm_rsh_agent=$default_agent
R=$tmp/hang
timeout 150 "$B" launch --hostfile "$tmp/hostfile" --run-dir "$R" --heartbeat-timeout 3s --grace 2s --hang-timeout 5s \
  --shard-samples 1438 --shard-shuffle --shard-seed 7 -- "$PY" "$TRAIN" --epochs 2 --quiet --fault hang:2:5 \
  > "$tmp/hang.out" 2> "$tmp/hang.err"
rc=$?
check "hang: exit 0 (restarted, completed)" "[ $rc -eq 0 ]" || tail -20 "$tmp/hang.err"
check "hang: rank 2 on pt57-n3 named" "grep -q '\"event\":\"hang\".*\"node\":\"pt57-n3\".*\"rank\":2' '$R/events.jsonl'" \
  || grep '"event":"hang"' "$R/events.jsonl"
check "hang: every rank's stacks saved, rank 2's asleep in train.py" \
  "[ \$(ls '$R'/attempts/attempt-1.stacks/rank-*.txt | wc -l) -eq 3 ] && grep -q 'train.py\", line $(grep -n 'time.sleep(3600)' "$TRAIN" | cut -d: -f1) in main' '$R/attempts/attempt-1.stacks/rank-2.txt'"
check "hang: restarted on the same 3 nodes" "grep -q '\"event\":\"restart\".*\"survivors\":\[\"pt57-n1\",\"pt57-n2\",\"pt57-n3\"\]' '$R/events.jsonl'"
"$PY" "$CHECK" "$R/checkpoints" 2 > "$tmp/hang.check" 2>&1
check "hang: every sample exactly once per epoch, replicas equal" "grep -q '\"ok\": true' '$tmp/hang.check'" || cat "$tmp/hang.check"
check "hang: nothing left on any node" "wait_for 20 nothing_left '$R'"

finish
