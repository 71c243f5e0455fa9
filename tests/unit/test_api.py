"""The Python API without privilege: what `import wirespeed` offers, Batch.from_frames, the
configs' refusals (values are checked before anything opens), the run record's options."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import wirespeed
from wirespeed.base.errors import UsageError
from wirespeed.base.netns import Where
from wirespeed.ports import Batch
from wirespeed.runner.session import options_of


def test_the_surface_is_lazy_and_complete():
    for name in wirespeed.__all__:
        assert getattr(wirespeed, name) is not None
    with pytest.raises(AttributeError):
        wirespeed.NoSuchThing


@given(st.lists(st.binary(min_size=14, max_size=300), max_size=40))
def test_from_frames_of_bytes_keeps_every_frame(frames):
    b = Batch.from_frames(frames)
    assert b.n == len(frames) and [bytes(b.frame(i)) for i in range(b.n)] == frames


@given(st.integers(1, 64), st.integers(14, 128), st.data())
def test_from_frames_of_rows_with_lengths(n, width, data):
    rows = np.random.default_rng(n).integers(0, 256, (n, width), dtype=np.uint8)
    lens = data.draw(st.lists(st.integers(14, width), min_size=n, max_size=n))
    b = Batch.from_frames(rows, lens)
    assert [bytes(b.frame(i)) for i in range(n)] == [bytes(rows[i, : lens[i]]) for i in range(n)]


@pytest.mark.parametrize("frames,lengths,needle", [
    (np.zeros(64, np.uint8), None, "2-D uint8"),
    (np.zeros((2, 64), np.uint16), None, "2-D uint8"),
    (np.zeros((2, 64), np.uint8), [64, 65], "at most 64"),
    (np.zeros((2, 64), np.uint8), [64], "2 values"),
    ([b"short"], None, "Ethernet header"),
])
def test_from_frames_refuses(frames, lengths, needle):
    with pytest.raises(ValueError, match=needle):
        Batch.from_frames(frames, lengths)


@pytest.mark.parametrize("options,needle", [
    (dict(rate="fast"), "rate"),
    (dict(rate=-5), "rate must be positive"),
    (dict(count="lots"), "count"),
    (dict(size="12"), "62..9000"),
    (dict(ipv6=True, df=False), "IPv4 header fields"),
    (dict(src_ip="2001:2::1"), "IPv6"),
    (dict(dst_mac="zz"), "--dst-mac: six hex bytes"),
])
def test_gen_config_refuses_bad_values(options, needle):
    with pytest.raises(UsageError, match=needle):
        wirespeed.gen_config("lo", dst_mac=options.pop("dst_mac", "02:00:00:00:00:01"), **options)


def test_gen_config_takes_the_command_lines_words_and_the_record_holds_them():
    cfg = wirespeed.gen_config("lo", dst_mac="02:00:00:00:00:01", rate="1.5mpps", size="imix", count="10M",
                               dst_ip="198.18.0.2-198.18.0.9", duration="500ms")
    assert cfg.rate.pps == 1.5e6 and cfg.count == 10_000_000 and cfg.duration == 0.5 and cfg.dst_ips.count == 8
    opts = options_of(cfg)
    json.dumps(opts)
    assert opts["dst_mac"] == "02:00:00:00:00:01" and opts["count"] == 10_000_000 and opts["where"] == "lo"
    assert opts["rate"]["pps"] == 1.5e6


def test_an_unknown_interface_is_named():
    with pytest.raises(Exception, match="nosuch0"):
        wirespeed.sink_config("nosuch0")
    assert isinstance(wirespeed.Where("lo"), Where)


def _gen_parser():
    import argparse

    from wirespeed.cli import build_parser

    p = build_parser()
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices["gen"]


def test_config_toml_becomes_typed_defaults(tmp_path):
    from wirespeed.options import load_config

    path = tmp_path / "g.toml"
    path.write_text('rate = "1.5mpps"\ncount = "10M"\nno-stamp = true\nsize = "imix"\nbatch = 32\n')
    d = load_config(str(path), "gen", _gen_parser())
    assert d["rate"].pps == 1.5e6 and d["count"] == 10_000_000 and d["stamp"] is False and d["batch"] == 32
    assert d["given"]["rate"] == "1.5mpps"


@pytest.mark.parametrize("text,needle", [
    ('nosuch = 1\n', "has no option 'nosuch'"),
    ('rate = "fast"\n', "rate:"),
    ('no-stamp = "yes"\n', "true or false"),
    ('vary = "sideways"\n', "must be one of"),
    ('rate = \n', "--config"),
    ('{"type": "start", "record": {"options": {"command": "sink"}}}\n', "another command"),
    ('{"type": "start"}\n', "no run record"),
])
def test_config_refusals_name_the_key(tmp_path, text, needle):
    from wirespeed.options import load_config

    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=needle):
        load_config(str(path), "gen", _gen_parser())


def test_config_bad_file_on_the_command_line_is_one_line(tmp_path):
    from helpers import run_cli

    path = tmp_path / "bad.toml"
    path.write_text("batch = 0\n")
    r = run_cli("gen", "--config", str(path), "lo")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "batch" in r.stderr
    r = run_cli("gen", "--config", str(tmp_path / "missing.toml"), "lo")
    assert r.returncode == 2 and "No such file" in r.stderr
