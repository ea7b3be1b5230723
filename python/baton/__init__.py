"""baton: what a trainer needs from Baton's contract (docs/launch.md), in a few functions.

    import baton
    ids = baton.rank_sample_ids(epoch=0)          # this rank's shard, checked against its plan.json
    sampler = baton.BatonSampler(dataset)         # drop-in for DistributedSampler (imports torch)
    baton.save_atomic(path, lambda f: torch.save(state, f))
    baton.report(consumed=n, loss=0.3)            # after the checkpoint is durable
    baton.checkpoint_dir(), baton.resuming(), baton.attempt()
    baton.world_changed()                         # the world size differs from the last attempt's
    baton.should_checkpoint()                     # Baton asks for a checkpoint (--grow-after)
    baton.step(); with baton.phase("eval"): ...  # progress: a hang is found in seconds
    baton.torch.watch(optimizer)                  # a step on every optimizer.step()

Standard library and numpy only; torch is imported only by BatonSampler.
"""

from .env import (attempt, checkpoint_dir, config, config_id, local_rank, previous_world_size, rank, restart_count,
                  resuming, run_dir, should_checkpoint, world_changed, world_size)
from .files import save_atomic
from .metrics import report
from .order import epoch_ids
from .progress import phase, step
from .shard import Shard, ShardMismatch, ShardPlan, rank_sample_ids, read_shard, stripe_positions

__version__ = "0.1.0"

__all__ = [
    "BatonSampler", "Shard", "ShardMismatch", "ShardPlan", "attempt", "checkpoint_dir", "config", "config_id",
    "epoch_ids", "local_rank", "phase", "previous_world_size", "step", "rank", "rank_sample_ids", "read_shard", "report", "restart_count", "resuming",
    "run_dir", "save_atomic", "should_checkpoint", "stripe_positions", "world_changed", "world_size",
]


def __getattr__(name):  # PEP 562: BatonSampler (and torch with it) only when asked for
    if name == "BatonSampler":
        from .sampler import BatonSampler
        return BatonSampler
    if name == "torch":  # baton.torch.watch(optimizer), loaded on first use
        import importlib
        return importlib.import_module(__name__ + ".torch")
    raise AttributeError("module 'baton' has no attribute %r" % name)
