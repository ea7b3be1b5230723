from support import CleanEnvTestCase, write_shards  # first: puts python/ on sys.path

import collections
import contextlib
import io
import os
import unittest

import numpy as np

import baton
from baton import ShardMismatch
from baton.sampler import BatonSampler

try:
    import torch
except ImportError:
    torch = None


def order(n, seed, epoch, shuffle=True):
    return baton.epoch_ids(range(n), n, seed, epoch, shuffle).tolist()


class SamplerTest(CleanEnvTestCase):
    def samplers(self, n, world, **kw):
        return [BatonSampler(num_samples=n, num_replicas=world, rank=r, **kw) for r in range(world)]

    def test_every_sample_once_per_epoch(self):
        for n in (1, 10, 11, 1438):
            for world in (1, 2, 3, 4):
                for epoch in (0, 3):
                    seen = collections.Counter()
                    for s in self.samplers(n, world, seed=7, exact=True):
                        s.set_epoch(epoch)
                        seen.update(list(s))
                    self.assertEqual(sorted(seen), list(range(n)))
                    self.assertTrue(all(c == 1 for c in seen.values()), (n, world, epoch))

    def test_stripes_the_epoch_order_as_baton_does(self):
        s = BatonSampler(num_samples=11, num_replicas=3, rank=1, seed=5)
        s.set_epoch(2)
        self.assertEqual(list(s), order(11, 5, 2)[1::3])

    def test_equal_lengths_as_distributed_sampler(self):
        for drop_last in (False, True):
            ss = self.samplers(10, 4, seed=1, drop_last=drop_last)
            lengths = {len(s) for s in ss}
            self.assertEqual(lengths, {2} if drop_last else {3})
        ss = self.samplers(10, 4, seed=1)  # 3,3,2,2: the last two ranks get one repeat each
        self.assertEqual([int(s.padding_mask().sum()) for s in ss], [0, 0, 1, 1])
        self.assertEqual(set().union(*[set(s) for s in ss]), set(range(10)))

    def test_resume_mid_epoch_by_skip_yields_exactly_the_rest(self):
        for r, s in enumerate(self.samplers(1438, 2, seed=7, exact=True)):
            s.set_epoch(1)
            full = list(s)
            s.set_epoch(1, skip=100)
            self.assertEqual(list(s), full[100:])
            self.assertEqual(len(s), len(full) - 100)
            s.set_epoch(1)
            self.assertEqual(list(s), full, "set_epoch without skip starts over")

    def test_resume_mid_epoch_on_another_world(self):
        n, seed, epoch, consumed = 1003, 3, 1, 400
        before = collections.Counter()
        for s in self.samplers(n, 4, seed=seed, exact=True):  # 4 ranks did 100 each
            s.set_epoch(epoch)
            before.update(list(s)[:100])
        after = collections.Counter()
        for s in self.samplers(n, 3, seed=seed, exact=True):  # 3 ranks take the rest
            s.set_epoch(epoch, consumed=consumed)
            after.update(list(s))
        self.assertEqual(set(after), set(order(n, seed, epoch)[consumed:]))
        total = before + after
        self.assertEqual(sorted(total), list(range(n)))
        self.assertEqual(max(total.values()), 1)

    def test_batches_same_steps_on_every_rank_and_exactly_once(self):
        n, batch = 1438, 64
        for world in (1, 2, 3, 4):
            steps = []
            for s in self.samplers(n, world, seed=7):
                s.set_epoch(0, consumed=192)
                steps.append(list(s.batches(batch)))
            self.assertEqual(len({len(x) for x in steps}), 1)
            o = order(n, 7, 0)
            for k in range(len(steps[0])):
                lo, hi = 192 + k * batch, min(192 + (k + 1) * batch, n)
                got = sorted(i for rank_steps in steps for i in rank_steps[k].ids)
                self.assertEqual(got, sorted(o[lo:hi]))
                self.assertEqual({x[k].consumed for x in steps}, {hi})
                self.assertEqual({x[k].size for x in steps}, {hi - lo})
            self.assertEqual(steps[0][-1].consumed, n)

    def test_a_global_batch_does_not_depend_on_the_world(self):
        def windows(world):
            per_step = collections.defaultdict(set)
            for s in self.samplers(100, world, seed=2):
                s.set_epoch(0)
                for k, step in enumerate(s.batches(16)):
                    per_step[k] |= set(step.ids)
            return dict(per_step)
        self.assertEqual(windows(1), windows(3))

    def test_uses_batons_shard_for_its_epoch_and_computes_the_others(self):
        out = write_shards(os.path.join(self.tmp, "s"), 50, 2, seed=9, epoch=0)
        np.save(os.path.join(out, "rank-0.npy"), np.arange(100, 125, dtype=np.int64) % 50)  # mark: the file is read
        s = BatonSampler(num_samples=50, num_replicas=2, rank=0, seed=9, shard_file=os.path.join(out, "rank-0.npy"))
        s.set_epoch(0)
        self.assertEqual(list(s), list(range(0, 25)))
        s.set_epoch(1)
        self.assertEqual(list(s), order(50, 9, 1)[0::2])

    def test_takes_the_plans_shuffle_and_seed(self):
        out = write_shards(os.path.join(self.tmp, "s"), 20, 1, seed=4, epoch=0)
        warning = io.StringIO()
        with contextlib.redirect_stderr(warning):
            s = BatonSampler(num_samples=20, num_replicas=1, rank=0, seed=99, shard_file=os.path.join(out, "rank-0.npy"))
        self.assertIn("using the shard plan's shuffle=True seed=4", warning.getvalue())
        s.set_epoch(5)
        self.assertEqual(list(s), order(20, 4, 5))

    def test_resume_past_a_resharded_plan(self):
        # Baton re-sharded epoch 2 from consumed 300 for 3 ranks; the checkpoint is at 305.
        out = write_shards(os.path.join(self.tmp, "s"), 1000, 3, seed=1, epoch=2, consumed=300)
        seen = collections.Counter()
        for r in range(3):
            s = BatonSampler(num_samples=1000, num_replicas=3, rank=r, exact=True, seed=1,
                             shard_file=os.path.join(out, "rank-%d.npy" % r))
            s.set_epoch(2, consumed=305)
            seen.update(list(s))
        self.assertEqual(set(seen), set(order(1000, 1, 2)[305:]))
        self.assertEqual(max(seen.values()), 1)

    def test_refuses_to_resume_behind_the_shards_start(self):
        out = write_shards(os.path.join(self.tmp, "s"), 1000, 3, seed=1, epoch=2, consumed=300)
        s = BatonSampler(num_samples=1000, num_replicas=3, rank=0, seed=1, shard_file=os.path.join(out, "rank-0.npy"))
        s.set_epoch(2, consumed=200)
        with self.assertRaisesRegex(ShardMismatch, "samples 200..299 would never be trained"):
            list(s)

    def test_refuses_a_shard_of_another_world_or_dataset(self):
        out = write_shards(os.path.join(self.tmp, "s"), 100, 2)
        with self.assertRaisesRegex(ShardMismatch, "world of 2 ranks"):
            BatonSampler(num_samples=100, num_replicas=4, rank=0, shard_file=os.path.join(out, "rank-0.npy"))
        with self.assertRaisesRegex(ShardMismatch, "dataset has 101"):
            BatonSampler(num_samples=101, num_replicas=2, rank=0, shard_file=os.path.join(out, "rank-0.npy"))

    def test_reads_rank_world_and_shard_from_the_environment(self):
        out = write_shards(os.path.join(self.tmp, "s"), 30, 3, seed=0, epoch=0)
        self.setenv(RANK=2, WORLD_SIZE=3, BATON_SHARD_FILE=os.path.join(out, "rank-2.npy"))
        s = BatonSampler(list(range(30)), seed=0)
        self.assertEqual((s.rank, s.num_replicas), (2, 3))
        self.assertEqual(list(s), np.load(os.path.join(out, "rank-2.npy")).tolist())

    @unittest.skipUnless(torch, "torch is not installed (scripts/setup installs python3-torch)")
    def test_is_a_torch_sampler_for_a_dataloader(self):
        from torch.utils.data import DataLoader, Sampler
        data = list(range(10))
        s = baton.BatonSampler(data, num_replicas=2, rank=1, shuffle=False)
        self.assertIsInstance(s, Sampler)
        batches = [b.tolist() for b in DataLoader(data, batch_size=2, sampler=s)]
        self.assertEqual(batches, [[1, 3], [5, 7], [9]])


if __name__ == "__main__":
    unittest.main()
