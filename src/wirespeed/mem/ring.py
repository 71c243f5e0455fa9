"""Ring: a power-of-two ring of uint64 handles (csrc/ring.h), SPSC or MPMC."""

from __future__ import annotations

from multiprocessing import shared_memory

import numpy as np

from wirespeed import core
from wirespeed.mem import shm
from wirespeed.base.errors import UsageError

MODES = {"spsc": 0, "mpsc": core.RING_MP, "spmc": core.RING_MC, "mpmc": core.RING_MP | core.RING_MC}


class Ring:
    """Ring(size, mode) makes a ring; Ring(name=...) without size attaches to one made elsewhere.

    enqueue_bulk(items) -> n or 0      enqueue_burst(items) -> how many went in
    dequeue_bulk(n) -> n items or none dequeue_burst(n) -> up to n items
    Items are numpy uint64 arrays; Python runs once per call, the loop is in C.
    """

    def __init__(self, size: int | None = None, mode: str = "spsc", name: str | None = None):
        create = size is not None
        if create:
            if size < 1 or size & (size - 1) or size > 1 << 30:
                raise UsageError(f"ring size must be a power of two up to 2^30, got {size}")
            if mode not in MODES:
                raise UsageError(f"ring mode must be one of {', '.join(MODES)}, got {mode!r}")
        try:
            self.shm = (shm.create(core.RING_HEADER + 8 * size, "ring", name) if create
                        else shared_memory.SharedMemory(name=name))
        except FileExistsError:
            raise UsageError(f"a ring or pool named {name!r} exists already") from None
        except FileNotFoundError:
            raise UsageError(f"no ring named {name!r}") from None
        self.owner = create
        self._r = core.Ring(self.shm.buf, size or 0, MODES.get(mode, 0), create)
        self.name = self.shm.name

    @property
    def size(self) -> int:
        return self._r.size

    @property
    def mode(self) -> str:
        return {v: k for k, v in MODES.items()}[self._r.flags]

    @property
    def lock_ops(self) -> int:
        """LOCK-prefixed operations this process executed on the ring."""
        return self._r.lock_ops

    def __len__(self) -> int:
        return self._r.count()

    def enqueue_bulk(self, items: np.ndarray) -> int:
        items = np.ascontiguousarray(items, np.uint64)
        return self._r.enqueue(items, len(items), True)

    def enqueue_burst(self, items: np.ndarray) -> int:
        items = np.ascontiguousarray(items, np.uint64)
        return self._r.enqueue(items, len(items), False)

    def dequeue_bulk(self, n: int, out: np.ndarray | None = None) -> np.ndarray:
        out = np.empty(n, np.uint64) if out is None else out
        return out[: self._r.dequeue(out, n, True)]

    def dequeue_burst(self, n: int, out: np.ndarray | None = None) -> np.ndarray:
        out = np.empty(n, np.uint64) if out is None else out
        return out[: self._r.dequeue(out, n, False)]

    def close(self) -> None:
        """Detach; the ring's maker also removes its name."""
        self._r = None
        self.shm.close()
        if self.owner:
            self.shm.unlink()
            self.owner = False

    def __enter__(self) -> "Ring":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
