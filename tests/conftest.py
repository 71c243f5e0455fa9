"""Shared fixtures. Kernel tests build their own namespaces here and remove them even on failure."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from wirespeed import lab as labmod

TEST_LAB_PREFIX = "t"  # every lab a test makes is named t<hex>, so cleanup touches nothing else


def _is_root() -> bool:
    return os.geteuid() == 0


root_only = pytest.mark.skipif(not _is_root(), reason="needs root to create network namespaces")


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `wirespeed ARGS` in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "wirespeed", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def lab_name() -> str:
    return TEST_LAB_PREFIX + uuid.uuid4().hex[:8]


def _lab(topology):
    if not _is_root():
        pytest.skip("needs root to create network namespaces")
    with labmod.Lab(topology) as lab:
        yield lab


@pytest.fixture
def pair_lab(lab_name):
    yield from _lab(labmod.pair(lab_name))


@pytest.fixture
def chain_lab(lab_name):
    yield from _lab(labmod.chain(lab_name))


@pytest.fixture(scope="session", autouse=True)
def _no_test_namespaces_left():
    """Whatever a crashed test left behind is removed at the end of the session."""
    yield
    if _is_root():
        for ns in labmod.lab_namespaces():
            if ns.startswith(labmod.PREFIX + TEST_LAB_PREFIX):
                labmod._remove(ns)


class Tool:
    """A wirespeed command running in the background with --json; read its lines as they come."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "wirespeed", *args, "--json"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[dict] = []

    def wait_for(self, kind: str, timeout: float = 30) -> dict:
        """Lines up to and including the first of this type (e.g. 'ready' once its ports are open)."""
        import json
        import select

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not select.select([self.proc.stdout], [], [], 0.2)[0]:
                continue
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(json.loads(line))
            if self.lines[-1]["type"] == kind:
                return self.lines[-1]
        raise AssertionError(f"no {kind!r} line; stderr: {self.stop()[1]}")

    def finish(self, timeout: float = 60) -> dict:
        """Wait for the tool to end by itself; its summary."""
        import json

        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        self.lines += [json.loads(x) for x in out.splitlines()]
        return self.lines[-1]

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.communicate()


@pytest.fixture
def tools():
    """Start background tools; whatever is still running at the end is killed."""
    started: list[Tool] = []

    def start(*args: str) -> Tool:
        started.append(Tool(*args))
        return started[-1]

    yield start
    for t in started:
        t.stop()
