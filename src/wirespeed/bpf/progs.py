"""The XDP programs wirespeed loads, written with `asm`. Each returns a Program; `listing()`
shows it as the verifier prints it.

  xdp_verdict(v)   return v (XDP_PASS or XDP_DROP): the peer of a veth needs some XDP
                   program (or GRO) for frames sent with XDP to arrive at all
  xdp_count()      count packets and bytes per CPU, then drop: the host's receive ceiling
  xsk_redirect()   hand each frame to the AF_XDP socket of its RX queue, else pass it on
  xdp_random_drop(p)  drop a share p of the frames at random (a lossy DUT for the lab)
  xdp_forward(macs)  the in-kernel forwarder (fwd --backend xdp-redirect): count per CPU, write the
                   next hop's MACs, redirect through a DEVMAP to the out interface
  sample_count()    at each cpu-clock sample (a perf event): count the interrupted
                   instruction pointer with its kernel call chain, user-space leaf and task
                   (the profiler's time by function, and its folded stacks)
  kfree_skb_count(offsets)  at the kfree_skb tracepoint: count each dropped skb by network
                   namespace, device, reason and dropping function (wirespeed drops)
  gen_live(...)    the in-kernel generator's per-frame work under BPF_PROG_RUN live frames:
                   a sequence number in the pktgen header, the source port over N flows,
                   the UDP checksum updated incrementally (RFC 1624), then XDP_TX
"""

from __future__ import annotations

from dataclasses import dataclass

from wirespeed import core

from wirespeed.bpf.asm import (
    MD_DATA,
    MD_DATA_END,
    MD_RX_QUEUE_INDEX,
    R0,
    R1,
    R2,
    R3,
    R4,
    R5,
    R6,
    R7,
    R8,
    R9,
    R10,
    XDP_DROP,
    XDP_PASS,
    XDP_TX,
    Program,
)

# The in-kernel ports count into the same counters every port has (core.COUNTER_NAMES), kept in
# an array map user space maps (BPF_F_MMAPABLE) and reads in place: one SLOT of u64 words per
# CPU (xdp_count) or per worker (gen_live), 128 bytes apart so no two writers share a line.
SLOT_WORDS = 16
SLOT = 8 * SLOT_WORDS
C_PACKETS, C_BYTES = 0, 1  # counters.h
# gen_live's state after the counters, u64 words: next frame due (CLOCK_MONOTONIC), the time
# between frames (0: unpaced), stop once this many were sent, how far behind it may catch up
# (these three in 1/16 ns), slots skipped after stalls
GEN_SENT = C_PACKETS
FIX = 4  # the schedule's words (due, interval, slack) count 1/16 ns (2^63 of them: 18 years of uptime)
GEN_DUE, GEN_INTERVAL, GEN_LIMIT, GEN_SLACK, GEN_SKIPPED, GEN_REPLAY_AT = range(core.N_COUNTERS, core.N_COUNTERS + 6)
assert GEN_REPLAY_AT < SLOT_WORDS  # GEN_REPLAY_AT: replaying, the capture's next frame (k % n, kept, not divided)


def xdp_verdict(verdict: int) -> Program:
    p = Program("ws_pass" if verdict == XDP_PASS else "ws_drop")
    p.mov(R0, verdict)
    p.exit()
    return p


def _lookup(p: Program, map_name: str, miss: str, key: int | None = None) -> None:
    """r0 = &map[key] (key None: this CPU's slot), or goto miss. Clobbers r1-r5."""
    if key is None:
        p.call("get_smp_processor_id")
        p.stx(4, R10, -4, R0)
    else:
        p.st(4, R10, -4, key)
    p.mov_reg(R2, R10)
    p.add(R2, -4)
    p.ld_map(R1, map_name)
    p.call("map_lookup_elem")
    p.jmp("==", R0, 0, miss)


def _count(p: Program, length: int, done: str) -> None:
    """One frame of `length` (a register) bytes into this CPU's slot of map 'counters' (packets,
    bytes), then on at label done. Each CPU adds to its own slot: no atomic operation."""
    _lookup(p, "counters", done)
    p.ldx(8, R1, R0, 8 * C_PACKETS)
    p.add(R1, 1)
    p.stx(8, R0, 8 * C_PACKETS, R1)
    p.ldx(8, R1, R0, 8 * C_BYTES)
    p.add_reg(R1, length)
    p.stx(8, R0, 8 * C_BYTES, R1)
    p.label(done)


def xdp_count(verdict: int = XDP_DROP) -> Program:
    """Packets and bytes (frame bytes without FCS) into this CPU's slot of map 'counters', then
    verdict."""
    p = Program("ws_count")
    p.ldx(4, R2, R1, MD_DATA)
    p.ldx(4, R7, R1, MD_DATA_END)
    p.alu("-", R7, R2, reg=True)  # r7 = frame length
    _count(p, R7, "out")
    p.mov(R0, verdict)
    p.exit()
    return p


@dataclass(frozen=True)
class SkbOffsets:
    """Where this kernel keeps what the drop counter reads (bytes, from its BTF)."""

    skb_dev: int  # struct sk_buff: dev
    dev_ifindex: int  # struct net_device: ifindex
    dev_net: int  # struct net_device: nd_net.net
    net_inum: int  # struct net: ns.inum


DROP_KEY = 24  # u32 netns inode, u32 ifindex, u32 reason, u32 zero, u64 location


def _read_kernel(p: Program, dst_off: int, size: int, base: int, off: int) -> None:
    """bpf_probe_read_kernel(r10 + dst_off, size, base + off). Clobbers r1-r5, r0 = 0 or -errno."""
    p.mov_reg(R1, R10)
    p.add(R1, dst_off)
    p.mov(R2, size)
    p.mov_reg(R3, base)
    p.add(R3, off)
    p.call("probe_read_kernel")


def _read(p: Program, typed: bool, dst_off: int, size: int, base: int, off: int) -> None:
    """The kernel's `size` bytes at base + off to r10 + dst_off: a plain load where the program
    is typed (the verifier knows base's type from BTF and guards the load: a NULL base reads 0),
    else bpf_probe_read_kernel (about 25 ns a call here). Clobbers r1-r5."""
    if typed:
        p.ldx(size, R1, base, off)
        p.stx(size, R10, dst_off, R1)
    else:
        _read_kernel(p, dst_off, size, base, off)


def kfree_skb_count(o: SkbOffsets, typed: bool = True, skip_reasons: tuple[int, ...] = ()) -> Program:
    """A program for the kfree_skb(skb, location, reason, rx_sk) tracepoint: the per-CPU hash
    'drops' counts each freed-and-dropped skb under the key (netns inode, ifindex, reason,
    location) read from the skb through this kernel's offsets (a device of 0: the skb had none
    then). Each CPU adds to its own value: no atomic operation. typed: loaded as a typed
    tracepoint program (tp_btf: 4 plain loads) rather than a raw one (4 helper calls).
    skip_reasons: drops with these reasons at the device the one-entry array 'skip' names (u64
    netns inode | ifindex << 32; 0: none) are not counted: an in-kernel receiver's own XDP_DROP
    after counting, which on veth meets this tracepoint for every frame received.
    The counter's own time per drop (tools/drops.Counter.cost; 64-byte frames over veth into
    xdp-count, 96 % of them its drops): raw 169 ns, typed 78 ns, typed skipping them 54 ns."""
    p = Program("ws_drops")
    p.mov_reg(R6, R1)
    p.ldx(8, R7, R6, 0)  # skb
    p.ldx(8, R1, R6, 16)  # reason
    p.stx(4, R10, -24, R1)
    p.ldx(8, R1, R6, 8)  # location
    p.stx(8, R10, -16, R1)
    _read(p, typed, -40, 8, R7, o.skb_dev)
    p.ldx(8, R7, R10, -40)
    _count_at_device(p, o, typed, skip_reasons)
    return p


# XDP's own drops, from its tracepoints: the reason word is XDP_EXCEPTION + the action
# (xdp_exception: XDP_ABORTED or an action the kernel does not know) or XDP_REDIRECT_ERROR +
# the errno (xdp_redirect_err, xdp_redirect_map_err); skb_drop_reason values stay below both.
XDP_EXCEPTION, XDP_REDIRECT_ERROR = 0x7FFF0000, 0x7FFE0000


def xdp_error_count(o: SkbOffsets, base: int, arg: int) -> Program:
    """A raw tracepoint program for xdp_exception(dev, prog, act) (base XDP_EXCEPTION, arg 2)
    or xdp_redirect_err / xdp_redirect_map_err(dev, prog, tgt, err, ...) (base
    XDP_REDIRECT_ERROR, arg 3): counts each under (netns, ifindex, base + act or -err, 0) in
    the same hash as kfree_skb_count. (Raw: these fire on errors only.)"""
    p = Program("ws_xdp_drops")
    p.mov_reg(R6, R1)
    p.ldx(8, R7, R6, 0)  # dev
    p.ldx(8, R1, R6, 8 * arg)
    if base == XDP_REDIRECT_ERROR:
        p.alu("neg", R1, 0, bits=32)
    p.alu("&", R1, 0xFFFF)
    p.alu("|", R1, base)
    p.stx(4, R10, -24, R1)
    p.st(8, R10, -16, 0)  # no location
    _count_at_device(p, o, False)
    return p


def _count_at_device(p: Program, o: SkbOffsets, typed: bool, skip_reasons: tuple[int, ...] = ()) -> None:
    """With the reason at r10-24 and the location at r10-16 written, and the device in r7 (0:
    none), fill in the device's ifindex and namespace inode and count the key (DROP_KEY at
    r10-32) in 'drops', unless the device is the one 'skip' names and the reason one of
    skip_reasons."""
    p.st(8, R10, -32, 0)  # netns, ifindex
    p.st(4, R10, -20, 0)
    p.jmp("==", R7, 0, "count")  # no device
    _read(p, typed, -28, 4, R7, o.dev_ifindex)
    _read(p, typed, -40, 8, R7, o.dev_net)
    p.ldx(8, R7, R10, -40)
    p.jmp("==", R7, 0, "count")
    _read(p, typed, -32, 4, R7, o.net_inum)
    if skip_reasons:
        p.ld_map_value(R1, "skip")
        p.ldx(8, R1, R1, 0)
        p.ldx(8, R2, R10, -32)  # netns inode | ifindex << 32
        p.jmp("!=", R1, R2, "count", reg=True)
        p.ldx(4, R1, R10, -24)
        for reason in skip_reasons:
            p.jmp("==", R1, reason, "skip")
        p.goto("count")
        p.label("skip")
        p.mov(R0, 0)
        p.exit()
    p.label("count")
    _hash_count(p, "drops", -32, -48)


def _hash_count(p: Program, map_name: str, key_at: int, one_at: int) -> None:
    """Add one to this CPU's value of the key at r10 + key_at in per-CPU hash map_name (a new
    key starts at 1, from r10 + one_at), then return 0. Each CPU adds to its own value."""
    p.mov_reg(R2, R10)
    p.add(R2, key_at)
    p.ld_map(R1, map_name)
    p.call("map_lookup_elem")
    p.jmp("==", R0, 0, "first")
    p.ldx(8, R1, R0, 0)
    p.add(R1, 1)
    p.stx(8, R0, 0, R1)
    p.mov(R0, 0)
    p.exit()
    p.label("first")
    p.st(8, R10, one_at, 1)
    p.mov_reg(R2, R10)
    p.add(R2, key_at)
    p.mov_reg(R3, R10)
    p.add(R3, one_at)
    p.mov(R4, 0)  # BPF_ANY: another CPU may have made the key meanwhile; this CPU's value is 1
    p.ld_map(R1, map_name)
    p.call("map_update_elem")
    p.mov(R0, 0)
    p.exit()


PT_REGS_IP = 16 * 8  # x86-64 struct pt_regs: ip after r15 .. orig_ax (bpf_perf_event_data starts with regs)


SAMPLE_KEY = 40  # u64 ip, u64 user ip, s32 kernel stack id, u32 tgid, char comm[16]
STACK_DEPTH = 64  # kernel frames kept per stack (at most sysctl kernel.perf_event_max_stack)
BPF_F_USER_STACK = 1 << 8


def sample_count() -> Program:
    """A perf-event program: the per-CPU hash 'samples' counts each sample under the key
    (interrupted instruction pointer, the user-space instruction pointer of the task, its kernel
    call chain as an id in the STACK_TRACE map 'stacks' (negative: none, the sample was in user
    space), the process id, the task's name). Only the user-space leaf is kept: Python and libc
    keep no frame pointers, so deeper user frames would be guesses. Each CPU adds to its own
    value: no atomic operation."""
    p = Program("ws_samples")
    p.mov_reg(R6, R1)
    p.ldx(8, R1, R6, PT_REGS_IP)
    p.stx(8, R10, -48, R1)
    p.mov_reg(R1, R6)  # the user-space leaf: bpf_get_stack(ctx, buf, 8, BPF_F_USER_STACK) (0 on error)
    p.mov_reg(R2, R10)
    p.add(R2, -40)
    p.mov(R3, 8)
    p.mov(R4, BPF_F_USER_STACK)
    p.call("get_stack")
    p.mov_reg(R1, R6)
    p.ld_map(R2, "stacks")
    p.mov(R3, 0)
    p.call("get_stackid")
    p.stx(4, R10, -32, R0)
    p.call("get_current_pid_tgid")
    p.alu(">>", R0, 32)
    p.stx(4, R10, -28, R0)
    p.mov_reg(R1, R10)
    p.add(R1, -24)
    p.mov(R2, 16)
    p.call("get_current_comm")
    _hash_count(p, "samples", -48, -56)
    return p


def xdp_random_drop(loss_ratio: float) -> Program:
    """Drop each frame with probability loss_ratio (bpf_get_prandom_u32), pass the rest: a DUT
    with random loss, for kernels without netem."""
    p = Program("ws_lossy")
    p.call("get_prandom_u32")
    p.jmp("<", R0, min(int(loss_ratio * 2**32), 2**32 - 1), "drop")
    p.mov(R0, XDP_PASS)
    p.exit()
    p.label("drop")
    p.mov(R0, XDP_DROP)
    p.exit()
    return p


def xdp_forward(macs: bytes | None = None, hairpin: bool = False) -> Program:
    """Count the frame (packets, bytes) in this CPU's slot of map 'counters', write macs (dst
    then src, 12 bytes) over its Ethernet addresses when given, and hand it to the interface in
    entry 0 of DEVMAP 'out' (bpf_redirect_map; XDP_DROP when the entry is empty), or with
    hairpin send it back out of the interface it came in on (XDP_TX: no map). A frame too
    short for an Ethernet header is dropped uncounted."""
    p = Program("ws_fwd")
    p.ldx(4, R7, R1, MD_DATA)
    p.ldx(4, R8, R1, MD_DATA_END)
    p.mov_reg(R2, R7)
    p.add(R2, 14)
    p.jmp(">", R2, R8, "drop", reg=True)
    p.mov_reg(R6, R8)
    p.alu("-", R6, R7, reg=True)  # r6 = frame length
    _count(p, R6, "counted")
    if macs is not None:
        _write_bytes(p, R7, 0, macs)
    if hairpin:
        p.mov(R0, XDP_TX)
    else:
        p.ld_map(R1, "out")
        p.mov(R2, 0)
        p.mov(R3, XDP_DROP)
        p.call("redirect_map")
    p.exit()
    p.label("drop")
    p.mov(R0, XDP_DROP)
    p.exit()
    return p


def xsk_redirect() -> Program:
    """Stamp the frame, then bpf_redirect_map(&xsks, rx_queue_index, XDP_PASS) (the flags' low
    bits are the verdict when the queue has no socket). The stamp (xsk.h, XSK_STAMP_LEN bytes):
    bpf_ktime_get_tai_ns and the same xor XSK_STAMP_CHECK, put in front of the frame (its head
    moved into the headroom XDP always has; this kernel refuses XDP metadata,
    bpf_xdp_adjust_meta, to XDP programs) and taken off again by the AF_XDP receiver, which
    reads it as the frame's receive time. A frame no socket takes goes on as it came."""
    p = Program("ws_xsk")
    p.mov_reg(R6, R1)
    p.mov(R8, 0)  # stamped
    p.mov(R2, -core.XSK_STAMP_LEN)
    p.call("xdp_adjust_head")
    p.jmp("!=", R0, 0, "redirect")
    p.mov(R8, 1)
    p.ldx(4, R7, R6, MD_DATA)
    p.ldx(4, R2, R6, MD_DATA_END)
    p.mov_reg(R3, R7)
    p.add(R3, core.XSK_STAMP_LEN)
    p.jmp(">", R3, R2, "redirect", reg=True)  # (never: the frame grew by as much; the verifier's bound)
    p.call("ktime_get_tai_ns")
    p.stx(8, R7, 0, R0)
    p.ld_imm64(R5, core.XSK_STAMP_CHECK)
    p.alu("^", R5, R0, reg=True)
    p.stx(8, R7, 8, R5)
    p.label("redirect")
    p.ldx(4, R2, R6, MD_RX_QUEUE_INDEX)
    p.ld_map(R1, "xsks")
    p.mov(R3, XDP_PASS)
    p.call("redirect_map")
    p.jmp("!=", R0, XDP_PASS, "out")
    p.jmp("==", R8, 0, "out")
    p.mov_reg(R1, R6)  # no socket on this queue: on to the stack as it came
    p.mov(R2, core.XSK_STAMP_LEN)
    p.call("xdp_adjust_head")
    p.mov(R0, XDP_PASS)
    p.label("out")
    p.exit()
    return p


@dataclass(frozen=True)
class GenLayout:
    """Where gen_live writes, in bytes from the frame start, and the template's values there."""

    seq_off: int  # pktgen sequence (u32, big-endian)
    seq_base: int  # the template's sequence value: worker << SEQ_BITS
    seq_mask: int  # low bits that count
    csum_off: int  # the L4 checksum (UDP, TCP, ICMP or ICMPv6)
    csum: int  # the template's L4 checksum
    fields: tuple[VarField, ...] = ()  # the header fields that vary: addresses, ports, ICMP identifier
    udp: bool = True  # the L4 checksum is UDP's: a computed zero goes as 0xFFFF
    ip_csum_off: int = 0  # the IPv4 header checksum, when an address varies (0: none)
    ip_csum: int = 0  # its template value
    outer_csum_off: int = 0  # a tunnel's outer UDP checksum over IPv6, when an address inside varies
    outer_words: tuple[int, ...] = ()  # the 16-bit words under it that change: its update reads them back
    outer_base: int = 0  # ~HC + their ~m, from the template
    paced: bool = False  # keep to state[GEN_INTERVAL] ns between frames
    key: int = 0  # this worker's slot in the state map
    header: bytes = b""  # the template's bytes before the sequence (a raw frame's through its IP header):
    #                      written again into a frame whose guard words differ
    replay_n: int = 0  # > 0: replay a capture instead: frame k is map 'frames'[k % replay_n], whole
    replay_len: int = 0  # its frames' one length (the live frame's), bytes
    limited: bool = True  # stop at state[GEN_LIMIT] (a count to send); without one the code is left out
    guard: tuple[int, ...] = ()  # 8-byte words of the header compared first: all as the template's,
    #                              the header is not rewritten (none: always rewritten)
    raw: tuple[RawField, ...] | None = None  # a frame given whole (--template): sent as it is but for these
    #                                         fields; no sequence (None: gen's own template)
    raw_flows: int = 0  # the fields walk k % raw_flows (0: k)
    raw_ip_csum_off: int = 0  # --fix-checksums: the IPv4 header checksum (0: left alone) ...
    raw_ip_sum: int = 0  # ... from this sum of the header, its field bytes and checksum zeroed (16 bits)
    raw_l4_csum_off: int = 0  # the L4 checksum (0: left alone) ...
    raw_l4_sum: int = 0  # ... from this sum (pseudo-header included), likewise


@dataclass(frozen=True)
class VarField:
    """A header field gen_live varies as the C builder does (gen_value): lo + k % m1 % m2 ...
    (the walk), or lo + a random value below `random`; its template value, and the sums that
    hold it (the IPv4 header's, the L4 one's)."""

    off: int
    width: int  # 2 (a port, the ICMP identifier) or 4 (an IPv4 address, an IPv6 one's low 32 bits)
    lo: int
    mods: tuple[int, ...] = ()
    random: int = 0
    old: int = 0
    in_ip: bool = False
    in_l4: bool = True


@dataclass(frozen=True)
class RawField:
    """A --field of a frame given whole, as the C builder varies it (gen_raw_value): inc walks
    lo + (k * step) % span, dec down from lo + span - 1, random any of span values from lo."""

    off: int
    width: int  # 1, 2 or 4 bytes, big-endian
    mode: int  # 0 inc, 1 dec, 2 random
    lo: int
    span: int
    step: int
    ip_shifts: tuple[int | None, ...] = ()  # per byte: its shift in the IPv4 header's sum (None: not in it)
    l4_shifts: tuple[int | None, ...] = ()  # likewise in the L4 sum


def _write_bytes(p: Program, base: int, at: int, data: bytes) -> None:
    """*(base + at ..) = data, 8 bytes per store where it can (a 64-bit immediate load each)."""
    i = 0
    while i < len(data):
        n = 8 if len(data) - i >= 8 else 4 if len(data) - i >= 4 else 2 if len(data) - i >= 2 else 1
        value = int.from_bytes(data[i : i + n], "little")
        if n == 8:
            p.ld_imm64(R1, value)
            p.stx(8, base, at + i, R1)
        else:
            p.st(n, base, at + i, value if n < 4 or value < 1 << 31 else value - (1 << 32))
        i += n


def _replay_frame(p: Program, L: GenLayout) -> None:
    """*r7 = frames[k % replay_n] (replay_len bytes; the index kept in state[GEN_REPLAY_AT]
    rather than divided for: a division costs more than the copy); a missing entry drops the
    frame. Keeps r6-r9."""
    p.ldx(8, R1, R6, 8 * GEN_REPLAY_AT)
    p.mov_reg(R2, R1)
    p.add(R2, 1)
    p.jmp("<", R2, L.replay_n, "next_set")
    p.mov(R2, 0)
    p.label("next_set")
    p.stx(8, R6, 8 * GEN_REPLAY_AT, R2)
    p.stx(4, R10, -8, R1)
    p.mov_reg(R2, R10)
    p.add(R2, -8)
    p.ld_map(R1, "frames")
    p.call("map_lookup_elem")
    p.jmp("==", R0, 0, "drop")
    i = 0
    while i < L.replay_len:
        n = 8 if L.replay_len - i >= 8 else 4 if L.replay_len - i >= 4 else 2 if L.replay_len - i >= 2 else 1
        p.ldx(n, R1, R0, i)
        p.stx(n, R7, i, R1)
        i += n


def _add_words(p: Program, acc: int, reg: int) -> None:
    """acc += reg's high and low 16-bit words (a 32-bit value). Uses R1."""
    p.mov_reg(R1, reg)
    p.alu(">>", R1, 16)
    p.add_reg(acc, R1)
    p.mov_reg(R1, reg)
    p.alu("&", R1, 0xFFFF)
    p.add_reg(acc, R1)


def _fold(p: Program, acc: int, udp: bool, name: str = "l4") -> None:
    """acc = ~fold(acc): the checksum of a one's complement sum (UDP's computed zero as 0xFFFF).
    Uses R1."""
    for _ in range(2):  # fold the carries back in
        p.mov_reg(R1, acc)
        p.alu(">>", R1, 16)
        p.alu("&", acc, 0xFFFF)
        p.add_reg(acc, R1)
    p.alu("^", acc, 0xFFFF)
    if udp:
        p.jmp("!=", acc, 0, f"{name}_store")
        p.mov(acc, 0xFFFF)  # UDP sends a computed zero as all ones
        p.label(f"{name}_store")


def _alu_const(p: Program, op: str, dst: int, value: int) -> None:
    """dst op= value, value 0 .. 2^32 - 1 (beyond an immediate's sign: through R1)."""
    if value < 1 << 31:
        p.alu(op, dst, value)
    else:
        p.ld_imm64(R1, value)
        p.alu(op, dst, R1, reg=True)


def _slot(i: int) -> int:
    """Field i's random value on the stack."""
    return -4 * (i + 1)


def _randoms(p: Program, ranges: list[tuple[int, int] | None]) -> None:
    """Field i's random value lo + (a random u32 % span) for each (lo, span) given, onto the
    stack (_slot(i)): taken first, since a helper call clobbers R1-R5."""
    for i, r in enumerate(ranges):
        if r is not None:
            p.call("get_prandom_u32")
            _alu_const(p, "%", R0, r[1])
            _alu_const(p, "+", R0, r[0])
            p.stx(4, R10, _slot(i), R0)


def _store_be(p: Program, reg: int, off: int, width: int) -> None:
    """The frame's bytes off .. off + width = reg's low bytes, big-endian (uses R0)."""
    if width == 1:
        p.stx(1, R7, off, reg)
        return
    p.mov_reg(R0, reg)
    p.to_be(R0, 8 * width)
    p.stx(width, R7, off, R0)


def _raw_fields(p: Program, L: GenLayout) -> None:
    """A frame given whole: each field's value for frame k written in, its bytes added to the
    IPv4 header's and the L4 sums taken without them, the checksums folded and written (what
    gen_build_raw does in C, a few instructions per field byte). Keeps r6, r7 and r9."""
    _randoms(p, [(f.lo, f.span) if f.mode == 2 else None for f in L.raw])
    p.mov_reg(R5, R9)  # r5 = k, or k % flows
    if L.raw_flows:
        _alu_const(p, "%", R5, L.raw_flows)
    p.mov(R2, L.raw_ip_sum)
    p.mov(R3, L.raw_l4_sum)
    for i, f in enumerate(L.raw):
        if f.mode == 2:
            p.ldx(4, R4, R10, _slot(i))
        else:
            p.mov_reg(R4, R5)
            if f.step != 1:
                _alu_const(p, "*", R4, f.step)
            _alu_const(p, "%", R4, f.span)
            if f.mode == 1:  # dec: lo + span - 1 - x
                p.alu("^", R4, -1)
                p.add(R4, 1)  # -x
            _alu_const(p, "+", R4, f.lo + (f.span - 1 if f.mode == 1 else 0))
        _store_be(p, R4, f.off, f.width)
        for j in range(f.width):
            for shifts, acc in ((f.ip_shifts, R2), (f.l4_shifts, R3)):
                if shifts and shifts[j] is not None:
                    p.mov_reg(R1, R4)
                    p.alu(">>", R1, 8 * (f.width - 1 - j))
                    p.alu("&", R1, 0xFF)
                    if shifts[j]:
                        p.alu("<<", R1, shifts[j])
                    p.add_reg(acc, R1)
    if L.raw_ip_csum_off:
        _fold(p, R2, False)
        p.to_be(R2, 16)
        p.stx(2, R7, L.raw_ip_csum_off, R2)
    if L.raw_l4_csum_off:
        _fold(p, R3, L.udp)
        p.to_be(R3, 16)
        p.stx(2, R7, L.raw_l4_csum_off, R3)


def _not_words(value: int, width: int) -> int:
    """The sum of ~w over a value's 16-bit words (RFC 1624's ~m)."""
    return sum(~(value >> (16 * i)) & 0xFFFF for i in range(width // 2))


def _template_fields(p: Program, L: GenLayout, base: int, ip_base: int) -> None:
    """Frame k of gen's own template: the sequence, then each varied field's value for k (random
    ones first, _randoms), the L4 checksum and,
    when an address varies, the IPv4 header's and a tunnel's outer UDP one over IPv6 (read
    back: the words it covers that changed, the new checksums among them), by RFC 1624 from
    the template's. Keeps r6, r7 and r9; r8 (data_end, checked) holds the header's sum."""
    _randoms(p, [(f.lo, f.random) if f.random else None for f in L.fields])
    p.mov_reg(R3, R9)  # the sequence
    p.alu("&", R3, L.seq_mask, bits=32)
    if L.seq_base:  # worker 0's stream bits are zero
        p.alu("|", R3, L.seq_base, bits=32)
    p.mov_reg(R5, R3)
    p.to_be(R5, 32)
    p.stx(4, R7, L.seq_off, R5)
    p.mov(R2, base)  # the L4 sum: base + m'
    _add_words(p, R2, R3)
    if L.ip_csum_off:
        p.mov(R8, ip_base)
    for i, f in enumerate(L.fields):
        if f.random:
            p.ldx(4, R4, R10, _slot(i))
        else:
            p.mov_reg(R4, R9)
            for m in f.mods:
                _alu_const(p, "%", R4, m)
            _alu_const(p, "+", R4, f.lo)
            if f.width == 4:
                p.alu("=", R4, R4, reg=True, bits=32)  # an address wraps at 32 bits, as the builder's
        _store_be(p, R4, f.off, f.width)
        for acc, held in ((R2, f.in_l4), (R8, f.in_ip)):
            if held and f.width == 4:
                _add_words(p, acc, R4)
            elif held:
                p.add_reg(acc, R4)
    _fold(p, R2, L.udp, "l4")
    p.to_be(R2, 16)
    p.stx(2, R7, L.csum_off, R2)
    if L.ip_csum_off:
        _fold(p, R8, False, "ip")
        p.to_be(R8, 16)
        p.stx(2, R7, L.ip_csum_off, R8)
    if L.outer_csum_off:
        p.mov(R5, L.outer_base)
        for at in L.outer_words:
            p.ldx(2, R1, R7, at)
            p.to_be(R1, 16)
            p.add_reg(R5, R1)
        _fold(p, R5, True, "outer")
        p.to_be(R5, 16)
        p.stx(2, R7, L.outer_csum_off, R5)


def gen_live(layout: GenLayout) -> Program:
    """Frame k (k = state[GEN_SENT]) is the template again, whatever happened to its page: live
    frames' pages are recycled unrestored, and a forwarder downstream may have rewritten MACs,
    TTL and checksum in place; so every header byte before the sequence is written afresh when
    one of the guard words differs from the template's (the Ethernet addresses' first 8 bytes
    and the word holding IPv4's TTL and header checksum, IPv6's hop limit, the outer header's in a
    tunnel: what a forwarder rewrites; the bytes of varied fields left out), which costs two
    loads and compares per frame instead of the header's write. Then seq = seq_base | (k & mask)
    and each varied field (addresses, ports, the ICMP identifier) lo + k % m1 % m2 (the C
    builder's walk over its flows and its range) or random; the L4 checksum (UDP, TCP, ICMP:
    under any tags and inside a tunnel) and, with addresses, the IPv4 header's follow by RFC 1624:
    HC' = ~(~HC + ~m + m') over the 16-bit words that changed. A tunnel's outer UDP checksum
    (over IPv6) covers the inner segment whole, whose sum its own checksum keeps constant, so it
    stays, unless inner addresses vary: then it follows the words that changed under it.

    Frames past state[GEN_LIMIT], and (paced) frames not yet due, are dropped instead of sent:
    a dropped live frame is recycled at once, so pacing costs a spin, as pktgen's does.

    Replaying (replay_n > 0), frame k is written whole from map 'frames' entry k % replay_n
    instead (8 bytes per load and store), sequence and checksum as the capture has them."""
    L = layout
    # ~HC + ~m for the template's words, folded later with the new words m'.
    base = (~L.csum & 0xFFFF) + _not_words(L.seq_base, 4) + sum(_not_words(f.old, f.width) for f in L.fields
                                                                if f.in_l4)
    ip_base = (~L.ip_csum & 0xFFFF) + sum(_not_words(f.old, f.width) for f in L.fields if f.in_ip)
    if L.replay_n:
        need = L.replay_len
    elif L.raw is not None:
        need = max([len(L.header), L.raw_ip_csum_off + 2, L.raw_l4_csum_off + 2] + [f.off + f.width for f in L.raw])
    else:
        need = max([L.seq_off + 4, L.csum_off + 2, L.ip_csum_off + 2, L.outer_csum_off + 2] +
                   [f.off + f.width for f in L.fields])

    p = Program("ws_replay" if L.replay_n else "ws_gen")
    p.ldx(4, R7, R1, MD_DATA)
    p.ldx(4, R8, R1, MD_DATA_END)
    p.mov_reg(R2, R7)
    p.add(R2, need)
    p.jmp(">", R2, R8, "out", reg=True)  # the verifier needs the bound; frames always pass it
    p.ld_map_value(R6, "state", L.key * SLOT)  # r6 = this worker's state, by address: no lookup
    p.ldx(8, R9, R6, 8 * GEN_SENT)  # r9 = k
    if L.limited:
        p.ldx(8, R1, R6, 8 * GEN_LIMIT)
        p.jmp(">=", R9, R1, "drop", reg=True)
    if L.paced:
        p.call("ktime_get_ns")
        p.alu("<<", R0, FIX)  # r0 = now, in 1/16 ns like the schedule: rates need not be whole ns apart
        p.ldx(8, R1, R6, 8 * GEN_DUE)
        p.jmp("!=", R1, 0, "started")
        p.mov_reg(R1, R0)  # the first frame is due when the first run comes, not when set up
        p.label("started")
        p.jmp("<", R0, R1, "drop", reg=True)
        p.ldx(8, R2, R6, 8 * GEN_INTERVAL)
        p.add_reg(R1, R2)  # the next one is due an interval after this one was
        p.mov_reg(R3, R0)
        p.ldx(8, R2, R6, 8 * GEN_SLACK)
        p.alu("-", R3, R2, reg=True)
        p.jmp(">=", R1, R3, "due_set", reg=True)
        # fell too far behind (a stall): catch up no more than the slack; the slots missed
        # beyond it are skipped, and counted: (now - slack - due) / interval
        p.mov_reg(R4, R3)
        p.alu("-", R4, R1, reg=True)
        p.ldx(8, R2, R6, 8 * GEN_INTERVAL)
        p.alu("/", R4, R2, reg=True)
        p.ldx(8, R5, R6, 8 * GEN_SKIPPED)
        p.add_reg(R5, R4)
        p.stx(8, R6, 8 * GEN_SKIPPED, R5)
        p.mov_reg(R1, R3)
        p.label("due_set")
        p.stx(8, R6, 8 * GEN_DUE, R1)
    if L.replay_n:
        _replay_frame(p, L)
    elif L.guard:  # rewritten only when a guard word differs (out of line, below)
        # not compared: the bytes that vary per frame (the fields, the IPv4 header checksum they move)
        field_bytes = {f.off + j for f in (*(L.raw or ()), *L.fields) for j in range(f.width)}
        field_bytes |= {at + j for at in (L.ip_csum_off, L.raw_ip_csum_off) if at for j in (0, 1)}
        for at in L.guard:
            mask = int.from_bytes(bytes(0 if at + j in field_bytes else 0xFF for j in range(8)), "little")
            p.ldx(8, R1, R7, at)
            if mask != (1 << 64) - 1:
                p.ld_imm64(R2, mask)
                p.alu("&", R1, R2, reg=True)
            p.ld_imm64(R2, int.from_bytes(L.header[at : at + 8], "little") & mask)
            p.jmp("!=", R1, R2, "rewrite", reg=True)
        p.label("written")
    else:
        _write_bytes(p, R7, 0, L.header)  # the template's headers, whatever the page held
    p.mov_reg(R1, R9)
    p.add(R1, 1)
    p.stx(8, R6, 8 * GEN_SENT, R1)  # bytes: every frame has the live frame's length (the run loop multiplies)
    if L.raw is not None:
        _raw_fields(p, L)
    elif not L.replay_n:  # the capture carries its own sequence and checksums
        _template_fields(p, L, base, ip_base)
    p.label("out")
    p.mov(R0, XDP_TX)
    p.exit()
    if L.guard and not L.replay_n:
        p.label("rewrite")
        _write_bytes(p, R7, 0, L.header)  # the template's headers, whatever the page held
        p.goto("written")
    if p.jumps_to("drop"):  # the verifier refuses code nothing reaches
        p.label("drop")
        p.mov(R0, XDP_DROP)
        p.exit()
    return p
