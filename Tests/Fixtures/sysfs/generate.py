#!/usr/bin/env python3
"""Writes the probe's fixture trees: Tests/Fixtures/sysfs/<name>/{sys,dev,proc,etc}.

Each tree stands for one machine, in the kernel's own formats (drivers/infiniband/core/
sysfs.c; see REFERENCE.md): class/infiniband/<dev>/..., class/infiniband_verbs/uverbsN/ibdev,
device nodes as empty regular files under dev/, and proc/self/{limits,mounts,status},
proc/modules, proc/driver/nvidia for the doctor.

GID attribute files (gid_attrs/types/N, gid_attrs/ndevs/N) of unused GID entries are left
out: the kernel answers EINVAL when they are read, and the reader treats an absent file
the same way. Real ports have 128-255 GID entries; the trees keep 8-16 per port.

Run it again after changing it (it deletes and rewrites the trees it owns); review the
result with `git diff`. Usage: Tests/Fixtures/sysfs/generate.py
"""
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
ZERO_GID = "0000:0000:0000:0000:0000:0000:0000:0000"


def write(path, text, raw=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(text if raw else (text + "\n").encode())


def limits(memlock):
    rows = [
        ("Max cpu time", "unlimited", "unlimited", "seconds"),
        ("Max file size", "unlimited", "unlimited", "bytes"),
        ("Max data size", "unlimited", "unlimited", "bytes"),
        ("Max stack size", "8388608", "unlimited", "bytes"),
        ("Max core file size", "0", "unlimited", "bytes"),
        ("Max resident set", "unlimited", "unlimited", "bytes"),
        ("Max processes", "1031428", "1031428", "processes"),
        ("Max open files", "1048576", "1048576", "files"),
        ("Max locked memory", memlock, memlock, "bytes"),
        ("Max address space", "unlimited", "unlimited", "bytes"),
    ]
    lines = ["%-25s %-20s %-20s %-10s" % ("Limit", "Soft Limit", "Hard Limit", "Units")]
    lines += ["%-25s %-20s %-20s %-10s" % r for r in rows]
    return "\n".join(l.rstrip() for l in lines)


def machine(root, memlock="unlimited", shm="size=1048576k", cap_eff="0000000000000000",
            modules=(), gpus=(), etc=None):
    """The non-RDMA parts of a machine: limits, /dev/shm mount, capabilities, modules, GPUs."""
    if memlock is not None:
        write(f"{root}/proc/self/limits", limits(memlock))
    if shm is not None:
        write(f"{root}/proc/self/mounts",
              "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
              f"tmpfs /dev/shm tmpfs rw,nosuid,nodev,{shm} 0 0\n"
              "sysfs /sys sysfs ro,nosuid,nodev,noexec,relatime 0 0")
    if cap_eff is not None:
        write(f"{root}/proc/self/status", f"Name:\tbaton\nUmask:\t0022\nState:\tR (running)\n"
              f"CapInh:\t0000000000000000\nCapPrm:\t{cap_eff}\nCapEff:\t{cap_eff}\n")
    write(f"{root}/proc/modules", "\n".join(
        f"{m} 65536 0 - Live 0x0000000000000000" for m in modules) if modules else "")
    for i, slot in enumerate(gpus):
        write(f"{root}/proc/driver/nvidia/gpus/{slot}/information",
              f"Model: \t\t NVIDIA A100-SXM4-80GB\nIRQ:   \t\t {100 + i}\nBus Location: \t {slot}")
        write_empty(f"{root}/dev/nvidia{i}")
    for path, text in (etc or {}).items():
        write(f"{root}/etc/{path}", text)
    os.makedirs(f"{root}/sys/class", exist_ok=True)
    os.makedirs(f"{root}/dev", exist_ok=True)


def write_empty(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()


def device(root, name, *, uverbs, guid, fw, hca, board, numa, pci, netdevs, ports,
           node_type="1: CA", skip=()):
    base = f"{root}/sys/class/infiniband/{name}"
    attrs = {"node_type": node_type, "node_guid": guid, "sys_image_guid": guid, "fw_ver": fw,
             "hca_type": hca, "board_id": board, "device/numa_node": str(numa),
             "device/uevent": f"DRIVER=mlx5_core\nPCI_CLASS=20000\nPCI_ID=15B3:{int(hca[2:]):04X}\n"
                              f"PCI_SUBSYS_ID=15B3:0007\nPCI_SLOT_NAME={pci}\nMODALIAS=pci:v000015B3"}
    for key, value in attrs.items():
        if key not in skip:
            write(f"{base}/{key}", value)
    for i, netdev in enumerate(netdevs):
        write(f"{base}/device/net/{netdev}/dev_port", str(i))
    for number, port in ports.items():
        pbase = f"{base}/ports/{number}"
        for key in ("state", "phys_state", "rate", "link_layer", "lid", "sm_lid"):
            if key in port:
                write(f"{pbase}/{key}", port[key])
        for index, entry in enumerate(port["gids"]):
            gid, gtype, ndev = entry if isinstance(entry, tuple) else (entry, None, None)
            write(f"{pbase}/gids/{index}", gid)
            if gtype:
                write(f"{pbase}/gid_attrs/types/{index}", gtype)
            if ndev:
                write(f"{pbase}/gid_attrs/ndevs/{index}", ndev)
        os.makedirs(f"{pbase}/gid_attrs/types", exist_ok=True)
        os.makedirs(f"{pbase}/gid_attrs/ndevs", exist_ok=True)
    if uverbs is not None:
        write(f"{root}/sys/class/infiniband_verbs/{uverbs}/ibdev", name)
        write(f"{root}/sys/class/infiniband_verbs/{uverbs}/dev", f"231:{uverbs[6:]}")
        write_empty(f"{root}/dev/infiniband/{uverbs}")


def ib_port(state, phys, rate, lid, port_guid, gid_count=8, sm_lid="0x1"):
    gids = [(f"fe80:0000:0000:0000:{port_guid}", "IB/RoCE v1", None)] + [ZERO_GID] * (gid_count - 1)
    return {"state": state, "phys_state": phys, "rate": rate, "link_layer": "InfiniBand",
            "lid": lid, "sm_lid": sm_lid, "gids": gids}


ACTIVE, DOWN, INIT = "4: ACTIVE", "1: DOWN", "2: INIT"
LINKUP, POLLING, DISABLED = "5: LinkUp", "2: Polling", "3: Disabled"
HDR = "200 Gb/sec (4X HDR)"


def common_dev(root, umads):
    write_empty(f"{root}/dev/infiniband/rdma_cm")
    write(f"{root}/sys/class/infiniband_verbs/abi_version", "6")
    for i in range(umads):
        write_empty(f"{root}/dev/infiniband/umad{i}")
        write_empty(f"{root}/dev/infiniband/issm{i}")


def ib_hdr_two_port(root):
    """A ConnectX-6 HDR InfiniBand HCA with two ports: port 1 ACTIVE, port 2 cable out."""
    machine(root, memlock="unlimited", shm="size=32899912k",
            modules=("mlx5_ib", "ib_uverbs", "ib_core", "mlx5_core"),
            etc={"nccl.conf": "# site defaults\nNCCL_DEBUG=WARN\nNCCL_IB_HCA==mlx5_0:1"})
    device(root, "mlx5_0", uverbs="uverbs0", guid="0c42:a103:0065:d6b6", fw="20.29.2002",
           hca="MT4123", board="MT_0000000223", numa=0, pci="0000:3b:00.0", netdevs=["ib0", "ib1"],
           ports={1: ib_port(ACTIVE, LINKUP, HDR, "0x4", "0c42:a103:0065:d6b6"),
                  2: ib_port(DOWN, DISABLED, "10 Gb/sec (4X SDR)", "0x0", "0c42:a103:0065:d6b7",
                             sm_lid="0x0")})
    common_dev(root, umads=2)


def roce_v2_nic(root):
    """A ConnectX-5 100 GbE RoCE NIC: full GID table with link-local, IPv4-mapped and IPv6
    entries in both RoCE versions, then empty entries. Docker-default limits."""
    machine(root, memlock="65536", shm="size=65536k", cap_eff="00000000a80425fb",
            modules=("mlx5_ib", "ib_uverbs", "ib_core", "mlx5_core"))
    nd = "ens1f0np0"
    gids = [
        ("fe80:0000:0000:0000:0e42:a1ff:fe9a:6766", "IB/RoCE v1", nd),
        ("fe80:0000:0000:0000:0e42:a1ff:fe9a:6766", "RoCE v2", nd),
        ("0000:0000:0000:0000:0000:ffff:0a01:0005", "IB/RoCE v1", nd),
        ("0000:0000:0000:0000:0000:ffff:0a01:0005", "RoCE v2", nd),
        ("fd12:3456:789a:0001:0e42:a1ff:fe9a:6766", "IB/RoCE v1", nd),
        ("fd12:3456:789a:0001:0e42:a1ff:fe9a:6766", "RoCE v2", nd),
    ] + [ZERO_GID] * 10
    device(root, "mlx5_0", uverbs="uverbs0", guid="0c42:a103:009a:6766", fw="16.35.2000",
           hca="MT4119", board="MT_0000000008", numa=1, pci="0000:af:00.0", netdevs=[nd],
           ports={1: {"state": ACTIVE, "phys_state": LINKUP, "rate": "100 Gb/sec (4X EDR)",
                      "link_layer": "Ethernet", "lid": "0x0", "sm_lid": "0x0", "gids": gids}})
    common_dev(root, umads=1)


def eight_gpu_server(root):
    """An eight-GPU server: mlx5_0..mlx5_11. IB compute HCAs with mlx5_4 and mlx5_11 down,
    RoCE storage NICs mlx5_8 (active) and mlx5_9 (down); nvidia_peermem not loaded;
    /etc/nccl.conf uses the prefix-matching NCCL_IB_HCA=mlx5_1."""
    slots = ["0000:07:00.0", "0000:0f:00.0", "0000:47:00.0", "0000:4e:00.0",
             "0000:87:00.0", "0000:90:00.0", "0000:b7:00.0", "0000:bd:00.0"]
    machine(root, memlock="unlimited", shm="size=1056335872k", cap_eff="000001ffffffffff",
            modules=("nvidia_uvm", "nvidia_drm", "nvidia_modeset", "nvidia", "mlx5_ib",
                     "ib_uverbs", "ib_core", "mlx5_core"),
            gpus=slots,
            etc={"nccl.conf": "NCCL_IB_HCA=mlx5_1\nNCCL_SOCKET_IFNAME=ib",
                 "nccl/topo.xml": "<system version=\"1\">\n</system>"})
    down = {4: (DOWN, POLLING), 9: (DOWN, DISABLED), 11: (DOWN, DISABLED)}
    for n in range(12):
        guid = f"b83f:d203:00a1:{0x10 + n:04x}"
        state, phys = down.get(n, (ACTIVE, LINKUP))
        pci = [f"0000:{b:02x}:00.0" for b in
               (0x0c, 0x12, 0x4b, 0x54, 0x8d, 0x94, 0xba, 0xcc, 0x31, 0x31, 0xe1, 0xe5)][n]
        if n in (8, 9):
            nd = f"ens{n - 7}f{n - 8}np{n - 8}"
            gids = [("fe80:0000:0000:0000:ba3f:d2ff:fea1:%04x" % (0x10 + n), "IB/RoCE v1", nd),
                    ("fe80:0000:0000:0000:ba3f:d2ff:fea1:%04x" % (0x10 + n), "RoCE v2", nd)]
            if state == ACTIVE:
                gids += [("0000:0000:0000:0000:0000:ffff:0a02:0%03x" % (0x10 + n), "IB/RoCE v1", nd),
                         ("0000:0000:0000:0000:0000:ffff:0a02:0%03x" % (0x10 + n), "RoCE v2", nd)]
            gids += [ZERO_GID] * (8 - len(gids))
            port = {"state": state, "phys_state": phys, "rate": "100 Gb/sec (4X EDR)",
                    "link_layer": "Ethernet", "lid": "0x0", "sm_lid": "0x0", "gids": gids}
            netdevs = [nd]
            hca, fw = "MT4125", "22.36.1010"
        else:
            lid = "0x0" if state == DOWN else hex(0x20 + n)
            port = ib_port(state, phys, HDR if state == ACTIVE else "10 Gb/sec (4X SDR)", lid, guid,
                           sm_lid="0x0" if state == DOWN else "0x1")
            netdevs = [f"ib{n}"]
            hca, fw = "MT4123", "20.35.1012"
        device(root, f"mlx5_{n}", uverbs=f"uverbs{n}", guid=guid, fw=fw, hca=hca,
               board="MT_0000000223", numa=0 if n < 4 or n in (8, 9) else 1, pci=pci,
               netdevs=netdevs, ports={1: port})
    common_dev(root, umads=12)


def none(root):
    """A machine without RDMA: no class/infiniband, no /dev/infiniband."""
    machine(root, memlock="8388608", shm="size=8126936k", cap_eff="0000000000000000", modules=("ext4", "overlay"))


def malformed(root):
    """Broken trees: missing files, garbage, a GID of the wrong length, a non-numeric port;
    mlx5_2 is intact to show the reader carries on."""
    machine(root, memlock=None, shm=None, cap_eff=None, modules=())
    port1 = ib_port(ACTIVE, LINKUP, HDR, "0x4", "0c42:a103:0065:0001")
    port1["state"] = "banana"
    port1["rate"] = "fast"
    del port1["lid"]
    port1["gids"] = ["fe80:0000:0000:0000:0e42:a1ff:fe9a", ("fe80:0000:0000:0000:0c42:a103:0065:0001", "RoCE v3", None),
                     "fe80:zzzz:0000:0000:0c42:a103:0065:0001", ZERO_GID]
    device(root, "mlx5_0", uverbs="uverbs0", guid="zzzz", fw="unused", hca="MT4123", board="MT_0000000223",
           numa=0, pci="0000:3b:00.0", netdevs=["ib0"], ports={1: port1}, skip=("fw_ver",))
    write(f"{root}/sys/class/infiniband/mlx5_0/ports/x/state", ACTIVE)
    write(f"{root}/sys/class/infiniband/mlx5_0/ports/1/phys_state", b"\x01\x02junk\xff", raw=True)
    # mlx5_1: node_type without its number, no ports/ directory, numa_node garbage,
    # and its uverbs1 node is missing from /dev/infiniband.
    device(root, "mlx5_1", uverbs="uverbs1", guid="0c42:a103:0065:0002", fw="20.29.2002", hca="MT4123",
           board="MT_0000000223", numa=0, pci="0000:3c:00.0", netdevs=[], ports={}, node_type="CA")
    write(f"{root}/sys/class/infiniband/mlx5_1/device/numa_node", "zero")
    os.remove(f"{root}/dev/infiniband/uverbs1")
    device(root, "mlx5_2", uverbs="uverbs2", guid="0c42:a103:0065:0003", fw="20.29.2002", hca="MT4123",
           board="MT_0000000223", numa=1, pci="0000:86:00.0", netdevs=["ib2"],
           ports={1: ib_port(ACTIVE, LINKUP, HDR, "0x9", "0c42:a103:0065:0003")})
    write_empty(f"{root}/dev/infiniband/rdma_cm")


FIXTURES = {"ib-hdr-two-port": ib_hdr_two_port, "roce-v2-nic": roce_v2_nic,
            "eight-gpu-server": eight_gpu_server, "none": none, "malformed": malformed}

if __name__ == "__main__":
    for name, build in FIXTURES.items():
        root = os.path.join(HERE, name)
        shutil.rmtree(root, ignore_errors=True)
        build(root)
        print("wrote", os.path.relpath(root))
