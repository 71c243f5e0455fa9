"""What the kernel says about itself, read just far enough for our BPF programs: its type
information (BTF, /sys/kernel/btf/vmlinux: a member's byte offset inside a struct, through
anonymous unions and structs, as this build lays them out, and an enum's names; no libbpf, the
format is linux/btf.h) and its text symbols (/proc/kallsyms, to name an address)."""

from __future__ import annotations

import bisect
import struct
from functools import lru_cache

from wirespeed.base.errors import KernelFeatureError

VMLINUX = "/sys/kernel/btf/vmlinux"
MAGIC = 0xEB9F
# BTF_KIND_*: the bytes that follow a type's 12-byte header, per member (vlen) or fixed
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT = range(1, 12)
FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(12, 20)
FIXED = {INT: 4, ARRAY: 12, VAR: 4, DECL_TAG: 4}
PER_MEMBER = {STRUCT: 12, UNION: 12, ENUM: 8, FUNC_PROTO: 8, DATASEC: 12, ENUM64: 12}
QUALIFIERS = (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG)


class Btf:
    """Types by id: (kind, name, size_or_type, members); members are (name, type, bit offset)
    for structs and unions, (name, value) for enums."""

    def __init__(self, data: bytes):
        magic, _version, _flags, hdr_len, type_off, type_len, str_off, _str_len = struct.unpack_from("<HBBIIIII", data)
        if magic != MAGIC:
            raise KernelFeatureError("the kernel's BTF is not in the format this reader knows (magic)")
        types = data[hdr_len + type_off: hdr_len + type_off + type_len]
        self.strings = data[hdr_len + str_off:]
        self.types: list[tuple] = [(0, "", 0, ())]  # id 0 is void
        self.by_name: dict[tuple[int, str], int] = {}
        at = 0
        while at < len(types):
            name_off, info, size = struct.unpack_from("<III", types, at)
            at += 12
            kind, vlen, kflag = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
            members: tuple = ()
            if kind in (STRUCT, UNION):
                members = tuple((self._str(n), t, (o & 0xFFFFFF) if kflag else o)
                                for n, t, o in struct.iter_unpack("<III", types[at: at + 12 * vlen]))
            elif kind == ENUM:
                members = tuple((self._str(n), v) for n, v in struct.iter_unpack("<Ii", types[at: at + 8 * vlen]))
            at += FIXED.get(kind, 0) + PER_MEMBER.get(kind, 0) * vlen
            name = self._str(name_off)
            self.types.append((kind, name, size, members))
            if name:
                self.by_name.setdefault((kind, name), len(self.types) - 1)

    def _str(self, off: int) -> str:
        end = self.strings.index(b"\0", off)
        return self.strings[off:end].decode()

    def _resolve(self, tid: int) -> int:
        while self.types[tid][0] in QUALIFIERS:
            tid = self.types[tid][2]
        return tid

    def offset(self, struct_name: str, path: str) -> int:
        """The byte offset of `path` ("dev", or "nd_net.net" through a member's own struct) in
        `struct struct_name`, looking into anonymous members."""
        tid = self.by_name.get((STRUCT, struct_name))
        if tid is None:
            raise KernelFeatureError(f"this kernel's BTF has no struct {struct_name}")
        bits = 0
        for member in path.split("."):
            found = self._find(tid, member)
            if found is None:
                raise KernelFeatureError(f"this kernel's struct {struct_name} has no member {path}")
            bits += found[0]
            tid = self._resolve(found[1])
        return bits // 8

    def _find(self, tid: int, member: str) -> tuple[int, int] | None:
        """(bit offset, type id) of a member, anonymous members searched too."""
        for name, t, bits in self.types[tid][3]:
            if name == member:
                return bits, t
            sub = self._resolve(t)
            if not name and self.types[sub][0] in (STRUCT, UNION):
                inner = self._find(sub, member)
                if inner is not None:
                    return bits + inner[0], inner[1]
        return None

    def tracepoint(self, name: str) -> int | None:
        """The type id a typed tracing program attaches to tracepoint `name` by (the kernel's
        typedef btf_trace_NAME), or None where this kernel has no such tracepoint."""
        return self.by_name.get((TYPEDEF, f"btf_trace_{name}"))

    def enum(self, name: str) -> dict[int, str]:
        tid = self.by_name.get((ENUM, name))
        if tid is None:
            raise KernelFeatureError(f"this kernel's BTF has no enum {name}")
        return {v: n for n, v in self.types[tid][3]}


@lru_cache(maxsize=1)
def vmlinux() -> Btf:
    try:
        with open(VMLINUX, "rb") as f:
            return Btf(f.read())
    except OSError as e:
        raise KernelFeatureError(f"{VMLINUX}: {e.strerror} (this kernel has no BTF: CONFIG_DEBUG_INFO_BTF)") from None


def kernel_symbols() -> tuple[list[int], list[str]]:
    """The kernel's text symbols sorted by address (root reads real addresses), for bisect."""
    rows = []
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] in "tT":
                rows.append((int(parts[0], 16), parts[2]))
    rows.sort()
    return [a for a, _ in rows], [n for _, n in rows]


def symbol_at(symbols: tuple[list[int], list[str]], addr: int) -> str:
    """The function (of kernel_symbols()) an address falls in, or the address itself."""
    addrs, names = symbols
    i = bisect.bisect_right(addrs, addr) - 1
    return names[i] if i >= 0 and addr else hex(addr)
