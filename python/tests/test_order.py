import os
import unittest

from support import CleanEnvTestCase, baton_binary, baton_shard  # first: puts python/ on sys.path

import numpy as np

from baton.order import epoch_ids


class EpochOrderTest(CleanEnvTestCase):
    def test_matches_baton_golden_values(self):
        # `baton shard samples --count 1003 --world 1 --shuffle --seed 1 --epoch 3 --first 20`
        golden = [30, 653, 373, 721, 170, 257, 855, 534, 848, 632, 93, 389, 85, 884, 741, 786, 366, 86, 57, 920]
        self.assertEqual(epoch_ids(range(20), 1003, seed=1, epoch=3).tolist(), golden)
        # --count 5 --seed 2^64-1 --epoch 7: the largest seed, cycle walking on a tiny domain
        self.assertEqual(epoch_ids(range(5), 5, seed=2**64 - 1, epoch=7).tolist(), [1, 3, 4, 2, 0])

    def test_is_a_permutation(self):
        for n in (1, 2, 3, 5, 64, 1000, 1025, 1438):
            for epoch in (0, 1):
                ids = epoch_ids(range(n), n, seed=7, epoch=epoch)
                self.assertEqual(sorted(ids.tolist()), list(range(n)), "n=%d epoch=%d" % (n, epoch))

    def test_depends_on_seed_and_epoch(self):
        a = epoch_ids(range(100), 100, seed=7, epoch=0)
        self.assertFalse((a == epoch_ids(range(100), 100, seed=7, epoch=1)).all())
        self.assertFalse((a == epoch_ids(range(100), 100, seed=8, epoch=0)).all())
        self.assertTrue((a == epoch_ids(range(100), 100, seed=7, epoch=0)).all())

    def test_identity_without_shuffle(self):
        self.assertEqual(epoch_ids([3, 1, 2], 10, shuffle=False).tolist(), [3, 1, 2])

    def test_refuses_positions_outside(self):
        with self.assertRaises(ValueError):
            epoch_ids([10], 10)
        with self.assertRaises(ValueError):
            epoch_ids([0], 0)

    @unittest.skipUnless(baton_binary(), "no built baton ($BATON_BUILD/baton) to compare with")
    def test_matches_baton_shard_samples(self):
        for count, world, seed, epoch, consumed in [(1003, 3, 1, 3, 400), (1438, 4, 7, 0, 0), (1438, 2, 7, 2, 777),
                                                    (17, 5, 123456789, 9, 3), (4, 4, 0, 0, 0)]:
            out = baton_shard(os.path.join(self.tmp, "%d-%d-%d" % (count, world, consumed)), count, world,
                              seed=seed, epoch=epoch, consumed=consumed)
            for r in range(world):
                mine = epoch_ids(np.arange(consumed + r, count, world), count, seed, epoch)
                theirs = np.load(os.path.join(out, "rank-%d.npy" % r))
                self.assertEqual(mine.tolist(), theirs.tolist(), "count=%d world=%d rank=%d" % (count, world, r))


if __name__ == "__main__":
    unittest.main()
