#!/usr/bin/env bash
# 43-grid-testbed: `baton grid --hostfile` on the 3-node namespace test bed (scripts/cluster),
# each config attempt its own mpirun job under `baton exec`. A grid of 5 checkpointing
# configs, one node crashed / partitioned / hung mid-config (three runs). Checks: every config
# done exactly once (one completion each), the lost node's config resumed from its checkpoint
# on another node, every other config's attempt count is 1; the cut-off node's rank fenced
# itself, the hung one never ran to its end; nothing is left on any node. Then the head is
# SIGKILLed mid-grid and `--resume` finishes the grid with the same guarantee. Prints the time
# from failure to hand-off.
# Needs root (network namespaces); otherwise says SKIP and exits 77. Bounded: about 2 min.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root "needs root for network namespaces"
need_build
make_tmp
nodes_empty() { [ "$(for n in g43-n1 g43-n2 g43-n3; do "$C" pids "$n"; done | wc -l)" -eq 0 ]; }
# No wrapper or command left on any node. (After a partition, the cut-off node's Open MPI
# daemon outlives its killed mpirun: it never learns mpirun is gone. It runs nothing.)
no_ranks_left() {
  local n p left=0
  for n in g43-n1 g43-n2 g43-n3; do
    for p in $("$C" pids "$n"); do
      case "$(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null)" in orted*|"/bin/sh -c  orted"*|"") ;; *) left=$((left + 1)) ;; esac
    done
  done
  [ "$left" -eq 0 ]
}

# The trainer: Tests/Integration/trainers/step-trainer.sh (atomic step checkpoint, resume, `completions`).
cat > "$tmp/spec.yaml" <<YAML
command: [$root/Tests/Integration/trainers/step-trainer.sh, score, "{score}", "40", "0.15"]
parameters:
  score: {range: [1, 6]}
objective: {metric: score, mode: max}
YAML

cluster_up g43 10.77.43 3 || fatal "cluster up"
heal_all() { local n; for n in g43-n1 g43-n2 g43-n3; do "$C" heal "$n"; done; }
on_exit heal_all
"$C" hostfile 1 > "$tmp/hostfile"

# The config running on $2 in run $1 once it has checkpointed 5 steps (empty if none;
# fails, and so ends the caller's poll, on a checkpoint that is not a step count).
G="$root/Tests/Integration/trainers/grid_checks.py"
config_on() { python3 "$G" config-on "$1" "$2"; }
# found_on RUN NODE: true once `lost` holds that config, or config_on failed (ends the poll).
found_on() { lost=$(config_on "$1" "$2") || return 0; [ -n "$lost" ]; }

# The crash runs twice: all at once with the project's agent, and with the plainest agent
# (no word of its argv names the node once it runs) and the node's processes killed one by
# one in random order: a crash is the node's loss, never a failure of its config.
default_agent=$OMPI_MCA_plm_rsh_agent
plain_agent=$(BATON_CLUSTER_AGENT=plain "$C" env | sed -n "s/^export OMPI_MCA_plm_rsh_agent='\(.*\)'$/\1/p")
for how in crash crash-plain-random partition hang; do
  R=$tmp/$how
  if [ "$how" = crash-plain-random ]; then export OMPI_MCA_plm_rsh_agent=$plain_agent; else export OMPI_MCA_plm_rsh_agent=$default_agent; fi
  ( timeout 90 "$B" grid "$tmp/spec.yaml" --hostfile "$tmp/hostfile" --run-dir "$R" --heartbeat-timeout 3s --cool-down 600s \
      > "$tmp/$how.out" 2>&1
    echo $? > "$tmp/$how.rc" ) &
  bg_pid $!
  lost=
  wait_for 30 found_on "$R" g43-n2
  check "$how: a config runs on g43-n2" "[ -n '$lost' ]" || { cat "$tmp/$how.out"; continue; }
  failed_at=$(date +%s.%N)
  case $how in crash-plain-random) "$C" crash g43-n2 random ;; *) "$C" "$how" g43-n2 ;; esac
  wait_for 80 test -s "$tmp/$how.rc"
  check "$how: grid exit 0" "[ \"\$(cat '$tmp/$how.rc' 2>/dev/null)\" = 0 ]" || tail -30 "$tmp/$how.out"
  "$B" grid results "$R" --json > "$tmp/$how.json" 2>/dev/null
  check "$how: exactly once, resumed on a survivor, others untouched" "python3 '$G' exactly-once '$R' '$tmp/$how.json' '$lost' g43-n2 5 --sorted"
  handoff=$(python3 "$G" handoff-times "$R" "$failed_at")
  echo "  $how: $handoff"
  l1=$R/configs/$lost/mpirun/attempt-1/logs/g43-n2.0.log
  if [ "$how" = partition ]; then
    # Cut off, the wrapper runs on and fences itself when its lease runs out.
    "$C" heal g43-n2
    check "$how: g43-n2's rank fenced itself" "wait_for 20 grep -qs 'fenced' '$l1'"
  elif [ "$how" = hang ]; then
    # Woken after the hand-off, the wrapper fences at once (or its daemon, which finds
    # mpirun gone, stops it first): the old attempt never runs to its end.
    "$C" heal g43-n2
    check "$how: g43-n2's old attempt stopped after waking" "wait_for 20 nodes_empty && ! grep -q 'ended with exit code 0' '$l1'"
  fi
  if [ "$how" = partition ]; then
    check "$how: no rank left on any node" "wait_for 20 no_ranks_left"
  else
    check "$how: nothing left on any node" "wait_for 20 nodes_empty"
  fi
done

export OMPI_MCA_plm_rsh_agent=$default_agent
# The head SIGKILLed mid-grid, then `--resume`: the attempts it left are found and stopped,
# resume first from their checkpoints, and every config still completes exactly once.
R=$tmp/head
"$B" grid "$tmp/spec.yaml" --hostfile "$tmp/hostfile" --run-dir "$R" --heartbeat-timeout 3s --cool-down 600s \
  > "$tmp/head1.out" 2>&1 &
hp=$!
bg_pid "$hp"
lost=
wait_for 30 found_on "$R" g43-n2
check "head: a config runs on g43-n2" "[ -n '$lost' ]"
kill -KILL "$hp"
wait "$hp" 2>/dev/null
timeout 80 "$B" grid --resume "$R" > "$tmp/head2.out" 2>&1
check "head: --resume exit 0" "[ $? -eq 0 ]" || tail -30 "$tmp/head2.out"
check "head: orphans found and stopped" "[ \$(grep -c 'orphaned on g43-n.; stopped it' '$tmp/head2.out') -eq 3 ]"
"$B" grid results "$R" --json > "$tmp/head.json" 2>/dev/null
check "head: exactly once, the orphaned configs resumed, the others untouched" "python3 - '$R' '$tmp/head.json' <<'PY'
import json, sys
run, results = sys.argv[1:]
rows = json.load(open(results))
assert len(rows) == 5 and all(r['status'] == 'done' for r in rows), rows
for r in rows:
    done = open(f\"{run}/configs/{r['id']}/checkpoint/completions\").read().split()
    assert len(done) == 1, (r['id'], 'completions', done)
    assert r['attempts'] == (2 if r['params']['score'] <= 3 else 1), r
    assert r['resumed'] == (r['params']['score'] <= 3), r
PY"
check "head: nothing left on any node" "wait_for 20 nodes_empty"

finish
