#!/usr/bin/env python3
"""An mpi4py job for 56-mpi4py: MPI_Init (mpi4py's, at import) must join the job the
launcher's mpirun started, so MPI's rank and size equal Baton's RANK and WORLD_SIZE.
Then an allreduce (a Python object and a numpy buffer) and a ring exchange (each rank
sends to rank+1 and receives from rank-1; then a token goes once round the ring, each
rank adding its rank), every value checked. Prints one line per rank:
    MPIRING <rank> <size> <RANK> <WORLD_SIZE> <host> <BATON_NODE> ok
and exits 0, or prints what differed and exits 1. Run with /usr/bin/python3."""

import os
import socket
import sys

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
env_rank, env_world = int(os.environ.get("RANK", "-1")), int(os.environ.get("WORLD_SIZE", "-1"))
problems = []
if (rank, size) != (env_rank, env_world):
    problems.append("MPI says rank %d of %d, Baton RANK=%d WORLD_SIZE=%d" % (rank, size, env_rank, env_world))

total = comm.allreduce(rank + 1, op=MPI.SUM)
if total != size * (size + 1) // 2:
    problems.append("allreduce of rank+1 gave %d, expected %d" % (total, size * (size + 1) // 2))
buf = np.full(4096, float(rank), dtype=np.float64)
out = np.empty_like(buf)
comm.Allreduce(buf, out, op=MPI.SUM)
if not (out == float(sum(range(size)))).all():
    problems.append("Allreduce of a 4096-double buffer gave %s, expected %s" % (out[:3], float(sum(range(size)))))

right, left = (rank + 1) % size, (rank - 1) % size
got = comm.sendrecv(("from", rank), dest=right, source=left)
if got != ("from", left):
    problems.append("ring: received %r from rank %d, expected %r" % (got, left, ("from", left)))
if size > 1:
    if rank == 0:
        comm.send(0, dest=right, tag=7)
        token = comm.recv(source=left, tag=7)
        if token != sum(range(size)):
            problems.append("token came back as %d, expected %d" % (token, sum(range(size))))
    else:
        token = comm.recv(source=left, tag=7)
        comm.send(token + rank, dest=right, tag=7)

comm.Barrier()
if problems:
    for p in problems:
        print("MPIRING %d FAILED: %s" % (rank, p), flush=True)
    sys.exit(1)
print("MPIRING %d %d %d %d %s %s ok" % (rank, size, env_rank, env_world, socket.gethostname(),
                                        os.environ.get("BATON_NODE", "-")), flush=True)
