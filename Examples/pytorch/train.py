#!/usr/bin/env python3
"""A PyTorch DDP trainer on the digits data that relies only on Baton's documented contract.

    baton launch --local 2 --nproc-per-node 2 --shard-samples 1438 --shard-shuffle --shard-seed 7 -- \
        /usr/bin/python3 Examples/pytorch/train.py --epochs 3
    torchrun --nnodes 1 --nproc-per-node 4 Examples/pytorch/train.py --epochs 3      # also works

- The process group comes from the torch variables Baton sets (RANK, WORLD_SIZE,
  MASTER_ADDR, MASTER_PORT): init_process_group("gloo", init_method="env://").
- DistributedDataParallel averages the gradients; a step takes one global batch of the
  epoch's order (positions consumed .. consumed+B), split over the ranks, so 1, 2 or 4 ranks
  train the same model and the loss is scaled so the gradient is the global batch's mean.
  So the global batch, and the learning rate tuned for it, stay the same when a restart
  changes the world size (a node lost with no spare, `baton.world_changed()`): the ranks'
  shares change instead, and the run says so.
- This rank's samples: baton.BatonSampler, from $BATON_SHARD_FILE when Baton sharded the
  epoch (--shard-samples; the plan's seed and shuffle then rule), else computed the same way.
- Checkpoint and resume in $BATON_CHECKPOINT_DIR (./checkpoints without Baton): weights,
  optimizer state, epoch, consumed count, step, and the list of committed segments;
  written atomically (temporary file, fsync, rename). `consumed` goes to $BATON_METRICS only
  after the checkpoint holding it is durable.
- Exactly-once evidence: at every commit each rank writes the ids it trained since the last
  commit to CKPT/ids/a<attempt>-e<epoch>-<from>-<to>/rank-<r>.txt before rank 0 writes the
  checkpoint naming that segment; the checkpoint's `history` lists the committed segments.
- Deterministic (fixed seeds, one thread, fixed reduction order), so a resumed run on the
  same world size ends with bit-identical weights to an uninterrupted one. At the end
  every rank prints `weights-sha256 RANK HEX` and writes CKPT/weights-sha256.rank-RANK.

Exit codes: 0 done; 1 the ranks' weights differ; 2 bad arguments, data or checkpoint.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import baton
except ImportError:  # run from a checkout without PYTHONPATH=python or `pip install ./python`
    sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
    import baton

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

CHECKPOINT = "checkpoint.pt"
FORMAT = "baton-example-pytorch/1"


def leave(code):
    """Ends the process without running destructors. PyTorch 1.13 (Debian's) can deadlock
    tearing down a gloo process group: the main thread, holding the GIL, joins a gloo worker
    thread that waits for the GIL to free a tensor (seen here under `baton grid`: a rank
    printed its last line and never exited; gdb showed ~Reducer -> ~ProcessGroupGloo ->
    thread join, and the gloo runLoop thread in PyEval_AcquireThread from ~TensorImpl).
    Everything that matters is already fsynced; the output is flushed first."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def fail(message, code=2):
    sys.stderr.write("train.py: %s\n" % message)
    leave(code)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=os.path.join(HERE, "..", "digits", "digits.csv.gz"), help="digits .csv or .csv.gz")
    p.add_argument("--hidden", type=int, default=32, help="hidden units")
    p.add_argument("--lr", type=float, default=0.1, help="learning rate (SGD with momentum)")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--epochs", type=int, default=3, help="epochs in total (a resumed run continues up to this many)")
    p.add_argument("--batch-size", type=int, default=64, help="global batch, split over the ranks")
    p.add_argument("--seed", type=int, default=7, help="initial weights and (without a Baton shard) the per-epoch shuffle")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held out, a fixed split (the same as digits-train)")
    p.add_argument("--checkpoint-every", type=int, default=8, help="also checkpoint every N steps (0: at epoch ends only)")
    p.add_argument("--step-sleep", type=float, default=0.0, help="seconds to pause after each step (to pace a test)")
    p.add_argument("--quiet", action="store_true", help="print only the resume, first-step and final lines")
    p.add_argument("--fault", default="", metavar="KIND:RANK:STEP",
                   help="for tests, in attempt 1 only: hang (RANK blocks in time.sleep after STEP steps, as a stuck "
                        "data loader does) or mismatch (RANK calls one all_reduce the others never call, on a group of "
                        "ranks 0 and 1: gloo would abort on a mismatch of sizes in the default group)")
    a = p.parse_args()
    if a.hidden < 1 or a.epochs < 1 or a.batch_size < 1 or a.lr <= 0 or not 0 < a.test_fraction < 1:
        fail("--hidden, --epochs, --batch-size and --lr must be positive, --test-fraction in (0, 1)")
    return a


def load_digits(path, test_fraction):
    """digits.csv(.gz): 64 pixels 0..16 and a label per row. The train/test split is
    digits-train's: a SplitMix64 Fisher-Yates shuffle with a fixed seed."""
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            rows = np.loadtxt(io.TextIOWrapper(f, "utf-8"), delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, ValueError) as e:
        fail("%s: %s" % (path, e))
    if rows.shape[1] != 65 or rows[:, 64].min() < 0 or rows[:, 64].max() > 9:
        fail("%s: expected 65 integers a row, the last a digit 0..9" % path)
    mask, state = (1 << 64) - 1, 20261129
    order = list(range(len(rows)))
    for i in range(len(order) - 1, 0, -1):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        j = (z ^ (z >> 31)) % (i + 1)
        order[i], order[j] = order[j], order[i]
    n_test = int(round(len(rows) * test_fraction))
    x = torch.from_numpy(rows[:, :64].astype(np.float32) / 16.0)
    y = torch.from_numpy(rows[:, 64].copy())
    test, train = torch.tensor(order[:n_test]), torch.tensor(order[n_test:])
    return x[train], y[train], x[test], y[test]


def weights_sha256(model):
    h = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main():
    args = parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # a pipe to baton exec: every line leaves when said
    torch.set_num_threads(1)
    for k, v in (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500"), ("RANK", "0"), ("WORLD_SIZE", "1")):
        os.environ.setdefault(k, v)  # a bare run: one process
    dist.init_process_group("gloo", init_method="env://")
    rank, world = dist.get_rank(), dist.get_world_size()
    attempt = baton.attempt()
    ckpt_dir = baton.checkpoint_dir()
    ckpt_path = os.path.join(ckpt_dir, CHECKPOINT)

    x_train, y_train, x_test, y_test = load_digits(args.data, args.test_fraction)
    n = len(y_train)
    config = {"hidden": args.hidden, "lr": args.lr, "momentum": args.momentum, "batch_size": args.batch_size,
              "seed": args.seed, "train_samples": n}

    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, args.hidden), torch.nn.ReLU(), torch.nn.Linear(args.hidden, 10))
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    epoch, consumed, step, history = 0, 0, 0, []
    if os.path.exists(ckpt_path):  # every rank reads it: the run directory is shared
        try:
            state = torch.load(ckpt_path)
            if state.get("format") != FORMAT:
                raise ValueError("not a %s checkpoint" % FORMAT)
        except Exception as e:  # a torn or foreign file: never train from it
            fail("%s cannot be read (%s); not loaded" % (ckpt_path, e))
        if state["config"] != config:
            fail("%s is for %s, not %s; not loaded" % (ckpt_path, json.dumps(state["config"]), json.dumps(config)))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        epoch, consumed, step, history = state["epoch"], state["consumed"], state["step"], state["history"]
        if rank == 0:
            print("train.py: resumed from %s at epoch %d, %d of %d samples consumed, step %d (attempt %d, %d ranks)"
                  % (ckpt_path, epoch, consumed, n, step, attempt, world))
        if rank == 0 and baton.world_changed():
            # The global batch is the unit of a step, not the rank's share: the same
            # --batch-size samples a step on any world, so the learning rate needs no rescaling.
            print("train.py: world size %d -> %d: global batch stays %d (%d samples a rank a step)"
                  % (baton.previous_world_size(), world, args.batch_size, -(-args.batch_size // world)))
    elif rank == 0:
        print("train.py: %d training and %d test samples, %d ranks, hidden %d, lr %g, global batch %d (attempt %d)"
              % (n, len(y_test), world, args.hidden, args.lr, args.batch_size, attempt))
    if baton.resuming() and not history and rank == 0:
        print("train.py: BATON_RESUME=1 but no checkpoint yet: starting from scratch")

    ddp = DistributedDataParallel(model)
    baton.torch.watch(opt)  # a progress mark per optimizer step: Baton finds a hung rank in seconds
    fault_kind, fault_rank, fault_step = (args.fault.split(":") + ["", "-1", "-1"])[:3] if args.fault else ("", "-1", "-1")
    fault_here = attempt == 1 and rank == int(fault_rank)
    side = dist.new_group([0, 1]) if fault_kind == "mismatch" and world > 1 else None  # every rank creates it
    sampler = baton.BatonSampler(num_samples=n, shuffle=True, seed=args.seed, exact=True)
    first_step = True

    def commit(seg_epoch, seg_from, seg_to, ids, metrics):
        """Segment ids (every rank), then the checkpoint naming the segment (rank 0), then
        the report: nothing is reported before the checkpoint holding it is durable."""
        name = "a%d-e%d-%d-%d" % (attempt, seg_epoch, seg_from, seg_to)
        seg_dir = os.path.join(ckpt_dir, "ids", name)
        os.makedirs(seg_dir, exist_ok=True)
        baton.save_atomic(os.path.join(seg_dir, "rank-%d.txt" % rank), "".join("%d\n" % i for i in ids))
        dist.barrier()
        if rank == 0:
            history.append({"attempt": attempt, "epoch": seg_epoch, "from": seg_from, "to": seg_to, "world": world,
                            "dir": os.path.join("ids", name)})
            state = {"format": FORMAT, "config": config, "model": model.state_dict(), "optimizer": opt.state_dict(),
                     "epoch": epoch, "consumed": consumed, "step": step, "history": history}
            baton.save_atomic(ckpt_path, lambda f: torch.save(state, f))
            baton.report(**metrics)

    while epoch < args.epochs:
        sampler.set_epoch(epoch, consumed=consumed)
        seg_from, seg_ids = consumed, []
        loss_sum, seen = torch.zeros(()), 0
        for batch in sampler.batches(args.batch_size):
            if first_step and rank == 0:
                print("train.py: attempt %d first step at %.3f (epoch %d, %d consumed)" % (attempt, time.time(), epoch, consumed))
            first_step = False
            if fault_here and step == int(fault_step):
                if fault_kind == "hang":
                    time.sleep(3600)  # stuck, alive: the others wait in the gradient all_reduce
                elif fault_kind == "mismatch":
                    dist.all_reduce(torch.zeros(1), group=side)  # one collective no other rank calls
            idx = torch.tensor(batch.ids, dtype=torch.long)
            out = ddp(x_train[idx])
            local = F.cross_entropy(out, y_train[idx], reduction="sum")
            opt.zero_grad(set_to_none=False)
            (local * (world / batch.size)).backward()  # DDP averages over ranks: the global batch's mean
            opt.step()
            loss_sum += local.detach()
            seen += len(batch.ids)
            seg_ids += batch.ids
            consumed, step = batch.consumed, step + 1
            if args.step_sleep > 0:
                time.sleep(args.step_sleep)  # pacing for tests, not synchronisation
            if args.checkpoint_every and step % args.checkpoint_every == 0 and consumed < n:
                commit(epoch, seg_from, consumed, seg_ids, {"consumed": consumed, "epoch": epoch, "step": step})
                seg_from, seg_ids = consumed, []
        totals = torch.tensor([float(loss_sum), float(seen)])
        dist.all_reduce(totals)
        model.eval()
        with torch.no_grad():
            logits = model(x_test)
            test_loss = float(F.cross_entropy(logits, y_test))
            test_acc = float((logits.argmax(1) == y_test).float().mean())
        model.train()
        done_epoch, epoch_loss = epoch, float(totals[0] / max(totals[1], 1.0))
        epoch, consumed = epoch + 1, 0
        commit(done_epoch, seg_from, n, seg_ids,
               {"consumed": n, "epoch": done_epoch, "step": step, "loss": epoch_loss,
                "test_loss": test_loss, "test_accuracy": test_acc, "world_size": world})
        if rank == 0 and not args.quiet:
            print("epoch %3d  loss %.4f  test accuracy %.4f  (%d steps)" % (epoch, epoch_loss, test_acc, step))

    digest = weights_sha256(model)
    baton.save_atomic(os.path.join(ckpt_dir, "weights-sha256.rank-%d" % rank), digest + "\n")
    print("weights-sha256 %d %s" % (rank, digest))
    digests = [None] * world
    dist.all_gather_object(digests, digest)
    if len(set(digests)) != 1:
        fail("weights differ across ranks: %s" % " ".join(digests), code=1)
    if rank == 0:
        with torch.no_grad():
            logits = model(x_test)
        acc = float((logits.argmax(1) == y_test).float().mean())
        baton.report(test_accuracy=acc, epoch=epoch, step=step)
        print("train.py: done at epoch %d, step %d: test accuracy %.4f, %d ranks, weights %s"
              % (epoch, step, acc, world, digest[:16]))
    dist.barrier()
    leave(0)  # not dist.destroy_process_group(): see leave()


if __name__ == "__main__":
    main()
