#!/usr/bin/env bash
# digits-train alone: the same accuracy on 1, 2 and 4 ranks (it checks itself that all
# ranks hold identical weights every epoch, exit 1 otherwise); resuming from a
# checkpoint gives the same final weights as an uninterrupted run; resuming on a
# different world size works; a corrupted checkpoint is reported and not loaded.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_build
bin=$BUILD/digits-train
cd "$root" || exit 1
make_tmp
run() { timeout 300 mpirun --oversubscribe -np "$1" "$bin" --quiet --epochs 4 --hidden 24 --seed 5 "${@:2}"; }
acc() { sed -n 's/.*test accuracy \([0-9.]*\).*/\1/p' | tail -1; }
hash_of() { sed -n 's/.*weights hash \([0-9a-f]*\).*/\1/p' | tail -1; }

declare -A accuracy
for n in 1 2 4; do
  out=$(run "$n" --print-hash) || fail "training on $n ranks exited $?"
  accuracy[$n]=$(echo "$out" | acc)
  echo "$n ranks: test accuracy ${accuracy[$n]}"
done
python3 - "${accuracy[1]}" "${accuracy[2]}" "${accuracy[4]}" <<'PY' || fail "accuracy differs across world sizes or is below 0.9"
import sys
a = [float(x) for x in sys.argv[1:]]
assert max(a) - min(a) <= 0.01, a
assert min(a) >= 0.9, a
PY

full=$(run 2 --print-hash --checkpoint-dir "$tmp/full" | hash_of)
run 2 --checkpoint-dir "$tmp/resumed" --stop-after 2 >/dev/null || fail "first half exited $?"
second=$(run 2 --print-hash --checkpoint-dir "$tmp/resumed")
echo "$second" | grep -q "resumed from" || true
resumed=$(echo "$second" | hash_of)
[ -n "$full" ] && [ "$full" = "$resumed" ] || fail "resumed weights $resumed differ from uninterrupted $full"
echo "uninterrupted $full, stopped after 2 epochs and resumed $resumed"

run 2 --checkpoint-dir "$tmp/shrink" --stop-after 1 --checkpoint-every 20 >/dev/null || fail "shrink first half exited $?"
out=$(run 1 --checkpoint-dir "$tmp/shrink") || fail "resume on 1 rank after 2 exited $?"
a=$(echo "$out" | acc); echo "resumed on a smaller world: accuracy $a"

printf '\x5a' | dd of="$tmp/resumed/checkpoint.bin" bs=1 seek=100 conv=notrunc status=none
err=$(run 2 --checkpoint-dir "$tmp/resumed" 2>&1); rc=$?
[ "$rc" -ne 0 ] || fail "a corrupted checkpoint was accepted"
echo "$err" | grep -q "is corrupt.*not loaded" || fail "no 'corrupt ... not loaded' message: $err"
[ $fails -eq 0 ] && pass "digits-train world-size invariance, resume and corruption checks"
finish
