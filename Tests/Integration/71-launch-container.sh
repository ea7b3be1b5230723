#!/usr/bin/env bash
# 71-launch-container: `baton launch --container`: every rank's command inside a container,
# `baton exec` on the host as its supervisor (podman, Debian's).
#  a. 2 simulated nodes x 2 ranks, `sh -c` inside: every rank runs in a container
#     (/run/.containerenv), with the contract (RANK, WORLD_SIZE) and the run directory at
#     its host path; exit 0; no container left (`podman ps -a` empty).
#  b. Real client: Examples/pytorch/train.py (Debian's torch, DDP on gloo) in containers,
#     local-1 crashed once the first checkpoint exists: restarted on local-0, completed,
#     every sample exactly once, replicas equal; no container and no process left.
# The image is this machine's root filesystem (podman's --rootfs with an overlay, so nothing
# is written to it): it holds python3 and torch as the host does, and needs no download.
# Containers start here as 68-container-config.sh found (its header says why): in a private
# mount namespace without the hybrid cgroup2 mount, podman's storage under the test's own
# directory, every rlimit at the host's hard values. Needs root, podman, python3-torch.
# Bounded: about 60 s.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

if [ "${1:-}" = "--inside" ]; then
  tmp=$2 B=$3 PY=/usr/bin/python3
  TRAIN=$root/Examples/pytorch/train.py
  CHECK=$root/Tests/Integration/trainers/check_pytorch_run.py
  unset PYTHONPATH
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
  # podman with storage of its own: $tmp/podman, as --container-runtime takes an executable.
  podman_up
  on_exit kill_env "BATON_ATTEMPT_TOKEN=$tmp/"
  on_exit kill_sessions
  C=(--container /:O --container-runtime "$tmp/podman" --container-option=--rootfs "${PODMAN_OPTIONS[@]}")
  nothing_left() { [ -z "$(env_pids "BATON_ATTEMPT_TOKEN=$tmp/")" ] && no_container; }

  # a. sh inside.
  R=$tmp/sh
  timeout 60 "$B" launch --local 2 --nproc-per-node 2 --run-dir "$R" "${C[@]}" -- \
    sh -c 'test -e /run/.containerenv && test -d "$BATON_RUN_DIR" && echo "inside rank $RANK of $WORLD_SIZE"' > "$tmp/sh.out" 2>&1
  rc=$?
  check "sh: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/sh.out"
  check "sh: every rank ran in a container with the contract" "[ \$(grep -c 'inside rank [0-3] of 4' '$tmp/sh.out') -eq 4 ]" || cat "$tmp/sh.out"
  check "sh: no container left" "wait_for 10 no_container"

  # b. DDP in containers, a node crashed.
  R=$tmp/ddp
  setsid timeout 150 "$B" launch --local 2 --nproc-per-node 2 --run-dir "$R" --heartbeat-timeout 5s --grace 3s "${C[@]}" \
    --shard-samples 1438 --shard-shuffle --shard-seed 7 -- "$PY" "$TRAIN" --epochs 3 --quiet --step-sleep 0.05 \
    > "$tmp/ddp.out" 2> "$tmp/ddp.err" &
  head=$!
  bg_pid "$head"
  wait_for 90 test -s "$R/checkpoints/checkpoint.pt"
  check "ddp: first checkpoint written from inside the containers" "[ -s '$R/checkpoints/checkpoint.pt' ]" || tail -20 "$tmp/ddp.err"
  sid=$(cat "$R/local/local-1.sid"); pkill -STOP -s "$sid"; pkill -KILL -s "$sid"
  wait "$head"; rc=$?
  check "ddp: exit 0 after the crash" "[ $rc -eq 0 ]" || tail -30 "$tmp/ddp.err" "$tmp/ddp.out"
  check "ddp: restarted on local-0" "grep -q '\"event\":\"restart\".*\"lost\":\[\"local-1\"\]' '$R/events.jsonl'"
  "$PY" "$CHECK" "$R/checkpoints" 3 > "$tmp/ddp.check" 2>&1
  check "ddp: every sample exactly once per epoch, replicas equal" "grep -q '\"ok\": true' '$tmp/ddp.check'" || cat "$tmp/ddp.check"
  check "ddp: nothing left, no container" "wait_for 20 nothing_left"
  exit $((fails > 0))  # the host part below must not run again in here
fi

need_root "needs root (a private mount namespace, podman)"
need_cmd podman "podman not installed (scripts/setup installs it)"
need_torch
need_build
make_tmp
in_private_mounts 300
finish
