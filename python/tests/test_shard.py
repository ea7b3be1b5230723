from support import CleanEnvTestCase, baton_binary, baton_shard, write_shards  # first: puts python/ on sys.path

import json
import os
import unittest

import numpy as np

import baton
from baton import ShardMismatch


class RankSampleIdsTest(CleanEnvTestCase):
    def shard_env(self, out, rank, world):
        self.setenv(BATON_SHARD_FILE=os.path.join(out, "rank-%d.npy" % rank), RANK=rank, WORLD_SIZE=world)

    def test_reads_this_ranks_shard(self):
        out = write_shards(os.path.join(self.tmp, "s"), 11, 3, seed=5, epoch=2)
        self.shard_env(out, 1, 3)
        ids = baton.rank_sample_ids(epoch=2)
        self.assertEqual(ids.dtype, np.int64)
        self.assertEqual(ids.tolist(), np.load(os.path.join(out, "rank-1.npy")).tolist())
        shard = baton.read_shard()
        self.assertEqual((shard.plan.epoch, shard.plan.world, shard.plan.count, shard.rank), (2, 3, 11, 1))
        self.assertEqual(shard.positions().tolist(), [1, 4, 7, 10])

    def test_refuses_a_shard_of_another_epoch(self):
        out = write_shards(os.path.join(self.tmp, "s"), 100, 2, seed=1, epoch=1)
        self.shard_env(out, 0, 2)
        with self.assertRaises(ShardMismatch) as caught:
            baton.rank_sample_ids(epoch=2)
        message = str(caught.exception)
        self.assertIn("epoch 1", message)
        self.assertIn("epoch 2", message)
        self.assertIn("plan.json", message)

    def test_refuses_a_shard_of_another_world(self):
        out = write_shards(os.path.join(self.tmp, "s"), 100, 2)
        self.shard_env(out, 0, 4)  # the job has 4 ranks; the shard was cut for 2
        with self.assertRaises(ShardMismatch) as caught:
            baton.rank_sample_ids()
        self.assertIn("world of 2 ranks, but this job has 4", str(caught.exception))
        with self.assertRaises(ShardMismatch):
            baton.rank_sample_ids(world_size=3, path=os.path.join(out, "rank-0.npy"))

    def test_refuses_another_ranks_shard(self):
        out = write_shards(os.path.join(self.tmp, "s"), 100, 2)
        self.setenv(BATON_SHARD_FILE=os.path.join(out, "rank-1.npy"), RANK=0, WORLD_SIZE=2)
        with self.assertRaisesRegex(ShardMismatch, "rank 1's shard, but this is rank 0"):
            baton.rank_sample_ids()

    def test_refuses_a_shard_that_does_not_match_its_plan(self):
        out = write_shards(os.path.join(self.tmp, "s"), 100, 2)
        np.save(os.path.join(out, "rank-0.npy"), np.arange(10, dtype=np.int64))  # plan says 50
        self.shard_env(out, 0, 2)
        with self.assertRaisesRegex(ShardMismatch, "has 10 entries, its plan says 50"):
            baton.rank_sample_ids()

    def test_refuses_another_dataset_length(self):
        out = write_shards(os.path.join(self.tmp, "s"), 100, 2)
        self.shard_env(out, 0, 2)
        with self.assertRaisesRegex(ShardMismatch, "shards 100 samples, but the dataset has 99"):
            baton.rank_sample_ids(count=99)

    def test_refuses_without_plan_or_shard(self):
        with self.assertRaisesRegex(ShardMismatch, "BATON_SHARD_FILE is not set"):
            baton.rank_sample_ids()
        out = write_shards(os.path.join(self.tmp, "s"), 10, 1)
        os.unlink(os.path.join(out, "plan.json"))
        self.shard_env(out, 0, 1)
        with self.assertRaisesRegex(ShardMismatch, "plan.json is missing"):
            baton.rank_sample_ids()

    def test_refuses_a_plan_of_another_kind(self):
        out = write_shards(os.path.join(self.tmp, "s"), 10, 1)
        with open(os.path.join(out, "plan.json"), "w") as f:
            json.dump({"kind": "files", "world": 1, "ranks": []}, f)
        self.shard_env(out, 0, 1)
        with self.assertRaisesRegex(ShardMismatch, "a files plan, not a samples plan"):
            baton.rank_sample_ids()

    @unittest.skipUnless(baton_binary(), "no built baton ($BATON_BUILD/baton)")
    def test_reads_what_baton_writes(self):
        out = baton_shard(os.path.join(self.tmp, "b"), 1003, 3, seed=1, epoch=3, consumed=400)
        for r in range(3):
            self.shard_env(out, r, 3)
            shard = baton.read_shard(epoch=3, count=1003)
            self.assertEqual(shard.plan.consumed, 400)
            self.assertEqual(shard.ids.tolist(), baton.epoch_ids(shard.positions(), 1003, 1, 3).tolist())
        with self.assertRaises(ShardMismatch):
            baton.rank_sample_ids(epoch=4)


if __name__ == "__main__":
    unittest.main()
