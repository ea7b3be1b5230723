#!/usr/bin/env bash
# Benchmarks/c-baseline/build.sh — build the C baseline programs (c-latency, c-bw, c-selfloop,
# c-allreduce) with mpicc, -O2, into Benchmarks/c-baseline/build/ (or $1).
# Needs: mpicc (Debian package libopenmpi-dev, installed by scripts/setup).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/build}
mkdir -p "$out"
for p in latency bw allreduce selfloop; do
  mpicc -O2 -std=c11 -Wall -Wextra -o "$out/c-$p" "$here/$p.c"
done
echo "built: $out/c-latency $out/c-bw $out/c-allreduce $out/c-selfloop"
