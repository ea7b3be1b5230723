"""This rank's shard: the .npy Baton wrote ($BATON_SHARD_FILE) and the plan.json beside it.

`baton launch --shard-samples N` (and `baton shard samples`) write, per attempt,
`rank-R.npy` (int64 sample ids) and `plan.json` (count, world, epoch, seed, shuffle,
consumed, policy, algorithm, ranks[].count, ...). A rank's entry j is the sample at global
position `plan.consumed + R + j * plan.world` of the epoch's order (docs/sharding.md).
"""

import json
import os
import re

import numpy as np

from . import env
from .order import ALGORITHMS, epoch_ids


class ShardMismatch(ValueError):
    """The shard on disk is not the one this rank expects (another epoch, world, rank, ...)."""


class ShardPlan:
    """plan.json of a samples plan, checked for the keys a reader relies on."""

    def __init__(self, data, path="plan.json"):
        self.path = path
        self.raw = data
        kind = data.get("kind", "samples")
        if kind != "samples":
            raise ShardMismatch("%s describes a %s plan, not a samples plan" % (path, kind))
        try:
            self.count = int(data["count"])
            self.world = int(data["world"])
            self.epoch = int(data["epoch"])
            self.seed = int(data.get("seed", 0))
            self.shuffle = bool(data.get("shuffle", False))
            self.consumed = int(data.get("consumed", 0))
            self.policy = str(data.get("policy", "exact"))
            self.algorithm = str(data.get("algorithm", "feistel-splitmix64-v1" if self.shuffle else "identity"))
            self.limit = data.get("limit")
            self.rank_counts = [int(r["count"]) for r in sorted(data["ranks"], key=lambda r: int(r["rank"]))]
        except (KeyError, TypeError, ValueError) as e:
            raise ShardMismatch("%s is not a samples plan Baton wrote (%s: %s)" % (path, type(e).__name__, e)) from None
        if len(self.rank_counts) != self.world:
            raise ShardMismatch("%s lists %d ranks for a world of %d" % (path, len(self.rank_counts), self.world))

    @classmethod
    def load(cls, path):
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read().decode("utf-8"))
        except FileNotFoundError:
            raise ShardMismatch("%s is missing: a shard is read together with the plan.json Baton writes beside it" % path) from None
        except ValueError as e:
            raise ShardMismatch("%s is not valid JSON: %s" % (path, e)) from None
        return cls(data, path)

    def computable(self):
        """True when this plan's order can be recomputed here (its algorithm is known)."""
        return self.algorithm in ALGORITHMS

    def __repr__(self):
        return ("ShardPlan(count=%d, world=%d, epoch=%d, seed=%d, shuffle=%s, consumed=%d, policy=%s)"
                % (self.count, self.world, self.epoch, self.seed, self.shuffle, self.consumed, self.policy))


class Shard:
    """One rank's shard: `ids` (int64), `padding` (bool, True where an entry is a repeat), `plan`, `rank`."""

    def __init__(self, ids, padding, plan, rank, path):
        self.ids, self.padding, self.plan, self.rank, self.path = ids, padding, plan, rank, path

    def positions(self):
        """Global position in the epoch's order of each (non-padding) entry."""
        n = int(len(self.ids) - self.padding.sum())
        return self.plan.consumed + self.rank + self.plan.world * np.arange(n, dtype=np.int64)


_RANK_FILE = re.compile(r"rank-(\d+)\.npy$")


def read_shard(path=None, epoch=None, world_size=None, rank=None, count=None):
    """Reads and checks a rank's shard. Every expectation given (or known from the
    environment: WORLD_SIZE, RANK) must hold, else ShardMismatch says which and why.

    path: default $BATON_SHARD_FILE. epoch: the epoch the caller is about to train (None:
    not checked). world_size, rank: default $WORLD_SIZE, $RANK. count: the dataset's length."""
    path = path or os.environ.get("BATON_SHARD_FILE")
    if not path:
        raise ShardMismatch("no shard: BATON_SHARD_FILE is not set (baton launch sets it with --shard-samples N)")
    plan_path = os.path.join(os.path.dirname(os.path.abspath(path)), "plan.json")
    plan = ShardPlan.load(plan_path)
    if world_size is None:
        world_size = env.world_size(None)
    if rank is None:
        rank = env.rank(None)
    m = _RANK_FILE.search(os.path.basename(path))
    if m is None:
        raise ShardMismatch("%s is not named rank-R.npy; read only shards Baton wrote" % path)
    file_rank = int(m.group(1))
    if rank is not None and file_rank != rank:
        raise ShardMismatch("%s is rank %d's shard, but this is rank %d" % (path, file_rank, rank))
    if world_size is not None and plan.world != world_size:
        raise ShardMismatch("%s is a shard of a world of %d ranks, but this job has %d (%s); a stale shard from another attempt?"
                            % (path, plan.world, world_size, plan_path))
    if epoch is not None and plan.epoch != epoch:
        raise ShardMismatch("%s is a shard of epoch %d, but this rank is about to train epoch %d (%s); "
                            "refusing it so no sample of the wrong epoch is trained" % (path, plan.epoch, epoch, plan_path))
    if count is not None and plan.count != count:
        raise ShardMismatch("%s shards %d samples, but the dataset has %d" % (path, plan.count, count))
    if file_rank >= plan.world:
        raise ShardMismatch("%s: rank %d is outside the plan's world of %d" % (path, file_rank, plan.world))
    try:
        ids = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ShardMismatch("%s is not a readable .npy file: %s" % (path, e)) from None
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise ShardMismatch("%s holds %s of shape %s, not a one-dimensional integer array" % (path, ids.dtype, ids.shape))
    expected = plan.rank_counts[file_rank]
    if plan.limit is not None:
        expected = min(expected, int(plan.limit))
    if len(ids) != expected:
        raise ShardMismatch("%s has %d entries, its plan says %d: the shard and %s do not belong together"
                            % (path, len(ids), expected, plan_path))
    ids = ids.astype(np.int64, copy=False)
    if len(ids) and (ids.min() < 0 or ids.max() >= plan.count):
        raise ShardMismatch("%s holds ids outside 0..%d" % (path, plan.count - 1))
    mask_path = path[:-len(".npy")] + ".mask.npy"
    if os.path.exists(mask_path):
        padding = np.load(mask_path, allow_pickle=False).astype(bool)
        if padding.shape != ids.shape:
            raise ShardMismatch("%s does not match %s" % (mask_path, path))
    else:
        padding = np.zeros(len(ids), dtype=bool)
    return Shard(ids, padding, plan, file_rank, path)


def rank_sample_ids(epoch=None, world_size=None, rank=None, path=None, count=None):
    """This rank's sample ids (int64 numpy array, in training order) from $BATON_SHARD_FILE,
    after checking its plan.json: see read_shard for the checks. Padding entries (only
    with --policy pad) are included; read_shard(...).padding marks them."""
    return read_shard(path=path, epoch=epoch, world_size=world_size, rank=rank, count=count).ids


def stripe_positions(count, world, rank, start=0, resume=None):
    """Global positions of rank's stripe of an epoch whose positions 0..start-1 were handed
    out before: start + rank + j * world, keeping only those >= resume (default start).

    This is how Baton stripes the rest of an epoch (docs/sharding.md), and resuming at a
    global count `resume` keeps exactly the positions not yet consumed, whatever world
    size consumed them: over all ranks the kept positions are resume..count-1, once each."""
    if not 0 <= rank < world:
        raise ValueError("rank %d outside 0..%d" % (rank, world - 1))
    first = start + rank
    if resume is not None and resume > first:
        first += -(-(resume - first) // world) * world
    return np.arange(first, count, world, dtype=np.int64)
