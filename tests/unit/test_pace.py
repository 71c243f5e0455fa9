"""The generator's schedule (csrc/pace.h) on a fake clock: what is due goes, never more, never
held back to fill a batch; after a stall at most max_burst frames catch up, the rest is skipped
and counted; the departure statistics tell all of it."""

from __future__ import annotations

import numpy as np
import pytest

from wirespeed import core

D = core.D
US = 1000


def simulate(interval: float, times, max_burst: int = 32, batch: int = 64, take=None, lead: int = 0,
             call: int = 0):
    times = np.asarray(times, np.uint64)
    sent = np.zeros(len(times), np.uint32)
    take = np.full(len(times), 2**32 - 1, np.uint32) if take is None else np.asarray(take, np.uint32)
    stats = np.zeros(core.PACE_STATS_WORDS, np.uint64)
    core.pace_simulate(float(interval), max_burst, batch, times, sent, take, stats, lead, call)
    return sent, stats


def due_by(t, interval, t0):
    return int((t - t0) // interval) + 1


def test_a_fast_loop_sends_each_frame_at_its_own_time():
    t = np.arange(0, 10_000 * US, 1 * US) + 5 * US  # a loop every µs for 10 ms, frames every 10 µs
    sent, st = simulate(10 * US, t)
    assert sent.max() == 1 and sent.sum() == 1000
    assert (np.cumsum(sent) <= [due_by(x, 10 * US, t[0]) for x in t]).all()  # nothing early
    assert st[D["skipped"]] == 0 and st[D["max_burst"]] == 1
    hist = st[len(D):]
    assert hist.sum() == 999 and abs(int(np.flatnonzero(hist)[0]) - int(np.flatnonzero(hist)[-1])) <= 1
    assert st[D["gap_max_ns"]] == 10 * US


def test_a_batch_is_never_waited_for():
    """batch 64 at a low rate: one frame per loop, each when due; none held for the rest."""
    t = np.arange(0, 50_000 * US, 7 * US)
    sent, st = simulate(100 * US, t, batch=64)
    assert sent.max() == 1 and st[D["max_burst"]] == 1


def test_at_high_rates_batches_form_by_themselves():
    t = np.arange(0, 1000 * US, 1 * US)  # the loop takes a µs, frames are due every 100 ns
    sent, st = simulate(100, t, batch=64)
    assert 9 <= np.median(sent[1:]) <= 10 and st[D["skipped"]] == 0
    assert sent.sum() == pytest.approx(10_000, abs=10)


def test_after_a_stall_at_most_max_burst_frames_catch_up_and_the_rest_is_skipped():
    t = np.concatenate([np.arange(0, 1000 * US, US), np.arange(2000 * US, 3000 * US, US)])  # 1 ms stall
    sent, st = simulate(10 * US, t, max_burst=32)
    after = np.searchsorted(t, 2000 * US)
    due = due_by(2000 * US, 10 * US, 0) - 100  # slots 100..200 fell due during the stall
    assert sent[after] == 32  # the catch-up, bounded
    assert st[D["skipped"]] == due - 32 and st[D["max_burst"]] == 32
    assert st[D["slots"]] == sent.sum() + st[D["skipped"]]  # intended = sent + skipped, nothing hidden
    assert st[D["behind_ns"]] >= 1000 * US  # the stall was time behind schedule


def test_a_device_without_room_delays_frames_within_the_bound():
    t = np.arange(0, 2000 * US, US)
    take = np.where((t > 500 * US) & (t < 700 * US), 0, 2**32 - 1)  # the ring is full for 200 µs
    sent, st = simulate(10 * US, t, max_burst=32, take=take)
    assert st[D["skipped"]] == 0  # 20 frames late (due at 510 .. 700 µs): within the bound, all sent
    assert sent.max() == 20 and sent.sum() == 200


def test_unpaced_sends_full_batches():
    t = np.arange(0, 100 * US, US)
    sent, st = simulate(0, t, batch=64)
    assert (sent == 64).all() and st[D["skipped"]] == 0


def test_kernel_timed_frames_go_one_lead_ahead_and_a_short_stall_skips_nothing():
    """lead 500 µs (--pace kernel): frames due within the lead are handed over early (the kernel
    holds each until its time); a 400 µs stall then costs nothing, and the catch-up bound counts
    only frames already late."""
    t = np.concatenate([np.arange(0, 1000 * US, US), np.arange(1400 * US, 3000 * US, US)])
    sent, st = simulate(10 * US, t, max_burst=4, lead=500 * US)
    handed = np.cumsum(sent)
    i = np.searchsorted(t, 200 * US)
    assert handed[i] == due_by(200 * US + 500 * US, 10 * US, 0)  # 500 µs worth ahead
    assert st[D["skipped"]] == 0  # the stall was shorter than the lead
    assert st[D["slots"]] == sent.sum() == due_by(2999 * US + 500 * US, 10 * US, 0)


def test_kernel_timed_a_stall_longer_than_the_lead_skips_what_is_late_beyond_the_bound():
    t = np.concatenate([np.arange(0, 1000 * US, US), np.arange(2000 * US, 3000 * US, US)])
    sent, st = simulate(10 * US, t, max_burst=4, lead=200 * US)
    late = due_by(2000 * US, 10 * US, 0) - due_by(999 * US + 200 * US, 10 * US, 0)  # due during the stall, not handed over
    assert st[D["skipped"]] == late - 4
    assert st[D["slots"]] == sent.sum() + st[D["skipped"]]


def loop_of(call_ns: int, seconds_ns: int = 10_000 * US):
    """A send loop whose calls take call_ns each: the times it looks at the clock."""
    return np.arange(0, seconds_ns, call_ns, dtype=np.uint64) + 5 * US


def test_near_its_ceiling_a_batch_is_what_falls_due_during_one_send_call():
    """Frames every 1 µs, each send call 4 µs: one frame per call would fall 3 µs further behind
    every call; instead each call takes the frames due before it returns (about 4), none of them
    earlier than one call's time, and nothing is skipped."""
    t = loop_of(4 * US)
    sent, st = simulate(1 * US, t, call=4 * US)
    assert st[D["skipped"]] == 0
    assert 3 <= np.median(sent[10:]) <= 5 and sent.max() <= 8
    early = np.cumsum(sent) - np.array([due_by(x, 1 * US, t[0]) for x in t])
    assert early.max() <= 4 + 1  # at most one call's time (4 frames) ahead of the schedule


def test_at_a_low_rate_the_send_calls_time_sends_nothing_early():
    """Frames every 50 µs, calls of 4 µs: still one frame per call, each at its own time."""
    t = loop_of(1 * US)
    sent, st = simulate(50 * US, t, call=4 * US)
    assert sent.max() == 1 and st[D["skipped"]] == 0 and st[D["max_burst"]] == 1


def test_a_slow_call_makes_the_batch_no_larger_than_its_bound():
    """A stalled call (1 ms) is counted as at most PACE_AHEAD_MAX_NS (32 µs) of look-ahead."""
    t = loop_of(1000 * US, 20_000 * US)
    sent, st = simulate(1 * US, t, call=1000 * US)
    early = np.cumsum(sent) - np.array([due_by(x, 1 * US, t[0]) for x in t])
    assert early.max() <= 32 + 1


def test_the_look_ahead_never_makes_a_burst_beyond_max_burst():
    """A stall, then the loop back at one call per µs with calls of 4 µs at one frame per µs:
    the catch-up sends max_burst, and the frames sent early after it never stretch that run."""
    t = np.concatenate([loop_of(4 * US, 100 * US), loop_of(4 * US, 1_000 * US) + 3_000 * US])
    sent, st = simulate(1 * US, t, max_burst=8, call=4 * US)
    assert st[D["max_burst"]] <= 8 and st[D["skipped"]] > 0
