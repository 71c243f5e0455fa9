"""Pool: fixed buffers in one shared region behind an MPMC ring, with a per-worker cache
refilled and drained in bulk (csrc/pool.h)."""

from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np

from wirespeed import core
from wirespeed.mem import shm
from wirespeed.base.errors import UsageError


def _region_bytes(nbufs: int, buf_size: int) -> int:
    ring = (core.RING_HEADER + 8 * (1 << max(0, (nbufs - 1).bit_length())) + 63) // 64 * 64
    return core.POOL_HEADER + ring + nbufs * buf_size


class Pool:
    """Pool(nbufs, buf_size) makes a pool; Pool(name=..., worker=i) attaches worker i to it.

    alloc() -> index or None            free(index)
    alloc_bulk(n) -> n indices or none  alloc_burst(n) -> up to n indices
    free_bulk(indices)                  buffers: numpy view (nbufs, buf_size) of every buffer
    accounting() -> free + cached + in_flight == total, over every worker
    """

    def __init__(self, nbufs: int | None = None, buf_size: int = 2048, name: str | None = None, worker: int = 0,
                 cache: int = 64, refill: int | None = None):
        create = nbufs is not None
        if create and not (1 <= nbufs <= 1 << 24):
            raise UsageError(f"pool buffers must be 1..2^24, got {nbufs}")
        if create and (buf_size < 64 or buf_size % 64):
            raise UsageError(f"pool buffer size must be a multiple of 64 bytes, got {buf_size}")
        if not 0 <= cache <= core.POOL_CACHE_MAX:
            raise UsageError(f"pool cache must be 0..{core.POOL_CACHE_MAX}, got {cache}")
        if not 0 <= worker < core.POOL_WORKERS:
            raise UsageError(f"pool worker must be 0..{core.POOL_WORKERS - 1}, got {worker}")
        refill = cache // 2 if refill is None else refill
        try:
            self.shm = (shm.create(_region_bytes(nbufs, buf_size), "pool", name) if create
                        else shared_memory.SharedMemory(name=name))
        except FileExistsError:
            raise UsageError(f"a ring or pool named {name!r} exists already") from None
        except FileNotFoundError:
            raise UsageError(f"no pool named {name!r}") from None
        self.owner = create
        self._p = core.Pool(self.shm.buf, nbufs or 0, buf_size, create, worker, cache, refill)
        lay = self._p.layout
        self.name, self.nbufs, self.buf_size = self.shm.name, lay["nbufs"], lay["buf_size"]
        self.buffers = np.ndarray((self.nbufs, self.buf_size), np.uint8, buffer=self.shm.buf, offset=lay["data_off"])
        self._one = np.empty(1, np.uint64)

    @property
    def lock_ops(self) -> int:
        return self._p.lock_ops

    @property
    def cached(self) -> int:
        return self._p.cached

    def alloc(self) -> int | None:
        return int(self._one[0]) if self._p.alloc(self._one, 1, True) else None

    def free(self, index: int) -> None:
        self._one[0] = index
        self._p.free(self._one, 1)

    def alloc_bulk(self, n: int) -> np.ndarray:
        out = np.empty(n, np.uint64)
        return out[: self._p.alloc(out, n, True)]

    def alloc_burst(self, n: int) -> np.ndarray:
        out = np.empty(n, np.uint64)
        return out[: self._p.alloc(out, n, False)]

    def free_bulk(self, indices: np.ndarray) -> None:
        indices = np.ascontiguousarray(indices, np.uint64)
        self._p.free(indices, len(indices))

    def accounting(self) -> dict:
        free, cached, in_flight, total = self._p.accounting()
        return {"free": free, "cached": cached, "in_flight": in_flight, "total": total}

    def flush(self) -> None:
        """This worker's cache back to the shared ring (before it leaves)."""
        self._p.flush()

    def close(self) -> None:
        if self._p is not None:
            self._p.flush()
        self.buffers = None
        self._p = None
        self.shm.close()
        if self.owner:
            self.shm.unlink()
            self.owner = False

    def __enter__(self) -> "Pool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
