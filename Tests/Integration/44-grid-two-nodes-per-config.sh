#!/usr/bin/env bash
# 44-grid-two-nodes-per-config: `baton grid --local 4` with nodes_per_config 2; one node of a
# running config is killed (kill-node). Checks: exactly that node is marked dead, its partner
# stays healthy and takes work again, the config resumes from its checkpoint on two other
# nodes, every config done once. Needs: $BATON_BUILD/baton, mpirun, python3. About 15 s.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_build
make_tmp
# The first failure ends the test, with the head's output.
abort() { echo "FAILED: $*"; echo "--- head output:"; cat "$tmp/head.out" || true; exit 1; }

# Each rank counts 30 steps in its own checkpoint file (replaced atomically) and resumes there.
cat > "$tmp/spec.yaml" <<'YAML'
command: [sh, -c, 'cd "$BATON_CHECKPOINT_DIR" || exit 9; s=0; [ -f s.$RANK ] && s=$(cat s.$RANK); echo "resume=$BATON_RESUME start=$s"; while [ $s -lt 30 ]; do s=$((s+1)); echo $s > t.$RANK; mv t.$RANK s.$RANK; sleep 0.1; done; [ "$RANK" = 0 ] && echo "{\"v\": {v}, \"world\": $WORLD_SIZE}" >> $BATON_METRICS; [ "$RANK" = 0 ] && echo x >> completions; exit 0', "{v}"]
parameters:
  v: [1, 2, 3]
nodes_per_config: 2
YAML
"$B" grid "$tmp/spec.yaml" --local 4 --run-dir "$tmp/run" --heartbeat-timeout 3s > "$tmp/head.out" 2>&1 &
head_pid=$!
bg_pid --term "$head_pid"
# Wait (bounded) until a config on local-0,local-1 has checkpointed, then kill local-1.
id=
for _ in $(seq 200); do
  id=$(sed -n 's/.*started \([0-9a-f]\{12\}\) on local-0,local-1 .*/\1/p' "$tmp/head.out" | head -1)
  [ -n "$id" ] && [ -f "$tmp/run/configs/$id/checkpoint/s.0" ] && [ -f "$tmp/run/configs/$id/checkpoint/s.1" ] && break
  sleep 0.1
done
[ -n "$id" ] && [ -f "$tmp/run/configs/$id/checkpoint/s.1" ] || abort "no config on local-0,local-1 checkpointed"
"$B" grid kill-node "$tmp/run" local-1 --down-for 600s
for _ in $(seq 600); do kill -0 "$head_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$head_pid" 2>/dev/null && abort "the grid did not finish within 60 s"
wait "$head_pid" || abort "baton grid exited $?"
"$B" grid results "$tmp/run" --json > "$tmp/results.json"
"$B" grid status "$tmp/run" --json > "$tmp/status.json"
python3 - "$tmp" "$id" <<'PY' || abort "results check"
import json, sys
work = sys.argv[1]
rows = json.load(open(f"{work}/results.json"))
nodes = {n["name"]: n["state"] for n in json.load(open(f"{work}/status.json"))["nodes"]}
assert nodes["local-1"] == "dead" and all(nodes[n] == "healthy" for n in ("local-0", "local-2", "local-3")), nodes
assert len(rows) == 3 and all(r["status"] == "done" for r in rows), rows
assert all(r["metrics"].get("world") == 2 for r in rows), rows
moved = [r for r in rows if r["handed_off"]]
assert len(moved) == 1 and moved[0]["attempts"] == 2 and moved[0]["resumed"] and moved[0]["id"] == sys.argv[2], rows
for r in rows:
    assert open(f"{work}/run/configs/{r['id']}/checkpoint/completions").read().split() == ["x"], r
log = open(f"{work}/run/configs/{moved[0]['id']}/attempt-2.log").read()
starts = [int(l.split("start=")[1]) for l in log.splitlines() if " resume=1 start=" in l]
assert len(starts) == 2 and all(s > 0 for s in starts), starts
print("ok: only the killed node is dead; its config resumed from its checkpoints on two other nodes")
PY
finish
