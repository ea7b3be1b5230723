#!/usr/bin/env python3
"""fixed_world.py NUM_NODES DEVICES STEPS STEP_SECONDS: a trainer that fixes its world size
the way PyTorch Lightning does under an elastic launcher (70 part 3).

Lightning picks its TorchElasticEnvironment when TORCHELASTIC_RUN_ID is set (torch's
`is_torchelastic_launched()`), reads the world from WORLD_SIZE, and its `validate_settings`
raises ValueError when `devices * num_nodes` (fixed in the script's Trainer) is not that
world; this script does the same, with the same message, then "trains": STEPS steps of
STEP_SECONDS each, rank 0 saving the step reached in $BATON_CHECKPOINT_DIR/step (written
to a temporary file, synced, then renamed), every rank resuming from it. Standard library only.
"""
import os
import sys
import time

num_nodes, devices, steps, pause = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
if os.environ.get("TORCHELASTIC_RUN_ID") is None:
    sys.exit("fixed_world.py: TORCHELASTIC_RUN_ID is not set: Lightning would not take this for an elastic launch")
world = int(os.environ["WORLD_SIZE"])
if devices * num_nodes != world:
    raise ValueError(f"You set `devices={devices}` and `num_nodes={num_nodes}` in Lightning, but the product"
                     f" ({devices} * {num_nodes}) does not match the world size ({world}).")
rank = int(os.environ["RANK"])
path = os.path.join(os.environ["BATON_CHECKPOINT_DIR"], "step")
step = 0
if os.path.exists(path):
    with open(path) as f:
        step = int(f.read())  # a malformed checkpoint fails loudly
print(f"rank {rank}/{world} attempt {os.environ['BATON_ATTEMPT']}: resuming at step {step}", flush=True)
while step < steps:
    time.sleep(pause)
    step += 1
    if rank == 0:
        tmp = f"{path}.tmp.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(str(step))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
print(f"rank {rank}/{world}: done at step {step}", flush=True)
