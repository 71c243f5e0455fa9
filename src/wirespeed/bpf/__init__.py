"""BPF from Python without libbpf or clang: programs from `asm`, loaded with the bpf() system
call (the C core's thin wrappers), maps, and XDP attachment through a bpf_link.

A bpf_link keeps the program attached only while its fd is open, so a tool that exits, is
interrupted or is killed (SIGKILL included) leaves nothing attached. An interface that already
carries an XDP program is never taken over: attaching fails with one line naming it.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Callable

import numpy as np

from wirespeed import core
from wirespeed.bpf.asm import Program
from wirespeed.base.errors import PrivilegeError, WirespeedError

# enum bpf_prog_type / bpf_map_type / attach flags (linux/bpf.h, linux/if_link.h)
PROG_TYPE_XDP, PROG_TYPE_PERF_EVENT, PROG_TYPE_RAW_TRACEPOINT, PROG_TYPE_TRACING = 6, 7, 17, 26
TRACE_RAW_TP = 23  # a tracing program's attach type: a tracepoint, its arguments typed by BTF
MAP_ARRAY, MAP_PERCPU_HASH, MAP_PERCPU_ARRAY, MAP_STACK_TRACE, MAP_DEVMAP, MAP_XSKMAP = 2, 5, 6, 7, 14, 17
BPF_F_MMAPABLE = 1 << 10
XDP_FLAGS_SKB_MODE, XDP_FLAGS_DRV_MODE = 1 << 1, 1 << 2
BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
MODES = {"native": XDP_FLAGS_DRV_MODE, "skb": XDP_FLAGS_SKB_MODE}


class BpfError(WirespeedError):
    """A bpf() call failed; `log` holds the verifier's words when a load was refused."""

    def __init__(self, message: str, log: str = ""):
        super().__init__(message)
        self.log = log


def _fail(e: OSError, what: str) -> WirespeedError:
    if e.errno in (errno.EPERM, errno.EACCES):
        return PrivilegeError(f"{what}: {e.strerror} (needs root or CAP_BPF + CAP_NET_ADMIN)")
    if e.errno in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return WirespeedError(f"{what}: {e.strerror} (this kernel lacks the BPF feature)")
    return WirespeedError(f"{what}: {e.strerror}")


def possible_cpus() -> int:
    """CPUs a per-CPU map holds a value for (/sys/devices/system/cpu/possible)."""
    with open("/sys/devices/system/cpu/possible") as f:
        n = 0
        for part in f.read().strip().split(","):
            lo, _, hi = part.partition("-")
            n = max(n, int(hi or lo) + 1)
        return n


class Map:
    """A BPF map with u32 keys; per-CPU values come back as one row per possible CPU.
    mmapable: an array whose values user space maps (`words`): read in place, no system call."""

    def __init__(self, kind: int, value_size: int, entries: int, name: str, mmapable: bool = False):
        self.kind, self.value_size, self.entries, self.name = kind, value_size, entries, name
        self._mem = None
        try:
            self.fd = core.bpf_map_create(kind, 4, value_size, entries, name, BPF_F_MMAPABLE if mmapable else 0)
        except OSError as e:
            raise _fail(e, f"creating BPF map {name}") from None
        self.per_cpu = kind == MAP_PERCPU_ARRAY
        if mmapable:
            size = -(-value_size * entries // mmap.PAGESIZE) * mmap.PAGESIZE
            try:
                self._mem = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            except OSError as e:
                self.close()
                raise _fail(e, f"mapping BPF map {name}") from None

    def words(self) -> np.ndarray:
        """The values of an mmapable map as (entries, value_size / 8) u64, live."""
        return np.ndarray((self.entries, self.value_size // 8), np.uint64, buffer=self._mem)

    def update(self, key: int, value: bytes) -> None:
        try:
            core.bpf_map_update(self.fd, key.to_bytes(4, "little"), value)
        except OSError as e:
            raise _fail(e, f"updating BPF map {self.name}[{key}]") from None

    def lookup_u64(self, key: int = 0) -> np.ndarray:
        """The value as u64 words: shape (cpus, words) for per-CPU maps, (words,) otherwise."""
        rows = possible_cpus() if self.per_cpu else 1
        words = (self.value_size + 7) // 8
        out = np.zeros(rows * words, np.uint64)
        core.bpf_map_lookup(self.fd, key.to_bytes(4, "little"), out)
        return out.reshape(rows, words) if self.per_cpu else out

    def close(self) -> None:
        """The fd now; the memory when the last numpy view of it goes."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class RunStats:
    """While open, the kernel times every BPF program's runs (BPF_ENABLE_STATS); where it cannot,
    `on` is False and the programs' run figures stay 0."""

    def __init__(self):
        try:
            self.fd, self.on = core.bpf_enable_stats(), True
        except OSError:
            self.fd, self.on = -1, False

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class CountMap:
    """A per-CPU hash from fixed-size keys to one u64 count: items() sums every CPU's count of
    each key (one system call per key to walk it, one to read it)."""

    def __init__(self, key_size: int, entries: int, name: str):
        self.key_size, self.name = key_size, name
        try:
            self.fd = core.bpf_map_create(MAP_PERCPU_HASH, key_size, 8, entries, name, 0)
        except OSError as e:
            raise _fail(e, f"creating BPF map {name}") from None

    def items(self) -> dict[bytes, int]:
        out: dict[bytes, int] = {}
        key, nxt = None, bytearray(self.key_size)
        values = np.zeros(possible_cpus(), np.uint64)
        while core.bpf_map_next_key(self.fd, key, nxt):
            key = bytes(nxt)
            if core.bpf_map_lookup(self.fd, key, values):
                out[key] = int(values.sum())
        return out

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class RawTracepoint:
    """A program run at a kernel tracepoint (by name, no tracefs) while this object is open; a
    process that dies, even by SIGKILL, leaves nothing attached. typed_as: the tracepoint's BTF
    type id (btf.tracepoint): the program is then a typed one (tp_btf), which reads what its
    arguments point to with plain loads instead of a helper call each."""

    def __init__(self, name: str, program: Program, maps: dict[str, "Map | CountMap"], typed_as: int | None = None):
        if typed_as is None:
            self.prog = Prog(program, maps, PROG_TYPE_RAW_TRACEPOINT)
        else:
            self.prog = Prog(program, maps, PROG_TYPE_TRACING, TRACE_RAW_TP, typed_as)
        try:
            self.fd = core.bpf_raw_tracepoint_open(None if typed_as is not None else name, self.prog.fd)
        except OSError as e:
            self.prog.close()
            raise _fail(e, f"attaching to the tracepoint {name}") from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.prog.close()


class PerfSampler:
    """The cpu-clock of each CPU given, sampled every period_ns, each sample running `program`
    (PERF_EVENT) while this object is open."""

    def __init__(self, cpus: list[int], period_ns: int, program: Program, maps: dict[str, "Map | CountMap"]):
        self.prog = Prog(program, maps, PROG_TYPE_PERF_EVENT)
        self.fds: list[int] = []
        try:
            for cpu in cpus:
                self.fds.append(core.perf_sample_bpf(cpu, period_ns, self.prog.fd))
        except OSError as e:
            self.close()
            raise _fail(e, f"sampling CPU {cpus[len(self.fds)]} (perf_event_open)") from None

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []
        self.prog.close()


SHOW: Callable[["Prog"], None] | None = None  # called with every program loaded (--show-program)


class Prog:
    """A loaded program; the maps it names must be open while it loads."""

    def __init__(self, program: Program, maps: dict[str, Map] | None = None, prog_type: int = PROG_TYPE_XDP,
                 attach_type: int = 0, attach_btf_id: int = 0):
        self.program = program
        fds = {name: m.fd for name, m in (maps or {}).items()}
        fd, log = core.bpf_prog_load(prog_type, program.assemble(fds), "GPL", program.name[:15], attach_type, 1,
                                     attach_btf_id)
        if fd < 0:
            err = -fd
            what = f"loading BPF program {program.name}: {os.strerror(err)}"
            if err in (errno.EPERM,):
                raise PrivilegeError(f"{what} (needs root or CAP_BPF)")
            raise BpfError(what + (" (verifier log follows)" if log.strip() else ""), log)
        self.fd = fd
        self.id, _, self.xlated_bytes, self.jited_bytes, _, _ = core.bpf_prog_info(fd)
        if SHOW is not None:
            SHOW(self)

    def runs(self) -> tuple[int, int]:
        """(ns spent in the program, runs) as the kernel counted them while run statistics were
        on (RunStats); (0, 0) when they were not."""
        return tuple(core.bpf_prog_info(self.fd)[4:6])

    def listing(self) -> str:
        """The program as loaded: a header (its id, size as built, after the verifier and
        JIT-compiled), then one line per instruction as built, with map names."""
        n = len(self.program)
        return (f"; {self.program.name}: id {self.id}, {n} instructions ({8 * n} bytes) as built, "
                f"{self.xlated_bytes // 8} after the verifier, {self.jited_bytes} bytes JIT-compiled\n"
                + self.program.listing())

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def xdp_of_link(link) -> dict | None:
    """The XDP program a netlink link message reports: {'id', 'mode'} or None."""
    xdp = link.get_attr("IFLA_XDP")
    mode = xdp.get_attr("IFLA_XDP_ATTACHED") if xdp is not None else None
    if not mode:
        return None
    prog_id = (xdp.get_attr("IFLA_XDP_PROG_ID") or xdp.get_attr("IFLA_XDP_DRV_PROG_ID")
               or xdp.get_attr("IFLA_XDP_SKB_PROG_ID"))
    return {"id": prog_id, "mode": {1: "native", 2: "skb", 3: "offload", 4: "multi"}.get(mode, str(mode))}


def xdp_attached(ifindex: int) -> dict | None:
    """The XDP program on an interface of this thread's namespace: {'id', 'mode'} or None."""
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        return xdp_of_link(ipr.get_links(ifindex)[0])


class XdpLink:
    """prog attached to ifindex (this thread's namespace) while this object is open.

    mode 'auto' tries native, then generic (skb); when native was refused, `fallback` says
    why (the kernel's own words, from netlink's extended ack). When every mode is refused, the
    error carries the kernel's reason for each."""

    def __init__(self, prog: Prog, ifindex: int, ifname: str, mode: str = "native"):
        self.fd = -1
        self.mode = mode
        self.fallback: str | None = None
        present = xdp_attached(ifindex)
        if present is not None:
            raise WirespeedError(f"{ifname} already has an XDP program attached (id {present['id']}, "
                                 f"{present['mode']}); not replacing it")
        modes = [mode] if mode != "auto" else ["native", "skb"]
        why: dict[str, tuple[int, str]] = {}
        for m in modes:
            try:
                self.fd = core.bpf_link_create_xdp(prog.fd, ifindex, MODES[m])
                self.mode = m
                if why:
                    self.fallback = f"native XDP refused on {ifname} ({why['native'][1]}): attached generic XDP"
                return
            except OSError as e:
                if e.errno == errno.EBUSY:
                    raise WirespeedError(f"{ifname} already has an XDP program attached; not replacing it") from None
                if e.errno in (errno.EPERM, errno.EACCES):
                    raise _fail(e, f"attaching XDP ({m}) to {ifname}") from None
                why[m] = (e.errno, kernel_reason(prog, ifindex, m) or e.strerror)
        if len(why) > 1:
            raise WirespeedError(f"{ifname} refused XDP: native: {why['native'][1]}; generic: {why['skb'][1]}")
        err, reason = why[modes[0]]
        if modes[0] == "native" and err == errno.EOPNOTSUPP:
            raise WirespeedError(f"{ifname} has no native XDP ({reason}): use -m skb or -m auto")
        if modes[0] == "native":
            raise WirespeedError(f"{ifname} refused native XDP: {reason}; -m skb (or -m auto) attaches generic XDP")
        raise WirespeedError(f"{ifname} refused generic XDP: {reason}")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


XDP_FLAGS_UPDATE_IF_NOEXIST = 1


def kernel_reason(prog: Prog, ifindex: int, mode: str) -> str | None:
    """Why the kernel refuses to attach prog in this mode, in its own words: bpf() carries no
    message, so the same attach is asked through netlink, whose extended ack does (e.g. veth's
    "Peer MTU is too large to set XDP"). Should it succeed after all, it is undone at once."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    flags = MODES[mode] | XDP_FLAGS_UPDATE_IF_NOEXIST
    try:
        with IPRoute(ext_ack=True) as ipr:
            try:
                ipr.link("set", index=ifindex, xdp={"attrs": [("IFLA_XDP_FD", prog.fd), ("IFLA_XDP_FLAGS", flags)]})
            except NetlinkError as e:
                return (e.args[1] if len(e.args) > 1 and e.args[1] else os.strerror(e.code)).strip()
            ipr.link("set", index=ifindex, xdp={"attrs": [("IFLA_XDP_FD", -1), ("IFLA_XDP_FLAGS", MODES[mode])]})
    except Exception:  # the probe is only for the message
        return None
    return None
