from support import CleanEnvTestCase  # first: puts python/ on sys.path

import json
import os
import unittest

import numpy as np

import baton


class ReportTest(CleanEnvTestCase):
    def lines(self, path):
        with open(path, "rb") as f:
            return f.read().decode("utf-8").splitlines()

    def test_lines_are_valid_json(self):
        path = os.path.join(self.tmp, "m.jsonl")
        self.setenv(BATON_METRICS=path)
        baton.report(consumed=64, loss=0.25, epoch=1)
        baton.report(step=np.int64(3), accuracy=np.float32(0.5), nan=float("nan"), inf=float("inf"))
        baton.report(consumed=128, note='quote " and newline \n and @ sign')
        records = [json.loads(line) for line in self.lines(path)]
        self.assertEqual(records[0], {"consumed": 64, "loss": 0.25, "epoch": 1})
        self.assertEqual(list(records[0])[0], "consumed")
        self.assertEqual(records[1], {"step": 3, "accuracy": 0.5, "nan": None, "inf": None})
        self.assertEqual(records[2]["note"], 'quote " and newline \n and @ sign')
        self.assertEqual(len(records), 3)

    def test_concurrent_writers_never_interleave(self):
        path = os.path.join(self.tmp, "m.jsonl")
        writers, per_writer, pad = 4, 200, "x" * 6000  # lines far above PIPE_BUF
        pids = []
        for w in range(writers):
            pid = os.fork()
            if pid == 0:  # child: write, then leave at once (no unittest teardown)
                code = 0
                try:
                    for i in range(per_writer):
                        baton.report(path=path, consumed=i, writer=w, pad=pad)
                except BaseException:
                    code = 1
                os._exit(code)
            pids.append(pid)
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        lines = self.lines(path)
        self.assertEqual(len(lines), writers * per_writer)
        seen = {}
        for line in lines:
            record = json.loads(line)
            self.assertEqual(record["pad"], pad)
            seen.setdefault(record["writer"], []).append(record["consumed"])
        self.assertEqual({w: sorted(v) for w, v in seen.items()}, {w: list(range(per_writer)) for w in range(writers)})

    def test_without_baton_metrics_writes_nothing(self):
        self.assertIsNone(baton.report(consumed=1))
        self.assertEqual(os.listdir(self.tmp), [])


class FilesAndEnvTest(CleanEnvTestCase):
    def test_save_atomic_bytes_str_and_callable(self):
        path = os.path.join(self.tmp, "ckpt.bin")
        baton.save_atomic(path, b"one")
        baton.save_atomic(path, "two")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"two")
        baton.save_atomic(path, lambda f: f.write(b"three"))
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"three")
        self.assertEqual(os.listdir(self.tmp), ["ckpt.bin"])

    def test_save_atomic_failure_keeps_the_old_file(self):
        path = os.path.join(self.tmp, "ckpt.bin")
        baton.save_atomic(path, b"good")

        def half(f):
            f.write(b"hal")
            raise RuntimeError("crash while writing")
        with self.assertRaises(RuntimeError):
            baton.save_atomic(path, half)
        with open(path, "rb") as f:
            self.assertEqual(f.read(), b"good")
        self.assertEqual(os.listdir(self.tmp), ["ckpt.bin"])

    def test_contract_accessors(self):
        self.assertEqual((baton.attempt(), baton.resuming(), baton.rank(), baton.world_size()), (1, False, 0, 1))
        ckpt = os.path.join(self.tmp, "c")
        self.setenv(BATON_ATTEMPT=3, BATON_RESUME=1, BATON_CHECKPOINT_DIR=ckpt, RANK=2, WORLD_SIZE=4,
                    BATON_CONFIG='{"lr": 0.1}', BATON_RESTART_COUNT=2)
        self.assertEqual((baton.attempt(), baton.resuming(), baton.rank(), baton.world_size()), (3, True, 2, 4))
        self.assertEqual(baton.checkpoint_dir(), ckpt)
        self.assertTrue(os.path.isdir(ckpt))
        self.assertEqual(baton.config(), {"lr": 0.1})
        self.assertEqual(baton.restart_count(), 2)

    def test_attempt_under_torchrun(self):
        # torchrun sets TORCHELASTIC_RESTART_COUNT, not BATON_ATTEMPT/BATON_RESUME.
        self.setenv(TORCHELASTIC_RESTART_COUNT=2)
        self.assertEqual((baton.attempt(), baton.resuming(), baton.restart_count()), (3, True, 2))
        self.setenv(TORCHELASTIC_RESTART_COUNT=0)
        self.assertEqual((baton.attempt(), baton.resuming()), (1, False))
        # Baton's own variables win when both are set.
        self.setenv(TORCHELASTIC_RESTART_COUNT=5, BATON_ATTEMPT=2, BATON_RESUME=0)
        self.assertEqual((baton.attempt(), baton.resuming()), (2, False))

    def test_import_baton_does_not_import_torch(self):
        import subprocess
        import sys
        code = "import sys, baton; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
        env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        self.assertEqual(out.stdout.strip(), "ok", out.stderr)


if __name__ == "__main__":
    unittest.main()
