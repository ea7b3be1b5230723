"""BatonSampler: a drop-in for torch.utils.data.DistributedSampler that reads Baton's shard.

Imported lazily (`baton.BatonSampler`), so `import baton` never imports torch; without torch
the class still works as a plain iterable of ids.
"""

import collections
import os
import sys

import numpy as np

from . import env
from .order import epoch_ids
from .shard import ShardMismatch, ShardPlan, read_shard, stripe_positions

try:  # torch is optional: subclass its Sampler when it is there
    from torch.utils.data import Sampler as _Base
except ImportError:  # pragma: no cover - exercised where torch is missing
    _Base = object

Step = collections.namedtuple("Step", "ids consumed size")
Step.__doc__ = """One global step of BatonSampler.batches(): this rank's ids, the epoch's
consumed count once the step is done (report it after checkpointing), and the number of
samples all ranks together take in this step (divide a summed loss by it)."""


def _stripe_len(first, world, lo, hi):
    """How many p = first + j*world (j >= 0) lie in lo <= p < hi."""
    if hi <= lo:
        return 0
    if first < lo:
        first += -(-(lo - first) // world) * world
    return 0 if first >= hi else (hi - 1 - first) // world + 1


class BatonSampler(_Base):
    """This rank's sample ids for an epoch, from Baton's shard or computed the same way.

    Same arguments and methods as DistributedSampler (`set_epoch`, `__len__`, `__iter__`):

        sampler = BatonSampler(dataset, shuffle=True, seed=7)
        loader = DataLoader(dataset, batch_size=32, sampler=sampler)
        for epoch in range(start_epoch, epochs):
            sampler.set_epoch(epoch, consumed=consumed if epoch == start_epoch else 0)
            for batch in loader: ...

    Where the ids come from:
    - With $BATON_SHARD_FILE (`baton launch --shard-samples N`), the shard's plan.json rules
      (its count, seed and shuffle): for the plan's epoch the ids are read from the file
      (after Baton re-sharded the rest of the epoch for this world on a restart); for any
      other epoch they are computed with Baton's own algorithm, so they are the ids `baton
      shard samples` would write. A shard of another world size, another rank or another
      dataset length is refused (ShardMismatch), as is a resume point behind the shard's
      start (samples would be skipped).
    - Without one (a grid config, a bare run) the ids are computed from (len(dataset),
      seed, epoch, shuffle) exactly as `baton shard samples --shuffle --seed S --epoch E`.
    Rank r of W takes global positions r, r+W, ... of the epoch's order.

    Resuming mid-epoch: `set_epoch(epoch, consumed=C)` keeps only the positions C.. (C is
    the global count of the epoch's samples done: what report(consumed=...) was given; over
    all ranks every remaining sample comes once, also on a different world size), or
    `set_epoch(epoch, skip=k)` drops the first k of this rank's ids.

    Lengths: as DistributedSampler, by default every rank gets the same number of entries
    (drop_last=False pads short ranks with repeats, drop_last=True drops the tail), so a
    DataLoader loop never leaves one rank waiting in a collective. exact=True gives every
    sample exactly once instead (ranks may differ by one); `batches(global_batch)` walks
    the epoch in global batches so every rank takes the same number of steps, exactly once.
    """

    def __init__(self, dataset=None, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False,
                 *, num_samples=None, shard_file=None, exact=False):
        if _Base is not object:
            super().__init__(dataset)
        if num_samples is None:
            if dataset is None:
                raise ValueError("give a dataset (with len()) or num_samples")
            num_samples = len(dataset)
        self.num_samples_total = int(num_samples)
        if self.num_samples_total < 1:
            raise ValueError("the dataset is empty")
        self.num_replicas = int(num_replicas if num_replicas is not None else self._default("WORLD_SIZE"))
        self.rank = int(rank if rank is not None else self._default("RANK"))
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError("rank %d outside 0..%d" % (self.rank, self.num_replicas - 1))
        self.shuffle, self.seed, self.drop_last, self.exact = bool(shuffle), int(seed), bool(drop_last), bool(exact)
        self.shard_file = shard_file if shard_file is not None else os.environ.get("BATON_SHARD_FILE")
        self.plan = None
        if self.shard_file:
            self.plan = ShardPlan.load(os.path.join(os.path.dirname(os.path.abspath(self.shard_file)), "plan.json"))
            if self.plan.world != self.num_replicas:
                raise ShardMismatch("%s is a shard of a world of %d ranks, but this sampler has %d replicas"
                                    % (self.shard_file, self.plan.world, self.num_replicas))
            if self.plan.count != self.num_samples_total:
                raise ShardMismatch("%s shards %d samples, but the dataset has %d"
                                    % (self.shard_file, self.plan.count, self.num_samples_total))
            if (self.plan.seed, self.plan.shuffle) != (self.seed, self.shuffle):
                sys.stderr.write("BatonSampler: using the shard plan's shuffle=%s seed=%d, not shuffle=%s seed=%d\n"
                                 % (self.plan.shuffle, self.plan.seed, self.shuffle, self.seed))
                self.shuffle, self.seed = self.plan.shuffle, self.plan.seed
        self.epoch = 0
        self._consumed = None
        self._skip = 0
        self._cache = None

    @staticmethod
    def _default(name):
        if os.environ.get(name):
            return int(os.environ[name])
        try:
            import torch.distributed as dist
            if dist.is_available() and dist.is_initialized():
                return dist.get_world_size() if name == "WORLD_SIZE" else dist.get_rank()
        except ImportError:
            pass
        return 1 if name == "WORLD_SIZE" else 0

    def set_epoch(self, epoch, consumed=None, skip=0):
        """The epoch to iterate next; consumed = global samples of it already done (resume),
        skip = ids of this rank's list to leave out at its start."""
        if consumed is not None and not 0 <= consumed <= self.num_samples_total:
            raise ValueError("consumed %d outside 0..%d" % (consumed, self.num_samples_total))
        if skip < 0:
            raise ValueError("skip must be 0 or more")
        self.epoch, self._consumed, self._skip, self._cache = int(epoch), consumed, int(skip), None

    # The stripes: rank r's remaining positions are first[r], first[r] + W, ... below N.
    def _from_file(self):
        return self.plan is not None and self.plan.epoch == self.epoch

    def _firsts(self):
        n, w = self.num_samples_total, self.num_replicas
        base = self.plan.consumed if self._from_file() else 0
        resume = self._consumed
        if resume is not None and resume < base:
            raise ShardMismatch("resuming epoch %d at %d samples consumed, but Baton's shard %s starts at %d: "
                                "samples %d..%d would never be trained (was `consumed` reported before its checkpoint was durable?)"
                                % (self.epoch, resume, self.shard_file, base, resume, base - 1))
        firsts = []
        for r in range(w):
            first = base + r
            if resume is not None and resume > first:
                first += -(-(resume - first) // w) * w
            firsts.append(min(first + self._skip * w, n + r + w))
        return firsts

    def _compute(self):
        if self._cache is not None:
            return self._cache
        n, w, r = self.num_samples_total, self.num_replicas, self.rank
        firsts = self._firsts()
        positions = np.arange(firsts[r], n, w, dtype=np.int64)
        if self._from_file():
            shard = read_shard(self.shard_file, epoch=self.epoch, world_size=w, rank=r, count=n)
            j = (positions - self.plan.consumed - r) // w
            if len(j) and j[-1] >= len(shard.ids):
                raise ShardMismatch("%s is shorter than its plan says (a --first/--limit shard?)" % self.shard_file)
            ids = shard.ids[j]
        else:
            if self.plan is not None and not self.plan.computable():
                raise ShardMismatch("%s is of epoch %d and its algorithm %r is unknown here: cannot compute epoch %d"
                                    % (self.shard_file, self.plan.epoch, self.plan.algorithm, self.epoch))
            ids = epoch_ids(positions, n, self.seed, self.epoch, self.shuffle)
        exact_ids = ids
        lengths = [_stripe_len(f, w, 0, n) for f in firsts]
        padding = np.zeros(len(ids), dtype=bool)
        if not self.exact:
            if self.drop_last:
                ids, padding = ids[:min(lengths)], padding[:min(lengths)]
            elif len(ids) < max(lengths):
                extra = max(lengths) - len(ids)
                head = ids if len(ids) else epoch_ids([min(firsts)], n, self.seed, self.epoch, self.shuffle)
                ids = np.concatenate([ids, np.resize(head, extra)])
                padding = np.concatenate([padding, np.ones(extra, dtype=bool)])
        self._cache = (ids, padding, exact_ids, positions, firsts)
        return self._cache

    def ids(self):
        """This rank's ids for the current epoch and resume point, as an int64 array."""
        return self._compute()[0]

    def padding_mask(self):
        """True where an entry of ids() is a repeat added to even out the lengths."""
        return self._compute()[1]

    def __iter__(self):
        return iter(self._compute()[0].tolist())

    def __len__(self):
        return len(self._compute()[0])

    def batches(self, global_batch):
        """The rest of the epoch in global batches: step s covers global positions
        [p0 + s*B, p0 + (s+1)*B) of the order; yields Step(ids, consumed, size). Every rank
        yields the same number of steps (ids may be empty on some), every remaining sample
        once (no padding, nothing dropped, whatever drop_last says); the split of a global
        batch does not depend on the world size."""
        if global_batch < 1:
            raise ValueError("global_batch must be at least 1")
        n, w = self.num_samples_total, self.num_replicas
        _, _, ids, positions, firsts = self._compute()
        lo = min(firsts)
        i = 0
        while lo < n:
            hi = min(lo + global_batch, n)
            k = int(np.searchsorted(positions, hi, side="left"))
            size = sum(_stripe_len(f, w, lo, hi) for f in firsts)
            yield Step(ids[i:k].tolist(), hi, size)
            i, lo = k, hi
