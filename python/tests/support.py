"""Shared test helpers: a clean environment, a shard directory written as Baton writes it."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

# `python3 -m unittest discover -s python/tests` puts only this directory on sys.path:
# the package under test is its parent's `baton/` (unless PYTHONPATH or pip put one first).
_PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _PYTHON_DIR not in sys.path:
    sys.path.insert(0, _PYTHON_DIR)

import numpy as np  # noqa: E402

from baton.order import epoch_ids  # noqa: E402

CONTRACT = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "BATON_SHARD_FILE", "BATON_METRICS", "BATON_CHECKPOINT_DIR",
            "BATON_RESUME", "BATON_ATTEMPT", "BATON_RESTART_COUNT", "TORCHELASTIC_RESTART_COUNT",
            "BATON_CONFIG", "BATON_CONFIG_ID", "BATON_RUN_DIR", "BATON_PREVIOUS_WORLD_SIZE", "BATON_CHECKPOINT_REQUEST")


def baton_binary():
    """The built baton ($BATON_BUILD/baton), or None: tests that compare with it skip without it."""
    build = os.environ.get("BATON_BUILD")
    path = os.path.join(build, "baton") if build else shutil.which("baton")
    return path if path and os.access(path, os.X_OK) else None


def baton_shard(out, count, world, seed=0, epoch=0, shuffle=True, consumed=0):
    """Runs the real `baton shard samples` into `out`."""
    args = [baton_binary(), "shard", "samples", "--count", str(count), "--world", str(world),
            "--epoch", str(epoch), "--consumed", str(consumed), "--out", out]
    if shuffle:
        args += ["--shuffle", "--seed", str(seed)]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return out


def write_shards(out, count, world, seed=0, epoch=0, shuffle=True, consumed=0):
    """Writes rank-R.npy and plan.json with the fields and layout `baton shard samples`
    writes (policy exact), computed with the helper's own port of the order."""
    os.makedirs(out, exist_ok=True)
    ranks = []
    for r in range(world):
        positions = np.arange(consumed + r, count, world, dtype=np.int64)
        np.save(os.path.join(out, "rank-%d.npy" % r), epoch_ids(positions, count, seed, epoch, shuffle))
        ranks.append({"count": len(positions), "padding": 0, "rank": r})
    plan = {"algorithm": "feistel-splitmix64-v1" if shuffle else "identity", "consumed": consumed, "count": count,
            "epoch": epoch, "format": "npy", "kind": "samples", "policy": "exact", "ranks": ranks,
            "seed": seed if shuffle else 0, "shuffle": shuffle, "world": world}
    with open(os.path.join(out, "plan.json"), "w") as f:
        json.dump(plan, f, indent=2)
    return out


class CleanEnvTestCase(unittest.TestCase):
    """Runs each test without any of Baton's variables, and with a temporary directory."""

    def setUp(self):
        cleaned = {k: v for k, v in os.environ.items() if k not in CONTRACT}
        patcher = mock.patch.dict(os.environ, cleaned, clear=True)
        patcher.start()
        self.addCleanup(patcher.stop)
        self.tmp = tempfile.mkdtemp(prefix="baton-py-test.")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def setenv(self, **values):
        for k, v in values.items():
            os.environ[k] = str(v)
