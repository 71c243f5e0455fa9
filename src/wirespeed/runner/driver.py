"""The one run driver under gen, sink and fwd (and whatever drives them: search, bench, the
Python API): worker processes, pinned; ports prepared in the parent and opened in each worker;
count, duration and signal stops; interval snapshots; the summary's raw material.

A tool supplies a `Plan` (workers, CPUs, the ports it prepared, how many words of its own
statistics each worker keeps) and a step: `make_step(worker) -> Step` runs inside worker i,
where `Step.__call__(until_ns)` does one slice of work (at most SLICE_NS) and returns False when
the worker is done. Counters flow up from C (or the kernel) through shared memory; the parent
only reads them.

Workers never outlive the parent: each checks its parent is still there every slice (and while
it waits to go), and one forked by the parent's main thread also asks the kernel for SIGKILL
when the parent dies (PR_SET_PDEATHSIG). The kernel's signal comes when the *thread* that forked
ends: a run started from any other thread (a server's request) must outlive that thread. The parent ends a run on
its deadline, a tool's `enough()`, or SIGINT, SIGTERM or SIGHUP (all three stop it the same way:
workers stop, the summary is printed, exit status 0).
"""

from __future__ import annotations

import ctypes
import mmap
import multiprocessing as mp
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from wirespeed.base.errors import UsageError, WirespeedError
from wirespeed.lab import WORKER_NAME
from wirespeed.ports import Prepared

SLICE_NS = 50_000_000  # a worker looks at the stop flag at least this often
SETUP_TIMEOUT_S = 20
STOP_TIMEOUT_S = 5  # a worker that has not ended this long after the stop is killed
GO, STOP, DEADLINE = 0, 1, 2  # control words
TOOL = 4  # control[TOOL:] are the tool's own (the parent writes, the workers read)
CONTROL_WORDS = 16
WAKE = signal.SIGUSR1  # sent to workers on stop: ends a long system call (BPF_PROG_RUN) with EINTR
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FOREVER = 2**63 - 1
PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15


class Step:
    """What a worker runs: __call__(until_ns) one slice -> still running?; close() at the end.
    facts(): what the parent should know once the worker is set up (e.g. the XDP mode chosen).
    slice_ns: how long one call may run; a step that is stopped by signal only (it sleeps in
    the kernel) takes FOREVER: it runs to the deadline."""

    slice_ns = SLICE_NS

    def __call__(self, until_ns: int) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def facts(self) -> dict:
        return {}

    def close(self) -> None:
        pass


@dataclass
class Plan:
    tool: str
    workers: int
    cpus: list[int | None]
    ports: list[Prepared]  # every port role a worker opens (gen, sink: one; fwd: in and out)
    stats_words: int = 0  # uint64 words of the tool's own statistics per worker
    record_words: int = 0  # uint64 words per worker of per-frame records (shared, read at the end, never
    #                        copied into snapshots: rings of kernel transmit stamps, the receiver's latencies)
    duration: float | None = None
    count: int | None = None  # stop once the first port has moved this many packets (all workers)
    exit_after_setup: bool = False


@dataclass
class Worker:
    """What a step sees inside worker i."""

    i: int
    cpu: int | None
    plan: Plan
    stats: np.ndarray  # its row of the tool's statistics (shared memory)
    control: np.ndarray
    conn: object = field(repr=False, default=None)
    records: np.ndarray | None = None  # its per-frame records (Plan.record_words; shared memory)

    def open(self, role: int = 0, **override):
        return self.plan.ports[role].open(self.i, **override)

    def note(self, text: str) -> None:
        """A line for the user, printed by the parent at the next interval."""
        self.conn.send(("note", text))

    @property
    def stopping(self) -> bool:
        return bool(self.control[STOP])


@dataclass
class Snapshot:
    t: float  # seconds since the workers were told to go
    ports: list[np.ndarray]  # per role: counters summed over rows
    stats: np.ndarray  # (workers, stats_words)
    cpu_user_ns: np.ndarray  # per worker, filled when it ends (user time: our C and Python)
    cpu_sys_ns: np.ndarray  # (system time: system calls, and the kernel's work done on their way)

    @property
    def cpu_ns(self) -> np.ndarray:
        return self.cpu_user_ns + self.cpu_sys_ns

    def port(self, role: int = 0) -> np.ndarray:
        return self.ports[role]


def cpu_plan(workers: int, cpus: list[int] | None, descending: bool,
             note: Callable[[str], None] = lambda text: None) -> list[int | None]:
    """CPU for each worker: the given list in turn, else every allowed CPU in turn (gen from
    the highest, sink from the lowest, so both fit one machine without sharing a CPU). Two
    workers on one CPU halve each other: said in a note."""
    allowed = sorted(os.sched_getaffinity(0), reverse=descending)
    plan = cpus or allowed
    for c in plan:
        if c not in allowed:
            raise UsageError(f"CPU {c} is not available (allowed: {sorted(allowed)})")
    out = [plan[i % len(plan)] for i in range(workers)]
    shared = sorted({c for c in out if out.count(c) > 1})
    if shared:
        note(f"{workers} workers on {len(set(out))} CPU(s): CPU {', '.join(map(str, shared))} runs more than one "
             f"(this host allows {len(allowed)}); they share its time")
    return out


def _die_with_parent(parent: int, by_main_thread: bool) -> None:
    """SIGKILL when the parent dies (forked by its main thread: see above); and if it already
    has, go now."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if by_main_thread:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(WORKER_NAME.encode()), 0, 0, 0)  # how lab status finds orphans
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def _worker(w: Worker, parent: int, by_main_thread: bool, make_step: Callable[[Worker], Step], done, cpu,
            times) -> None:
    _die_with_parent(parent, by_main_thread)
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, lambda *_: w.control.__setitem__(STOP, 1))  # a group kill: end cleanly
    signal.signal(WAKE, lambda *_: None)  # interrupts a system call; the step sees STOP
    step = None
    try:
        if w.cpu is not None:
            os.sched_setaffinity(0, {w.cpu})
        step = make_step(w)
        w.conn.send(("ready", step.facts()))
    except WirespeedError as e:
        w.conn.send(("error", str(e), e.exit_status))
        return
    except Exception as e:  # a bug, not a user mistake: say what it was
        w.conn.send(("error", f"worker {w.i}: {type(e).__name__}: {e}", 1))
        return
    ctl = w.control
    try:
        while not ctl[GO] and not ctl[STOP] and os.getppid() == parent:
            time.sleep(0.0002)
        times[0][w.i] = time.monotonic_ns()
        while not ctl[STOP] and os.getppid() == parent:
            now, deadline = time.monotonic_ns(), int(ctl[DEADLINE])
            if now >= deadline or not step(min(deadline, now + step.slice_ns)):
                break
        times[1][w.i] = time.monotonic_ns()
    except WirespeedError as e:
        w.conn.send(("error", str(e), e.exit_status))
    except Exception as e:
        w.conn.send(("error", f"worker {w.i}: {type(e).__name__}: {e}", 1))
    finally:
        try:
            step.close()
        finally:
            ru = resource.getrusage(resource.RUSAGE_SELF)
            cpu[0][w.i], cpu[1][w.i] = int(ru.ru_utime * 1e9), int(ru.ru_stime * 1e9)
            done[w.i] = 1


class Run:
    """One run of a plan: start() forks the workers and returns once every one has opened its
    ports; go() lets them move packets; snapshot() reads everything live; stop(); close()."""

    def __init__(self, plan: Plan, make_step: Callable[[Worker], Step]):
        self.plan, self.make_step = plan, make_step
        n = plan.workers
        c = CONTROL_WORDS
        words = c + 5 * n + n * max(1, plan.stats_words)
        self._mem = mmap.mmap(-1, 8 * words)  # MAP_SHARED | MAP_ANONYMOUS: inherited across fork
        arr = np.ndarray(words, np.uint64, buffer=self._mem)
        self.control, self.done = arr[:c], arr[c : c + n]
        self.cpu_user_ns, self.cpu_sys_ns = arr[c + n : c + 2 * n], arr[c + 2 * n : c + 3 * n]
        # when each worker started moving packets and stopped (CLOCK_MONOTONIC ns): a run's
        # seconds are the workers' own, not the parent's (which notices the end later)
        self.began_ns, self.ended_at = arr[c + 3 * n : c + 4 * n], arr[c + 4 * n : c + 5 * n]
        self.stats = arr[c + 5 * n :].reshape(n, max(1, plan.stats_words))[:, : plan.stats_words]
        self._rec_mem = mmap.mmap(-1, 8 * n * plan.record_words) if plan.record_words else None
        self.records = np.ndarray((n, plan.record_words), np.uint64, buffer=self._rec_mem) if plan.record_words \
            else None
        self.procs: list = []
        self.conns: list = []
        self.facts: list[dict] = [{} for _ in range(n)]
        self.notes: list[str] = []
        self.error: WirespeedError | None = None
        self.t0 = 0
        self.ended_ns = 0

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        ctx = mp.get_context("fork")
        parent = os.getpid()
        by_main_thread = threading.current_thread() is threading.main_thread()
        try:
            for i, cpu in enumerate(self.plan.cpus):
                rx, tx = ctx.Pipe(duplex=False)
                w = Worker(i, cpu, self.plan, self.stats[i], self.control, tx,
                           self.records[i] if self.records is not None else None)
                p = ctx.Process(target=_worker, args=(w, parent, by_main_thread, self.make_step, self.done,
                                                  (self.cpu_user_ns, self.cpu_sys_ns),
                                                  (self.began_ns, self.ended_at)), daemon=True)
                p.start()
                tx.close()
                self.procs.append(p)
                self.conns.append(rx)
            for i, conn in enumerate(self.conns):
                if not conn.poll(SETUP_TIMEOUT_S):
                    raise WirespeedError(f"worker {i} did not finish set-up in {SETUP_TIMEOUT_S} s")
                try:
                    msg = conn.recv()
                except EOFError:
                    raise WirespeedError(f"worker {i} died during set-up (exit code {self.procs[i].exitcode})") from None
                if msg[0] == "error":
                    err = WirespeedError(msg[1])
                    err.exit_status = msg[2]
                    raise err
                self.facts[i] = msg[1]
        except BaseException:
            self.close()
            raise

    def go(self) -> None:
        self.t0 = time.monotonic_ns()
        d = self.plan.duration
        self.control[DEADLINE] = self.t0 + int(d * 1e9) if d else FOREVER
        self.control[GO] = 1

    def finished(self) -> bool:
        """Every worker ended, a worker failed, or the count is reached."""
        self._poll_messages()
        if self.error is not None or bool(self.done.all()):
            return True
        c = self.plan.count
        return c is not None and int(self.plan.ports[0].totals()[0]) >= c

    def past_deadline(self) -> bool:
        return time.monotonic_ns() >= int(self.control[DEADLINE])

    def stop(self) -> None:
        """Tell every worker to stop and wake any of them blocked in a long system call."""
        if not self.ended_ns:
            self.ended_ns = time.monotonic_ns()
        self.control[STOP] = 1
        self.wake()

    def wake(self) -> None:
        for p in self.procs:
            if p.is_alive():
                try:
                    os.kill(p.pid, WAKE)
                except ProcessLookupError:
                    pass

    def close(self) -> None:
        """Stop, wait for every worker (kill one that does not end), close the prepared ports."""
        self.control[STOP] = 1
        self.wake()
        for p in self.procs:
            p.join(STOP_TIMEOUT_S)
            if p.is_alive():
                p.kill()
                p.join()
        self._poll_messages()
        for prep in self.plan.ports:
            prep.close()

    # -- reading ---------------------------------------------------------------------------------
    def _poll_messages(self) -> None:
        for conn in self.conns:
            try:
                while conn.poll():
                    msg = conn.recv()
                    if msg[0] == "note":
                        self.notes.append(msg[1])
                    elif msg[0] == "error" and self.error is None:
                        self.error = WirespeedError(msg[1])
                        self.error.exit_status = msg[2]
            except (EOFError, OSError):
                pass

    def take_notes(self) -> list[str]:
        self._poll_messages()
        out, self.notes = self.notes, []
        return out

    def elapsed(self) -> float:
        """Seconds since go(); once the run has ended, from the first worker's start to the last
        one's end, as the workers saw them (a count ends a worker, a stop ends it after its slice;
        closing the ports and the parent noticing come later and are not part of the run)."""
        if not self.t0:
            return 0.0
        end = self.ended_ns or time.monotonic_ns()
        if self.ended_ns and self.ended_at.all() and self.began_ns.all():
            return (int(self.ended_at.max()) - int(self.began_ns.min())) / 1e9
        return (end - self.t0) / 1e9

    def snapshot(self) -> Snapshot:
        return Snapshot(self.elapsed(), [p.totals().copy() for p in self.plan.ports], self.stats.copy(),
                        self.cpu_user_ns.copy(), self.cpu_sys_ns.copy())


@dataclass
class Ended:
    seconds: float
    interrupted: str | None  # the signal that stopped the run, if one did
    snapshot: Snapshot


class _Signals:
    """SIGINT, SIGTERM and SIGHUP set a flag instead of ending the process, for one run."""

    def __init__(self):
        self.got: str | None = None
        self._old = {}
        self._owner = os.getpid()

    def __enter__(self) -> "_Signals":
        for sig in STOP_SIGNALS:
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if os.getpid() != self._owner:  # a forked helper (a library's) dies of it as usual
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.got = signal.Signals(signum).name

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def drive(run: Run, interval_s: float, on_interval: Callable[[Snapshot, Snapshot], None],
          enough: Callable[[Snapshot], bool] = lambda s: False, on_ready: Callable[[], None] = lambda: None,
          on_note: Callable[[str], None] = lambda text: None) -> Ended:
    """The blocking loop the command-line tools use: start, report each interval, stop on the
    deadline, the count, enough(), a failed worker or a stop signal; close. on_interval gets the
    previous and the current snapshot."""
    with _Signals() as sigs:
        run.start()
        try:
            for facts in run.facts:
                if facts.get("note"):
                    on_note(facts["note"])
            if run.plan.exit_after_setup:
                return Ended(0.0, None, run.snapshot())
            on_ready()
            run.go()
            prev = run.snapshot()
            tick = time.monotonic() + interval_s
            woken = False
            while True:
                time.sleep(0.005)
                if not woken and run.past_deadline():
                    woken = True
                    run.wake()  # a worker inside a long system call sees the deadline now
                now_snap = None
                stop = sigs.got is not None or run.finished()
                if not stop:
                    now_snap = run.snapshot()
                    stop = enough(now_snap)
                if stop:
                    run.stop()
                for text in run.take_notes():
                    on_note(text)
                if stop or time.monotonic() >= tick:
                    now_snap = now_snap or run.snapshot()
                    if now_snap.t > prev.t:
                        on_interval(prev, now_snap)
                    prev, tick = now_snap, time.monotonic() + interval_s
                if stop:
                    break
        finally:
            run.close()
        for text in run.take_notes():
            on_note(text)
        if run.error is not None:
            raise run.error
        return Ended(run.elapsed(), sigs.got, run.snapshot())
