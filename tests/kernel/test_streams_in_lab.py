"""Several streams in one run (gen --streams): each its own rate, count and template, its number in
the stamp, interleaved in one worker (or one worker each, -w N); the sink counts each apart,
with its own loss."""

from __future__ import annotations

import pytest
from helpers import needs_kernel_gen, one_line, refuse_source, run_cli
from wirespeed import lab as labmod

pytestmark = pytest.mark.slow


def test_two_streams_at_three_to_one_with_their_own_loss(chain_lab, tools, tmp_path):
    """Through a router whose strict reverse-path filter refuses one source of ten, which only the
    second stream uses: the sink's per-stream counts are 3:1 and the second stream alone loses
    exactly a tenth."""
    topo = chain_lab.topology
    labmod.route(topo)
    # ten sources 198.18.0.3-12 (.1 is gen's own, .2 the router's: a local source); a middle one is
    # refused, so that no lost frame is a stream's first or last (those no sink can see missing)
    refused = "198.18.0.7"
    refuse_source(topo, refused)
    sink_ip = topo.endpoints("sink")[0].address
    spec = tmp_path / "streams.toml"
    spec.write_text(f'''
[[stream]]
count = 30000
rate = "30kpps"
dst_ip = "{sink_ip}"

[[stream]]
count = 10000
share = 0.25
dst_ip = "{sink_ip}"
src_ip = "198.18.0.3-198.18.0.12"
size = "256"
''')
    sink = tools("sink", "--lab-name", topo.name, "-d", "20", "-c", "39000", "-i", "0.2")
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", topo.name, "--streams", str(spec), "-r", "40kpps", "--max-burst", "1000000").finish()
    s = sink.finish()
    live = [x["per_stream"] for x in sink.lines if x.get("type") == "interval" and "per_stream" in x]
    assert live and sum(p["packets"] for x in live for p in x if p["stream"] == 1) <= 9000  # each stream live
    assert [p["sent"] for p in g["per_stream"]] == [30000, 10000], g["per_stream"]
    assert [round(p["intended_pps"]) for p in g["per_stream"]] == [30000, 10000]
    assert g["interleaved"] and g["workers"] == 1 and g["departures"]["intended"] == 40000
    per = {p["stream"]: p for p in s["per_stream"]}
    assert (per[0]["packets"], per[0]["lost"]) == (30000, 0), per
    assert (per[1]["packets"], per[1]["lost"]) == (9000, 1000), per  # the refused source: every tenth frame
    assert s["lost"] == 1000 and s["pktgen"] == 39000
    assert all(0 < per[k]["p50_ns"] <= per[k]["p99_ns"] for k in (0, 1)), per  # each stream's own histogram


@pytest.mark.parametrize("body, needle", [
    ('[[stream]]\nbatch = 8\n', "stream 1 has no option 'batch'"),
    ('[[stream]]\nshare = 0.7\n[[stream]]\nshare = 0.5\n', "the shares add up to 120 % of -r"),
    ('[[stream]]\nshare = 0.5\n', "give -r"),
    ('[[stream]]\nvlan = "5000"\n', "a VLAN ID is 0..4095"),
    ('[stream]\ncount = 1\n', "[[stream]] tables only"),
    ('not toml = = 1\n', "is not TOML"),
])
def test_a_bad_streams_file_is_one_line(tmp_path, body, needle):
    spec = tmp_path / "s.toml"
    spec.write_text(body)
    extra = [] if "give -r" in needle or "batch" in needle or "VLAN" in needle else ["-r", "10kpps"]
    r = run_cli("gen", "lo", "--dst-mac", "02:00:00:00:00:01", "-c", "10", "--streams", str(spec), *extra)
    assert needle in one_line(r, 2)


@pytest.mark.parametrize("workers", [1, 2])
def test_the_api_takes_streams(pair_lab, workers):
    """Interleaved in one worker, or one worker per stream: the same counts."""
    import wirespeed

    sink = wirespeed.Sink(lab=pair_lab, count=4000, duration=20)
    with sink:
        res = wirespeed.Gen(lab=pair_lab, max_burst=1_000_000, workers=workers, streams=[
            wirespeed.Stream(rate="20kpps", count=3000), wirespeed.Stream(rate="10kpps", count=1000, size="512")]).run()
        s = sink.wait(20)
    assert [p["sent"] for p in res.to_dict()["per_stream"]] == [3000, 1000]
    assert res.to_dict()["interleaved"] == (workers == 1)
    got = {p["stream"]: p["packets"] for p in s.to_dict()["per_stream"]}
    assert got == {0: 3000, 1: 1000}


def test_streams_over_a_udp_socket(pair_lab, tools, tmp_path):
    """--backend udp: the streams share the socket's destination and differ in size, rate and
    count; each stream's payloads carry its number, the UDP sink counts them apart. A stream to
    another destination is one line."""
    spec = tmp_path / "streams.toml"
    spec.write_text('[[stream]]\ncount = 3000\nrate = "30kpps"\n\n[[stream]]\ncount = 1000\nrate = "10kpps"\n'
                    'size = "512"\n')
    name = pair_lab.topology.name
    sink = tools("sink", "--lab-name", name, "--backend", "udp", "-c", "4000", "-d", "20")
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "--backend", "udp", "--streams", str(spec), "--max-burst", "1000000").finish()
    s = sink.finish()
    assert [p["sent"] for p in g["per_stream"]] == [3000, 1000] and g["interleaved"]
    per = {p["stream"]: p for p in s["per_stream"]}
    assert (per[0]["packets"], per[0]["lost"], per[1]["packets"], per[1]["lost"]) == (3000, 0, 1000, 0), per
    other = tmp_path / "other.toml"
    other.write_text('[[stream]]\ncount = 10\n[[stream]]\ncount = 10\ndst_ip = "198.18.0.9"\n')
    r = run_cli("gen", "--lab-name", name, "--backend", "udp", "--streams", str(other))
    assert "stream 2 differs in its addresses or ports" in one_line(r, 2)


@needs_kernel_gen
def test_the_in_kernel_generator_runs_a_stream_per_worker(queued_lab, tools, tmp_path):
    """--backend kernel -w 2: worker i's program sends stream i, its own template (the second
    one tagged and bigger), rate and count; the sink counts each apart, exactly."""
    spec = tmp_path / "streams.toml"
    spec.write_text('[[stream]]\ncount = 3000\nrate = "30kpps"\n\n[[stream]]\ncount = 1000\nrate = "10kpps"\n'
                    'size = "512"\nvlan = "7"\nsport = "1000-1007"\n')
    name = queued_lab.topology.name
    sink = tools("sink", "--lab-name", name, "-c", "4000", "-d", "20")
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "--backend", "kernel", "--streams", str(spec), "-w", "2",
              "--max-burst", "1000000").finish()
    s = sink.finish()
    assert [p["sent"] for p in g["per_stream"]] == [3000, 1000] and not g["interleaved"]
    per = {p["stream"]: p for p in s["per_stream"]}
    assert {k: (p["packets"], p["lost"]) for k, p in per.items()} == {0: (3000, 0), 1: (1000, 0)}, per
