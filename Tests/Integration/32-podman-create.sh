#!/usr/bin/env bash
# A real container runtime accepts `baton container-flags --runtime podman`: Debian's podman
# builds and validates the full container from exactly Baton's flags (`podman create`, exit 0),
# and the OCI config it writes (`podman container init`) lists the RDMA devices, IPC_LOCK,
# memlock unlimited, the host IPC and network namespaces, the read-only mounts and the NCCL
# environment. Also checks what Baton's podman flags leave out on purpose: podman refuses
# --shm-size together with --ipc=host.
#
# The probe is the roce-v2-nic fixture; its device nodes are made for real (mknod, the kernel's
# numbers for uverbs0 and rdma_cm) in a private mount namespace: an overlay over /dev and /etc
# and a tmpfs over /sys/class, so the host's /dev, /etc and /sys are never changed. The image
# is imported from a tarball of Debian's busybox-static (no registry is reachable). Podman's
# storage lives in a temporary directory (vfs driver), removed afterwards.
# The check ends at the OCI config podman would hand to the OCI runtime: these flags ask for
# memlock unlimited, which no process here may set (no CAP_SYS_RESOURCE; how containers do
# start here is in docs/probe.md, "Containers in this sandbox", and 68). Needs root.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

if [ "${1:-}" = "--inside" ]; then
  # ---- In the private mount namespace (the host part below removes $tmp) ----
  tmp=$2 B=$3
  mount -t tmpfs -o mode=755 baton-32 "$tmp/ns" || exit 1
  mkdir -p "$tmp/ns/dev-up" "$tmp/ns/dev-work" "$tmp/ns/etc-up" "$tmp/ns/etc-work"
  mount -t overlay overlay -o "lowerdir=/dev,upperdir=$tmp/ns/dev-up,workdir=$tmp/ns/dev-work" /dev || fatal "overlay on /dev"
  mount -t overlay overlay -o "lowerdir=/etc,upperdir=$tmp/ns/etc-up,workdir=$tmp/ns/etc-work" /etc || fatal "overlay on /etc"
  mount -t tmpfs -o mode=755 baton-32-sys /sys/class || fatal "tmpfs on /sys/class"
  # The devices the fixture names, as real character devices (Linux's numbers).
  mkdir -p /dev/infiniband /sys/class/infiniband/mlx5_0
  mknod /dev/infiniband/uverbs0 c 231 192
  mknod /dev/infiniband/rdma_cm c 10 58
  mknod /dev/infiniband/umad0 c 231 0
  mknod /dev/infiniband/issm0 c 231 64
  cp "$tmp/root/etc/nccl.conf" /etc/nccl.conf

  mapfile -t flags < <("$B" container-flags --runtime podman --root "$tmp/root" 2> "$tmp/flags.err")
  check "container-flags: printed flags" "[ \${#flags[@]} -ge 8 ]" || cat "$tmp/flags.err"
  printf '  %s\n' "${flags[@]}"
  podman_up
  P=("${PODMAN[@]}")
  if ! "${P[@]}" import -q "$tmp/busybox.tar" localhost/baton-test:busybox > "$tmp/import.out" 2>&1; then
    cat "$tmp/import.out"; fatal "podman import"
  fi
  # Exactly Baton's flags, as separate arguments: nothing passes through a shell.
  "${P[@]}" create --name baton-32 "${flags[@]}" localhost/baton-test:busybox /bin/busybox true > "$tmp/create.out" 2>&1
  rc=$?
  check "podman create with Baton's flags: exit 0" "[ $rc -eq 0 ]" || cat "$tmp/create.out"
  # init builds the OCI bundle; crun then fails here (setrlimit refused), after config.json exists.
  "${P[@]}" container init baton-32 > "$tmp/init.out" 2>&1 || true
  cfg=$(find "$tmp/storage" "$tmp/run" -name config.json -path '*userdata*' 2>/dev/null | head -1)
  check "OCI config written" "[ -n '$cfg' ] && [ -s '$cfg' ]" || cat "$tmp/init.out"
  if [ -n "$cfg" ]; then
    /usr/bin/python3 - "$cfg" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
fails = 0
def check(what, ok):
    global fails
    print(("ok: " if ok else "FAILED: ") + what)
    fails += 0 if ok else 1
devs = {(d["path"], d.get("type"), d.get("major"), d.get("minor")) for d in c["linux"].get("devices", [])}
check("config: device /dev/infiniband/uverbs0 c 231:192", ("/dev/infiniband/uverbs0", "c", 231, 192) in devs)
check("config: device /dev/infiniband/rdma_cm c 10:58", ("/dev/infiniband/rdma_cm", "c", 10, 58) in devs)
check("config: umad0/issm0 not passed (Baton leaves management devices out)",
      not any(p in ("/dev/infiniband/umad0", "/dev/infiniband/issm0") for p, *_ in devs))
allowed = c["linux"].get("resources", {}).get("devices", [])
check("config: cgroup allows c 231:192 rwm", any(a.get("allow") and a.get("type") == "c" and a.get("major") == 231 and a.get("minor") == 192 for a in allowed))
caps = c["process"]["capabilities"]
check("config: CAP_IPC_LOCK bounding and effective", "CAP_IPC_LOCK" in caps.get("bounding", []) and "CAP_IPC_LOCK" in caps.get("effective", []))
rl = {r["type"]: (r["hard"], r["soft"]) for r in c["process"].get("rlimits", [])}
check("config: RLIMIT_MEMLOCK unlimited (soft and hard)", rl.get("RLIMIT_MEMLOCK") == (2**64 - 1, 2**64 - 1))
ns = {n["type"] for n in c["linux"]["namespaces"]}
check("config: no ipc namespace (host IPC)", "ipc" not in ns)
check("config: no network namespace (host network)", "network" not in ns)
mounts = {m["destination"]: m for m in c["mounts"]}
for dst in ("/sys/class/infiniband", "/etc/nccl.conf"):
    m = mounts.get(dst)
    check("config: %s bind-mounted read-only" % dst, m is not None and m.get("source") == dst and "ro" in m.get("options", []))
shm = mounts.get("/dev/shm")
check("config: /dev/shm is the host's", shm is not None and shm.get("source") == "/dev/shm" and "bind" in shm.get("options", []) + [shm.get("type")])
env = c["process"]["env"]
for kv in ("NCCL_IB_HCA==mlx5_0:1", "NCCL_IB_GID_INDEX=3", "NCCL_SOCKET_IFNAME==ens1f0np0"):
    check("config: env %s" % kv, kv in env)
sys.exit(1 if fails else 0)
EOF
    [ $? -eq 0 ] || fails=$((fails + 1)) # its checks' lines are printed above
  fi
  # Why Baton prints no --shm-size for podman with host IPC: podman refuses the pair.
  "${P[@]}" create --name baton-32-shm --ipc=host --shm-size=1g localhost/baton-test:busybox /bin/busybox true > "$tmp/shm.out" 2>&1
  rc=$?
  check "podman refuses --shm-size with --ipc=host" "[ $rc -ne 0 ] && grep -qi 'shmsize\|shm-size\|shm size' '$tmp/shm.out'" || cat "$tmp/shm.out"
  for c in baton-32 baton-32-shm; do "${P[@]}" rm -f "$c" >> "$tmp/rm.out" 2>&1; done
  cat "$tmp/rm.out"
  "${P[@]}" ps -a --format '{{.Names}}' > "$tmp/ps.out" 2>&1
  check "containers removed" "! grep -q baton-32 '$tmp/ps.out'" || cat "$tmp/ps.out"
  exit $((fails > 0))
fi

# ---- On the host ----
need_root "needs root (mknod, mount namespace)"
for tool in podman unshare mknod; do
  command -v "$tool" > /dev/null || fatal "$tool missing (scripts/setup installs podman)"
done
[ -x /bin/busybox ] || fatal "/bin/busybox missing (scripts/setup installs busybox-static)"
need_build
make_tmp
host_before=$(ls -d /dev/infiniband /sys/class/infiniband /etc/nccl.conf 2>/dev/null | tr '\n' ' ')
mkdir -p "$tmp/ns" "$tmp/root"
cp -a "$root/Tests/Fixtures/sysfs/roce-v2-nic/." "$tmp/root/"
mkdir -p "$tmp/root/etc"
printf 'NCCL_DEBUG=WARN\n' > "$tmp/root/etc/nccl.conf"
podman_busybox_tar "$tmp" || fatal "busybox image"
in_private_mounts 150
host_after=$(ls -d /dev/infiniband /sys/class/infiniband /etc/nccl.conf 2>/dev/null | tr '\n' ' ')
check "host /dev, /sys/class and /etc unchanged" "[ '$host_before' = '$host_after' ]" \
  || echo "  the host's /dev, /sys or /etc changed: before '$host_before', after '$host_after'"
finish
