"""BPF: the assembler's bytes checked by hand-decoding (the programs run by the kernel are in
kernel/test_bpf_progs.py)."""

from __future__ import annotations

import struct

import pytest

from wirespeed.bpf import asm, progs
from wirespeed.bpf.asm import R0, R1, R2, R10, XDP_PASS, AsmError, Program


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
