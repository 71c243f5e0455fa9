"""The drop counter's parts that need no privilege: this kernel's BTF read by our reader, the
tracepoint program assembled, numbers named."""

from __future__ import annotations

import os
import struct

import pytest

from wirespeed.base.errors import KernelFeatureError
from wirespeed.bpf import btf, progs
from wirespeed.tools import drops

needs_btf = pytest.mark.skipif(not os.access(btf.VMLINUX, os.R_OK), reason="this kernel exposes no BTF")


def _blob(types: bytes, strings: bytes) -> bytes:
    hdr = struct.pack("<HBBIIIII", btf.MAGIC, 1, 0, 24, 0, len(types), len(types), len(strings))
    return hdr + types + strings


def test_a_member_inside_anonymous_unions_and_a_typedefd_struct():
    """struct outer { int a; union { struct { int pad; long x; }; }; inner_t in; } with
    inner_t a typedef of struct { long p; long q; }: offsets through both kinds of nesting."""
    strings = b"\0outer\0a\0x\0pad\0in\0inner_t\0p\0q\0int\0long\0color\0RED\0BLUE\0"
    s = {name: strings.index(name.encode() + b"\0") for name in
         ("outer", "a", "x", "pad", "in", "inner_t", "p", "q", "int", "long", "color", "RED", "BLUE")}

    def t(name, kind, vlen, size, members=b"", kflag=0):
        return struct.pack("<III", s.get(name, 0), kind << 24 | vlen | kflag << 31, size) + members

    types = b"".join([
        t("int", btf.INT, 0, 4, struct.pack("<I", 32)),  # 1
        t("long", btf.INT, 0, 8, struct.pack("<I", 64)),  # 2
        t("", btf.STRUCT, 2, 16, struct.pack("<III", s["pad"], 1, 0) + struct.pack("<III", s["x"], 2, 64)),  # 3
        t("", btf.UNION, 1, 16, struct.pack("<III", 0, 3, 0)),  # 4: the anonymous union
        t("", btf.STRUCT, 2, 16, struct.pack("<III", s["p"], 2, 0) + struct.pack("<III", s["q"], 2, 64)),  # 5
        t("inner_t", btf.TYPEDEF, 0, 5),  # 6
        t("outer", btf.STRUCT, 3, 48, struct.pack("<III", s["a"], 1, 0) + struct.pack("<III", 0, 4, 64)
          + struct.pack("<III", s["in"], 6, 256)),  # 7
        t("color", btf.ENUM, 2, 4, struct.pack("<Ii", s["RED"], 0) + struct.pack("<Ii", s["BLUE"], 7)),  # 8
    ])
    b = btf.Btf(_blob(types, strings))
    assert b.offset("outer", "a") == 0 and b.offset("outer", "x") == 16 and b.offset("outer", "pad") == 8
    assert b.offset("outer", "in.q") == 40
    assert b.enum("color") == {0: "RED", 7: "BLUE"}
    with pytest.raises(KernelFeatureError, match="has no member nope"):
        b.offset("outer", "nope")
    with pytest.raises(KernelFeatureError, match="no struct nosuch"):
        b.offset("nosuch", "a")


@needs_btf
def test_this_kernels_offsets_and_reasons():
    b = btf.vmlinux()
    assert b.offset("sk_buff", "dev") >= 0 and b.offset("net_device", "ifindex") > 0
    assert b.offset("net", "ns.inum") > b.offset("net", "ns")
    reasons = b.enum("skb_drop_reason")
    names = set(reasons.values())
    assert {"SKB_DROP_REASON_NO_SOCKET", "SKB_DROP_REASON_IP_RPFILTER", "SKB_DROP_REASON_QDISC_DROP"} <= names


def test_the_tracepoint_program_reads_the_skb_at_the_offsets_given():
    raw = progs.kfree_skb_count(progs.SkbOffsets(16, 224, 264, 184), typed=False)
    text = raw.listing()
    assert "probe_read_kernel" in text and raw.maps() == {"drops"}
    for off in (16, 224, 264, 184):
        assert f"+= {off}" in text
    assert len(raw.assemble({"drops": 3})) == 8 * len(raw)
    typed = progs.kfree_skb_count(progs.SkbOffsets(16, 224, 264, 184), skip_reasons=(2, 77))
    text = typed.listing()
    assert "probe_read_kernel" not in text and typed.maps() == {"drops", "skip"}
    for off in (16, 224, 264, 184):  # plain loads from the typed pointers
        assert f"(r7 +{off})" in text, text
    assert "if r1 == 2 goto skip" in text and "if r1 == 77 goto skip" in text


def test_the_kfree_skb_tracepoint_has_a_type_to_attach_by():
    assert btf.vmlinux().tracepoint("kfree_skb") is not None
    assert btf.vmlinux().tracepoint("no_such_tracepoint") is None


def test_reasons_and_functions_are_named():
    n = drops.Names({3: "SKB_DROP_REASON_NO_SOCKET", 1: "SKB_CONSUMED"})
    assert n.reason(3) == "NO_SOCKET" and n.reason(1) == "CONSUMED"
    assert n.reason((2 << 16) | 5) == "subsystem 2: 5"
    n._syms = ([0x1000, 0x2000], ["ip_rcv", "udp_rcv"])
    assert n.function(0x1234) == "ip_rcv" and n.function(0x2001) == "udp_rcv"
    assert n.device(0, 0) == "-"
