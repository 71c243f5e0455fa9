"""What `wirespeed otg` does with a config: this host's ports run as wirespeed's own generator and
sink sessions (one gen per transmitting port, its flows interleaved as streams; one sink per
receiving port, each flow's frames told apart by the stream number in their stamps); ports on
other hosts are their agents' (engine.Remote), each sent its part of the config over OTG, all
started at one agreed CLOCK_REALTIME instant, their metrics merged.

The transmit state of a run stays "started" until every generator has ended and the sinks have
seen their last frame (no frame came for DRAIN_QUIET_S): a script that waits for "stopped" then
reads final counts.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from wirespeed import core
from wirespeed.base.errors import WirespeedError
from wirespeed.base.netdev import link_info, link_stats, veth_peer, xdp_features
from wirespeed.base.netns import Where
from wirespeed.otg import model
from wirespeed.tools.gen import ns_per_packet

POLL_S = 0.05
RATE_WINDOW_S = 0.5  # the rates in metrics: over the last half second
DRAIN_QUIET_S = 0.25  # after the generators end, the sinks end once no frame came for this long
DRAIN_MAX_S = 3.0
AGENT_TIMEOUT_S = 5.0  # an agent that does not answer within this is lost: the run stops
START_LEAD_S = 1.0  # the agreed start: this far after the controller asks (every agent prepares first)
CONTROLLER_SILENT_S = 10.0  # an agent whose controller went quiet this long while sending stops
# fixed_packets sends exactly that many: after a stall, or at a rate above the tester's ceiling,
# the generator catches up (up to the flows' count ahead of its smooth schedule, at least this
# many) rather than skip slots (gen --max-burst)
CATCH_UP = 1_000_000
MAX_CATCH_UP = 2**31 - 1


class OtgError(WirespeedError):
    """An OTG error response: code 400 (validation: the request) or 500 (internal: the run)."""

    def __init__(self, text: str, code: int = 400):
        super().__init__(text)
        self.code = code


class AgentLost(OtgError):
    """An agent that did not answer (no connection, or no reply in time): the run stops."""

    def __init__(self, text: str):
        super().__init__(text, 500)


COUNTS = ("tx_packets", "rx_packets", "tx_bytes", "rx_bytes")  # a port's metrics: its interface's counters


@dataclass
class PortState:
    name: str
    loc: model.Location
    where: Where | None = None  # this host's
    base: dict = field(default_factory=dict)  # interface counters at the start
    hist: list = field(default_factory=list)  # (t, counts since the start), the last two rate windows


def _now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


class Local:
    """This host's share of a config: the generator and sink sessions of its ports."""

    def __init__(self, plan: model.Plan, ports: list[str], settings: dict, note, auto_end: bool = True):
        from wirespeed import api

        self.plan, self.note, self.settings = plan, note, settings
        # auto_end: the whole run is here, it ends when the generators have and the sinks drained;
        # else (a part of a run across hosts) the sinks count until the controller stops them
        self.auto_end = auto_end
        self.ports = {n: PortState(n, plan.ports[n], Where(plan.ports[n].ifname, plan.ports[n].netns)) for n in ports}
        for p in self.ports.values():
            try:
                link_info(p.where)
            except (WirespeedError, OSError) as e:
                raise OtgError(f"port {p.name}: {e}") from None
        self.tx = {}  # port -> (GenConfig, [flows in stream order], delay_s)
        self.rx = {}  # port -> SinkConfig
        self.flow_port_index = {}  # flow name -> (tx port, its place in that gen's streams)
        for name in ports:
            flows = [f for f in plan.flows if f.tx == name]
            if flows:
                self.tx[name] = self._gen_config(name, flows, api)
                for i, f in enumerate(flows):
                    self.flow_port_index[f.name] = (name, i)
            if any(name in f.rx for f in plan.flows):
                p = self.ports[name]
                opts = {"backend": self._backend(p, p.loc.options.get("rx_backend") or settings["rx_backend"])}
                try:
                    self.rx[name] = api.sink_config_at(p.where, None, **opts)
                except WirespeedError as e:
                    raise OtgError(f"port {name} ({p.loc.text}): {e}") from None
        self.gens, self.sinks = {}, {}
        self.gen_results, self.sink_results = {}, {}
        self.state = "stopped"
        self.error: str | None = None
        self.warnings: list[str] = []
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._stop_asked = threading.Event()
        self._flow_hist: list = []  # (t, per-flow counts) of the last second: the rates

    def _gen_config(self, name: str, flows: list, api):
        p = self.ports[name]
        delays = {f.delay_s for f in flows}
        if len(delays) > 1:
            raise OtgError(f"flows {', '.join(f.name for f in flows)}: the flows of port {name} start together "
                           f"(one delay)")
        streams = []
        for f in flows:
            gen = dict(f.gen)
            if "dst_mac" not in gen:
                gen["dst_mac"] = self._next_hop(p, f)
            streams.append(gen)
        opts = {"backend": self._backend(p, p.loc.options.get("backend") or self.settings["backend"]),
                "batch": p.loc.options.get("batch") or self.settings["batch"],
                "max_burst": min(MAX_CATCH_UP, max([CATCH_UP, *(int(f.gen.get("count", 0)) for f in flows)]))}
        try:
            cfg = api.gen_config_at(p.where, None, streams=streams, **opts)
        except WirespeedError as e:
            raise OtgError(f"port {name} ({p.loc.text}), flow(s) {', '.join(f.name for f in flows)}: {e}") from None
        cfg = dataclasses.replace(cfg, streams=tuple(dataclasses.replace(s, stream_id=f.index)
                                                     for s, f in zip(cfg.streams, flows)))
        return cfg, flows, delays.pop()

    def _backend(self, p: PortState, name: str) -> str:
        """auto: AF_XDP where the driver does it in zero copy (the fastest user-space path a
        NIC offers), else AF_PACKET, which every interface takes (on veth, copy mode only, it
        sends at least as fast: bench/trials.py)."""
        if name != "auto":
            return name
        zero_copy = "xsk-zerocopy" in (xdp_features(p.where) or ())
        chosen = "xdp" if zero_copy else "afpacket"
        self.note(f"port {p.name} ({p.loc.text}): {chosen} ({'AF_XDP zero copy' if zero_copy else 'no AF_XDP zero copy'}"
                  f" on {p.where})")
        return chosen

    @staticmethod
    def _next_hop(p: PortState, f: model.Flow) -> str:
        """ethernet.dst left to auto: the MAC of the veth peer of the transmitting interface
        (the receiving port, or the DUT's ingress)."""
        peer = veth_peer(p.where)
        if peer is None:
            raise OtgError(f"flow {f.name}: give packet ethernet.dst (port {p.name}'s {p.where} is not a veth "
                           f"whose peer's MAC wirespeed can take)")
        return link_info(peer)["mac"]

    # -- the run ----------------------------------------------------------------------------------
    def start(self, at_ns: int | None = None) -> list[str]:
        """Prepare every session, go at at_ns (CLOCK_REALTIME) or now; the notes."""
        from wirespeed.tools.gen import GenSession
        from wirespeed.tools.sink import SinkSession

        with self._lock:
            if self.state == "started":
                return ["traffic is already started"]
            self.gens, self.sinks, self.gen_results, self.sink_results = {}, {}, {}, {}
            self.error, self.warnings, self._flow_hist = None, [], []
            self._stop_asked.clear()
            notes: list[str] = []
            try:
                for name, cfg in self.rx.items():
                    self.sinks[name] = SinkSession(cfg, notes.append).start()
                for name, (cfg, _flows, _d) in self.tx.items():
                    self.gens[name] = GenSession(cfg, notes.append).prepare()
            except (WirespeedError, OSError) as e:
                self._close_all()
                raise OtgError(f"start: {e}", 500) from None
            for p in self.ports.values():
                p.base, p.hist = link_stats(p.where), []
            late = 0.0
            if at_ns is not None:
                wait = (at_ns - _now_ns()) / 1e9
                if wait > 0:
                    time.sleep(wait)
                else:
                    late = -wait
            t_go = time.monotonic()
            self.state = "started"
            for name, (cfg, _flows, delay) in sorted(self.tx.items(), key=lambda kv: kv[1][2]):
                if delay:
                    time.sleep(max(0.0, t_go + delay - time.monotonic()))
                self.gens[name].go()
            if late:
                notes.append(f"started {late * 1e3:.1f} ms after the agreed time (setting up took longer)")
            self._thread = threading.Thread(target=self._watch, name="otg-run", daemon=True)
            self._thread.start()
            return notes

    def _close_all(self) -> None:
        for s in [*self.gens.values(), *self.sinks.values()]:
            if s.run is not None and s.result is None:
                try:
                    s.run.stop()
                    s.run.close()
                except Exception:  # noqa: BLE001 - closing what could be opened
                    pass
        self.gens, self.sinks = {}, {}

    def stop(self) -> list[str]:
        """Stop sending; returns once the sinks have drained."""
        self._stop_asked.set()
        t = self._thread
        if t is not None:
            t.join()
        return self.take_warnings()

    def take_warnings(self) -> list[str]:
        """What the last run has to say (once)."""
        with self._lock:
            out, self.warnings = self.warnings, []
            return out

    def _watch(self) -> None:
        """The run's life: the generators end (their counts, or a stop), the sinks drain, the
        results are kept."""
        try:
            while not self._stop_asked.is_set():
                with self._lock:
                    for name, g in self.gens.items():
                        if name not in self.gen_results and g.finished():
                            self.gen_results[name] = g.stop().to_dict()
                    if self.auto_end and len(self.gen_results) == len(self.gens):
                        break
                    self._sample()
                time.sleep(POLL_S)
            with self._lock:
                for name, g in self.gens.items():
                    if name not in self.gen_results:
                        self.gen_results[name] = g.stop().to_dict()
            self._drain()
        except Exception as e:  # noqa: BLE001 - the run's error is the metrics' and the next call's
            self.error = f"{type(e).__name__}: {e}" if not isinstance(e, WirespeedError) else str(e)
            with self._lock:
                self._close_all()
        finally:
            with self._lock:
                self._sample()
                self.state = "stopped"
                self._ceiling_warnings()

    def _drain(self) -> None:
        t_end, last, quiet_since = time.monotonic() + DRAIN_MAX_S, None, time.monotonic()
        while time.monotonic() < t_end:
            with self._lock:
                n = sum(int(s.run.snapshot().port()[core.C["packets"]]) for s in self.sinks.values())
                self._sample()
            if n != last:
                last, quiet_since = n, time.monotonic()
            elif time.monotonic() - quiet_since >= DRAIN_QUIET_S:
                break
            time.sleep(POLL_S)
        with self._lock:
            for name, s in self.sinks.items():
                self.sink_results[name] = s.stop().to_dict()

    def _ceiling_warnings(self) -> None:
        """A port whose flows were not sent at their rates: the rate the tester reached, measured
        (frames sent over the seconds it sent) against the rates asked."""
        for name, res in self.gen_results.items():
            cfg, flows, _ = self.tx[name]
            secs = res.get("seconds") or 0.0
            due = sum(min(secs * one_pps, f_count) for one_pps, f_count in
                      ((1e9 / ns_per_packet(one), one.count if one.count is not None else float("inf"))
                       for one in cfg.streams))
            sent = sum(int(st.get("sent") or 0) for st in res.get("per_stream") or ())
            if secs and due and sent < 0.95 * due:
                asked = sum(1e9 / ns_per_packet(one) for one in cfg.streams)
                self.warnings.append(
                    f"port {name}: {sent:,} frames sent where {due:,.0f} were due: the tester reached "
                    f"{sent / secs:,.0f} pps of the {asked:,.0f} pps its flows ask ({', '.join(f.name for f in flows)}; "
                    f"backend {cfg.backend}, its measured ceiling here)")

    # -- what metrics read -------------------------------------------------------------------------
    def _sample(self) -> None:
        """Rates over the last RATE_WINDOW_S: each flow's and each port's counts, kept."""
        now = time.monotonic()
        for p in self.ports.values():
            c = link_stats(p.where)
            p.hist = _recent(p.hist, now, {k: c[k] - p.base.get(k, 0) for k in COUNTS})
        self._flow_hist = _recent(self._flow_hist, now, self._flow_counts())

    def _flow_counts(self) -> dict[str, dict]:
        """Per flow: frames sent (its stream's departures), received (each local sink's frames
        of its stream), latency; fields only for the sides this host serves."""
        out: dict[str, dict] = {}
        for f in self.plan.flows:
            d: dict = {}
            if f.name in self.flow_port_index:
                port, i = self.flow_port_index[f.name]
                d["frames_tx"], d["done"] = self._sent(port, i, f)
            rx_ports = [p for p in f.rx if p in self.rx]
            if rx_ports:
                got = [self._received(p, f.index) for p in rx_ports]
                d["frames_rx"] = sum(g["packets"] for g in got)
                lat = [g for g in got if g.get("lat_avg_ns") is not None]
                if lat:
                    n = sum(g["packets"] for g in lat)
                    d["latency"] = {"minimum_ns": float(min(g["lat_min_ns"] for g in lat)),
                                    "maximum_ns": float(max(g["lat_max_ns"] for g in lat)),
                                    "average_ns": sum(g["lat_avg_ns"] * g["packets"] for g in lat) / n}
            out[f.name] = d
        return out

    def _sent(self, port: str, i: int, f: model.Flow) -> tuple[int, bool]:
        from wirespeed.tools.gen import stream_summary

        cfg = self.tx[port][0]
        if port in self.gen_results:
            st = self.gen_results[port]["per_stream"][i]
            return int(st["sent"] or 0), True
        g = self.gens.get(port)
        if g is None or g.run is None:
            return 0, self.state != "started"
        snap = g.run.snapshot()
        sent = int(stream_summary(cfg, i, snap.stats, max(snap.t, 1e-9))["sent"] or 0)
        count = cfg.streams[i].count
        return sent, count is not None and sent >= count

    def _received(self, port: str, sid: int) -> dict:
        from wirespeed.tools.sink import per_stream, streams_whole, S

        if port in self.sink_results:
            rows = self.sink_results[port].get("per_stream") or ()
        else:
            s = self.sinks.get(port)
            if s is None:
                return {"packets": 0}
            snap = s.run.snapshot()
            rows = per_stream(snap.stats, 0.0, streams_whole(snap.stats[:, : len(S)]))
        return next((r for r in rows if r["stream"] == sid), {"packets": 0})

    def flow_metrics(self) -> dict[str, dict]:
        """Per flow, this host's side of its metrics (OTG FlowMetric fields)."""
        with self._lock:
            if self.state == "started":
                self._sample()
            counts = self._flow_hist[-1][1] if self._flow_hist else self._flow_counts()
            rates = _flow_rates(self._flow_hist) if self.state == "started" else {}
            out = {}
            for f in self.plan.flows:
                c = counts.get(f.name, {})
                m: dict = {"name": f.name, "port_tx": f.tx, "port_rx": f.rx[0] if f.rx else None}
                if self.auto_end:  # the whole run: started until the sinks have drained
                    m["transmit"] = "started" if self.state == "started" else "stopped"
                if "frames_tx" in c:
                    m["frames_tx"] = c["frames_tx"]
                    if not self.auto_end:  # a part: its sending done (the controller then stops the sinks)
                        m["transmit"] = "stopped" if c["done"] or self.state != "started" else "started"
                    m["frames_tx_rate"] = rates.get((f.name, "frames_tx"), 0.0)
                    if f.frame_bytes:
                        m["bytes_tx"] = c["frames_tx"] * f.frame_bytes
                if "frames_rx" in c:
                    m["frames_rx"] = c["frames_rx"]
                    m["frames_rx_rate"] = rates.get((f.name, "frames_rx"), 0.0)
                    if f.frame_bytes:
                        m["bytes_rx"] = c["frames_rx"] * f.frame_bytes
                    if f.latency and c.get("latency"):
                        m["latency"] = c["latency"]
                out[f.name] = m
            return out

    def port_metrics(self) -> dict[str, dict]:
        with self._lock:
            out = {}
            for name, p in self.ports.items():
                now = p.hist[-1][1] if p.hist else dict.fromkeys(COUNTS, 0)
                rates = _rates(p.hist) if self.state == "started" else {}
                info = link_info(p.where)
                out[name] = {
                    "name": name, "location": p.loc.text, "link": "up" if info["operstate"] in ("UP", "UNKNOWN")
                    else "down", "capture": "stopped",
                    "frames_tx": now["tx_packets"], "frames_rx": now["rx_packets"],
                    "bytes_tx": now["tx_bytes"], "bytes_rx": now["rx_bytes"],
                    **{f"{k}_rate": rates.get(c, 0.0) for k, c in
                       (("frames_tx", "tx_packets"), ("frames_rx", "rx_packets"), ("bytes_tx", "tx_bytes"),
                        ("bytes_rx", "rx_bytes"))},
                    "transmit": "started" if self.state == "started" and name in self.gens
                    and name not in self.gen_results else "stopped",
                }
            return out

    def close(self) -> None:
        self.stop()
        with self._lock:
            self._close_all()


def _recent(hist: list, now: float, counts: dict) -> list:
    """A history of (t, counts) with this sample, kept over the last two rate windows."""
    return [h for h in hist if now - h[0] <= RATE_WINDOW_S * 2] + [(now, counts)]


def _rates(hist: list) -> dict:
    """Per key, the rate over the oldest sample within the window and the newest."""
    if len(hist) < 2:
        return {}
    now = hist[-1][0]
    old = next((h for h in hist if now - h[0] <= RATE_WINDOW_S), hist[0])
    if old is hist[-1]:
        old = hist[-2]
    dt = hist[-1][0] - old[0]
    return {k: (hist[-1][1][k] - old[1][k]) / dt for k in hist[-1][1]} if dt > 0 else {}


def _flow_rates(hist: list) -> dict:
    if len(hist) < 2:
        return {}
    flat = [(t, {(name, k): v for name, d in c.items() for k, v in d.items() if k in ("frames_tx", "frames_rx")})
            for t, c in hist]
    return _rates(flat)


class Remote:
    """An agent: another host's `wirespeed otg`, sent its part of the config over OTG."""

    def __init__(self, agent: str):
        self.agent = agent
        self.url = f"http://{agent}"
        self.offset_ns = 0
        self.rtt_ns = 0

    def call(self, method: str, path: str, body: str | None = None, timeout: float = AGENT_TIMEOUT_S) -> dict:
        req = urllib.request.Request(self.url + path, data=body.encode() if body is not None else None,
                                     method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                text = r.read().decode()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            try:
                errs = json.loads(detail).get("errors") or [detail]
            except ValueError:
                errs = [detail]
            raise OtgError(f"agent {self.agent}: {'; '.join(map(str, errs))}", e.code) from None
        except (OSError, urllib.error.URLError) as e:
            reason = getattr(e, "reason", e)
            raise AgentLost(f"agent {self.agent} did not answer ({reason})") from None
        return json.loads(text) if text else {}

    def clock(self, samples: int = 5) -> None:
        """Its CLOCK_REALTIME against ours: the offset at the smallest round trip."""
        best = None
        for _ in range(samples):
            t0 = _now_ns()
            theirs = int(self.call("GET", "/wirespeed/clock")["realtime_ns"])
            t1 = _now_ns()
            if best is None or t1 - t0 < best[0]:
                best = (t1 - t0, theirs - (t0 + t1) // 2)
        self.rtt_ns, self.offset_ns = best


class Engine:
    """The OTG server's state: the config, this host's share (Local) and the agents' (Remote)."""

    def __init__(self, backend: str = "auto", rx_backend: str = "auto", batch: int = 64, note=print):
        self.settings = {"backend": backend, "rx_backend": rx_backend, "batch": batch}
        self.note = note
        self.config: dict | None = None
        self.plan: model.Plan | None = None
        self.local: Local | None = None
        self.remotes: dict[str, Remote] = {}
        self.part = False  # the config came from a controller: peer ports are not ours to reach
        self.running = False  # between a start and the end of its stop (across hosts: the controller's word)
        self.error: str | None = None
        self.run_info: dict = {}
        self.last_contact = time.monotonic()
        self._lock = threading.RLock()
        self._watch: threading.Thread | None = None
        self._stop = threading.Event()

    # -- config --------------------------------------------------------------------------------------
    def set_config(self, cfg: dict) -> list[str]:
        with self._lock:
            said = [f"the previous run: {w}" for w in self._halt()]
            try:
                plan = model.plan(cfg)
            except model.Unsupported as e:
                raise OtgError(str(e)) from None
            seen: dict[tuple, str] = {}
            for name, loc in plan.ports.items():
                key = (loc.agent, loc.netns, loc.ifname)
                if key in seen:
                    raise OtgError(f"port {name}: {loc.text} is in use by port {seen[key]}")
                seen[key] = name
            self.part = any(loc.text.startswith(model.PEER) for loc in plan.ports.values())
            mine = [n for n, loc in plan.ports.items() if loc.agent is None]
            agents = sorted({loc.agent for loc in plan.ports.values() if loc.agent and not self.part})
            local = Local(plan, mine, self.settings, self.note, auto_end=not (self.part or agents)) if mine else None
            remotes = {a: Remote(a) for a in agents}
            try:
                for a, r in remotes.items():
                    r.call("POST", "/config", json.dumps(self._part(cfg, plan, a)))
            except OtgError:
                for r in remotes.values():  # no agent keeps a part of a config that failed
                    try:
                        r.call("POST", "/config", json.dumps({}))
                    except OtgError:
                        pass
                raise
            self.config, self.plan, self.local, self.remotes = cfg, plan, local, remotes
            self.error, self.run_info = None, {}
            return said

    @staticmethod
    def _part(cfg: dict, plan: model.Plan, agent: str) -> dict:
        """Agent's part: its ports at their local locations, every other port as a peer's."""
        part = copy.deepcopy(cfg)
        for p in part.get("ports") or ():
            loc = plan.ports[p["name"]]
            p["location"] = loc.local if loc.agent == agent else (
                model.PEER + (loc.text if loc.agent else f"controller/{loc.local}"))
        return part

    # -- control ---------------------------------------------------------------------------------------
    def control(self, state: dict) -> list[str]:
        """ControlState: traffic.flow_transmit start or stop (every flow: flow_names empty or all)."""
        if state.get("choice") != "traffic" or (state.get("traffic") or {}).get("choice") != "flow_transmit":
            raise OtgError(f"control state {state.get('choice')}: wirespeed controls traffic.flow_transmit")
        ft = state["traffic"]["flow_transmit"]
        names = ft.get("flow_names") or []
        with self._lock:
            if self.plan is None:
                raise OtgError("no config: set one first (POST /config)")
            if names and set(names) != {f.name for f in self.plan.flows}:
                unknown = sorted(set(names) - {f.name for f in self.plan.flows})
                raise OtgError(f"flow_names: {'no flow ' + repr(unknown[0]) if unknown else 'a subset of the flows'}"
                               f" (wirespeed starts and stops every flow of the config together)")
            what = ft.get("state")
            if what == "start":
                return self._start(None)
            if what == "stop":
                return self._halt()
            raise OtgError(f"traffic.flow_transmit.state {what}: start or stop (pause and resume are not "
                           f"supported)")

    def _start(self, at_ns: int | None) -> list[str]:
        notes = [f"the previous run: {w}" for w in (self.local.take_warnings() if self.local else [])]
        self.error = None
        self.running = True
        if self.remotes:
            for r in self.remotes.values():
                r.clock()
            at_ns = _now_ns() + int(START_LEAD_S * 1e9)
            self.run_info = {"start_realtime_ns": at_ns, "agents": {
                a: {"clock_offset_ns": r.offset_ns, "rtt_ns": r.rtt_ns} for a, r in self.remotes.items()}}
            worst = max(abs(r.offset_ns) + r.rtt_ns // 2 for r in self.remotes.values())
            notes.append(f"start at CLOCK_REALTIME {at_ns} ns; agents' clocks against this host's: "
                         + ", ".join(f"{a} {r.offset_ns / 1e3:+.1f} µs (±{r.rtt_ns / 2e3:.1f})"
                                     for a, r in self.remotes.items())
                         + f"; hosts agree within {worst / 1e3:.1f} µs as far as this host can tell")
            threads, errors = [], []
            for r in self.remotes.values():
                body = json.dumps({"realtime_ns": at_ns + r.offset_ns})

                def go(r=r, body=body):
                    try:
                        got = r.call("POST", "/wirespeed/start", body, timeout=AGENT_TIMEOUT_S + START_LEAD_S)
                        notes.extend(f"{r.agent}: {w}" for w in got.get("warnings") or ())
                    except OtgError as e:
                        errors.append(e)
                threads.append(threading.Thread(target=go, daemon=True))
            for t in threads:
                t.start()
            if self.local is not None:
                try:
                    notes.extend(self.local.start(at_ns))
                except OtgError as e:
                    errors.append(e)
            for t in threads:
                t.join()
            if errors:
                self._halt()
                raise errors[0]
            self._stop.clear()
            self._watch = threading.Thread(target=self._watch_agents, name="otg-agents", daemon=True)
            self._watch.start()
        elif self.local is not None:
            notes.extend(self.local.start(at_ns))
            if self.part:
                self._stop.clear()
                self.last_contact = time.monotonic()
                self._watch = threading.Thread(target=self._watch_controller, name="otg-controller", daemon=True)
                self._watch.start()
        for n in notes:
            self.note(n)
        return notes

    def _halt(self) -> list[str]:
        """Stop everything this server runs (and its agents'); the warnings of the run."""
        self._stop.set()
        warnings: list[str] = []
        for a, r in self.remotes.items():
            try:
                got = r.call("POST", "/control/state", json.dumps(
                    {"choice": "traffic", "traffic": {"choice": "flow_transmit", "flow_transmit": {"state": "stop"}}}))
                warnings.extend(f"{a}: {w}" for w in got.get("warnings") or ())
            except OtgError as e:
                warnings.append(str(e))
        if self.local is not None:
            warnings.extend(self.local.stop())
        if self._watch is not None and self._watch is not threading.current_thread():
            self._watch.join()
            self._watch = None
        self.running = False
        for w in warnings:
            self.note(w)
        return warnings

    def _watch_agents(self) -> None:
        """While traffic runs, every agent answers (one that does not stops the run, named);
        once every flow's sender is done, every sink drains and the run ends."""
        while not self._stop.wait(POLL_S * 4):
            parts = [self.local.flow_metrics()] if self.local else []
            for r in self.remotes.values():
                try:
                    got = r.call("POST", "/monitor/metrics", json.dumps({"choice": "flow", "flow": {}}))
                except OtgError as e:
                    threading.Thread(target=self._halt_now, args=(e,), daemon=True).start()
                    return
                parts.append({m["name"]: m for m in got.get("flow_metrics") or ()})
            sending = any(m.get("transmit") == "started" and "frames_tx" in m for p in parts for m in p.values())
            if not sending:
                threading.Thread(target=self._halt_now, daemon=True).start()
                return

    def _halt_now(self, lost: OtgError | None = None) -> None:
        with self._lock:
            if lost is not None:
                self._lost(lost)
            elif self.running:
                self._halt()

    def _lost(self, e: OtgError) -> OtgError:
        """An agent that did not answer while traffic ran: everything is stopped (the others
        told) before the loss is said, and every later metrics call names it. Under the lock."""
        if not self.running:
            return e
        self._halt()
        self.error = f"the run stopped: {e}"
        self.note(self.error)
        return OtgError(self.error, 500)

    def _watch_controller(self) -> None:
        """An agent whose controller went quiet while sending stops by itself."""
        while not self._stop.wait(1.0):
            if self.local is None or self.local.state != "started":
                return
            if time.monotonic() - self.last_contact > CONTROLLER_SILENT_S:
                self.note(f"no word from the controller for {CONTROLLER_SILENT_S:.0f} s: traffic stopped")
                self.local.stop()
                return

    # -- metrics ----------------------------------------------------------------------------------------
    def metrics(self, req: dict) -> dict:
        with self._lock:
            if self.plan is None:
                raise OtgError("no config: set one first (POST /config)")
            error = self.error or (self.local.error if self.local else None)
            if error:  # a lost agent, a run that failed: said until the next start or config
                raise OtgError(error, 500)
            try:
                return self._metrics(req)
            except AgentLost as e:
                raise self._lost(e) from None

    def _metrics(self, req: dict) -> dict:
        """Under the lock: the metrics asked for, every agent's merged."""
        choice = req.get("choice") or "port"
        if choice == "flow":
            names = (req.get("flow") or {}).get("flow_names") or [f.name for f in self.plan.flows]
            flows = self._flows()
            for n in names:
                if n not in flows:
                    raise OtgError(f"flow_names: no flow {n!r}")
            return {"choice": "flow_metrics", "flow_metrics": [flows[n] for n in names]}
        if choice == "port":
            names = (req.get("port") or {}).get("port_names") or list(self.plan.ports)
            got = self.local.port_metrics() if self.local else {}
            for r in self.remotes.values():
                for m in r.call("POST", "/monitor/metrics", json.dumps(
                        {"choice": "port", "port": {}})).get("port_metrics") or ():
                    if not self.plan.ports[m["name"]].agent or self.plan.ports[m["name"]].agent == r.agent:
                        got[m["name"]] = {**m, "location": self.plan.ports[m["name"]].text}
            for n in names:
                if n not in self.plan.ports:
                    raise OtgError(f"port_names: no port {n!r}")
            return {"choice": "port_metrics", "port_metrics": [got[n] for n in names if n in got]}
        raise OtgError(f"metrics request {choice}: wirespeed reports port and flow metrics")

    def _flows(self) -> dict[str, dict]:
        """Every side's flow metrics merged: counts and rates added, latency and state from the
        side that has them; loss from the totals."""
        parts = [self.local.flow_metrics()] if self.local else []
        for r in self.remotes.values():
            got = r.call("POST", "/monitor/metrics", json.dumps({"choice": "flow", "flow": {}}))
            parts.append({m["name"]: m for m in got.get("flow_metrics") or ()})
        out = {}
        for f in self.plan.flows:
            m: dict = {"name": f.name, "port_tx": f.tx, "port_rx": f.rx[0] if f.rx else None}
            for part in parts:
                one = part.get(f.name) or {}
                for k, v in one.items():
                    if k in ("frames_tx", "frames_rx", "bytes_tx", "bytes_rx", "frames_tx_rate", "frames_rx_rate"):
                        m[k] = m.get(k, 0) + v
                    elif k == "latency" and v is not None:
                        m[k] = v
            if self.remotes:
                m["transmit"] = "started" if self.running else "stopped"
            else:
                m["transmit"] = (parts[0].get(f.name) or {}).get("transmit", "stopped") if parts else "stopped"
            if "frames_tx" in m and "frames_rx" in m:
                tx = m["frames_tx"]
                m["loss"] = 100.0 * max(0, tx - m["frames_rx"]) / tx if tx else 0.0
            if not f.metrics:
                m = {k: m[k] for k in ("name", "port_tx", "port_rx", "transmit", "frames_tx", "bytes_tx",
                                       "frames_tx_rate") if k in m}
            out[f.name] = {k: v for k, v in m.items() if v is not None}
        return out

    def agent_start(self, at_ns: int) -> list[str]:
        """A controller's start at its agreed instant (this host's clock)."""
        with self._lock:
            if self.local is None:
                return []
            self.last_contact = time.monotonic()
            return self._start(at_ns)

    def touch(self) -> None:
        self.last_contact = time.monotonic()

    def close(self) -> None:
        with self._lock:
            self._halt()
            if self.local is not None:
                self.local.close()

