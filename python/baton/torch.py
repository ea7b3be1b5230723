"""baton.torch.watch(optimizer): a progress step on every optimizer.step(), with no other
change to the training loop (docs/launch.md, "Hangs and stragglers")."""

import functools

from . import progress


class _Handle:
    def __init__(self, remove):
        self.remove = remove


def watch(optimizer):
    """Marks a step after each `optimizer.step()`. Returns a handle whose `.remove()` stops it.
    Uses torch's `register_step_post_hook` (torch 2.0 and later), else wraps the instance's
    `step` (torch 1.x, e.g. Debian 12's 1.13)."""
    register = getattr(optimizer, "register_step_post_hook", None)
    if register is not None:
        return register(lambda *_: progress.step())
    original = optimizer.step

    @functools.wraps(original)
    def step(*args, **kwargs):
        result = original(*args, **kwargs)
        progress.step()
        return result

    optimizer.step = step
    return _Handle(lambda: setattr(optimizer, "step", original))
