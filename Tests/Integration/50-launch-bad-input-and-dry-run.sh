#!/usr/bin/env bash
# Bad hostfiles give file:line:column errors and start nothing; the dry-run plan is JSON
# with the mpirun argv and every rank's environment. Needs no root.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_build
make_tmp

bad() { # bad NAME CONTENT EXPECTED-LOCATION EXPECTED-WORDS
  local f="$tmp/$1"
  printf '%b' "$2" > "$f"
  rm -f "$tmp/started"
  timeout 20 "$B" launch --hostfile "$f" --run-dir "$tmp/run-$1" -- touch "$tmp/started" > "$tmp/out" 2> "$tmp/err"
  local rc=$?
  check "$1: exit 2" "[ $rc -eq 2 ]"
  check "$1: error names $f:$3" "grep -q -- '$f:$3' '$tmp/err'"
  check "$1: message mentions '$4'" "grep -qi -- '$4' '$tmp/err'"
  check "$1: nothing started" "[ ! -e '$tmp/started' ] && [ ! -e '$tmp/run-$1' ]"
}
bad unknown-syntax 'node1 slots=2\nnode2 cpus=4\n' '2:7:' 'unknown key'
bad bare-word 'node1 slots=2 gpu\n' '1:15:' 'unknown syntax'
bad slots-zero '# comment\nnode1 slots=0\n' '2:13:' 'slots=0'
bad duplicate 'node1 slots=2\nnode2\nnode1 slots=1\n' '3:1:' 'listed twice'
bad empty '' '1:1:' 'no hosts'
bad comments-only '# nothing\n\n' '3:1:' 'no hosts'
bad semicolon 'node1;reboot slots=1\n' '1:6:' 'not allowed'
bad dollar 'ok\n$(id) slots=1\n' '2:1:' 'not allowed'
bad backtick 'n`id` slots=1\n' '1:2:' 'not allowed'

# -H errors name the argument and column.
timeout 20 "$B" launch -H 'a:2,b:0' --run-dir "$tmp/run-h" -- true 2> "$tmp/err"; rc=$?
check "-H b:0: exit 2 and column" "[ $rc -eq 2 ] && grep -q -- '-H:1:7:' '$tmp/err'"

# Dry run: a plan, nothing started.
timeout 20 "$B" launch -H n1:2,n2:2 --run-dir "$tmp/dry" --dry-run -- sh -c 'echo $RANK' > "$tmp/plan.json"; rc=$?
check "dry-run exits 0" "[ $rc -eq 0 ]"
check "dry-run started nothing" "[ ! -e '$tmp/dry' ]"
python3 - "$tmp/plan.json" <<'PY' && pass "dry-run plan content" || fatal "dry-run plan content"
import json, sys
p = json.load(open(sys.argv[1]))
argv = p["mpirun"]
assert argv[0] == "mpirun" and argv[argv.index("--host") + 1] == "n1:2,n2:2", argv
assert argv[argv.index("-np") + 1] == "4" and "--stdin" in argv
assert argv[-3:] == ["sh", "-c", "echo $RANK"], argv[-3:]
ranks = p["ranks"]
assert [r["node"] for r in ranks] == ["n1", "n1", "n2", "n2"]
e = ranks[3]["environment"]
assert (e["RANK"], e["LOCAL_RANK"], e["NODE_RANK"], e["WORLD_SIZE"], e["MASTER_ADDR"]) == ("3", "1", "1", "4", "n1"), e
PY

# Every rank's container command line as --dry-run shows it (ranks[].container), one word a
# line, against Tests/Fixtures/expected/container-run/RUNTIME.txt. apptainer's and enroot's
# are built from their documentation: neither runtime is installed here, so these goldens are
# all that checks them.
for rt in podman docker apptainer enroot; do
  (cd /tmp && timeout 20 "$B" launch -H n1:2 --run-dir /nonexistent/baton-50/run --master-port 29500 --dry-run \
    --container img:1 --container-runtime "$rt" --container-option=--opt -- python3 train.py --lr 0.1) > "$tmp/c-$rt.json"
  python3 -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["ranks"][1]["container"]))' "$tmp/c-$rt.json" \
    | sed "s/^$(id -u):$(id -g)\$/UID:GID/" > "$tmp/c-$rt.txt"
  golden=$root/Tests/Fixtures/expected/container-run/$rt.txt
  cmp -s "$tmp/c-$rt.txt" "$golden" && pass "dry-run: rank 1's $rt command line" \
    || fail "dry-run: rank 1's $rt command line differs: $(diff "$golden" "$tmp/c-$rt.txt" | head -6)"
done

finish
