#!/usr/bin/env bash
# 63-snapshot-restore: a snapshot taken while `baton grid --local 2` runs checkpointing
# configs, the head then stopped, the snapshot restored into a new directory and resumed
# there: every config done exactly once overall (finished ones not rerun, running ones
# resumed from their checkpoints). Periodic snapshots with retention keep exactly N. A byte
# flipped in a snapshot file: restore refuses (exit 65), naming the file, writing nothing.
# A launch run's periodic snapshots: retention, and the last one restores its checkpoints.
# Needs: $BATON_BUILD/baton, python3. Bounded: about 45 s.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_build
make_tmp
on_exit stop_grids
# The first failure ends the test, with every output so far.
abort() { echo "FAILED: $*"; for f in "$tmp"/*.out "$tmp"/*.err; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }

# The trainer: Tests/Integration/trainers/step-trainer.sh (atomic step checkpoint, resume, `completions`).
cat > "$tmp/spec.yaml" <<YAML
command: [$root/Tests/Integration/trainers/step-trainer.sh, loss, "{loss}", "{steps}", "0.1"]
parameters:
  loss: [0.5, 0.4, 0.3, 0.2, 0.1]
  steps: [30]
objective: {metric: loss, mode: min}
YAML

"$B" grid "$tmp/spec.yaml" --local 2 --run-dir "$tmp/run" --quiet > "$tmp/run.out" 2>&1 &
head=$!
bg_pid --term "$head"
# Wait (bounded) for 2 configs done and 2 running, then for the running ones to checkpoint.
for _ in $(seq 300); do
  state=$("$B" grid status "$tmp/run" 2>/dev/null | sed -n 's/^configs: \([0-9]*\) done, \([0-9]*\) running.*/\1 \2/p' || true)
  [ "$state" = "2 2" ] && break
  sleep 0.1
done
[ "$state" = "2 2" ] || abort "expected 2 done and 2 running, saw '$state'"
running_ckpts() {
  python3 - "$tmp/run" <<'PY'
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
[ "$(running_ckpts)" -ge 3 ] || abort "the running configs did not checkpoint"

"$B" snapshot "$tmp/run" --label mid --json > "$tmp/snap.out" 2> "$tmp/snap.err" || abort "snapshot exited $?"
snap=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['dir'])" "$tmp/snap.out")
[ -f "$snap/manifest.json" ] || abort "no manifest in $snap"
ls -a "$tmp/run/snapshots" | grep -q '^\.tmp-' && abort "a temporary snapshot folder was left"

# Stop the head; the running attempts go back to pending in the original run.
"$B" grid stop "$tmp/run" > "$tmp/stop.out" || abort "stop exited $?"
for _ in $(seq 200); do kill -0 "$head" 2>/dev/null || break; sleep 0.1; done
kill -0 "$head" 2>/dev/null && abort "the head did not stop"
wait "$head" || true

"$B" snapshot list "$tmp/run" --json --verify > "$tmp/list.json" || abort "snapshot list exited $?"
python3 - "$tmp/list.json" <<'PY' || abort "list check"
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == 1 and rows[0]["label"] == "mid" and rows[0]["verified"] == "sha256", rows
assert rows[0]["files"] > 5 and rows[0]["bytes"] > 0, rows
PY

"$B" restore "$snap" --to "$tmp/new" > "$tmp/restore.out" 2>&1 || abort "restore exited $?"
grep -q "continue it with: baton grid --resume" "$tmp/restore.out" || abort "restore did not say how to continue"
timeout 90 "$B" grid --resume "$tmp/new" --quiet --snapshot-every 1s --keep-snapshots 2 > "$tmp/resume.out" 2>&1 \
  || abort "resume of the restored run exited $?"

"$B" grid results "$tmp/new" --json > "$tmp/results.json"
python3 - "$tmp" <<'PY' || abort "exactly-once check"
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
taken=$(grep -c '^snapshot .* files' "$tmp/resume.out" || true)
[ "$taken" -ge 3 ] || abort "expected at least 3 snapshots during the resumed run, saw $taken"
[ "$(find "$tmp/new/snapshots" -mindepth 1 -maxdepth 1 | wc -l)" -eq 2 ] || abort "retention did not keep exactly 2: $(ls -a "$tmp/new/snapshots")"
"$B" snapshot list "$tmp/new" --json > "$tmp/list2.json"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert len(r)==2 and r[-1]['label']=='run end', r" "$tmp/list2.json" \
  || abort "the newest kept snapshot is not the run-end one"

# A byte flipped in one snapshot file: restore refuses, naming it, and writes nothing.
victim=$(python3 -c "
import json,sys
m=json.load(open(sys.argv[1]+'/manifest.json'))
print([f['path'] for f in m['files'] if f['path'].endswith('/attempt-1.log') and f['size']>10][0])" "$snap")
python3 -c "
import sys
p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[5]^=1; open(p,'r+b').write(b)" "$snap/$victim"
rc=0; "$B" restore "$snap" --to "$tmp/new2" > "$tmp/bad.out" 2> "$tmp/bad.err" || rc=$?
[ "$rc" -eq 65 ] || abort "restore of a damaged snapshot exited $rc, not 65"
grep -q "$victim: sha256" "$tmp/bad.err" || abort "restore did not name $victim"
[ ! -e "$tmp/new2" ] || abort "restore wrote $tmp/new2 from a damaged snapshot"
rc=0; "$B" snapshot list "$tmp/run" --verify > "$tmp/list3.out" || rc=$?
[ "$rc" -eq 65 ] && grep -q "NO: $victim" "$tmp/list3.out" || abort "list --verify did not flag $victim (exit $rc)"
# A launch run: periodic snapshots with retention, the last one restorable with its checkpoints.
cat > "$tmp/ckpt.sh" <<'SH'
#!/bin/sh
# Saves a step count atomically (temp + rename) per rank, 4 steps of 0.5 s.
mkdir -p "$BATON_CHECKPOINT_DIR"
for i in 1 2 3 4; do
  echo "$i" > "$BATON_CHECKPOINT_DIR/.step-$RANK.tmp" && mv -f "$BATON_CHECKPOINT_DIR/.step-$RANK.tmp" "$BATON_CHECKPOINT_DIR/step-$RANK"
  sleep 0.5
done
SH
chmod +x "$tmp/ckpt.sh"
timeout 60 "$B" launch --local 2 --run-dir "$tmp/launch" --snapshot-every 500ms --keep-snapshots 2 -- "$tmp/ckpt.sh" \
  > "$tmp/launch.out" 2>&1 || abort "launch with snapshots exited $?"
[ "$(grep -c 'baton launch: snapshot .* files' "$tmp/launch.out")" -ge 3 ] || abort "launch took fewer than 3 snapshots"
[ "$(find "$tmp/launch/snapshots" -mindepth 1 -maxdepth 1 | wc -l)" -eq 2 ] || abort "launch retention did not keep exactly 2"
last=$(ls -d "$tmp"/launch/snapshots/* | sort | tail -1)
"$B" restore "$last" --to "$tmp/launch2" > "$tmp/restore-launch.out" 2>&1 || abort "restore of the launch snapshot exited $?"
for r in 0 1; do [ "$(cat "$tmp/launch2/checkpoints/step-$r")" = 4 ] || abort "restored launch checkpoint step-$r is not 4"; done
# The launch store came through the backup API, whole: the restored run's report is the run's.
python3 -c "
import json,sys
m=json.load(open(sys.argv[1]+'/manifest.json'))
sys.exit([f['how'] for f in m['files'] if f['path']=='launch.sqlite'] != ['backup'])" "$last" || abort "the launch store is not in the snapshot as a backup"
"$B" launch report "$tmp/launch2" --json > "$tmp/launch2-report.json" || abort "launch report of the restored run exited $?"
python3 -c "
import json,sys
sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))" "$tmp/launch2-report.json" "$tmp/launch/report.json" \
  || abort "the restored store's report differs from the run's report.json"
[ -f "$tmp/launch2/events.jsonl" ] && [ -f "$tmp/launch2/report.json" ] || abort "restored launch state files missing"
[ ! -e "$tmp/launch2/head.pid" ] || abort "a restored launch run must have no head.pid"
# Milestone snapshots: one per new best objective (loss, min), taken after the commit that
# recorded it; one node, so the configs run in spec order and 0.3 then 0.1 are the bests.
cat > "$tmp/best.yaml" <<YAML
command: [$root/Tests/Integration/trainers/step-trainer.sh, loss, "{loss}", "3", "0.1"]
parameters:
  loss: [0.3, 0.5, 0.1, 0.4, 0.2]
objective: {metric: loss, mode: min}
YAML
timeout 90 "$B" grid "$tmp/best.yaml" --local 1 --run-dir "$tmp/best" --quiet --snapshot-on best > "$tmp/best.out" 2>&1 \
  || abort "grid --snapshot-on best exited $?"
"$B" snapshot list "$tmp/best" --json > "$tmp/best.json"
python3 - "$tmp/best.json" "$tmp/best" <<'PY' || abort "milestone snapshots"
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
finish
