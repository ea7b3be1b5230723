#!/usr/bin/env python3
"""Checks what Examples/pytorch/train.py left in a checkpoint directory, independently of
the trainer's own claims: usage: check_pytorch_run.py CKPT_DIR EPOCHS

- the final checkpoint is at epoch EPOCHS with nothing of a next epoch consumed;
- per epoch, the committed segments (the checkpoint's `history`) chain from 0 to N, and the
  ids every rank wrote for them hold each training sample exactly once;
- every rank of the last segment's world wrote the same final weight hash.
Prints one JSON line (ok, attempts, per-epoch duplicates/missing, hash) and exits 0 when ok."""

import collections
import json
import os
import sys

import torch

ckpt_dir, epochs = sys.argv[1], int(sys.argv[2])
state = torch.load(os.path.join(ckpt_dir, "checkpoint.pt"))
n = state["config"]["train_samples"]
history = state["history"]
problems = []
if (state["epoch"], state["consumed"]) != (epochs, 0):
    problems.append("final checkpoint at epoch %d consumed %d" % (state["epoch"], state["consumed"]))
per_epoch = {}
for e in range(epochs):
    segs = [s for s in history if s["epoch"] == e]
    expect = 0
    for s in segs:
        if s["from"] != expect:
            problems.append("epoch %d: segment %s starts at %d, expected %d" % (e, s["dir"], s["from"], expect))
        expect = s["to"]
    if expect != n:
        problems.append("epoch %d: committed segments end at %d of %d" % (e, expect, n))
    seen = collections.Counter()
    for s in segs:
        for r in range(s["world"]):
            path = os.path.join(ckpt_dir, s["dir"], "rank-%d.txt" % r)
            if not os.path.exists(path):
                problems.append("missing %s" % path)
                continue
            with open(path) as f:
                ids = [int(line) for line in f if line.strip()]
            seen.update(ids)
            if s["to"] - s["from"] < len(ids):
                problems.append("%s holds more ids than its segment" % path)
    duplicates = sum(1 for c in seen.values() if c > 1)
    missing = sum(1 for i in range(n) if seen[i] == 0)
    stray = sum(1 for i in seen if not 0 <= i < n)
    if duplicates or missing or stray:
        problems.append("epoch %d: %d duplicated, %d missing, %d out of range" % (e, duplicates, missing, stray))
    per_epoch[e] = {"segments": len(segs), "duplicates": duplicates, "missing": missing}
world = history[-1]["world"] if history else 0
hashes = []
for r in range(world):
    path = os.path.join(ckpt_dir, "weights-sha256.rank-%d" % r)
    hashes.append(open(path).read().strip() if os.path.exists(path) else None)
if not hashes or None in hashes or len(set(hashes)) != 1:
    problems.append("final weight hashes differ or are missing: %s" % hashes)
attempts = sorted({s["attempt"] for s in history})
print(json.dumps({"ok": not problems, "samples": n, "epochs": per_epoch, "attempts": attempts,
                  "final_world": world, "hash": hashes[0] if hashes else None, "problems": problems}))
sys.exit(0 if not problems else 1)
