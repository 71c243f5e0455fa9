"""Where a run's CPU time goes, kernel included (--profile): the cpu-clock of the run's CPUs
sampled every PERIOD_NS (997 Hz), each sample counted in the kernel by a BPF program (the interrupted
instruction pointer, its kernel call chain, the task's user-space leaf and name, into a per-CPU
hash and a stack map: no ring buffer, no per-sample Python), named with /proc/kallsyms at the end
and grouped into the stages a reader of the talk knows; the chains become folded stacks
(--folded FILE) for a flame graph. The stages hold the run's samples (its workers', and the
kernel's network work in any task); other programs on the same CPUs are counted apart.

The stage table is data: (stage, pattern) in order, the first pattern that matches a function
name wins; what matches none is "other kernel". A sample in user space (this tool's C core and
Python) is its own stage. ns/packet of a stage = its samples x PERIOD_NS / packets.
"""

from __future__ import annotations

import ctypes
import os
import re
import struct
from dataclasses import dataclass, field

# 997 Hz per CPU, not 1 kHz: a worker that sleeps wakes on 1 ms timers (poll's timeout, a
# TPACKET_V3 block's retirement), and a 1 ms sample phase-locks to them. Measured on fwd at
# 100 kpps, the samples in its sends over 2.5 s: 5, 336, 3 at 1 kHz; 178, 213, 191 at 997 Hz.
PERIOD_NS = 1_003_009
KERNEL_BASE = 0xFFFF800000000000  # x86-64: kernel addresses are the upper half
TOP_SYMBOLS = 15
IDLE = "idle"
USER = "user space (wirespeed's C core, Python)"
OTHER = "other kernel"

# (stage, regular expression on the kernel function's name): the first match wins.
STAGES: tuple[tuple[str, str], ...] = (
    (IDLE, r"^(default_idle|cpuidle|do_idle|intel_idle|acpi_idle|native_safe_halt|pv_native_safe_halt|"
           r"mwait_idle|poll_idle|cpu_idle|arch_cpu_idle|__cpuidle)"),
    ("XDP and BPF programs", r"^(bpf_|__bpf|___bpf|bpf_prog_|xdp_|__xdp|do_xdp|veth_xdp|dev_map_|"
                             r"__dev_map|bq_|xdp_do_|skb_pp_cow|veth_convert_skb_to_xdp|copy_from_kernel_nofault|"
                             r"__traceiter_|trace_call_bpf)"),
    ("AF_XDP", r"^(xsk_|__xsk|xp_|xskq_)"),
    ("AF_PACKET", r"^(packet_|tpacket_|__packet|po_|fanout_|prb_|run_filter|__virtio_net_hdr|virtio_net_hdr)"),
    ("system call entry and exit", r"^(entry_SYSCALL|do_syscall|syscall_|__x64_sys_|__do_sys_|x64_sys_call|"
                                   r"exit_to_user|__sys_|___sys_|____sys_|do_recvmmsg|do_sendmmsg|fdget|__fdget|fput|"
                                   r"sockfd_lookup|syscall_exit|ksys_|security_socket_)"),
    ("speculation mitigations", r"^(srso_|__x86_return_thunk|retbleed_|entry_untrain|__x86_indirect_thunk|"
                                r"entry_ibpb|write_ibpb|clear_bhb)"),
    ("GSO and checksums", r"^(skb_segment|__skb_gso|skb_gso|gso_|__udp_gso|udp4_ufo|__skb_checksum|"
                          r"skb_checksum|csum_partial|csum_|__csum|inet_gso|ipv4_gso|udp4_gso|__udp4_gso)"),
    ("copy to and from user", r"(copy_user|_copy_from_user|_copy_to_user|copy_from_iter|copy_to_iter|"
                              r"^memcpy|^memmove|^__memcpy|^memset|^__memset|rep_movs|skb_copy_datagram|"
                              r"iov_iter|copyin|copyout|_copy_from_iter|__get_user|__put_user|copy_iovec|"
                              r"copy_msghdr|import_iovec|__import_iovec|import_ubuf|__check_object_size|"
                              r"__check_heap_object|__virt_addr_valid|is_vmalloc_addr|copy_mc_|skb_copy_bits)"),
    ("skb allocation and free", r"(alloc_skb|__alloc_skb|kfree_skb|skb_release|__kfree_skb|consume_skb|"
                                r"napi_consume_skb|skb_free_head|kmalloc_reserve|build_skb|skb_clone|"
                                r"napi_skb_cache|skb_attempt_defer|skb_defer|sock_wfree|sock_alloc_send|"
                                r"skb_set_owner|^skb_put|^skb_push|^skb_pull|pskb_|skb_orphan|skb_page_frag|"
                                r"skb_store_bits|skb_copy_ubufs|__copy_skb_header|skb_headers_offset|"
                                r"skb_scrub_packet)"),
    ("queueing discipline", r"(qdisc|sch_direct_xmit|pfifo|^tbf_|fq_codel|^__dev_queue_xmit|^dev_queue_xmit|"
                            r"netif_tx_|txq_)"),
    ("driver transmit (veth)", r"^(veth_|dev_hard_start_xmit|xmit_one|netdev_core_pick_tx|netdev_pick_tx|"
                               r"validate_xmit|__netdev_start_xmit|netdev_start_xmit|dev_xmit|__dev_direct_xmit|"
                               r"__dev_forward_skb|dev_forward_skb|passthru_features_check|skb_network_protocol|"
                               r"dev_get_by_index|netif_skb_features)"),
    ("receive: netif, GRO, NAPI, softirq", r"^(netif_|__netif_|napi_|__napi|gro_|dev_gro|inet_gro|udp_gro|"
                                           r"udp4_gro|skb_gro|net_rx_action|process_backlog|__do_softirq|"
                                           r"handle_softirqs|do_softirq|irq_exit|enqueue_to_backlog|rps_|"
                                           r"eth_type_trans|eth_header_parse|__netif_receive|deliver_skb|"
                                           r"get_rps_cpu|__raise_softirq|raise_softirq|__skb_flow_dissect|"
                                           r"skb_flow_|__skb_get_hash|skb_get_hash)"),
    ("sockets and UDP", r"^(sock_|__sock|udp|__udp|inet_|ip_make_skb|ip_append|__ip_append|skb_recv|"
                        r"__skb_recv|__skb_wait|__skb_try_recv|sk_|__sk_|release_sock|lock_sock|map_id_|make_kuid|"
                        r"from_kuid)"),
    ("IP, routing, forwarding", r"^(ip_|ip6_|__ip|fib_|fib6_|rt_|dst_|ipv6_|ipv4_|neigh_|__neigh|arp_|"
                                r"raw_local_deliver|icmp|__icmp|__inet_dev_addr_type|inet_dev_addr_type|"
                                r"__xfrm|xfrm_|security_xfrm|security_skb_classify_flow|l3mdev_|find_exception)"),
    ("netfilter", r"^(nf_|nft_|ipt_|__nf|iptable|ip6t_)"),
    ("memory: page and slab allocation", r"(kmem_cache|__kmalloc|^kmalloc|^kfree|slab|^page_|__page|"
                                         r"alloc_pages|free_pages|__free_pages|get_page_from|rmqueue|"
                                         r"__alloc_pages|folio|_pcp|free_unref|__slab|memcg|mod_node_page)"),
    ("locking and atomics", r"(_raw_spin|spin_lock|spin_unlock|queued_spin|_raw_read|_raw_write|mutex_|"
                            r"^rcu_|__rcu|osq_|^lock_|^_atomic|local_bh)"),
    ("scheduler, timers, interrupts", r"^(schedule|__schedule|pick_next|finish_task|try_to_wake|ttwu|"
                                      r"enqueue_task|dequeue_task|update_curr|hrtimer|tick_|irq|asm_|sysvec|"
                                      r"__sysvec|apic|native_|__update|update_|psi_|task_|perf_|"
                                      r"__perf|ctx_|x86_pmu|wake_up|__wake_up|autoremove|__cond_resched|"
                                      r"_cond_resched|read_tsc|ktime_get|pvclock_|kvm_clock|kvm_sched_clock)"),
)
# Samples of another task are still the run's when the kernel was doing network work in it:
# a softirq on its way out of an interrupt or a system call, or one of these kernel tasks (the
# idle task, swapper, is tgid 0).
SOFTIRQ = frozenset({"handle_softirqs", "__do_softirq", "net_rx_action"})
KERNEL_TASK = re.compile(r"^(ksoftirqd/|napi/)")
TOP_TASKS = 5
_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in STAGES)


def stage_of(symbol: str) -> str:
    """The stage a kernel function's time belongs to (OTHER when no pattern matches)."""
    for name, pattern in _COMPILED:
        if pattern.search(symbol):
            return name
    return OTHER


def fold(samples: dict[int, int], symbols: tuple[list[int], list[str]]) -> tuple[dict[str, int], dict[str, int]]:
    """Sample counts by instruction pointer -> (by stage, by function); user-space addresses
    are one stage and one 'function'."""
    from wirespeed.bpf.btf import symbol_at

    by_stage: dict[str, int] = {}
    by_fn: dict[str, int] = {}
    for ip, n in samples.items():
        if ip < KERNEL_BASE:
            fn, stage = "[user space]", USER
        else:
            fn = symbol_at(symbols, ip)
            stage = stage_of(fn)
        by_stage[stage] = by_stage.get(stage, 0) + n
        by_fn[fn] = by_fn.get(fn, 0) + n
    return by_stage, by_fn


def result(samples: dict[int, int], symbols, packets: int, period_ns: int = PERIOD_NS,
           cpu_ns_per_pkt: float | None = None, others: dict[str, int] | None = None) -> dict:
    """The `profile` object of a summary: every stage and the top functions in ns/packet and as
    a share of the busy samples (idle apart), their sum beside the run's own CPU ns/packet; with
    `others` (samples by task name of other tasks on the same CPUs, Samples.split), those apart,
    never in the stages or the sum."""
    by_stage, by_fn = fold(samples, symbols)
    busy = sum(n for s, n in by_stage.items() if s != IDLE)
    per = period_ns / packets if packets else None

    def row(name: str, n: int) -> dict:
        return {"name": name, "samples": n, "ns_per_pkt": round(n * per, 1) if per else None,
                "share": round(n / busy, 4) if busy and name != IDLE else None}

    order = [s for s, _ in STAGES if s != IDLE] + [OTHER, USER]
    stages = [row(s, by_stage[s]) for s in order if by_stage.get(s)]
    top = sorted(((f, n) for f, n in by_fn.items()), key=lambda kv: -kv[1])[:TOP_SYMBOLS]
    out = {"period_ns": period_ns, "samples": sum(by_stage.values()), "busy_samples": busy,
           "idle_samples": by_stage.get(IDLE, 0), "stages": stages,
           "symbols": [{**row(f, n), "stage": USER if f == "[user space]" else stage_of(f)} for f, n in top],
           "sum_ns_per_pkt": round(busy * per, 1) if per else None, "cpu_ns_per_pkt": cpu_ns_per_pkt}
    if others is not None:
        n = sum(others.values())
        out["other_tasks"] = {"samples": n, "ns_per_pkt": round(n * per, 1) if per else None,
                              "tasks": dict(sorted(others.items(), key=lambda kv: -kv[1])[:TOP_TASKS])}
    return out


def cpus_of(plan_cpus) -> list[int]:
    """The CPUs the workers run on (where their kernel work runs too, on veth the receiver's),
    else every CPU this process may use."""
    import os

    cpus = sorted({c for c in plan_cpus or () if c is not None})
    return cpus or sorted(os.sched_getaffinity(0))


def table(p: dict):
    """The profile as the human summary shows it: every stage, then the top functions."""
    from wirespeed.base.output import make_table

    f = lambda v: "-" if v is None else f"{v:,.1f}"  # noqa: E731
    pct = lambda v: "-" if v is None else f"{100 * v:.1f} %"  # noqa: E731
    rows = [(s["name"], f(s["ns_per_pkt"]), pct(s["share"])) for s in p["stages"]]
    rows.append(("sum (busy samples)", f(p["sum_ns_per_pkt"]), ""))
    rows.append(("the run's own CPU time", f(p["cpu_ns_per_pkt"]), ""))
    o = p.get("other_tasks")
    if o and o["samples"]:
        rows.append((f"other tasks on these CPUs, not in the sum ({', '.join(o['tasks'])})", f(o["ns_per_pkt"]), ""))
    rows += [("", "", "")] + [(f"  {s['name']} ({s['stage']})", f(s["ns_per_pkt"]), pct(s["share"]))
                              for s in p["symbols"]]
    return make_table(f"where the time went: {p['samples']:,} samples every {p['period_ns'] // 1000} µs "
                      f"({p['idle_samples']:,} idle)", ["<stage / function", "ns/packet", "share"], rows,
                      caption="stages from the kernel function each sample interrupted (runner/profiler.py "
                              "STAGES); the top functions below"
                              + (f"; {p['folded']['stacks']:,} folded stacks in {p['folded']['file']}"
                                 if p.get("folded") else ""))


@dataclass
class Samples:
    """What the sampling counted: samples by (ip, user-space leaf ip, kernel stack id, tgid,
    comm) and the kernel call chains by id (leaf first)."""

    counts: dict[tuple[int, int, int, int, str], int] = field(default_factory=dict)
    stacks: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def by_ip(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for (ip, *_), n in self.counts.items():
            out[ip] = out.get(ip, 0) + n
        return out

    def split(self, symbols, own: set[int]) -> tuple[dict[int, int], dict[str, int]]:
        """The run's samples by instruction pointer, and the rest's count by task name. The run's:
        its own processes' (tgid in own), the idle task's, and the kernel's network work in
        whatever task it ran (a softirq, ksoftirqd, a NAPI thread: veth delivers in the sender's
        softirq, and this CPU's traffic is the run's). The rest (another program's time, its
        system calls, a kernel thread's) is not the run's, though it ran on the run's CPUs."""
        from wirespeed.bpf.btf import symbol_at

        softirq: dict[int, bool] = {}
        run: dict[int, int] = {}
        others: dict[str, int] = {}
        for (ip, _, kstack, tgid, comm), n in self.counts.items():
            mine = tgid in own or tgid == 0 or KERNEL_TASK.match(comm) is not None
            if not mine and ip >= KERNEL_BASE and kstack >= 0:
                if kstack not in softirq:
                    softirq[kstack] = any(symbol_at(symbols, a) in SOFTIRQ for a in self.stacks.get(kstack, ()))
                mine = softirq[kstack]
            if mine:
                run[ip] = run.get(ip, 0) + n
            else:
                others[comm or "?"] = others.get(comm or "?", 0) + n
        return run, others


def folded(samples: Samples, symbols, user=None) -> list[str]:
    """The samples as folded stacks, one line per distinct stack, root first: 'task;user-space
    leaf;kernel frames... count' (what flamegraph.pl, inferno and speedscope read). A sample in
    user space is 'task;leaf'; a kernel chain the stack map lost (a hash collision) is marked."""
    from wirespeed.bpf.btf import symbol_at

    user = user or UserNames()
    out: dict[str, int] = {}
    for (ip, uip, kstack, tgid, comm), n in samples.counts.items():
        frames = [comm.replace(";", ":").replace(" ", "_") or "?"]
        if ip < KERNEL_BASE:
            frames.append(user.name(tgid, ip))
        else:
            if uip:
                frames.append(user.name(tgid, uip))
            chain = samples.stacks.get(kstack) if kstack >= 0 else None
            if chain:
                frames += [symbol_at(symbols, a) for a in reversed(chain)]
            else:
                frames += ["[kernel stack lost]", symbol_at(symbols, ip)]
        line = ";".join(frames)
        out[line] = out.get(line, 0) + n
    return [f"{line} {n}" for line, n in sorted(out.items())]


class UserNames:
    """Names a user-space address: 'module`function' where this process has the same module
    mapped at the same place and the dynamic linker knows an exported function that covers the
    address (a forked worker shares its parent's mappings), else '[module]' from that process's
    maps, else '[unknown]'."""

    def __init__(self):
        self.own = _maps("self")
        self._maps: dict[int, list] = {}

    def name(self, tgid: int, addr: int) -> str:
        if tgid not in self._maps:
            self._maps[tgid] = _maps(str(tgid)) if tgid else []
        for lo, hi, path in self._maps[tgid] or self.own:
            if lo <= addr < hi:
                module = os.path.basename(path) or path
                if (lo, hi, path) in self.own:
                    fn = _exported(addr)
                    if fn:
                        return f"{module}`{fn}"
                return f"[{module}]"
        return "[unknown]"


def _maps(pid: str) -> list[tuple[int, int, str]]:
    """The executable mappings of a process: (start, end, path)."""
    out = []
    try:
        with open(f"/proc/{pid}/maps") as f:
            for line in f:
                parts = line.split(None, 5)
                if len(parts) == 6 and "x" in parts[1]:
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    out.append((lo, hi, parts[5].strip()))
    except OSError:
        pass
    return out


class _DlInfo(ctypes.Structure):
    _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p), ("sname", ctypes.c_char_p),
                ("saddr", ctypes.c_void_p)]


class _Sym(ctypes.Structure):  # Elf64_Sym
    _fields_ = [("name", ctypes.c_uint32), ("info", ctypes.c_uint8), ("other", ctypes.c_uint8),
                ("shndx", ctypes.c_uint16), ("value", ctypes.c_uint64), ("size", ctypes.c_uint64)]


def _exported(addr: int) -> str | None:
    """The exported function of this process that covers addr (dladdr1 with its symbol's size:
    the nearest symbol below a static function is not its name), else None."""
    try:
        dladdr1 = ctypes.CDLL(None).dladdr1
    except (OSError, AttributeError):
        return None
    info, sym = _DlInfo(), ctypes.POINTER(_Sym)()
    dladdr1.argtypes = (ctypes.c_void_p, ctypes.POINTER(_DlInfo), ctypes.POINTER(ctypes.POINTER(_Sym)), ctypes.c_int)
    if not dladdr1(addr, ctypes.byref(info), ctypes.byref(sym), 1) or not info.sname or not sym:  # RTLD_DL_SYMENT
        return None
    if not info.saddr <= addr < info.saddr + max(sym.contents.size, 1):
        return None
    return info.sname.decode(errors="replace")


SAMPLE = struct.Struct("<QQiI16s")  # bpf.progs.SAMPLE_KEY


class Profiler:
    """Samples the given CPUs from start() to stop() (which returns the Samples)."""

    def __init__(self, cpus: list[int], period_ns: int = PERIOD_NS):
        from wirespeed.bpf import MAP_STACK_TRACE, CountMap, Map, PerfSampler, progs

        self.period_ns = period_ns
        self.map = CountMap(progs.SAMPLE_KEY, 65536, "ws_samples")
        self.stacks = None
        try:
            self.stacks = Map(MAP_STACK_TRACE, 8 * progs.STACK_DEPTH, 16384, "ws_stacks")
            self.sampler = PerfSampler(cpus, period_ns, progs.sample_count(),
                                       {"samples": self.map, "stacks": self.stacks})
        except BaseException:
            self.map.close()
            if self.stacks is not None:
                self.stacks.close()
            raise

    def stop(self) -> Samples:
        self.sampler.close()
        out = Samples()
        for k, n in self.map.items().items():
            ip, uip, kstack, tgid, comm = SAMPLE.unpack(k)
            key = (ip, uip, kstack, tgid, comm.split(b"\0", 1)[0].decode(errors="replace"))
            out.counts[key] = out.counts.get(key, 0) + n
            if kstack >= 0 and kstack not in out.stacks:
                words = self.stacks.lookup_u64(kstack)
                out.stacks[kstack] = tuple(int(a) for a in words if a)
        self.map.close()
        self.stacks.close()
        return out
