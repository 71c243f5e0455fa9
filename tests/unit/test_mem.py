"""Ring and pool against plain Python models (hypothesis state machines), then several
processes hammering one ring and one pool through shared memory. Pure: no privilege."""

from __future__ import annotations

import multiprocessing as mp
from collections import deque
from multiprocessing import shared_memory

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from wirespeed.base.errors import UsageError
from wirespeed.mem import Pool, Ring


class RingModel:
    """The obvious ring: a bounded FIFO. bulk = all or nothing, burst = as many as fit/exist."""

    def __init__(self, size: int):
        self.q: deque[int] = deque()
        self.size = size

    def enqueue(self, items, bulk):
        room = self.size - len(self.q)
        k = len(items) if len(items) <= room else (0 if bulk else room)
        self.q.extend(items[:k])
        return k

    def dequeue(self, n, bulk):
        k = n if n <= len(self.q) else (0 if bulk else len(self.q))
        return [self.q.popleft() for _ in range(k)]


handles = st.lists(st.integers(0, 2**64 - 1), max_size=40)


class RingMachine(RuleBasedStateMachine):
    @initialize(size=st.sampled_from([1, 2, 8, 32]), mode=st.sampled_from(["spsc", "mpmc", "mpsc", "spmc"]))
    def make(self, size, mode):
        self.ring = Ring(size, mode)
        self.model = RingModel(size)

    @rule(items=handles, bulk=st.booleans())
    def enqueue(self, items, bulk):
        arr = np.array(items, np.uint64)
        got = self.ring.enqueue_bulk(arr) if bulk else self.ring.enqueue_burst(arr)
        assert got == self.model.enqueue(items, bulk)

    @rule(n=st.integers(0, 40), bulk=st.booleans())
    def dequeue(self, n, bulk):
        got = self.ring.dequeue_bulk(n) if bulk else self.ring.dequeue_burst(n)
        assert got.tolist() == self.model.dequeue(n, bulk)

    @invariant()
    def same_length(self):
        if hasattr(self, "ring"):
            assert len(self.ring) == len(self.model.q)

    def teardown(self):
        if hasattr(self, "ring"):
            self.ring.close()


TestRingModel = RingMachine.TestCase
TestRingModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


class PoolMachine(RuleBasedStateMachine):
    @initialize(nbufs=st.integers(1, 300), cache=st.sampled_from([0, 4, 64]))
    def make(self, nbufs, cache):
        self.pool = Pool(nbufs, 64, cache=cache)
        self.out: set[int] = set()
        self.nbufs = nbufs

    @rule(n=st.integers(0, 80), bulk=st.booleans())
    def alloc(self, n, bulk):
        got = (self.pool.alloc_bulk(n) if bulk else self.pool.alloc_burst(n)).tolist()
        free = self.nbufs - len(self.out)
        assert len(got) == (n if n <= free else (0 if bulk else free))
        assert not set(got) & self.out and len(set(got)) == len(got)
        assert all(0 <= i < self.nbufs for i in got)
        self.out |= set(got)

    @precondition(lambda self: hasattr(self, "out") and self.out)
    @rule(data=st.data())
    def free(self, data):
        some = data.draw(st.lists(st.sampled_from(sorted(self.out)), unique=True, min_size=1))
        self.pool.free_bulk(np.array(some, np.uint64))
        self.out -= set(some)

    @rule()
    def alloc_one_free_one(self):
        i = self.pool.alloc()
        if len(self.out) == self.nbufs:
            assert i is None
            return
        assert i is not None and i not in self.out
        self.pool.buffers[i][:] = 7  # the buffer is ours to write
        self.pool.free(i)

    @invariant()
    def exact_accounting(self):
        if hasattr(self, "pool"):
            a = self.pool.accounting()
            assert a["free"] + a["cached"] + a["in_flight"] == a["total"] == self.nbufs
            assert a["in_flight"] == len(self.out)

    def teardown(self):
        if hasattr(self, "pool"):
            self.pool.close()


TestPoolModel = PoolMachine.TestCase
TestPoolModel.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_bad_sizes_are_user_errors():
    for bad in (0, 3, 1000):
        with pytest.raises(UsageError, match="power of two"):
            Ring(bad)
    with pytest.raises(UsageError, match="mode"):
        Ring(8, "mmmm")
    with pytest.raises(UsageError, match="multiple of 64"):
        Pool(10, 100)
    with pytest.raises(UsageError, match="no ring named"):
        Ring(name="wirespeed-no-such-ring")


def test_a_second_process_attaches_by_name():
    with Ring(16, "mpmc") as r:
        ctx = mp.get_context("spawn")
        p = ctx.Process(target=_enqueue_by_name, args=(r.name,))
        p.start()
        p.join(30)
        assert p.exitcode == 0
        assert r.dequeue_burst(16).tolist() == [5, 6, 7]


def _enqueue_by_name(name):
    r = Ring(name=name)
    assert r.mode == "mpmc" and r.size == 16
    r.enqueue_bulk(np.array([5, 6, 7], np.uint64))
    r.close()


# --- several processes at once ---------------------------------------------------------------

TOTAL = 10_000_000
PRODUCERS = CONSUMERS = 2
BURST = 256


def _producer(ring_name, p, out_q):
    r = Ring(name=ring_name)
    per = TOTAL // PRODUCERS
    base = p * per
    sent = 0
    while sent < per:
        chunk = np.arange(base + sent, base + min(per, sent + BURST), dtype=np.uint64)
        sent += r.enqueue_burst(chunk)
    out_q.put(("producer", p, r.lock_ops))
    r.close()


def _consumer(ring_name, seen_name, c, done, out_q):
    r = Ring(name=ring_name)
    shm = shared_memory.SharedMemory(name=seen_name)
    seen = np.ndarray((CONSUMERS, TOTAL), np.uint8, buffer=shm.buf)[c]
    buf = np.empty(BURST, np.uint64)
    dup = 0
    while True:
        got = r.dequeue_burst(BURST, buf)
        if len(got):
            dup += int(seen[got].sum())  # already seen by this consumer
            dup += len(got) - len(np.unique(got))  # twice in one burst (+= below would count it once)
            seen[got] += 1
        elif done.is_set() and len(r) == 0:
            break
    out_q.put(("consumer", c, dup))
    del seen
    shm.close()
    r.close()


def test_mpmc_ring_across_processes_loses_and_duplicates_nothing():
    ctx = mp.get_context("fork")
    seen_shm = shared_memory.SharedMemory(create=True, size=CONSUMERS * TOTAL)
    try:
        seen = np.ndarray((CONSUMERS, TOTAL), np.uint8, buffer=seen_shm.buf)
        seen[:] = 0
        with Ring(4096, "mpmc") as ring:
            done, out_q = ctx.Event(), ctx.Queue()
            cons = [ctx.Process(target=_consumer, args=(ring.name, seen_shm.name, c, done, out_q))
                    for c in range(CONSUMERS)]
            prods = [ctx.Process(target=_producer, args=(ring.name, p, out_q)) for p in range(PRODUCERS)]
            for x in cons + prods:
                x.start()
            for x in prods:
                x.join(240)
                assert x.exitcode == 0
            done.set()
            for x in cons:
                x.join(60)
                assert x.exitcode == 0
            reports = [out_q.get(timeout=5) for _ in range(PRODUCERS + CONSUMERS)]
        assert all(dup == 0 for kind, _, dup in reports if kind == "consumer")
        total = seen.sum(axis=0, dtype=np.uint8)
        assert int((total == 1).sum()) == TOTAL, "every handle exactly once"
        del seen, total
    finally:
        seen_shm.close()
        seen_shm.unlink()


def _pool_worker(name, w, rounds, seed, out_q, all_reported):
    pool = Pool(name=name, worker=w, cache=32)
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for _ in range(rounds):
        if held and rng.random() < 0.5:
            pool.free_bulk(held.pop(rng.integers(len(held))))
        else:
            got = pool.alloc_burst(int(rng.integers(1, 64)))
            pool.buffers[got, 0] = w  # a buffer is one worker's at a time
            held.append(got)
    mine = np.concatenate(held) if held else np.empty(0, np.uint64)
    ok = bool((pool.buffers[mine, 0] == w).all())
    out_q.put((w, mine.tolist(), ok))
    all_reported.wait(60)  # what each holds is compared at one moment, before anyone frees
    for h in held:
        pool.free_bulk(h)
    pool.close()


def test_pool_across_processes_keeps_exact_accounting():
    ctx = mp.get_context("fork")
    with Pool(2000, 64, cache=32) as pool:
        out_q, barrier = ctx.Queue(), ctx.Barrier(3)
        procs = [ctx.Process(target=_pool_worker, args=(pool.name, w, 20_000, w, out_q, barrier)) for w in (1, 2, 3)]
        for p in procs:
            p.start()
        results = [out_q.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        held = [set(r[1]) for r in results]
        assert all(r[2] for r in results), "a buffer was handed to two workers at once"
        assert not (held[0] & held[1]) and not (held[0] & held[2]) and not (held[1] & held[2])
        a = pool.accounting()
        assert a == {"free": a["free"], "cached": a["cached"], "in_flight": 0, "total": 2000}
        assert a["free"] + a["cached"] == 2000 and a["cached"] == 0  # each worker flushed on leaving
