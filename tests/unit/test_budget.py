"""Budget arithmetic: pure, no privilege."""

import json
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import run_cli
from wirespeed.tools.budget import budget
from wirespeed.base.errors import UsageError
from wirespeed.base.units import IMIX, LINK_SPEEDS, MAX_FRAME, MIN_FRAME, frame, parse_frame, parse_link


def test_10g_64_byte_line_rate():
    b = budget("10G", frame(64))
    assert b.ns == Fraction(672, 10)  # 84 bytes on the wire
    assert int(b.pps) == 14_880_952


def test_full_frames():
    assert budget("10G", frame(1518)).ns == Fraction("1230.4")
    assert budget("40G", frame(1518)).ns == Fraction("307.6")
    assert round(float(budget("100G", frame(1518)).ns), 1) == 123.0
    assert int(budget("100G", frame(1518)).pps) == 8_127_438  # 8.13 Mpps


def test_imix_is_7_4_1_of_64_570_1518():
    assert IMIX.mean_frame == Fraction(7 * 64 + 4 * 570 + 1518, 12)
    assert IMIX.mean_wire == IMIX.mean_frame + 20
    b = budget("10G", IMIX)
    assert b.ns == IMIX.mean_wire * 8 / 10
    assert int(b.pps) == int(Fraction(10**10) / (IMIX.mean_wire * 8))


@given(st.sampled_from(sorted(LINK_SPEEDS)), st.integers(MIN_FRAME, MAX_FRAME))
def test_ns_times_pps_is_one_second(link, size):
    b = budget(link, frame(size))
    assert b.ns * b.pps == 10**9


@given(st.sampled_from(sorted(LINK_SPEEDS)), st.integers(MIN_FRAME, MAX_FRAME - 1))
def test_bigger_frames_leave_more_time(link, size):
    assert budget(link, frame(size + 1)).ns > budget(link, frame(size)).ns


@pytest.mark.parametrize("text,name", [("10G", "10G"), ("10g", "10G"), ("10Gbit", "10G"), ("10000M", "10G"),
                                       ("2.5G", "2.5G"), ("100gbps", "100G"), ("1.6T", "1.6T")])
def test_parse_link(text, name):
    assert parse_link(text)[0] == name


@pytest.mark.parametrize("text", ["7G", "0G", "-10G", "10", "ten", "", "10X"])
def test_parse_link_rejects(text):
    with pytest.raises(UsageError):
        parse_link(text)


@pytest.mark.parametrize("text", ["63", "0", "-64", "9217", "abc", "64.5"])
def test_parse_frame_rejects(text):
    with pytest.raises(UsageError):
        parse_frame(text)


def test_parse_frame():
    assert parse_frame("IMIX") is IMIX
    assert parse_frame("1518").sizes == (1518,)


def test_json_carries_exact_figures():
    r = run_cli("budget", "--json", "--no-profile")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    rows = {(x["link"], x["frame"]): x for x in out["budget"]}
    assert len(rows) == 7 * 7
    assert rows["10G", "64"]["ns"] == pytest.approx(67.2, abs=1e-9)
    assert rows["10G", "64"]["pps"] == 14_880_952
    assert rows["10G", "1518"]["ns"] == pytest.approx(1230.4, abs=1e-9)
    assert round(rows["100G", "1518"]["ns"], 1) == 123.0
    assert out["selected"]["link"] == "10G" and out["selected"]["frame"] == "64"
    # cycles follow the measured TSC frequency
    assert rows["10G", "64"]["cycles"] == pytest.approx(67.2 * out["tsc_hz"] / 1e9)


def test_link_and_frame_select_rows_and_budget():
    out = json.loads(run_cli("budget", "--json", "--no-profile", "--link", "100G", "--frame", "imix").stdout)
    assert [(x["link"], x["frame"]) for x in out["budget"]] == [("100G", "imix")]
    assert out["selected"]["link"] == "100G" and out["selected"]["frame"] == "imix"
