#!/usr/bin/env bash
# baton grid inside a real Slurm allocation (scripts/slurm-bed: slurmctld, 3 slurmd in network
# namespaces, munged): `salloc -N3 --no-kill baton grid SPEC` takes its nodes from
# SLURM_JOB_NODELIST, each config attempt an mpirun job whose daemons srun starts. A grid of 6
# checkpointing configs, sl3's job processes killed (scripts/slurm-bed crash) mid-config.
# Checks: every config done exactly once, the lost config resumed from its checkpoint on a
# survivor (BATON_RESUME=1, start step >= 5), every other config's attempt count is 1.
# Then `baton doctor --hosts` (no list) in an allocation: a row per node, a crashed node's
# NO ANSWER row. Prints fault -> hand-off. Needs root and the Slurm packages; otherwise SKIP (exit 77).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root "needs root for network namespaces and slurmd"
need_build
make_tmp

# The trainer: Tests/Integration/trainers/step-trainer.sh (atomic step checkpoint, resume, `completions`).
cat > "$tmp/spec.yaml" <<YAML
command: [$root/Tests/Integration/trainers/step-trainer.sh, score, "{score}", "30", "0.15"]
parameters:
  score: {range: [1, 7]}
objective: {metric: score, mode: max}
YAML

# The config running on $2 in run $1 once it has checkpointed 5 steps (empty if none).
G="$root/Tests/Integration/trainers/grid_checks.py"
config_on() { python3 "$G" config-on "$1" "$2"; }
# found_on RUN NODE: true once `lost` holds that config, or config_on failed (ends the poll).
found_on() { lost=$(config_on "$1" "$2") || return 0; [ -n "$lost" ]; }

slurm_up 3

R=$tmp/grid
( timeout 80 salloc -N3 --ntasks-per-node=1 --no-kill --quiet \
    "$B" grid "$tmp/spec.yaml" --run-dir "$R" --heartbeat-timeout 3s --cool-down 600s > "$tmp/grid.out" 2>&1
  echo $? > "$tmp/grid.rc" ) &
bg_pid $!
lost=
wait_for 40 found_on "$R" sl3
check "a config runs on sl3" "[ -n '$lost' ]" || { cat "$tmp/grid.out"; exit 1; }
failed_at=$(date +%s.%N)
"$S" crash sl3
wait_for 75 test -s "$tmp/grid.rc"
check "grid exit 0" "[ \"\$(cat '$tmp/grid.rc' 2>/dev/null)\" = 0 ]" || tail -30 "$tmp/grid.out"
check "hosts taken from the allocation" "grep -q 'SLURM_JOB_NODELIST' '$tmp/grid.out'" || head -5 "$tmp/grid.out"
"$B" grid results "$R" --json > "$tmp/results.json" 2>/dev/null
check "exactly once, the lost config resumed on a survivor, the others untouched" "python3 '$G' exactly-once '$R' '$tmp/results.json' '$lost' sl3 6"
handoff=$(python3 "$G" handoff-times "$R" "$failed_at")
echo "  crash: $handoff"

# sbatch of Examples/slurm/grid.sbatch, then `scontrol requeue` while it runs: the requeued
# run of the script does `baton grid --resume`; every config done exactly once, the configs
# finished before the requeue not rerun, the stopped ones resumed from their checkpoints.
# Slurm holds a requeued batch job for a BeginTime delay (EligibleTime = requeue time +
# ~2 min, Reason=BeginTime; measured); the test lifts it with `scontrol update StartTime=now`.
"$S" heal sl3
check "sl3 back in service" "'$S' wait-state sl3 idle 40 >/dev/null" || { sinfo -N; scontrol show node sl3 | grep -i reason; }
R=$tmp/batch
# Done configs and running ones past step 5 in run $1: "DONE PAST5 DONE_IDS".
progress() {
  python3 - "$1" <<'PY'
import sqlite3, sys
run = sys.argv[1]
try:
    db = sqlite3.connect(f"file:{run}/grid.sqlite?mode=ro", uri=True, timeout=1)
    done = [c for (c,) in db.execute("select id from configs where status='done'")]
    running = [c for (c,) in db.execute("select config_id from attempts where status='running'")]
except Exception:
    done, running = [], []
past = 0
for c in running:
    try: past += int(open(f"{run}/configs/{c}/checkpoint/step").read()) >= 5
    except (FileNotFoundError, ValueError): pass
print(len(done), past, ",".join(done) or "-")
PY
}
job=$(cd "$tmp" && BATON=$B sbatch --parsable -o "$tmp/job.out" "$root/Examples/slurm/grid.sbatch" "$tmp/spec.yaml" "$R" 2>"$tmp/sbatch.err")
check "sbatch accepted" "[ -n '$job' ]" || { cat "$tmp/sbatch.err"; finish; exit; }
ready() { set -- $(progress "$R"); [ "$1" -ge 1 ] && [ "$2" -ge 1 ]; }
check "batch: a config done and one past step 5" "wait_for 40 ready" || cat "$tmp/job.out"
done_before=$(progress "$R" | cut -d' ' -f3)
scontrol requeue "$job"
t_requeue=$SECONDS
pending() { scontrol show job "$job" 2>/dev/null | grep -q 'JobState=PENDING'; }
check "batch: requeued job pending" "wait_for 30 pending"
reason=$(scontrol show job "$job" | grep -o 'Reason=[^ ]*')
eligible=$(scontrol show job "$job" | sed -n 's/.*EligibleTime=\([^ ]*\).*/\1/p')
hold=$(( $(date -d "$eligible" +%s) - $(date +%s) ))
echo "  requeued job: $reason, eligible in ${hold} s; lifted with scontrol update StartTime=now"
scontrol update JobId="$job" StartTime=now
gone() { [ -z "$(squeue -h -j "$job" 2>/dev/null)" ]; }
check "batch: requeued run finished" "wait_for 50 gone" || { scontrol show job "$job"; tail -20 "$tmp/job.out"; }
echo "  requeue -> job finished: $((SECONDS - t_requeue)) s"
check "batch: the second run resumed the grid" "grep -q 'grid.sbatch: job $job run 1' '$tmp/job.out' && grep -q 'DUE TO JOB REQUEUE' '$tmp/job.out'" || tail -20 "$tmp/job.out"
"$B" grid results "$R" --json > "$tmp/batch.json" 2>/dev/null
check "batch: exactly once, finished configs not rerun, stopped ones resumed" "python3 - '$R' '$tmp/batch.json' '$done_before' <<'PY'
import json, sys
run, results, before = sys.argv[1:]
before = set(before.split(',')) - {'-'}
rows = json.load(open(results))
assert len(rows) == 6 and all(r['status'] == 'done' for r in rows), rows
assert before, 'nothing finished before the requeue'
resumed = 0
for r in rows:
    done = open(f\"{run}/configs/{r['id']}/checkpoint/completions\").read().split()
    assert len(done) == 1, (r['id'], 'completions', done)
    if r['id'] in before:
        assert r['attempts'] == 1, ('rerun after the requeue', r)
    resumed += bool(r['resumed'])
assert resumed >= 1, 'no config resumed from a checkpoint'
PY" || tail -30 "$tmp/job.out"

# `baton doctor --hosts` with no host list inside the allocation: a row per node of it; with
# sl2's processes killed, sl2 is a NO ANSWER row (one srun step per node, so the lost node
# costs only its own row) and the others still answer. The nodes have no RDMA devices, so
# every verdict is FAIL and the exit 1 either way: the rows are what is checked.
rm -f "$tmp/go" "$tmp/ready"
( timeout 80 salloc -N3 --ntasks-per-node=1 --no-kill --quiet /bin/bash -c '
    "$1" doctor --hosts --timeout 20 > "$2/doctor-1.out" 2>&1; echo "rc=$?" >> "$2/doctor-1.out"
    touch "$2/ready"; end=$((SECONDS + 30)); until [ -e "$2/go" ] || [ $SECONDS -ge $end ]; do sleep 0.1; done
    s=$SECONDS; "$1" doctor --hosts --timeout 20 > "$2/doctor-2.out" 2>&1; echo "rc=$? took=$((SECONDS - s))" >> "$2/doctor-2.out"' _ "$B" "$tmp" \
    > "$tmp/doctor.out" 2>&1; echo $? > "$tmp/doctor.rc" ) &
bg_pid $!
wait_for 40 test -e "$tmp/ready"
"$S" crash sl2
touch "$tmp/go"
wait_for 70 test -s "$tmp/doctor.rc"
row() { awk -v h="$2" '$1 == h {print $2, $3; exit}' "$1"; }
check "doctor: the allocation's 3 nodes, each answering" "grep -q 'the 3 nodes of Slurm job' '$tmp/doctor-1.out' && [ \"\$(row '$tmp/doctor-1.out' sl1)\" = 'sl1 FAIL' ] && [ \"\$(row '$tmp/doctor-1.out' sl2)\" = 'sl2 FAIL' ] && [ \"\$(row '$tmp/doctor-1.out' sl3)\" = 'sl3 FAIL' ]" || cat "$tmp/doctor-1.out" "$tmp/doctor.out"
check "doctor: sl2 crashed is a NO ANSWER row, sl1 and sl3 still answer, exit 1" "[ \"\$(row '$tmp/doctor-2.out' sl2)\" = '- NO' ] && [ \"\$(row '$tmp/doctor-2.out' sl1)\" = 'sl1 FAIL' ] && [ \"\$(row '$tmp/doctor-2.out' sl3)\" = 'sl3 FAIL' ] && grep -q '^rc=1 ' '$tmp/doctor-2.out'" || cat "$tmp/doctor-2.out" "$tmp/doctor.out"
echo "  doctor with a node crashed: $(sed -n 's/.*took=\([0-9]*\).*/\1/p' "$tmp/doctor-2.out") s"

finish
