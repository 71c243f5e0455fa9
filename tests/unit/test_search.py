"""The search's Controller (the MLRsearch package, RFC 9971) run for real against simulated DUTs of
known capacity: the bounds bracket the capacity within the goal's width; a DUT that forwards
nothing, a tester-bound max load and a loss inversion give the results RFC 9971 defines."""

from __future__ import annotations

import random

import pytest
from MLRsearch import AbstractMeasurer, Config, MeasurementResult, MultipleLossRatioSearch

from helpers import cfg_for
from wirespeed.base.errors import UsageError, WirespeedError
from wirespeed.base.netns import Where
from wirespeed.base.units import frame
from wirespeed.tools import search

CAPACITY = 1_000_000.0


class SimulatedDut(AbstractMeasurer):
    """Forwards `forwards(load)` frames per second of what it is offered, plus random loss."""

    def __init__(self, forwards, noise: float = 0.0, seed: int = 1):
        self.forwards, self.noise, self.rng, self.trials = forwards, noise, random.Random(seed), 0

    def measure(self, intended_duration, intended_load):
        self.trials += 1
        sent = int(intended_duration * intended_load)
        ok = min(sent, int(intended_duration * self.forwards(intended_load)))
        if self.noise and self.rng.random() < self.noise:
            ok -= self.rng.randint(1, 50)
        return MeasurementResult(intended_duration=intended_duration, intended_load=intended_load,
                                 offered_count=sent, forwarding_count=max(0, ok))


def searched(dut, preset="quick", min_load=1e3, max_load=1e7, goals=()):
    cfg = search.SearchConfig(tx=Where("a"), rx=Where("b"), gen=cfg_for(), preset=preset, goals=goals)
    pairs = search.goals_of(cfg)
    config = Config(goals=[sg for _, sg in pairs], min_load=min_load, max_load=max_load, search_duration_max=600,
                    warmup_duration=None)
    result = MultipleLossRatioSearch(config=config).search(measurer=dut, debug=lambda text: None)
    return [search.goal_result(g, sg, result[sg], frame(64), max_load, min_load, None) for g, sg in pairs]


def test_the_bounds_bracket_a_known_capacity_within_the_width():
    ndr, pdr = searched(SimulatedDut(lambda load: CAPACITY))
    for g in (ndr, pdr):
        lo, hi = g["lower_bound"]["pps"], g["upper_bound"]["pps"]
        assert g["regular"], g["irregular_because"]
        assert (hi - lo) / hi <= g["relative_width"] + 1e-9
    eps = 1e-6
    assert ndr["lower_bound"]["pps"] <= CAPACITY * (1 + eps) and CAPACITY <= ndr["upper_bound"]["pps"]
    # PDR (0.5 % loss allowed) sits at capacity / (1 - 0.005)
    assert pdr["lower_bound"]["pps"] <= CAPACITY / 0.995 * (1 + eps) and CAPACITY / 0.995 <= pdr["upper_bound"]["pps"]


def test_rare_noise_is_tolerated_by_the_exceed_ratio():
    ndr, _ = searched(SimulatedDut(lambda load: CAPACITY, noise=0.05), preset="csit")
    assert ndr["regular"] and ndr["lower_bound"]["pps"] <= CAPACITY * 1.01


def test_a_dut_that_forwards_nothing_has_no_lower_bound():
    ndr, pdr = searched(SimulatedDut(lambda load: 0.0))
    for g in (ndr, pdr):
        assert g["lower_bound"]["pps"] is None and not g["regular"]
        assert "min load" in g["irregular_because"] and "upper bound" in g["irregular_because"]


def test_a_tester_bound_max_load_has_no_upper_bound():
    ndr, _ = searched(SimulatedDut(lambda load: 1e9), max_load=5e5)
    assert ndr["upper_bound"]["pps"] is None and not ndr["regular"]
    assert "tester-bound" in ndr["irregular_because"]
    assert ndr["lower_bound"]["pps"] == pytest.approx(5e5, rel=0.03)


def test_a_loss_inversion_ends_at_the_lower_lossy_load():
    """Zero loss at a load, loss later at a lower one (a loss inversion): RFC 9971 takes the
    lowest loss-exceeding load as the relevant upper bound, so the result drops below it."""

    class Degrading(SimulatedDut):
        def measure(self, intended_duration, intended_load):
            lossy = self.trials >= 4 and 0.5 * CAPACITY <= intended_load <= CAPACITY
            self.forwards = (lambda load: 0.9 * load) if lossy else (lambda load: CAPACITY)
            return super().measure(intended_duration, intended_load)

    dut = Degrading(lambda load: CAPACITY)
    ndr, _ = searched(dut, min_load=1e4)
    assert dut.trials > 4
    ub = ndr["upper_bound"]["pps"]
    assert ub is not None and ub <= CAPACITY and ndr["conditional_throughput"]["pps"] < ub


@pytest.mark.parametrize("text,needle", [("NDR", "NAME:LOSS_RATIO"), ("NDR:1", "[0, 1)"), ("PDR:0.1:1.5", "exceed"),
                                         ("PDR:x", "numbers"), (":0", "NAME")])
def test_bad_goals_are_one_line(text, needle):
    with pytest.raises(UsageError, match=needle.replace("[", r"\[").replace(")", r"\)")):
        search.parse_goal(text)


def test_goal_attributes_follow_the_preset_and_the_options():
    cfg = search.SearchConfig(tx=Where("a"), rx=Where("b"), gen=cfg_for(), preset="csit",
                              goals=(search.parse_goal("X:0.001:0.2"),), relative_width=0.01)
    (g, sg), = search.goals_of(cfg)
    assert (sg.loss_ratio, sg.exceed_ratio, sg.relative_width, sg.final_trial_duration, sg.duration_sum) == \
        (0.001, 0.2, 0.01, 1.0, 21.0)


def test_where_the_loss_went_names_the_hop_that_lost_most():
    before = {"fwd:veth1 qdisc drops": 10, "sink:veth0 rx_dropped": 0, "gen:veth0 tx": 0}
    after = {"fwd:veth1 qdisc drops": 980, "sink:veth0 rx_dropped": 20, "gen:veth0 tx": 5000}
    a = search.attribute(before, after, {"receiver ring drops": 10}, 1000)
    assert a["most"] == "97 % of the loss at fwd:veth1 qdisc drops"
    assert a["drops"] == {"fwd:veth1 qdisc drops": 970, "sink:veth0 rx_dropped": 20, "receiver ring drops": 10}


class ShortTester(SimulatedDut):
    """A DUT of some capacity behind a tester that cannot send more than `top` pps: above it
    the measurer (as search.Measurer.measure does after its repeat) raises TesterShort."""

    def __init__(self, capacity: float, top: float):
        super().__init__(lambda load: capacity)
        self.top = top

    def measure(self, intended_duration, intended_load):
        if intended_load > self.top:
            raise search.TesterShort(intended_load, self.top)
        return super().measure(intended_duration, intended_load)


class HeldBack(SimulatedDut):
    """A DUT of 150 kpps over veth: above its rate it holds the sender back instead of dropping,
    so the tester falls short of every load above it (by the DUT's doing) and nothing is lost;
    once the shortfall counts as loss (RFC 9971), the loss is what the DUT did not take."""

    def __init__(self):
        super().__init__(lambda load: 150_000)
        self.counting = False

    def measure(self, intended_duration, intended_load):
        if intended_load > 150_000 and not self.counting:
            raise search.TesterShort(intended_load, 0.97 * intended_load)
        return super().measure(intended_duration, intended_load)


def within_the_tester(dut, min_load=1e3, max_load=1e7):
    cfg = search.SearchConfig(tx=Where("a"), rx=Where("b"), gen=cfg_for())
    pairs = search.goals_of(cfg)
    notes = []
    result, top, ceiling, counted = search.search_within_the_tester(
        lambda m: Config(goals=[sg for _, sg in pairs], min_load=min_load, max_load=m, search_duration_max=600,
                         warmup_duration=None), dut, min_load, max_load, notes.append,
        (lambda: setattr(dut, "counting", True)) if isinstance(dut, HeldBack) else None)
    tester = {"back_to_back_pps": max_load, "ceiling_pps": ceiling, "tester_bound_trials": 2,
              "shortfall_counted": counted}
    return [search.goal_result(g, sg, result[sg], frame(64), top, min_load, None, tester) for g, sg in pairs], notes


def test_a_dut_below_the_testers_ceiling_is_found_regular_after_the_tester_falls_short():
    (ndr, pdr), notes = within_the_tester(ShortTester(capacity=200_000, top=300_000))
    assert notes and "lowered from 10,000,000 to 270,000 pps" in notes[0]
    assert ndr["regular"], ndr["irregular_because"]
    assert ndr["lower_bound"]["pps"] <= 200_000 <= ndr["upper_bound"]["pps"]
    assert ndr["tester_ceiling_pps"] == 300_000 and ndr["tester_bound_trials"] == 2


def test_a_dut_above_the_testers_ceiling_is_never_a_regular_figure_below_its_rate():
    (ndr, pdr), _ = within_the_tester(ShortTester(capacity=1_000_000, top=300_000))
    for g in (ndr, pdr):
        assert not g["regular"] and g["upper_bound"]["pps"] is None
        assert "tester-bound" in g["irregular_because"] and "fell short above 300,000 pps" in g["irregular_because"]


def test_a_tester_short_at_every_load_counts_its_shortfall_as_loss_and_says_so():
    (ndr, pdr), notes = within_the_tester(HeldBack(), max_load=600_000)
    assert "counts as loss (RFC 9971)" in notes[-1] and len(notes) == search.RESTARTS + 1
    for g in (ndr, pdr):
        assert not g["regular"] and "counted as loss (RFC 9971)" in g["irregular_because"]
        assert g["conditional_throughput"]["pps"] <= 150_000 * 1.01  # never above what the DUT takes


def test_without_a_way_to_count_it_a_tester_short_at_every_load_is_one_error():
    dut = HeldBack()
    with pytest.raises(WirespeedError, match="the tester cannot offer the loads this search needs"):
        search.search_within_the_tester(
            lambda m: Config(goals=[sg for _, sg in search.goals_of(search.SearchConfig(
                tx=Where("a"), rx=Where("b"), gen=cfg_for()))], min_load=1e3, max_load=m, search_duration_max=600,
                warmup_duration=None), dut, 1e3, 600_000)


def test_a_short_trial_is_repeated_once_and_twice_short_is_excluded_not_loss():
    m = object.__new__(search.Measurer)
    shortfalls = iter([True, False, True, True])
    tried = []

    def trial(duration, load, kind="search"):
        short = next(shortfalls)
        rec = {"tester_bound": short, "offered_pps": load * (0.7 if short else 1.0), "kind": kind, "excluded": False,
               "dut_lost": 0, "tester_stalled": False}
        tried.append(rec)
        return rec

    m.trial = trial
    rec = m.measure(1.0, 100_000)
    assert rec["kind"] == "repeat" and not rec["tester_bound"]  # short once: the repeat stands
    with pytest.raises(search.TesterShort) as e:
        m.measure(1.0, 100_000)
    assert e.value.offered == pytest.approx(70_000) and [r["excluded"] for r in tried] == [False, False, True, True]
    m.trial = lambda duration, load, kind="search": {"tester_bound": True, "dut_lost": 12, "kind": kind}
    assert m.measure(1.0, 100_000)["kind"] == "search"  # the DUT lost frames: that trial stands as it is


@pytest.mark.parametrize("stalls, tries", [([True] * 5, search.STALLED_TRIES), ([True, False, True], 2),
                                           ([False, True], 2)])
def test_a_tester_that_was_only_stalled_is_tried_more_often(stalls, tries):
    """Short because it was stopped a few ms (a VM's host took its CPU), the tester is tried up to
    STALLED_TRIES times at that load; short for want of speed once, it is out after TESTER_TRIES."""
    m = object.__new__(search.Measurer)
    it, tried = iter(stalls), []

    def trial(duration, load, kind="search"):
        tried.append({"tester_bound": True, "offered_pps": load * 0.99, "kind": kind, "excluded": False,
                      "dut_lost": 0, "tester_stalled": next(it)})
        return tried[-1]

    m.trial = trial
    with pytest.raises(search.TesterShort):
        m.measure(0.5, 200_000)
    assert len(tried) == tries and all(r["excluded"] for r in tried)


def test_stalls_are_told_from_a_tester_too_slow_by_the_time_it_was_behind():
    # measured through a 200 kpps bucket: stalled trials behind 13-82 ms of 200-500; -b 1 behind 181-202 of 200
    assert search.stalled({"behind_ns": 40_370_000}, 0.447)
    assert search.stalled({"behind_ns": 81_980_000}, 0.5)
    assert not search.stalled({"behind_ns": 191_240_000}, 0.2)
    assert not search.stalled({"behind_ns": 346_190_000}, 0.5)
    assert not search.stalled({"behind_ns": None}, 0.5) and not search.stalled(None, 0.5)
    assert search.stalled({"behind_ns": 150_000_000}, 0.5, workers=2)  # 75 ms each


def test_a_path_faster_than_an_asked_max_load_is_not_called_tester_bound():
    """--max-load below what the tester sends: a goal with no upper bound says the max load was
    asked for, and names no tester; a max load that is the tester's own stays tester-bound."""
    cfg = search.SearchConfig(tx=Where("a"), rx=Where("b"), gen=cfg_for())
    pairs = search.goals_of(cfg)
    config = Config(goals=[sg for _, sg in pairs], min_load=1e3, max_load=1e5, search_duration_max=600,
                    warmup_duration=None)
    result = MultipleLossRatioSearch(config=config).search(measurer=SimulatedDut(lambda load: CAPACITY),
                                                           debug=lambda text: None)
    for source, needle in (("option", "as --max-load asked"), ("line", "the line rate"), ("tester", "tester-bound")):
        g = search.goal_result(pairs[0][0], pairs[0][1], result[pairs[0][1]], frame(64), 1e5, 1e3, None,
                               {"max_load_from": source})
        assert not g["regular"] and needle in g["irregular_because"], g["irregular_because"]
        assert ("tester" in g["irregular_because"]) == (source == "tester")
