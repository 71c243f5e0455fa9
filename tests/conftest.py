"""Shared fixtures. Tests come in two tiers, by folder: unit/ (no privilege) and kernel/ (root;
each builds its own namespaces through the fixtures here and removes them even on failure).
Every test under kernel/ is marked `kernel` and skipped, with the reason, without root."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from helpers import Tool, is_root
from wirespeed import lab as labmod

TEST_LAB_PREFIX = "t"  # every lab a test makes is named t<hex>, so cleanup touches nothing else
KERNEL = Path(__file__).parent / "kernel"


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="needs root to create network namespaces")
    for item in items:
        if KERNEL in Path(item.fspath).parents:
            item.add_marker(pytest.mark.kernel)
            if not is_root():
                item.add_marker(skip)


NAMED: set[str] = set()  # the lab names this session handed out: the only ones its clean-up may touch


@pytest.fixture
def lab_name() -> str:
    name = TEST_LAB_PREFIX + uuid.uuid4().hex[:8]
    NAMED.add(name)
    return name


def _lab(topology):
    if not is_root():
        pytest.skip("needs root to create network namespaces")
    with labmod.Lab(topology) as lab:
        yield lab


@pytest.fixture
def pair_lab(lab_name):
    yield from _lab(labmod.pair(lab_name))


@pytest.fixture
def queued_lab(lab_name):
    """A pair whose veths have two TX and two RX queues (one per CPU of these machines)."""
    yield from _lab(labmod.pair(lab_name, queues=2))


@pytest.fixture
def queued_chain_lab(lab_name):
    yield from _lab(labmod.chain(lab_name, queues=2))


@pytest.fixture
def chain_lab(lab_name):
    yield from _lab(labmod.chain(lab_name))


@pytest.fixture(scope="session", autouse=True)
def _no_test_namespaces_left():
    """Whatever a crashed test of this session left behind is removed at the end of it (another
    session's labs, running beside it, are not this one's to remove)."""
    yield
    if is_root():
        for name in NAMED:
            for ns in labmod.lab_namespaces(name):
                labmod._remove(ns)


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
