"""Worker processes for gen and sink: one process per worker, pinned, sharing counters with
the parent through anonymous shared memory (the C core bumps them in place, per batch).

A worker's body is built by a `setup(i)` callable run inside the worker (so sockets and rings
belong to it) and returns a `Step`: step() runs one slice of at most SLICE_NS and returns
False when the worker is finished. The parent starts everyone at once, reports every interval,
and stops everyone on the deadline, a count, or SIGINT.
"""

from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import resource
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wirespeed import core
from wirespeed.errors import WirespeedError

SLICE_NS = 50_000_000  # a worker looks at the stop flag at least this often
SETUP_TIMEOUT_S = 20
GO, STOP, DEADLINE = 0, 1, 2  # control words
WAKE = signal.SIGUSR1  # sent to workers on stop: ends a long system call (BPF_PROG_RUN) with EINTR
FOREVER = 2**63 - 1


class Step:
    """What a worker runs: __call__ one slice -> still running?; close() at the end."""

    def __call__(self) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class Shared:
    """Counters, sink statistics and control words in memory every worker process shares."""

    def __init__(self, workers: int):
        n_sink = len(core.SINK_STAT_NAMES) + 1  # + streams
        shapes = [
            ("control", (4,)),
            ("done", (workers,)),
            ("cpu_ns", (workers,)),
            ("kernel_drops", (workers,)),
            ("counters", (workers, core.N_COUNTERS)),
            ("sink", (workers, n_sink)),
            ("hist", (workers, core.SINK_HIST)),
        ]
        total = sum(8 * int(np.prod(s)) for _, s in shapes)
        self.mem = mmap.mmap(-1, total)  # MAP_SHARED | MAP_ANONYMOUS: inherited across fork
        off = 0
        for name, shape in shapes:
            arr = np.ndarray(shape, np.uint64, buffer=self.mem, offset=off)
            setattr(self, name, arr)
            off += arr.nbytes
        self.workers = workers

    def totals(self) -> np.ndarray:
        return self.counters.sum(axis=0)


def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def cpu_plan(workers: int, cpus: list[int] | None, descending: bool) -> list[int | None]:
    """CPU for each worker: the given list in turn, else every allowed CPU in turn (gen from
    the highest, sink from the lowest, so both fit one machine without sharing a CPU)."""
    allowed = sorted(os.sched_getaffinity(0), reverse=descending)
    plan = cpus or allowed
    for c in plan:
        if c not in os.sched_getaffinity(0):
            raise WirespeedError(f"CPU {c} is not available (allowed: {sorted(allowed)})")
    return [plan[i % len(plan)] for i in range(workers)]


def _worker(i: int, cpu: int | None, setup: Callable[[int], Step], shared: Shared, conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(WAKE, lambda *_: None)  # interrupts the system call; the step sees STOP
    step = None
    try:
        _pin(cpu)
        step = setup(i)
    except WirespeedError as e:
        conn.send(("error", str(e), e.exit_status))
        return
    except Exception as e:  # a bug, not a user mistake: say what it was
        conn.send(("error", f"worker {i}: {type(e).__name__}: {e}", 1))
        return
    conn.send(("ready",))
    ctl = shared.control
    try:
        while not ctl[GO] and not ctl[STOP]:
            time.sleep(0.001)
        while not ctl[STOP] and step():
            pass
    finally:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        shared.cpu_ns[i] = int((ru.ru_utime + ru.ru_stime) * 1e9)
        step.close()
        shared.done[i] = 1


def _wake(procs) -> bool:
    for p in procs:
        if p.is_alive():
            try:
                os.kill(p.pid, WAKE)
            except ProcessLookupError:
                pass
    return True


@dataclass
class RunResult:
    elapsed_ns: int
    interrupted: bool


def run(
    shared: Shared,
    setup: Callable[[int], Step],
    cpus: list[int | None],
    interval_s: float,
    duration_s: float | None,
    on_interval: Callable[[float, float], None],
    should_stop: Callable[[], bool] = lambda: False,
    exit_after_setup: bool = False,
    on_ready: Callable[[], None] = lambda: None,
) -> RunResult:
    """Start the workers, report each interval, stop them all; returns how long they ran.
    on_ready runs once every worker has opened its port, before any of them moves a packet."""
    ctx = mp.get_context("fork")
    procs, conns = [], []
    for i, cpu in enumerate(cpus):
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker, args=(i, cpu, setup, shared, child), daemon=True)
        p.start()
        child.close()
        procs.append(p)
        conns.append(parent)
    ctl = shared.control
    interrupted = False
    try:
        for i, conn in enumerate(conns):
            if not conn.poll(SETUP_TIMEOUT_S):
                raise WirespeedError(f"worker {i} did not finish set-up in {SETUP_TIMEOUT_S} s")
            try:
                msg = conn.recv()
            except EOFError:
                raise WirespeedError(f"worker {i} died during set-up (exit code {procs[i].exitcode})") from None
            if msg[0] == "error":
                err = WirespeedError(msg[1])
                err.exit_status = msg[2]
                raise err
        if exit_after_setup:
            return RunResult(0, False)
        on_ready()
        t0 = time.monotonic_ns()
        ctl[DEADLINE] = t0 + int(duration_s * 1e9) if duration_s else FOREVER
        ctl[GO] = 1
        last = t0
        tick = t0 + int(interval_s * 1e9)
        woken = False
        while True:
            if not woken and time.monotonic_ns() >= ctl[DEADLINE]:
                woken = _wake(procs)
            try:
                while not shared.done.all() and time.monotonic_ns() < tick and not should_stop():
                    time.sleep(0.005)
            except KeyboardInterrupt:
                interrupted = True
                ctl[STOP] = 1
            now = time.monotonic_ns()
            finished = bool(shared.done.all()) or interrupted
            if should_stop():
                ctl[STOP] = 1
                finished = True
            if now >= tick or finished:
                on_interval((last - t0) / 1e9, (now - last) / 1e9)
                last = now
                tick = now + int(interval_s * 1e9)
            if finished:
                break
        return RunResult(last - t0, interrupted)
    finally:
        ctl[STOP] = 1
        _wake(procs)
        for p in procs:
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join()
