"""BPF: the assembler's bytes checked by hand-decoding (no privilege), then the programs loaded
and run by the kernel (BPF_PROG_TEST_RUN; root)."""

from __future__ import annotations

import struct

import pytest

from conftest import root_only
from wirespeed.bpf import asm, progs
from wirespeed.bpf.asm import R0, R1, R2, R10, XDP_DROP, XDP_PASS, XDP_TX, AsmError, Program
from test_packet import cfg_for, parse


def decode(code: bytes) -> list[tuple[int, int, int, int, int]]:
    """(opcode, dst, src, off, imm) per 8-byte slot, read the way the kernel reads struct bpf_insn."""
    out = []
    for i in range(0, len(code), 8):
        op, regs, off, imm = struct.unpack("<BBhi", code[i : i + 8])
        out.append((op, regs & 0xF, regs >> 4, off, imm))
    return out


def test_encoding_of_the_basic_forms():
    p = Program("t")
    p.mov(R0, XDP_PASS)  # BPF_ALU64 | BPF_MOV | BPF_K = 0xb7
    p.ldx(4, R2, R1, 4)  # BPF_LDX | BPF_MEM | BPF_W = 0x61
    p.stx(8, R10, -8, R2)  # BPF_STX | BPF_MEM | BPF_DW = 0x7b
    p.st(4, R10, -4, 0)  # BPF_ST | BPF_MEM | BPF_W = 0x62
    p.jmp("==", R0, 0, "out")  # BPF_JMP | BPF_JEQ | BPF_K = 0x15
    p.call("map_lookup_elem")  # 0x85, imm 1
    p.to_be(R2, 16)  # BPF_ALU | BPF_END | BPF_TO_BE = 0xdc
    p.label("out")
    p.exit()  # 0x95
    got = decode(p.assemble())
    assert got == [
        (0xB7, 0, 0, 0, 2),
        (0x61, 2, 1, 4, 0),
        (0x7B, 10, 2, -8, 0),
        (0x62, 10, 0, -4, 0),
        (0x15, 0, 0, 2, 0),  # skips call and to_be
        (0x85, 0, 0, 0, 1),
        (0xDC, 2, 0, 0, 16),
        (0x95, 0, 0, 0, 0),
    ]


def test_map_load_takes_two_slots_and_the_fd():
    p = Program("t")
    p.ld_map(R1, "m")
    p.goto("end")
    p.label("end")
    p.exit()
    code = decode(p.assemble({"m": 42}))
    assert code[0] == (0x18, 1, asm.PSEUDO_MAP_FD, 0, 42)  # BPF_LD | BPF_DW | BPF_IMM
    assert code[1] == (0, 0, 0, 0, 0)
    assert code[2] == (0x05, 0, 0, 0, 0)  # jump offsets count slots: the wide load counts two
    assert len(p) == 4


def test_errors_name_the_problem():
    p = Program("t")
    p.jmp("==", R0, 0, "nowhere")
    with pytest.raises(AsmError, match="undefined label 'nowhere'"):
        p.assemble()
    q = Program("t")
    q.ld_map(R1, "m")
    with pytest.raises(AsmError, match="no fd given for map 'm'"):
        q.assemble()
    with pytest.raises(AsmError, match="no register"):
        Program("t").mov(11, 0)


def test_listing_reads_like_the_verifier():
    text = progs.xdp_count().listing()
    assert "call map_lookup_elem#1" in text and "r0 = 1" in text and text.splitlines()[0].startswith("   0: ")


def gen_model(layout: progs.GenLayout, frame: bytes, k: int) -> bytes:
    """What gen_live should make of frame k, computed the slow, obvious way."""
    f = bytearray(frame)
    seq = layout.seq_base | (k & layout.seq_mask)
    f[layout.seq_off : layout.seq_off + 4] = struct.pack("!I", seq)
    if layout.flows > 1:
        f[layout.sport_off : layout.sport_off + 2] = struct.pack("!H", layout.sport_lo + k % layout.flows)
    return bytes(f)


# --- in the kernel ---------------------------------------------------------------------------

@root_only
def test_xdp_count_counts_and_drops():
    from wirespeed import core
    from wirespeed.bpf import MAP_PERCPU_ARRAY, Map, Prog

    m = Map(MAP_PERCPU_ARRAY, progs.COUNT_VALUE, 1, "ws_t_count")
    p = Prog(progs.xdp_count(), {"counters": m})
    try:
        retval, _, calls, err = core.bpf_prog_run(p.fd, bytes(60), None, 1000)
        assert (retval, calls, err) == (XDP_DROP, 1, 0)
        retval, _, _, _ = core.bpf_prog_run(p.fd, bytes(100), None, 10)
        assert m.lookup_u64().sum(axis=0).tolist() == [1010, 1000 * 60 + 10 * 100]
    finally:
        p.close()
        m.close()


@root_only
@pytest.mark.parametrize("verdict", [XDP_PASS, XDP_DROP])
def test_verdict_programs(verdict):
    from wirespeed import core
    from wirespeed.bpf import Prog

    p = Prog(progs.xdp_verdict(verdict))
    try:
        assert core.bpf_prog_run(p.fd, bytes(60))[0] == verdict
    finally:
        p.close()


@root_only
@pytest.mark.parametrize("ipv6,flows", [(False, 0), (False, 7), (True, 5)])
def test_gen_live_writes_sequence_port_and_a_valid_checksum(ipv6, flows):
    """Run the generator program on its template (no live frames: data_out comes back) and
    compare each frame with the model and an independent checksum."""
    from wirespeed import core, kgen
    from wirespeed.bpf import MAP_ARRAY, Map, Prog
    from wirespeed.gen import Range

    cfg = cfg_for(ipv6, 128, sports=Range(4000, 100), flows=flows)
    frame, layout = kgen.template(cfg, worker=2)
    assert layout.seq_base >> 28 == 2
    state = Map(MAP_ARRAY, progs.GEN_VALUE, 1, "ws_t_gen")
    state.update(0, struct.pack("<5Q", 0, 0, 0, kgen.NO_LIMIT, 0))
    p = Prog(progs.gen_live(layout), {"state": state})
    try:
        for k in range(12):
            out = core.bpf_prog_test_run_data(p.fd, frame)
            assert out[0] == XDP_TX
            assert out[1] == gen_model(layout, frame, k)[: layout.csum_off] + out[1][layout.csum_off:]
            q = parse(out[1])  # checks the UDP checksum against RFC 1071
            assert struct.unpack("!I", q["payload"][4:8])[0] == layout.seq_base | k
            assert q["sport"] == 4000 + k % (flows or 100)  # without --flows the port walks its range
        assert int(state.lookup_u64()[progs.GEN_SENT]) == 12
    finally:
        p.close()
        state.close()


@root_only
def test_gen_live_stops_at_its_limit():
    from wirespeed import core, kgen
    from wirespeed.bpf import MAP_ARRAY, Map, Prog

    frame, layout = kgen.template(cfg_for(), worker=0)
    state = Map(MAP_ARRAY, progs.GEN_VALUE, 1, "ws_t_gen")
    state.update(0, struct.pack("<5Q", 0, 0, 0, 3, 0))
    p = Prog(progs.gen_live(layout), {"state": state})
    try:
        verdicts = [core.bpf_prog_test_run_data(p.fd, frame)[0] for _ in range(5)]
        assert verdicts == [XDP_TX] * 3 + [XDP_DROP] * 2
    finally:
        p.close()
        state.close()


@root_only
def test_a_refused_program_shows_the_verifier_log():
    from wirespeed.bpf import BpfError, Prog

    bad = Program("ws_bad")
    bad.ldx(8, R0, R1, 0)  # an 8-byte read of xdp_md.data: not allowed
    bad.exit()
    with pytest.raises(BpfError) as e:
        Prog(bad)
    assert "verifier log follows" in str(e.value)
    assert "invalid bpf_context access" in e.value.log
