#!/usr/bin/env bash
# baton launch --local: 3 simulated nodes x 2 ranks on this machine (real processes, one
# mpirun daemon per node). Checks the environment matrix, a node crash (its session
# killed) restarting on the survivors with every sample processed exactly once, a rank
# failing by itself (no restart, exit 4, report; with --on-rank-failure restart: restarted
# on the same nodes, exactly once), and Ctrl-C leaving nothing behind.
# Needs no root.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_build
make_tmp
# Whatever still runs from this test's run directories: the simulated nodes' sessions.
on_exit kill_sessions
none_left() { [ "$(pgrep -f -- "$1" | grep -v "^$$\$" | wc -l)" -eq 0 ]; } # no process with $1 in its argv
wait_gone() { wait_for --every 0.2 "$2" none_left "$1"; } # wait_gone PATTERN SECONDS

# 1. Environment matrix.
R=$tmp/env
timeout 60 "$B" launch --local 3 --nproc-per-node 2 --run-dir "$R" --heartbeat-timeout 3s --grace 2s -- \
  sh -c 'echo "ENV $RANK $LOCAL_RANK $NODE_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $NNODES $MASTER_ADDR $BATON_NODE $BATON_ATTEMPT"' \
  > "$tmp/env.out" 2> "$tmp/env.err"
rc=$?
check "env: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/env.err"
for r in 0 1 2 3 4 5; do
  n=$((r / 2)); l=$((r % 2))
  check "env: rank $r" "grep -qx 'local-$n:$r ENV $r $l $n 6 2 3 127.1.0.1 local-$n 1' '$tmp/env.out'"
done
check "env: per-rank logs" "[ \$(ls '$R'/logs/*.log | wc -l) -eq 6 ]"
check "env: nothing left" "wait_gone '$R' 10"

# 2. Crash of a simulated node: restart on the survivors, exactly once.
R=$tmp/crash
( timeout 90 "$B" launch --local 3 --nproc-per-node 2 --run-dir "$R" --heartbeat-timeout 3s --grace 2s \
    --shard-samples 240 --shard-shuffle -- "$T" --samples 240 --step-ms 40 > "$tmp/crash.out" 2> "$tmp/crash.err"; echo $? > "$tmp/crash.rc" ) &
bg_pid $!
wait_for 30 grep -qs '"consumed"' "$R"/metrics/attempt-1/rank-0.jsonl
check "crash: training under way" "[ -s '$R/metrics/attempt-1/rank-0.jsonl' ]"
# A crash: every process of the node stopped, then killed (none sees another die).
sid=$(cat "$R/local/local-2.sid"); pkill -STOP -s "$sid"; pkill -KILL -s "$sid"
wait_for 90 test -s "$tmp/crash.rc"
check "crash: exit 0" "[ \"\$(cat '$tmp/crash.rc')\" = 0 ]"
check "crash: restart event names local-2" "grep -q '\"event\":\"restart\".*\"lost\":\[\"local-2\"\]' '$R/events.jsonl'"
check "crash: attempt 2 on 4 ranks" "grep -q 'attempt 2 on local-0,local-1 (4 ranks): completed' '$tmp/crash.err'"
check "crash: exactly once" "grep -q '\"ok\": true' '$R/exactly-once.json' && grep -q '\"attempts\": 2' '$R/exactly-once.json'" || cat "$R/exactly-once.json" "$R/checkpoints/latest.json" 2>/dev/null
check "crash: nothing left" "wait_gone '$R' 10"
check "crash: the store has local-2 lost, committed before attempt 2 started" "/usr/bin/python3 - '$R' <<'PY'
import sqlite3, sys
db = sqlite3.connect(f'file:{sys.argv[1]}/launch.sqlite?mode=ro', uri=True)
nodes = {n: (s, a, how) for n, s, a, how in db.execute('SELECT name, state, attempt, signal FROM nodes')}
att = {n: (st, en, o) for n, st, en, o in db.execute('SELECT number, started_at, ended_at, outcome FROM attempts')}
ev = [k for (k,) in db.execute('SELECT kind FROM events ORDER BY id')]
ok = nodes['local-2'][:2] == ('lost', 1) and nodes['local-2'][2] and nodes['local-0'][0] == 'healthy'
ok = ok and att[1][2] == 'nodes lost' and att[2][2] == 'completed' and att[1][1] <= att[2][0]
ok = ok and ev.index('node-lost') < ev.index('attempt-end') < ev.index('restart') < len(ev) - 1 - ev[::-1].index('attempt-start')
sys.exit(not ok)
PY"
"$B" status "$R" > "$tmp/crash.status"
check "crash: status shows local-2 lost and how" "grep -Eq '^local-2 +lost +1 +[a-z]' '$tmp/crash.status'"
"$B" report "$R" --svg "$tmp/crash.svg" > /dev/null
check "crash: report --svg draws the lost node and the restart" "'$root/Tests/Integration/trainers/check-report-svg.sh' '$tmp/crash.svg' 1 0 1"
NO_COLOR=1 COLUMNS=90 timeout 20 "$B" status "$R" --watch > "$tmp/crash.status"
check "crash: status --watch shows the timeline: X on local-2, the restart" "grep -Eq '^local-2 .*X' '$tmp/crash.status' && grep -Eq '^restart +[ ]*\|' '$tmp/crash.status' && grep -q 'restart: attempt 2 at ' '$tmp/crash.status'" || cat "$tmp/crash.status"

# 3. A rank failing by itself. rank_fails NAME SAMPLES [LAUNCH OPTIONS...]: rank 3 of
# 2 nodes x 2 ranks exits 3 at step 3 of attempt 1; sets R and rc, output in $tmp/NAME.{out,err}.
rank_fails() {
  local name=$1 samples=$2; shift 2
  R=$tmp/$name
  timeout 90 "$B" launch --local 2 --nproc-per-node 2 --run-dir "$R" --heartbeat-timeout 3s --grace 2s "$@" -- \
    "$T" --samples "$samples" --step-ms 10 --fail-rank 3 --fail-step 3 > "$tmp/$name.out" 2> "$tmp/$name.err"
  rc=$?
}

# 3a. By default it is a job failure, not a node loss: exit 4, report names it.
rank_fails fail 100
check "failure: exit 4" "[ $rc -eq 4 ]"
check "failure: report names rank 3 and its code" "grep -q 'rank 3 on local-1 ended with code=3' '$tmp/fail.err' && grep -q '\"failedRank\" : 3' '$R/report.json'"
check "failure: no restart" "! grep -q '\"event\":\"restart\"' '$R/events.jsonl'"
check "failure: nothing left" "wait_gone '$R' 10"

# 3b. With --on-rank-failure restart: the job restarts on the same nodes from the last
# consumed count (torchrun's behaviour), every sample exactly once.
rank_fails fr 160 --on-rank-failure restart --shard-samples 160
check "rank-failure restart: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/fr.err"
check "rank-failure restart: restart event, no node lost, cause named" \
  "grep -q '\"event\":\"restart\"' '$R/events.jsonl' && grep '\"event\":\"restart\"' '$R/events.jsonl' | grep -q '\"lost\":\[\]' && grep -q 'rank 3 on local-1 ended with code=3' '$R/events.jsonl'"
check "rank-failure restart: attempt 2 on the same 2 nodes" "grep -q 'attempt 2 on local-0,local-1 (4 ranks): completed' '$tmp/fr.err'"
check "rank-failure restart: exactly once" "grep -q '\"ok\": true' '$R/exactly-once.json' && grep -q '\"attempts\": 2' '$R/exactly-once.json'" || cat "$R/exactly-once.json" "$R/checkpoints/latest.json" 2>/dev/null
check "rank-failure restart: nothing left" "wait_gone '$R' 10"

# 3c. --max-restarts 0 with restart: the first failure ends the job and says why.
rank_fails fn 100 --on-rank-failure restart --max-restarts 0
check "rank-failure, no restart left: exit 4" "[ $rc -eq 4 ]"
check "rank-failure, no restart left: says so" "grep -q 'no restart left (--max-restarts 0)' '$tmp/fn.err'"
check "rank-failure, no restart left: nothing left" "wait_gone '$R' 10"

# 4. Ctrl-C: SIGINT to every rank, exit 130, nothing left.
R=$tmp/int
setsid bash -c "timeout 60 '$B' launch --local 2 --nproc-per-node 2 --run-dir '$R' --grace 3s -- sh -c 'trap \"echo got-int; exit 7\" INT; while :; do sleep 0.1; done' > '$tmp/int.out' 2> '$tmp/int.err'; echo \$? > '$tmp/int.rc'" &
bg_pid $!
# Every rank's command is running once each has a pid in the events of its wrapper log.
wait_for 30 bash -c "[ \$(cat '$R'/logs/*.log 2>/dev/null | grep -c '# baton exec: attempt 1') -eq 4 ]"
sleep 0.5 # let the shells install their INT trap (a property of the test command, not a wait for baton)
pid=$(pgrep -f -- "^$B launch --local 2 --nproc-per-node 2 --run-dir $R" | head -1)
kill -INT "$pid"
wait_for 30 test -s "$tmp/int.rc"
check "ctrl-c: exit 130" "[ \"\$(cat '$tmp/int.rc')\" = 130 ]"
# The rank logs, not the console: once the first rank has ended mpirun aborts the job and
# may drop the other ranks' last lines on the way to the head.
check "ctrl-c: every rank got SIGINT" "[ \$(grep -l 'got-int' '$R'/logs/*.log | wc -l) -eq 4 ]"
check "ctrl-c: nothing left" "wait_gone '$R' 10"

finish
