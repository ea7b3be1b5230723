#!/usr/bin/env bash
# 54-python-helper: the unit tests of the trainer-side Python helper (python/baton: shard and
# plan checks, BatonSampler, report, save_atomic), run with Debian's /usr/bin/python3. With
# $BATON_BUILD they also compare the helper's epoch order with `baton shard samples`.
# Needs python3-numpy (and python3-torch for the DataLoader test; scripts/setup installs
# both). Missing as root: FAILED (nothing may skip as root); otherwise SKIP (77). About 5 s.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
PY=/usr/bin/python3
missing=""
[ -x "$PY" ] || missing="$PY"
[ -z "$missing" ] && ! "$PY" -c 'import numpy' 2>/dev/null && missing="python3-numpy"
[ -z "$missing" ] && ! "$PY" -c 'import torch' 2>/dev/null && missing="python3-torch"
if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ]; then echo "FAILED: $missing is missing (scripts/setup installs it)"; exit 1; fi
  echo "SKIP: $missing is missing (scripts/setup installs it)"; exit 77
fi
[ -n "${BATON_BUILD:-}" ] && [ ! -x "$BATON_BUILD/baton" ] && { echo "FAILED: no $BATON_BUILD/baton"; exit 1; }
cd "$root" || exit 1
# Not on a PYTHONPATH someone set: the package under test is this checkout's python/baton.
out=$(env -u PYTHONPATH timeout 120 "$PY" -m unittest discover -s python/tests 2>&1)
rc=$?
echo "$out" | tail -25
if [ $rc -ne 0 ]; then echo "FAILED: python/tests (exit $rc)"; exit 1; fi
# A skipped test (no baton to compare with) is fine only when BATON_BUILD was not given.
if [ -n "${BATON_BUILD:-}" ] && echo "$out" | grep -q 'skipped='; then echo "FAILED: tests skipped although BATON_BUILD is set"; exit 1; fi
echo "PASS 54-python-helper"
