#!/usr/bin/env bash
# 63-snapshot-restore: a snapshot taken while `baton grid --local 2` runs checkpointing
# configs, the head then stopped, the snapshot restored into a new directory and resumed
# there: every config done exactly once overall (finished ones not rerun, running ones
# resumed from their checkpoints). Periodic snapshots with retention keep exactly N. A byte
# flipped in a snapshot file: restore refuses (exit 65), naming the file, writing nothing.
# A launch run's periodic snapshots: retention, and the last one restores its checkpoints.
# Needs: $BATON_BUILD/baton, python3. Bounded: about 45 s.
root=$(cd "$(dirname "$0")/../.." && pwd)
set -euo pipefail
baton=${BATON_BUILD:-.build/debug}/baton
work=$(mktemp -d)
head=""
cleanup() {
  local rc=$?
  if [ -n "$head" ] && kill -0 "$head" 2>/dev/null; then kill -TERM "$head" 2>/dev/null || true; wait "$head" 2>/dev/null || true; fi
  for d in "$work"/run "$work"/new; do
    [ -f "$d/grid.sqlite" ] && "$baton" grid stop "$d" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.out "$work"/*.err; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }

# The trainer: Tests/Integration/trainers/step-trainer.sh (atomic step checkpoint, resume, `completions`).
cat > "$work/spec.yaml" <<YAML
command: [$root/Tests/Integration/trainers/step-trainer.sh, loss, "{loss}", "{steps}", "0.1"]
parameters:
  loss: [0.5, 0.4, 0.3, 0.2, 0.1]
  steps: [30]
objective: {metric: loss, mode: min}
YAML

"$baton" grid "$work/spec.yaml" --local 2 --run-dir "$work/run" --quiet > "$work/run.out" 2>&1 &
head=$!
# Wait (bounded) for 2 configs done and 2 running, then for the running ones to checkpoint.
for _ in $(seq 300); do
  state=$("$baton" grid status "$work/run" 2>/dev/null | sed -n 's/^configs: \([0-9]*\) done, \([0-9]*\) running.*/\1 \2/p' || true)
  [ "$state" = "2 2" ] && break
  sleep 0.1
done
[ "$state" = "2 2" ] || fail "expected 2 done and 2 running, saw '$state'"
running_ckpts() {
  python3 - "$work/run" <<'PY'
import sqlite3, sys, os
run = sys.argv[1]
db = sqlite3.connect(f"file:{run}/grid.sqlite?mode=ro", uri=True)
ids = [r[0] for r in db.execute("select id from configs where status='running'")]
steps = []
for i in ids:
    try: steps.append(int(open(f"{run}/configs/{i}/checkpoint/step").read()))
    except (OSError, ValueError): steps.append(0)
print(min(steps) if len(steps) == 2 else 0)
PY
}
for _ in $(seq 100); do
  [ "$(running_ckpts)" -ge 3 ] && break
  sleep 0.1
done
[ "$(running_ckpts)" -ge 3 ] || fail "the running configs did not checkpoint"

"$baton" snapshot "$work/run" --label mid --json > "$work/snap.out" 2> "$work/snap.err" || fail "snapshot exited $?"
snap=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['dir'])" "$work/snap.out")
[ -f "$snap/manifest.json" ] || fail "no manifest in $snap"
ls -a "$work/run/snapshots" | grep -q '^\.tmp-' && fail "a temporary snapshot folder was left"

# Stop the head; the running attempts go back to pending in the original run.
"$baton" grid stop "$work/run" > "$work/stop.out" || fail "stop exited $?"
for _ in $(seq 200); do kill -0 "$head" 2>/dev/null || break; sleep 0.1; done
kill -0 "$head" 2>/dev/null && fail "the head did not stop"
wait "$head" || true
head=""

"$baton" snapshot list "$work/run" --json --verify > "$work/list.json" || fail "snapshot list exited $?"
python3 - "$work/list.json" <<'PY' || fail "list check"
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 1 and rows[0]["label"] == "mid" and rows[0]["verified"] == "sha256", rows
assert rows[0]["files"] > 5 and rows[0]["bytes"] > 0, rows
PY

"$baton" restore "$snap" --to "$work/new" > "$work/restore.out" 2>&1 || fail "restore exited $?"
grep -q "continue it with: baton grid --resume" "$work/restore.out" || fail "restore did not say how to continue"
timeout 90 "$baton" grid --resume "$work/new" --quiet --snapshot-every 1s --keep-snapshots 2 > "$work/resume.out" 2>&1 \
  || fail "resume of the restored run exited $?"

"$baton" grid results "$work/new" --json > "$work/results.json"
python3 - "$work" <<'PY' || fail "exactly-once check"
import json, sqlite3, sys
work = sys.argv[1]
rows = json.load(open(f"{work}/results.json"))
assert [r["status"] for r in rows] == ["done"] * 5, rows
db = sqlite3.connect(f"{work}/new/grid.sqlite")
# Exactly one attempt ended `done` per config, none left running (the store's tally).
per = dict(db.execute("select config_id, sum(status='done') from attempts group by config_id"))
assert sorted(per.values()) == [1] * 5, per
assert db.execute("select count(*) from attempts where status='running'").fetchone()[0] == 0
once = 0; resumed = 0
for r in rows:
    ck = f"{work}/new/configs/{r['id']}/checkpoint"
    assert len(open(f"{ck}/completions").read().split()) == 1, r       # ran to the end once
    assert open(f"{ck}/step").read().strip() == "30", r
    if r["attempts"] == 1:
        once += 1
    else:
        # Was running in the snapshot: resumed from its checkpoint in the new run, not from 0.
        log = open(f"{work}/new/configs/{r['id']}/attempt-{r['attempts']}.log").read()
        said = [l.split(" ", 1)[1] for l in log.splitlines() if " resume=" in l][0]
        assert said.startswith("resume=1") and int(said.split("start=")[1]) >= 3, said
        resumed += 1
assert once == 3 and resumed == 2, (once, resumed)   # 2 done before, 1 pending; 2 running
print(f"ok: {once} configs ran once, {resumed} resumed from the snapshot's checkpoints")
PY

# Retention: more than 2 were taken (every 1 s + at the end), exactly 2 are left, the last one at run end.
taken=$(grep -c '^snapshot .* files' "$work/resume.out" || true)
[ "$taken" -ge 3 ] || fail "expected at least 3 snapshots during the resumed run, saw $taken"
[ "$(find "$work/new/snapshots" -mindepth 1 -maxdepth 1 | wc -l)" -eq 2 ] || fail "retention did not keep exactly 2: $(ls -a "$work/new/snapshots")"
"$baton" snapshot list "$work/new" --json > "$work/list2.json"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert len(r)==2 and r[-1]['label']=='run end', r" "$work/list2.json" \
  || fail "the newest kept snapshot is not the run-end one"

# A byte flipped in one snapshot file: restore refuses, naming it, and writes nothing.
victim=$(python3 -c "
import json,sys
m=json.load(open(sys.argv[1]+'/manifest.json'))
print([f['path'] for f in m['files'] if f['path'].endswith('/attempt-1.log') and f['size']>10][0])" "$snap")
python3 -c "
import sys
p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[5]^=1; open(p,'r+b').write(b)" "$snap/$victim"
rc=0; "$baton" restore "$snap" --to "$work/new2" > "$work/bad.out" 2> "$work/bad.err" || rc=$?
[ "$rc" -eq 65 ] || fail "restore of a damaged snapshot exited $rc, not 65"
grep -q "$victim: sha256" "$work/bad.err" || fail "restore did not name $victim"
[ ! -e "$work/new2" ] || fail "restore wrote $work/new2 from a damaged snapshot"
rc=0; "$baton" snapshot list "$work/run" --verify > "$work/list3.out" || rc=$?
[ "$rc" -eq 65 ] && grep -q "NO: $victim" "$work/list3.out" || fail "list --verify did not flag $victim (exit $rc)"
# A launch run: periodic snapshots with retention, the last one restorable with its checkpoints.
cat > "$work/ckpt.sh" <<'SH'
#!/bin/sh
# Saves a step count atomically (temp + rename) per rank, 4 steps of 0.5 s.
mkdir -p "$BATON_CHECKPOINT_DIR"
for i in 1 2 3 4; do
  echo "$i" > "$BATON_CHECKPOINT_DIR/.step-$RANK.tmp" && mv -f "$BATON_CHECKPOINT_DIR/.step-$RANK.tmp" "$BATON_CHECKPOINT_DIR/step-$RANK"
  sleep 0.5
done
SH
chmod +x "$work/ckpt.sh"
timeout 60 "$baton" launch --local 2 --run-dir "$work/launch" --snapshot-every 500ms --keep-snapshots 2 -- "$work/ckpt.sh" \
  > "$work/launch.out" 2>&1 || fail "launch with snapshots exited $?"
[ "$(grep -c 'baton launch: snapshot .* files' "$work/launch.out")" -ge 3 ] || fail "launch took fewer than 3 snapshots"
[ "$(find "$work/launch/snapshots" -mindepth 1 -maxdepth 1 | wc -l)" -eq 2 ] || fail "launch retention did not keep exactly 2"
last=$(ls -d "$work"/launch/snapshots/* | sort | tail -1)
"$baton" restore "$last" --to "$work/launch2" > "$work/restore-launch.out" 2>&1 || fail "restore of the launch snapshot exited $?"
for r in 0 1; do [ "$(cat "$work/launch2/checkpoints/step-$r")" = 4 ] || fail "restored launch checkpoint step-$r is not 4"; done
# The launch store came through the backup API, whole: the restored run's report is the run's.
python3 -c "
import json,sys
m=json.load(open(sys.argv[1]+'/manifest.json'))
sys.exit([f['how'] for f in m['files'] if f['path']=='launch.sqlite'] != ['backup'])" "$last" || fail "the launch store is not in the snapshot as a backup"
"$baton" launch report "$work/launch2" --json > "$work/launch2-report.json" || fail "launch report of the restored run exited $?"
python3 -c "
import json,sys
sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))" "$work/launch2-report.json" "$work/launch/report.json" \
  || fail "the restored store's report differs from the run's report.json"
[ -f "$work/launch2/events.jsonl" ] && [ -f "$work/launch2/report.json" ] || fail "restored launch state files missing"
[ ! -e "$work/launch2/head.pid" ] || fail "a restored launch run must have no head.pid"
# Milestone snapshots: one per new best objective (loss, min), taken after the commit that
# recorded it; one node, so the configs run in spec order and 0.3 then 0.1 are the bests.
cat > "$work/best.yaml" <<YAML
command: [$root/Tests/Integration/trainers/step-trainer.sh, loss, "{loss}", "3", "0.1"]
parameters:
  loss: [0.3, 0.5, 0.1, 0.4, 0.2]
objective: {metric: loss, mode: min}
YAML
timeout 90 "$baton" grid "$work/best.yaml" --local 1 --run-dir "$work/best" --quiet --snapshot-on best > "$work/best.out" 2>&1 \
  || fail "grid --snapshot-on best exited $?"
"$baton" snapshot list "$work/best" --json > "$work/best.json"
python3 - "$work/best.json" "$work/best" <<'PY' || fail "milestone snapshots"
import json, sqlite3, sys
rows, run = json.load(open(sys.argv[1])), sys.argv[2]
labels = [r["label"] for r in rows]
assert len(labels) == 3 and labels[0].startswith("new best loss=0.3 (") and labels[1].startswith("new best loss=0.1 (") \
    and labels[2] == "run end", labels
# The best-0.1 snapshot's store already holds that config done (the snapshot came after the commit).
best = labels[1].split("(")[1].rstrip(")")
db = sqlite3.connect(f"file:{rows[1]['dir']}/grid.sqlite?mode=ro", uri=True)
assert db.execute("select status, objective from configs where id=?", (best,)).fetchone() == ("done", 0.1), best
# The run keeps its snapshot settings for a resume.
meta = dict(sqlite3.connect(f"file:{run}/grid.sqlite?mode=ro", uri=True).execute("select key, value from meta"))
assert meta.get("snapshot_on") == "best", meta
PY
echo "ok: --snapshot-on best: a snapshot at each new best (0.3, 0.1) holding it done, one at the end"
echo "PASS 63-snapshot-restore"
