"""The XDP programs loaded and run by the kernel (BPF_PROG_TEST_RUN): counts, verdicts, the
in-kernel generator's per-frame work checked against a model and an independent checksum."""

from __future__ import annotations

import os
import socket
import struct

import pytest

from helpers import cfg_for, parse
from wirespeed import core
from wirespeed.bpf import MAP_ARRAY, BpfError, Map, Prog, possible_cpus, progs
from wirespeed.bpf.asm import R0, R1, XDP_DROP, XDP_PASS, XDP_TX, Program
from wirespeed.ports import kernel
from wirespeed.tools.gen import Range, make_gen


def gen_model(layout: progs.GenLayout, frame: bytes, k: int) -> bytes:
    """What gen_live should make of frame k, computed the slow, obvious way."""
    f = bytearray(frame)
    seq = layout.seq_base | (k & layout.seq_mask)
    f[layout.seq_off : layout.seq_off + 4] = struct.pack("!I", seq)
    if layout.flows > 1:
        f[layout.sport_off : layout.sport_off + 2] = struct.pack("!H", layout.sport_lo + k % layout.flows)
    return bytes(f)


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


@pytest.mark.parametrize("ipv6,flows", [(False, 0), (False, 7), (True, 5)])
def test_gen_live_writes_sequence_port_and_a_valid_checksum(ipv6, flows):
    """Run the generator program on its template (no live frames: data_out comes back) and
    compare each frame with the model and an independent checksum."""
    cfg = cfg_for(ipv6, 128, sports=Range(4000, 100), flows=flows)
    frame, layout = kernel.template(make_gen(cfg, 2), (4000, flows or 100), key=0)
    assert layout.seq_base >> 28 == 2
    state = Map(MAP_ARRAY, progs.SLOT, 1, "ws_t_gen", mmapable=True)
    words = state.words()[0]
    words[progs.GEN_LIMIT] = kernel.NO_LIMIT
    p = Prog(progs.gen_live(layout), {"state": state})
    try:
        for k in range(12):
            out = core.bpf_prog_test_run_data(p.fd, frame)
            assert out[0] == XDP_TX
            assert out[1] == gen_model(layout, frame, k)[: layout.csum_off] + out[1][layout.csum_off:]
            q = parse(out[1])  # checks the UDP checksum against RFC 1071
            assert struct.unpack("!I", q["payload"][4:8])[0] == layout.seq_base | k
            assert q["sport"] == 4000 + k % (flows or 100)  # without --flows the port walks its range
        assert int(words[progs.GEN_SENT]) == 12  # the program counts into the port's counters
        assert int(words[core.C["bytes"]]) == 0  # bytes: packets x the one frame length, by the run loop
    finally:
        p.close()
        state.close()


def test_gen_live_stops_at_its_limit():
    frame, layout = kernel.template(make_gen(cfg_for()), (9, 1), key=0)
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
def test_gen_live_rewrites_a_header_a_forwarder_changed_and_leaves_a_clean_one(ipv6):
    """Live frames come back as the receiver left them: a frame whose MACs, or TTL and IP
    checksum (IPv6: hop limit), were rewritten downstream leaves as the template again."""
    frame, layout = kernel.template(make_gen(cfg_for(ipv6, 128)), (9, 1), key=0, limited=False)
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
            assert out == gen_model(layout, frame, k)[: layout.csum_off] + out[layout.csum_off:]
            parse(out)  # every checksum valid again
    finally:
        p.close()
        state.close()


def test_gen_live_contains_only_what_the_run_needs():
    """No limit without a count, no schedule without a rate, no flow walk without flows."""
    def listing(**kw) -> str:
        frame, layout = kernel.template(make_gen(cfg_for()), (9, kw.pop("flows", 1)), key=0,
                                        limited=kw.pop("limited", False))
        import dataclasses
        return progs.gen_live(dataclasses.replace(layout, **kw)).listing()

    bare = listing()
    limit = f"*(u64 *)(r6 +{8 * progs.GEN_LIMIT})"
    assert limit not in bare and "ktime_get_ns" not in bare and "%=" not in bare and "map_lookup_elem" not in bare
    assert limit in listing(limited=True)
    assert "ktime_get_ns" in listing(paced=True)
    assert "%=" in listing(flows=8)
    assert len(listing(limited=True, paced=True, flows=8).splitlines()) > len(bare.splitlines()) + 20


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
