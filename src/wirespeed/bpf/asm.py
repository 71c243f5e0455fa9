"""A small eBPF assembler: the few XDP programs wirespeed needs, written as readable
instruction lists and encoded to the kernel's `struct bpf_insn` (linux/bpf.h) without clang.

    p = Program("xdp_drop")
    p.mov(R0, XDP_DROP)
    p.exit()
    p.assemble()      # -> bytes for BPF_PROG_LOAD
    p.listing()       # -> one line per instruction, as the verifier log prints them

Jumps name labels (`p.label("out")`, `p.jmp("==", R0, 0, "out")`), map loads name a map
(`p.ld_map(R1, "counters")`) whose fd is given to assemble(). Encoding (8 bytes each):
opcode u8, dst_reg:4 | src_reg:4 u8, off s16, imm s32, little-endian; a 64-bit immediate load
takes two slots.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

# instruction classes
LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07
# sizes
W, H, B, DW = 0x00, 0x08, 0x10, 0x18
SIZES = {1: B, 2: H, 4: W, 8: DW}
SIZE_NAMES = {B: "u8", H: "u16", W: "u32", DW: "u64"}
# modes
IMM, MEM = 0x00, 0x60
# sources
K, X = 0x00, 0x08
# ALU operations
ALU_OPS = {"+": 0x00, "-": 0x10, "*": 0x20, "/": 0x30, "|": 0x40, "&": 0x50, "<<": 0x60, ">>": 0x70,
           "neg": 0x80, "%": 0x90, "^": 0xA0, "=": 0xB0, "s>>": 0xC0}
END = 0xD0  # byte swap: with ALU class, K = to little-endian, X = to big-endian
# jumps
JA, CALL, EXIT = 0x00, 0x80, 0x90
JMP_OPS = {"==": 0x10, ">": 0x20, ">=": 0x30, "&": 0x40, "!=": 0x50, "s>": 0x60, "s>=": 0x70,
           "<": 0xA0, "<=": 0xB0, "s<": 0xC0, "s<=": 0xD0}
PSEUDO_MAP_FD = 1
PSEUDO_MAP_VALUE = 2  # ld_imm64: the address of a map's value (one-entry array), plus an offset

# helpers (enum bpf_func_id)
HELPERS = {"map_lookup_elem": 1, "map_update_elem": 2, "ktime_get_ns": 5, "get_prandom_u32": 7,
           "get_smp_processor_id": 8, "get_current_pid_tgid": 14, "get_current_comm": 16, "redirect": 23,
           "get_stackid": 27, "xdp_adjust_head": 44, "redirect_map": 51, "get_stack": 67, "probe_read_kernel": 113,
           "ktime_get_tai_ns": 208}
HELPER_NAMES = {v: k for k, v in HELPERS.items()}

# XDP verdicts and struct xdp_md offsets
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)
MD_DATA, MD_DATA_END, MD_DATA_META, MD_INGRESS_IFINDEX, MD_RX_QUEUE_INDEX = 0, 4, 8, 12, 16


@dataclass
class Insn:
    code: int
    dst: int = 0
    src: int = 0
    off: int | str = 0  # a label name until assembled
    imm: int | str = 0  # a map name for ld_map until assembled
    text: str = ""
    wide: bool = False  # a 64-bit immediate: two slots
    value_off: int = 0  # ld_map_value: the offset into the map's value


class AsmError(ValueError):
    pass


def _reg(r: int) -> int:
    if not 0 <= r <= 10:
        raise AsmError(f"no register r{r}")
    return r


class Program:
    """An instruction list under construction; method names follow the operation."""

    def __init__(self, name: str):
        self.name = name
        self.insns: list[Insn] = []
        self.labels: dict[str, int] = {}  # label -> slot index

    # -- bookkeeping --------------------------------------------------------------------------
    def _slot(self) -> int:
        return sum(2 if i.wide else 1 for i in self.insns)

    def _add(self, insn: Insn) -> "Program":
        self.insns.append(insn)
        return self

    def label(self, name: str) -> "Program":
        if name in self.labels:
            raise AsmError(f"label {name!r} defined twice")
        self.labels[name] = self._slot()
        return self

    # -- moves and arithmetic -----------------------------------------------------------------
    def alu(self, op: str, dst: int, src_or_imm: int, reg: bool = False, bits: int = 64) -> "Program":
        cls = ALU64 if bits == 64 else ALU
        sign = "" if bits == 64 else "w"
        rhs = f"r{src_or_imm}" if reg else str(src_or_imm)
        text = f"{sign}r{dst} {op}= {sign if reg else ''}{rhs}" if op != "=" else f"{sign}r{dst} = {sign if reg else ''}{rhs}"
        if reg:
            return self._add(Insn(cls | ALU_OPS[op] | X, _reg(dst), _reg(src_or_imm), text=text))
        return self._add(Insn(cls | ALU_OPS[op] | K, _reg(dst), imm=int(src_or_imm), text=text))

    def mov(self, dst: int, src_or_imm: int, reg: bool = False) -> "Program":
        return self.alu("=", dst, src_or_imm, reg)

    def mov_reg(self, dst: int, src: int) -> "Program":
        return self.alu("=", dst, src, reg=True)

    def add(self, dst: int, imm: int) -> "Program":
        return self.alu("+", dst, imm)

    def add_reg(self, dst: int, src: int) -> "Program":
        return self.alu("+", dst, src, reg=True)

    def to_be(self, dst: int, bits: int) -> "Program":
        """dst = htobe(dst) over the low `bits` (16, 32, 64)."""
        return self._add(Insn(ALU | END | X, _reg(dst), imm=bits, text=f"r{dst} = be{bits} r{dst}"))

    def ld_imm64(self, dst: int, value: int) -> "Program":
        return self._add(Insn(LD | DW | IMM, _reg(dst), imm=value, wide=True, text=f"r{dst} = {value:#x} ll"))

    def ld_map(self, dst: int, map_name: str) -> "Program":
        """dst = the map named (its fd given to assemble())."""
        return self._add(Insn(LD | DW | IMM, _reg(dst), PSEUDO_MAP_FD, imm=map_name, wide=True,
                              text=f"r{dst} = map[{map_name}] ll"))

    def ld_map_value(self, dst: int, map_name: str, off: int = 0) -> "Program":
        """dst = &value of the map named + off: a one-entry array's value by address, no lookup
        (the verifier resolves it at load time)."""
        return self._add(Insn(LD | DW | IMM, _reg(dst), PSEUDO_MAP_VALUE, imm=map_name, wide=True, value_off=off,
                              text=f"r{dst} = &map[{map_name}] + {off} ll"))

    # -- memory -------------------------------------------------------------------------------
    def ldx(self, size: int, dst: int, src: int, off: int) -> "Program":
        """dst = *(size *)(src + off)"""
        sz = SIZES[size]
        return self._add(Insn(LDX | MEM | sz, _reg(dst), _reg(src), off,
                              text=f"r{dst} = *({SIZE_NAMES[sz]} *)(r{src} {off:+d})"))

    def stx(self, size: int, dst: int, off: int, src: int) -> "Program":
        """*(size *)(dst + off) = src"""
        sz = SIZES[size]
        return self._add(Insn(STX | MEM | sz, _reg(dst), _reg(src), off,
                              text=f"*({SIZE_NAMES[sz]} *)(r{dst} {off:+d}) = r{src}"))

    def st(self, size: int, dst: int, off: int, imm: int) -> "Program":
        """*(size *)(dst + off) = imm"""
        sz = SIZES[size]
        return self._add(Insn(ST | MEM | sz, _reg(dst), 0, off, imm,
                              text=f"*({SIZE_NAMES[sz]} *)(r{dst} {off:+d}) = {imm}"))

    # -- control ------------------------------------------------------------------------------
    def jmp(self, op: str, dst: int, src_or_imm: int, target: str, reg: bool = False) -> "Program":
        """if dst OP src_or_imm goto target (64-bit compare)"""
        rhs = f"r{src_or_imm}" if reg else str(src_or_imm)
        text = f"if r{dst} {op} {rhs} goto {target}"
        if reg:
            return self._add(Insn(JMP | JMP_OPS[op] | X, _reg(dst), _reg(src_or_imm), target, text=text))
        return self._add(Insn(JMP | JMP_OPS[op] | K, _reg(dst), 0, target, int(src_or_imm), text=text))

    def goto(self, target: str) -> "Program":
        return self._add(Insn(JMP | JA, off=target, text=f"goto {target}"))

    def call(self, helper: str) -> "Program":
        return self._add(Insn(JMP | CALL, imm=HELPERS[helper], text=f"call {helper}#{HELPERS[helper]}"))

    def exit(self) -> "Program":
        return self._add(Insn(JMP | EXIT, text="exit"))

    def jumps_to(self, label: str) -> bool:
        return any(i.off == label for i in self.insns)

    # -- output -------------------------------------------------------------------------------
    def maps(self) -> set[str]:
        return {i.imm for i in self.insns if i.src in (PSEUDO_MAP_FD, PSEUDO_MAP_VALUE) and isinstance(i.imm, str)}

    def assemble(self, maps: dict[str, int] | None = None) -> bytes:
        maps = maps or {}
        out = bytearray()
        slot = 0
        for insn in self.insns:
            off, imm = insn.off, insn.imm
            if isinstance(off, str):
                if off not in self.labels:
                    raise AsmError(f"{self.name}: jump to undefined label {off!r}")
                off = self.labels[off] - slot - 1
            if isinstance(imm, str):
                if imm not in maps:
                    raise AsmError(f"{self.name}: no fd given for map {imm!r}")
                imm = maps[imm]
            if not -(1 << 15) <= off < (1 << 15):
                raise AsmError(f"{self.name}: offset {off} out of range")
            regs = (insn.src << 4) | insn.dst
            if insn.wide and insn.src == PSEUDO_MAP_VALUE:  # imm: the map's fd; the next slot: the offset
                out += struct.pack("<BBhI", insn.code, regs, 0, imm & 0xFFFFFFFF)
                out += struct.pack("<BBhI", 0, 0, 0, insn.value_off)
                slot += 2
            elif insn.wide:
                out += struct.pack("<BBhI", insn.code, regs, 0, imm & 0xFFFFFFFF)
                out += struct.pack("<BBhI", 0, 0, 0, (imm >> 32) & 0xFFFFFFFF)
                slot += 2
            else:
                if not -(1 << 31) <= imm < (1 << 32):
                    raise AsmError(f"{self.name}: immediate {imm} out of range")
                out += struct.pack("<BBhi", insn.code, regs, off, imm if imm < (1 << 31) else imm - (1 << 32))
                slot += 1
        return bytes(out)

    def listing(self) -> str:
        """One line per instruction, slot numbers as in the verifier's log, labels shown."""
        at = {v: k for k, v in self.labels.items()}
        lines, slot = [], 0
        for insn in self.insns:
            if slot in at:
                lines.append(f"{at[slot]}:")
            lines.append(f"{slot:4d}: {insn.text}")
            slot += 2 if insn.wide else 1
        if slot in at:
            lines.append(f"{at[slot]}:")
        return "\n".join(lines)

    def __len__(self) -> int:
        return self._slot()
