"""Helpers the benchmark scripts share: peers from Debian packages, sysctls raised for a run
and restored, processes in lab namespaces on chosen CPUs, interface-counter rate windows."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager

from wirespeed.base.netdev import link_stats
from wirespeed.base.netns import Where

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


def ws(*args: str) -> list[str]:
    return [sys.executable, "-m", "wirespeed", *args]


def start(argv: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kw)


def stop(p: subprocess.Popen, sig=signal.SIGINT, timeout: float = 10) -> tuple[str, str]:
    if p.poll() is None:
        os.killpg(p.pid, sig)
    try:
        return p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        return p.communicate()


def wait_ready(p: subprocess.Popen) -> None:
    """Read a wirespeed tool's --json lines until its 'ready' event: its ports are open."""
    for line in p.stdout:
        if '"ready"' in line:
            return
    raise RuntimeError(f"{' '.join(p.args[-6:])} ended before it was ready: {p.stderr.read().strip()}")


def kill_all(procs) -> None:
    """Whatever is still running (a benchmark leaving early) is killed."""
    for p in procs:
        if p is not None and p.poll() is None:
            stop(p, signal.SIGKILL)


def wait_traffic(where: Where, key: str, timeout: float = 10.0) -> None:
    """Return once the counter moves: tools differ in how long they take to start sending."""
    first = link_stats(where)[key]
    deadline = time.monotonic() + timeout
    while link_stats(where)[key] == first:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no traffic on {where} within {timeout} s")
        time.sleep(0.01)


def counter_window(read, window: float, timeout: float = 10.0) -> float:
    """Rate of a counter (read() -> int) over `window` s, from WARMUP after it starts to move."""
    first = read()
    deadline = time.monotonic() + timeout
    while read() == first:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no traffic within {timeout} s")
        time.sleep(0.01)
    time.sleep(WARMUP)
    a, ta = read(), time.monotonic()
    time.sleep(window)
    b, tb = read(), time.monotonic()
    return (b - a) / (tb - ta)


def window_rate(where: Where, key: str, window: float) -> tuple[float, dict, dict]:
    """Rate of one interface counter over `window` seconds, from the warm-up's end after traffic starts."""
    wait_traffic(where, key)
    time.sleep(WARMUP)
    a, ta = link_stats(where), time.monotonic()
    time.sleep(window)
    b, tb = link_stats(where), time.monotonic()
    return (b[key] - a[key]) / (tb - ta), a, b


def last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


def within(a: float, b: float, tol: float = 0.005) -> bool:
    return b > 0 and abs(a / b - 1) <= tol


def median_of(runs: list[float]) -> dict:
    return {"median": statistics.median(runs), "runs": runs}
