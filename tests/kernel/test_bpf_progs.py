"""The XDP programs loaded and run by the kernel (BPF_PROG_TEST_RUN): counts, verdicts, the
in-kernel generator's per-frame work checked against a model and an independent checksum."""

from __future__ import annotations

import ipaddress
import os
import socket

import numpy as np

import pytest

from helpers import DST4, DST6, SRC4, SRC6, STRIDE, cfg_for
from wirespeed import core
from wirespeed.bpf import MAP_ARRAY, BpfError, Map, Prog, possible_cpus, progs
from wirespeed.bpf.asm import R0, R1, XDP_DROP, XDP_PASS, XDP_TX, Program
from wirespeed.ports import kernel
from wirespeed.base.packet import Tunnel
from wirespeed.tools.gen import Range, make_gen


def builder_frames(cfg, worker: int, n: int) -> list[bytes]:
    """The C builder's first n frames for this worker, their send times zero: what the kernel's
    program must make of its template, byte for byte."""
    g = make_gen(cfg, worker)
    buf, lens = np.zeros(n * STRIDE, np.uint8), np.zeros(n, np.uint32)
    g.build(buf, STRIDE, lens, False)
    return [buf[i * STRIDE: i * STRIDE + int(lens[i])].tobytes() for i in range(n)]


def scapy_checksums_hold(frame: bytes) -> bool:
    """Scapy's own reading: every checksum it knows (IPv4, UDP, TCP, ICMP, ICMPv6, inner and
    outer) recomputed from scratch gives the frame's bytes back. A zero UDP checksum (none, over
    IPv4) is left as it is."""
    scapy = pytest.importorskip("scapy.all", reason="Scapy is an optional extra (CI installs it with [test])")
    scapy.load_contrib("geneve")
    p = scapy.Ether(frame)
    layer = p
    while layer:
        if "chksum" in layer.fields and layer.chksum:  # (ICMPv6's field is cksum)
            del layer.chksum
        if "cksum" in layer.fields:
            del layer.cksum
        layer = layer.payload if layer.payload else None
    return bytes(p) == frame


VX = dict(src_mac=bytes.fromhex("02aa00000001"), dst_mac=bytes.fromhex("02aa00000002"))
OUT4 = (ipaddress.IPv4Address("198.18.2.1"), ipaddress.IPv4Address("198.18.2.2"))
OUT6 = (ipaddress.IPv6Address("2001:2::a"), ipaddress.IPv6Address("2001:2::b"))
STACKS = {  # gen's layers; the program must rewrite each as the C builder builds it
    "udp": {}, "vlan": {"vlans": (7,)}, "qinq": {"vlans": (7, 100), "pcp": 5}, "mpls": {"mpls": (16, 1048575)},
    "tcp": {"proto": "tcp"}, "icmp": {"proto": "icmp"},
    "vxlan": {"tunnel": Tunnel("vxlan", 77, *VX.values(), *OUT4)},
    "vxlan6": {"tunnel": Tunnel("vxlan", 77, *VX.values(), *OUT6)},  # the outer UDP checksum covers the inner
    "geneve6+tcp": {"tunnel": Tunnel("geneve", 5, *VX.values(), *OUT6), "proto": "tcp"},
    "gre+vlan": {"tunnel": Tunnel("gre", 9, *VX.values(), *OUT4), "vlans": (3,)},
    "gre6+icmp": {"tunnel": Tunnel("gre", -1, *VX.values(), *OUT6), "proto": "icmp"},
}


def _ranges(ipv6: bool) -> dict:
    """Five source addresses, three destinations, six destination ports (ICMP has none)."""
    src, dst = (int(a) & 0xFFFFFFFF for a in ((SRC6, DST6) if ipv6 else (SRC4, DST4)))
    return dict(src_ips=Range(src, 5), dst_ips=Range(dst, 3), dports=Range(7000, 6))


@pytest.mark.parametrize("vary", ["sport", "all"])
@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("stack", STACKS)
def test_gen_live_makes_the_builders_frames_under_every_layer(stack, ipv6, vary):
    """Run the generator program on its template (no live frames: data_out comes back): frame k
    is the C builder's frame k byte for byte (the sequence, the source port or ICMP identifier
    over 10 flows of a range of 4, with "all" the addresses and destination port too; the L4
    checksum, the IPv4 header's, a tunnel's outer one), and Scapy finds every checksum right."""
    cfg = cfg_for(ipv6, 190, sports=Range(4000, 4), flows=10, **STACKS[stack], **(_ranges(ipv6) if vary == "all" else {}))
    want = builder_frames(cfg, 2, 24)
    frame, layout = kernel.template(make_gen(cfg, 2), key=0)
    assert frame == want[0] and layout.seq_base >> 28 == 2 and (10, 4) in [f.mods for f in layout.fields]
    assert len(layout.fields) == (1 if vary == "sport" else 3 if STACKS[stack].get("proto") == "icmp" else 4)
    state = Map(MAP_ARRAY, progs.SLOT, 1, "ws_t_gen", mmapable=True)
    words = state.words()[0]
    words[progs.GEN_LIMIT] = kernel.NO_LIMIT
    p = Prog(progs.gen_live(layout), {"state": state})
    try:
        for k in range(24):
            out = core.bpf_prog_test_run_data(p.fd, frame)
            assert out[0] == XDP_TX
            assert out[1] == want[k], f"frame {k}"
        assert scapy_checksums_hold(out[1]) and scapy_checksums_hold(want[5])
        assert int(words[progs.GEN_SENT]) == 24  # the program counts into the port's counters
        assert int(words[core.C["bytes"]]) == 0  # bytes: packets x the one frame length, by the run loop
    finally:
        p.close()
        state.close()


@pytest.mark.parametrize("flows, count, mods", [(0, 100, (100,)), (7, 100, (7,)), (8, 4, (4,)), (10, 4, (10, 4)),
                                                (1, 100, ()), (0, 1, ())])
def test_the_programs_port_walk_is_the_builders(flows, count, mods):
    cfg = cfg_for(False, 128, sports=Range(4000, count), flows=flows)
    assert [f.mods for f in kernel.template(make_gen(cfg), key=0)[1].fields] == ([mods] if mods else [])


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("proto", ["udp", "tcp", "icmp"])
def test_gen_live_random_fields_stay_in_their_ranges_with_valid_checksums(ipv6, proto):
    """--vary random on the in-kernel generator: each field from the kernel's random numbers,
    in its range; the addresses and ports spread; every checksum right (Scapy)."""
    cfg = cfg_for(ipv6, 160, sports=Range(4000, 50), vary="random", proto=proto, **_ranges(ipv6))
    frame, layout = kernel.template(make_gen(cfg), key=0)
    assert all(f.random for f in layout.fields)
    state = Map(MAP_ARRAY, progs.SLOT, 1, "ws_t_gen", mmapable=True)
    state.words()[0, progs.GEN_LIMIT] = kernel.NO_LIMIT
    p = Prog(progs.gen_live(layout), {"state": state})
    seen = {f.off: set() for f in layout.fields}
    try:
        for _ in range(64):
            retval, out = core.bpf_prog_test_run_data(p.fd, frame)
            assert retval == XDP_TX and scapy_checksums_hold(out)
            for f in layout.fields:
                v = int.from_bytes(out[f.off: f.off + f.width], "big")
                assert f.lo <= v < f.lo + f.random
                seen[f.off].add(v)
        assert all(len(v) > 1 for v in seen.values()), seen
    finally:
        p.close()
        state.close()


def test_xdp_count_counts_and_drops_into_the_counters_of_its_cpu():
    m = Map(MAP_ARRAY, progs.SLOT, possible_cpus(), "ws_t_count", mmapable=True)
    p = Prog(progs.xdp_count(), {"counters": m})
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})  # both runs on one CPU: the scheduler may move us between them
    try:
        retval, _, calls, err = core.bpf_prog_run(p.fd, bytes(60), None, 1000)
        assert (retval, calls, err) == (XDP_DROP, 1, 0)
        retval, _, _, _ = core.bpf_prog_run(p.fd, bytes(100), None, 10)
        words = m.words()  # read in place, as the sink reads it
        assert words[:, [core.C["packets"], core.C["bytes"]]].sum(axis=0).tolist() == [1010, 1000 * 60 + 10 * 100]
        assert (words[:, core.C["packets"]] > 0).sum() == 1  # one CPU ran it
    finally:
        os.sched_setaffinity(0, cpus)
        p.close()
        m.close()


@pytest.mark.parametrize("verdict", [XDP_PASS, XDP_DROP])
def test_verdict_programs(verdict):
    p = Prog(progs.xdp_verdict(verdict))
    try:
        assert core.bpf_prog_run(p.fd, bytes(60))[0] == verdict
    finally:
        p.close()


def test_gen_live_stops_at_its_limit():
    frame, layout = kernel.template(make_gen(cfg_for()), key=0)
    state = Map(MAP_ARRAY, progs.SLOT, 1, "ws_t_gen", mmapable=True)
    state.words()[0, progs.GEN_LIMIT] = 3
    p = Prog(progs.gen_live(layout), {"state": state})
    try:
        verdicts = [core.bpf_prog_test_run_data(p.fd, frame)[0] for _ in range(5)]
        assert verdicts == [XDP_TX] * 3 + [XDP_DROP] * 2
    finally:
        p.close()
        state.close()


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("kind", ["plain", "ranges", "raw"])
def test_gen_live_rewrites_a_header_a_forwarder_changed_and_leaves_a_clean_one(ipv6, kind):
    """Live frames come back as the receiver left them: a frame whose MACs, or TTL and IP
    checksum (IPv6: hop limit), were rewritten downstream leaves as the template again. With
    address ranges, and a frame given whole with a field on its source address (in the word the
    program compares, which leaves the varying bytes out: the field, the header checksum),
    likewise."""
    src = 14 + (8 if ipv6 else 12)
    cfg = {"plain": lambda: cfg_for(ipv6, 128), "ranges": lambda: cfg_for(ipv6, 128, **_ranges(ipv6)),
           "raw": lambda: _raw_cfg(ipv6, "udp", ((src + 2, 2, 0, 100, 7, 1),), True)}[kind]()
    frame, layout = kernel.template(make_gen(cfg), key=0, limited=False)
    want = builder_frames(cfg, 0, 3)
    state = Map(MAP_ARRAY, progs.SLOT, 1, "ws_t_gen", mmapable=True)
    p = Prog(progs.gen_live(layout), {"state": state})
    ttl_at = 14 + (7 if ipv6 else 8)
    try:
        forwarded = bytearray(frame)
        forwarded[0:12] = bytes.fromhex("02aabbccddee02ffeeddccbb")  # next hop's MACs
        routed = bytearray(frame)
        routed[ttl_at] -= 1
        if not ipv6:
            routed[24:26] = b"\x12\x34"  # the header checksum a router rewrote
        for k, sent in enumerate((bytes(forwarded), bytes(routed), frame)):
            retval, out = core.bpf_prog_test_run_data(p.fd, sent)
            assert retval == XDP_TX
            assert out == want[k]  # every checksum valid again
    finally:
        p.close()
        state.close()


def test_gen_live_contains_only_what_the_run_needs():
    """No limit without a count, no schedule without a rate, no flow walk without flows."""
    def listing(**kw) -> str:
        frame, layout = kernel.template(make_gen(cfg_for()), key=0, limited=kw.pop("limited", False))
        import dataclasses
        return progs.gen_live(dataclasses.replace(layout, **kw)).listing()

    bare = listing()
    limit = f"*(u64 *)(r6 +{8 * progs.GEN_LIMIT})"
    assert limit not in bare and "ktime_get_ns" not in bare and "%=" not in bare and "map_lookup_elem" not in bare
    assert limit in listing(limited=True)
    assert "ktime_get_ns" in listing(paced=True)
    walk = (progs.VarField(34, 2, 9, (8,)),)
    assert "%=" in listing(fields=walk)
    assert len(listing(limited=True, paced=True, fields=walk).splitlines()) > len(bare.splitlines()) + 20


def test_a_refused_program_shows_the_verifier_log():
    bad = Program("ws_bad")
    bad.ldx(8, R0, R1, 0)  # an 8-byte read of xdp_md.data: not allowed
    bad.exit()
    with pytest.raises(BpfError) as e:
        Prog(bad)
    assert "verifier log follows" in str(e.value)
    assert "invalid bpf_context access" in e.value.log


def test_xdp_forward_counts_rewrites_the_macs_and_redirects_through_its_devmap():
    """The in-kernel forwarder's program under BPF_PROG_RUN: the frame comes back with the next
    hop's MACs; an empty DEVMAP entry drops it (the fallback in redirect_map's flags), an entry
    redirects. (A frame too short for Ethernet, dropped uncounted, cannot be run: the kernel
    refuses test runs under 14 bytes; the verifier holds the program to that bound.)"""
    from wirespeed.bpf import MAP_DEVMAP
    from wirespeed.bpf.asm import XDP_REDIRECT

    macs = bytes.fromhex("02aabbccddee" "021122334455")
    m = Map(MAP_ARRAY, progs.SLOT, possible_cpus(), "ws_t_fwd", mmapable=True)
    d = Map(MAP_DEVMAP, 4, 1, "ws_t_out")
    p = Prog(progs.xdp_forward(macs), {"counters": m, "out": d})
    frame = bytes(range(60))
    try:
        retval, out = core.bpf_prog_test_run_data(p.fd, frame)[:2]
        assert retval == XDP_DROP and bytes(out) == macs + frame[12:]
        d.update(0, socket.if_nametoindex("lo").to_bytes(4, "little"))
        assert core.bpf_prog_test_run_data(p.fd, frame)[0] == XDP_REDIRECT
        words = m.words()
        assert words[:, [core.C["packets"], core.C["bytes"]]].sum(axis=0).tolist() == [2, 120]
    finally:
        p.close()
        d.close()
        m.close()


def test_xdp_forward_hairpin_sends_back_with_the_senders_mac():
    macs = bytes.fromhex("02aabbccddee" "021122334455")  # the sender's, then IN's own
    m = Map(MAP_ARRAY, progs.SLOT, possible_cpus(), "ws_t_fwd", mmapable=True)
    p = Prog(progs.xdp_forward(macs, hairpin=True), {"counters": m})
    frame = bytes(range(60))
    try:
        retval, out = core.bpf_prog_test_run_data(p.fd, frame)[:2]
        assert retval == XDP_TX and bytes(out) == macs + frame[12:]
        assert int(m.words()[:, core.C["packets"]].sum()) == 1
    finally:
        p.close()
        m.close()


def _raw_cfg(ipv6: bool, proto: str, fields, fix: bool, flows: int = 0):
    """A frame given whole (--template): one of gen's own frames, sent as it is but for fields."""
    import dataclasses

    frame0 = builder_frames(cfg_for(ipv6, 200, proto=proto), 0, 1)[0]
    return dataclasses.replace(cfg_for(ipv6, 200, stamp=False), raw=frame0, raw_fields=fields, raw_fix=fix,
                               flows=flows)


@pytest.mark.parametrize("ipv6, proto", [(False, "udp"), (True, "udp"), (False, "tcp"), (False, "icmp"),
                                         (True, "icmp")])
@pytest.mark.parametrize("fix", [True, False])
def test_gen_live_varies_a_whole_frames_fields_as_the_builder_does(ipv6, proto, fix):
    """--template with --field on the in-kernel generator: an address walking up, a port down by
    3, the TTL (hop limit), a payload byte at an odd place (the low half of its checksum word),
    a payload word whose start, span and step are past an immediate's sign, and a random one; with --fix-checksums the IPv4 header and L4 checksums follow. Frame k is
    the C builder's frame k byte for byte (the random field's bytes aside: in range), and Scapy
    finds every checksum right."""
    l3 = 14
    src = l3 + (8 if ipv6 else 12)
    l4 = l3 + (40 if ipv6 else 20)
    ttl = l3 + (7 if ipv6 else 8)
    fields = ((src + 2, 2, 0, 100, 7, 1), (l4 + (4 if proto == "icmp" else 0), 2, 1, 2000, 50, 3),
              (ttl, 1, 0, 60, 4, 1), (l4 + 45, 1, 1, 7, 200, 1), (l4 + 40, 4, 0, 0x80000000, 0x30000000, 0x9E3779B1),
              (l4 + 60, 2, 2, 5000, 100, 1))
    cfg = _raw_cfg(ipv6, proto, fields, fix, flows=9)
    want = builder_frames(cfg, 0, 20)
    frame, layout = kernel.template(make_gen(cfg), key=0)
    assert layout.raw is not None and bool(layout.raw_l4_csum_off) == fix
    state = Map(MAP_ARRAY, progs.SLOT, 1, "ws_t_gen", mmapable=True)
    state.words()[0, progs.GEN_LIMIT] = kernel.NO_LIMIT
    p = Prog(progs.gen_live(layout), {"state": state})
    rnd = slice(l4 + 60, l4 + 62)
    csums = [l4 + {"udp": 6, "tcp": 16, "icmp": 2}[proto]] + ([] if ipv6 else [l3 + 10])
    try:
        for k in range(20):
            retval, out = core.bpf_prog_test_run_data(p.fd, frame)
            assert retval == XDP_TX
            assert 5000 <= int.from_bytes(out[rnd], "big") < 5100
            if fix:
                got, exp = bytearray(out), bytearray(want[k])
                got[rnd] = exp[rnd] = b"\0\0"
                for c in csums:  # the random bytes are in the L4 sum: compare the rest, then Scapy's word
                    got[c: c + 2] = exp[c: c + 2] = b"\0\0"
                assert bytes(got) == bytes(exp), f"frame {k}"
                assert scapy_checksums_hold(out), f"frame {k}"
            else:
                assert out[: rnd.start] + out[rnd.stop:] == want[k][: rnd.start] + want[k][rnd.stop:], f"frame {k}"
    finally:
        p.close()
        state.close()
