#!/usr/bin/env bash
# 66-mpi4py-local: a few modules of mpi4py's upstream test suite (scripts/mpi4py-suite: the
# sdist matching Debian's python3-mpi4py, fetched once into ~/.cache/baton-mpi4py) at 4 ranks,
# under `baton launch --local 2 --nproc-per-node 2` and under bare `mpirun --oversubscribe
# -np 4`: --local completes within its bound, with the same tests run, failures, errors
# and skips as bare mpirun (issue 29: without `mpi_yield_when_idle` the ranks of simulated
# nodes spin and the suite stalls on a machine with fewer cores than ranks).
# Needs python3-mpi4py (missing as root: FAILED, else SKIP) and the sdist: the cache, or
# pip and the network the first time (SKIP without either). No root. Bounded: 60 s a side.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
if ! [ -x "$PY" ] || ! "$PY" -c 'import mpi4py' 2>/dev/null; then
  missing "$PY cannot import mpi4py (scripts/setup installs python3-mpi4py)"
fi
need_build
make_tmp
# The suite script cleans up what it started itself; this is for a script killed on its way.
token=baton-mpi4py-66-$$
on_exit kill_env "MPI4PY_SUITE_TOKEN=$token"

modules="test_comm test_p2p_obj test_cco_obj test_cco_buf test_rma"
"$root/scripts/mpi4py-suite" --baton "$B" --on local --ranks 4 --sides "bare baton" --timeout 60 --modules "$modules" --token "$token" > "$tmp/out" 2> "$tmp/err"
rc=$?
[ "$rc" -eq 77 ] && skip "$(cat "$tmp/out")"
if [ "$rc" -ne 0 ] && grep -q "pip download\|no pip" "$tmp/err"; then skip "cannot fetch mpi4py's sources: $(tail -1 "$tmp/err")"; fi
cat "$tmp/out"
check "suite: exit 0 (both sides finished in time with the same counts)" "[ $rc -eq 0 ]" || tail -20 "$tmp/err"
check "local: all 4 ranks finished" "grep -Eq '^local +4 +baton +0 +[0-9.]+ +4/4 ' '$tmp/out'"
check "bare: all 4 ranks finished" "grep -Eq '^local +4 +bare +0 +[0-9.]+ +4/4 ' '$tmp/out'"
check "same counts on both sides" "grep -q '^local, 4 ranks: wall time baton/bare = .*; same counts as bare: yes' '$tmp/out'"
check "some tests ran" "awk '\$1 == \"local\" && \$2 == 4 && \$3 == \"baton\" && \$7 > 0 { ok = 1 } END { exit !ok }' '$tmp/out'"
check "nothing left" "[ -z \"\$(env_pids 'MPI4PY_SUITE_TOKEN=$token')\" ]"
check "no work directory left" "[ -z \"\$(find /tmp -maxdepth 1 -name 'baton-mpi4py.*' -newer '$tmp' 2>/dev/null)\" ]"
finish
