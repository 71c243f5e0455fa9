"""Privilege and failure paths that need a real root: capability-less root, a failure after
the lab was made."""

import subprocess
import sys

import pytest

from helpers import run_cli
from wirespeed import lab


@pytest.mark.parametrize("action", [["up"], ["down"], ["status"]])
def test_lab_as_root_without_capabilities_exits_1_and_creates_nothing(lab_name, action):
    """A real process that is root but holds no capabilities, as in a locked-down container."""
    if action != ["status"]:
        action = [*action, "--name", lab_name]
    if action[0] != "up":
        lab.Lab(lab.pair(lab_name)).up()  # something to show or remove, so the kernel says no
    try:
        drop = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
        r = subprocess.run([*drop, sys.executable, "-m", "wirespeed", "lab", *action],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 1, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "CAP_" in lines[0], r.stderr
        if action[0] == "up":
            assert lab.lab_namespaces(lab_name) == []
    finally:
        lab.down(lab_name)


def test_a_failure_after_the_lab_was_made_leaves_nothing(lab_name):
    r = run_cli("gen", "--lab", "--lab-name", lab_name, "-c", "1", "--cpu", "99")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "CPU 99" in r.stderr and "Traceback" not in r.stderr
    assert lab.lab_namespaces(lab_name) == []
