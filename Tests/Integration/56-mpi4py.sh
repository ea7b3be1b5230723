#!/usr/bin/env bash
# 56-mpi4py: a real MPI client under the wrapper. Tests/Integration/trainers/mpi_ring.py
# (Debian's python3-mpi4py, run with /usr/bin/python3) calls MPI_Init inside `baton exec`:
# it must join the job Baton's mpirun started (MPI's rank and size equal Baton's RANK and
# WORLD_SIZE, so no rank runs as a singleton), then allreduce and pass values round a ring.
# Under `baton launch --local 2 --nproc-per-node 2`, a one-config `baton grid --local 1`
# with ranks_per_node 2, and on the namespace test bed (`scripts/cluster`, 2 nodes x 2
# ranks, cluster "mpy" on 10.77.10.0/24; each rank's host name is its node's).
# Needs python3-mpi4py: missing as root it FAILS, else SKIP (77). The test-bed part needs
# root (SKIP, exit 77, without it). Bounded: about 30 s.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
RING=$root/Tests/Integration/trainers/mpi_ring.py
if ! [ -x "$PY" ] || ! "$PY" -c 'import mpi4py, numpy' 2>/dev/null; then
  missing "$PY cannot import mpi4py and numpy (scripts/setup installs python3-mpi4py)"
fi
need_build
make_tmp
# Any process of an attempt of this test (BATON_ATTEMPT_TOKEN=<its run directory>#<attempt>),
# after the simulated nodes' sessions.
on_exit kill_env "BATON_ATTEMPT_TOKEN=$tmp/"
on_exit kill_sessions
nothing_left() { [ -z "$(env_pids "BATON_ATTEMPT_TOKEN=$tmp/")" ]; }
# ring_ok FILE SIZE [HOSTCHECK]: every rank 0..SIZE-1 printed "MPIRING r SIZE r SIZE host node ok"
# exactly once; with HOSTCHECK, its host name is its node's.
ring_ok() {
  local r line
  for r in $(seq 0 $(($2 - 1))); do
    [ "$(grep -c "MPIRING $r $2 $r $2 [^ ]* [^ ]* ok\$" "$1")" -eq 1 ] || return 1
    if [ -n "${3:-}" ]; then
      line=$(grep -o "MPIRING $r $2 $r $2 [^ ]* [^ ]* ok\$" "$1")
      [ "$(echo "$line" | awk '{print $6}')" = "$(echo "$line" | awk '{print $7}')" ] || return 1
    fi
  done
  ! grep -q 'MPIRING [0-9]* FAILED' "$1"
}

# 1. launch --local: 2 simulated nodes x 2 ranks.
t=$SECONDS
timeout 60 "$B" launch --local 2 --nproc-per-node 2 --run-dir "$tmp/launch" --heartbeat-timeout 5s -- "$PY" "$RING" \
  > "$tmp/launch.out" 2> "$tmp/launch.err"
rc=$?
check "launch --local: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/launch.err" "$tmp/launch.out"
check "launch --local: MPI rank/size = RANK/WORLD_SIZE on all 4 ranks; allreduce and ring right" "ring_ok '$tmp/launch.out' 4" || cat "$tmp/launch.out"
check "launch --local: ranks 0,1 on local-0, 2,3 on local-1" "grep -q '^local-0:1 MPIRING 1 ' '$tmp/launch.out' && grep -q '^local-1:2 MPIRING 2 ' '$tmp/launch.out'"
check "launch --local: nothing left" "wait_for 10 nothing_left"
echo "1. launch --local: $((SECONDS - t)) s"

# 2. grid --local 1: one config, 2 ranks on one simulated node.
t=$SECONDS
cat > "$tmp/spec.yaml" <<YAML
command: [$PY, $RING, "{x}"]
parameters:
  x: [1]
ranks_per_node: 2
max_retries: 0
timeout: 60s
YAML
timeout 90 "$B" grid "$tmp/spec.yaml" --local 1 --run-dir "$tmp/grid" --heartbeat-timeout 5s > "$tmp/grid.out" 2>&1
rc=$?
check "grid --local: exit 0, 1 done" "[ $rc -eq 0 ] && grep -q 'grid finished: 1 done, 0 failed' '$tmp/grid.out'" || tail -20 "$tmp/grid.out"
check "grid --local: both ranks joined one MPI job of 2" "ring_ok \"\$(ls '$tmp'/grid/configs/*/attempt-1.log)\" 2"
check "grid --local: nothing left" "wait_for 10 nothing_left"
echo "2. grid --local: $((SECONDS - t)) s"

# 3. The namespace test bed: 2 nodes x 2 ranks, real host names.
need_root "the test-bed part needs root for network namespaces"
t=$SECONDS
cluster_up mpy 10.77.10 2
check "test bed: up" "[ $? -eq 0 ]"
timeout 90 "$B" launch -H mpy-n1:2,mpy-n2:2 --run-dir "$tmp/bed" --heartbeat-timeout 5s -- "$PY" "$RING" \
  > "$tmp/bed.out" 2> "$tmp/bed.err"
rc=$?
check "test bed: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/bed.err" "$tmp/bed.out"
check "test bed: MPI rank/size = RANK/WORLD_SIZE on all 4 ranks; each rank's host name is its node's" "ring_ok '$tmp/bed.out' 4 host" || cat "$tmp/bed.out"
check "test bed: ranks 2,3 on mpy-n2" "grep -q 'MPIRING 2 4 2 4 mpy-n2 mpy-n2 ok' '$tmp/bed.out' && grep -q 'MPIRING 3 4 3 4 mpy-n2 mpy-n2 ok' '$tmp/bed.out'"
check "test bed: nothing left in the nodes" "wait_for 10 bash -c '! \"\$0\" pids mpy-n1 | grep -q . && ! \"\$0\" pids mpy-n2 | grep -q .' '$C'"
echo "3. test bed: $((SECONDS - t)) s"

finish
