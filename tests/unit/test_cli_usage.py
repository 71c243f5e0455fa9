"""Bad input: one line naming the problem, the right exit status, no traceback, nothing left."""

import os

import pytest

from helpers import run_cli
from wirespeed import cli


@pytest.mark.parametrize(
    "args,needle",
    [
        (["budget", "--link", "7G"], "unknown link speed"),
        (["budget", "--link", "0G"], "link speed must be positive"),
        (["budget", "--link=-10G"], "link speed must be positive"),
        (["budget", "--frame", "63"], "frame size"),
        (["budget", "--frame", "0"], "frame size"),
        (["budget", "--frame=-1"], "frame size"),
        (["budget", "--frame", "jumbo"], "frame size"),
        (["budget", "--time", "0"], "--time"),
        (["budget", "--reps=-2"], "must be at least 1"),
        (["budget", "--mem-size", "0"], "--mem-size"),
        (["lab", "up", "--name", "Bad-Name"], "lab name"),
        (["lab", "up", "--topology", "ring"], "--topology"),
        (["nosuch"], "invalid choice"),
        (["gen", "-r", "5zpps"], "bad rate"),
        (["gen", "-r", "0kpps"], "rate must be positive"),
        (["gen", "-s", "20"], "frame size 20 out of range"),
        (["gen", "-s", "9001"], "frame size 9001 out of range"),
        (["gen", "-6", "-s", "64"], "IPv6/UDP"),
        (["gen", "-6", "--no-df"], "IPv4 header fields"),
        (["gen", "-6", "--ip-id", "7"], "IPv4 header fields"),
        (["gen", "--payload", "zz"], "--payload"),
        (["gen", "-b", "0"], "--batch"),
        (["gen", "--pace", "kernel", "-r", "1kpps"], "--backend udp; afpacket cannot"),
        (["gen", "--backend", "udp", "--pace", "kernel"], "give -r"),
        (["gen", "--pace", "fast"], "invalid choice"),
        (["gen", "nosuch0"], "unknown interface nosuch0"),
        (["sink", "nosuch0"], "unknown interface nosuch0"),
        (["sink", "--port", "70000"], "--port"),
    ],
)
def test_bad_values_exit_2_with_one_line(args, needle):
    r = run_cli(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0]
    assert lines[0].startswith("wirespeed: ")
    assert "Traceback" not in r.stderr and r.stdout == ""


@pytest.mark.parametrize("action", [["up"], ["down"], ["down", "--all"], ["status"]])
def test_lab_without_root_exits_1(monkeypatch, capsys, action):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main(["lab", *action]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs root" in err[0]


@pytest.mark.parametrize("tool", ["gen", "sink"])
def test_tools_in_the_lab_without_root_exit_1(monkeypatch, capsys, tool):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cli.main([tool, "-c", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs root" in err[0]
