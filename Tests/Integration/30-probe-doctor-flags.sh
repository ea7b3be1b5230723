#!/usr/bin/env bash
# 30-probe-doctor-flags.sh — the built `baton` on the probe fixture trees and on this
# machine: probe/doctor/container-flags output equals the golden files, exit codes are
# right, the real libibverbs answers "no devices" here, and `doctor --hosts` runs the
# checks through mpirun (one row per host). Needs: $BATON_BUILD/baton, mpirun. No root.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
need_build
fixtures=$root/Tests/Fixtures/sysfs
expected=$root/Tests/Fixtures/expected
make_tmp

for f in ib-hdr-two-port roce-v2-nic eight-gpu-server none malformed; do
  timeout 30 "$B" probe --root "$fixtures/$f" > "$tmp/probe.txt"; rc=$?
  [ $rc -eq 0 ] || fail "probe $f exited $rc"
  cmp -s "$tmp/probe.txt" "$expected/probe/$f.txt" && pass "probe $f table" || fail "probe $f table differs: $(diff "$expected/probe/$f.txt" "$tmp/probe.txt" | head -4)"
  timeout 30 "$B" probe --json --root "$fixtures/$f" > "$tmp/probe.json"
  cmp -s "$tmp/probe.json" "$expected/probe/$f.json" && pass "probe $f json" || fail "probe $f json differs"
  for r in docker podman apptainer enroot; do
    timeout 30 "$B" container-flags --runtime $r --root "$fixtures/$f" > "$tmp/flags.txt" 2> "$tmp/notes.txt"
    # The golden files append the notes as "# note: ..." lines; the CLI sends them to stderr.
    sed 's/^baton container-flags: /# note: /' "$tmp/notes.txt" >> "$tmp/flags.txt"
    cmp -s "$tmp/flags.txt" "$expected/container/$f.$r.txt" && pass "container-flags $r $f" || fail "container-flags $r $f differs: $(diff "$expected/container/$f.$r.txt" "$tmp/flags.txt" | head -4)"
  done
  timeout 30 "$B" container-flags --runtime k8s --root "$fixtures/$f" > "$tmp/k8s.yaml" 2> "$tmp/notes.txt"
  sed 's/^baton container-flags: /# note: /' "$tmp/notes.txt" >> "$tmp/k8s.yaml"
  cmp -s "$tmp/k8s.yaml" "$expected/container/$f.k8s.yaml" && pass "container-flags k8s $f" || fail "container-flags k8s $f differs"
  timeout 30 "$B" container-flags --nccl-env --root "$fixtures/$f" > "$tmp/env.txt" 2>/dev/null
  cmp -s "$tmp/env.txt" "$expected/nccl-env/$f.txt" && pass "nccl-env $f" || fail "nccl-env $f differs"
done

# Doctor exit codes: warnings only -> 0; a failed check -> 1.
timeout 30 "$B" doctor --root "$fixtures/eight-gpu-server" > "$tmp/d.txt"; rc=$?
[ $rc -eq 0 ] && grep -q '^\[WARN\] gpudirect' "$tmp/d.txt" && pass "doctor warns and exits 0" || fail "doctor eight-gpu-server exit $rc"
timeout 30 "$B" doctor --root "$fixtures/none" > "$tmp/d.txt"; rc=$?
[ $rc -eq 1 ] && grep -q '^\[FAIL\] rdma-devices: no RDMA devices' "$tmp/d.txt" && grep -q 'fix: ' "$tmp/d.txt" \
  && pass "doctor on a machine without RDMA fails with a fix, exit 1" || fail "doctor none exit $rc"

# This machine: the real libibverbs is asked.
timeout 30 "$B" probe --json > "$tmp/real.json"; rc=$?
[ $rc -eq 0 ] || fail "probe on this machine exited $rc"
if [ ! -d /sys/class/infiniband_verbs ]; then
  grep -q '"status": "no devices"' "$tmp/real.json" && grep -q 'ibv_get_device_list' "$tmp/real.json" \
    && pass "real verbs call answers no devices" || fail "real verbs answer: $(cat "$tmp/real.json")"
  timeout 30 "$B" probe | grep -q '^no RDMA devices' && pass "probe says no RDMA devices" || fail "probe table on this machine"
fi

# doctor --hosts through mpirun: one row per host, verdict from the remote doctor.
timeout 120 "$B" doctor --hosts localhost --root "$fixtures/eight-gpu-server" --mpirun-arg=--oversubscribe > "$tmp/hosts.txt"; rc=$?
if [ $rc -eq 0 ] && [ "$(wc -l < "$tmp/hosts.txt")" -eq 3 ] && grep -Eq '^localhost +[^ ]+ +WARN +6 +2 +0 +gpudirect \(warn\), nccl-config \(warn\)$' "$tmp/hosts.txt"; then
  pass "doctor --hosts localhost: one row, WARN, exit 0"
else
  fail "doctor --hosts localhost (exit $rc): $(cat "$tmp/hosts.txt")"
fi
timeout 120 "$B" doctor --hosts localhost --root "$fixtures/none" --mpirun-arg=--oversubscribe > "$tmp/hosts.txt"; rc=$?
[ $rc -eq 1 ] && grep -Eq '^localhost +[^ ]+ +FAIL ' "$tmp/hosts.txt" && pass "doctor --hosts reports a failing host, exit 1" || fail "doctor --hosts none (exit $rc): $(cat "$tmp/hosts.txt")"

finish
