#!/usr/bin/env bash
# 30-bench-suites.sh — `baton bench` under mpirun on local ranks:
#  - allreduce on 4 ranks, --json: busbw = algbw x 2(n-1)/n on every row, wrong = 0, exit 0;
#  - the same with --inject-corruption: wrong > 0 and exit 1; --min-busbw above reach: exit 1;
#  - allgather/reducescatter/alltoall on 3 ranks: busbw = algbw x (n-1)/n, bcast x 1, wrong = 0;
#  - latency and bw JSON rows carry latency_us / bandwidth_GBps; --svg writes an SVG;
#  - bench rdma without an RDMA device exits 3 and says what the probe found.
# Small sizes and few iterations: seconds, not minutes.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_build
make_tmp
mpi() { timeout 120 mpirun --oversubscribe --bind-to none "$@"; }
quick=(--max-size 64K --iters 5 --warmup 1)

# check_json FILE RANKS FACTOR EXPECT_WRONG(zero|nonzero)
check_json() {
  python3 - "$@" <<'PY'
import json, sys
path, ranks, factor, expect = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
doc = json.load(open(path))
assert doc["ranks"] == ranks, f"ranks {doc['ranks']} != {ranks}"
rows = doc["rows"]
assert rows, "no rows"
for row in rows:
    for key in ("size_bytes", "time_us", "algbw_GBps", "busbw_GBps", "wrong"):
        assert key in row, f"row lacks {key}: {row}"
    want = row["algbw_GBps"] * factor
    assert abs(row["busbw_GBps"] - want) <= 1e-9 * max(1.0, want), f"busbw {row['busbw_GBps']} != algbw x {factor} = {want} at {row['size_bytes']} B"
    if row["time_us"] > 0:
        algbw = row["size_bytes"] / (row["time_us"] * 1e-6) / 1e9
        assert abs(algbw - row["algbw_GBps"]) <= 1e-6 * max(1.0, algbw), f"algbw {row['algbw_GBps']} != bytes/time {algbw}"
wrong = sum(r["wrong"] for r in rows)
if expect == "zero":
    assert wrong == 0, f"{wrong} wrong elements"
else:
    assert wrong > 0, "corruption was injected but wrong is 0"
print(f"{len(rows)} rows, wrong={wrong}")
PY
}

mpi -np 4 "$B" bench allreduce --json "${quick[@]}" > "$tmp/ar.json"; rc=$?
if [ $rc -eq 0 ] && check_json "$tmp/ar.json" 4 1.5 zero; then pass "allreduce 4 ranks: busbw = algbw x 2(n-1)/n, wrong = 0"; else fail "allreduce 4 ranks (exit $rc)"; cat "$tmp/ar.json"; fi

mpi -np 4 "$B" bench allreduce --json --inject-corruption "${quick[@]}" > "$tmp/bad.json" 2> "$tmp/bad.err"; rc=$?
if [ $rc -ne 0 ] && check_json "$tmp/bad.json" 4 1.5 nonzero && grep -q "wrong elements" "$tmp/bad.err"; then
  pass "injected corruption: wrong > 0, exit $rc"
else
  fail "injected corruption not caught (exit $rc)"; cat "$tmp/bad.err"
fi

mpi -np 2 "$B" bench allreduce --min-busbw 100000 --max-size 1K --iters 3 --warmup 0 > /dev/null 2> "$tmp/gate.err"; rc=$?
if [ $rc -ne 0 ] && grep -q "under --min-busbw" "$tmp/gate.err"; then pass "--min-busbw gate fails the run (exit $rc)"; else fail "--min-busbw gate (exit $rc)"; fi

for k in allgather:0.6666666666666666 reducescatter:0.6666666666666666 alltoall:0.6666666666666666 bcast:1; do
  name=${k%%:*}; factor=${k#*:}
  mpi -np 3 "$B" bench "$name" --json --max-size 16K --iters 3 --warmup 1 > "$tmp/$name.json"; rc=$?
  if [ $rc -eq 0 ] && check_json "$tmp/$name.json" 3 "$factor" zero > /dev/null; then pass "$name 3 ranks: busbw factor $factor, wrong = 0"; else fail "$name (exit $rc)"; fi
done

mpi -np 2 "$B" bench latency --json --max-size 1K --iters 50 --warmup 5 --svg "$tmp/lat.svg" > "$tmp/lat.json"; rc=$?
if [ $rc -eq 0 ] && python3 -c "
import json,sys; d=json.load(open('$tmp/lat.json')); r=d['rows']
assert r[0]['size_bytes']==0 and r[-1]['size_bytes']==1024 and all(x['latency_us']>0 for x in r)" && head -c 4 "$tmp/lat.svg" | grep -q "<svg"; then
  pass "latency JSON rows 0 B..1 KiB, SVG written"
else
  fail "latency (exit $rc)"
fi

mpi -np 2 "$B" bench bw --csv --min-size 64K --max-size 128K --iters 3 --warmup 1 > "$tmp/bw.csv"; rc=$?
if [ $rc -eq 0 ] && head -1 "$tmp/bw.csv" | grep -q "^size_bytes,bandwidth_GBps" && [ "$(wc -l < "$tmp/bw.csv")" -eq 3 ]; then pass "bw CSV"; else fail "bw CSV (exit $rc)"; cat "$tmp/bw.csv"; fi

mpi -np 1 "$B" bench latency > /dev/null 2> "$tmp/one.err"; rc=$?
if [ $rc -eq 2 ] && grep -q "at least 2 ranks" "$tmp/one.err"; then pass "latency on 1 rank: exit 2 with a hint"; else fail "latency on 1 rank (exit $rc)"; fi

# bench rdma: without an RDMA device (this test bed has none) it says what the probe
# found and exits 3; with one, a short write bandwidth run must succeed.
if ls /sys/class/infiniband/* >/dev/null 2>&1; then
  mpi -np 2 "$B" bench rdma write --iters 100 > "$tmp/rdma.out" 2>&1; rc=$?
  if [ $rc -eq 0 ]; then pass "rdma write on $(ls /sys/class/infiniband | head -1)"; else fail "rdma write (exit $rc)"; cat "$tmp/rdma.out"; fi
else
  mpi -np 2 "$B" bench rdma write > /dev/null 2> "$tmp/rdma.err"; rc=$?
  if [ $rc -eq 3 ] && grep -q "rank 0 (.*): no RDMA device" "$tmp/rdma.err" && grep -q "libibverbs" "$tmp/rdma.err"; then
    pass "rdma without a device: exit 3, says what the probe found"
  else
    fail "rdma without a device (exit $rc)"; cat "$tmp/rdma.err"
  fi
fi

finish
