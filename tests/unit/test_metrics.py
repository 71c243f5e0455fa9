"""The metrics endpoint and the .hgrm writer, without privilege (loopback HTTP only)."""

from __future__ import annotations

import socket
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from wirespeed import core
from wirespeed.base.errors import UsageError
from wirespeed.runner import stats
from wirespeed.runner.metrics import LATENCY_BOUNDS_S, Exporter, parse_listen


@pytest.mark.parametrize("text,want", [("9100", ("127.0.0.1", 9100)), ("0.0.0.0:80", ("0.0.0.0", 80)),
                                       ("[::1]:9100", ("::1", 9100))])
def test_parse_listen(text, want):
    assert parse_listen(text) == want


@pytest.mark.parametrize("text", ["", "0", "65536", "x", ":9100", "1.2.3.4:"])
def test_parse_listen_refuses(text):
    with pytest.raises(UsageError, match="PORT 1..65535"):
        parse_listen(text)


def hist_of(values_ns) -> np.ndarray:
    lower = stats.hist_lower_bounds()
    h = np.zeros(core.SINK_HIST, np.uint64)
    np.add.at(h, np.searchsorted(lower, np.asarray(values_ns, np.float64), side="right") - 1, 1)
    return h


def test_exporter_serves_counters_gauges_and_a_histogram_that_counts_right():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ex = Exporter(str(port), "sink", "veth1 in ns")
    try:
        vals = [1500] * 10 + [3_000] * 5 + [150_000] * 2  # 1.5 µs, 3 µs, 150 µs
        ex.update({("packets_total", ""): 17, ("lost_total", ""): 2}, {"pps": 1234.5, "note": "x"},
                  hist_of(vals), stats.hist_lower_bounds())
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        m = {f.name: f for f in text_string_to_metric_families(text)}
        assert m["wirespeed_packets"].samples[0].value == 17
        assert m["wirespeed_packets"].samples[0].labels == {"tool": "sink", "interface": "veth1 in ns"}
        assert m["wirespeed_pps"].samples[0].value == 1234.5 and "wirespeed_note" not in m
        b = {s.labels["le"]: s.value for s in m["wirespeed_latency_seconds"].samples if s.name.endswith("_bucket")}
        assert b["1e-06"] == 0 and b["2e-06"] == 10 and b["5e-06"] == 15 and b["0.0001"] == 15
        assert b["0.0002"] == 17 and b["+Inf"] == 17
        assert len(b) == len(LATENCY_BOUNDS_S) + 1
        ex.update({("stream_lost_total", ("stream", "0")): 3, ("stream_lost_total", ("stream", "1")): 1}, {})
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        m = {f.name: f for f in text_string_to_metric_families(text)}
        assert {s.labels["stream"]: s.value for s in m["wirespeed_stream_lost"].samples} == {"0": 3, "1": 1}
    finally:
        ex.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_exporter_on_a_busy_port_is_a_usage_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(UsageError, match="cannot listen on 127.0.0.1"):
            Exporter(str(s.getsockname()[1]), "gen", "lo")


def test_hgrm_percentiles_agree_with_numpy():
    rng = np.random.default_rng(7)
    vals = rng.lognormal(9, 0.6, 200_000)
    text = stats.hgrm(hist_of(vals))
    rows = [[float(x) for x in line.split()[:3]] for line in text.splitlines()[2:]
            if line and not line.startswith("#")]
    for q in (0.5, 0.9, 0.99, 0.999):
        got = next(v for v, p, _ in rows if p >= q) * 1000
        assert abs(got - np.quantile(vals, q)) <= 0.035 * np.quantile(vals, q), q
    assert rows[-1][1] == 1.0 and rows[-1][2] == 200_000
    assert "Total count    =       200000" in text


def test_hgrm_of_nothing():
    text = stats.hgrm(np.zeros(core.SINK_HIST, np.uint64))
    assert "Total count    =            0" in text
