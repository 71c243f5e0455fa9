"""The profiler's stage table against kernel function names (a list captured from this kernel's
hot functions under gen and sink), and its arithmetic on made-up samples."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from wirespeed.bpf import progs
from wirespeed.runner import profiler as P

SYMBOLS = Path(__file__).resolve().parents[1] / "data" / "kernel_hot_symbols.txt"

EXAMPLES = {
    "entry_SYSCALL_64": "system call entry and exit",
    "copy_from_kernel_nofault": "XDP and BPF programs",  # bpf_probe_read_kernel
    "pvclock_clocksource_read_nowd": "scheduler, timers, interrupts",  # the KVM guest's clock
    "do_syscall_64": "system call entry and exit",
    "__x64_sys_sendto": "system call entry and exit",
    "tpacket_snd": "AF_PACKET",
    "packet_sendmsg": "AF_PACKET",
    "tpacket_rcv": "AF_PACKET",
    "xsk_generic_xmit": "AF_XDP",
    "__xsk_generic_xmit": "AF_XDP",
    "bpf_prog_run_generic_xdp": "XDP and BPF programs",
    "veth_xdp_rcv": "XDP and BPF programs",
    "skb_pp_cow_data": "XDP and BPF programs",
    "veth_xmit": "driver transmit (veth)",
    "dev_hard_start_xmit": "driver transmit (veth)",
    "__dev_queue_xmit": "queueing discipline",
    "pfifo_fast_enqueue": "queueing discipline",
    "__netif_receive_skb_core": "receive: netif, GRO, NAPI, softirq",
    "net_rx_action": "receive: netif, GRO, NAPI, softirq",
    "process_backlog": "receive: netif, GRO, NAPI, softirq",
    "ip_rcv": "IP, routing, forwarding",
    "fib_table_lookup": "IP, routing, forwarding",
    "ip_forward": "IP, routing, forwarding",
    "udp_sendmsg": "sockets and UDP",
    "__udp4_lib_rcv": "sockets and UDP",
    "kmem_cache_alloc_node_noprof": "memory: page and slab allocation",
    "__alloc_skb": "skb allocation and free",
    "kfree_skb_list_reason": "skb allocation and free",
    "_copy_from_user": "copy to and from user",
    "memcpy": "copy to and from user",
    "_raw_spin_lock": "locking and atomics",
    "nf_hook_slow": "netfilter",
    "intel_idle": "idle",
    "pv_native_safe_halt": "idle",
    "srso_alias_return_thunk": "speculation mitigations",
    "skb_segment": "GSO and checksums",
    "csum_partial": "GSO and checksums",
    "__icmp_send": "IP, routing, forwarding",
    "do_recvmmsg": "system call entry and exit",
    "__schedule": "scheduler, timers, interrupts",
    "some_function_nobody_knows": "other kernel",
}


@pytest.mark.parametrize("symbol,stage", sorted(EXAMPLES.items()))
def test_each_function_lands_in_its_stage(symbol, stage):
    assert P.stage_of(symbol) == stage


def test_every_stage_has_an_example_and_compiles():
    named = {s for s, _ in P.STAGES}
    assert named <= set(EXAMPLES.values()), named - set(EXAMPLES.values())
    for _, pattern in P.STAGES:
        re.compile(pattern)


def test_the_captured_hot_functions_are_mostly_named():
    """Functions that carried the time of gen (afpacket, udp, xdp) and sink runs on this kernel:
    at least 90 % of their samples fall in a named stage, not 'other kernel'."""
    rows = [line.rsplit(None, 1) for line in SYMBOLS.read_text().splitlines() if line and not line.startswith("#")]
    total = sum(int(n) for _, n in rows)
    other = sum(int(n) for s, n in rows if P.stage_of(s) == P.OTHER)
    assert total > 0 and other / total < 0.10, [s for s, n in rows if P.stage_of(s) == P.OTHER]


def test_samples_become_ns_per_packet_by_stage():
    symbols = ([0xFFFFFFFF81000000, 0xFFFFFFFF81001000, 0xFFFFFFFF81002000],
               ["tpacket_snd", "veth_xmit", "intel_idle"])
    samples = {0xFFFFFFFF81000010: 30, 0xFFFFFFFF81000800: 10, 0xFFFFFFFF81001004: 20,
               0xFFFFFFFF81002000: 50, 0x7F0000001000: 40}
    out = P.result(samples, symbols, packets=1_000_000, period_ns=100_000, cpu_ns_per_pkt=1.1)
    stages = {s["name"]: s for s in out["stages"]}
    assert stages["AF_PACKET"]["samples"] == 40 and stages["AF_PACKET"]["ns_per_pkt"] == 4.0
    assert stages["driver transmit (veth)"]["ns_per_pkt"] == 2.0 and stages[P.USER]["ns_per_pkt"] == 4.0
    assert P.IDLE not in stages and out["idle_samples"] == 50
    assert out["busy_samples"] == 100 and out["sum_ns_per_pkt"] == 10.0
    assert abs(sum(s["share"] for s in out["stages"]) - 1) < 1e-9
    assert (out["symbols"][0]["name"], out["symbols"][0]["samples"]) == ("intel_idle", 50)


def test_the_sample_program_keys_the_ip_chain_user_leaf_and_task():
    p = progs.sample_count()
    text = p.listing().replace(" ", "")
    assert p.maps() == {"samples", "stacks"} and f"+{progs.PT_REGS_IP})" in text
    assert "callget_stackid" in text and "callget_stack#" in text and "callget_current_comm" in text
    assert P.SAMPLE.size == progs.SAMPLE_KEY


def _samples():
    symbols = ([0xFFFFFFFF81000000, 0xFFFFFFFF81001000, 0xFFFFFFFF81002000],
               ["entry_SYSCALL_64", "packet_sendmsg", "veth_xmit"])
    chain = (0xFFFFFFFF81002010, 0xFFFFFFFF81001020, 0xFFFFFFFF81000030)  # leaf first, as the stack map keeps it
    s = P.Samples(counts={(0xFFFFFFFF81002010, 0x7F0000000100, 7, 42, "ws-worker"): 5,
                          (0xFFFFFFFF81002010, 0x7F0000000100, 8, 42, "ws-worker"): 2,  # the same chain again
                          (0x7F0000000200, 0x7F0000000200, -14, 42, "ws-worker"): 3,  # in user space
                          (0xFFFFFFFF81001010, 0, -17, 0, "swap;per 0"): 1},  # the chain was lost
                  stacks={7: chain, 8: chain})
    return s, symbols


def test_samples_of_other_tasks_are_apart_but_not_their_network_work():
    symbols = ([0xFFFFFFFF81000000, 0xFFFFFFFF81001000, 0xFFFFFFFF81002000, 0xFFFFFFFF81003000],
               ["entry_SYSCALL_64", "handle_softirqs", "veth_xmit", "ext4_readdir"])
    soft = (0xFFFFFFFF81002010, 0xFFFFFFFF81001010, 0xFFFFFFFF81000010)  # veth under a softirq
    readdir = (0xFFFFFFFF81003010, 0xFFFFFFFF81000010)
    s = P.Samples(counts={(0xFFFFFFFF81002010, 0, 1, 42, "ws-worker"): 5,  # the run's worker
                          (0x7F0000000200, 0x7F0000000200, -14, 42, "ws-worker"): 3,
                          (0xFFFFFFFF81002010, 0, 1, 77, "python3"): 4,  # network work in another task
                          (0xFFFFFFFF81003010, 0, 2, 77, "python3"): 6,  # that task's own
                          (0x7F0000000300, 0x7F0000000300, -14, 77, "python3"): 2,
                          (0xFFFFFFFF81002010, 0, -17, 9, "ksoftirqd/1"): 1,
                          (0xFFFFFFFF81002010, 0, 1, 0, "swapper/1"): 1},
                  stacks={1: soft, 2: readdir})
    run, others = s.split(symbols, {42})
    assert run == {0xFFFFFFFF81002010: 11, 0x7F0000000200: 3} and others == {"python3": 8}
    out = P.result(run, symbols, packets=1000, period_ns=1000, others=others)
    assert out["busy_samples"] == 14 and out["other_tasks"] == {"samples": 8, "ns_per_pkt": 8.0,
                                                                "tasks": {"python3": 8}}
    from rich.console import Console

    c = Console(width=200, record=True, file=io.StringIO())
    c.print(P.table(out))
    assert "other tasks on these CPUs, not in the sum (python3)" in c.export_text()


class _User:
    def name(self, tgid, addr):
        return f"[lib{addr & 0xFFF:x}]"


def test_folded_stacks_are_root_first_one_line_per_stack():
    s, symbols = _samples()
    lines = P.folded(s, symbols, _User())
    assert lines == sorted(lines)
    assert "ws-worker;[lib100];entry_SYSCALL_64;packet_sendmsg;veth_xmit 7" in lines
    assert "ws-worker;[lib200] 3" in lines
    assert "swap:per_0;[kernel stack lost];packet_sendmsg 1" in lines  # ';' and ' ' never split a frame
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == sum(s.counts.values())
    assert s.by_ip()[0xFFFFFFFF81002010] == 7


def test_user_addresses_are_named_by_this_process_mappings():
    import ctypes

    names = P.UserNames()
    addr = ctypes.cast(ctypes.CDLL(None).getpid, ctypes.c_void_p).value
    module, _, fn = names.name(0, addr).partition("`")
    assert "libc" in module and fn.endswith("getpid")  # libc's exported function (or its alias)
    assert names.name(0, 8) == "[unknown]"
