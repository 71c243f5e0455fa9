"""Bulk lock-free memory parts: a ring of 64-bit handles and a buffer pool, in shared memory
so several processes use one by name (multiprocessing.shared_memory, i.e. /dev/shm).

Names follow DPDK's contract: *bulk* is all-or-nothing (returns n items or none), *burst* is
best effort (returns as many as it could).
"""

from wirespeed.mem.pool import Pool  # noqa: F401
from wirespeed.mem.ring import Ring  # noqa: F401
