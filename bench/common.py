"""Helpers the benchmark scripts share: peers from Debian packages, sysctls raised for a run
and restored, processes in lab namespaces on chosen CPUs, interface-counter rate windows."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
from contextlib import contextmanager

from wirespeed.base.netdev import link_stats, xdp_stats
from wirespeed.base.netns import Where
from wirespeed.runner.procs import kill_all, last_json, start, stop, wait_ready, window_rate, ws  # noqa: F401

WARMUP = 0.7  # seconds of traffic before a counting window opens


_OWNER = os.getpid()


def _terminated(signum, frame):
    if os.getpid() != _OWNER:  # a library's forked helper (pyroute2's netns one) dies of it as usual
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    raise SystemExit(128 + signum)  # unwinds: every `with lab.Lab(...)` removes its namespaces


# A benchmark stopped with kill (SIGTERM) or a closed terminal (SIGHUP) leaves no lab behind.
signal.signal(signal.SIGTERM, _terminated)
signal.signal(signal.SIGHUP, _terminated)


def bench_parser(doc: str, window: float, quick: str) -> argparse.ArgumentParser:
    """What every rate benchmark takes: --reps, --window (seconds counted per run), --quick."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--window", type=float, default=window, help="seconds counted per run")
    ap.add_argument("--quick", action="store_true", help=quick)
    return ap


def bench_args(ap: argparse.ArgumentParser, script: str, quick_window: float | None = 1.0):
    """The parsed options, --quick applied (1 rep, and quick_window s windows unless None); None
    when not root, after saying so."""
    args = ap.parse_args()
    if os.geteuid() != 0:
        print(f"bench/{script} needs root", file=sys.stderr)
        return None
    if args.quick:
        args.reps = 1
        if quick_window is not None:
            args.window = quick_window
    return args


def ensure_peers(peers: dict[str, str]) -> None:
    """peers: command -> Debian package; installs the packages of the missing commands."""
    missing = sorted({pkg for tool, pkg in peers.items() if not shutil.which(tool)})
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, stdout=subprocess.DEVNULL)


@contextmanager
def raised_sysctls(names: tuple[str, ...] = ("net/core/wmem_default", "net/core/wmem_max"), value: int = 4 << 20):
    """Raise these sysctls to at least value for the run (peers in a namespace cannot); restore them."""
    saved = {}
    try:
        for name in names:
            with open(f"/proc/sys/{name}") as f:
                saved[name] = f.read().strip()
            if int(saved[name]) < value:
                with open(f"/proc/sys/{name}", "w") as f:
                    f.write(str(value))
        yield
    finally:
        for name, old in saved.items():
            with open(f"/proc/sys/{name}", "w") as f:
                f.write(old)


def trafgen_config(directory: str, src, dst) -> str:
    """A trafgen config for the frame gen sends by default: 64 bytes on the wire, UDP 9 -> 9,
    18 zero bytes of payload, between two lab endpoints. Returns its path."""
    path = os.path.join(directory, "udp64.cfg")
    with open(path, "w") as f:
        f.write(f"{{ eth(da={dst.mac}, sa={src.mac}), ipv4(saddr={src.address}, daddr={dst.address}, ttl=64), "
                f"udp(sport=9, dport=9), fill(0x00, 18) }}\n")
    return path


def ns_cmd(ns: str, cpu: int, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, "taskset", "-c", str(cpu), *argv]


def counter_window(read, window: float, timeout: float = 10.0) -> float:
    """Rate of a counter (read() -> int) over `window` s, from WARMUP after it starts to move."""
    return window_rate(read, window, WARMUP, timeout)


def gen_into_counter(topo, gen_args: list[str], window: float) -> float:
    """gen (with gen_args) into `sink --backend xdp-count` on a pair lab: frames per second
    counted by the receiving veth's XDP program over `window` s, from WARMUP after they start."""
    dur = WARMUP + window + 1.0
    sink = send = None
    try:
        sink = start(ws("sink", "--lab-name", topo.name, "--backend", "xdp-count", "-d", str(dur + 4), "--json"))
        wait_ready(sink)
        send = start(ws("gen", "--lab-name", topo.name, "-d", str(dur), "--json", *gen_args))
        rx = Where(topo.wires[0].b.ifname, topo.netns("sink"))
        return counter_window(lambda: xdp_stats(rx)["xdp_packets"], window)
    finally:
        for p in (send, sink):
            if p is not None:
                stop(p)
        kill_all((send, sink))


def link_window(where: Where, key: str, window: float) -> float:
    """Rate of one interface counter over `window` seconds, from WARMUP after traffic starts."""
    return counter_window(lambda: link_stats(where)[key], window)


def within(a: float, b: float, tol: float = 0.005) -> bool:
    return b > 0 and abs(a / b - 1) <= tol


def median_of(runs: list[float]) -> dict:
    return {"median": statistics.median(runs), "runs": runs}
