#!/usr/bin/env bash
# 73-grid-container: `container:` in a grid spec: every rank of every config runs inside the
# image (the same ContainerRun path as `baton launch --container`), with the config's
# checkpoint and metrics directories at their host paths.
# Two configs on --local 2 (2 ranks per node); once both have checkpointed, local-1 is killed
# (every process of its session, SIGKILL, `grid kill-node`). Checks: both configs done; the
# one on local-1 handed off to local-0 and resumed there from its checkpoint (BATON_RESUME=1,
# a step >= 3) inside a new container (another podman id); the other ran
# once, in a container; metrics from inside reached the results; no container left
# (`podman ps -a` empty) and no process of the run.
# The image is this machine's root filesystem through podman's --rootfs with an overlay, as
# in 71; podman is set up as scripts/podman-sandbox.sh says (a private mount namespace).
# Needs root, podman. Bounded: about 30 s.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

if [ "${1:-}" = "--inside" ]; then
  tmp=$2 B=$3
  podman_up
  on_exit kill_env "BATON_ATTEMPT_TOKEN=$tmp/"
  on_exit kill_sessions
  # The trainer, in the working directory (which every rank's container sees at its path):
  # rank 0 counts steps in $BATON_CHECKPOINT_DIR/step (replaced atomically) and resumes
  # from there; it says where it runs (/run/.containerenv holds the container's name).
  mkdir -p "$tmp/work"
  cat > "$tmp/work/trainer.sh" <<'SH'
#!/bin/sh
cd "$BATON_CHECKPOINT_DIR" || exit 9
step=0
[ -e step ] && step=$(cat step)
if [ "$RANK" = 0 ]; then
  # podman's container id, from the container's cgroup (cgroupfs: /libpod_parent/libpod-ID).
  id=$(sed -n 's|.*/libpod-\([0-9a-f]\{64\}\).*|\1|p' /proc/self/cgroup | head -1)
  [ -e /run/.containerenv ] && [ -n "$id" ] && where="container $id" || where=host
  echo "resume=$BATON_RESUME attempt=$BATON_ATTEMPT start=$step in $where"
fi
while [ "$step" -lt 40 ]; do
  step=$((step + 1))
  if [ "$RANK" = 0 ]; then
    echo "$step" > ".step.$$" && mv -f ".step.$$" step
    echo "{\"step\": $step, \"score\": $1}" >> "$BATON_METRICS"
  fi
  sleep 0.1
done
[ "$RANK" = 0 ] && echo "$BATON_ATTEMPT" >> completions
exit 0
SH
  chmod +x "$tmp/work/trainer.sh"
  opts=$(printf '"%s", ' --rootfs "${PODMAN_ULIMITS[@]}")
  cat > "$tmp/spec.yaml" <<YAML
command: [$tmp/work/trainer.sh, "{score}"]
parameters:
  score: [1, 2]
ranks_per_node: 2
objective: {metric: score, mode: max}
container:
  image: /:O
  runtime: $tmp/podman
  options: [${opts%, }]
YAML
  R=$tmp/run
  cd "$tmp/work" || fatal "cd $tmp/work"
  "$B" grid "$tmp/spec.yaml" --local 2 --run-dir "$R" --heartbeat-timeout 2s --cool-down 600s > "$tmp/head.out" 2>&1 &
  head=$!
  bg_pid --term "$head"
  both_checkpointed() {
    local f n=0
    for f in "$R"/configs/*/checkpoint/step; do [ -f "$f" ] && [ "$(cat "$f")" -ge 3 ] && n=$((n + 1)); done
    [ "$n" -eq 2 ]
  }
  wait_for 40 both_checkpointed || { cat "$tmp/head.out"; tail -5 "$R"/configs/*/attempt-1.log; fatal "both configs did not checkpoint within 40 s"; }
  "$B" grid kill-node "$R" local-1 --signal KILL --down-for 600s > "$tmp/kill.out" 2>&1
  check "kill-node local-1" "grep -q 'sent SIGKILL' '$tmp/kill.out'" || cat "$tmp/kill.out"
  head_ended() { ! kill -0 "$head" 2> /dev/null; }
  wait_for 40 head_ended || fatal "the grid did not finish within 40 s of the kill"
  wait "$head"
  rc=$?
  check "grid: exit 0" "[ $rc -eq 0 ]" || tail -20 "$tmp/head.out"
  "$B" grid results "$R" --json > "$tmp/results.json"
  /usr/bin/python3 - "$tmp" > "$tmp/check.out" 2>&1 <<'PY'
import json, re, sys
tmp = sys.argv[1]
rows = json.load(open(f"{tmp}/results.json"))
assert len(rows) == 2 and all(r["status"] == "done" for r in rows), rows
moved = [r for r in rows if r["handed_off"]]
stayed = [r for r in rows if not r["handed_off"]]
assert len(moved) == 1 and len(stayed) == 1, rows
m, s = moved[0], stayed[0]
assert m["attempts"] == 2 and m["resumed"] and m["nodes"][0][0] == "local-1" and m["nodes"][1][0] == "local-0", m
assert s["attempts"] == 1 and s["nodes"][0][0] == "local-0", s
assert all(r["metrics"]["step"] == 40 and r["metrics"]["score"] == r["params"]["score"] for r in rows), rows
def said(config, attempt):
    log = open(f"{tmp}/run/configs/{config}/attempt-{attempt}.log").read()
    lines = [l.split(" ", 1)[1] for l in log.splitlines() if " resume=" in l]
    assert len(lines) == 1, (config, attempt, log[-2000:])
    return lines[0]
first, second, other = said(m["id"], 1), said(m["id"], 2), said(s["id"], 1)
container = lambda line: re.search(r" in container ([0-9a-f]{64})$", line)
assert container(first) and first.startswith("resume=0 attempt=1 start=0"), first
assert container(second) and container(second).group(1) != container(first).group(1), second
assert second.startswith("resume=1 attempt=2 ") and int(second.split("start=")[1].split()[0]) >= 3, second
assert container(other) and other.startswith("resume=0 attempt=1 start=0"), other
for r in rows:
    done = open(f"{tmp}/run/configs/{r['id']}/checkpoint/completions").read().split()
    assert done == [str(r["attempts"])], (r["id"], done)
print("first:", first); print("resumed:", second); print("other:", other)
PY
  check "the lost config resumed from its checkpoint in a new container on local-0; the other ran once in one" \
    "[ $? -eq 0 ]"
  cat "$tmp/check.out"
  check "no container left (podman ps -a empty)" "wait_for 20 no_container" || "${PODMAN[@]}" ps -a
  check "no process of the run left" "wait_for 20 eval '[ -z \"\$(env_pids \"BATON_ATTEMPT_TOKEN=$tmp/\")\" ]'"
  exit $((fails > 0)) # the host part below must not run again in here
fi

need_root "needs root (a private mount namespace, podman)"
need_cmd podman "podman not installed (scripts/setup installs it)"
need_build
make_tmp
in_private_mounts 120
finish
