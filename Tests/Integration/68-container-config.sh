#!/usr/bin/env bash
# A real runtime reads what `baton container-config --write` puts in place, and a container
# starts with it in this sandbox (issue 26).
#  - cdi: the spec written to /etc/cdi is accepted by podman (`--device baton.dev/rdma=all`),
#    its OCI config holds the devices, read-only mounts and NCCL environment, and a container
#    started with it sees the device nodes, /etc/nccl.conf and NCCL_IB_HCA.
#  - podman: the containers.conf drop-in in /etc/containers/containers.conf.d is read by a
#    plain `podman create` (devices, volumes, env with PATH kept, memlock unlimited), and a
#    container started with it sees the same.
#  - --write: a second run changes nothing; a file Baton did not write is refused (exit 2,
#    untouched) and replaced only with --force; enroot's and apptainer's files land under DIR
#    in their documented shapes (neither tool is packaged by Debian, so no tool reads them).
#
# Starting a container here needs two things (docs/probe.md, "Containers in this sandbox"):
#  1. every rlimit of the container at or below podman's own hard limits: without
#     CAP_SYS_RESOURCE nothing may raise a hard limit, and podman (rootful) asks crun for
#     nofile=nproc=1048576 by default after lowering its own RLIMIT_NPROC to pid_max; so each
#     run gives --ulimit nofile, nproc and memlock at the host's values (a --ulimit on the
#     command line replaces default_ulimits, so all three go together);
#  2. no cgroup2 hierarchy with a controller beside the v1 ones: crun refuses "hybrid" mode, so
#     the private mount namespace unmounts /sys/fs/cgroup/unified.
# The probe is the roce-v2-nic fixture; its device nodes are made for real (mknod) in a private
# mount namespace, with overlays over /dev and /etc and a tmpfs over /sys/class, as 32 does: the
# host's /dev, /etc, /sys and cgroups are never changed. Podman's storage is a temporary
# directory (vfs driver), removed afterwards, with every container in it. Needs root.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

if [ "${1:-}" = "--inside" ]; then
  # ---- In the private mount namespace (the host part below removes $tmp) ----
  tmp=$2 B=$3
  # Whatever happens below, no container of this storage is left (podman ps -a checked at the end).
  podman_up
  P=("${PODMAN[@]}")
  mount -t tmpfs -o mode=755 baton-68 "$tmp/ns" || exit 1
  mkdir -p "$tmp/ns/dev-up" "$tmp/ns/dev-work" "$tmp/ns/etc-up" "$tmp/ns/etc-work"
  mount -t overlay overlay -o "lowerdir=/dev,upperdir=$tmp/ns/dev-up,workdir=$tmp/ns/dev-work" /dev || fatal "overlay on /dev"
  mount -t overlay overlay -o "lowerdir=/etc,upperdir=$tmp/ns/etc-up,workdir=$tmp/ns/etc-work" /etc || fatal "overlay on /etc"
  mount -t tmpfs -o mode=755 baton-68-sys /sys/class || fatal "tmpfs on /sys/class"
  mkdir -p /dev/infiniband /sys/class/infiniband/mlx5_0
  mknod /dev/infiniband/uverbs0 c 231 192
  mknod /dev/infiniband/rdma_cm c 10 58
  cp "$tmp/root/etc/nccl.conf" /etc/nccl.conf
  rm -rf /etc/cdi /etc/containers/containers.conf.d

  # The host's hard limits, which no container here may exceed (see the header).
  U=("${PODMAN_ULIMITS[@]}")
  # A container's /sys is a fresh sysfs, which on this VM (no HCA) has no class/infiniband for
  # the spec's read-only mount to land on; on a host with HCAs every sysfs has it. So the runs
  # below see the host's /sys (with the tmpfs made above over /sys/class) instead.
  U+=(--volume=/sys:/sys:ro)
  echo "  given to every container started: ${U[*]}"

  "${P[@]}" import -q "$tmp/busybox.tar" localhost/baton-test:busybox > "$tmp/import.out" 2>&1 || { cat "$tmp/import.out"; fatal "podman import"; }

  # ---- CDI ----
  "$B" container-config --runtime cdi --root "$tmp/root" --write > "$tmp/cdi.out" 2> "$tmp/cdi.err"
  check "cdi --write: exit 0, /etc/cdi/baton-rdma.yaml written" "grep -qx 'written: /etc/cdi/baton-rdma.yaml' '$tmp/cdi.out'" || cat "$tmp/cdi.out" "$tmp/cdi.err"
  "$B" container-config --runtime cdi --root "$tmp/root" --write > "$tmp/cdi2.out" 2>&1
  check "cdi --write again: unchanged" "grep -qx 'unchanged: /etc/cdi/baton-rdma.yaml' '$tmp/cdi2.out'" || cat "$tmp/cdi2.out"
  "${P[@]}" create --name baton-68-cdi --device baton.dev/rdma=all --cap-add=IPC_LOCK --network=host --ipc=host "${U[@]}" \
    localhost/baton-test:busybox /bin/busybox true > "$tmp/create.out" 2>&1
  check "podman create --device baton.dev/rdma=all: exit 0 (the spec is accepted)" "[ $? -eq 0 ]" || cat "$tmp/create.out"
  "${P[@]}" container init baton-68-cdi > "$tmp/init.out" 2>&1 || cat "$tmp/init.out"
  cfg=$(find "$tmp/storage" -name config.json -path '*userdata*' 2>/dev/null | head -1)
  check "OCI config written" "[ -s '$cfg' ]"
  if [ -s "$cfg" ]; then
    /usr/bin/python3 - "$cfg" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
fails = 0
def check(what, ok):
    global fails
    print(("ok: " if ok else "FAILED: ") + what)
    fails += 0 if ok else 1
devs = {(d["path"], d.get("major"), d.get("minor")) for d in c["linux"].get("devices", [])}
check("cdi config: device /dev/infiniband/uverbs0 c 231:192", ("/dev/infiniband/uverbs0", 231, 192) in devs)
check("cdi config: device /dev/infiniband/rdma_cm c 10:58", ("/dev/infiniband/rdma_cm", 10, 58) in devs)
mounts = {m["destination"]: m for m in c["mounts"]}
for dst in ("/sys/class/infiniband", "/etc/nccl.conf"):
    m = mounts.get(dst)
    check("cdi config: %s bind-mounted read-only" % dst, m is not None and m.get("source") == dst and "ro" in m.get("options", []))
env = c["process"]["env"]
for kv in ("NCCL_IB_HCA==mlx5_0:1", "NCCL_IB_GID_INDEX=3", "NCCL_SOCKET_IFNAME==ens1f0np0"):
    check("cdi config: env %s" % kv, kv in env)
sys.exit(1 if fails else 0)
EOF
    [ $? -eq 0 ] || fails=$((fails + 1))
  fi
  "${P[@]}" rm -f baton-68-cdi > /dev/null 2>&1
  # A container started for real with the spec: what a rank would see.
  timeout 60 "${P[@]}" run --rm --name baton-68-cdi-run --device baton.dev/rdma=all --network=host --ipc=host "${U[@]}" \
    localhost/baton-test:busybox /bin/busybox sh -c \
    'test -c /dev/infiniband/uverbs0 && test -c /dev/infiniband/rdma_cm && cat /etc/nccl.conf && echo "hca=$NCCL_IB_HCA"' \
    > "$tmp/run-cdi.out" 2>&1
  rc=$?
  check "podman run with the CDI device: exit 0, the device nodes, /etc/nccl.conf and NCCL_IB_HCA inside" \
    "[ $rc -eq 0 ] && grep -qx 'NCCL_DEBUG=WARN' '$tmp/run-cdi.out' && grep -qx 'hca==mlx5_0:1' '$tmp/run-cdi.out'" || cat "$tmp/run-cdi.out"
  rm -f /etc/cdi/baton-rdma.yaml

  # ---- podman's containers.conf drop-in ----
  "$B" container-config --runtime podman --root "$tmp/root" --write > "$tmp/podman.out" 2>&1
  check "podman --write: the drop-in written" "grep -qx 'written: /etc/containers/containers.conf.d/50-baton-rdma.conf' '$tmp/podman.out'" || cat "$tmp/podman.out"
  "${P[@]}" create --name baton-68-conf localhost/baton-test:busybox /bin/busybox true > "$tmp/create2.out" 2>&1
  check "plain podman create with the drop-in: exit 0" "[ $? -eq 0 ]" || cat "$tmp/create2.out"
  "${P[@]}" container init baton-68-conf > /dev/null 2>&1
  cfg=$(find "$tmp/storage" -name config.json -path '*userdata*' 2>/dev/null | head -1)
  if [ -s "$cfg" ]; then
    /usr/bin/python3 - "$cfg" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
fails = 0
def check(what, ok):
    global fails
    print(("ok: " if ok else "FAILED: ") + what)
    fails += 0 if ok else 1
paths = {d["path"] for d in c["linux"].get("devices", [])}
check("drop-in config: devices uverbs0 and rdma_cm", {"/dev/infiniband/uverbs0", "/dev/infiniband/rdma_cm"} <= paths)
mounts = {m["destination"]: m for m in c["mounts"]}
check("drop-in config: /etc/nccl.conf read-only", "ro" in mounts.get("/etc/nccl.conf", {}).get("options", []))
env = c["process"]["env"]
check("drop-in config: NCCL_IB_HCA and the default PATH", "NCCL_IB_HCA==mlx5_0:1" in env and any(e.startswith("PATH=/usr/local/sbin:") for e in env))
rl = {r["type"]: (r["hard"], r["soft"]) for r in c["process"].get("rlimits", [])}
check("drop-in config: RLIMIT_MEMLOCK unlimited from default_ulimits", rl.get("RLIMIT_MEMLOCK") == (2**64 - 1, 2**64 - 1))
sys.exit(1 if fails else 0)
EOF
    [ $? -eq 0 ] || fails=$((fails + 1))
  else
    fail "OCI config of the drop-in container written"
  fi
  "${P[@]}" rm -f baton-68-conf > /dev/null 2>&1
  timeout 60 "${P[@]}" run --rm --name baton-68-conf-run "${U[@]}" localhost/baton-test:busybox /bin/busybox sh -c \
    'test -c /dev/infiniband/uverbs0 && echo "hca=$NCCL_IB_HCA"' > "$tmp/run-conf.out" 2>&1
  rc=$?
  check "podman run with only the drop-in (and the limits): the device and NCCL_IB_HCA inside" \
    "[ $rc -eq 0 ] && grep -qx 'hca==mlx5_0:1' '$tmp/run-conf.out'" || cat "$tmp/run-conf.out"

  "${P[@]}" ps -a --format '{{.Names}}' > "$tmp/ps.out" 2>&1
  check "podman ps -a empty" "[ ! -s '$tmp/ps.out' ]" || cat "$tmp/ps.out"
  exit $((fails > 0))
fi

# ---- On the host ----
need_root "needs root (mknod, mount namespace)"
for tool in podman unshare mknod mountpoint; do
  command -v "$tool" > /dev/null || missing "$tool missing (scripts/setup installs podman)"
done
[ -x /bin/busybox ] || missing "/bin/busybox missing (scripts/setup installs busybox-static)"
need_build
make_tmp
host_before=$(ls -d /dev/infiniband /sys/class/infiniband /etc/nccl.conf /etc/cdi /etc/containers/containers.conf.d 2>/dev/null | tr '\n' ' ')
mkdir -p "$tmp/ns" "$tmp/root"
cp -a "$root/Tests/Fixtures/sysfs/roce-v2-nic/." "$tmp/root/"
mkdir -p "$tmp/root/etc"
printf 'NCCL_DEBUG=WARN\n' > "$tmp/root/etc/nccl.conf"
podman_busybox_tar "$tmp" || fatal "busybox image"

# --write DIR: what is refused and what --force does; enroot's and apptainer's files.
d=$tmp/cfg
mkdir -p "$d/environ.d"
printf 'SOMEONE=else\n' > "$d/environ.d/50-baton-nccl.env"
"$B" container-config --runtime enroot --root "$tmp/root" --write "$d" > "$tmp/e1.out" 2>&1
rc=$?
check "a file Baton did not write is refused: exit 2, untouched, nothing else written" \
  "[ $rc -eq 2 ] && grep -qx 'SOMEONE=else' '$d/environ.d/50-baton-nccl.env' && [ ! -e '$d/mounts.d' ]" || cat "$tmp/e1.out"
"$B" container-config --runtime enroot --root "$tmp/root" --write "$d" --force > "$tmp/e2.out" 2>&1
check "--force replaces it" "grep -qx 'replaced: $d/environ.d/50-baton-nccl.env' '$tmp/e2.out' && grep -qx 'NCCL_IB_HCA==mlx5_0:1' '$d/environ.d/50-baton-nccl.env'" || cat "$tmp/e2.out"
check "enroot: mounts.d holds /etc/nccl.conf in enroot's fstab shape" \
  "grep -qx '/etc/nccl.conf /etc/nccl.conf none x-create=file,bind,ro,nosuid,nodev,noexec,nofail' '$d/mounts.d/50-baton-rdma.fstab'"
"$B" container-config --runtime apptainer --root "$tmp/root" --write "$d/app" --json > "$tmp/a.json" 2> /dev/null
check "apptainer --json: both files written, the bind line and the quoted env" \
  "/usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert [w[\"action\"] for w in j[\"written\"]] == [\"written\", \"written\"]' '$tmp/a.json' && grep -qx 'bind path = /etc/nccl.conf' '$d/app/baton-rdma.conf' && grep -qx \"NCCL_IB_HCA='=mlx5_0:1'\" '$d/app/baton-nccl.env'" || cat "$tmp/a.json"
check "no temporary file left" "[ -z \"\$(find '$d' -name '*.baton-*.tmp')\" ]"

in_private_mounts 300
host_after=$(ls -d /dev/infiniband /sys/class/infiniband /etc/nccl.conf /etc/cdi /etc/containers/containers.conf.d 2>/dev/null | tr '\n' ' ')
check "host /dev, /sys/class and /etc unchanged" "[ '$host_before' = '$host_after' ]" \
  || echo "  before '$host_before', after '$host_after'"
finish
