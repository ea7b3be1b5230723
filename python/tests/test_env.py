from support import CleanEnvTestCase  # first: puts python/ on sys.path

import os
import tempfile
import unittest

import baton


class WorldChangedTest(CleanEnvTestCase):
    def test_first_attempt_is_no_change(self):
        self.setenv(WORLD_SIZE="6")
        self.assertIsNone(baton.previous_world_size())
        self.assertFalse(baton.world_changed())

    def test_a_spare_keeps_the_world(self):
        self.setenv(WORLD_SIZE="6", BATON_PREVIOUS_WORLD_SIZE="6")
        self.assertFalse(baton.world_changed())

    def test_a_shrink_or_a_growth_is_a_change(self):
        self.setenv(WORLD_SIZE="4", BATON_PREVIOUS_WORLD_SIZE="6")
        self.assertTrue(baton.world_changed())
        self.setenv(WORLD_SIZE="6", BATON_PREVIOUS_WORLD_SIZE="4")
        self.assertTrue(baton.world_changed())


class ShouldCheckpointTest(CleanEnvTestCase):
    def test_false_outside_baton_and_before_the_request(self):
        self.assertFalse(baton.should_checkpoint())
        with tempfile.TemporaryDirectory() as d:
            self.setenv(BATON_CHECKPOINT_REQUEST=os.path.join(d, "attempt-2.checkpoint-request"))
            self.assertFalse(baton.should_checkpoint())

    def test_true_once_when_the_file_appears(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "attempt-3.checkpoint-request")
            self.setenv(BATON_CHECKPOINT_REQUEST=path)
            with open(path, "w") as f:
                f.write("1\n")
            self.assertTrue(baton.should_checkpoint())
            self.assertFalse(baton.should_checkpoint())


if __name__ == "__main__":
    unittest.main()
