#!/usr/bin/env bash
# 77-grid-readmit-gate: `baton grid` re-admits a dead node only through the health gate a
# launch runs (HealthGate: one rank through mpirun on the node, `baton-exec health`), with
# the launch's back-off. On the 3-node namespace test bed a grid of short configs runs; a node
# is partitioned mid-config: it is lost, and while it is cut off its checks after --cool-down
# fail (the store's `node-check` events name why, each next check twice as late) and nothing
# starts on it; healed, its next check passes (`node-readmitted`) and configs run there again.
# Every config done. Needs root (network namespaces); otherwise SKIP (77). About 40 s.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_root "needs root for network namespaces"
need_build
make_tmp

cat > "$tmp/spec.yaml" <<YAML
command: [$root/Tests/Integration/trainers/step-trainer.sh, score, "{score}", "20", "0.1"]
parameters:
  score: {range: [1, 19]}
YAML
cluster_up g77 10.77.77 3 || fatal "cluster up"
on_exit "$C" heal g77-n2
"$C" hostfile 1 > "$tmp/hostfile"
R=$tmp/run
G="$root/Tests/Integration/trainers/grid_checks.py"
# q SQL: one query on the run store (read-only), its rows as text.
q() { python3 -c "import sqlite3,sys; c=sqlite3.connect('file:$R/grid.sqlite?mode=ro', uri=True, timeout=2); print('\n'.join('|'.join(map(str,r)) for r in c.execute(sys.argv[1])))" "$1" 2>/dev/null; }
( timeout 150 "$B" grid "$tmp/spec.yaml" --hostfile "$tmp/hostfile" --run-dir "$R" --heartbeat-timeout 3s \
    --cool-down 1s --health-timeout 2s > "$tmp/grid.out" 2>&1
  echo $? > "$tmp/grid.rc" ) &
bg_pid $!
on_exit kill_env "BATON_GRID_ATTEMPT=$R#"
lost=
found_on() { lost=$(python3 "$G" config-on "$R" g77-n2) || return 0; [ -n "$lost" ]; }
wait_for 40 found_on || fatal "no config ran on g77-n2: $(tail -5 "$tmp/grid.out")"
"$C" partition g77-n2
# Cut off: lost, then at least two failed checks (1 s, then 2 s later), nothing started there.
wait_for 40 bash -c "[ \$(grep -c 'node g77-n2 failed the health gate' '$tmp/grid.out') -ge 2 ]" \
  || fail "g77-n2 never failed two checks while cut off: $(grep g77-n2 "$tmp/grid.out" | tail -5)"
healed_at=$(date +%s.%N)
"$C" heal g77-n2
wait_for 100 test -s "$tmp/grid.rc"
check "grid: exit 0, every config done" \
  "[ \"\$(cat '$tmp/grid.rc')\" = 0 ] && [ \"\$(q \"select count(*) from configs where status='done'\")\" = 18 ]" || tail -20 "$tmp/grid.out"
check "lost, then its checks failed while cut off, with the reason, each next one twice as late" \
  "q \"select text from events where kind='node-lost' and node='g77-n2'\" | grep -q . \
   && q \"select text from events where kind='node-check' and node='g77-n2'\" | head -2 | tr '\n' '#' | grep -q 'failed the health gate ([0-9.]* s): .*; next check in 2s#.*failed the health gate ([0-9.]* s): .*; next check in 4s#'" \
  || q "select time, kind, text from events where node='g77-n2'"
lost_at=$(q "select min(time) from events where kind='node-lost' and node='g77-n2'")
back_at=$(q "select min(time) from events where kind='node-readmitted' and node='g77-n2'")
check "re-admitted only after the heal, through the gate" \
  "[ -n '$back_at' ] && python3 -c 'import sys; sys.exit(0 if $back_at > $healed_at else 1)' \
   && q \"select text from events where kind='node-readmitted' and node='g77-n2'\" | grep -q 'passed the health gate'" \
  || q "select time, kind, text from events where node='g77-n2'"
check "nothing started on g77-n2 between its loss and its re-admission; configs ran there after" \
  "[ \"\$(q \"select count(*) from attempts where nodes like '%g77-n2%' and started_at > $lost_at and started_at < $back_at\")\" = 0 ] \
   && [ \"\$(q \"select count(*) from attempts where nodes like '%g77-n2%' and started_at > $back_at\")\" -ge 1 ]" \
  || q "select nodes, started_at, status from attempts order by started_at"
echo "  lost at +0, re-admitted $(python3 -c "print('%.1f s after the heal' % ($back_at - $healed_at))")"

finish
