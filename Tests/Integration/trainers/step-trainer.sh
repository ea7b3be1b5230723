#!/bin/sh
# step-trainer.sh METRIC VALUE STEPS SLEEP — the grid tests' checkpointing trainer (41, 43, 59).
# Checkpoint: the step count in $BATON_CHECKPOINT_DIR/step, replaced atomically (a temp file
# in that directory, then mv = rename(2)). A node crash is a SIGKILL that can land anywhere;
# `echo $step > step` truncates first, so a kill there left an empty checkpoint that the next
# attempt read as ''. No `step` yet is legitimate (nothing saved); anything but a whole
# number is an unreadable checkpoint: exit $BATON_CORRUPT_CHECKPOINT_EXIT (65; 8 outside Baton),
# which `grid --on-corrupt-checkpoint rollback` answers by restoring it from a snapshot. Each step appends {"step": N, METRIC: VALUE} to $BATON_METRICS
# and sleeps SLEEP s (pacing, so a fault lands mid-config); a run to the end appends
# $BATON_ATTEMPT to `completions` (exactly-once evidence).
metric=${1:?usage: step-trainer.sh METRIC VALUE STEPS SLEEP}; value=${2:?}; steps=${3:?}; pause=${4:?}
cd "$BATON_CHECKPOINT_DIR" || exit 9
step=0
if [ -e step ]; then
  step=$(cat step) || exit 8
  case $step in ''|*[!0-9]*) echo "trainer: checkpoint $PWD/step holds '$step', not a step count" >&2; exit "${BATON_CORRUPT_CHECKPOINT_EXIT:-8}" ;; esac
fi
save_step() { echo "$1" > ".step.tmp.$$" && mv -f ".step.tmp.$$" step; }
echo "resume=$BATON_RESUME attempt=$BATON_ATTEMPT start=$step"
while [ "$step" -lt "$steps" ]; do
  step=$((step + 1))
  save_step "$step" || exit 8
  echo "{\"step\": $step, \"$metric\": $value}" >> "$BATON_METRICS"
  sleep "$pause"
done
echo "$BATON_ATTEMPT" >> completions
