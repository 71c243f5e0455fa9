"""Published reference figures (design.md). Shown beside our measurements, always labelled.

Source: J. D. Brouer, "Network stack challenges at increasing speeds", LCA 2015, and his
prototype-kernel time_bench results: an Intel Xeon of 2014, 3 GHz class. They are not this host.
"""

from dataclasses import dataclass

SOURCE = "ref: Brouer LCA 2015, Xeon 2014"


@dataclass(frozen=True)
class Reference:
    text: str  # as published, with its unit
    ns: float  # the figure compared against (the lower end where a range is given)


REFERENCES: dict[str, Reference] = {
    "call": Reference("~2.1 ns", 2.1),
    "indirect_call": Reference("~2.5 ns", 2.5),
    "lock_cmpxchg": Reference("~8.25 ns", 8.25),
    "spin_lock_unlock": Reference("~14-16 ns", 14.0),
    "l2_hit": Reference("~4.3 ns", 4.3),
    "l3_hit": Reference("~7.9 ns", 7.9),
    "mem_miss": Reference("~32 ns", 32.0),
    "getppid": Reference("~42 / ~75 ns (audit+SELinux off/on)", 42.0),
    "malloc_free": Reference("~19 ns (slab)", 19.0),
    "malloc_free_256": Reference("~38-45 ns (slab)", 38.0),
    "ring_spsc": Reference("~2.0 ns", 2.0),
    "ring_spsc_bulk16": Reference("~0.75 ns", 0.75),
    "ring_mpmc": Reference("~8.6 ns", 8.6),
    "ring_mpmc_bulk16": Reference("~1.1 ns", 1.1),
    "pool_reuse": Reference("~9 ns (qmempool)", 9.0),
    "pool_256": Reference("~12.5 ns (qmempool)", 12.5),
}
