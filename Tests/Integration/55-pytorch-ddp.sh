#!/usr/bin/env bash
# 55-pytorch-ddp: a real client. Examples/pytorch/train.py (PyTorch DDP, gloo, env:// rendezvous,
# baton.BatonSampler, atomic checkpoints) run with Debian's /usr/bin/python3 + python3-torch:
#  a. `baton launch --local 2 --nproc-per-node 2 --shard-samples N`: exit 0, every sample id
#     committed exactly once per epoch, the 4 ranks' final weight hashes equal;
#  b. the same with simulated node local-1 crashed (its session SIGKILLed) once the first
#     checkpoint exists: restart on the survivor, completes, exactly once across attempts,
#     replicas equal; prints the fault-to-first-resumed-step time;
#  c. a `baton grid --local 2` sweep (ranks_per_node 2) with `baton grid kill-node RUN local-1`
#     mid-config: every config done, the killed config resumed from its checkpoint on
#     another node and ends with the weight hash of an uninterrupted run of that config
#     (run once more under `baton launch` to compare);
#  d. the head SIGKILLed after the first checkpoint, then `baton launch --resume RUN`:
#     attempt 2 resumes from the checkpoint, exactly once over both heads, replicas equal;
#  e. `--local 3 --nnodes 2` (a spare) with local-1 crashed: local-2 takes its place, the
#     world stays 4 (every checkpoint segment), exactly once, replicas equal, and resumed
#     from the same point as part d, the same weights as part d.
# Exactly-once and the hashes are checked from what the trainer left on disk by
# Tests/Integration/trainers/check_pytorch_run.py, not from the trainer's own words.
# Needs python3-torch: missing as root it FAILS (nothing may skip as root), else SKIP (77).
# Needs no root otherwise. Bounded: about 90 s here (2 shared cores).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
TRAIN=$root/Examples/pytorch/train.py
CHECK=$root/Tests/Integration/trainers/check_pytorch_run.py
unset PYTHONPATH # the trainer finds this checkout's python/baton by itself
need_torch
need_build
make_tmp
# The simulated nodes' sessions, and any process of an attempt of this test (every one
# carries BATON_ATTEMPT_TOKEN=<its run directory>#<attempt>); the heads (bg_pid) first.
on_exit kill_env "BATON_ATTEMPT_TOKEN=$tmp/"
on_exit kill_sessions
nothing_left() { [ -z "$(env_pids "BATON_ATTEMPT_TOKEN=$tmp/")" ]; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# hashes FILE: the distinct weight hashes the ranks printed ("NODE:RANK weights-sha256 RANK HEX").
hashes() { grep -o 'weights-sha256 [0-9]* [0-9a-f]*$' "$1" | awk '{print $3}' | sort -u; }
json_field() { "$PY" -c 'import json, sys; print(json.loads(open(sys.argv[1]).read())[sys.argv[2]])' "$@"; }
N=1438 # training samples of the digits split
EPOCHS=3
launch_args=(--heartbeat-timeout 5s --grace 3s --shard-samples "$N" --shard-shuffle --shard-seed 7)

# start_until_checkpoint NAME: the trainer under `launch --local 2 --nproc-per-node 2` in run
# $R, in a session of its own (head pid in $head), output in $tmp/NAME.{out,err}; returns
# once its first checkpoint exists (bounded).
start_until_checkpoint() {
  setsid timeout 150 "$B" launch --local 2 --nproc-per-node 2 --run-dir "$R" "${launch_args[@]}" -- \
    "$PY" "$TRAIN" --epochs "$EPOCHS" --quiet --step-sleep 0.05 > "$tmp/$1.out" 2> "$tmp/$1.err" &
  head=$!
  bg_pid "$head" # the leader of a session of its own
  wait_for 60 test -s "$R/checkpoints/checkpoint.pt"
}

# a. Two simulated nodes x two ranks, no fault.
t=$(now)
R=$tmp/plain
timeout 120 "$B" launch --local 2 --nproc-per-node 2 --run-dir "$R" "${launch_args[@]}" -- \
  "$PY" "$TRAIN" --epochs "$EPOCHS" --quiet > "$tmp/plain.out" 2> "$tmp/plain.err"
rc=$?
check "launch: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/plain.err" "$tmp/plain.out"
"$PY" "$CHECK" "$R/checkpoints" "$EPOCHS" > "$tmp/plain.check" 2>&1
check "launch: every sample committed exactly once per epoch, replicas equal on disk" "[ \"\$(json_field '$tmp/plain.check' ok)\" = True ]" || cat "$tmp/plain.check"
check "launch: 4 ranks printed one and the same weight hash" "[ \$(grep -c 'weights-sha256 [0-3] ' '$tmp/plain.out') -eq 4 ] && [ \$(hashes '$tmp/plain.out' | wc -l) -eq 1 ]"
check "launch: the ranks read Baton's shards (4 of epoch 0)" "[ \$(ls '$R'/shards/attempt-1/rank-*.npy | wc -l) -eq 4 ]"
check "launch: nothing left" "wait_for 10 nothing_left"
echo "a. launch, no fault: $(since "$t") s"

# b. local-1 crashed once the first checkpoint exists: restart on local-0.
t=$(now)
R=$tmp/crash
start_until_checkpoint crash
check "crash: first checkpoint written" "[ -s '$R/checkpoints/checkpoint.pt' ] && [ -s '$R/local/local-1.sid' ]"
killed_at=$(now)
# A crash: every process of the node stopped, then killed (none sees another die).
sid=$(cat "$R/local/local-1.sid"); pkill -STOP -s "$sid"; pkill -KILL -s "$sid"
wait "$head"
rc=$?
check "crash: exit 0" "[ $rc -eq 0 ]" || tail -30 "$tmp/crash.err" "$tmp/crash.out"
check "crash: restart event names local-1" "grep -q '\"event\":\"restart\".*\"lost\":\[\"local-1\"\]' '$R/events.jsonl'"
check "crash: attempt 2 on local-0 (2 ranks) completed" "grep -q 'attempt 2 on local-0 (2 ranks): completed' '$tmp/crash.err'"
check "crash: attempt 2 resumed from the checkpoint" "grep -q 'local-0:0 train.py: resumed from .* (attempt 2, 2 ranks)' '$tmp/crash.out'"
"$PY" "$CHECK" "$R/checkpoints" "$EPOCHS" > "$tmp/crash.check" 2>&1
check "crash: every sample committed exactly once per epoch across attempts, replicas equal" "[ \"\$(json_field '$tmp/crash.check' ok)\" = True ] && grep -q '\"attempts\": \[1, 2\]' '$tmp/crash.check'" || cat "$tmp/crash.check"
check "crash: the 2 ranks of attempt 2 printed one weight hash" "[ \$(grep -c 'weights-sha256 [01] ' '$tmp/crash.out') -eq 2 ] && [ \$(hashes '$tmp/crash.out' | wc -l) -eq 1 ]"
check "crash: nothing left" "wait_for 10 nothing_left"
resumed_at=$(grep -o 'attempt 2 first step at [0-9.]*' "$tmp/crash.out" | awk '{print $NF}')
lost_at=$("$PY" -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "node-lost": print(e["time"]); break' "$R/events.jsonl")
[ -n "$resumed_at" ] && [ -n "$lost_at" ] && awk -v k="$killed_at" -v l="$lost_at" -v r="$resumed_at" \
  'BEGIN { printf "b. crash: node lost %.2f s after the kill, first resumed step %.2f s after it\n", l - k, r - k }'
echo "b. launch with a node crash: $(since "$t") s"

# c. A grid of 4 configs on 2 simulated nodes, 2 ranks each; local-1 killed mid-config.
t=$(now)
G=$tmp/grid
cat > "$tmp/spec.yaml" <<YAML
command: [$PY, $TRAIN, --lr, "{lr}", --hidden, "{hidden}", --epochs, "$EPOCHS", --step-sleep, "0.04", --quiet]
parameters:
  lr: [0.05, 0.2]
  hidden: [16, 32]
ranks_per_node: 2
max_retries: 0
timeout: 90s                 # a rank that never exits fails its config instead of holding the grid
objective: {metric: test_accuracy, mode: max}
YAML
setsid timeout 240 "$B" grid "$tmp/spec.yaml" --local 2 --run-dir "$G" --heartbeat-timeout 5s > "$tmp/grid.out" 2>&1 &
head=$!
bg_pid "$head"
# The config on local-1, once it has a checkpoint.
on_local1() {
  "$B" grid status "$G" --json 2>/dev/null | "$PY" -c 'import json, sys
for n in json.load(sys.stdin)["nodes"]:
    if n["name"] == "local-1" and n.get("config"): print(n["config"])' 2>/dev/null
}
killed=""
ready() { killed=$(on_local1); [ -n "$killed" ] && [ -s "$G/configs/$killed/checkpoint/checkpoint.pt" ]; }
wait_for 90 ready
check "grid: a config on local-1 has checkpointed" "[ -n '$killed' ]"
killed_at=$(now)
"$B" grid kill-node "$G" local-1 > "$tmp/kill.out" 2>&1
check "grid: kill-node local-1" "[ $? -eq 0 ]" || cat "$tmp/kill.out"
wait "$head"
rc=$?
check "grid: exit 0, 4 done" "[ $rc -eq 0 ] && grep -q 'grid finished: 4 done, 0 failed' '$tmp/grid.out'" || tail -30 "$tmp/grid.out"
"$B" grid results "$G" --json > "$tmp/results.json" 2>&1
"$PY" - "$tmp/results.json" "$killed" > "$tmp/results.check" 2>&1 <<'PY'
import json, sys
results, killed = json.load(open(sys.argv[1])), sys.argv[2]
bad = [r["id"] for r in results if r["status"] != "done"]
k = [r for r in results if r["id"] == killed]
problems = []
if len(results) != 4 or bad:
    problems.append("not every config done: %s" % bad)
if not k:
    problems.append("killed config %s not in the results" % killed)
else:
    k = k[0]
    if not (k["attempts"] == 2 and k["handed_off"] and k["resumed"]):
        problems.append("killed config: attempts %s handed_off %s resumed %s" % (k["attempts"], k["handed_off"], k["resumed"]))
    if k["nodes"][0] != ["local-1"] or k["nodes"][-1] == ["local-1"]:
        problems.append("killed config ran on %s, expected local-1 then another node" % k["nodes"])
print(json.dumps({"ok": not problems, "problems": problems}))
PY
check "grid: every config done; the killed one handed off from local-1 to another node and resumed" "grep -q '\"ok\": true' '$tmp/results.check'" || cat "$tmp/results.check"
check "grid: its attempt 2 resumed mid-run from the checkpoint" "grep -q 'train.py: resumed from .*/configs/$killed/checkpoint/checkpoint.pt' '$G/configs/$killed/attempt-2.log'"
"$PY" "$CHECK" "$G/configs/$killed/checkpoint" "$EPOCHS" > "$tmp/grid.check" 2>&1
check "grid: the killed config committed every sample exactly once across its 2 attempts, replicas equal" "[ \"\$(json_field '$tmp/grid.check' ok)\" = True ] && grep -q '\"attempts\": \[1, 2\]' '$tmp/grid.check'" || cat "$tmp/grid.check"
others_ok=1
for d in "$G"/configs/*/; do
  id=$(basename "$d"); [ "$id" = "$killed" ] && continue
  "$PY" "$CHECK" "$d/checkpoint" "$EPOCHS" > "$tmp/other.check" 2>&1 || { others_ok=0; cat "$tmp/other.check"; }
done
check "grid: the other configs exactly once, replicas equal" "[ $others_ok -eq 1 ]"
check "grid: nothing left" "wait_for 10 nothing_left"
resumed_at=$(grep -o 'attempt 2 first step at [0-9.]*' "$G/configs/$killed/attempt-2.log" | awk '{print $NF}')
[ -n "$resumed_at" ] && awk -v k="$killed_at" -v r="$resumed_at" 'BEGIN { printf "c. grid: first resumed step of the killed config %.2f s after kill-node\n", r - k }'
echo "c. grid with kill-node: $(since "$t") s"

# The killed config once more, uninterrupted, on 2 ranks: the same final weights.
t=$(now)
"$B" grid plan "$tmp/spec.yaml" --json | "$PY" -c 'import json, sys
for c in json.load(sys.stdin):
    if c["id"] == sys.argv[1]: sys.stdout.write("\0".join(c["argv"]) + "\0")' "$killed" > "$tmp/argv"
mapfile -d '' argv < "$tmp/argv"
check "reference: the killed config's argv from grid plan" "[ \${#argv[@]} -gt 2 ]"
timeout 120 "$B" launch --local 1 --nproc-per-node 2 --run-dir "$tmp/ref" --heartbeat-timeout 5s -- "${argv[@]}" \
  > "$tmp/ref.out" 2> "$tmp/ref.err"
rc=$?
check "reference: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/ref.err" "$tmp/ref.out"
"$PY" "$CHECK" "$tmp/ref/checkpoints" "$EPOCHS" > "$tmp/ref.check" 2>&1
h_killed=$(json_field "$tmp/grid.check" hash 2>/dev/null)
h_ref=$(json_field "$tmp/ref.check" hash 2>/dev/null)
echo "   killed-and-resumed $killed: $h_killed"
echo "   uninterrupted:              $h_ref"
check "grid: the resumed config ends with the uninterrupted run's weights" "[ -n '$h_ref' ] && [ '$h_killed' = '$h_ref' ]"
check "reference: nothing left" "wait_for 10 nothing_left"
echo "c. reference run: $(since "$t") s"

# d. The head SIGKILLed (not its nodes) once the first checkpoint exists: the ranks fence
# when its leases stop; `baton launch --resume` continues the same command on the same
# nodes from the checkpoint (BATON_RESUME=1), every sample exactly once over both heads.
t=$(now)
R=$tmp/headkill
start_until_checkpoint headkill
check "head kill: first checkpoint written" "[ -s '$R/checkpoints/checkpoint.pt' ]"
killed_at=$(now)
kill -KILL "$(cat "$R/head.pid")"
wait "$head" 2>/dev/null
timeout 150 "$B" launch --resume "$R" > "$tmp/resume.out" 2> "$tmp/resume.err"
rc=$?
check "head kill: --resume exit 0" "[ $rc -eq 0 ]" || tail -30 "$tmp/resume.err" "$tmp/resume.out"
check "head kill: attempt 2 resumed from the checkpoint" "grep -q 'train.py: resumed from .* (attempt 2, 4 ranks)' '$tmp/resume.out'"
"$PY" "$CHECK" "$R/checkpoints" "$EPOCHS" > "$tmp/headkill.check" 2>&1
check "head kill: every sample committed exactly once per epoch over both heads, replicas equal" "[ \"\$(json_field '$tmp/headkill.check' ok)\" = True ] && grep -q '\"attempts\": \[1, 2\]' '$tmp/headkill.check'" || cat "$tmp/headkill.check"
check "head kill: the 4 ranks of attempt 2 printed one weight hash" "[ \$(grep -c 'weights-sha256 [0-3] ' '$tmp/resume.out') -eq 4 ] && [ \$(hashes '$tmp/resume.out' | wc -l) -eq 1 ]"
check "head kill: nothing left" "wait_for 10 nothing_left"
resumed_at=$(grep -o 'attempt 2 first step at [0-9.]*' "$tmp/resume.out" | awk '{print $NF}')
[ -n "$resumed_at" ] && awk -v k="$killed_at" -v r="$resumed_at" 'BEGIN { printf "d. head SIGKILL: first resumed step %.2f s after the kill (the --resume command given at once)\n", r - k }'
echo "d. launch, head killed, --resume: $(since "$t") s"

# e. A spare: --local 3 --nnodes 2, local-1 crashed once the first checkpoint exists: local-2
# takes its place and the world stays 4 ranks.
t=$(now)
R=$tmp/spare
setsid timeout 150 "$B" launch --local 3 --nproc-per-node 2 --nnodes 2 --run-dir "$R" "${launch_args[@]}" -- \
  "$PY" "$TRAIN" --epochs "$EPOCHS" --quiet --step-sleep 0.05 > "$tmp/spare.out" 2> "$tmp/spare.err" &
head=$!
bg_pid "$head"
wait_for 60 test -s "$R/checkpoints/checkpoint.pt"
check "spare: first checkpoint written" "[ -s '$R/checkpoints/checkpoint.pt' ] && [ -s '$R/local/local-1.sid' ]"
sid=$(cat "$R/local/local-1.sid"); pkill -STOP -s "$sid"; pkill -KILL -s "$sid"
wait "$head"
rc=$?
check "spare: exit 0" "[ $rc -eq 0 ]" || tail -30 "$tmp/spare.err" "$tmp/spare.out"
check "spare: local-2 took local-1's place, WORLD_SIZE 4 as before" \
  "grep -q 'spare local-2 for local-1; WORLD_SIZE stays 4' '$tmp/spare.err' && grep -q 'attempt 2 on local-0,local-2 (4 ranks): completed' '$tmp/spare.err'"
check "spare: attempt 2 resumed from the checkpoint on 4 ranks" "grep -q 'train.py: resumed from .* (attempt 2, 4 ranks)' '$tmp/spare.out' && ! grep -q 'world size .* -> ' '$tmp/spare.out'"
"$PY" "$CHECK" "$R/checkpoints" "$EPOCHS" > "$tmp/spare.check" 2>&1
check "spare: every sample committed exactly once per epoch across attempts, replicas equal" "[ \"\$(json_field '$tmp/spare.check' ok)\" = True ] && grep -q '\"attempts\": \[1, 2\]' '$tmp/spare.check'" || cat "$tmp/spare.check"
check "spare: every segment of the checkpoint's history on 4 ranks (no re-shard, global batch unchanged)" \
  "'$PY' -c \"import torch, sys; h = torch.load('$R/checkpoints/checkpoint.pt')['history']; sys.exit(0 if h and all(x['world'] == 4 for x in h) else 1)\""
# Part d resumed on its own nodes from a checkpoint too: from the same point, the spare must
# end with the same weights (the node under ranks 2 and 3 changes nothing of the math).
at() { grep -o 'resumed from .* at epoch [0-9]*, [0-9]* of' "$1" | sed 's/.* at epoch/epoch/'; }
if [ -n "$(at "$tmp/spare.out")" ] && [ "$(at "$tmp/spare.out")" = "$(at "$tmp/resume.out")" ]; then
  check "spare: the weights of part d's resume from the same point" \
    "[ \$(hashes '$tmp/spare.out' | wc -l) -eq 1 ] && [ \"\$(hashes '$tmp/spare.out')\" = \"\$(hashes '$tmp/resume.out')\" ]"
else
  echo "  spare: resumed at another point than part d ($(at "$tmp/spare.out") vs $(at "$tmp/resume.out")): weights not compared"
fi
check "spare: nothing left" "wait_for 10 nothing_left"
echo "e. launch with a spare: $(since "$t") s"

finish
