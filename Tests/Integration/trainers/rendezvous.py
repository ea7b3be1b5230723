#!/usr/bin/env python3
"""A rendezvous the way torch's TCPStore does one, standard library only.

Rank 0 listens on MASTER_PORT (every address, as TCPStore's server does); every rank,
rank 0 included, connects to MASTER_ADDR:MASTER_PORT, says its rank and waits for the
sum of all ranks, which the server sends once WORLD_SIZE ranks have joined. So the job
works only if MASTER_ADDR resolves and reaches rank 0's node and MASTER_PORT is free
there. Optional argument: seconds to hold the rendezvous open after it completes (to
make concurrent configs overlap). Prints `RDV rank world addr port sum` and, for rank 0,
records it atomically in $BATON_CHECKPOINT_DIR/rendezvous-<attempt>.txt.
"""
import os
import socket
import sys
import threading
import time

rank = int(os.environ["RANK"])
world = int(os.environ["WORLD_SIZE"])
addr = os.environ["MASTER_ADDR"]
port = int(os.environ["MASTER_PORT"])
hold = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
deadline = time.monotonic() + 30


def serve(server):
    conns = []
    total = 0
    while len(conns) < world:
        c, _ = server.accept()
        total += int(c.recv(64).decode())
        conns.append(c)
    for c in conns:
        c.sendall(str(total).encode())
        c.close()
    time.sleep(hold)
    server.close()


if rank == 0:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("", port))  # EADDRINUSE if another job holds the port: the test fails
    server.listen(world)
    threading.Thread(target=serve, args=(server,), daemon=False).start()

while True:
    try:
        s = socket.create_connection((addr, port), timeout=5)
        break
    except OSError as e:
        if time.monotonic() > deadline:
            sys.exit(f"rank {rank}: cannot reach {addr}:{port}: {e}")
        time.sleep(0.1)
s.settimeout(max(1.0, deadline - time.monotonic()))
s.sendall(str(rank).encode())
total = int(s.recv(64).decode())
s.close()
assert total == world * (world - 1) // 2, (total, world)
line = f"RDV {rank} {world} {addr} {port} {total}"
print(line, flush=True)
if rank == 0 and os.environ.get("BATON_CHECKPOINT_DIR"):
    d = os.environ["BATON_CHECKPOINT_DIR"]
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"rendezvous-{os.environ.get('BATON_ATTEMPT', '1')}.txt")
    tmp = path + f".tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
