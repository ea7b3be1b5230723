#!/usr/bin/env bash
# baton launch --resume of a run with spares, on simulated nodes (--local 3 --nnodes 2):
# local-1 crashes in attempt 1, attempt 2 runs on local-0 and the spare local-2, then the head
# is SIGKILLed. --resume keeps the pool the run store holds: attempt 3 runs on local-0 and
# local-2 again (the same places, WORLD_SIZE 2), local-1 stays lost (its --cool-down runs from
# its loss, not from the resume), and the job completes, every sample exactly once.
# Needs no root.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_build
make_tmp
on_exit kill_sessions
R=$tmp/run
L=(--heartbeat-timeout 3s --grace 2s --shard-samples 800 --shard-shuffle)

( timeout 60 "$B" launch --local 3 --nnodes 2 "${L[@]}" --run-dir "$R" -- "$T" --samples 800 --step-ms 50 \
    > "$tmp/first.out" 2> "$tmp/first.err"; echo $? > "$tmp/first.rc" ) &
bg_pid $!
wait_for 30 grep -qs '"consumed"' "$R/metrics/attempt-1/rank-0.jsonl" || fatal "attempt 1 never reported progress: $(tail -5 "$tmp/first.err")"
# A crash: every process of the node stopped, then killed.
sid=$(cat "$R/local/local-1.sid"); pkill -STOP -s "$sid"; pkill -KILL -s "$sid"
wait_for 30 grep -qs '"consumed"' "$R/metrics/attempt-2/rank-0.jsonl" || fatal "attempt 2 never reported progress: $(tail -5 "$tmp/first.err")"
check "attempt 2 on local-0 and the spare local-2" "grep -q 'attempt 2 on 2 nodes (local-0,local-2)' '$tmp/first.err'"
kill -KILL "$(cat "$R/head.pid")"
wait_for 10 test -s "$tmp/first.rc"

timeout 60 "$B" launch --resume "$R" > "$tmp/resume.out" 2> "$tmp/resume.err"
rc=$?
check "resume: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/resume.err"
check "resume: attempt 3 on local-0,local-2, WORLD_SIZE 2, local-1 still lost" \
  "grep -q 'attempt 3 on 2 nodes (local-0,local-2), 2 ranks' '$tmp/resume.err' && grep '\"event\":\"pool\"' '$R/events.jsonl' | tail -1 | grep -q '\"active\":\[\"local-0\",\"local-2\"\],\"attempt\":3,\"event\":\"pool\",\"lost\":\[\"local-1\"\]'" \
  || { tail -20 "$tmp/resume.err"; grep pool "$R/events.jsonl"; }
check "resume: exactly once over the three attempts" "grep -q '\"ok\": true' '$R/exactly-once.json'" || cat "$R/exactly-once.json"
finish
