"""The environment contract `baton exec` sets for every rank (docs/launch.md), read at call time."""

import json
import os


def _int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError("%s=%r is not a whole number" % (name, value)) from None


def rank(default=0):
    """$RANK, this process's global rank (default 0: a run without a launcher)."""
    return _int("RANK", default)


def world_size(default=1):
    """$WORLD_SIZE."""
    return _int("WORLD_SIZE", default)


def local_rank(default=0):
    """$LOCAL_RANK."""
    return _int("LOCAL_RANK", default)


def attempt():
    """$BATON_ATTEMPT: 1 for the first attempt, 2 after the first restart or hand-off, ...

    Under torchrun (no BATON_ATTEMPT) it is TORCHELASTIC_RESTART_COUNT + 1, so one trainer
    counts its attempts the same way under both launchers."""
    if os.environ.get("BATON_ATTEMPT"):
        return _int("BATON_ATTEMPT", 1)
    return _int("TORCHELASTIC_RESTART_COUNT", 0) + 1


def restart_count():
    """$BATON_RESTART_COUNT (attempt - 1); also TORCHELASTIC_RESTART_COUNT under torchrun."""
    return _int("BATON_RESTART_COUNT", _int("TORCHELASTIC_RESTART_COUNT", 0))


def resuming():
    """True when an earlier attempt of this job or config ran ($BATON_RESUME=1): load the checkpoint.

    Under torchrun (no BATON_RESUME): true after a restart (TORCHELASTIC_RESTART_COUNT > 0)."""
    value = os.environ.get("BATON_RESUME")
    if value is not None and value != "":
        return value == "1"
    return _int("TORCHELASTIC_RESTART_COUNT", 0) > 0


def checkpoint_dir(default="checkpoints", create=True):
    """$BATON_CHECKPOINT_DIR (the same for every attempt), else `default`; created when missing."""
    path = os.environ.get("BATON_CHECKPOINT_DIR") or default
    if create:
        os.makedirs(path, exist_ok=True)
    return path


def config():
    """$BATON_CONFIG, the grid config's parameters, as a dict ({} outside a grid)."""
    text = os.environ.get("BATON_CONFIG")
    return json.loads(text) if text else {}


def config_id():
    """$BATON_CONFIG_ID (None outside a grid)."""
    return os.environ.get("BATON_CONFIG_ID")


def run_dir():
    """$BATON_RUN_DIR (None without Baton)."""
    return os.environ.get("BATON_RUN_DIR")


def previous_world_size():
    """$BATON_PREVIOUS_WORLD_SIZE: the world size of the attempt before this one (None on the first)."""
    return _int("BATON_PREVIOUS_WORLD_SIZE", None)


def world_changed():
    """True when this attempt's world size differs from the attempt before (a node was lost and
    no spare took its place, or the world grew back): a trainer that keeps its global batch
    rescales here (gradient accumulation, learning rate). False on the first attempt and when a
    spare kept WORLD_SIZE (`baton launch --nnodes`)."""
    before = previous_world_size()
    return before is not None and before != world_size()


_checkpoint_requests_seen = set()


def should_checkpoint():
    """True once after Baton asked this attempt for a checkpoint: the file
    $BATON_CHECKPOINT_REQUEST appeared (`baton launch --grow-after`: nodes are back in the pool
    and the head restarts at the next checkpoint to grow the world). Checkpoint, then
    `report(consumed=...)`: that report is the checkpoint boundary the head waits for. False
    outside Baton. One stat a call: cheap enough to ask every step.

    Ranks may see the request at different steps: in a job whose ranks checkpoint together,
    act on one rank's answer, e.g. `flag = torch.tensor(int(baton.should_checkpoint()));
    dist.broadcast(flag, 0)`."""
    path = os.environ.get("BATON_CHECKPOINT_REQUEST")
    if not path or path in _checkpoint_requests_seen or not os.path.exists(path):
        return False
    _checkpoint_requests_seen.add(path)
    return True
