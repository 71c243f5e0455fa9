"""The walks the C core keeps per frame by additions (gen_walk_next), against their definition:
frame k of a run takes, in each incrementing field, the value lo + (k mod flows) mod count (k
itself without --flows), the size sizes[k mod n], and in a raw --field lo + (k mod flows) * step
mod span (dec: from the top). Frames taken back (a socket that took fewer) come again the same,
the walks set back by their definition."""

from __future__ import annotations

import dataclasses
import ipaddress
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import build, cfg_for, parse
from wirespeed.base.packet import FCS
from wirespeed.base.units import FrameMix, Range
from wirespeed.tools.gen import make_gen, spread_sizes

STRIDE = 2048
MIX = FrameMix("mix", (96, 160, 300), (3, 2, 1))  # a mix that fits IPv6's headers too


def _frames(g, counts: list[int], back: list[int]) -> list[bytes]:
    """Build counts[i] frames, then take back[i] of them again, in turn: the frames that stay."""
    out: list[bytes] = []
    for n, b in zip(counts, back):
        buf, lens = np.zeros(n * STRIDE, np.uint8), np.zeros(n, np.uint32)
        assert g.build(buf, STRIDE, lens) == n
        out += [bytes(buf[i * STRIDE : i * STRIDE + lens[i]]) for i in range(n)]
        b = min(b, n)
        if b:
            g.unbuild(b)
            del out[len(out) - b :]
    return out


def _walk(k: int, flows: int, lo: int, count: int) -> int:
    return lo + (k % flows if flows else k) % count


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_header_fields_and_sizes_follow_the_frame_number(data):
    flows = data.draw(st.sampled_from([0, 1, 3, 7, 10, 64]))
    counts = [data.draw(st.integers(1, 9)) for _ in range(4)]
    ipv6 = data.draw(st.booleans())
    cfg = cfg_for(ipv6=ipv6, size=data.draw(st.sampled_from([128, MIX])), flows=flows, stamp=False,
                  src_ips=Range(0xC6120001, counts[0]), dst_ips=Range(0xC6120101, counts[1]),
                  sports=Range(1000, counts[2]), dports=Range(2000, counts[3]))
    chunks = [data.draw(st.integers(1, 40)) for _ in range(4)]
    back = [data.draw(st.integers(0, 12)) for _ in range(4)]
    got = _frames(make_gen(cfg), chunks, back)
    want, _ = build(cfg, len(got))  # one run straight through: the reference
    assert got == want
    sizes = [s - FCS for s in spread_sizes(cfg.frame)]
    for k, f in enumerate(got):
        p = parse(f)
        low = lambda a: int(a) & 0xFFFFFFFF  # noqa: E731
        assert low(p["src"]) == _walk(k, flows, 0xC6120001, counts[0])
        assert low(p["dst"]) == _walk(k, flows, 0xC6120101, counts[1])
        assert (p["sport"], p["dport"]) == (_walk(k, flows, 1000, counts[2]), _walk(k, flows, 2000, counts[3]))
        assert len(f) == sizes[k % len(sizes)]


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_raw_fields_follow_the_frame_number(data):
    base, _ = build(cfg_for(size=96, stamp=False), 1)
    flows = data.draw(st.sampled_from([0, 1, 5, 12]))
    fields = []
    for off in (26, 34, 36):  # source address, source and destination ports
        width = 4 if off == 26 else 2
        span = data.draw(st.integers(1, 20))
        fields.append((off, width, data.draw(st.sampled_from([0, 1])), 100, span, data.draw(st.integers(1, 45))))
    cfg = dataclasses.replace(cfg_for(size=96, stamp=False), raw=base[0], raw_fields=tuple(fields), raw_fix=True,
                              flows=flows)
    chunks = [data.draw(st.integers(1, 30)) for _ in range(3)]
    back = [data.draw(st.integers(0, 10)) for _ in range(3)]
    got = _frames(make_gen(cfg), chunks, back)
    assert got == build(cfg, len(got))[0]
    for k, f in enumerate(got):
        parse(f)  # the checksums fixed
        kk = k % flows if flows else k
        for off, width, mode, lo, span, step in fields:
            v = int.from_bytes(f[off : off + width], "big")
            at = kk * step % span
            assert v == (lo + span - 1 - at if mode == 1 else lo + at), (off, k)


def test_random_values_spread_over_their_range():
    """--vary random takes each value from the high bits of the generator's word by a multiply
    (no division): every value of a small range comes, none outside it, about evenly."""
    cfg = cfg_for(vary="random", sports=Range(5000, 7), dst_ips=Range(int(ipaddress.IPv4Address("198.18.1.2")), 3))
    frames, _ = build(cfg, 7000)
    ports = np.array([struct.unpack("!H", f[34:36])[0] for f in frames])
    values, n = np.unique(ports, return_counts=True)
    assert list(values) == list(range(5000, 5007))
    assert n.min() > 800 and n.max() < 1200
