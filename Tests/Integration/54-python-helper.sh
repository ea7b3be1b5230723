#!/usr/bin/env bash
# 54-python-helper: the unit tests of the trainer-side Python helper (python/baton: shard and
# plan checks, BatonSampler, report, save_atomic), run with Debian's /usr/bin/python3. With
# $BATON_BUILD they also compare the helper's epoch order with `baton shard samples`.
# Needs python3-numpy (and python3-torch for the DataLoader test; scripts/setup installs
# both). Missing as root: FAILED (nothing may skip as root); otherwise SKIP (77). About 5 s.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
lacking=""
[ -x "$PY" ] || lacking="$PY"
[ -z "$lacking" ] && ! "$PY" -c 'import numpy' 2>/dev/null && lacking="python3-numpy"
[ -z "$lacking" ] && ! "$PY" -c 'import torch' 2>/dev/null && lacking="python3-torch"
[ -z "$lacking" ] || missing "$lacking is missing (scripts/setup installs it)"
# BATON_BUILD is optional here: without it the tests that compare with baton skip.
[ -n "${BATON_BUILD:-}" ] && need_build
cd "$root" || exit 1
# Not on a PYTHONPATH someone set: the package under test is this checkout's python/baton.
out=$(env -u PYTHONPATH timeout 120 "$PY" -m unittest discover -s python/tests 2>&1)
rc=$?
echo "$out" | tail -25
check "python/tests (exit $rc)" "[ $rc -eq 0 ]"
# A skipped test (no baton to compare with) is fine only when BATON_BUILD was not given.
if [ -n "${BATON_BUILD:-}" ] && echo "$out" | grep -q 'skipped='; then fail "tests skipped although BATON_BUILD is set"; fi
finish
