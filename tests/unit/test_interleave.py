"""Several streams in one worker (gen --streams): the C loop merges their schedules, each slot to
the stream whose own frame is due first; a stream whose count is done leaves the merge, and the
worker's schedule slows to the rest's rate."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import build, cfg_for, one_line, run_cli
from wirespeed import core
from wirespeed.base.units import frame
from wirespeed.tools.gen import make_gen

PAYLOAD = 14 + 20 + 8  # the pktgen header of a plain IPv4/UDP frame


def _mux(intervals, counts, sizes=(64, 64)):
    subs = [make_gen(cfg_for(size=frame(s)), i, ns) for i, (s, ns) in enumerate(zip(sizes, intervals))]
    g = make_gen(cfg_for(), 0, 0.0)
    g.interleave(subs, list(intervals), list(counts), 32)
    return g, subs


def _streams_of(frames):
    return [struct.unpack_from("!I", f, PAYLOAD + 4)[0] >> core.SEQ_BITS for f in frames]


def test_slots_go_to_the_stream_whose_frame_is_due_first():
    # 30 kpps and 10 kpps: every fourth slot is the second stream's, each stream's numbers in order
    g, _ = _mux([1e9 / 30e3, 1e9 / 10e3], [None, None])
    frames, _ = build(cfg_for(), 400, g)
    ids = _streams_of(frames)
    assert ids.count(0) == 300 and ids.count(1) == 100
    assert all(ids[i:i + 4].count(1) == 1 for i in range(0, 400, 4))  # spread, never bunched
    for sid in (0, 1):
        seqs = [struct.unpack_from("!I", f, PAYLOAD + 4)[0] & ((1 << core.SEQ_BITS) - 1)
                for f, s in zip(frames, ids) if s == sid]
        assert seqs == list(range(len(seqs)))
    assert g.ns_per_pkt == pytest.approx(1e9 / 40e3)


def test_a_finished_stream_leaves_and_the_schedule_slows_to_the_rest():
    g, subs = _mux([1e9 / 30e3, 1e9 / 10e3], [30, None])
    frames, _ = build(cfg_for(), 100, g)
    ids = _streams_of(frames)
    assert ids.count(0) == 30 and ids[40:] == [1] * 60  # after its 30th frame, only the second
    assert g.ns_per_pkt == pytest.approx(1e5)  # the second's own 10 kpps
    assert [s.departures()["slots"] for s in subs] == [30, 70]


def test_each_stream_keeps_its_own_frame_and_unpaced_streams_go_in_turn():
    g, _ = _mux([0, 0], [None, None], sizes=(64, 512))
    frames, _ = build(cfg_for(), 10, g)
    assert [len(f) for f in frames] == [60, 508] * 5 and _streams_of(frames) == [0, 1] * 5


@pytest.mark.parametrize("intervals, counts, needle", [
    ([1000.0, 0.0], [None, None], "every one paced or none"),
    ([1000.0, 1000.0], [0, None], "count: >= 1"),
    ([1000.0], [None, None], "an interval and a count each"),
])
def test_bad_interleaving_is_refused(intervals, counts, needle):
    subs = [make_gen(cfg_for(), i, 0.0) for i in range(len(counts))]
    with pytest.raises(ValueError, match=needle):
        make_gen(cfg_for()).interleave(subs, intervals, counts, 32)


def test_mixed_paced_and_unpaced_streams_are_one_line(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('[[stream]]\nrate = "10kpps"\n[[stream]]\nsize = "128"\n')
    r = run_cli("gen", "lo", "--dst-mac", "02:00:00:00:00:01", "-c", "10", "--streams", str(spec))
    assert "give every stream a rate (or share), or none" in one_line(r, 2)



def test_frames_not_sent_go_back_to_their_own_streams():
    """A socket that took fewer frames than were built (UDP): each unsent frame's number and slot
    go back to its own stream, so the next frames are the same ones again, and a stream whose
    count had run out is in the merge again."""
    ref, _ = _mux([1e9 / 30e3, 1e9 / 10e3], [None, 6])
    want, _ = build(cfg_for(), 24, ref)
    g, subs = _mux([1e9 / 30e3, 1e9 / 10e3], [None, 6])
    first, _ = build(cfg_for(), 24, g)
    g.unbuild(10)
    again, _ = build(cfg_for(), 10, g)
    key = lambda f: f[PAYLOAD + 4:PAYLOAD + 8] + f[:PAYLOAD - 2]  # noqa: E731  (stream, number, headers; not
    #                                                                             the UDP checksum: the stamp is newer)
    assert [key(f) for f in first[:14] + again] == [key(f) for f in want]
    assert [s.departures()["slots"] for s in subs] == [18, 6]


def test_a_frame_beyond_every_count_taken_back_wakes_no_stream():
    """Frames asked for beyond the sum of the counts are stream 0's and spend no count: taking
    one back (a socket that took fewer) leaves stream 0 done, so the slot it gave back goes to
    the stream that still has frames."""
    g, subs = _mux([1000.0, 1000.0], [1, 2])
    first, _ = build(cfg_for(), 4, g)
    assert _streams_of(first) == [0, 1, 1, 0]  # the last one beyond both counts
    g.unbuild(2)
    again, _ = build(cfg_for(), 1, g)
    assert _streams_of(again) == [1]
    assert again[0][PAYLOAD + 4 : PAYLOAD + 8] == first[2][PAYLOAD + 4 : PAYLOAD + 8]  # its frame, the same number
    assert [s.departures()["slots"] for s in subs] == [1, 2]


def test_the_kernel_backend_runs_stream_i_in_worker_i(tmp_path):
    """--backend kernel takes --streams with a worker (a program) per stream: worker i's
    template is stream i's frame, its stream number in the stamp and its own port walk."""
    from wirespeed import api
    from wirespeed.base.netns import Where
    from wirespeed.ports import kernel
    from wirespeed.tools import gen

    f = tmp_path / "two.toml"
    f.write_text('[[stream]]\ncount = 5\n[[stream]]\ncount = 6\nsize = 128\nvlan = "7"\nsport = "100-103"\n')
    cfg = api.gen_config_at(Where("lo"), None, streams=str(f), workers=2, backend="kernel",
                            src_mac="02:00:00:00:00:01", dst_mac="02:00:00:00:00:02", src_ip="198.18.0.1",
                            dst_ip="198.18.0.2")
    gen.check(cfg)
    spec = gen.port_spec(cfg, 0.0)
    (f0, l0), (f1, l1) = (kernel.template(spec.gen_of(i), i) for i in range(2))
    assert (len(f0), l0.seq_base >> core.SEQ_BITS, [(f.lo, f.mods) for f in l0.fields]) == (60, 0, [])
    assert (len(f1), l1.seq_base >> core.SEQ_BITS, [(f.lo, f.mods) for f in l1.fields]) == (124, 1, [(100, (4,))])
    assert f1[12:16] == bytes.fromhex("81000007")  # stream 1's VLAN tag


def _merge(intervals, counts, n):
    """The merge by its definition: each slot to the stream still sending whose next frame is due
    first (ties to the lower number); past every count, stream 0's without a count spent."""
    steps = [int(ns * 256) if ns > 0 else 1 for ns in intervals]
    at, left, ids = [0] * len(steps), [c if c is not None else -1 for c in counts], []
    for _ in range(n):
        live = [i for i in range(len(steps)) if left[i] != 0]
        if not live:
            ids.append(0)
            continue
        i = min(live, key=lambda j: (at[j], j))
        at[i] += steps[i]
        left[i] -= 1
        ids.append(i)
    return ids


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_merge_is_its_definition_in_any_batches(data):
    """Two or three streams, paced (ties included) or in turn, with and without counts, built in
    batches of any size with frames taken back between them: the streams and their numbers are
    the merge's, each stream's slots its count of them."""
    n = data.draw(st.sampled_from([2, 2, 3]))
    paced = data.draw(st.booleans())
    intervals = [data.draw(st.sampled_from([1000.0, 1500.0, 3000.0, 1e9 / 30e3])) if paced else 0.0
                 for _ in range(n)]
    counts = [data.draw(st.sampled_from([None, None, 1, 7, 60, 150])) for _ in range(n)]
    g, subs = _mux(intervals, counts, sizes=(64,) * n)
    got: list[bytes] = []
    for _ in range(data.draw(st.integers(1, 6))):
        k = data.draw(st.integers(1, 100))
        frames, _ = build(cfg_for(), k, g)
        got += frames
        back = data.draw(st.integers(0, min(k, 20)))
        if back:
            g.unbuild(back)
            del got[len(got) - back :]
    ids = _merge(intervals, counts, len(got))
    assert _streams_of(got) == ids
    for sid in range(n):
        seqs = [struct.unpack_from("!I", f, PAYLOAD + 4)[0] & ((1 << core.SEQ_BITS) - 1)
                for f, s in zip(got, ids) if s == sid]
        assert seqs == list(range(len(seqs)))
    assert [s.departures()["slots"] for s in subs] == [ids.count(i) for i in range(n)]
