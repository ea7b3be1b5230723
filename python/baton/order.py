"""The epoch order of `baton shard samples`, reproduced in numpy.

Algorithm "feistel-splitmix64-v1", as documented in Sources/BatonTrainer/ShardPermutation.swift
and docs/sharding.md: a keyed Feistel network on 0..2^bits with cycle walking, so the sample
at any position is computed on its own. `epoch_ids(positions, ...)` gives exactly the ids
`baton shard samples --shuffle --seed S --epoch E` puts at those positions of the order
(the unit tests compare the two when a built `baton` is at hand). Only the positions asked
for are computed: a shard of a huge epoch costs memory for that shard alone.
"""

import numpy as np

ALGORITHMS = ("identity", "feistel-splitmix64-v1")

_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_ROUNDS = 8


def _mix64_int(x):
    """SplitMix64's output function on a Python int (mod 2^64)."""
    z = x & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)


def _mix64(z):
    """SplitMix64's output function on a uint64 array (numpy wraps modulo 2^64)."""
    z = (z ^ (z >> _S30)) * _C1
    z = (z ^ (z >> _S27)) * _C2
    return z ^ (z >> _S31)


def _bits(count):
    b = 2
    while b < 63 and (1 << b) < count:
        b += 1
    return b


def _keys(count, seed, epoch):
    state = (_mix64_int(seed) ^ _mix64_int((epoch & _M64) ^ 0x6A09E667F3BCC908)
             ^ _mix64_int((count & _M64) ^ 0xBB67AE8584CAA73B))
    keys = []
    for _ in range(_ROUNDS):
        state = (state + _GOLDEN) & _M64
        keys.append(np.uint64(_mix64_int(state)))
    return keys


def _encrypt(x, bits, keys):
    lo_w, hi_w = bits // 2, bits - bits // 2
    for key in keys:
        lo = x & np.uint64((1 << lo_w) - 1)
        hi = x >> np.uint64(lo_w)
        f = _mix64(lo ^ key) & np.uint64((1 << hi_w) - 1)
        x = (lo << np.uint64(hi_w)) | (hi ^ f)
        lo_w, hi_w = hi_w, lo_w
    return x


def epoch_ids(positions, count, seed=0, epoch=0, shuffle=True):
    """The sample ids at `positions` (ints in 0..count-1) of the epoch's order, as int64.

    With shuffle=False the order is the identity (Baton's "identity" algorithm)."""
    if count < 1:
        raise ValueError("count is %d; it must be at least 1" % count)
    pos = np.asarray(positions, dtype=np.int64).reshape(-1)
    if pos.size and (pos.min() < 0 or pos.max() >= count):
        raise ValueError("positions must lie in 0..%d" % (count - 1))
    if not shuffle:
        return pos.copy()
    bits, keys = _bits(count), _keys(count, seed & _M64, epoch)
    n = np.uint64(count)
    x = _encrypt(pos.astype(np.uint64), bits, keys)
    out_of_range = x >= n
    while out_of_range.any():  # cycle walking: under two rounds on average
        x[out_of_range] = _encrypt(x[out_of_range], bits, keys)
        out_of_range = x >= n
    return x.astype(np.int64)
