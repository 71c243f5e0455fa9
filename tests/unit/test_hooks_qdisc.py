"""Hooks and the queueing discipline (fwd end to end is in kernel/test_fwd.py)."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import build, cfg_for, inet_sum, parse
from wirespeed import core
from wirespeed.tools import hooks
from wirespeed.base.errors import UsageError
from wirespeed.tools.gen import Range
from wirespeed.tools.hooks import DROP, PASS, HookBatch

STRIDE = 2048


def batch_of(frames: list[bytes]) -> HookBatch:
    data = np.zeros(len(frames) * STRIDE, np.uint8)
    for i, f in enumerate(frames):
        data[i * STRIDE : i * STRIDE + len(f)] = np.frombuffer(f, np.uint8)
    return HookBatch(data, np.arange(len(frames), dtype=np.uint64) * STRIDE,
                     np.array([len(f) for f in frames], np.uint32), np.full(len(frames), PASS, np.uint8))


def frames_of(b: HookBatch) -> list[bytes]:
    return [bytes(b.frame(i)) for i in range(b.n)]


# --- hooks -----------------------------------------------------------------------------------

def staged(frames: list[bytes]) -> HookBatch:
    """The forwarder's layout: frame i starts row i, offsets left to the batch to work out."""
    b = batch_of(frames)
    return HookBatch(b.data, None, b.lengths, b.verdicts, b.data.reshape(-1, STRIDE))


@pytest.mark.parametrize("layout", ["offsets", "indexed rows", "staged rows"])
def test_mac_swap(layout):
    frames, _ = build(cfg_for(), 5)
    b = staged(frames) if layout == "staged rows" else batch_of(frames)
    if layout == "indexed rows":  # frames in pool buffers picked by index
        b.rows, b.index = b.data.reshape(-1, STRIDE), np.arange(5, dtype=np.intp)
    hooks.mac_swap(b)
    for before, after in zip(frames, frames_of(b)):
        assert after[:6] == before[6:12] and after[6:12] == before[:6] and after[12:] == before[12:]


@pytest.mark.parametrize("ttl", [2, 64, 255, 1])
def test_ttl_dec_keeps_the_ipv4_checksum_valid(ttl):
    frames, _ = build(cfg_for(ttl=ttl, tos=0x2E), 4)
    b = batch_of(frames)
    hooks.ttl_dec(b)
    if ttl == 1:
        assert (b.verdicts == DROP).all()
        return
    assert (b.verdicts == PASS).all()
    for f in frames_of(b):
        assert f[22] == ttl - 1
        assert inet_sum(f[14:34]) == 0xFFFF  # the header checksum checks out
        parse(f)


def test_ttl_dec_ipv6_hop_limit():
    frames, _ = build(cfg_for(ipv6=True, size=128, ttl=9), 3)
    b = batch_of(frames)
    hooks.ttl_dec(b)
    assert [f[21] for f in frames_of(b)] == [8, 8, 8]


@pytest.mark.parametrize("layout", [batch_of, staged])
def test_drop_udp_port_drops_only_that_port(layout):
    frames, _ = build(cfg_for(dports=Range(9, 3)), 9)  # ports 9, 10, 11, 9, 10, 11 ...
    six, _ = build(cfg_for(ipv6=True, size=128, dports=Range(10, 1)), 2)
    b = layout(frames + six)
    hooks.drop_udp_port(10)(b)
    ports = [parse(f)["dport"] for f in frames + six]
    assert [v == DROP for v in b.verdicts] == [p == 10 for p in ports]


@pytest.mark.parametrize("vlans, mpls", [((7,), ()), ((7, 100), ()), ((), (16,)), ((5,), (16, 17))])
@pytest.mark.parametrize("ipv6", [False, True])
def test_hooks_see_under_tags_and_labels(vlans, mpls, ipv6):
    """ttl_dec and drop_udp_port find IP under VLAN tags and MPLS labels, as the sink does: under
    tags the IP TTL (checksum still valid), with labels the top label's TTL (the IP inside left
    alone); the port found under both."""
    import dpkt

    frames, _ = build(cfg_for(ipv6=ipv6, size=160, vlans=vlans, mpls=mpls, dports=Range(9, 2)), 4)
    b = batch_of(frames)
    l3, version, label = b.l3()
    at = 14 + 4 * (len(vlans) + len(mpls))
    assert list(l3) == [at] * 4 and list(version) == [6 if ipv6 else 4] * 4
    assert list(label) == ([14 + 4 * len(vlans)] * 4 if mpls else [0] * 4)
    hooks.ttl_dec(b)
    for before, after in zip(frames, frames_of(b)):
        if mpls:
            top = 14 + 4 * len(vlans) + 3
            assert after[top] == before[top] - 1 and after[at:] == before[at:]
        else:
            ip = (dpkt.ip6.IP6 if ipv6 else dpkt.ip.IP)(after[at:])
            assert (ip.hlim if ipv6 else ip.ttl) == 63
            if not ipv6:
                assert inet_sum(after[at:at + 20]) == 0xFFFF
    b = batch_of(frames)
    hooks.drop_udp_port(10)(b)
    assert list(b.verdicts) == [PASS, DROP, PASS, DROP]


def test_hook_specs():
    assert hooks.load("mac-swap") is hooks.mac_swap
    assert hooks.load("drop-udp:53").__name__ == "drop_udp_port(53)"
    assert hooks.load("wirespeed.tools.hooks:ttl_dec") is hooks.ttl_dec
    for bad, needle in [("nosuch.module:f", "cannot import"), ("wirespeed.tools.hooks:nothing", "no callable"),
                        ("drop-udp:x", "port number"), ("drop-udp:0", "1..65535"), ("justaname", "module:function")]:
        with pytest.raises(UsageError, match=needle):
            hooks.load(bad)


# --- the queueing discipline -----------------------------------------------------------------

def descs(indices, length=60):
    return np.array([i | (length << core.QD_KEY_BITS) for i in indices], np.uint64)


def test_prio_serves_bands_in_order_and_pfifo_in_arrival_order():
    q = core.Qdisc(3, 64)
    d = descs(range(6))
    bands = np.array([2, 1, 0, 2, 0, 1], np.uint32)
    assert q.enqueue(d, bands, 6, np.zeros(6, np.uint64)) == 0
    out = np.zeros(6, np.uint64)
    assert q.dequeue(out, 6) == 6
    assert (out & 0xFFFFFFFF).tolist() == [2, 4, 1, 5, 0, 3]
    f = core.Qdisc(1, 64)
    f.enqueue(d, np.zeros(6, np.uint32), 6, np.zeros(6, np.uint64))
    assert f.dequeue(out, 6) == 6 and (out & 0xFFFFFFFF).tolist() == list(range(6))


def test_band_from_dscp():
    q = core.Qdisc(3, 64)
    frames = [build(cfg_for(tos=tos), 1)[0][0] for tos in (46 << 2, 0, 8 << 2, 48 << 2)]
    b = batch_of(frames)
    out = np.zeros(4, np.uint32)
    q.classify(b.data, b.offsets, b.lengths, 4, out)
    assert out.tolist() == [0, 1, 2, 0]  # EF, best effort, CS1 (lower effort), CS6


def test_byte_budget_bounds_a_bulk_dequeue():
    q = core.Qdisc(1, 64, True, 1000)
    q.enqueue(descs(range(40), 300), np.zeros(40, np.uint32), 40, np.zeros(40, np.uint64))
    out = np.zeros(40, np.uint64)
    assert q.dequeue(out, 40) == 4  # 3 x 300 < 1000, the 4th crosses it (as BQL allows)


def test_tail_drop_hands_back_what_did_not_fit():
    q = core.Qdisc(1, 8)
    dropped = np.zeros(12, np.uint64)
    assert q.enqueue(descs(range(12)), np.zeros(12, np.uint32), 12, dropped) == 4
    assert (dropped[:4] & 0xFFFFFFFF).tolist() == [8, 9, 10, 11]
    assert q.stats()["dropped"] == 4 and q.stats()["backlog"] == 8


def test_bypass_only_into_an_empty_idle_queue():
    q = core.Qdisc(1, 64)
    assert q.try_bypass()  # empty, idle: the token is ours
    assert not q.try_bypass() and not q.run_begin()  # someone transmits
    q.run_end(5)
    q.enqueue(descs([1]), np.zeros(1, np.uint32), 1, np.zeros(1, np.uint64))
    assert not q.try_bypass()  # something waits: no overtaking it
    assert q.stats()["bypassed"] == 5


@pytest.mark.parametrize("bulk,bypass,expected", [(False, False, 2.0), (True, False, 2 / 64), (True, True, 1 / 64)])
def test_lock_ops_per_packet_fall_with_bulk_and_bypass(bulk, bypass, expected):
    _, _, packets, locks = core.qdisc_bench(bulk, bypass, 64, 64 * 1000)
    assert locks / packets == pytest.approx(expected)
