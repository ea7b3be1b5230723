#!/usr/bin/env bash
# A deliberately wrong expected value must make `baton selftest` fail, naming the call,
# type, count, rank and first wrong element; and the bindings' error path must not
# abort a multi-rank job. Runs on 2 and 3 ranks (an odd count matters for the ring).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_build
make_tmp
out=$tmp/out
for n in 2 3; do
  timeout 120 mpirun --oversubscribe -np "$n" "$B" selftest --quiet \
      --counts 1 1001 --inject-fault 'allgather' >"$out" 2>&1
  rc=$?
  last=$((n - 1))
  if [ "$rc" -eq 0 ]; then fail "selftest with an injected fault exited 0 on $n ranks"; fi
  if ! grep -Eq "FAIL allgather type=int32 count=1001: rank $last: first wrong element [0-9]+: expected -?[0-9]+, got -?[0-9]+" "$out"; then
    fail "no failure line naming call, type, count, rank $last and element on $n ranks:"; cat "$out"
  fi
  if grep -q "FAIL allreduce" "$out"; then fail "a call other than the injected one failed"; cat "$out"; fi
done
[ $fails -eq 0 ] && pass "injected faults are reported with call, type, count, rank and element"
finish
