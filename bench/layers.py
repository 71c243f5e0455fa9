#!/usr/bin/env python3
"""What layers and tunnels cost the C core's frame builder: ns/frame of Gen.build (batches of 64,
the call included) for a plain Ethernet/IPv4/UDP frame and for each stack, at 1 and 65,536 flows
(vxlan6: over IPv6, its outer UDP checksum computed, the source port by inner flow), for four
fields (both addresses and both ports) walked over 65,536 flows or random, and for two, three
and four plain streams interleaved by their schedules in one builder (gen --streams),
interleaved repetitions, medians; each builder at a new place on the heap in each repetition (a
builder's place moves its ns/frame by a few %). Then a raw template (--template) with two
--field ranges and --fix-checksums at 128 and 1500 bytes: the checksums fixed incrementally (a
few additions per field) against summed over the whole frame, and the plain frame of that size.
Then, where BPF programs may be loaded (root), the in-kernel generator's program (--backend
kernel) for each stack, for four fields walked or random (addresses and ports: the IPv4 header
checksum too), and for the raw template with its fields: ns per frame as the kernel times
BPF_PROG_RUN without live frames (the program's own work and the test run's per-frame overhead;
no frame is sent; the kernel reports whole ns). Prints one JSON object. No traffic.

    python3 bench/layers.py [--reps 5] [--size 160] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import random
import statistics
import time

import numpy as np

from wirespeed.base.netns import Where
from wirespeed.base.packet import Tunnel
from wirespeed.base.units import Range, frame
from wirespeed.tools.gen import GenConfig, make_gen

STRIDE, BATCH, CALLS = 2048, 64, 4000
SRC, DST = ipaddress.IPv4Address("198.18.0.1"), ipaddress.IPv4Address("198.18.1.2")
VXLAN = Tunnel("vxlan", 77, bytes.fromhex("025753000001"), bytes.fromhex("025753000002"), SRC, DST)
VXLAN6 = Tunnel("vxlan", 77, bytes.fromhex("025753000001"), bytes.fromhex("025753000002"),
                ipaddress.IPv6Address("2001:2::1"), ipaddress.IPv6Address("2001:2::2"), sports=64)  # + UDP checksum
STACKS = {"plain": {}, "vlan": {"vlans": (7,)}, "qinq": {"vlans": (7, 100)}, "mpls2": {"mpls": (16, 17)},
          "vxlan": {"tunnel": VXLAN}, "vxlan+vlan": {"tunnel": VXLAN, "vlans": (7,)},
          "vxlan6": {"tunnel": VXLAN6}, "2 streams": {"streams": 2}, "3 streams": {"streams": 3},
          "4 streams": {"streams": 4}}
FOUR = dict(src_ips=Range(int(SRC), 256), dst_ips=Range(int(DST), 100), dports=Range(1, 1000))  # + sport by flow
FIELDS4 = {"4 fields": FOUR, "4 fields random": {**FOUR, "vary": "random"}}  # the builder's and the kernel's


def _cfg(size: int, flows: int = 1, **stack) -> GenConfig:
    stack = {"src_ips": Range(int(SRC)), "dst_ips": Range(int(DST)), **stack}
    return GenConfig(where=Where("veth0"), src_mac=bytes.fromhex("025753000001"), dst_mac=bytes.fromhex("025753000002"),
                     src_ip=SRC, dst_ip=DST, sports=Range(1, min(flows, 65535)), flows=flows, frame=frame(size), **stack)


def _moved() -> bytearray:
    """Kept alive while a builder is made and timed: it moves the builder on the heap (a
    builder's place, against the batch's, changes its ns/frame by a few %)."""
    return bytearray(random.randrange(1, 256) * 64)


def ns_per_frame(size: int, flows: int, streams: int = 1, **stack) -> float:
    pad = _moved()  # noqa: F841
    cfg = _cfg(size, flows, **stack)
    g = make_gen(cfg)
    if streams > 1:  # each its own builder (rates 2:1), merged per slot in C
        subs = [make_gen(cfg, i) for i in range(streams)]
        g.interleave(subs, [1000.0 * (i + 1) for i in range(streams)], [None] * streams, 32)
    return _time(g)


def streams_vs_one(size: int, reps: int) -> dict:
    """One stream and two, three, four interleaved, timed in turn (the order reversed every other
    repetition) and compared within each repetition: the median of the paired ratios, steadier on
    a shared host than a ratio of medians taken stack after stack."""
    ns = (1, 2, 3, 4)
    runs: dict[int, list[float]] = {n: [] for n in ns}
    for r in range(reps):
        for n in (ns if r % 2 else ns[::-1]):
            runs[n].append(ns_per_frame(size, 1, streams=n))
    return {f"{n} streams": round(statistics.median(b / a for a, b in zip(runs[1], runs[n])), 3) for n in ns[1:]}


def _time(g) -> float:
    buf, lens = np.zeros(BATCH * STRIDE, np.uint8), np.zeros(BATCH, np.uint32)
    for _ in range(200):
        g.build(buf, STRIDE, lens)
    t = time.perf_counter_ns()
    for _ in range(CALLS):
        g.build(buf, STRIDE, lens)
    return (time.perf_counter_ns() - t) / (CALLS * BATCH)


FIELDS = ((14 + 12, 4, 0, int(SRC), 1000, 1), (14 + 20, 2, 2, 1024, 60000, 1))  # source address inc, sport random


def ns_per_raw_frame(size: int, whole: bool) -> float:
    """A --template frame with FIELDS and --fix-checksums; whole: a field on the IPv4 total length
    too (its own value kept), so every frame's checksums are summed whole."""
    pad = _moved()  # noqa: F841
    plain = make_gen(_cfg(size, stamp=False))
    raw = np.zeros(STRIDE, np.uint8)
    plain.build(raw, STRIDE, np.zeros(1, np.uint32))
    frame_bytes = bytes(raw[: size - 4])
    fields = FIELDS + (((14 + 2, 2, 0, size - 4 - 14, 1, 1),) if whole else ())
    cfg = dataclasses.replace(_cfg(size, stamp=False), raw=frame_bytes, raw_fields=fields, raw_fix=True)
    return _time(make_gen(cfg))


def kernel_programs(size: int, reps: int) -> dict:
    """ns/frame of the in-kernel generator's program per stack (outer ports fixed: it varies only
    the inner source port) and for the raw template's fields, medians of reps runs of 10^6."""
    from wirespeed import core
    from wirespeed.bpf import MAP_ARRAY, Map, Prog, progs
    from wirespeed.ports import kernel

    def one(cfg) -> float:
        frame, layout = kernel.template(make_gen(cfg), 0, limited=False)
        prog = Prog(progs.gen_live(layout), {"state": state})
        try:
            return core.bpf_prog_run(prog.fd, frame, None, 1_000_000)[1]
        finally:
            prog.close()

    state = Map(MAP_ARRAY, progs.SLOT, 1, "ws_b_layers", mmapable=True)
    state.words()[0, progs.GEN_LIMIT] = kernel.NO_LIMIT
    runs: dict[str, list[float]] = {}
    try:
        for _ in range(reps):
            for flows in (1, 65536):
                for name, stack in STACKS.items():
                    if "streams" in stack:
                        continue
                    stack = {k: dataclasses.replace(v, sports=1) if k == "tunnel" else v for k, v in stack.items()}
                    runs.setdefault(f"{name}@{flows}", []).append(one(_cfg(size, flows, **stack)))
            for name, stack in FIELDS4.items():
                runs.setdefault(f"{name}@65536", []).append(one(_cfg(size, 65536, **stack)))
            plain = make_gen(_cfg(size, stamp=False))
            raw = np.zeros(STRIDE, np.uint8)
            plain.build(raw, STRIDE, np.zeros(1, np.uint32))
            runs.setdefault("field fix incremental", []).append(one(dataclasses.replace(
                _cfg(size, stamp=False), raw=bytes(raw[: size - 4]), raw_fields=FIELDS, raw_fix=True)))
    finally:
        state.close()
    return {k: statistics.median(v) for k, v in runs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    reps = 1 if args.quick else args.reps
    runs: dict[str, list[float]] = {}
    for _ in range(reps):
        for flows in (1, 65536):
            for name, stack in STACKS.items():
                runs.setdefault(f"{name}@{flows}", []).append(ns_per_frame(args.size, flows, **stack))
        for name, stack in FIELDS4.items():
            runs.setdefault(f"{name}@65536", []).append(ns_per_frame(args.size, 65536, **stack))
    fix: dict[str, list[float]] = {}
    for _ in range(reps):
        for size in (128, 1500):
            fix.setdefault(f"plain@{size}", []).append(_time(make_gen(_cfg(size, stamp=False))))
            fix.setdefault(f"field fix incremental@{size}", []).append(ns_per_raw_frame(size, whole=False))
            fix.setdefault(f"field fix whole@{size}", []).append(ns_per_raw_frame(size, whole=True))
    paired = streams_vs_one(args.size, 1 if args.quick else 6 * args.reps)
    med = {k: round(statistics.median(v), 2) for k, v in runs.items()}
    ratio = {k: round(v / med[f"plain@{k.split('@')[1]}"], 3) for k, v in med.items()}
    fmed = {k: round(statistics.median(v), 2) for k, v in fix.items()}
    try:
        kprog = kernel_programs(args.size, reps)
    except Exception as e:  # no BPF here (not root, or the kernel refuses): said, not failed
        kprog = {"skipped": f"{type(e).__name__}: {e}"}
    print(json.dumps({"bench": "layers", "size": args.size, "batch": BATCH, "reps": reps, "ns_per_frame": med,
                      "vs_plain": ratio, "target": 1.2, "streams_vs_one_paired": paired, "field_fix_ns_per_frame": fmed,
                      "field_fix_vs_plain": {k: round(v / fmed[f"plain@{k.split('@')[1]}"], 3) for k, v in fmed.items()},
                      "kernel_program_ns_per_frame": kprog}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
