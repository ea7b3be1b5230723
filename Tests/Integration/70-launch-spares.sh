#!/usr/bin/env bash
# baton launch with spare nodes (--nnodes) on the namespace test bed: 4 nodes x 2 ranks.
# (1) --nnodes 3, a node crashed: attempt 2 runs on 3 nodes, the spare in the lost node's
# place, every rank sees WORLD_SIZE 6 as before (no re-shard: every checkpoint segment has
# world 6), every sample exactly once; after --cool-down a second crash brings the first
# crashed node back (it passes the health gate and rejoins as a spare, then takes the place);
# `baton status` shows the pool, the second crashed node back in it as a spare (gated in the
# background while attempt 3 runs). (2) --nnodes 2:3 on 3 nodes, no spare: a partitioned node
# shrinks the world to 4; healed, it rejoins at the next restart and the world grows back
# to 6. (2b) The same with --grow-after: the healed node passes the gate in the background,
# the head asks for a checkpoint and restarts there, growing to 6 without a failure. (3) A
# script that fixes its world size ends at once, with its reason, when no spare is left. (4)
# A node cut off before the start fails the health gate: it is never started on, the spare
# runs in its place, and the events name why. (5) Every node fails the gate's check (free
# space): nothing starts, exit 4, each node's reason said.
# Needs root (network namespaces); otherwise says SKIP and exits 77.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root "needs root for network namespaces"
need_build
make_tmp
N=(sp-n1 sp-n2 sp-n3 sp-n4)
all_gone() { local n; n=$(for x in "${N[@]}"; do "$C" pids "$x"; done | wc -l); [ "$n" -eq 0 ] && [ -z "$(env_pids "BATON_ATTEMPT_TOKEN=$1#")" ]; }

cluster_up sp 10.77.21 4 || fatal "cluster up"
"$C" hostfile 2 > "$tmp/hostfile"
L=(launch --hostfile "$tmp/hostfile" --nnodes 3 --heartbeat-timeout 3s --grace 2s --health-timeout 5s)

# 0. --dry-run prints the pool.
"$B" "${L[@]}" --run-dir "$tmp/dry" --dry-run -- true > "$tmp/dry.json" 2> "$tmp/dry.err"
check "dry-run: the pool, sp-n4 a spare, the plan on 3 nodes" \
  "python3 -c \"import json,sys; p=json.load(open('$tmp/dry.json')); sys.exit(0 if p['pool']['spare']==['sp-n4'] and p['pool']['active']==['sp-n1','sp-n2','sp-n3'] and p['worldSize']==6 else 1)\"" || cat "$tmp/dry.json" "$tmp/dry.err"

# 1. Crash, spare in; crash again after the cool-down, the first one rejoins.
R=$tmp/spare
( timeout 100 "$B" "${L[@]}" --cool-down 2s --run-dir "$R" --shard-samples 2400 --shard-shuffle --shard-seed 7 -- \
    "$T" --samples 2400 --step-ms 60 > "$tmp/spare.out" 2> "$tmp/spare.err"
  echo $? > "$tmp/spare.rc" ) &
bg_pid $!
on_exit kill_env "BATON_ATTEMPT_TOKEN=$R#"
wait_for 60 grep -qs '"consumed"' "$R/metrics/attempt-1/rank-0.jsonl" || fatal "attempt 1 never reported progress: $(tail -5 "$tmp/spare.err")"
check "pool: attempt 1 on sp-n1..3, sp-n4 a spare" \
  "grep -q '\"event\":\"pool\"' '$R/events.jsonl' && grep '\"event\":\"pool\"' '$R/events.jsonl' | head -1 | grep -q '\"spare\":\[\"sp-n4\"\]'"
"$C" crash sp-n3
wait_for 60 grep -qs '"consumed"' "$R/metrics/attempt-2/rank-0.jsonl" || fatal "attempt 2 never reported progress: $(tail -5 "$tmp/spare.err")"
check "attempt 2 on sp-n1,sp-n2,sp-n4 (the spare in sp-n3's place)" \
  "grep -q '\"event\":\"attempt-start\".*\"nodes\":\[\"sp-n1\",\"sp-n2\",\"sp-n4\"\].*\"world\":6' '$R/events.jsonl' || grep -q '\"attempt\":2.*\"nodes\":\[\"sp-n1\",\"sp-n2\",\"sp-n4\"\]' '$R/events.jsonl'"
check "spare-in recorded" "grep -q '\"event\":\"spare-in\".*\"node\":\"sp-n4\".*\"replacing\":\"sp-n3\"' '$R/events.jsonl'"
# The cool-down (2 s) runs from sp-n3's loss; attempt 2 has made progress, so it is past.
wait_for 10 bash -c "[ \$(( \$(date +%s) - \$(stat -c %Y '$R/metrics/attempt-2') )) -ge 2 ]"
"$C" crash sp-n2
wait_for 90 test -s "$tmp/spare.rc"
check "exit 0" "[ \"\$(cat '$tmp/spare.rc')\" = 0 ]" || tail -20 "$tmp/spare.err"
check "sp-n3 rejoined after the cool-down and a passing gate" "grep -q '\"event\":\"node-rejoined\".*\"node\":\"sp-n3\"' '$R/events.jsonl'"
check "attempt 3 on sp-n1,sp-n3,sp-n4 (sp-n3 in sp-n2's place)" \
  "grep -q '\"event\":\"spare-in\".*\"node\":\"sp-n3\".*\"replacing\":\"sp-n2\"' '$R/events.jsonl'"
check "every rank of every attempt saw WORLD_SIZE 6" \
  "[ \$(grep -ho 'rank [0-9]/6 attempt [123]' '$R'/logs/*.log | sort -u | wc -l) -eq 18 ] && ! grep -hq 'rank [0-9]*/[^6] attempt' '$R'/logs/*.log"
check "BATON_PREVIOUS_WORLD_SIZE 6 in attempt 3's plan" "grep -q '\"BATON_PREVIOUS_WORLD_SIZE\" : \"6\"' '$R/attempts/attempt-3.plan.json'"
check "no re-shard: every checkpoint segment has world 6" \
  "python3 -c \"import json,sys; h=json.load(open('$R/checkpoints/latest.json'))['history']; sys.exit(0 if h and all(s['world']==6 for s in h) else 1)\"" || cat "$R/checkpoints/latest.json"
check "exactly once over 3 attempts" "grep -q '\"ok\": true' '$R/exactly-once.json' && grep -q '\"attempts\": 3' '$R/exactly-once.json'" || cat "$R/exactly-once.json"
"$B" status "$R" > "$tmp/status.txt" 2>&1
# sp-n2's namespace outlives the crash: the background gate lets it back in while attempt 3 runs.
check "status: sp-n2 back in the pool as a spare (the background gate), the pool's events shown" \
  "grep -q 'sp-n2 *spare .*rejoined' '$tmp/status.txt' && grep -q 'gate .*background' '$tmp/status.txt'" || cat "$tmp/status.txt"
check "nothing left" "wait_for 20 all_gone '$R'"

# 2. --nnodes 2:3 on 3 nodes, no spare: a partitioned node leaves 2 (WORLD_SIZE 4); healed,
# it rejoins after the cool-down at the next restart (a rank failure in attempt 2, restarted
# with --on-rank-failure restart) and the world grows back to 6.
R=$tmp/grow
head -3 "$tmp/hostfile" > "$tmp/hostfile3"
G=(launch --hostfile "$tmp/hostfile3" --nnodes 2:3 --cool-down 1s --on-rank-failure restart --heartbeat-timeout 3s --grace 2s)
( timeout 90 "$B" "${G[@]}" --run-dir "$R" -- sh -c 'echo "W $BATON_ATTEMPT $WORLD_SIZE ${BATON_PREVIOUS_WORLD_SIZE:-none}"
    case $BATON_ATTEMPT in 1) sleep 60 ;; 2) sleep 3; [ "$RANK" = 0 ] && exit 3; sleep 60 ;; esac' > "$tmp/grow.out" 2> "$tmp/grow.err"
  echo $? > "$tmp/grow.rc" ) &
bg_pid $!
on_exit kill_env "BATON_ATTEMPT_TOKEN=$R#"
wait_for 30 bash -c "[ \$(grep -c 'W 1 6' '$tmp/grow.out') -eq 6 ]" || fatal "grow: attempt 1 never started: $(tail -5 "$tmp/grow.err")"
"$C" partition sp-n3
wait_for 40 grep -qs '"attempt":2' "$R/events.jsonl"
"$C" heal sp-n3
wait_for 60 test -s "$tmp/grow.rc"
check "grow: exit 0" "[ \"\$(cat '$tmp/grow.rc')\" = 0 ]" || tail -20 "$tmp/grow.err"
check "grow: attempt 2 on 2 nodes, WORLD_SIZE 4 after 6" "[ \$(grep -c 'W 2 4 6' '$tmp/grow.out') -eq 4 ]"
check "grow: sp-n3 rejoined and attempt 3 on 3 nodes, WORLD_SIZE 6 after 4" \
  "grep -q '\"event\":\"node-rejoined\".*\"node\":\"sp-n3\"' '$R/events.jsonl' && [ \$(grep -c 'W 3 6 4' '$tmp/grow.out') -eq 6 ]" || grep W "$tmp/grow.out"
check "grow: nothing left" "wait_for 20 all_gone '$R'"

# 2b. --grow-after: the same partition, healed while attempt 2 runs on 2 nodes. sp-n3 passes
# the health gate in the background, 1 s later the head asks for a checkpoint (the trainer
# commits only when asked: --checkpoint-every 1000) and restarts there on 3 nodes: no failure
# needed, no restart used (--max-restarts 1), every sample exactly once across worlds 4 and 6.
R=$tmp/growafter
( timeout 100 "$B" launch --hostfile "$tmp/hostfile3" --nnodes 2:3 --cool-down 1s --grow-after 1s --health-timeout 2s \
    --heartbeat-timeout 3s --grace 2s --max-restarts 1 --run-dir "$R" --shard-samples 2400 --shard-shuffle -- \
    "$T" --samples 2400 --step-ms 60 --checkpoint-every 1000 > "$tmp/growafter.out" 2> "$tmp/growafter.err"
  echo $? > "$tmp/growafter.rc" ) &
bg_pid $!
on_exit kill_env "BATON_ATTEMPT_TOKEN=$R#"
wait_for 30 grep -qs 'rank 0/6 attempt 1' "$R/logs/sp-n1.0.log" || fatal "grow-after: attempt 1 never started: $(tail -5 "$tmp/growafter.err")"
"$C" partition sp-n3
wait_for 40 grep -qs '"event":"attempt-start".*"attempt":2\|"attempt":2.*"event":"attempt-start"' "$R/events.jsonl" || fatal "grow-after: no attempt 2: $(tail -5 "$tmp/growafter.err")"
"$C" heal sp-n3
wait_for 70 test -s "$tmp/growafter.rc"
check "grow-after: exit 0" "[ \"\$(cat '$tmp/growafter.rc')\" = 0 ]" || tail -20 "$tmp/growafter.err"
check "grow-after: attempt 2 on sp-n1,sp-n2 (WORLD_SIZE 4), stopped to grow at a checkpoint" \
  "[ \$(grep -ho 'rank [0-9]/4 attempt 2' '$R'/logs/*.log | sort -u | wc -l) -eq 4 ] && grep -q '\"outcome\":\"stopped to grow\"' '$R/events.jsonl'" || grep -h 'attempt-end\|grow' "$R/events.jsonl"
check "grow-after: sp-n3 back in the pool by the background gate, then the checkpoint asked for and taken" \
  "grep -q '\"background\":true' '$R/events.jsonl' && grep -q '\"event\":\"node-rejoined\".*\"node\":\"sp-n3\"' '$R/events.jsonl' && grep -q '\"event\":\"checkpoint-request\"' '$R/events.jsonl' && grep -q '\"consumed\":[0-9]*,\"event\":\"grow\"' '$R/events.jsonl' && grep -q 'the head asked for a checkpoint' '$R/logs/sp-n1.0.log'"
check "grow-after: attempt 3 on sp-n1,sp-n2,sp-n3, WORLD_SIZE 6" "[ \$(grep -ho 'rank [0-9]/6 attempt 3' '$R'/logs/*.log | sort -u | wc -l) -eq 6 ]"
check "grow-after: exactly once, the checkpoint of attempt 2 on 4 ranks and the rest on 6" \
  "python3 -c \"import json,sys; h=json.load(open('$R/checkpoints/latest.json'))['history']; e=json.load(open('$R/exactly-once.json')); sys.exit(0 if e['ok'] and h[0]['world']==4 and h[0]['attempt']==2 and h[-1]['world']==6 else 1)\"" || cat "$R/exactly-once.json" "$R/checkpoints/latest.json"
check "grow-after: nothing left" "wait_for 20 all_gone '$R'"

# 3. A trainer that fixes its world as PyTorch Lightning does (trainers/fixed_world.py:
# TORCHELASTIC_RUN_ID set, so WORLD_SIZE is read and must be num_nodes 3 x devices 2, else
# Lightning's ValueError). (a) With a spare it resumes on the same world and finishes. (b)
# With none, --nnodes 3 never shrinks: the launch ends at once, saying why, attempt 2 never
# starts. (c) --nnodes 2:3 allows the smaller world, which the script refuses at once: the
# launch ends with its error, never hangs.
fixed() { # fixed NAME HOSTFILE NNODES: the launch in the background, once it saved a step
  local R=$tmp/$1
  ( timeout 60 "$B" launch --hostfile "$2" --nnodes "$3" --heartbeat-timeout 3s --grace 2s --run-dir "$R" -- \
      python3 "$root/Tests/Integration/trainers/fixed_world.py" 3 2 50 0.1 > "$tmp/$1.out" 2> "$tmp/$1.err"
    echo $? > "$tmp/$1.rc" ) &
  bg_pid $!
  on_exit kill_env "BATON_ATTEMPT_TOKEN=$R#"
  wait_for 30 grep -qs '^[1-9]' "$R/checkpoints/step" || fatal "$1: no step saved: $(tail -5 "$tmp/$1.err")"
}
fixed fixed-spare "$tmp/hostfile" 3
"$C" crash sp-n3
wait_for 50 test -s "$tmp/fixed-spare.rc"
R=$tmp/fixed-spare
check "fixed world, a spare: exit 0, attempt 2 on sp-n1,sp-n2,sp-n4, every rank resumed past step 0 with WORLD_SIZE 6" \
  "[ \"\$(cat '$tmp/fixed-spare.rc')\" = 0 ] && grep -q '\"attempt\":2.*\"nodes\":\[\"sp-n1\",\"sp-n2\",\"sp-n4\"\]' '$R/events.jsonl' && [ \$(grep -h 'attempt 2: resuming at step [1-9]' '$R'/logs/*.log | grep -c '/6 ') -eq 6 ] && ! grep -q 'does not match' '$tmp/fixed-spare.out' '$tmp/fixed-spare.err'" || tail -5 "$tmp/fixed-spare.err"
check "fixed world, a spare: nothing left" "wait_for 20 all_gone '$R'"
for part in nospare:3 shrink:2:3; do
  fixed "fixed-${part%%:*}" "$tmp/hostfile3" "${part#*:}"
  t0=$SECONDS
  "$C" crash sp-n3
  wait_for 40 test -s "$tmp/fixed-${part%%:*}.rc"
  eval "t_${part%%:*}=\$((SECONDS - t0))"
done
R=$tmp/fixed-nospare
check "fixed world, no spare, --nnodes 3: exit 4 within 20 s of the crash, the reason said, no attempt 2" \
  "[ \"\$(cat '$tmp/fixed-nospare.rc')\" = 4 ] && [ $t_nospare -le 20 ] && grep -q 'no spare: --nnodes 3 never runs on fewer than 3' '$tmp/fixed-nospare.err' && ! grep -q '\"attempt\":2' '$R/events.jsonl'" || tail -5 "$tmp/fixed-nospare.err"
R=$tmp/fixed-shrink
check "fixed world, --nnodes 2:3: the smaller world refused at once (Lightning's ValueError), exit 4 within 20 s" \
  "[ \"\$(cat '$tmp/fixed-shrink.rc')\" = 4 ] && [ $t_shrink -le 20 ] && cat '$tmp/fixed-shrink.out' '$tmp/fixed-shrink.err' | grep -q 'does not match the world size (4)'" || tail -5 "$tmp/fixed-shrink.err"
check "fixed world: nothing left" "wait_for 20 all_gone '$tmp/fixed-nospare' && wait_for 20 all_gone '$tmp/fixed-shrink'"

# 4. A node cut off before the start fails the gate: never started on, the spare takes its place.
R=$tmp/gate
"$C" partition sp-n2
timeout 60 "$B" "${L[@]}" --health-timeout 2s --run-dir "$R" -- sh -c 'echo "W $WORLD_SIZE $TORCHELASTIC_RUN_ID"' > "$tmp/gate.out" 2> "$tmp/gate.err"
check "gate: exit 0" "[ $? -eq 0 ]" || tail -20 "$tmp/gate.err"
"$C" heal sp-n2
check "gate: sp-n2 suspect, the reason said" "grep -q 'health gate: sp-n2 failed: ' '$tmp/gate.err' && grep -q '\"event\":\"node-suspect\".*\"node\":\"sp-n2\"' '$R/events.jsonl'"
check "gate: nothing ever started on sp-n2" "! ls '$R'/logs/sp-n2.* > /dev/null 2>&1"
check "gate: ran on sp-n1,sp-n4,sp-n3 with WORLD_SIZE 6 and TORCHELASTIC_RUN_ID" \
  "[ \$(grep -c \"W 6 $R\" '$tmp/gate.out') -eq 6 ] && grep -q '\"nodes\":\[\"sp-n1\",\"sp-n4\",\"sp-n3\"\]' '$R/events.jsonl'"
check "gate: nothing left" "wait_for 20 all_gone '$R'"

# 5. Every node fails the gate's own check (more free space asked than any disk has): nothing
# is started, the launch ends at once (exit 4) and says why for each node.
R=$tmp/nofree
timeout 30 "$B" "${L[@]}" --health-min-free 1000T --run-dir "$R" -- true > "$tmp/nofree.out" 2> "$tmp/nofree.err"
check "no room: exit 4, each node's reason said, nothing started" \
  "[ $? -eq 4 ] && [ \$(grep -c 'health gate: sp-n[1-4] failed: .* MiB free, needs 1048576000 MiB' '$tmp/nofree.err') -eq 4 ] && ! ls '$R'/logs/*.log > /dev/null 2>&1" || cat "$tmp/nofree.err"

finish
