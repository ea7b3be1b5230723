#!/usr/bin/env bash
# The README's first command end to end: scripts/demo sweeps the digits grid on a local
# 4-node cluster, kills local-1 once its config has checkpointed, and must end with all
# 18 configs done, exactly one handed off, and that one resumed from its checkpoint.
# Bounded: 6 minutes (it takes about 1.5 on 2 cores).
set -uo pipefail
cd "$(dirname "$0")/../.."
run=$(mktemp -d)/run; out=$(mktemp)
# Whatever of the run is left (every process of it carries the run directory in its environment).
trap 'for p in $(grep -lsa -- "$run" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do kill -KILL "$p" 2>/dev/null; done; rm -rf "$(dirname "$run")" "$out"' EXIT
fail=0
no() { echo "FAIL: $*"; fail=1; }
DEMO_RUN_DIR="$run" timeout 360 scripts/demo >"$out" 2>&1 || no "scripts/demo exited $?"
done_rows=$(grep -cE '^[0-9]+ +[0-9a-f]{12} +done ' "$out")
[ "$done_rows" -ge 18 ] || no "expected 18 done rows, saw $done_rows"
grep -qE '^[0-9]+ +[0-9a-f]{12} +done .*handed-off +local-1>local-' "$out" || no "no config marked handed-off from local-1"
grep -q "was handed off; attempt-2.log: .*resumed from .*checkpoint.bin at epoch" "$out" || no "the handed-off config did not resume from its checkpoint"
grep -q "grid finished: 18 done, 0 failed" "$out" || no "grid did not finish 18 done"
grep -q "demo: the run's timeline and loss curves: $run/report.svg" "$out" || no "the demo did not say where its SVG is"
Tests/Integration/trainers/check-report-svg.sh "$run/report.svg" 1 1 0 || no "report.svg lacks the lost node or the hand-off"
[ $fail -eq 0 ] && echo "ok: demo finished 18 configs, one handed off and resumed" || tail -40 "$out"
exit $fail
