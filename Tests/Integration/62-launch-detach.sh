#!/usr/bin/env bash
# baton launch --detach: started inside a tmux session (a server of this test's own socket)
# that is then killed, the head lives on in a session of its own, finishes the job (every
# sample exactly once) and leaves RUN/head.log and RUN/head.pid; a second head on a run
# whose head is alive is refused (exit 2); a SIGKILLed head's attempt fences itself, and
# `launch --resume` (detached) completes it, every sample exactly once over both heads;
# `baton runs`, `status` and `logs -f` follow it. Needs no root; skips without tmux.
set -uo pipefail
BUILD=${BATON_BUILD:?set BATON_BUILD to the build directory}
B=$BUILD/baton
T=$BUILD/baton-test-trainer
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
command -v tmux > /dev/null || { echo "SKIP: tmux not installed (scripts/setup installs it)"; exit 77; }
tmp=$(mktemp -d /tmp/baton-launch-62.XXXXXX)
sock=baton-62-$$
cleanup() {
  tmux -L "$sock" kill-server 2>/dev/null
  for f in "$tmp"/*/head.pid; do [ -s "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
  for f in "$tmp"/*/local/*.sid; do [ -f "$f" ] && pkill -KILL -s "$(cat "$f")" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; fails=$((fails + 1)); return 1; fi; }
wait_for() { # wait_for SECONDS CMD...
  local end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done
}
gone() { [ "$(pgrep -f -- "$1" | wc -l)" -eq 0 ]; } # no process with $1 in its argv (pgrep skips itself)
alive() { [ -s "$tmp/r/head.pid" ] && kill -0 "$(cat "$tmp/r/head.pid")" 2>/dev/null; }

R=$tmp/r
tmux -L "$sock" -f /dev/null new-session -d -s t "'$B' launch --local 2 --nproc-per-node 2 --run-dir '$R' --heartbeat-timeout 3s --grace 2s --shard-samples 200 --detach -- '$T' --samples 200 --step-ms 40 > '$tmp/launch.out' 2>&1; sleep 600"
wait_for 20 grep -qs 'running detached' "$tmp/launch.out"
check "detach: says it runs detached, and where" "grep -q 'run dir: $R' '$tmp/launch.out' && grep -q 'stop:    kill -TERM' '$tmp/launch.out'"
wait_for 30 grep -qs '"consumed"' "$R"/metrics/attempt-1/rank-0.jsonl
check "detach: training under way" "[ -s '$R/metrics/attempt-1/rank-0.jsonl' ]"
tmux -L "$sock" kill-server
check "detach: head alive after its terminal is gone" "alive"
"$B" launch --local 2 --run-dir "$R" -- true > /dev/null 2> "$tmp/second.err"; rc=$?
check "second head refused: exit 2, says why" "[ $rc -eq 2 ] && grep -q 'is still running' '$tmp/second.err'"
wait_for 60 bash -c "! kill -0 \$(cat '$R/head.pid') 2>/dev/null"
check "detach: head ended" "! alive"
check "detach: completed, in head.log and report" "grep -q 'completed' '$R/head.log' && grep -q '\"exitCode\" : 0' '$R/report.json'"
check "detach: exactly once" "grep -q '\"ok\": true' '$R/exactly-once.json'" || cat "$R/exactly-once.json" "$R/checkpoints/latest.json" 2>/dev/null
left=$(pgrep -f -- "$R" | wc -l)
check "detach: nothing left" "[ $left -eq 0 ]"
"$B" runs "$tmp" > "$tmp/runs.out"
check "runs: lists the run as done" "grep -Eq '^$R +launch +done' '$tmp/runs.out'"

# A detached head SIGKILLed mid-run (by the pid in RUN/head.pid): its attempt fences itself
# (mpirun dies with the head, the wrappers' lease stops), nothing of the run is left.
R=$tmp/k
"$B" launch --local 2 --nproc-per-node 2 --run-dir "$R" --heartbeat-timeout 3s --grace 2s --shard-samples 1200 --detach -- \
  "$T" --samples 1200 --step-ms 40 > /dev/null
wait_for 30 grep -qs '"consumed"' "$R"/metrics/attempt-1/rank-0.jsonl
check "head SIGKILL: training under way" "[ -s '$R/metrics/attempt-1/rank-0.jsonl' ]"
kill -KILL "$(cat "$R/head.pid")"
t0=$SECONDS
wait_for 30 gone "$R"
check "head SIGKILL: every process of the attempt stopped itself ($((SECONDS - t0)) s)" "gone '$R'"
# Not only the ranks: mpirun, the rsh agents and Open MPI's daemons die with the head too,
# within the lease plus grace (5 s), without a --resume (the attempt's token marks each one).
token_left() { grep -ls "BATON_ATTEMPT_TOKEN=$1#" /proc/[0-9]*/environ 2>/dev/null | wc -l; }
wait_for 5 bash -c "[ \$(grep -ls 'BATON_ATTEMPT_TOKEN=$R#' /proc/[0-9]*/environ 2>/dev/null | wc -l) -eq 0 ]"
check "head SIGKILL: mpirun, agents and daemons gone too ($((SECONDS - t0)) s)" "[ \$(token_left '$R') -eq 0 ]"
"$B" status "$R" > "$tmp/status.out"
check "status: head lost, says how to resume" "grep -q '^state: head lost' '$tmp/status.out' && grep -q 'baton launch --resume $R' '$tmp/status.out'"
"$B" runs "$tmp" --json > "$tmp/runs.json"
check "runs --json: head lost" "/usr/bin/python3 -c 'import json,sys; r={x[\"path\"]: x for x in json.load(open(sys.argv[1]))}; sys.exit(r[sys.argv[2]][\"state\"] != \"head lost\")' '$tmp/runs.json' '$R'"

# --resume (detached this time) from another directory: the stored command line, the same
# nodes, the consumed count; logs -f follows it live and ends with it.
start=$(date +%s.%N)
(cd / && "$B" launch --resume "$R" --detach > "$tmp/resume.out" 2>&1); rc=$?
check "resume: detached head started (exit $rc)" "[ $rc -eq 0 ] && grep -q 'running detached' '$tmp/resume.out'"
"$B" logs "$R" -f --rank 0 > "$tmp/logs.out" 2>&1 &
logs_pid=$!
wait_for 60 grep -qs '"consumed"' "$R"/metrics/attempt-2/rank-0.jsonl
/usr/bin/python3 - "$start" "$R" <<'PY'
import json, os, sys, time
start, run = float(sys.argv[1]), sys.argv[2]
ev = [json.loads(l) for l in open(os.path.join(run, "events.jsonl"))]
res = [e for e in ev if e["event"] == "resume"]
a2 = [e for e in ev if e["event"] == "attempt-start" and e["attempt"] == 2]
print(f"  resume: command -> attempt 2 started {a2[0]['time'] - start:.1f} s, first resumed step by "
      f"{os.path.getmtime(os.path.join(run, 'metrics/attempt-2/rank-0.jsonl')) - start:.1f} s" if a2 else "  resume: no attempt 2")
PY
# While it runs: a line the rank writes reaches logs -f within a second.
n=$(grep -c '' "$R/logs/local-0.0.log")
shown() { [ "$(grep -c ^local-0:0 "$tmp/logs.out")" -ge "$n" ]; }
within_1s() { for _ in 1 2 3 4 5 6 7 8 9 10; do "$@" && return 0; sleep 0.1; done; "$@"; } # ten polls, 0.1 s apart
check "logs -f: rank 0's lines so far ($n) shown within 1 s" "within_1s shown"
wait_for 90 bash -c "! kill -0 \$(cat '$R/head.pid') 2>/dev/null"
check "resume: completed, attempt 1 reported as head lost" "grep -q '\"result\" : \"completed\"' '$R/report.json' && grep -q '\"outcome\" : \"head lost\"' '$R/report.json'"
"$B" launch report "$R" --json > "$tmp/store-report.json"; rc=$?
check "launch report --json: the store's report is report.json (exit $rc)" "[ $rc -eq 0 ] && /usr/bin/python3 -c 'import json,sys; a,b=(json.load(open(f)) for f in sys.argv[1:]); sys.exit(a != b or len(a[\"attempts\"]) != 2)' '$tmp/store-report.json' '$R/report.json'"
"$B" launch report "$R" > "$tmp/store-report.txt"; rc=$?
check "launch report: text, attempt 1 head lost (exit $rc)" "[ $rc -eq 0 ] && grep -q 'attempt 1 on .*head lost' '$tmp/store-report.txt' && grep -q '^baton launch: completed' '$tmp/store-report.txt'"
check "store: events.jsonl is the store's events table line for line, over both heads" "/usr/bin/python3 - '$R' <<'PY'
import sqlite3, sys
run = sys.argv[1]
db = sqlite3.connect(f'file:{run}/launch.sqlite?mode=ro', uri=True)
stored = [r[0] for r in db.execute('SELECT text FROM events ORDER BY id')]
lines = open(f'{run}/events.jsonl').read().splitlines()
kinds = [r[0] for r in db.execute('SELECT outcome FROM attempts ORDER BY number')]
sys.exit(not (stored == lines and 'resume' in ''.join(lines) and kinds == ['head lost', 'completed']))
PY"
check "resume: exactly once over both heads" "grep -q '\"ok\": true' '$R/exactly-once.json' && grep -q '\"attempts\": 2' '$R/exactly-once.json'" || cat "$R/exactly-once.json" "$R/checkpoints/latest.json" 2>/dev/null
check "resume: BATON_RESUME=1, from the consumed count" "grep -q 'attempt 2: .* resuming at consumed [1-9]' '$R/logs/local-0.0.log'"
check "logs -f: ended by itself when the run ended" "wait_for 10 bash -c '! kill -0 $logs_pid 2>/dev/null'"
check "logs -f: has the run's last line" "grep -q '^local-0:0 exactly-once' '$tmp/logs.out'"
"$B" launch --resume "$R" > "$tmp/again.out" 2>&1; rc=$?
check "resume of a completed run: exit 0, nothing rerun" "[ $rc -eq 0 ] && grep -q 'already completed' '$tmp/again.out' && [ ! -e '$R/attempts/attempt-3.plan.json' ]"
left=$(pgrep -f -- "$R" | wc -l)
check "resume: nothing left" "[ $left -eq 0 ]"
echo "$fails failed"
[ "$fails" -eq 0 ]
