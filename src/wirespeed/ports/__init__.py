"""Ports: batched packet I/O over one interface, one module per backend, one interface.

Every port has
  counters            numpy uint64[N_COUNTERS] (names in core.COUNTER_NAMES), bumped per batch
  rx_burst(batch, timeout_ms=0) -> n   best effort: fills batch.offsets/lengths/timestamps
                                        with up to len(batch) frames; batch.data views them
  tx_burst(batch) -> n                 best effort: sends batch.n frames, one system call
  gen_run(gen, batch, max_packets, until_ns) -> packets sent     the generator's C loop
  sink_run(sink, batch, max_packets, until_ns) -> packets received
  close()
Frames never become Python objects: a Batch is numpy arrays over memory the kernel shares.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

import numpy as np

from wirespeed.errors import PrivilegeError, UsageError, WirespeedError
from wirespeed.lab import enter_netns


@dataclass
class Batch:
    """Up to `size` frames: frame i is data[offsets[i] : offsets[i] + lengths[i]]."""

    data: np.ndarray  # uint8, the memory the frames live in
    offsets: np.ndarray  # uint64
    lengths: np.ndarray  # uint32
    timestamps: np.ndarray  # uint64, CLOCK_REALTIME ns at receipt
    n: int = 0

    @classmethod
    def empty(cls, size: int, data: np.ndarray | None = None) -> "Batch":
        return cls(
            data if data is not None else np.zeros(0, np.uint8),
            np.zeros(size, np.uint64),
            np.zeros(size, np.uint32),
            np.zeros(size, np.uint64),
        )

    def __len__(self) -> int:
        return len(self.offsets)

    def frame(self, i: int) -> np.ndarray:
        o = int(self.offsets[i])
        return self.data[o : o + int(self.lengths[i])]


@dataclass(frozen=True)
class Where:
    """An interface, inside a network namespace or (netns None) in ours."""

    ifname: str
    netns: str | None = None

    def __str__(self) -> str:
        return f"{self.ifname} in {self.netns}" if self.netns else self.ifname


def ifindex(where: Where) -> int:
    """Index of the interface; call with this thread already in its namespace."""
    try:
        return socket.if_nametoindex(where.ifname)
    except OSError:
        raise UsageError(f"unknown interface {where}") from None


def port_error(e: OSError, what: str, where: Where) -> WirespeedError:
    """One line for a failed set-up step, privilege problems told apart."""
    text = f"{what} on {where}: {e.strerror or e}"
    if e.errno in (errno.EPERM, errno.EACCES):
        return PrivilegeError(f"{text} (needs root or CAP_NET_RAW)")
    return WirespeedError(text)


def in_netns(where: Where):
    """Context: this thread inside the interface's namespace (or where it already is)."""
    if where.netns:
        return enter_netns(where.netns)
    from contextlib import nullcontext

    return nullcontext()
