# Tests/Integration/lib.sh — what the integration scripts share. Every script sources it
# first thing after its `set` line:
#     . "$(dirname "$0")/lib.sh"
# It is not executable on purpose: scripts/test runs only the executable *.sh here.
#
# Sourcing it sets `root` (the checkout), `TEST_NAME` (e.g. 52-launch-testbed), `C` (the
# namespace test bed, scripts/cluster) and `fails=0`; exports the Open MPI settings for
# running as root; and installs the script's one EXIT trap, which runs what `on_exit` and
# `bg_pid` registered, last registered first, whenever the script exits (passed, failed,
# skipped; not when a signal kills it: bash runs no EXIT trap then). It changes no shell
# option: `set -e`/`-u`/`pipefail` stay the script's.
# A script must not set an EXIT trap of its own (it would replace this one): register instead.
# shellcheck shell=bash disable=SC2034 # its variables are for the scripts that source it

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TEST_NAME=$(basename "$0" .sh)
C=${BATON_CLUSTER_SCRIPT:-$root/scripts/cluster}

# Open MPI refuses to start as root without these (mpirun(1)); containers often forbid the
# cross-memory-attach syscalls its shared-memory transport prefers (copy-in/copy-out then).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}

# ---- Checks ----------------------------------------------------------------------------
fails=0
pass() { echo "ok: $*"; }
# fail MSG: counted; the script goes on. It returns 1 (false, like a failed check): under
# `set -e` that ends the script, so a set -e script that must stop at once calls fatal.
fail() { echo "FAILED: $*"; fails=$((fails + 1)); return 1; }
# check NAME EXPR: eval EXPR (a string: quote what it names, '$tmp/x', or escape \$ to
# evaluate late); prints "ok: NAME" or "FAILED: NAME" (counted). Returns EXPR's truth, so
# `check ... || cat "$log"` shows what failed.
check() { if eval "$2"; then pass "$1"; else fail "$1"; fi; }
# finish: the script's last command, whose status is the script's: 0 when every check
# passed, 1 otherwise (elsewhere: `finish; exit`). It returns rather than exits: a script
# that ends in an exit has its functions that only check strings call reported unreachable.
finish() {
  if [ "$fails" -eq 0 ]; then echo "PASS $TEST_NAME"; return 0; fi
  echo "$TEST_NAME: $fails failed"; return 1
}
fatal() { echo "FAILED: $*"; exit 1; } # cannot go on: fail now (cleanup still runs)

# ---- Cannot run here -------------------------------------------------------------------
# skip WHY: prints "SKIP: WHY" and exits 77 (the automake convention scripts/test counts as
# skipped). After a failed check it exits 1 instead: a skip must not hide a failure.
skip() {
  echo "SKIP: $*"
  if [ "$fails" -gt 0 ]; then echo "$TEST_NAME: $fails failed before the skip"; exit 1; fi
  exit 77
}
need_root() { [ "$(id -u)" -eq 0 ] || skip "${*:-needs root}"; } # need_root [WHY]
need_cmd() { command -v "$1" > /dev/null || skip "${2:-$1 not installed}"; } # need_cmd TOOL [WHY]
# missing WHAT: something scripts/setup installs is missing. As root FAILED (exit 1): there
# everything can run, so nothing may skip; otherwise SKIP (77).
missing() { if [ "$(id -u)" -eq 0 ]; then fatal "$*"; fi; skip "$*"; }
# need_torch: Debian's /usr/bin/python3 with torch and gloo (PY), the real client; missing
# as root FAILED, else SKIP. PYTHONPATH unset: trainers find this checkout's python/baton.
need_torch() {
  PY=/usr/bin/python3
  unset PYTHONPATH
  if ! [ -x "$PY" ] || ! "$PY" -c 'import torch, torch.distributed as d; assert d.is_gloo_available()' 2>/dev/null; then
    missing "$PY cannot import torch with gloo (scripts/setup installs python3-torch)"
  fi
}

# need_build: BUILD ($BATON_BUILD, required), B (baton), T (the test trainer); FAILED
# when there is no baton in it.
need_build() {
  BUILD=${BATON_BUILD:?set BATON_BUILD to the build directory}
  B=$BUILD/baton
  T=$BUILD/baton-test-trainer
  [ -x "$B" ] || fatal "no $B"
}

# ---- Cleanup at exit ------------------------------------------------------------------
# on_exit CMD [ARG...]: run CMD ARG... (arguments as they are now; register a function to
# look at things as they are at exit) when the script exits, after everything registered
# later. Quiet: its output and errors go to /dev/null.
_on_exit=()
on_exit() { _on_exit+=("$(printf '%q ' "$@")"); }
_run_on_exit() {
  local rc=$? i
  set +e
  for ((i = ${#_on_exit[@]} - 1; i >= 0; i--)); do eval "${_on_exit[i]}" > /dev/null 2>&1; done
  exit "$rc"
}
trap _run_on_exit EXIT
# bg_pid PID: at exit SIGKILL PID's process group (a `setsid` child leads one; `timeout`
# leads its own) and PID itself. bg_pid --term PID: at exit, if PID still runs, SIGTERM it
# and wait for it (a head that must stop its nodes itself).
bg_pid() { if [ "$1" = --term ]; then on_exit _stop_pid "$2"; else on_exit _kill_pid "$1"; fi; }
_kill_pid() { kill -KILL -- "-$1"; kill -KILL "$1"; }
_stop_pid() { if kill -0 "$1"; then kill -TERM "$1"; wait "$1"; fi; }
# make_tmp [NAME]: tmp, a new directory $TMPDIR (or /tmp)/baton-NAME.XXXXXX (NAME: the
# script's by default), removed at exit. Register what must go before it (a test bed whose
# files are in it) after it.
# shellcheck disable=SC2120 # NAME is optional, not the script's $1
make_tmp() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/baton-${1:-$TEST_NAME}.XXXXXX") || fatal "mktemp -d"
  on_exit rm -rf "$tmp"
}
# env_pids TEXT: the processes whose environment holds TEXT (this shell excepted).
# Every process of a launch/grid attempt carries BATON_ATTEMPT_TOKEN=<run dir>#<attempt>.
env_pids() { grep -lsaF -- "$1" /proc/[0-9]*/environ 2> /dev/null | cut -d/ -f3 | grep -vx "$$"; }
kill_env() { local p; for p in $(env_pids "$1"); do kill -KILL "$p" 2> /dev/null; done; } # kill_env TEXT
# kill_sessions: SIGKILL the simulated nodes' sessions of every `--local` run under $tmp.
kill_sessions() {
  local f
  for f in "$tmp"/*/local/*.sid; do [ -f "$f" ] && pkill -KILL -s "$(cat "$f")"; done
}
# stop_grids: `baton grid stop` every grid run directory under $tmp (its head and attempts).
stop_grids() {
  local d
  for d in "$tmp"/*/; do [ -f "$d/grid.sqlite" ] && "$B" grid stop "${d%/}"; done
}

# ---- Waiting --------------------------------------------------------------------------
# wait_for [--every S] SECONDS CMD [ARG...]: run CMD until it succeeds, every S seconds
# (0.1); returns 1 once SECONDS have passed without success. Bound every wait with it:
# never a bare sleep as synchronisation.
wait_for() {
  local every=0.1 end
  if [ "$1" = --every ]; then every=$2; shift 2; fi
  end=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep "$every"; done
}

# ---- Containers -------------------------------------------------------------------------
# How podman starts a container here (podman_sandbox, podman_busybox_tar): one file, shared
# with the scripts that measure containers.
. "$root/scripts/podman-sandbox.sh"
# in_private_mounts SECONDS: runs this script again, as `SCRIPT --inside $tmp $B`, in a
# private mount namespace (where podman_up may change mounts), bounded by SECONDS and killed
# at exit; then checks that it passed and that the host's cgroup2 mount is still there. The
# script's --inside part ends with `exit $((fails > 0))`.
in_private_mounts() {
  local inner rc
  on_exit chmod -R u+w "$tmp" # podman's vfs layers hold read-only files: make them removable
  timeout "$1" unshare -m --propagation private bash "$0" --inside "$tmp" "$B" &
  inner=$!
  bg_pid "$inner"
  wait "$inner"
  rc=$?
  check "the checks in the private mount namespace (exit $rc)" "[ $rc -eq 0 ]"
  check "the host's cgroup2 mount is still there" "mountpoint -q /sys/fs/cgroup/unified || [ ! -d /sys/fs/cgroup/unified ]"
}
# podman_up: in the private mount namespace, podman with its storage in $tmp (PODMAN,
# $tmp/podman, PODMAN_ULIMITS, PODMAN_OPTIONS: scripts/podman-sandbox.sh); every container
# of that storage is removed at exit.
podman_up() {
  podman_sandbox "$tmp" || fatal "podman_sandbox $tmp"
  on_exit "${PODMAN[@]}" rm -af
}
# no_container: podman_up's storage holds no container (`podman ps -a` empty).
no_container() { [ -z "$("${PODMAN[@]}" ps -aq 2> /dev/null)" ]; }

# ---- Test beds ------------------------------------------------------------------------
# cluster_up NAME NET N: a fresh namespace test bed NAME (nodes NAME-n1..NAME-nN on
# NET.0/24, scripts/cluster), its environment (rsh agent, interfaces) exported, taken down
# at exit. Returns `up`'s status: `cluster_up bm 10.77.8 3 || fatal "cluster up"`.
# SKIP when scripts/cluster is not there.
cluster_up() {
  export BATON_CLUSTER=$1 BATON_CLUSTER_NET=$2
  [ -x "$C" ] || skip "scripts/cluster (the namespace test bed) is not here"
  eval "$("$C" env)"
  on_exit "$C" down
  "$C" down > /dev/null 2>&1
  "$C" up "$3" > /dev/null
}
# slurm_up N: the Slurm test bed (scripts/slurm-bed: slurmctld, N slurmd sl1..slN in
# namespaces on 10.77.13.0/24, its files in $tmp/bed), its environment exported (S: the
# script), taken down at exit. SKIP without the Slurm packages; FAILED when it does not
# come up (its output, also on success, in $tmp/up.out).
slurm_up() {
  local b
  for b in slurmd slurmctld munged salloc; do
    need_cmd "$b" "$b not installed (scripts/setup installs slurmd slurmctld slurm-client munge)"
  done
  export BATON_SLURM_PREFIX=sl BATON_SLURM_NET=10.77.13 BATON_SLURM_PORTS="6917 6918" BATON_SLURM_DIR=$tmp/bed
  S=$root/scripts/slurm-bed
  eval "$("$S" env)"
  on_exit "$S" down
  "$S" up "$1" > "$tmp/up.out" 2>&1 || { cat "$tmp/up.out"; fatal "slurm-bed up"; }
}
