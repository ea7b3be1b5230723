#!/usr/bin/env bash
# 40-grid-local-handoff: `baton grid` on --local 3 with 2 MPI ranks per node; one node is
# killed mid-config (every process of its session, SIGKILL) and another is hung (SIGSTOP).
# Checks: every config done exactly once (one completion each), the lost configs resumed
# from their checkpoints on other nodes, every other config's attempt count is 1.
# Needs: $BATON_BUILD/baton, mpirun, python3. Bounded: about 45 s. A config runs 60 steps of
# 0.1 s: long enough that the kills land in the configs they aim at on a loaded machine
# (with 30, a kill sometimes came after local-2's config had ended: "SIGSTOP to 0 processes").
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_build
make_tmp
# The first failure ends the test, with the head's output.
abort() { echo "FAILED: $*"; echo "--- head output:"; cat "$tmp/head.out" || true; exit 1; }

# A trainer that checkpoints: rank 0 counts steps in $BATON_CHECKPOINT_DIR/step (replaced
# atomically) and resumes from there; every rank reports metrics; rank 0 notes each
# completed run.
cat > "$tmp/trainer.sh" <<'SH'
#!/bin/sh
cd "$BATON_CHECKPOINT_DIR" || exit 9
rank=${OMPI_COMM_WORLD_RANK:-0}
# Checkpoint: the step count in `step`, replaced atomically (a temp file in this directory,
# then mv = rename(2)). A node crash is a SIGKILL that can land anywhere; `echo $step > step`
# truncates first, so a kill there left an empty checkpoint that the next attempt read as ''.
# No `step` yet is legitimate (nothing saved); anything but a whole number is refused.
step=0
if [ -e step ]; then
  step=$(cat step) || exit 8
  case $step in ''|*[!0-9]*) echo "trainer: checkpoint $PWD/step holds '$step', not a step count" >&2; exit 8 ;; esac
fi
save_step() { echo "$1" > ".step.tmp.$$" && mv -f ".step.tmp.$$" step; }
[ "$rank" = 0 ] && echo "resume=$BATON_RESUME attempt=$BATON_ATTEMPT start=$step"
while [ "$step" -lt 60 ]; do
  step=$((step + 1))
  if [ "$rank" = 0 ]; then save_step "$step" || exit 8; fi
  echo "{\"step\": $step, \"score\": $1}" >> "$BATON_METRICS"
  sleep 0.1
done
[ "$rank" = 0 ] && echo "$BATON_ATTEMPT" >> completions
exit 0
SH
chmod +x "$tmp/trainer.sh"
cat > "$tmp/spec.yaml" <<YAML
command: [$tmp/trainer.sh, "{score}"]
parameters:
  score: {range: [1, 7]}
ranks_per_node: 2
objective: {metric: score, mode: max}
YAML

"$B" grid "$tmp/spec.yaml" --local 3 --run-dir "$tmp/run" --heartbeat-timeout 2s --cool-down 600s \
  > "$tmp/head.out" 2>&1 &
head_pid=$!
bg_pid --term "$head_pid"

# Wait (bounded) until local-1 and local-2 each run a config, then crash one and hang the other.
for _ in $(seq 100); do
  n=$("$B" grid status "$tmp/run" 2>/dev/null | awk '$1 ~ /^local-[12]$/ && $7 ~ /^[0-9]+$/' | wc -l || true)
  [ "$n" -eq 2 ] && break
  sleep 0.1
done
[ "$n" -eq 2 ] || abort "configs did not start on local-1 and local-2"
sleep 1  # let them checkpoint a few steps (workload, not synchronisation)
"$B" grid kill-node "$tmp/run" local-1 --signal KILL --down-for 600s
"$B" grid kill-node "$tmp/run" local-2 --signal STOP --down-for 600s

for _ in $(seq 1200); do kill -0 "$head_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$head_pid" 2>/dev/null && abort "the grid did not finish within 120 s"
wait "$head_pid" || abort "baton grid exited $?"

"$B" grid results "$tmp/run" --json > "$tmp/results.json"
python3 - "$tmp" <<'PY' || abort "results check"
import json, sys, os
work = sys.argv[1]
rows = json.load(open(f"{work}/results.json"))
assert len(rows) == 6, rows
assert all(r["status"] == "done" for r in rows), rows
moved = [r for r in rows if r["handed_off"]]
assert len(moved) == 2, f"expected two handed-off configs, got {moved}"
for r in moved:
    assert r["attempts"] == 2 and r["resumed"], r
    assert r["nodes"][0][0] in ("local-1", "local-2") and r["nodes"][1][0] == "local-0", r
    log = open(f"{work}/run/configs/{r['id']}/attempt-2.log").read()
    # Rank lines come tagged node:rank, as on every executor.
    said = [l.split(" ", 1)[1] for l in log.splitlines() if " resume=" in l][0]
    assert said.startswith("resume=1 attempt=2") and int(said.split("start=")[1]) > 0, said
for r in rows:
    if not r["handed_off"]:
        assert r["attempts"] == 1, r
    done = open(f"{work}/run/configs/{r['id']}/checkpoint/completions").read().split()
    assert len(done) == 1, (r["id"], done)
assert [r["params"]["score"] for r in rows] == [6, 5, 4, 3, 2, 1], "sorted by the objective, best first"
print("ok: 6 configs done once each; crashed and hung nodes' configs resumed on local-0")
PY
# Whichever signal came first: the node's agent ending, mpirun losing its daemon while it
# runs, or mpirun naming the lost daemon in its output as it exits (seen under load).
grep -Eq "node local-1 lost: (its rsh agent .* ended|mpirun lost communication|mpirun reported the node's daemon lost)" "$tmp/head.out" || abort "no crash line"
grep -q "node local-2 lost: heartbeat timeout" "$tmp/head.out" || abort "no hang line"
# The run's picture: both lost nodes and both hand-offs drawn.
"$B" report "$tmp/run" --svg "$tmp/run/report.svg" > /dev/null || abort "report --svg exited $?"
"$root/Tests/Integration/trainers/check-report-svg.sh" "$tmp/run/report.svg" 2 2 0 || abort "report.svg"
# The same in the terminal: `status --watch` on the ended run prints once, with its timeline.
NO_COLOR=1 COLUMNS=100 timeout 20 "$B" status "$tmp/run" --watch > "$tmp/status.txt" || abort "status --watch exited $?"
for n in local-1 local-2; do grep -Eq "^$n .*X" "$tmp/status.txt" || { cat "$tmp/status.txt"; abort "status --watch: no X on $n's lane"; }; done
[ "$(grep -c ' handed off local-[12] → ' "$tmp/status.txt")" -eq 2 ] || { cat "$tmp/status.txt"; abort "status --watch: not 2 hand-offs listed"; }
if ps -eo stat,args | grep -v grep | grep -q "$tmp"; then ps -eo pid,stat,args | grep -v grep | grep "$tmp"; abort "processes left behind"; fi
finish
