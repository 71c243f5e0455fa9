"""The forwarder's decisions with in-memory ports (no root, no kernel): the empty-queue bypass,
the pending slot for frames the device refused, hook drops and failures, bulk dequeue, and on
the zero-copy path the release of dropped frames and the recycling of sent ones."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import build, cfg_for
from wirespeed import core
from wirespeed.ports import Batch
from wirespeed.tools.fwd import K, Forwarder, FwdConfig, ZeroCopyForwarder
from wirespeed.tools.hooks import DROP
from wirespeed.base.netns import Where

SLOT = 2048


_FRAMES = build(cfg_for(), 100)[0]  # built once: every call sees the same bytes


def frames(n: int) -> list[bytes]:
    assert n <= len(_FRAMES)
    return _FRAMES[:n]


class MemPort:
    """A port over memory: frames queued with `arrive` are received; what is sent is kept.
    accept: the most frames one tx_burst takes (a device with little room), None for all."""

    backend = "memory"

    def __init__(self, accept: int | None = None, slots: int = 256):
        self.where = Where("mem0")
        self.counters = np.zeros(core.N_COUNTERS, np.uint64)
        self.data = np.zeros(slots * SLOT, np.uint8)
        self.queue: list[bytes] = []
        self.sent: list[bytes] = []
        self.accept = accept

    def arrive(self, fs: list[bytes]) -> None:
        self.queue += fs

    def _count(self, n: int, nbytes: int) -> None:
        if n:
            self.counters[core.C["packets"]] += n
            self.counters[core.C["bytes"]] += nbytes
            self.counters[core.C["batches"]] += 1

    def rx_batch(self, size: int) -> Batch:
        return Batch.empty(size, self.data)

    def rx_burst(self, batch: Batch, timeout_ms: int = 0) -> int:
        n = min(len(batch), len(self.queue))
        for i in range(n):
            f = self.queue.pop(0)
            self.data[i * SLOT : i * SLOT + len(f)] = np.frombuffer(f, np.uint8)
            batch.offsets[i], batch.lengths[i] = i * SLOT, len(f)
        batch.n = n
        self._count(n, int(batch.lengths[:n].sum()))
        return n

    def tx_burst(self, batch: Batch) -> int:
        k = batch.n if self.accept is None else min(batch.n, self.accept)
        self.sent += [bytes(batch.frame(i)) for i in range(k)]
        self._count(k, int(batch.lengths[:k].sum()))
        return k

    def drain(self, timeout_ms: int = 1000) -> int:
        return 0

    def update_drops(self) -> None:
        pass

    def close(self) -> None:
        pass


class SharedMem:
    """Memory two zero-copy ports share (a UMEM): frame slots, free ones on the receiver."""

    def __init__(self, slots: int = 128):
        self.data = np.zeros(slots * SLOT, np.uint8)
        self.free = [i * SLOT for i in range(slots)]


class ZcRx(MemPort):
    def __init__(self, mem: SharedMem):
        super().__init__()
        self.mem, self.data = mem, mem.data

    def rx_take(self, addrs: np.ndarray, lengths: np.ndarray) -> int:
        n = min(len(addrs), len(self.queue), len(self.mem.free))
        for i in range(n):
            f, a = self.queue.pop(0), self.mem.free.pop(0)
            self.data[a : a + len(f)] = np.frombuffer(f, np.uint8)
            addrs[i], lengths[i] = a, len(f)
        self._count(n, int(lengths[:n].sum()))
        return n

    def release(self, addrs: np.ndarray) -> None:
        self.mem.free += [int(a) for a in addrs]

    def wait(self, timeout_ms: int) -> None:
        pass


class ZcTx(MemPort):
    def __init__(self, mem: SharedMem, accept: int | None = None):
        super().__init__(accept)
        self.mem, self.completed, self.inflight = mem, [], 0

    def tx_addrs(self, addrs: np.ndarray, lengths: np.ndarray) -> int:
        k = len(addrs) if self.accept is None else min(len(addrs), self.accept)
        for a, n in zip(addrs[:k], lengths[:k]):
            self.sent.append(bytes(self.mem.data[int(a) : int(a) + int(n)]))
            self.completed.append(int(a))
        self.inflight += k
        self._count(k, int(lengths[:k].sum()))
        return k

    def recycle(self) -> int:
        n, self.mem.free = len(self.completed), self.mem.free + self.completed
        self.completed, self.inflight = [], self.inflight - n
        return n


def forwarder(hook=None, accept=None, **kw) -> tuple[Forwarder, MemPort, MemPort]:
    cfg = FwdConfig(Where("in0"), Where("out0"), batch=16, hook=hook, pool_bufs=256, **kw)
    inp, out = MemPort(), MemPort(accept)
    return Forwarder(cfg, inp, out), inp, out


def run_until_quiet(fw: Forwarder, steps: int = 50) -> None:
    for _ in range(steps):
        fw.step(0)
    fw.drain()


def test_an_empty_idle_queue_is_bypassed():
    fw, inp, out = forwarder()
    inp.arrive(frames(10))
    fw.step(0)
    fw.publish()
    assert out.sent == frames(10)
    assert fw.c[K["bypassed"]] == 10 and fw.c[K["enqueued"]] == 0
    assert fw.pool.accounting()["in_flight"] == 0  # sent buffers went back to the pool
    fw.close()


def test_refused_frames_wait_in_the_pending_slot_and_leave_first_in_order():
    fw, inp, out = forwarder(accept=3)
    sent = frames(40)
    inp.arrive(sent[:16])
    fw.step(0)
    # The bypass sent 3 and queued the other 13; the transmitter dequeued them, the device took
    # 3 more and the 10 left wait in the pending slot (the kernel's requeue).
    assert len(out.sent) == 6 and len(fw.pending) == 10 and fw.c[K["tx_refused"]] == 2
    inp.arrive(sent[16:])
    run_until_quiet(fw)
    assert out.sent == sent  # nothing lost, nothing reordered
    assert fw.pool.accounting()["in_flight"] == 0
    fw.close()


def test_without_bypass_batches_are_queued_and_dequeued_in_bulk():
    fw, inp, out = forwarder(bypass=False)
    inp.arrive(frames(32))
    run_until_quiet(fw)
    fw.publish()
    assert out.sent == frames(32)
    assert fw.c[K["bypassed"]] == 0 and fw.c[K["enqueued"]] == 32
    assert fw.qd.stats()["dequeue_batch_hist"][4] == 2  # two dequeues of 16 (the 16-31 bucket)
    fw.close()


def test_hook_drops_free_their_buffers():
    def drop_odd(b):
        b.verdicts[1::2] = DROP

    fw, inp, out = forwarder(hook=drop_odd)
    fs = frames(16)
    inp.arrive(fs)
    run_until_quiet(fw)
    assert out.sent == fs[0::2] and fw.c[K["hook_dropped"]] == 8
    assert fw.pool.accounting()["in_flight"] == 0
    fw.close()


@pytest.mark.parametrize("hook", [lambda b: 1 / 0, lambda b: np.zeros(3)])
def test_a_failing_hook_drops_its_batch_and_is_counted(hook):
    fw, inp, out = forwarder(hook=hook)
    inp.arrive(frames(16))
    fw.step(0)
    assert out.sent == [] and fw.c[K["hook_errors"]] == 1 and fw.c[K["hook_dropped"]] == 16
    assert fw.last_error
    fw.close()


def test_a_full_qdisc_tail_drops_and_frees():
    fw, inp, out = forwarder(accept=0, limit=8, bypass=False)
    inp.arrive(frames(16))
    fw.step(0)
    assert fw.c[K["qdisc_dropped"]] == 8 and len(fw.pending) == 8
    assert fw.pool.accounting()["in_flight"] == 8  # the pending ones only
    fw.close()


def test_zero_copy_releases_drops_and_recycles_what_was_sent():
    mem = SharedMem(slots=32)
    inp, out = ZcRx(mem), ZcTx(mem, accept=5)

    def drop_every_7th(b):  # by the pktgen sequence (low 16 bits at byte 48), whatever the batching
        b.verdicts[b.u16(48) % 7 == 0] = DROP

    cfg = FwdConfig(Where("in0"), Where("out0"), batch=16, hook=drop_every_7th)
    fw = ZeroCopyForwarder(cfg, inp, out)
    fs = frames(100)  # more than the 32 slots: they must come back to be received again
    inp.arrive(fs)
    for _ in range(200):
        fw.step(0)
    fw.drain()
    out.recycle()
    kept = [f for i, f in enumerate(fs) if i % 7 != 0]
    assert out.sent == kept
    assert len(mem.free) == 32 and out.inflight == 0  # every frame back where it started
    assert fw.buffers() == {"kind": "umem", "in_flight": 0, "queued": 0}
