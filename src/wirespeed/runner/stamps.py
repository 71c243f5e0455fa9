"""Latency from the kernel's transmit stamps.

The frame's own stamp is user space's clock, read once per batch before the frames are written:
the time a frame then waits (the rest of its batch being built, the send call, the ring, the
qdisc) is in a latency measured from it. Where the backend can (AF_PACKET), the generator reads
the kernel's transmit stamp of every frame (SO_TIMESTAMPING, the driver's moment: txstamp.h) and
keeps a record per frame: stream|seq and its send delay (kernel stamp - own stamp). The sink
keeps one per stamped frame: stream|seq and its latency from the own stamp. Joined by
stream|seq, the difference is the latency from the kernel's transmit stamp to the receive time
(the kernel's too, with AF_PACKET), and the send delay is the sender's own share.

Record rings: a 64-bit word per frame, stream|seq in the high 32 bits, ns (saturated) in the low
32; the writer counts every record, the ring keeps the last ring-size of them.
"""

from __future__ import annotations

import numpy as np

from wirespeed import core
from wirespeed.runner import stats

TX_RING = 1 << 20  # records kept per sending worker: the last 1,048,576 frames' stamps (8 MiB)
RX_RING = 1 << 20  # per receiving worker
T = {name: i for i, name in enumerate(core.TXSTAMP_NAMES)}
TX_WORDS = len(T) + core.SINK_HIST + TX_RING  # the counters, the send-delay histogram, the ring
RX_WORDS = 1 + RX_RING  # the count, the ring


def ring_records(ring: np.ndarray, written: int) -> np.ndarray:
    """The records a ring still holds, oldest first."""
    n = len(ring)
    if written <= n:
        return ring[:written].copy()
    at = written % n
    return np.concatenate((ring[at:], ring[:at]))


def between(ring: np.ndarray, h0: int, h1: int) -> np.ndarray:
    """The records written while the count went from h0 to h1, those the ring still holds."""
    n = len(ring)
    h0 = max(h0, h1 - n)
    idx = np.arange(h0, h1, dtype=np.int64) % n
    return ring[idx]


def tx_heads(rows: np.ndarray) -> list[int]:
    return [int(r[T["head"]]) for r in rows]


def rx_heads(rows: np.ndarray) -> list[int]:
    return [int(r[0]) for r in rows]


def tx_between(rows: np.ndarray, h0: list[int]) -> np.ndarray:
    """Every sending worker's records since the heads h0 (tx_heads)."""
    parts = [between(r[len(T) + core.SINK_HIST:], a, int(r[T["head"]])) for r, a in zip(rows, h0)]
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64)


def rx_between(rows: np.ndarray, h0: list[int]) -> np.ndarray:
    parts = [between(r[1:], a, int(r[0])) for r, a in zip(rows, h0)]
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64)


def tx_records(rows: np.ndarray) -> np.ndarray:
    """Every sending worker's records (rows: their TX_WORDS blocks)."""
    return np.concatenate([ring_records(r[len(T) + core.SINK_HIST:], int(r[T["head"]])) for r in rows]) \
        if len(rows) else np.zeros(0, np.uint64)


def rx_records(rows: np.ndarray) -> np.ndarray:
    return np.concatenate([ring_records(r[1:], int(r[0])) for r in rows]) if len(rows) else np.zeros(0, np.uint64)


def send_delay(rows: np.ndarray) -> dict:
    """The send delay (kernel transmit stamp - the frame's own stamp) over every sending worker."""
    s = rows[:, : len(T)].sum(axis=0)
    hist = rows[:, len(T): len(T) + core.SINK_HIST].sum(axis=0)
    n = int(hist.sum())
    return {"stamp": "qdisc" if int(rows[:, T["sched"]].max()) else "driver",
            "stamps": int(s[T["stamps"]]), "no_header": int(s[T["no_header"]]), "early": int(s[T["early"]]),
            "avg_ns": int(s[T["delay_sum_ns"]]) / n if n else None,
            "max_ns": int(rows[:, T["delay_max_ns"]].max()) if n else None, **stats.percentiles(hist)}


def buckets(ns: np.ndarray) -> np.ndarray:
    """hist_bucket() of the C core (hist.h) for each value."""
    v = np.asarray(ns, np.uint64)
    sub = core.SINK_HIST_SUB
    small = v < (1 << sub)
    msb = np.zeros(len(v), np.int64)
    big = v[~small]
    if len(big):
        msb[~small] = np.floor(np.log2(big.astype(np.float64))).astype(np.int64)
        # float rounding at the top of an octave: put it right
        over = (np.uint64(1) << msb[~small].astype(np.uint64)) > big
        msb[np.flatnonzero(~small)[over]] -= 1
    out = v.astype(np.int64)
    m = msb[~small]
    out[~small] = ((m - sub + 1) << sub) + ((big >> (m - sub).astype(np.uint64)).astype(np.int64) & ((1 << sub) - 1))
    return out


def histogram(ns: np.ndarray) -> np.ndarray:
    return np.bincount(buckets(ns), minlength=core.SINK_HIST)[: core.SINK_HIST].astype(np.uint64)


def join(tx: np.ndarray, rx: np.ndarray) -> dict:
    """Latency from the kernel's transmit stamp: each received frame's record matched with the
    sender's record of the same stream|seq (the latest one), its send delay taken off."""
    if not len(tx) or not len(rx):
        return {"samples": 0, "unmatched": int(len(rx))}
    tkey, tval = tx >> np.uint64(32), tx & np.uint64(0xFFFFFFFF)
    order = np.argsort(tkey, kind="stable")
    tkey, tval = tkey[order], tval[order]
    last = np.r_[tkey[1:] != tkey[:-1], True]  # the latest record of each key
    tkey, tval = tkey[last], tval[last]
    rkey, rval = rx >> np.uint64(32), rx & np.uint64(0xFFFFFFFF)
    at = np.minimum(np.searchsorted(tkey, rkey), len(tkey) - 1)
    hit = tkey[at] == rkey
    rv, tv = rval[hit].astype(np.int64), tval[at[hit]].astype(np.int64)
    lat = rv - tv
    ok = lat >= 0
    out = {"samples": int(ok.sum()), "unmatched": int((~hit).sum()), "negative": int((~ok).sum())}
    if ok.any():
        good = lat[ok]
        out.update(min_ns=int(good.min()), avg_ns=float(good.mean()), max_ns=int(good.max()),
                   **stats.percentiles(histogram(good)))
        sender = stats.percentiles(histogram(tv[ok]))  # the same frames' own delay in the sender
        out.update(send_delay_p50_ns=sender["p50_ns"], send_delay_p99_ns=sender["p99_ns"])
    return out
