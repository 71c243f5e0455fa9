"""Cost-profile relations that hold on any x86-64 host; never absolute times."""

import pytest

from wirespeed import core
from wirespeed.tools import profile

QUICK = dict(min_time=0.02, reps=3)


@pytest.fixture(scope="module")
def prof():
    keys = {"loop", "call", "cmpxchg", "lock_cmpxchg", "l1_hit", "mem_miss", "getppid", "py_call",
            "py_to_core", "amortised", "ring_mpmc", "ring_mpmc_bulk16", "pool_256", "pool_nocache_256",
            "rings"}
    return profile.measure(only=keys, mem_size=256 << 20, batches=(1, 64), **QUICK)


def ns(prof, key):
    return next(s.ns for s in prof.samples if s.key == key)


def test_memory_miss_dwarfs_l1_hit(prof):
    assert ns(prof, "mem_miss") > 5 * ns(prof, "l1_hit")


def test_system_call_costs_more_than_function_call(prof):
    assert ns(prof, "getppid") > ns(prof, "call")


def test_python_calls_cost_more_than_c_calls(prof):
    assert ns(prof, "py_call") > ns(prof, "call")
    assert ns(prof, "py_to_core") > ns(prof, "call")


def test_batching_amortises_the_system_call(prof):
    one, sixty_four = prof.amortised
    assert one.batch == 1 and sixty_four.batch == 64
    assert sixty_four.syscall_ns < one.syscall_ns / 8
    assert sixty_four.lock_ns < one.lock_ns


def test_cycles_and_ns_agree_through_the_tsc(prof):
    for s in prof.samples:
        if s.ns > 1:
            assert s.cycles / s.ns == pytest.approx(prof.tsc_hz / 1e9, rel=0.05), s.key


def test_timebench_rounds_to_whole_batches():
    assert core.timebench("malloc_free_256", 1)[2] == 256
    assert core.timebench("syscall_per_batch", 10, 4)[2] == 12


def test_timebench_rejects_bad_calls():
    with pytest.raises(ValueError):
        core.timebench("nosuch", 10)
    with pytest.raises(ValueError):
        core.timebench("lock_per_batch", 10, 0)
    with pytest.raises(RuntimeError):
        core.timebench("chase", 10)


def test_chase_sizes_straddle_the_caches():
    caches = {"L1": 48 << 10, "L2": 2 << 20, "L3": 64 << 20}
    sizes = profile.chase_sizes(caches, None)
    assert sizes["l1_hit"] < caches["L1"] < sizes["l2_hit"] < caches["L2"] < sizes["l3_hit"] < caches["L3"]
    assert sizes["mem_miss"] >= 4 * caches["L3"]


def test_bad_cpu_is_a_usage_error():
    from wirespeed.base.errors import UsageError

    with pytest.raises(UsageError):
        profile.measure(cpu=4096, only={"loop"}, **QUICK)


def test_bulk_amortises_the_ring(prof):
    # Counted, not timed: on this CPU an uncontended LOCK costs about what a plain cmpxchg does,
    # so what bulk and the pool's cache save in time is within the noise of a shared machine
    # (bench/ and `wirespeed budget` measure it).
    one, sixty_four = prof.rings
    assert one["mpmc_lock_ops_per_handle"] == 2.0  # one CAS to enqueue, one to dequeue
    assert sixty_four["mpmc_lock_ops_per_handle"] == 2.0 / 64
