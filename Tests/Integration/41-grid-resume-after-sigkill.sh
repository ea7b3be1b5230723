#!/usr/bin/env bash
# 41-grid-resume-after-sigkill: a detached `baton grid` head is killed with SIGKILL mid-grid;
# `baton grid --resume` finds the orphaned attempts, stops them and resumes them from their
# checkpoints, and does not rerun finished configs. Then `stop` on a second run stops a
# live head and `--resume` finishes it. No simulated node's TMPDIR is left behind.
# Needs: $BATON_BUILD/baton, python3. Bounded: about 30 s.
root=$(cd "$(dirname "$0")/../.." && pwd)
set -euo pipefail
baton=${BATON_BUILD:-.build/debug}/baton
work=$(mktemp -d)
cleanup() {
  local rc=$?
  for d in "$work"/run*; do
    [ -f "$d/grid.sqlite" ] && "$baton" grid stop "$d" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
# Simulated nodes' TMPDIRs made from here on must all be gone at the end, also the ones
# whose agents the resume killed (they never got to remove them).
touch "$work/t0"
fail() { echo "FAIL: $*"; for f in "$work"/*.out "$work"/run*/head.log; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }
head_pid_of() { python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select value from meta where key='head_pid'\").fetchone()[0])" "$1/grid.sqlite"; }
# The trainer: Tests/Integration/trainers/step-trainer.sh (atomic step checkpoint, resume, `completions`).
cat > "$work/spec.yaml" <<YAML
command: [$root/Tests/Integration/trainers/step-trainer.sh, loss, "{loss}", "{steps}", "0.1"]
parameters:
  loss: [0.5, 0.4, 0.3, 0.2, 0.1]
  steps: [40]
objective: {metric: loss, mode: min}
YAML

"$baton" grid "$work/spec.yaml" --local 2 --run-dir "$work/run" --detach > "$work/detach.out"
grep -q "running detached, head pid" "$work/detach.out" || fail "no detach message"
# Wait (bounded) for the first two configs to finish and two more to be running.
for _ in $(seq 150); do
  done_n=$("$baton" grid status "$work/run" 2>/dev/null | sed -n 's/^configs: \([0-9]*\) done, \([0-9]*\) running.*/\1 \2/p' || true)
  [ "$done_n" = "2 2" ] && break
  sleep 0.1
done
[ "$done_n" = "2 2" ] || fail "expected 2 done and 2 running, saw '$done_n'"
sleep 0.5  # the running ones checkpoint a few steps (workload)
head=$(head_pid_of "$work/run")
kill -KILL "$head"
# Gone, or a zombie nobody reaps (a container's pid 1 may not).
for _ in $(seq 50); do
  case "$(ps -o stat= -p "$head" 2>/dev/null)" in ""|Z*) break ;; esac
  sleep 0.1
done
"$baton" grid status "$work/run" | grep -q "no head running" || fail "status still sees a head"
# What the head started dies with it, before any --resume: every process of its attempts
# (mpirun, the rsh agents, Open MPI's daemons, wrappers, commands) is gone within the
# lease plus grace (the attempts' token marks each one).
left_of_run() { grep -ls "BATON_ATTEMPT_TOKEN=$work/run/" /proc/[0-9]*/environ 2>/dev/null | wc -l; }
for _ in $(seq 150); do [ "$(left_of_run)" -eq 0 ] && break; sleep 0.1; done
[ "$(left_of_run)" -eq 0 ] || fail "processes of the killed head's attempts still running: $(left_of_run)"
# The run views every kind shares: runs, status.
"$baton" runs "$work" | grep -Eq "^$work/run +grid +head lost +- +2/5 configs done" || fail "runs does not list the run as head lost: $("$baton" runs "$work")"
"$baton" status "$work/run" | grep -q "^state: head lost" || fail "status does not say head lost"

timeout 60 "$baton" grid --resume "$work/run" > "$work/resume.out" 2>&1 || fail "resume exited $?"
[ "$(grep -c 'orphaned on local' "$work/resume.out")" -eq 2 ] || fail "resume did not report 2 orphans"

"$baton" grid results "$work/run" --json > "$work/results.json"
python3 - "$work" <<'PY' || fail "results check"
import json, sys
work = sys.argv[1]
rows = json.load(open(f"{work}/results.json"))
assert [r["status"] for r in rows] == ["done"] * 5, rows
assert [r["params"]["loss"] for r in rows] == [0.1, 0.2, 0.3, 0.4, 0.5], "min objective first"
resumed = [r for r in rows if r["attempts"] == 2]
assert len(resumed) == 2 and all(r["resumed"] and r["handed_off"] for r in resumed), rows
for r in rows:
    assert len(open(f"{work}/run/configs/{r['id']}/checkpoint/completions").read().split()) == 1, r
    if r["attempts"] == 1:
        assert not r["resumed"], r
for r in resumed:
    # Rank lines come tagged node:rank, as on every executor.
    said = [l.split(" ", 1)[1] for l in open(f"{work}/run/configs/{r['id']}/attempt-2.log").read().splitlines() if " resume=" in l][0]
    assert said.startswith("resume=1 attempt=2") and int(said.split("start=")[1]) > 0, said
print("ok: resumed 2 orphaned configs from checkpoints, 3 ran once")
PY
# logs: a resumed config's two attempts, each line labelled config#attempt@node.
cfg=$(python3 -c "import json,sys; print([r['id'] for r in json.load(open(sys.argv[1])) if r['attempts'] == 2][0])" "$work/results.json")
"$baton" logs "$work/run" --config "$cfg" > "$work/logs.out"
grep -q "^$cfg#1@local-[01] " "$work/logs.out" && grep -q "^$cfg#2@local-[01] .*resume=1 attempt=2" "$work/logs.out" \
  || fail "logs --config $cfg lacks its attempts: $(head -5 "$work/logs.out")"
"$baton" runs "$work/run" | grep -Eq "^$work/run +grid +done" || fail "runs does not list the resumed run as done"

# stop: a live head stops, running attempts become pending, --resume finishes the grid.
"$baton" grid "$work/spec.yaml" --local 2 --run-dir "$work/run2" --detach > /dev/null
for _ in $(seq 100); do
  r=$("$baton" grid status "$work/run2" 2>/dev/null | sed -n 's/^configs: [0-9]* done, \([0-9]*\) running.*/\1/p' || true)
  [ "$r" = 2 ] && break
  sleep 0.1
done
"$baton" grid stop "$work/run2" > "$work/stop.out" || fail "stop exited $?"
grep -q "stopped the head" "$work/stop.out" || fail "stop did not stop the head"
"$baton" grid status "$work/run2" | grep -q " 0 running" || fail "attempts still running after stop"
"$baton" runs "$work/run2" | grep -Eq "^$work/run2 +grid +stopped" || fail "runs does not list the stopped run as stopped"
timeout 60 "$baton" grid --resume "$work/run2" --quiet > "$work/resume2.out" 2>&1 || fail "second resume exited $?"
"$baton" grid status "$work/run2" | grep -q "^configs: 5 done" || fail "second run not finished"
left=$(find /tmp -maxdepth 1 -name 'baton-node-*' -newer "$work/t0" 2>/dev/null || true)
[ -z "$left" ] || fail "simulated nodes' TMPDIRs left behind: $left"
echo "PASS 41-grid-resume-after-sigkill"
