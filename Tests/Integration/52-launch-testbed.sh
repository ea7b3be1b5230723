#!/usr/bin/env bash
# baton launch on the namespace test bed (scripts/cluster): 3 nodes x 2 ranks reached by
# mpirun through the `ip netns exec` rsh agent. Checks the environment matrix with host
# names; crash, partition and hang of one node each restart the job on the 2 survivors,
# which completes with every sample processed exactly once; the cut-off/hung node's ranks
# fence themselves; --min-nodes not met exits 4 with a report naming the lost node; Ctrl-C
# leaves nothing running on any node. Needs root (network namespaces); otherwise says SKIP
# and exits 77.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root "needs root for network namespaces"
need_build
make_tmp
node_pids() { for n in bl-n1 bl-n2 bl-n3; do "$C" pids "$n"; done | wc -l; }
# every node empty (n processes left there), and no wrapper of run $1 on the head (h)
all_gone() { n=$(node_pids); h=$(pgrep -f -- "exec --run-dir $1" | wc -l); [ "$n" -eq 0 ] && [ "$h" -eq 0 ]; }
nothing_left() { # all_gone within 20 s, or what is left
  local n h x p
  wait_for --every 0.2 20 all_gone "$1" && return 0
  echo "  left: $n processes in the nodes, $h on the head:"
  for x in bl-n1 bl-n2 bl-n3; do for p in $("$C" pids $x); do echo "  $x: $(tr '\0' ' ' < /proc/$p/cmdline | cut -c1-120)"; done; done
  return 1
}

cluster_up bl 10.77.7 3 || fatal "cluster up"
"$C" hostfile 2 > "$tmp/hostfile"
L=(launch --hostfile "$tmp/hostfile" --heartbeat-timeout 3s --grace 2s)

# 1. Environment matrix, host names included.
R=$tmp/env
timeout 60 "$B" "${L[@]}" --run-dir "$R" -- \
  sh -c 'echo "ENV $RANK $LOCAL_RANK $NODE_RANK $WORLD_SIZE $LOCAL_WORLD_SIZE $NNODES $MASTER_ADDR $BATON_NODE $(hostname)"' \
  > "$tmp/env.out" 2> "$tmp/env.err"
check "env: exit 0" "[ $? -eq 0 ]" || tail -20 "$tmp/env.err"
for r in 0 1 2 3 4 5; do
  n=$((r / 2 + 1)); l=$((r % 2))
  check "env: rank $r on bl-n$n" "grep -qx 'bl-n$n:$r ENV $r $l $((n - 1)) 6 2 3 bl-n1 bl-n$n bl-n$n' '$tmp/env.out'"
done
check "env: nothing left" "nothing_left '$R'"

# 2-4. One node lost three ways; the job restarts on the survivors, re-sharded from the
# consumed count the trainer reported, and completes.
# The crash runs twice: with the agent outside the node (it outlives the node, like an
# ssh client whose connection is reset), and inside it (it dies with the node, like ssh's
# remote end), which prints nothing: Baton must name the node from the agent's end. Then
# with the plainest agent (`ip netns exec NODE sh -c "hostname NODE; orted ..."`: no word
# of its argv names the node once it runs) and the node's processes killed one by one, in
# pid order (the agent first) and in random order (a rank may die before its wrapper and be
# reported killed): the verdict must not depend on the order.
outside_agent=$OMPI_MCA_plm_rsh_agent
inside_agent=$(BATON_CLUSTER_AGENT=inside "$C" env | sed -n "s/^export OMPI_MCA_plm_rsh_agent='\(.*\)'$/\1/p")
plain_agent=$(BATON_CLUSTER_AGENT=plain "$C" env | sed -n "s/^export OMPI_MCA_plm_rsh_agent='\(.*\)'$/\1/p")
for how in crash crash-inside crash-plain-pid crash-plain-random partition hang; do
  R=$tmp/$how
  fault=${how%%-*}; order=all
  case $how in
    crash-inside) export OMPI_MCA_plm_rsh_agent=$inside_agent ;;
    crash-plain-*) export OMPI_MCA_plm_rsh_agent=$plain_agent; order=${how##*-} ;;
    *) export OMPI_MCA_plm_rsh_agent=$outside_agent ;;
  esac
  ( timeout 120 "$B" "${L[@]}" --run-dir "$R" --shard-samples 300 --shard-shuffle --shard-seed 7 -- "$T" --samples 300 --step-ms 40 > "$tmp/$how.out" 2> "$tmp/$how.err"
    echo $? > "$tmp/$how.rc" ) &
  bg_pid $!
  wait_for 60 grep -qs '"consumed"' "$R/metrics/attempt-1/rank-0.jsonl"
  t_fault=$(date +%s.%N)
  if [ "$fault" = crash ]; then "$C" crash bl-n3 "$order"; else "$C" "$fault" bl-n3; fi
  wait_for 120 test -s "$tmp/$how.rc"
  t_restart=$(grep '"event":"restart"' "$R/events.jsonl" | sed -n 's/.*"time":\([0-9.]*\).*/\1/p')
  echo "  $how: restart $(python3 -c "print(round(${t_restart:-0} - $t_fault, 2))") s after the fault; signal: $(grep -o '"how":"[a-z ]*"' "$R/events.jsonl" | head -1)"
  check "$how: exit 0" "[ \"\$(cat '$tmp/$how.rc')\" = 0 ]" || tail -20 "$tmp/$how.err"
  check "$how: restart on bl-n1,bl-n2" "grep -q '\"event\":\"restart\".*\"lost\":\[\"bl-n3\"\].*\"survivors\":\[\"bl-n1\",\"bl-n2\"\]' '$R/events.jsonl'"
  check "$how: re-sharded for 4 ranks" "[ -f '$R/shards/attempt-2/rank-3.npy' ] && [ ! -e '$R/shards/attempt-2/rank-4.npy' ]"
  check "$how: exactly once across attempts" "grep -q '\"ok\": true' '$R/exactly-once.json' && grep -q '\"attempts\": 2' '$R/exactly-once.json'" || cat "$R/exactly-once.json" "$R/checkpoints/latest.json" 2>/dev/null
  if [ "$fault" != crash ]; then
    check "$how: detected by heartbeat timeout" "grep -q '\"how\":\"heartbeat timeout\"' '$R/events.jsonl'"
    "$C" heal bl-n3
    check "$how: bl-n3's ranks fenced themselves" "wait_for 20 bash -c \"[ \\\$(grep -l 'fenced' '$R'/logs/bl-n3.*.log 2>/dev/null | wc -l) -eq 2 ]\""
  fi
  check "$how: nothing left on any node" "nothing_left '$R'"
done
export OMPI_MCA_plm_rsh_agent=$outside_agent

# 5. --min-nodes not met: exit 4 and a report naming the lost node.
R=$tmp/min
( timeout 60 "$B" "${L[@]}" --min-nodes 3 --run-dir "$R" -- "$T" --samples 300 --step-ms 40 > "$tmp/min.out" 2> "$tmp/min.err"
  echo $? > "$tmp/min.rc" ) &
bg_pid $!
wait_for 60 grep -qs '"consumed"' "$R/metrics/attempt-1/rank-0.jsonl"
"$C" crash bl-n2
wait_for 60 test -s "$tmp/min.rc"
check "min-nodes: exit 4" "[ \"\$(cat '$tmp/min.rc')\" = 4 ]"
check "min-nodes: report names bl-n2" "grep -q 'lost bl-n2' '$tmp/min.err' && grep -q '\"node\" : \"bl-n2\"' '$R/report.json'"
check "min-nodes: no restart" "! grep -q '\"event\":\"restart\"' '$R/events.jsonl'"
check "min-nodes: nothing left" "nothing_left '$R'"

# 6. Ctrl-C: every rank on every node gets SIGINT; exit 130; nothing left anywhere.
R=$tmp/int
setsid bash -c "timeout 60 '$B' ${L[*]} --run-dir '$R' -- sh -c 'trap \"echo got-int; exit 7\" INT; while :; do sleep 0.1; done' > '$tmp/int.out' 2> '$tmp/int.err'; echo \$? > '$tmp/int.rc'" &
bg_pid $!
wait_for 30 bash -c "[ \$(cat '$R'/logs/*.log 2>/dev/null | grep -c '# baton exec: attempt 1') -eq 6 ]"
sleep 0.5 # let the shells install their INT trap (a property of the test command)
kill -INT "$(pgrep -f -- "^$B launch --hostfile $tmp/hostfile" | head -1)"
wait_for 30 test -s "$tmp/int.rc"
check "ctrl-c: exit 130" "[ \"\$(cat '$tmp/int.rc')\" = 130 ]"
check "ctrl-c: every rank got SIGINT" "[ \$(grep -l 'got-int' '$R'/logs/*.log | wc -l) -eq 6 ]"
check "ctrl-c: nothing left on any node" "nothing_left '$R'"

finish
