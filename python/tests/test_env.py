from support import CleanEnvTestCase  # first: puts python/ on sys.path

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


if __name__ == "__main__":
    unittest.main()
