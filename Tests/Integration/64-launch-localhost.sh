#!/usr/bin/env bash
# baton launch -H localhost:2: the ranks mpirun starts on its own node, which Open MPI 4.1's
# `--stdin all` sends nothing (see BatonProtocol/HeadChannel), hear their leases and signals
# from the head's file: a job longer than several lease periods completes with every sample
# exactly once and no rank fenced; Ctrl-C reaches the ranks' commands; what a SIGKILLed head
# started (mpirun, the ranks and their commands) is gone within about a lease. Needs no root.
set -uo pipefail
BUILD=${BATON_BUILD:?set BATON_BUILD to the build directory}
B=$BUILD/baton
T=$BUILD/baton-test-trainer
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
tmp=$(mktemp -d /tmp/baton-launch-64.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for f in "$tmp"/*/head.pid; do [ -s "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null; done
  for p in $(grep -lsa "BATON_ATTEMPT_TOKEN=$tmp/" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do kill -KILL "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; fails=$((fails + 1)); return 1; fi; }
wait_for() { local end=$((SECONDS + $1)); shift; until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }
left_of() { grep -lsa "BATON_ATTEMPT_TOKEN=$1#" /proc/[0-9]*/environ 2>/dev/null | grep -v "^/proc/$$/" | wc -l; }
H=(-H localhost:2 --heartbeat-timeout 2s --grace 2s)

# 1. Longer than four lease periods (2 s): 400 samples, 2 ranks, batch 2 = 100 steps of at
# least 100 ms each (the trainer sleeps --step-ms per step), so at least 10 s on any machine.
R=$tmp/long
timeout 120 "$B" launch "${H[@]}" --run-dir "$R" --shard-samples 400 -- "$T" --samples 400 --step-ms 100 > "$tmp/long.out" 2> "$tmp/long.err"
rc=$?
check "long: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/long.err"
secs=$(python3 -c "import json; r=json.load(open('$R/report.json')); print(round(r['attempts'][0]['seconds'], 1))" 2>/dev/null)
check "long: one attempt of ${secs:-?} s (> 8 s, four leases), completed" "grep -q 'attempt 1 on localhost (2 ranks): completed' '$tmp/long.err' && python3 -c 'import sys; sys.exit(not float(\"${secs:-0}\") > 8)'"
check "long: no rank fenced" "! grep -q fenced '$R'/logs/*.log"
check "long: exactly once" "grep -q '\"ok\": true' '$R/exactly-once.json'" || cat "$R/exactly-once.json" "$R/checkpoints/latest.json" 2>/dev/null
check "long: leases went to the head file" "[ \$(grep -c ' lease 1 ' '$R/attempts/attempt-1.head') -ge 8 ]"

# 2. Ctrl-C (SIGINT to the head): forwarded over the file to both ranks' commands.
R=$tmp/int
"$B" launch "${H[@]}" --run-dir "$R" -- sh -c 'trap "echo caught SIGINT; exit 0" INT; echo up; while :; do sleep 0.1; done' \
  > "$tmp/int.out" 2> "$tmp/int.err" &
pids+=($!); head=$!
check "int: both ranks up" "wait_for 30 bash -c '[ \$(grep -c \"up\$\" \"$tmp/int.out\") -eq 2 ]'"
kill -INT "$head"
wait "$head"; rc=$?
check "int: exit 130" "[ $rc -eq 130 ]"
check "int: each rank's command caught SIGINT" "[ \$(grep -c 'caught SIGINT' '$tmp/int.out') -eq 2 ]" || cat "$tmp/int.out"
check "int: nothing left" "wait_for 10 bash -c '[ \$(grep -lsa \"BATON_ATTEMPT_TOKEN=$R#\" /proc/[0-9]*/environ 2>/dev/null | wc -l) -eq 0 ]'"

# 3. The head SIGKILLed: mpirun's guard kills mpirun and every process of the attempt, the
# ranks' commands among them (without the guard the ranks would fence after a lease, and
# mpirun would live on).
R=$tmp/kill
"$B" launch "${H[@]}" --run-dir "$R" -- sh -c 'echo up; exec sleep 60' > "$tmp/kill.out" 2> "$tmp/kill.err" &
pids+=($!); head=$!
check "kill: both ranks up" "wait_for 30 bash -c '[ \$(grep -c \"up\$\" \"$tmp/kill.out\") -eq 2 ]'"
kill -KILL "$head"
t0=$SECONDS
check "kill: both ranks' commands gone ($((SECONDS - t0)) s)" "wait_for 15 bash -c '! pgrep -f \"^sleep 60\$\" -P \"\$(pgrep -d, -f -- \"exec --run-dir $R \" || echo 1)\" >/dev/null'"
check "kill: every process of the attempt gone ($((SECONDS - t0)) s)" "wait_for 15 bash -c '[ \$(grep -lsa \"BATON_ATTEMPT_TOKEN=$R#\" /proc/[0-9]*/environ 2>/dev/null | wc -l) -eq 0 ]'"
wait "$head" 2>/dev/null
echo "$fails failed"
[ "$fails" -eq 0 ]
