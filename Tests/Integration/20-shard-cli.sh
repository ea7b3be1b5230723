#!/usr/bin/env bash
# 20-shard-cli.sh — `baton shard` end to end: outputs are identical across two processes,
# numpy loads them, every sample is handed out exactly once (also after a resume on another
# world size), the shuffle matches an independent Python implementation of
# feistel-splitmix64-v1 (docs/sharding.md), byte ranges cut only at record starts, and bad
# input exits 2 having written nothing. Needs python3 with numpy (scripts/setup). Seconds.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_build
make_tmp
python3 -c 'import numpy' 2>/dev/null || fatal "python3 with numpy is needed (scripts/setup installs python3-numpy)"

# 1. Determinism across processes, and the numpy view of the shards.
for d in a b; do
  "$B" shard samples --count 1003 --world 4 --shuffle --seed 17 --epoch 2 --out "$tmp/$d" >/dev/null || fail "shard samples ($d)"
done
same=1
for f in plan.json rank-0.npy rank-1.npy rank-2.npy rank-3.npy; do cmp -s "$tmp/a/$f" "$tmp/b/$f" || same=0; done
[ $same = 1 ] && pass "two processes write byte-identical shards" || fail "two runs differ"

python3 - "$tmp/a" <<'PY' && pass "numpy loads every rank; exactly once; matches the Python reference permutation" || fail "numpy check of shuffled shards"
import sys, json, numpy as np
d = sys.argv[1]; plan = json.load(open(f"{d}/plan.json"))
N, W, seed, epoch = plan["count"], plan["world"], plan["seed"], plan["epoch"]
shards = [np.load(f"{d}/rank-{r}.npy") for r in range(W)]
assert all(s.dtype == np.int64 for s in shards)
assert [len(s) for s in shards] == [r["count"] for r in plan["ranks"]] == [251, 251, 251, 250]
assert sorted(np.concatenate(shards).tolist()) == list(range(N))
M = (1 << 64) - 1
def mix64(z):
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
    return z ^ (z >> 31)
bits = 2
while bits < 63 and (1 << bits) < N: bits += 1
state = mix64(seed) ^ mix64((epoch & M) ^ 0x6a09e667f3bcc908) ^ mix64((N & M) ^ 0xbb67ae8584caa73b)
keys = []
for _ in range(8):
    state = (state + 0x9e3779b97f4a7c15) & M; keys.append(mix64(state))
def encrypt(x):
    lo_w = bits // 2; hi_w = bits - lo_w
    for k in keys:
        lo, hi = x & ((1 << lo_w) - 1), x >> lo_w
        x = (lo << hi_w) | (hi ^ (mix64(lo ^ k) & ((1 << hi_w) - 1)))
        lo_w, hi_w = hi_w, lo_w
    return x
def sample(p):
    x = encrypt(p)
    while x >= N: x = encrypt(x)
    return x
for r in range(W):
    assert shards[r].tolist() == [sample(p) for p in range(r, N, W)], f"rank {r} differs from the reference"
PY

# 2. Resume on another world size: old W=4 did 100 steps each; the rest over W=3.
"$B" shard samples --count 1003 --world 3 --shuffle --seed 17 --epoch 2 --consumed 400 --out "$tmp/resume" >/dev/null || fail "resume"
python3 - "$tmp" <<'PY' && pass "resume from W=4 to W=3 sees every sample once" || fail "resume coverage"
import sys, numpy as np
w = sys.argv[1]
seen = [np.load(f"{w}/a/rank-{r}.npy")[:100] for r in range(4)] + [np.load(f"{w}/resume/rank-{r}.npy") for r in range(3)]
assert sorted(np.concatenate(seen).tolist()) == list(range(1003))
PY

# 3. pad writes a mask; json is readable; --rank writes one file.
"$B" shard samples --count 10 --world 4 --policy pad --out "$tmp/pad" >/dev/null || fail "pad"
python3 -c "
import numpy as np
m = np.load('$tmp/pad/rank-3.mask.npy'); assert m.dtype == bool and m.tolist() == [False, False, True]" \
  && pass "pad writes a boolean padding mask" || fail "pad mask"
"$B" shard samples --count 10 --world 4 --rank 2 --format json --out "$tmp/json" >/dev/null || fail "json"
python3 -c "
import json; s = json.load(open('$tmp/json/rank-2.json')); assert s['range'] == {'start': 2, 'step': 4} and s['count'] == 2" \
  && [ ! -e "$tmp/json/rank-0.json" ] && pass "--rank --format json writes one compact range" || fail "json range"

# 4. Byte ranges: records with empty lines, a last line without newline, two files.
printf 'alpha\n\nbeta gamma\n\n\ndelta\nepsilon zeta eta\nx' >"$tmp/r1.txt"
printf 'one\ntwo\n' >"$tmp/r2.txt"
"$B" shard bytes "$tmp/r1.txt" "$tmp/r2.txt" --world 5 --out "$tmp/bytes" >/dev/null || fail "shard bytes"
python3 - "$tmp/bytes/plan.json" <<'PY' && pass "byte ranges tile the files and start at record starts" || fail "byte ranges"
import sys, json
plan = json.load(open(sys.argv[1]))
got = {}
for r in plan["ranks"]:
    for rg in r["ranges"]:
        data = open(rg["file"], "rb").read()
        assert rg["start"] == 0 or data[rg["start"] - 1:rg["start"]] == b"\n"
        got.setdefault(rg["file"], []).append((rg["start"], rg["end"]))
for f in plan["files"]:
    spans = sorted(got.get(f["path"], []))
    pos = 0
    for s, e in spans:
        assert s == pos; pos = e
    assert pos == f["bytes"]
PY
"$B" shard files "$tmp/r1.txt" "$tmp/r2.txt" --world 2 --out "$tmp/files" >/dev/null \
  && python3 -c "
import json; p = json.load(open('$tmp/files/plan.json')); assert [len(r['files']) for r in p['ranks']] == [1, 1]" \
  && pass "shard files gives each rank a file" || fail "shard files"

printf '# data files\n%s\n\n%s\n' "$tmp/r2.txt" "$tmp/r1.txt" >"$tmp/list.txt"
"$B" shard files --list "$tmp/list.txt" --world 2 --out "$tmp/listed" >/dev/null \
  && python3 -c "
import json; p = json.load(open('$tmp/listed/plan.json')); assert p['file_count'] == 2 and p['total_bytes'] == 52" \
  && pass "shard files --list reads a list file" || fail "shard files --list"
printf '%s\n%s\n' "$tmp/r1.txt" "$tmp/missing.txt" >"$tmp/badlist.txt"

# 5. Bad input: exit 2, a message, nothing written.
bad() { # bad DESCRIPTION EXPECTED_TEXT ARGS...
  local what=$1 text=$2; shift 2
  local out="$tmp/bad-$RANDOM"
  local msg; msg=$("$B" shard "$@" --out "$out" 2>&1 >/dev/null); local rc=$?
  if [ $rc -eq 2 ] && [ ! -e "$out" ] && grep -q -- "$text" <<<"$msg"; then pass "refuses $what"; else fail "$what: exit $rc, message: $msg"; fi
}
bad "N = 0" "sample count is 0" samples --count 0 --world 2
bad "W = 0" "world size is 0" samples --count 5 --world 0
bad "R >= W" "rank 2 is not below" samples --count 5 --world 2 --rank 2
bad "consumed > N" "consumed is 6" samples --count 5 --world 2 --consumed 6
bad "a missing file" "No such file" bytes "$tmp/nope.txt" --world 2
bad "a record size that does not divide" "not a multiple of the record size 3" bytes "$tmp/r2.txt" --world 2 --record fixed:3
bad "fewer files than ranks" "would get nothing" files "$tmp/r1.txt" --world 2
bad "a missing file in a list, naming its line" "badlist.txt:2" files --list "$tmp/badlist.txt" --world 1
msg=$("$B" shard samples --count 1003 --world 5 --out "$tmp/a" 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "world 4 there, 5 here" <<<"$msg" && cmp -s "$tmp/a/rank-0.npy" "$tmp/b/rank-0.npy" \
  && pass "refuses a directory holding a different plan, leaving it untouched" || fail "plan conflict: exit $rc, $msg"

finish
