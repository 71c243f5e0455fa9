"""The Python API: the same tools as the command line, as objects, with the command line's own
words for options (strings as on the command line, or plain numbers).

    import wirespeed
    with wirespeed.Lab("pair") as lab:                       # namespaces + veth, removed at the end
        with wirespeed.Sink(lab=lab, count=100_000) as sink:
            wirespeed.Gen(lab=lab, rate="200kpps", count=100_000).run()
            res = sink.wait(10)
        print(res.lost, res.p99_ns)

Gen, Sink and Fwd: start() returns once every worker has opened its ports (a receiver is then
listening); stats() gives the live figures since the previous call (pps, l2_mbps, l1_mbps, and
the tool's own: lost, reordered, ...); wait(timeout) returns the result once the run ends by
itself (its count or duration), or None; stop() ends it; run() is start() then wait(). As
context managers they start and stop. Results are typed (GenResult, SinkResult, FwdResult):
their fields are attributes, to_dict() is the JSON summary. Nothing is printed.

Units: rates "500kpps", "1.5mpps", "2gbit" (L1), "2gbpsl2", "250MB/s", "50%" or a number of
packets per second; sizes in bytes with the FCS (64 .. 9000) or "imix"; durations "10", "500ms",
"2m" or seconds; counts "10M", "1e6" or a number.
"""

from __future__ import annotations

import argparse
import inspect
import ipaddress
import os

from wirespeed import core, ports
from wirespeed import lab as labmod
from wirespeed.base.errors import UsageError
from wirespeed.base.netdev import link_info
from wirespeed.base.netns import Where
from wirespeed.base.units import FrameMix, Rate, parse_frame
from wirespeed import options as opt
from wirespeed.ports import Batch
from wirespeed.runner.session import Result
from wirespeed.tools.fwd import FwdConfig, FwdResult, FwdSession
from wirespeed.tools.gen import GenConfig, GenResult, GenSession, Range, check_frame
from wirespeed.tools.sink import SinkConfig, SinkResult, SinkSession

__all__ = ["Gen", "Sink", "Fwd", "Lab", "Batch", "GenResult", "SinkResult", "FwdResult", "Result", "Where",
           "SearchResult", "search", "gen_config", "sink_config", "fwd_config", "gen_config_at", "sink_config_at",
           "fwd_config_at"]


def _conv(value, parse, name: str):
    """A value as the command line would take it: strings go through its parser."""
    if value is None or not isinstance(value, str):
        return value
    try:
        return parse(value)
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"{name}: {e}") from None


def _rate(value) -> Rate | None:
    if value is None or isinstance(value, Rate):
        return value
    if isinstance(value, (int, float)):
        if value <= 0:
            raise UsageError(f"rate must be positive, got {value}")
        return Rate(pps=float(value))
    return _conv(value, opt.rate, "rate")


def _frame(value) -> FrameMix:
    if isinstance(value, FrameMix):
        return value
    return parse_frame(str(value))


class Place:
    """Where a tool runs: the interfaces named (in a namespace), or a lab's node; with `make`
    the lab is made for the run if it is not up, and close() removes what was made. The one
    resolver of the command line (--lab) and the API (lab=)."""

    def __init__(self, ifnames: list[str], netns: str | None, lab_name: str, node: str, topology: str,
                 make: bool = False, what: str = "a tool in the lab"):
        self.topo, self.created = None, False
        if ifnames:
            if make:
                raise UsageError(f"give {'IN OUT' if len(ifnames) > 1 else 'an interface'} or --lab, not both")
            self.wheres = [Where(n, netns) for n in ifnames]
            for w in self.wheres:
                link_info(w)  # an unknown interface or namespace is named before anything else
            return
        if netns:
            raise UsageError("--netns names the namespace of an interface you give; without one the lab is used")
        labmod.require_root(what)
        self.topo, self.created = labmod.resolve(labmod.check_name(lab_name), make, topology=topology)
        self.wheres = [Where(e.ifname, self.topo.netns(node)) for e in self.topo.endpoints(node)]

    def close(self) -> None:
        if self.created:
            labmod.down(self.topo.name)
            self.created = False


def _place(ifnames: list[str], netns: str | None, lab, node: str, topology: str) -> Place:
    """The API's place: lab is a Lab, a lab's name, or None (the lab named 'lab')."""
    if ifnames and lab is not None:
        raise UsageError("give an interface or a lab, not both")
    return Place(ifnames, netns, lab.topology.name if isinstance(lab, labmod.Lab) else (lab or "lab"), node, topology)


def _name(option: str) -> str:
    """How a message names an option: as the command line spells it (the API takes the same
    words, with underscores)."""
    return "--" + option.replace("_", "-")


def _cpus(value) -> list[int] | None:
    cpus = _conv(value, opt.cpu_list, "cpu")
    return [cpus] if isinstance(cpus, int) else cpus


def gen_config(iface: str | None = None, *, netns: str | None = None, lab=None, **options) -> GenConfig:
    """A GenConfig from the command line's words (see wirespeed gen --help): on an interface
    (in a namespace), or on a lab's gen node."""
    place = _place([iface] if iface else [], netns, lab, "gen", "pair")
    return gen_config_at(place.wheres[0], place.topo, **options)


def gen_config_at(where: Where, topo, *, backend: str = "afpacket", rate=None, size="64", count=None,
                  duration=None, batch: int = 64, workers: int = 1, cpu=None, ipv6: bool = False, src_mac=None,
                  dst_mac=None, src_ip=None, dst_ip=None, sport="9", dport="9", vary: str = "inc", flows: int = 0,
                  seed: int = 1, ttl: int = 64, tos: int = 0, df: bool = True, ip_id: int | None = None,
                  stamp: bool = True, payload=None, link=None, max_burst: int = core.PACE_MAX_BURST, pace: str = "user",
                  interval=1.0, exit_after_setup: bool = False, pcap: str | None = None, timing: str = "rate",
                  speed=1.0, loop: int = 1, **backend_options) -> GenConfig:
    """The generator's config at `where` (topo: the lab it is in, or None): the one place the
    command line and the API both build it. pcap: replay that capture instead of a template
    (timing "rate" or "original", speed, loop; MACs and addresses given are written into every
    frame, and in the lab the MACs are the lab's). backend_options: the registry's options for
    gen (ports.OPTIONS: qdisc_bypass, linear, gso, copy, xdp_mode, prepare_peer, ...), each
    refused in one line on a backend it does not apply to."""
    options = ports.backend_options(backend, "gen", backend_options)
    if topo is not None:
        options["prepare_peer"] = True  # the lab's peers are ours to prepare
    if pcap is not None:
        return _replay_config(where, topo, pcap, timing, speed, loop, src_mac, dst_mac, src_ip, dst_ip,
                              backend=backend, batch=batch, count=_conv(count, opt.count, "count"),
                              duration=_conv(duration, opt.duration, "duration"), rate=_rate(rate),
                              link_bps=_conv(link, opt.link_bps, "link"), cpus=_cpus(cpu),
                              interval=_conv(interval, opt.interval, "interval"), options=options,
                              exit_after_setup=exit_after_setup, workers=workers, max_burst=max_burst)
    payload = _conv(payload, opt.hex_bytes, "payload") or b""
    mix = _frame(size)
    stamp = stamp and not payload
    if ipv6 and (ip_id is not None or not df):
        raise UsageError(f"{_name('ip_id')} and {_name('no_df')} are IPv4 header fields; "
                         "an IPv6 template has neither")
    check_frame(mix, ipv6, stamp, payload)
    if topo is not None:
        end = topo.endpoints("gen")[0]
        peer = topo.peer(end)
        defaults = (end.address6, peer.address6) if ipv6 else (end.address, peer.address)
        lab_src, lab_dst = opt.mac(end.mac), opt.mac(peer.mac)
    else:
        defaults = ("2001:2::1", "2001:2::2") if ipv6 else ("198.18.0.1", "198.18.0.2")
        lab_src = None
        if not ports.backend(backend).payload_only and not dst_mac:  # it writes the Ethernet header itself
            raise UsageError(f"{_name('dst_mac')} is needed to send on {where}")
        lab_dst = bytes(6)
    s_ip, s_ips = _conv(src_ip or defaults[0], opt.ip_range, "src_ip")
    d_ip, d_ips = _conv(dst_ip or defaults[1], opt.ip_range, "dst_ip")
    for ip in (s_ip, d_ip):
        if (ip.version == 6) != ipv6:
            raise UsageError(f"address {ip} is IPv{ip.version}, the template is IPv{6 if ipv6 else 4}"
                             + " (-6/--ipv6 picks IPv6)")
    smac = _conv(src_mac, opt.mac, "src_mac") or lab_src or opt.mac(link_info(where)["mac"])
    dmac = _conv(dst_mac, opt.mac, "dst_mac") or lab_dst
    ports_of = lambda v, n: _conv(str(v) if isinstance(v, int) else v, opt.port_range, n)  # noqa: E731
    return GenConfig(
        where=where, src_mac=smac, dst_mac=dmac, src_ip=s_ip, dst_ip=d_ip, src_ips=s_ips, dst_ips=d_ips,
        sports=ports_of(sport, "sport"), dports=ports_of(dport, "dport"), vary=vary, frame=mix, flows=flows,
        seed=seed, stamp=stamp, backend=backend, batch=batch, count=_conv(count, opt.count, "count"),
        duration=_conv(duration, opt.duration, "duration"), rate=_rate(rate),
        link_bps=_conv(link, opt.link_bps, "link"), workers=workers, cpus=_cpus(cpu),
        interval=_conv(interval, opt.interval, "interval"), options=options, ttl=ttl, tos=tos, df=df,
        ip_id=ip_id or 0, payload=payload,
        exit_after_setup=exit_after_setup, max_burst=max_burst, pace_mode=pace)


def _replay_config(where: Where, topo, pcap: str, timing: str, speed, loop: int, src_mac, dst_mac, src_ip, dst_ip,
                   **common) -> GenConfig:
    from wirespeed.tools import replay

    replay.file_ok(pcap)
    if timing not in ("rate", "original"):
        raise UsageError(f"{_name('timing')} must be rate or original, got {timing!r}")
    rewrite = {}
    if topo is not None:  # the lab's wire: frames must carry its MACs to be taken in
        end = topo.endpoints("gen")[0]
        rewrite.update(src_mac=opt.mac(end.mac), dst_mac=opt.mac(topo.peer(end).mac))
    for key, value, parse in (("src_mac", src_mac, opt.mac), ("dst_mac", dst_mac, opt.mac)):
        if value is not None:
            rewrite[key] = _conv(value, parse, key)
    for key, value in (("src_ip", src_ip), ("dst_ip", dst_ip)):
        if value is not None:
            ip = value[0] if isinstance(value, tuple) else value  # the command line parsed it as a range
            if isinstance(value, tuple) and value[1].count > 1:
                raise UsageError(f"{_name(key)} with --pcap is one address, not a range")
            rewrite[key] = replay.address(ip, _name(key))
    any_ip = ipaddress.ip_address("198.18.0.1")
    return GenConfig(where=where, src_mac=bytes(6), dst_mac=bytes(6), src_ip=any_ip, dst_ip=any_ip,
                     src_ips=Range(0), dst_ips=Range(0), pcap=pcap, timing=timing,
                     speed=replay.parse_speed(speed), loops=loop, rewrite=rewrite, stamp=False, **common)


def sink_config(iface: str | None = None, *, netns: str | None = None, lab=None, **options) -> SinkConfig:
    """A SinkConfig from the command line's words (see wirespeed sink --help)."""
    place = _place([iface] if iface else [], netns, lab, "sink", "pair")
    return sink_config_at(place.wheres[0], place.topo, **options)


def sink_config_at(where: Where, topo, *, backend: str = "afpacket", count=None, duration=None, batch: int = 256,
                   workers: int = 1, cpu=None, port: int = 9, interval=1.0,
                   exit_after_setup: bool = False, hist: str | None = None, write: str | None = None,
                   snaplen: int = 65535, write_count=None, count_only: bool = False, spin: bool = False,
                   **backend_options) -> SinkConfig:
    """The sink's config at `where`; hist: the latency histogram's file (.hgrm); write: a pcap
    file for every frame received (snaplen bytes of each, at most write_count frames)."""
    options = ports.backend_options(backend, "sink", backend_options)
    options["bind"] = options["bind"] or (topo.endpoints("sink")[0].address if topo else "0.0.0.0")
    if hist is not None and ports.backend(backend).in_kernel:
        raise UsageError(f"--backend {backend} counts in the kernel: it has no latency histogram to write")
    for path, what in ((hist, "the histogram"), (write, "the capture")):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
            raise UsageError(f"cannot write {what} to {path}: {folder} is not a writable directory")
    return SinkConfig(where=where, backend=backend, port=port, options=options,
                      count=_conv(count, opt.count, "count"), duration=_conv(duration, opt.duration, "duration"),
                      interval=_conv(interval, opt.interval, "interval"), workers=workers, cpus=_cpus(cpu),
                      batch=batch, exit_after_setup=exit_after_setup,
                      hist_file=hist, write_file=write, snaplen=snaplen,
                      write_count=_conv(write_count, opt.count, "write_count"), count_only=count_only, spin=spin)


def fwd_config(inp: str | None = None, out: str | None = None, *, netns: str | None = None, lab=None,
               **options) -> FwdConfig:
    """A FwdConfig from the command line's words; hook: a spec ("mac-swap", "module:function")
    or a callable taking a HookBatch."""
    if bool(inp) != bool(out):
        raise UsageError("fwd takes both IN and OUT, or neither (the lab's fwd node)")
    place = _place([inp, out] if inp else [], netns, lab, "fwd", "chain")
    return fwd_config_at(place.wheres[0], place.wheres[1], **options)


def fwd_config_at(inp: Where, out: Where, *, backend: str = "afpacket", batch: int = 64, hook=None,
                  qdisc: str = "pfifo", limit: int = 1024, bulk: bool = True, bypass: bool = True,
                  byte_budget: int = 65536, pool: int = 8192, buffers: str = "pool", count=None, duration=None,
                  idle_stop=None, cpu: int | None = None, interval=1.0, exit_after_setup: bool = False,
                  hook_name: str | None = None, workers: int = 1, **backend_options) -> FwdConfig:
    from wirespeed.tools import hooks

    fn = hooks.load(hook) if isinstance(hook, str) else hook
    name = hook_name or (hook if isinstance(hook, str) else getattr(hook, "__name__", "hook") if hook else "none")
    return FwdConfig(inp=inp, out=out, backend=backend, batch=batch, hook=fn, hook_name=name,
                     qdisc=qdisc, limit=limit, bulk=bulk, bypass=bypass, byte_budget=byte_budget, pool_bufs=pool,
                     buffers=buffers, count=_conv(count, opt.count, "count"),
                     duration=_conv(duration, opt.duration, "duration"),
                     idle_stop=_conv(idle_stop, opt.duration, "idle_stop"),
                     interval=_conv(interval, opt.interval, "interval"), cpu=cpu,
                     options=ports.backend_options(backend, "fwd", backend_options),
                     exit_after_setup=exit_after_setup, workers=workers)


class _Tool:
    """start(), stats(), wait(timeout), stop(), run(); a context manager."""

    session_type = None

    def __init__(self, cfg, note=None):
        self.cfg = cfg
        self.notes: list[str] = []
        self._s = self.session_type(cfg, note or self.notes.append)

    def start(self):
        self._s.start()
        return self

    def stats(self) -> dict:
        return self._s.stats()

    def wait(self, timeout: float | None = None) -> Result | None:
        return self._s.wait(timeout)

    def stop(self) -> Result:
        return self._s.stop()

    def run(self) -> Result:
        """Start and wait for the end (a count or a duration must be given)."""
        if getattr(self.cfg, "count", None) is None and getattr(self.cfg, "duration", None) is None:
            raise UsageError("run() needs a count or a duration; or start() and stop()")
        self.start()
        return self.wait()

    @property
    def result(self) -> Result | None:
        return self._s.result

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self._s.__exit__(*exc)


class Gen(_Tool):
    """The traffic generator: Gen(iface=None, netns=None, lab=None, rate=..., size=64, count=...,
    duration=..., backend="afpacket", ...): the options of `wirespeed gen`, by their long names."""

    session_type = GenSession

    def __init__(self, iface: str | None = None, **options):
        super().__init__(gen_config(iface, **options))


class Sink(_Tool):
    """The receiver: Sink(iface=None, netns=None, lab=None, backend="afpacket", count=...,
    duration=..., ...): the options of `wirespeed sink`."""

    session_type = SinkSession

    def __init__(self, iface: str | None = None, **options):
        super().__init__(sink_config(iface, **options))


class Fwd(_Tool):
    """The forwarder: Fwd(inp=None, out=None, netns=None, lab=None, hook=..., backend="afpacket",
    ...): the options of `wirespeed fwd`; hook may be a callable."""

    session_type = FwdSession

    def __init__(self, inp: str | None = None, out: str | None = None, **options):
        super().__init__(fwd_config(inp, out, **options))


class Lab(labmod.Lab):
    """Lab("pair" | "chain", name="api"): network namespaces joined by veth pairs, made on enter
    and removed on exit (keep=True leaves them)."""

    def __init__(self, topology: str = "pair", name: str = "api", keep: bool = False):
        if topology not in labmod.TOPOLOGIES:
            raise UsageError(f"topology must be one of {', '.join(labmod.TOPOLOGIES)}, got {topology!r}")
        super().__init__(labmod.TOPOLOGIES[topology](name), keep=keep)


class SearchResult(Result):
    """search's results: frames (one per frame size: back_to_back_pps, max_load_pps, goals -- each
    with lower_bound, upper_bound, conditional_throughput in pps and Mbit/s, regular,
    irregular_because --, latency rows, trial_records), trials, seconds, deviations_from_rfc2544.
    goal(name, frame=None) picks one goal's result."""

    def goal(self, name: str, frame: str | None = None) -> dict:
        for f in self._d["frames"]:
            if frame is None or f["frame"] == frame:
                for g in f["goals"]:
                    if g["goal"] == name:
                        return g
        raise KeyError(f"no goal {name!r}" + (f" for frame {frame}" if frame else ""))


def search(lab=None, *, dut: str = "none", lab_name: str = "lab", tx: str | None = None, tx_netns: str | None = None,
           rx: str | None = None, rx_netns: str | None = None, src_mac=None, dst_mac=None, src_ip=None, dst_ip=None,
           fwd_backend: str = "afpacket", hook=None, preset: str = "quick", goal=None, final_trial_duration=None,
           duration_sum=None, width: float | None = None, min_load=None, max_load=None, link=None, trial_wait=0.5,
           size="64", backend: str = "afpacket", rx_backend: str = "auto", batch: int = 64, max_burst: int = core.PACE_MAX_BURST,
           cpu=None, prepare_peer: bool = False, place: bool = True, latency: bool = True, reporter=None, record_options: dict | None = None) -> SearchResult:
    """Zero-loss and partial-loss throughput of a path by RFC 9971 (wirespeed search; blocking).
    In a lab (lab: a Lab, a lab's name, or True to make one for the search and remove it after)
    with dut "none", "kernel" or "fwd"; or between your own interfaces tx and rx (dut "path",
    dst_mac needed). goal: ["NDR:0", "PDR:0.005:0.5"] instead of the preset's. Loads are rates
    as the command line writes them ("500kpps"); durations in seconds or with units. Prints
    nothing unless a reporter is given."""
    import ipaddress

    from rich.console import Console

    from wirespeed.runner.record import record
    from wirespeed.tools import hooks
    from wirespeed.tools import search as searchmod

    args = locals()
    given = {k: (args[k].topology.name if isinstance(args[k], labmod.Lab) else args[k])
             for k in inspect.signature(search).parameters
             if k not in ("latency", "reporter", "record_options") and args[k] is not None}  # as written, for the record
    goals = tuple(searchmod.parse_goal(g) for g in ([goal] if isinstance(goal, str) else goal or ()))
    frames = [_frame(x) for x in str(size).split(",")]
    for f in frames:
        check_frame(f, False, True)
    fn = hooks.load(hook) if isinstance(hook, str) else hook
    if dut not in ("none", "kernel", "fwd", "path"):
        raise UsageError(f"{_name('dut')} must be none, kernel, fwd or path, got {dut!r}")
    named = tx or rx
    if named and not (tx and rx):
        raise UsageError(f"give both {_name('tx')} and {_name('rx')} (the two ends of your path), "
                         "or neither (the lab)")
    if named and lab:
        raise UsageError(f"give {_name('tx')}/{_name('rx')} or {_name('lab')}, not both")
    dut = "path" if named else dut
    if dut == "path" and not named:
        raise UsageError(f"{_name('dut')} path is your own path between {_name('tx')} and "
                         f"{_name('rx')}: name them")
    if named and not dst_mac:
        raise UsageError(f"{_name('dst_mac')} is needed to send on your own path (the MAC of the DUT's ingress)")
    link_bps = _conv(link, opt.link_bps, "link")
    final_trial_duration = _conv(final_trial_duration, opt.duration, "final_trial_duration")
    duration_sum = _conv(duration_sum, opt.duration, "duration_sum")
    trial_wait = _conv(trial_wait, opt.duration, "trial_wait")
    min_rate, max_rate = _conv(min_load, opt.rate, "min_load"), _conv(max_load, opt.rate, "max_load")
    cpu = _conv(cpu, opt.cpu, "cpu")
    topo, created, placement = None, False, None
    try:
        if named:
            txw, rxw = Where(tx, tx_netns), Where(rx, rx_netns)
            link_info(txw), link_info(rxw)
            hops = [("tx " + tx, txw), ("rx " + rx, rxw)]
            smac = _conv(src_mac, opt.mac, "src_mac") or opt.mac(link_info(txw)["mac"])
            dmac, s_ip, d_ip = _conv(dst_mac, opt.mac, "dst_mac"), src_ip or "198.18.0.1", dst_ip or "198.18.1.2"
        else:
            labmod.require_root("wirespeed search in the lab")
            if isinstance(lab, labmod.Lab):
                name, make = lab.topology.name, False
            else:
                name, make = (lab if isinstance(lab, str) else lab_name), lab is True
            topo, created = labmod.resolve(labmod.check_name(name), make,
                                           topology="pair" if dut == "none" else "chain")
            g_end, s_end = topo.endpoints("gen")[0], topo.endpoints("sink")[0]
            txw, rxw = Where(g_end.ifname, topo.netns("gen")), Where(s_end.ifname, topo.netns("sink"))
            hops = [(f"{e.node}:{e.ifname}", Where(e.ifname, topo.netns(e.node)))
                    for w in topo.wires for e in (w.a, w.b)]
            smac, dmac = opt.mac(g_end.mac), opt.mac(topo.peer(g_end).mac)
            s_ip, d_ip = g_end.address, s_end.address
            if dut == "kernel":
                labmod.route(topo)
        placement = None
        if dut in ("kernel", "fwd") and place:  # the DUT on CPUs of its own, the tester on another
            placement = labmod.place_dut(topo, cpu if cpu is not None else sorted(os.sched_getaffinity(0))[0])
        tester_cpus = placement.tester_cpus if placement else ([cpu] if cpu is not None else None)
        fcfg = None
        if dut == "fwd":
            ends = topo.endpoints("fwd")
            fcfg = FwdConfig(inp=Where(ends[0].ifname, topo.netns("fwd")), out=Where(ends[1].ifname, topo.netns("fwd")),
                             backend=fwd_backend, hook=fn, hook_name=hook if isinstance(hook, str) else
                             getattr(fn, "__name__", "hook") if fn else "none",
                             cpu=placement.dut_cpus[0] if placement and placement.dut_cpus else None)
        sa, da = ipaddress.ip_address(s_ip), ipaddress.ip_address(d_ip)
        gcfg = GenConfig(where=txw, src_mac=smac, dst_mac=dmac, src_ip=sa, dst_ip=da,
                         src_ips=Range(int(sa) & 0xFFFFFFFF), dst_ips=Range(int(da) & 0xFFFFFFFF),
                         backend=backend, batch=batch, link_bps=link_bps, max_burst=max_burst,
                         options={"prepare_peer": prepare_peer or topo is not None}, cpus=tester_cpus)
        mean_wire = float(frames[0].mean_wire)
        cfg = searchmod.SearchConfig(
            tx=txw, rx=rxw, gen=gcfg, dut=dut, preset=preset, goals=goals,
            final_trial_duration=final_trial_duration, duration_sum=duration_sum, relative_width=width,
            min_load=min_rate.packets_per_second(mean_wire, link_bps) if min_rate else None,
            max_load=max_rate.packets_per_second(mean_wire, link_bps) if max_rate else None,
            trial_wait=trial_wait, rx_backend=rx_backend, latency=latency, fwd=fcfg, hops=hops, rx_cpus=tester_cpus)
        rep = reporter or searchmod.SearchReporter("search", False, Console(quiet=True))
        rec = record(record_options if record_options is not None else {"command": "search", **given}, [txw, rxw])
        rec["placement"] = placement.record() if placement else None
        if placement and placement.shared:
            rep.note("one CPU: the DUT's receive processing shares it with the tester (the search measures both)")
        rep.event("start", dut=dut, tx=str(txw), rx=str(rxw), preset=preset, frames=[f.name for f in frames],
                  backend=backend, rx_backend=rx_backend, record=rec)
        rep.header(rec)
        out = searchmod.run(cfg, rep, frames)
        rep.results(out)
        return SearchResult({**out, "record": rec})
    finally:
        if placement is not None:
            placement.close()
        if created:
            labmod.down(topo.name)
