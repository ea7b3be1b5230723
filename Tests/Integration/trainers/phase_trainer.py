"""phase_trainer.py STEPS EVAL_EVERY EVAL_SECONDS MARK: a trainer with no collective, for the
hang tests (69). Each step takes 50 ms and marks progress (baton.step()); every EVAL_EVERY
steps an evaluation pauses EVAL_SECONDS, inside `baton.phase("eval")` when MARK is 1 and
unmarked when 0 (then it reads as a hang to a budget shorter than the pause)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "python"))
import baton  # noqa: E402

steps, every, pause, mark = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "1"
for s in range(1, steps + 1):
    time.sleep(0.05)
    baton.step(s)
    if s % every == 0:
        if mark:
            with baton.phase("eval"):
                time.sleep(pause)
        else:
            time.sleep(pause)
print("phase_trainer: rank %d done after %d steps" % (baton.rank(), steps))
