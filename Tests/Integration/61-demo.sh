#!/usr/bin/env bash
# The README's first command end to end: scripts/demo sweeps the digits grid on a local
# 4-node cluster, kills local-1 once its config has checkpointed, and must end with all
# 18 configs done, exactly one handed off, and that one resumed from its checkpoint.
# Bounded: 6 minutes (it takes about 1.5 on 2 cores).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$root" || exit 1
make_tmp
run=$tmp/run out=$tmp/out
# Whatever of the run is left (every process of it carries the run directory in its environment).
on_exit kill_env "$run"
DEMO_RUN_DIR="$run" timeout 360 scripts/demo >"$out" 2>&1 || fail "scripts/demo exited $?"
done_rows=$(grep -cE '^[0-9]+ +[0-9a-f]{12} +done ' "$out")
[ "$done_rows" -ge 18 ] || fail "expected 18 done rows, saw $done_rows"
grep -qE '^[0-9]+ +[0-9a-f]{12} +done .*handed-off +local-1>local-' "$out" || fail "no config marked handed-off from local-1"
grep -q "was handed off; attempt-2.log: .*resumed from .*checkpoint.bin at epoch" "$out" || fail "the handed-off config did not resume from its checkpoint"
grep -q "grid finished: 18 done, 0 failed" "$out" || fail "grid did not finish 18 done"
grep -q "demo: the run's timeline and loss curves: $run/report.svg" "$out" || fail "the demo did not say where its SVG is"
Tests/Integration/trainers/check-report-svg.sh "$run/report.svg" 1 1 0 || fail "report.svg lacks the lost node or the hand-off"
[ $fails -eq 0 ] && pass "demo finished 18 configs, one handed off and resumed" || tail -40 "$out"
finish
