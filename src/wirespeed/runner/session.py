"""A tool run as an object, the same for gen, sink and fwd: the Python API's Gen, Sink and Fwd
and the command line are both this. start() returns once every worker has opened its ports;
stats() reads the live counters; wait(timeout) and stop() end it; the result is the JSON
summary as a typed object. Nothing is printed unless a reporter is given.
"""

from __future__ import annotations

import dataclasses
import time

from wirespeed.base.errors import WirespeedError
from wirespeed.base.netns import Where
from wirespeed.runner import driver, record
from wirespeed.runner.driver import Ended, Plan, Run, Snapshot, Step, Worker


def options_of(cfg) -> dict:
    """A config's options as JSON values: what the run record says the run was asked to do."""
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, bytes):
            v = v.hex(":") if len(v) == 6 else v.hex()
        elif callable(v) and not isinstance(v, type):
            v = getattr(v, "__name__", type(v).__name__)
        elif dataclasses.is_dataclass(v) and not isinstance(v, Where):
            v = {k: x if record.plain(x) else str(x) for k, x in dataclasses.asdict(v).items()}
        elif not record.plain(v):
            v = str(v)
        out[f.name] = v
    return out


def wheres_of(cfg) -> list[Where]:
    return [getattr(cfg, f.name) for f in dataclasses.fields(cfg) if isinstance(getattr(cfg, f.name), Where)]


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

    def __init__(self, cfg, note=lambda text: None):
        self.cfg = cfg  # the tool's config (GenConfig, SinkConfig, FwdConfig)
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

    roles: tuple[str, ...] = ("",)  # the port roles' names in exported metrics ("" : one port)

    def counters(self, snap: Snapshot) -> dict[tuple[str, str], int]:
        """Cumulative counts for the metrics endpoint: every port's C counters, and the tool's."""
        from wirespeed import core

        return {(f"{name}_total", role): int(snap.port(i)[j]) for i, role in enumerate(self.roles)
                for name, j in core.C.items() if name not in ("cycles", "ns")}

    def latency_hist(self, snap: Snapshot):
        """The one-way latency histogram (C buckets, see stats.hist_lower_bounds), if the tool has one."""
        return None

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
        # What planning says is said once the plan is made: a refusal is then the only line.
        held: list[str] = []
        say, self.note = self.note, held.append
        try:
            plan, make_step = self.plan()
        finally:
            self.note = say
        for text in held:
            say(text)
        self.run = Run(plan, make_step)
        self.record = record.record(options_of(self.cfg), wheres_of(self.cfg))
        return self.run

    def start(self) -> "ToolSession":
        """Open everything; return once every worker is ready and moving packets."""
        return self.prepare().go()

    def prepare(self) -> "ToolSession":
        """Open everything; return once every worker is ready, waiting for go()."""
        run = self._make_run()
        run.start()
        for facts in run.facts:
            if facts.get("note"):
                self.note(facts["note"])
        return self

    def go(self) -> "ToolSession":
        """The prepared workers move packets from now on."""
        self.run.go()
        self._profile_start()
        self._prev = self.run.snapshot()
        return self

    # -- --profile: the workers' CPUs sampled while the run moves packets ------------------------------
    _profiler = None

    def _profile_start(self) -> None:
        if not (getattr(self.cfg, "profile", False) or getattr(self.cfg, "folded", None)) \
                or self.run.plan.exit_after_setup:
            return
        from wirespeed.runner.profiler import Profiler, cpus_of

        try:
            self._profiler = Profiler(cpus_of(self.run.plan.cpus))
        except WirespeedError as e:
            self.note(f"--profile left out: {e}")

    def _profile_drop(self) -> None:
        """The run failed or was interrupted: the sampling ends with it, no profile."""
        if self._profiler is not None:
            self._profiler.stop()
            self._profiler = None

    def _profile_end(self, out: dict) -> None:
        if self._profiler is None:
            return
        from wirespeed.bpf.btf import kernel_symbols
        from wirespeed.runner.profiler import folded, result

        samples, self._profiler = self._profiler.stop(), None
        symbols = kernel_symbols()
        packets = out.get("packets") or out.get("tx") or 0  # gen, sink: packets; fwd: those it sent on
        run, others = samples.split(symbols, {p.pid for p in self.run.procs})
        out["profile"] = result(run, symbols, packets, cpu_ns_per_pkt=out.get("cpu_ns_per_pkt"), others=others)
        path = getattr(self.cfg, "folded", None)
        if path:
            lines = folded(samples, symbols)
            with open(path, "w") as f:
                f.write("".join(line + "\n" for line in lines))
            out["profile"]["folded"] = {"file": path, "stacks": len(lines)}

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
            self._profile_drop()
            raise run.error
        out = self.summary(Ended(run.elapsed(), None, run.snapshot()))
        self._profile_end(out)
        out["record"] = self.record
        self.result = self.result_type(out)
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
                self._profile_drop()

    # -- the command line's way: blocking, printing --------------------------------------------------
    def drive(self, reporter, interval_s: float) -> dict:
        self.note = reporter.note
        run = self._make_run()
        if getattr(reporter, "options", None):  # the command line's own words: --config replays them
            self.record = {**self.record, "options": reporter.options, "config": self.record["options"]}
        if not self.start_at_ready():
            reporter.event("start", **self.start_fields(), record=self.record)

        metrics = []

        def on_ready() -> None:
            if self.start_at_ready():  # its fields are what the workers found (the XDP mode)
                reporter.event("start", **self.start_fields(), **run.facts[0], record=self.record)
            listen = getattr(reporter, "prometheus", None)
            if listen:  # opened after the workers forked: they hold no listening socket
                from wirespeed.runner.metrics import Exporter

                metrics.append(Exporter(listen, self.tool, " -> ".join(map(str, wheres_of(self.cfg)))))
                metrics[0].update(self.counters(run.snapshot()), {})  # zeros until the first interval
            reporter.event("ready")
            self._profile_start()

        def on_interval(prev: Snapshot, now: Snapshot) -> None:
            rates, cols = self.interval(prev, now)
            reporter.interval(now.t, rates, cols)
            for m in metrics:  # the parent, once per interval: the data path pays nothing
                from wirespeed.runner.stats import hist_lower_bounds

                m.update(self.counters(now), rates, self.latency_hist(now), hist_lower_bounds())

        try:
            end = driver.drive(run, interval_s, on_interval, enough=self.enough, on_ready=on_ready,
                               on_note=reporter.note)
        except BaseException:
            self._profile_drop()
            raise
        finally:
            for m in metrics:
                m.close()
        if run.plan.exit_after_setup:
            return {"setup_only": True}
        out = self.summary(end)
        self._profile_end(out)
        out["record"] = self.record
        for text in self.after(out):
            reporter.note(text)
        reporter.summary(out, self.rows(out), f"{self.tool} summary")
        if out.get("profile") and not reporter.json:
            from wirespeed.runner.profiler import table

            reporter.console.print(table(out["profile"]))
        self.result = self.result_type(out)
        return out


__all__ = ["Result", "ToolSession", "Step", "Worker"]
