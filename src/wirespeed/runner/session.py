"""A tool run as an object, the same for gen, sink and fwd: the Python API's Gen, Sink and Fwd
and the command line are both this. start() returns once every worker has opened its ports;
stats() reads the live counters; wait(timeout) and stop() end it; the result is the JSON
summary as a typed object. Nothing is printed unless a reporter is given.
"""

from __future__ import annotations

import time

from wirespeed.runner import driver
from wirespeed.runner.driver import Ended, Plan, Run, Snapshot, Step, Worker


class Result:
    """A run's summary: its fields as attributes (units in their names: _pps, _ns, _mbps, ...),
    to_dict() the same object `--json` prints as the summary line."""

    def __init__(self, summary: dict):
        self._d = summary

    def to_dict(self) -> dict:
        return dict(self._d)

    def __getattr__(self, name: str):
        try:
            return self._d[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no {name!r}; it has {', '.join(self._d)}") from None

    def __getitem__(self, key: str):
        return self._d[key]

    def __repr__(self) -> str:
        keys = ("packets", "pps", "lost", "rx", "tx")
        return f"{type(self).__name__}({', '.join(f'{k}={self._d[k]!r}' for k in keys if k in self._d)})"


class ToolSession:
    """What a tool supplies: plan() (the run's plan and the step each worker runs), start_fields
    (its JSON start line), interval() (one interval's figures), summary() (the result), rows()
    (the human summary). The rest is here."""

    tool = "tool"
    result_type = Result

    def __init__(self, note=lambda text: None):
        self.note = note
        self.run: Run | None = None
        self._prev: Snapshot | None = None
        self._t_stats = 0.0
        self.result: Result | None = None

    # -- to supply -------------------------------------------------------------------------------
    def plan(self) -> tuple[Plan, object]:  # pragma: no cover - interface
        raise NotImplementedError

    def start_fields(self) -> dict:
        return {}

    def interval(self, prev: Snapshot, now: Snapshot) -> tuple[dict, dict]:  # pragma: no cover
        raise NotImplementedError

    def summary(self, end: Ended) -> dict:  # pragma: no cover - interface
        raise NotImplementedError

    def rows(self, out: dict) -> list[tuple[str, str]]:
        return []

    def start_at_ready(self) -> bool:
        """The start line waits for the workers' facts (False: it is printed before they start)."""
        return False

    def enough(self, snap: Snapshot) -> bool:
        return False

    def after(self, out: dict) -> list[str]:
        """Notes once the summary is known."""
        return []

    # -- the life cycle ----------------------------------------------------------------------------
    def _make_run(self) -> Run:
        plan, make_step = self.plan()
        self.run = Run(plan, make_step)
        return self.run

    def start(self) -> "ToolSession":
        """Open everything; return once every worker is ready and moving packets."""
        run = self._make_run()
        run.start()
        for facts in run.facts:
            if facts.get("note"):
                self.note(facts["note"])
        run.go()
        self._prev = run.snapshot()
        return self

    def stats(self) -> dict:
        """The live figures since the previous call (or the start): what an interval line shows."""
        now = self.run.snapshot()
        rates, cols = self.interval(self._prev, now) if now.t > self._prev.t else ({}, {})
        self._prev = now
        return {"t": now.t, **rates, **cols}

    def finished(self) -> bool:
        return self.run.finished() or self.run.past_deadline() or self.enough(self.run.snapshot())

    def wait(self, timeout: float | None = None) -> Result | None:
        """Until the run ends by itself (count, duration) or timeout seconds: its result, or None
        if it is still running."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self.finished():
            if end is not None and time.monotonic() >= end:
                return None
            time.sleep(0.005)
        return self.stop()

    def stop(self) -> Result:
        """Stop the workers (what is queued is sent), close everything, the result."""
        if self.result is not None:
            return self.result
        run = self.run
        run.stop()
        run.close()
        if run.error is not None:
            raise run.error
        self.result = self.result_type(self.summary(Ended(run.elapsed(), None, run.snapshot())))
        return self.result

    def __enter__(self) -> "ToolSession":
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.run is not None and self.result is None:
            if exc[0] is None:
                self.stop()
            else:
                self.run.stop()
                self.run.close()

    # -- the command line's way: blocking, printing --------------------------------------------------
    def drive(self, reporter, interval_s: float) -> dict:
        self.note = reporter.note
        run = self._make_run()
        if not self.start_at_ready():
            reporter.event("start", **self.start_fields())

        def on_ready() -> None:
            if self.start_at_ready():  # its fields are what the workers found (the XDP mode)
                reporter.event("start", **self.start_fields(), **run.facts[0])
            reporter.event("ready")

        def on_interval(prev: Snapshot, now: Snapshot) -> None:
            rates, cols = self.interval(prev, now)
            reporter.interval(now.t, rates, cols)

        end = driver.drive(run, interval_s, on_interval, enough=self.enough, on_ready=on_ready,
                           on_note=reporter.note)
        if run.plan.exit_after_setup:
            return {"setup_only": True}
        out = self.summary(end)
        for text in self.after(out):
            reporter.note(text)
        reporter.summary(out, self.rows(out), f"{self.tool} summary")
        self.result = self.result_type(out)
        return out


__all__ = ["Result", "ToolSession", "Step", "Worker"]
