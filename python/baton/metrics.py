"""report(): one JSON line appended to $BATON_METRICS, which `baton exec` forwards to the head."""

import json
import math
import os


def _plain(value):
    """JSON-able: numpy and torch scalars become Python numbers; NaN and infinities null."""
    if hasattr(value, "item") and callable(value.item):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def report(consumed=None, path=None, **metrics):
    """Appends {"consumed": ..., **metrics} as one line to $BATON_METRICS (or `path`).

    `consumed` is the number of samples of the epoch that are done *and checkpointed*:
    call report(consumed=...) only after the checkpoint is durable (save_atomic returned).
    Baton re-shards the rest of the epoch from it on a restart. The whole line goes out in
    one os.write on an O_APPEND descriptor, so lines of concurrent writers never
    interleave. NaN and infinite values are written as null (JSON has no NaN).
    Without $BATON_METRICS (a run outside Baton) nothing is written; returns the line or None."""
    path = path or os.environ.get("BATON_METRICS")
    record = {}
    if consumed is not None:
        record["consumed"] = int(consumed)
    for key, value in metrics.items():
        record[key] = _plain(value)
    if isinstance(record.get("step"), int):
        from .progress import step
        step(record["step"])
    line = json.dumps(record, allow_nan=False, separators=(", ", ": ")) + "\n"
    if not path:
        return None
    data = line.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        written = os.write(fd, data)
    finally:
        os.close(fd)
    if written != len(data):
        raise OSError("short write to %s: %d of %d bytes (disk full?)" % (path, written, len(data)))
    return line
