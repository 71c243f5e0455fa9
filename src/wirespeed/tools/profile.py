"""This host's cost of each primitive, measured time_bench-style in the C core.

Every operation runs in one tight C loop pinned to one CPU with the GIL released, timed as a
whole by the TSC (cycles) and CLOCK_MONOTONIC (ns). The loop count is sized so one repetition
lasts at least `min_time` seconds; sizing runs double as warm-up. Figures are the median of
`reps` repetitions, with min and max beside them.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from wirespeed import core
from wirespeed.base.errors import UsageError

# (key, label) in display order; the key names a core timebench op or a derived measurement.
OPERATIONS = (
    ("loop", "empty loop"),
    ("call", "function call"),
    ("indirect_call", "indirect call"),
    ("cmpxchg", "cmpxchg, no LOCK"),
    ("lock_cmpxchg", "LOCK cmpxchg"),
    ("spin_lock_unlock", "spin lock+unlock"),
    ("l1_hit", "L1 hit"),
    ("l2_hit", "L2 hit"),
    ("l3_hit", "L3 hit"),
    ("mem_miss", "memory miss"),
    ("getppid", "syscall getppid"),
    ("clock_gettime", "clock_gettime vDSO"),
    ("malloc_free", "malloc+free reused"),
    ("malloc_free_256", "malloc+free 256/256"),
    ("ring_spsc", "ring SPSC enq+deq, single"),
    ("ring_spsc_bulk16", "ring SPSC enq+deq, bulk 16"),
    ("ring_mpmc", "ring MPMC enq+deq, single"),
    ("ring_mpmc_bulk16", "ring MPMC enq+deq, bulk 16"),
    ("pool_reuse", "pool alloc+free reused"),
    ("pool_256", "pool alloc+free 256/256"),
    ("pool_reuse_bulk16", "pool alloc+free reused, bulk 16"),
    ("pool_256_bulk16", "pool alloc+free 256/256, bulk 16"),
    ("pool_nocache_256", "pool 256/256, no cache"),
    ("py_loop", "Python loop iteration"),
    ("py_call", "Python function call"),
    ("py_to_core", "Python → C core call"),
)
CHASE_LEVELS = ("l1_hit", "l2_hit", "l3_hit", "mem_miss")
RING_OPS = {"ring_spsc": (0, 1), "ring_spsc_bulk16": (0, 16), "ring_mpmc": (3, 1), "ring_mpmc_bulk16": (3, 16)}
# (pattern: 0 reuse, 1 256-then-256; batch; per-worker cache size)
POOL_OPS = {"pool_reuse": (0, 1, 64), "pool_256": (1, 1, 64), "pool_reuse_bulk16": (0, 16, 64),
            "pool_256_bulk16": (1, 16, 64), "pool_nocache_256": (1, 1, 0)}
DEFAULT_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SIZING_NS = 10_000_000  # a sizing run must last this long before we trust its rate


@dataclass
class Sample:
    """One operation's cost: medians over repetitions, per single operation."""

    key: str
    label: str
    cycles: float
    ns: float
    ns_min: float
    ns_max: float
    ops_per_rep: int
    reps: int
    detail: str = ""


@dataclass
class Amortised:
    """Per-packet cost when one expensive operation is paid once per batch of packets."""

    batch: int
    lock_ns: float
    syscall_ns: float
    lock_cycles: float
    syscall_cycles: float


@dataclass
class Profile:
    tsc_hz: float
    cpu: int
    min_time: float
    reps: int
    caches: dict[str, int]
    samples: list[Sample] = field(default_factory=list)
    amortised: list[Amortised] = field(default_factory=list)
    rings: list[dict] = field(default_factory=list)


def calibrate_tsc(windows: int = 5, window_ns: int = 50_000_000) -> float:
    """TSC frequency in Hz: median over several windows of CLOCK_MONOTONIC."""
    rates = []
    for _ in range(windows):
        cycles, ns = core.tsc_calibrate(window_ns)
        rates.append(cycles * 1e9 / ns)
    return statistics.median(rates)


def cache_sizes() -> dict[str, int]:
    """Data/unified cache sizes of CPU 0 in bytes, keyed 'L1', 'L2', 'L3' (from sysfs)."""
    sizes: dict[str, int] = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        entries = []
    for entry in entries:
        if not entry.startswith("index"):
            continue
        path = os.path.join(base, entry)
        try:
            with open(os.path.join(path, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(path, "level")) as f:
                level = int(f.read())
            with open(os.path.join(path, "size")) as f:
                text = f.read().strip()
        except (OSError, ValueError):
            continue
        if kind == "Instruction":
            continue
        scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        sizes[f"L{level}"] = int(text.rstrip("KMG")) * scale
    sizes.setdefault("L1", 32 << 10)
    sizes.setdefault("L2", max(sizes["L1"] * 8, 256 << 10))
    sizes.setdefault("L3", sizes["L2"] * 8)
    return sizes


def _mem_available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 1 << 30


def chase_sizes(caches: dict[str, int], mem_size: int | None = None) -> dict[str, int]:
    """Buffer size for each pointer-chase level: well inside the level, well past the one below."""
    llc = caches["L3"]
    if mem_size is None:
        mem_size = min(max(4 * llc, 256 << 20), 2 << 30, _mem_available() // 4)
    return {
        "l1_hit": caches["L1"] // 2,
        "l2_hit": caches["L2"] // 2,
        "l3_hit": min(4 * caches["L2"], llc // 2),
        "mem_miss": mem_size,
    }


@contextmanager
def pinned(cpu: int | None) -> Iterator[int]:
    """Run the body on one CPU (default: the highest-numbered one we may use)."""
    allowed = os.sched_getaffinity(0)
    if cpu is None:
        cpu = max(allowed)
    elif cpu not in allowed:
        raise UsageError(f"--cpu {cpu} is not available: this process may use CPUs {sorted(allowed)}")
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, allowed)


Runner = Callable[[int], tuple[int, int, int]]  # n -> (cycles, ns, operations done)


def _measure(run: Runner, min_time: float, reps: int) -> tuple[list[float], list[float], int]:
    """Size n so one run lasts min_time, then return per-op cycles and ns of each repetition."""
    n = 256
    while True:
        cycles, ns, done = run(n)
        if ns >= SIZING_NS:
            break
        n *= 4
    n = max(1, int(done * min_time * 1e9 / ns))
    per_cycles, per_ns = [], []
    for _ in range(reps):
        cycles, ns, done = run(n)
        per_cycles.append(cycles / done)
        per_ns.append(ns / done)
    return per_cycles, per_ns, n


def _core_runner(op: str, batch: int = 0) -> Runner:
    return lambda n: core.timebench(op, n, batch)


def _ring_runner(flags: int, batch: int) -> Runner:
    """One handle through the ring: enqueue + dequeue, `batch` at a time."""
    return lambda n: core.ring_bench(flags, batch, n)[:3]


def _pool_runner(pattern: int, batch: int, cache: int) -> Runner:
    return lambda n: core.pool_bench(pattern, batch, n, cache)[:3]


def _python_runner(body: Callable[[int], None]) -> Runner:
    def run(n: int) -> tuple[int, int, int]:
        t0, m0 = core.clock()
        body(n)
        t1, m1 = core.clock()
        return t1 - t0, m1 - m0, n

    return run


def _py_loop(n: int) -> None:
    for _ in range(n):
        pass


def _py_empty() -> None:
    pass


def _py_call_loop(n: int, f: Callable[[], object] = _py_empty) -> None:
    for _ in range(n):
        f()


def _py_core_loop(n: int, f: Callable[[], object] = core.noop) -> None:
    for _ in range(n):
        f()


def _sample(key: str, label: str, cycles: list[float], ns: list[float], n: int, detail: str = "") -> Sample:
    return Sample(
        key=key,
        label=label,
        cycles=statistics.median(cycles),
        ns=statistics.median(ns),
        ns_min=min(ns),
        ns_max=max(ns),
        ops_per_rep=n,
        reps=len(ns),
        detail=detail,
    )


def _minus(a: tuple[list[float], list[float], int], b: tuple[list[float], list[float], int]):
    """Per-repetition difference: cost of the loop body with the bare loop taken out."""
    return [x - y for x, y in zip(a[0], b[0])], [x - y for x, y in zip(a[1], b[1])], a[2]


def measure(
    cpu: int | None = None,
    min_time: float = 0.2,
    reps: int = 3,
    mem_size: int | None = None,
    batches: tuple[int, ...] = DEFAULT_BATCHES,
    only: set[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Profile:
    """Measure the cost profile. `only` limits it to some operation keys (tests use it)."""
    if min_time <= 0:
        raise UsageError(f"--time must be positive, got {min_time}")
    if reps < 1:
        raise UsageError(f"--reps must be at least 1, got {reps}")
    labels = dict(OPERATIONS)
    wanted = [k for k, _ in OPERATIONS if only is None or k in only]
    caches = cache_sizes()
    sizes = chase_sizes(caches, mem_size)
    note = progress or (lambda _: None)
    with pinned(cpu) as used_cpu:
        note("calibrating TSC")
        prof = Profile(calibrate_tsc(), used_cpu, min_time, reps, caches)
        py_loop = None
        for key in wanted:
            note(labels[key])
            detail = ""
            if key in CHASE_LEVELS:
                core.chase_setup(sizes[key])
                try:
                    res = _measure(_core_runner("chase"), min_time, reps)
                finally:
                    core.chase_free()
                detail = f"random chase over {sizes[key] >> 10:,} KiB"
            elif key.startswith("py_"):
                py_loop = py_loop or _measure(_python_runner(_py_loop), min_time, reps)
                if key == "py_loop":
                    res = py_loop
                else:
                    body = _py_call_loop if key == "py_call" else _py_core_loop
                    res = _minus(_measure(_python_runner(body), min_time, reps), py_loop)
                    detail = "loop overhead subtracted"
            elif key in RING_OPS:
                res = _measure(_ring_runner(*RING_OPS[key]), min_time, reps)
                detail = "per handle, one thread"
            elif key in POOL_OPS:
                res = _measure(_pool_runner(*POOL_OPS[key]), min_time, reps)
                cache = POOL_OPS[key][2]
                detail = f"per buffer, {'cache of ' + str(cache) if cache else 'straight to the MPMC ring'}"
            else:
                res = _measure(_core_runner(key), min_time, reps)
                if key == "malloc_free" or key == "malloc_free_256":
                    detail = "256-byte objects, glibc malloc"
            prof.samples.append(_sample(key, labels[key], *res, detail=detail))
        if only is None or "amortised" in only:
            for b in batches:
                if b < 1:
                    raise UsageError(f"batch sizes must be positive, got {b}")
                note(f"amortisation, batch {b}")
                lock = _measure(_core_runner("lock_per_batch", b), min_time, reps)
                sysc = _measure(_core_runner("syscall_per_batch", b), min_time, reps)
                prof.amortised.append(
                    Amortised(
                        batch=b,
                        lock_ns=statistics.median(lock[1]),
                        syscall_ns=statistics.median(sysc[1]),
                        lock_cycles=statistics.median(lock[0]),
                        syscall_cycles=statistics.median(sysc[0]),
                    )
                )
        if only is None or "rings" in only:
            for b in batches:
                note(f"ring, batch {b}")
                row: dict = {"batch": b}
                for name, flags in (("spsc", 0), ("mpmc", core.RING_MP | core.RING_MC)):
                    res = _measure(_ring_runner(flags, b), min_time, reps)
                    row[f"{name}_ns"] = statistics.median(res[1])
                    row[f"{name}_cycles"] = statistics.median(res[0])
                _, _, done, locks = core.ring_bench(core.RING_MP | core.RING_MC, b, 1 << 16)
                row["mpmc_lock_ops_per_handle"] = locks / done
                prof.rings.append(row)
    return prof
