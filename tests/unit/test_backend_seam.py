"""A new backend is its module and its registry entry: registered here (a module of its own and
one `ports.register` call, with an option of its own), it shows in the command line's help and
choices, the API takes its option, the option checks refuse it on other backends, and the port
the run opens reads it. Nothing else in the tree is touched."""

from __future__ import annotations

import sys
import time
import types

import pytest

from wirespeed import api, cli, ports
from wirespeed.base.errors import UsageError
from wirespeed.base.netns import Where
from wirespeed.base.option import Option
from wirespeed.base.units import parse_positive_int
from wirespeed.tools import gen as genmod

MAC = "02:57:53:00:00:02"


class _Engine:
    """The backend's C engine, played here: it 'sends' what is asked, `turbo` frames a call."""

    def __init__(self, turbo: int):
        self.turbo = turbo

    def gen_run(self, gen, batch, max_packets, until_ns, counters):
        n = min(max_packets, self.turbo)
        counters[ports.core.C["packets"]] += n
        counters[ports.core.C["batches"]] += 1
        return n


def _fake_module() -> types.ModuleType:
    mod = types.ModuleType("wirespeed.ports.fake")

    class FakePort(ports.UserPort):
        backend = "fake"

        def __init__(self, spec, counters):
            self.where, self.counters, self.spec = spec.where, counters, spec
            self._tx = _Engine(spec.opt("fake_turbo"))

        def close(self):
            self._tx = None

    mod.open = FakePort
    return mod


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setitem(sys.modules, "wirespeed.ports.fake", _fake_module())
    monkeypatch.setattr(ports, "BACKENDS", dict(ports.BACKENDS))
    monkeypatch.setattr(ports, "OPTIONS", dict(ports.OPTIONS))
    ports.register(ports.Backend("fake", "fake", "a sender of the tests' own", transmit=True, receive=False,
                                 varies=(), options=frozenset({"fake_turbo"})),
                   Option("fake_turbo", ("--fake-turbo",), 1, "frames per call", ("gen",),
                                       parse=parse_positive_int, metavar="N"))


def test_the_new_backend_and_its_option_are_in_the_command_lines_help(fake, capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["gen", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "--fake-turbo N" in help_text and "fake: frames per call" in help_text
    assert "fake: a sender of the tests' own" in help_text  # --backend's choices and their summaries


def test_the_api_takes_its_option_and_the_port_reads_it(fake):
    cfg = api.gen_config_at(Where("veth0"), None, backend="fake", src_mac=MAC, dst_mac=MAC, fake_turbo="5")
    assert cfg.opt("fake_turbo") == 5
    port = ports.open_port(genmod.port_spec(cfg, 0.0))
    try:
        assert port.spec.opt("fake_turbo") == 5
        sent = port.gen_run(genmod.make_gen(cfg), 64, 12, time.monotonic_ns() + 10**9)
        assert sent == 5 and int(port.counters[ports.core.C["packets"]]) == 5
    finally:
        port.close()


@pytest.mark.parametrize("backend,opts,needle", [
    ("afpacket", {"fake_turbo": 3}, "--fake-turbo applies to --backend fake, not afpacket"),
    ("fake", {"fake_turbo": "0"}, "must be at least 1"),
    ("fake", {"copy": "zc"}, "-C/--copy applies to --backend xdp, not fake"),
    ("fake", {"no_such": 1}, "gen has no option 'no_such'"),
])
def test_its_option_is_checked_like_every_other(fake, backend, opts, needle):
    with pytest.raises(UsageError, match=needle):
        api.gen_config_at(Where("veth0"), None, backend=backend, src_mac=MAC, dst_mac=MAC, **opts)


def test_on_the_command_line_the_option_is_refused_on_another_backend_in_one_line(fake, capsys):
    assert cli.main(["gen", "veth0", "--backend", "afpacket", "--fake-turbo", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["wirespeed: --fake-turbo applies to --backend fake, not afpacket"]


def test_every_backend_option_is_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    missing = [o.label for o in ports.OPTIONS.values() if not any(f"`{f}" in readme for f in o.flags)]
    assert not missing, f"README leaves out {missing}"
