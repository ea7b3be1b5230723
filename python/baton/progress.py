"""Progress for Baton's hang detection: step(), phase(), and stacks on request.

`baton exec` gives every rank a pipe at $BATON_PROGRESS_FD; a line written there is a
`ProgressMark` (docs/launch.md, "Hangs and stragglers"). Importing baton arms it: the head
then expects steps from this rank, and a SIGUSR2 makes Python's faulthandler write every
thread's stack to $BATON_STACKS (what the head asks for when it judges a hang). Outside
Baton (no such variables) every function here does nothing.
"""

import contextlib
import os
import signal
import threading

_lock = threading.Lock()
_fd = None
_step = 0
_stack_file = None


def _write(line):
    global _fd
    if _fd is None:
        return
    data = (line + "\n").encode("utf-8")
    try:
        os.write(_fd, data)  # one write of a short line: whole, never interleaved
    except OSError:
        _fd = None  # the wrapper is gone; the rank goes on without progress marks


def _arm():
    """Once, at import: claim the progress pipe and register the stack dump."""
    global _fd, _stack_file
    text = os.environ.get("BATON_PROGRESS_FD")
    if not text or os.environ.get("BATON_PROGRESS_ARMED"):  # armed already, here or in a parent
        return
    try:
        fd = int(text)
        os.fstat(fd)
    except (ValueError, OSError):
        return  # started outside `baton exec`, or a launcher in between closed the pipe
    os.set_inheritable(fd, False)  # data-loader workers and subprocesses say nothing here
    _fd = fd
    os.environ["BATON_PROGRESS_ARMED"] = str(os.getpid())
    path = os.environ.get("BATON_STACKS")
    if path:
        try:
            import faulthandler
            os.makedirs(os.path.dirname(path), exist_ok=True)
            _stack_file = open(path, "a")
            faulthandler.register(signal.SIGUSR2, file=_stack_file, all_threads=True, chain=False)
        except (OSError, ValueError, RuntimeError, AttributeError):
            _stack_file = None
    _write("armed %d" % os.getpid())


def step(n=None):
    """Marks a training step done: `n`, or one more than the last. Cheap (one write)."""
    global _step
    with _lock:
        _step = int(n) if n is not None else _step + 1
        current = _step
    _write("step %d" % current)
    return current


@contextlib.contextmanager
def phase(name):
    """A stretch that is not a training step (evaluation, a checkpoint save): it gets its own
    time budget, so a long evaluation is not taken for a hang.

        with baton.phase("eval"):
            evaluate(model)
    """
    name = str(name).strip().replace(" ", "_") or "phase"
    _write("phase %s" % name)
    try:
        yield
    finally:
        _write("phase -")


_arm()
