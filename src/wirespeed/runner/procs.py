"""wirespeed tools run as processes and read by their --json lines, and counters read as rates
over a window: the one harness that `wirespeed bench`, the scripts in bench/ and the tests share.

start() puts each process in its own session, so that stop() reaches it and everything it
started (workers, a forked helper) with one signal; a process that does not end in time is
killed. Nothing here knows what the process does."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable

from wirespeed.base.errors import WirespeedError

WARMUP_S = 0.3  # seconds of traffic before a counting window opens


def ws(*args: str) -> list[str]:
    """The argv of `wirespeed ARGS` run by this interpreter."""
    return [sys.executable, "-m", "wirespeed", *args]


def start(argv: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            **kw)


def stop(p: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 15) -> tuple[str, str]:
    """Send `sig` to the process's session (unless it ended), then collect its output; SIGKILL
    after `timeout` seconds."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
    try:
        return p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        return p.communicate()


def kill_all(procs) -> None:
    """Whatever is still running (a caller leaving early) is killed."""
    for p in procs:
        if p is not None and p.poll() is None:
            stop(p, signal.SIGKILL)


def read_line(p: subprocess.Popen, deadline: float) -> str | None:
    """The process's next stdout line, or None at its end or past the deadline (monotonic s)."""
    while time.monotonic() < deadline:
        if select.select([p.stdout], [], [], 0.2)[0]:
            return p.stdout.readline() or None
    return None


def wait_for(p: subprocess.Popen, kind: str, timeout: float = 30, seen: list | None = None) -> dict:
    """Read a tool's --json lines (into `seen`) up to the first whose type is `kind`, e.g.
    'ready' once its ports are open; a tool that ends or stays silent is one error naming it."""
    deadline = time.monotonic() + timeout
    while (line := read_line(p, deadline)) is not None:
        if not line.startswith("{"):
            continue
        obj = json.loads(line)
        if seen is not None:
            seen.append(obj)
        if obj.get("type") == kind:
            return obj
    raise WirespeedError(f"{' '.join(p.args[2:5])} gave no {kind!r} line: {stop(p)[1].strip()[-300:]}")


def wait_ready(p: subprocess.Popen, timeout: float = 30) -> None:
    wait_for(p, "ready", timeout)


def last_json(text: str) -> dict:
    """The last JSON line of a tool's output: its summary."""
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise WirespeedError("a tool ended without a summary")


def window_rate(read: Callable[[], int], window: float, warmup: float = WARMUP_S, timeout: float = 10) -> float:
    """A counter's rate (read() -> int) over `window` seconds, from `warmup` after it starts to move."""
    first = read()
    deadline = time.monotonic() + timeout
    while read() == first:
        if time.monotonic() > deadline:
            raise WirespeedError(f"no traffic within {timeout:g} s")
        time.sleep(0.01)
    time.sleep(warmup)
    a, ta = read(), time.monotonic()
    time.sleep(window)
    b, tb = read(), time.monotonic()
    return (b - a) / (tb - ta)
