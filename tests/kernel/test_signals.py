"""Every tool and backend stopped by SIGINT, SIGTERM, SIGHUP and SIGKILL sent to its main process
only (as a user's `kill PID` does): the stop signals give the summary and exit 0; nothing stays
behind in any case: no worker process, no XDP program, no shared memory, no lab made with --lab
(after SIGKILL: once the leftovers are removed, as `lab down --all` does)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import run_cli, tool_backends
from wirespeed import lab as labmod
from wirespeed.mem import shm

pytestmark = pytest.mark.slow  # traffic for seconds, or a search, in every test

# Every backend of every tool, from the registry (its refused backends skipped with the kernel's reason).
CASES = [pytest.param(tool, *p.values, id=f"{tool}-{p.id}", marks=p.marks)
         for tool in ("gen", "sink", "fwd") for p in tool_backends(tool)]
# SIGHUP takes SIGTERM's path: two backends of one tool are enough for it.
HUP_CASES = [("gen", "afpacket"), ("gen", "xdp")]


def descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    kids = [int(x) for x in f.read().split()]
                out |= set(kids)
                todo += kids
        except FileNotFoundError:
            pass
    return out


def alive(pids: set[int]) -> set[int]:
    left = set()
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    left.add(p)
        except FileNotFoundError:
            pass
    return left


def start(tool: str, backend: str, name: str) -> subprocess.Popen:
    argv = [sys.executable, "-m", "wirespeed", tool, "--lab-name", name, "--backend", backend, "--json", "-d", "60"]
    if tool == "gen":
        argv += ["-r", "20kpps"]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        if json.loads(line)["type"] == "ready":
            time.sleep(0.3)  # the workers are running
            return p
    p.kill()
    raise AssertionError(f"{tool} {backend} never got ready: {p.communicate()[1]}")


def settle(pids: set[int], timeout: float = 5.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def nothing_left(name: str, pid: int, workers: set[int]) -> None:
    assert settle(workers) == set(), "a worker outlived its parent"
    assert all(r["xdp"] is None for r in labmod.status() if r.get("lab") == name), "an XDP program stayed attached"
    assert not [o for o in shm.objects() if o["pid"] in workers | {pid} and not o["leftover"]]


@pytest.fixture(scope="module")
def labs():
    """One pair and one chain lab for the whole module (a lab per case would take longer than
    the cases)."""
    made = [labmod.Lab(labmod.pair("tsigp")), labmod.Lab(labmod.chain("tsigc"))]
    for m in made:
        m.up()
    yield {"gen": "tsigp", "sink": "tsigp", "fwd": "tsigc"}
    for m in made:
        m.down()


@pytest.mark.parametrize("tool,backend,sig", [pytest.param(*c.values, sig, id=f"{c.id}-{sig.name}", marks=c.marks)
                                              for c in CASES for sig in (signal.SIGINT, signal.SIGTERM)] +
                         [pytest.param(t, b, signal.SIGHUP, id=f"{t}-{b}-SIGHUP") for t, b in HUP_CASES])
def test_a_stop_signal_gives_the_summary_and_leaves_nothing(labs, tool, backend, sig):
    p = start(tool, backend, labs[tool])
    workers = descendants(p.pid)
    assert workers, "no worker process"
    os.kill(p.pid, sig)  # the main process only
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["type"] == "summary" and summary["interrupted"] is True
    nothing_left(labs[tool], p.pid, workers)


@pytest.mark.parametrize("tool,backend", CASES)
def test_sigkill_leaves_no_worker_no_xdp_and_only_recognisable_leftovers(labs, tool, backend):
    p = start(tool, backend, labs[tool])
    workers = descendants(p.pid)
    os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    nothing_left(labs[tool], p.pid, workers)
    mine = [o for o in shm.objects() if o["pid"] in workers | {p.pid}]
    assert all(o["leftover"] for o in mine)  # named for its maker, which is gone
    shm.remove_leftovers()
    assert not [o for o in shm.objects() if o["pid"] in workers | {p.pid}]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_lab_made_for_the_run_goes_with_it_or_is_marked_a_leftover(lab_name, sig):
    p = subprocess.Popen([sys.executable, "-m", "wirespeed", "fwd", "--lab", "--lab-name", lab_name, "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in p.stdout:
        if '"ready"' in line:
            break
    workers = descendants(p.pid)
    os.kill(p.pid, sig)
    p.communicate(timeout=30)
    assert settle(workers) == set()
    try:
        if sig == signal.SIGTERM:
            assert labmod.lab_namespaces(lab_name) == []
        else:
            rows = [r for r in labmod.status() if r.get("lab") == lab_name]
            assert rows and all(r["leftover"] for r in rows)
            st = run_cli("lab", "status")
            assert "LEFTOVER" in st.stdout and "lab down --all" in st.stdout
    finally:
        labmod.down(lab_name)


def test_an_interrupted_set_up_undoes_what_it_made(lab_name, monkeypatch, capsys):
    from wirespeed import cli

    def interrupted(self, timeout=5.0):
        raise cli.Interrupted("SIGTERM")

    monkeypatch.setattr(labmod.Lab, "_wait_carrier", interrupted)
    assert cli.main(["gen", "--lab", "--lab-name", lab_name, "-c", "10"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted by SIGTERM before the run started" in err[0]
    assert labmod.lab_namespaces(lab_name) == []


def _tracing_programs() -> set[str]:
    """The names of our tracing programs still loaded on this host (a program goes when its last
    fd or link does, a moment after its process)."""
    from wirespeed import core

    return {name for _, name in core.bpf_prog_names() if name in ("ws_drops", "ws_xdp_drops", "ws_samples")}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
@pytest.mark.parametrize("argv, ready, programs", [
    (["drops", "--json", "-d", "60"], "start", {"ws_drops", "ws_xdp_drops"}),
    (["gen", "--lab-name", "tsigp", "--json", "-d", "60", "-r", "20kpps", "--profile"], "ready", {"ws_samples"}),
], ids=["drops", "gen-profile"])
def test_the_tracing_programs_go_with_the_process_however_it_ends(labs, argv, ready, programs, sig):
    p = subprocess.Popen([sys.executable, "-m", "wirespeed", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        for line in p.stdout:
            if json.loads(line)["type"] == ready:
                break
        deadline = time.monotonic() + 5
        while not programs <= _tracing_programs() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert programs <= _tracing_programs()
        os.kill(p.pid, sig)
        p.communicate(timeout=30)
        if sig != signal.SIGKILL:
            assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    deadline = time.monotonic() + 5
    while _tracing_programs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _tracing_programs() == set()
