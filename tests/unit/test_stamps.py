"""Latency from the kernel's transmit stamps (runner.stamps): the sender's records joined with the
receiver's by stream and sequence; the histogram the same as the C core's."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from wirespeed.runner import stamps, stats


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**40), min_size=1, max_size=50))
def test_buckets_are_the_c_cores(values):
    lower = stats.hist_lower_bounds()
    b = stamps.buckets(np.array(values, np.uint64))
    for v, k in zip(values, b):
        assert lower[k] <= v and (k + 1 == len(lower) or v < lower[k + 1]), (v, k)


def _rec(key: int, ns: int) -> int:
    return key << 32 | ns


def test_join_takes_the_senders_share_off_each_frame():
    # stream 1, seq 0..999: each frame waited 500 + seq ns in the sender and took 2,000 ns from its stamp
    tx = np.array([_rec(1 << 28 | q, 500 + q) for q in range(1000)] + [_rec(1 << 28 | 5, 7)], np.uint64)  # a later record
    rx = np.array([_rec(1 << 28 | q, 2000) for q in range(1000)] + [_rec(2 << 28 | 3, 900)], np.uint64)  # unmatched
    j = stamps.join(tx, rx)
    assert j["samples"] == 1000 and j["unmatched"] == 1 and j["negative"] == 0
    assert j["min_ns"] == 2000 - 1499 and j["max_ns"] == 2000 - 7  # seq 5: its latest record, 7 ns
    assert abs(j["p50_ns"] - (2000 - 1000)) < 20 and abs(j["send_delay_p50_ns"] - 1000) < 20


def test_join_with_nothing_and_rings_that_wrapped():
    assert stamps.join(np.zeros(0, np.uint64), np.array([5], np.uint64)) == {"samples": 0, "unmatched": 1}
    ring = np.arange(8, dtype=np.uint64)
    assert list(stamps.ring_records(ring, 5)) == [0, 1, 2, 3, 4]
    assert list(stamps.ring_records(ring, 11)) == [3, 4, 5, 6, 7, 0, 1, 2]  # the last 8 of 11, oldest first


def test_a_stamps_file_of_an_earlier_run_is_not_joined(tmp_path):
    import os
    import time

    from wirespeed.tools import sink

    path = tmp_path / "tx.npy"
    np.save(path, np.arange(4, dtype=np.uint64))
    os.utime(path, (time.time() - 60, time.time() - 60))  # left by a run a minute ago
    assert sink.read_tx_stamps(str(path), since=time.time() - 1, wait_s=0.2) is None
    np.save(path, np.arange(4, dtype=np.uint64))  # this run's
    assert list(sink.read_tx_stamps(str(path), since=time.time() - 1, wait_s=0.2)) == [0, 1, 2, 3]


def test_a_udp_receivers_datagrams_carry_the_kernels_receive_stamp():
    """Loopback, no privilege: eight datagrams 2 ms apart, read 50 ms after the last. Each one's
    receive time is the kernel's stamp of it (SO_TIMESTAMPNS), taken when it arrived, not the
    clock of the batch that read them all at once."""
    import socket
    import time

    from helpers import assert_stamped_on_arrival, send_spaced
    from wirespeed import core
    from wirespeed.base.netns import Where
    from wirespeed.ports.udp import UdpPort

    port = UdpPort(Where("lo"), ("127.0.0.1", 0), batch=16)
    try:
        # the kernel turns receive stamping on for the system from a work queue: a datagram that
        # came first (CI once) was stamped when read; a sink is up well before its traffic
        time.sleep(0.05)
        to = port.sock.getsockname()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            sent = send_spaced(lambda i: tx.sendto(bytes([i]) * 32, to))
        off, lens, ts = np.zeros(16, np.uint64), np.zeros(16, np.uint32), np.zeros(16, np.uint64)
        read_at = time.time_ns()
        n = port._rx.rx_burst(off, lens, ts, np.zeros(core.N_COUNTERS, np.uint64), 100)
    finally:
        port.close()
    assert n == 8 and list(lens[:n]) == [32] * 8
    assert_stamped_on_arrival(ts[:n], sent, read_at)
