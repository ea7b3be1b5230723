# scripts/podman-sandbox.sh — how a podman container starts on this machine, in one place.
# Sourced, not run: by Tests/Integration/lib.sh (so every integration script has it) and by
# scripts/bench-container-* and scripts/build-image.
#
# Containers start here only so (docs/probe.md, "Containers in this sandbox", says why):
#  - in a private mount namespace (`unshare -m --propagation private`) without the hybrid
#    cgroup2 mount, which crun refuses: podman_sandbox unmounts /sys/fs/cgroup/unified, so
#    call it only in such a namespace (the host's mount is never touched);
#  - with podman's storage of its own (vfs driver, cgroupfs manager, events in a file) under
#    a directory the caller removes;
#  - with every rlimit of the container at the host's hard values: nothing here may raise a
#    hard limit (no CAP_SYS_RESOURCE), and a --ulimit on the command line replaces podman's
#    default_ulimits, so nofile, nproc and memlock are all given.
# shellcheck shell=bash disable=SC2034 # its variables are for the scripts that source it

# podman_sandbox DIR [DRIVER]: podman with its storage in DIR (DIR/storage, DIR/run,
# DIR/ptmp), in this private mount namespace; DRIVER is the storage driver, vfs by default
# (what the tests use: their image is the host's root through --rootfs, which vfs never
# copies; overlay works here too, and an imported image wants it: vfs copies the whole image
# for every container, docs/benchmarks.md). Sets
#   PODMAN          podman with those global options (an array: "${PODMAN[@]}" ps -a)
#   DIR/podman      the same as an executable, for `--container-runtime` and a spec's
#                   `runtime:` (which take a program, not words)
#   PODMAN_ULIMITS  --ulimit nofile=N:N --ulimit nproc=N:N --ulimit memlock=N:N, the host's
#                   hard limits (nproc at most pid_max), for `podman run`
#   PODMAN_OPTIONS  the same limits as `--container-option=--ulimit=...` words for baton
# The caller removes the containers at its exit ("${PODMAN[@]}" rm -af) and DIR after that
# (vfs layers hold read-only files: chmod -R u+w first).
podman_sandbox() {
  local dir=$1 nofile nproc pidmax memlock
  PODMAN=(podman --root "$dir/storage" --runroot "$dir/run" --storage-driver "${2:-vfs}" --cgroup-manager cgroupfs
          --events-backend file --tmpdir "$dir/ptmp")
  mkdir -p "$dir/ptmp" || return 1
  printf '#!/bin/sh\nexec %s "$@"\n' "$(printf '%q ' "${PODMAN[@]}")" > "$dir/podman" && chmod +x "$dir/podman" || return 1
  if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || return 1; fi
  nofile=$(ulimit -Hn); nproc=$(ulimit -Hu); pidmax=$(cat /proc/sys/kernel/pid_max)
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt "$pidmax" ]; then nproc=$pidmax; fi
  memlock=$(ulimit -Hl)
  if [ "$memlock" = unlimited ]; then memlock=-1; else memlock=$((memlock * 1024)); fi
  PODMAN_ULIMITS=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc" --ulimit "memlock=$memlock:$memlock")
  PODMAN_OPTIONS=("--container-option=--ulimit=nofile=$nofile:$nofile" "--container-option=--ulimit=nproc=$nproc:$nproc"
                  "--container-option=--ulimit=memlock=$memlock:$memlock")
}

# podman_busybox_tar DIR: DIR/busybox.tar, a root filesystem of Debian's busybox-static
# (/bin/busybox and /bin/sh), for `podman import`: an image that needs no registry.
podman_busybox_tar() {
  mkdir -p "$1/busybox-root/bin" && cp /bin/busybox "$1/busybox-root/bin/busybox" \
    && ln -sf busybox "$1/busybox-root/bin/sh" && tar -C "$1/busybox-root" -cf "$1/busybox.tar" .
}
