"""Shared fixtures. Kernel tests build their own namespaces here and remove them even on failure."""

from __future__ import annotations

import os
import subprocess
import sys
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
