#!/usr/bin/env bash
# grid --on-corrupt-checkpoint rollback: a config's checkpoint is overwritten with garbage
# while its node hangs; the attempt that takes it over finds the checkpoint unreadable and
# exits BATON_CORRUPT_CHECKPOINT_EXIT (65); the head restores the config's checkpoint from
# the newest periodic snapshot that verifies and holds other bytes than the bad ones, and
# the retry resumes from it. Every config finishes exactly once; the bad checkpoint is kept
# beside. Without rollback the same fault fails the config's attempts. Needs no root.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_build
make_tmp
on_exit kill_env "$tmp/" # whatever of the runs is left, after their heads stopped them
on_exit stop_grids
cat > "$tmp/spec.yaml" <<YAML
command: [$root/Tests/Integration/trainers/step-trainer.sh, loss, "{loss}", "{steps}", "0.1"]
parameters:
  loss: [0.3, 0.2, 0.1]
  steps: [60]
objective: {metric: loss, mode: min}
max_retries: 2
YAML
# The config running on local-1 with step >= 15, and its node's name.
victim() {
  python3 - "$1" <<'PY'
import sqlite3, sys
run = sys.argv[1]
try:
    db = sqlite3.connect(f"file:{run}/grid.sqlite?mode=ro", uri=True, timeout=1)
    rows = db.execute("select config_id from attempts where status='running' and nodes='local-1'").fetchall()
except sqlite3.Error:
    rows = []
for (c,) in rows:
    try:
        if int(open(f"{run}/configs/{c}/checkpoint/step").read()) >= 15: print(c)
    except (FileNotFoundError, ValueError):
        pass
PY
}
found() { cfg=$(victim "$1"); [ -n "$cfg" ]; } # sets cfg to victim's answer; true once there is one
# A snapshot of run $1 begun after time $2 (seconds since 1970) is listed.
snapshot_after() {
  "$B" snapshot list "$1" --json 2>/dev/null | python3 -c "import json, sys; sys.exit(not any(s['created_at'] > float(sys.argv[1]) for s in json.load(sys.stdin)))" "$2"
}

for policy in rollback fail; do
  R=$tmp/run-$policy
  "$B" grid "$tmp/spec.yaml" --local 2 --run-dir "$R" --heartbeat-timeout 3s --snapshot-every 1s --keep-snapshots 60 \
    --on-corrupt-checkpoint "$policy" --detach > /dev/null
  cfg=
  wait_for 60 found "$R"
  check "$policy: a config past step 15 on local-1" "[ -n '$cfg' ]" || continue
  # A periodic snapshot (one a second) taken after this point holds a good checkpoint of it.
  t_good=$(date +%s.%N)
  check "$policy: a snapshot with a good checkpoint of it" "wait_for 20 snapshot_after '$R' $t_good"
  # Its node hung (SIGSTOP: its trainer cannot save again), the checkpoint overwritten in
  # place with garbage; the hang is found after the heartbeat timeout and the attempt that
  # takes the config over reads the garbage.
  "$B" grid kill-node "$R" local-1 --signal STOP --down-for 600s > /dev/null
  echo "garbage" > "$R/configs/$cfg/checkpoint/step"
  head_gone() { ! "$B" grid status "$R" --json 2>/dev/null | grep -q '"head_pid"'; }
  check "$policy: the grid ended" "wait_for 120 head_gone"
  "$B" grid results "$R" --json > "$tmp/$policy.json" 2>/dev/null
  if [ $policy = rollback ]; then
    check "rollback: the head restored the checkpoint from a snapshot" "grep -q 'rolled back configs/$cfg/checkpoint to snapshot' '$R/head.log'" || tail -20 "$R/head.log"
    check "rollback: the unreadable checkpoint kept beside" "grep -qx garbage '$R'/configs/$cfg/checkpoint.corrupt-*/step"
    check "rollback: every config done exactly once; the victim resumed from the snapshot's step" "python3 - '$R' '$tmp/rollback.json' '$cfg' <<'PY'
import json, sys
run, results, cfg = sys.argv[1:]
rows = json.load(open(results))
assert len(rows) == 3 and all(r['status'] == 'done' for r in rows), rows
for r in rows:
    done = open(f\"{run}/configs/{r['id']}/checkpoint/completions\").read().split()
    assert len(done) == 1, (r['id'], done)
v = [r for r in rows if r['id'] == cfg][0]
last = sorted(__import__('glob').glob(f'{run}/configs/{cfg}/attempt-*.log'), key=lambda p: int(p.rsplit('-', 1)[1].split('.')[0]))[-1]
said = [l for l in open(last).read().splitlines() if 'resume=' in l][0]
assert int(said.split('start=')[1]) >= 5, said
print('  victim', cfg, 'attempts', v['attempts'], 'last attempt', said.split(' ', 1)[1])
PY"
  else
    check "fail: without rollback the victim's attempts fail on the unreadable checkpoint" "python3 -c \"
import json, sys
rows = json.load(open('$tmp/fail.json'))
v = [r for r in rows if r['id'] == '$cfg'][0]
assert v['status'] == 'failed', v
assert sum(r['status'] == 'done' for r in rows) == 2, rows
\"" || cat "$tmp/fail.json"
    check "fail: no rollback was made" "! grep -q 'rolled back' '$R/head.log' && ! ls -d '$R'/configs/*/checkpoint.corrupt-* > /dev/null 2>&1"
  fi
done
left=$(grep -lsa -- "$tmp/" /proc/[0-9]*/environ 2>/dev/null | wc -l)
check "nothing left" "[ $left -eq 0 ]"
finish
