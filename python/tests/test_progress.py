from support import CleanEnvTestCase  # first: puts python/ on sys.path

import os
import subprocess
import sys
import textwrap
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)


class ProgressTest(CleanEnvTestCase):
    """The progress pipe and the stacks on request, in a fresh interpreter each (the helper
    arms itself once, at import)."""

    def run_child(self, code, stacks=None, signal_stacks=False):
        r, w = os.pipe()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
        env.update(BATON_PROGRESS_FD=str(w), PYTHONPATH=PYTHON_DIR)
        if stacks:
            env["BATON_STACKS"] = stacks
        child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, pass_fds=(w,),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        os.close(w)
        if signal_stacks:
            # The child prints "ready" once armed and waiting; then SIGUSR2 writes its stacks.
            self.assertEqual(child.stdout.readline().strip(), b"ready")
            child.send_signal(12)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and os.path.getsize(stacks) == 0:
                time.sleep(0.02)  # polling a file another process writes, bounded
            child.kill()
        out, err = child.communicate(timeout=30)
        data = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
        os.close(r)
        return data.decode().splitlines(), err.decode()

    def test_marks(self):
        lines, err = self.run_child("""
            import baton, baton.torch
            baton.step(); baton.step(); baton.step(10)
            with baton.phase("eval"):
                pass
            baton.report(step=11, loss=0.5)

            class Optimizer:                      # torch 1.x: no register_step_post_hook
                def step(self): return "stepped"
            opt = Optimizer()
            handle = baton.torch.watch(opt)
            assert opt.step() == "stepped"
            handle.remove()
            opt.step()                            # no mark after remove()
        """)
        self.assertEqual(err, "")
        self.assertTrue(lines[0].startswith("armed "), lines)
        self.assertEqual(lines[1:], ["step 1", "step 2", "step 10", "phase eval", "phase -", "step 11", "step 12"])

    def test_children_of_an_armed_process_say_nothing(self):
        lines, _ = self.run_child("""
            import os, subprocess, sys
            import baton
            subprocess.run([sys.executable, "-c", "import baton; baton.step()"], env=os.environ, close_fds=False)
            baton.step()
        """)
        self.assertEqual(len([l for l in lines if l.startswith("armed")]), 1)
        self.assertEqual([l for l in lines if l.startswith("step")], ["step 1"])

    def test_stacks_on_sigusr2(self):
        path = os.path.join(self.tmp, "stacks", "rank-0.txt")
        self.run_child("""
            import time, baton
            def stuck_in_here():
                print("ready", flush=True)
                time.sleep(60)
            stuck_in_here()
        """, stacks=path, signal_stacks=True)
        with open(path) as f:
            text = f.read()
        self.assertIn("Current thread", text)
        self.assertIn("in stuck_in_here", text)

    def test_outside_baton_nothing_happens(self):
        import baton
        self.assertEqual(baton.step(5), 5)  # no pipe: counts, writes nothing, never fails
        self.assertEqual(baton.step(), 6)


if __name__ == "__main__":
    unittest.main()
