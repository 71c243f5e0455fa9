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

import dataclasses
import ipaddress
import os

from wirespeed import ports
from wirespeed import lab as labmod
from wirespeed.base.errors import UsageError
from wirespeed.base.netdev import link_info
from wirespeed.base.netns import Where
from wirespeed.base import values as V
from wirespeed.ports import Batch
from wirespeed.runner.session import Result
from wirespeed.tools.fwd import OPTIONS as FWD_OPTIONS, FwdConfig, FwdResult, FwdSession
from wirespeed.tools.gen import (MAX_FRAME, OPTIONS as GEN_OPTIONS, GenConfig, GenResult, GenSession, Range,
                                  check_frame, check_pace)
from wirespeed.tools.sink import OPTIONS as SINK_OPTIONS, SinkConfig, SinkResult, SinkSession

__all__ = ["Gen", "Sink", "Fwd", "Lab", "Batch", "GenResult", "SinkResult", "FwdResult", "Result", "Where",
           "SearchResult", "search", "gen_config", "sink_config", "fwd_config", "gen_config_at", "sink_config_at",
           "fwd_config_at"]


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


def gen_config(iface: str | None = None, *, netns: str | None = None, lab=None, **options) -> GenConfig:
    """A GenConfig from the command line's words (see wirespeed gen --help): on an interface
    (in a namespace), or on a lab's gen node."""
    place = _place([iface] if iface else [], netns, lab, "gen", "pair")
    return gen_config_at(place.wheres[0], place.topo, **options)


def _split(tool: str, given: dict) -> tuple[dict, dict]:
    """The keywords of a tool's own table and those of the registry's backend options."""
    mine = {o.name for o in ports.options_of(tool)}
    return ({k: v for k, v in given.items() if k not in mine}, {k: v for k, v in given.items() if k in mine})


def check_gen(**given) -> dict:
    """gen's options resolved (tools.gen.OPTIONS) and checked as far as they can be before an
    interface is looked at: what the command line does before it sets anything up."""
    own, backend_given = _split("gen", given)
    o = GEN_OPTIONS.resolve(own)
    ports.backend_options(o["backend"], "gen", backend_given)
    check_pace(o["backend"], o["pace"], o["rate"])
    _check_layers(o, o["backend"], [])
    if (o["field"] or o["fix_checksums"]) and o["template"] is None and o["scapy"] is None:
        raise UsageError(f"{_name('field' if o['field'] else 'fix_checksums')} works on a frame given whole: "
                         f"--template or --scapy")
    if o["pcap"] is not None and (o["vlan"] or o["mpls"] or any(o[k] is not None for k in ("vxlan", "geneve", "gre"))):
        raise UsageError(f"{_name('pcap')} sends the capture's frames as they are: no layers or tunnels")
    if o["pcap"] is not None:
        from wirespeed.tools import replay

        replay.file_ok(o["pcap"])
        return o
    if o["template"] is not None or o["scapy"] is not None:
        _check_raw(o)
        return o
    payload = o["payload"] or b""
    if o["ipv6"] and (o["ip_id"] is not None or not o["df"]):
        raise UsageError(f"{_name('ip_id')} and {_name('no_df')} are IPv4 header fields; "
                         "an IPv6 template has neither")
    tunnels = [_name(k) for k in ("vxlan", "geneve", "gre") if o[k] is not None]
    if len(tunnels) > 1:
        raise UsageError(f"{' and '.join(tunnels)}: one tunnel at a time")
    outer = [_name(k) for k in ("outer_src_mac", "outer_dst_mac", "outer_src_ip", "outer_dst_ip", "outer_sport")
             if o[k] is not None] + ([_name("outer_ipv6")] if o["outer_ipv6"] else [])
    if outer and not tunnels:
        raise UsageError(f"{outer[0]} is a tunnel's outer header: give --vxlan, --geneve or --gre too")
    layered = [_name(k) for k in ("vlan", "mpls") if o[k]] + tunnels + ([f"--proto {o['proto']}"] if o["proto"] != "udp"
                                                                         else [])
    _check_layers(o, o["backend"], layered)
    check_frame(o["size"], o["ipv6"], o["stamp"] and not payload, payload, o["vlan"] or (), o["mpls"] or (),
                _tunnel(o, bytes(6), bytes(6), ipaddress.IPv4Address(0), ipaddress.IPv4Address(0)), o["proto"])
    if o["tcp_flags"] != GEN_OPTIONS["tcp_flags"].default_value and o["proto"] != "tcp":
        raise UsageError(f"{_name('tcp_flags')} is for --proto tcp")
    return o


def _check_layers(o: dict, backend: str, layered: list[str]) -> None:
    """--pcp needs a tag; a backend that sends UDP payloads takes no layer (gen and search)."""
    if o["pcp"] and not o["vlan"]:
        raise UsageError(f"{_name('pcp')} is the priority of a VLAN tag: give {_name('vlan')} too")
    if layered and ports.backend(backend).payload_only:
        raise UsageError(f"{' and '.join(layered)}: --backend {backend} sends UDP payloads and the kernel "
                         f"writes every header; use afpacket, xdp or kernel")


def _tunnel(o: dict, src_mac: bytes, dst_mac: bytes, src_ip, dst_ip):
    """The tunnel gen's options ask for (the --outer-* given, else these), or None."""
    from wirespeed.base.packet import Tunnel

    for kind in ("vxlan", "geneve", "gre"):
        if o[kind] is not None:
            key = -1 if o[kind] == "nokey" else o[kind]
            (s_ip, srcs), (d_ip, dsts) = (o[k] or (ip, None) for k, ip in (("outer_src_ip", src_ip),
                                                                          ("outer_dst_ip", dst_ip)))
            if s_ip.version != d_ip.version:
                raise UsageError(f"--outer-src-ip {s_ip} and --outer-dst-ip {d_ip}: one IP version for both")
            sports = o["outer_sport"]
            if sports is not None and kind == "gre":
                raise UsageError("--outer-sport: GRE has no UDP header; it is for --vxlan and --geneve")
            extra = {"sport": sports.lo, "sports": sports.count} if sports is not None else {}
            extra.update(srcs=srcs.count if srcs else 1, dsts=dsts.count if dsts else 1)
            return Tunnel(kind, key, o["outer_src_mac"] or src_mac, o["outer_dst_mac"] or dst_mac, s_ip, d_ip, **extra)
    return None


def gen_config_at(where: Where, topo, **given) -> GenConfig:
    """The generator's config at `where` (topo: the lab it is in, or None): the one place the
    command line and the API both build it. Keywords: gen's options (tools.gen.OPTIONS, the
    command line's long names) and the registry's backend options for gen (ports.OPTIONS), each
    refused in one line on a backend it does not apply to. pcap: replay that capture instead of a
    template (timing "rate" or "original", speed, loop; MACs and addresses given are written into
    every frame, and in the lab the MACs are the lab's)."""
    if given.get("streams"):
        return _streams_config(where, topo, given)
    o = check_gen(**given)
    own, backend_given = _split("gen", given)
    backend = o["backend"]
    options = ports.backend_options(backend, "gen", backend_given)
    if topo is not None:
        options["prepare_peer"] = True  # the lab's peers are ours to prepare
    common = dict(backend=backend, batch=o["batch"], count=o["count"], duration=o["duration"], rate=o["rate"],
                  link_bps=o["link"], cpus=o["cpu"], interval=o["interval"], options=options,
                  exit_after_setup=o["exit_after_setup"], workers=o["workers"], max_burst=o["max_burst"],
                  profile=o["profile"], folded=o["folded"],
                  timestamps="kernel" if o["tx_stamps"] else o["timestamps"], tx_stamps=o["tx_stamps"])
    if o["pcap"] is not None:
        return _replay_config(where, topo, o, **common)
    if o["template"] is not None or o["scapy"] is not None:
        return _raw_config(where, topo, o, **common)
    payload = o["payload"] or b""
    ipv6, mix = o["ipv6"], o["size"]
    stamp = o["stamp"] and not payload
    if topo is not None:
        end = topo.endpoints("gen")[0]
        peer = topo.peer(end)
        defaults = (end.address6, peer.address6) if ipv6 else (end.address, peer.address)
        lab_src, lab_dst = V.mac(end.mac), V.mac(peer.mac)
    else:
        defaults = ("2001:2::1", "2001:2::2") if ipv6 else ("198.18.0.1", "198.18.0.2")
        lab_src = None
        if not ports.backend(backend).payload_only and not o["dst_mac"]:  # it writes the Ethernet header itself
            raise UsageError(f"{_name('dst_mac')} is needed to send on {where}")
        lab_dst = bytes(6)
    s_ip, s_ips = o["src_ip"] or GEN_OPTIONS["src_ip"].value(defaults[0])
    d_ip, d_ips = o["dst_ip"] or GEN_OPTIONS["dst_ip"].value(defaults[1])
    for ip in (s_ip, d_ip):
        if (ip.version == 6) != ipv6:
            raise UsageError(f"address {ip} is IPv{ip.version}, the template is IPv{6 if ipv6 else 4}"
                             + " (-6/--ipv6 picks IPv6)")
    smac = o["src_mac"] or lab_src or V.mac(link_info(where)["mac"])
    dmac = o["dst_mac"] or lab_dst
    tunnel = None
    if any(o[k] is not None for k in ("vxlan", "geneve", "gre")):
        if topo is not None:
            six = o["outer_ipv6"]
            outer = (V.mac(end.mac), V.mac(peer.mac), ipaddress.ip_address(end.address6 if six else end.address),
                     ipaddress.ip_address(peer.address6 if six else peer.address))
        else:
            if not (o["outer_dst_mac"] and o["outer_src_ip"] and o["outer_dst_ip"]):
                raise UsageError(f"a tunnel on {where} needs --outer-dst-mac, --outer-src-ip and --outer-dst-ip")
            outer = (V.mac(link_info(where)["mac"]), None, None, None)
        tunnel = _tunnel(o, *outer)
    return GenConfig(
        where=where, src_mac=smac, dst_mac=dmac, src_ip=s_ip, dst_ip=d_ip, src_ips=s_ips, dst_ips=d_ips,
        sports=o["sport"], dports=o["dport"], vary=o["vary"], frame=mix, flows=o["flows"], seed=o["seed"],
        stamp=stamp, ttl=o["ttl"], tos=o["tos"], df=o["df"], ip_id=o["ip_id"] or 0, payload=payload,
        vlans=o["vlan"] or (), pcp=o["pcp"], mpls=o["mpls"] or (), tunnel=tunnel, proto=o["proto"],
        tcp_flags=o["tcp_flags"], pace_mode=o["pace"], **common)


RAW_ALONE = ("vlan", "mpls", "vxlan", "geneve", "gre", "payload", "src_mac", "dst_mac", "src_ip", "dst_ip", "sport",
             "dport")


def _check_raw(o: dict) -> None:
    """--template / --scapy and what goes with them, before anything is set up."""
    if o["template"] is not None and o["scapy"] is not None:
        raise UsageError("--template or --scapy: one frame")
    given = [_name(k) for k in RAW_ALONE if o[k] not in (None, GEN_OPTIONS[k].default_value)]
    if given or o["proto"] != "udp":
        raise UsageError(f"{(given or ['--proto'])[0]}: --template and --scapy send their frame as it is (vary it with "
                         f"--field)")
    raw = o["template"] if o["template"] is not None else o["scapy"]
    if not 60 <= len(raw) <= MAX_FRAME - 4:
        raise UsageError(f"the frame is {len(raw)} bytes: 60..{MAX_FRAME - 4} (FCS not included)")
    fields = tuple(o["field"] or ())
    if len(fields) > 8:
        raise UsageError(f"--field: at most 8, got {len(fields)}")
    for off, width, *_ in fields:
        if off + width > len(raw):
            raise UsageError(f"--field at {off} ({width} bytes) is beyond the {len(raw)}-byte frame")
    b = ports.backend(o["backend"])
    if b.payload_only:
        raise UsageError(f"--template, --scapy: --backend {o['backend']} does not send a frame as it is; use "
                         f"afpacket, xdp or kernel")


def _raw_config(where: Where, topo, o: dict, **common) -> GenConfig:
    """--template / --scapy: the frame as given, its bytes varied by --field only."""
    from wirespeed.base.units import frame as frame_of

    raw = o["template"] if o["template"] is not None else o["scapy"]
    ip = ipaddress.IPv4Address("198.18.0.1")
    return GenConfig(where=where, src_mac=raw[6:12], dst_mac=raw[0:6], src_ip=ip, dst_ip=ip, src_ips=Range(int(ip)),
                     dst_ips=Range(int(ip)), frame=frame_of(len(raw) + 4), stamp=False, raw=raw,
                     raw_fields=tuple(o["field"] or ()), raw_fix=o["fix_checksums"], **common)


def Stream(**options) -> dict:
    """One stream of a run (wirespeed.Gen(..., streams=[Stream(...), ...])): gen's template,
    tunnel, rate and count options, or share (a fraction of the run's rate)."""
    return dict(options)


def _streams_config(where: Where, topo, given: dict) -> GenConfig:
    """--streams: the run's config (its own options the base of every stream) with one config per
    stream, each from the run's options overlaid with the stream's; one worker interleaves them
    (-w 1), or worker i sends stream i (-w N for N streams)."""
    from wirespeed.tools.gen import MAX_STREAMS, STREAM_GROUPS

    o = check_gen(**{**given, "streams": None})
    streams = GEN_OPTIONS["streams"].value(given["streams"])
    allowed = {opt.name for opt in GEN_OPTIONS if opt.group in STREAM_GROUPS} - {"streams", "pcap"}
    allowed |= {"count", "share"}
    b = ports.backend(o["backend"])
    if b.in_kernel and o["workers"] != len(streams):
        raise UsageError(f"--streams: --backend {o['backend']} runs one program per worker, one stream each: give "
                         f"-w {len(streams)} for its {len(streams)} streams (or use afpacket, xdp or udp to interleave "
                         f"them in one)")
    if not 1 <= len(streams) <= MAX_STREAMS:
        raise UsageError(f"--streams: 1 to {MAX_STREAMS} streams (the stamp names a stream in 4 bits), got "
                         f"{len(streams)}")
    if o["workers"] not in (1, len(streams)):
        raise UsageError(f"--streams interleaves its {len(streams)} streams in one worker, or runs one worker per "
                         f"stream (-w {len(streams)}): got -w {o['workers']}")
    base = {k: v for k, v in given.items() if k not in ("streams", "count", "workers")}  # -c, -w: the run's
    run_pps = None
    if o["rate"] is not None:
        run_pps = o["rate"].packets_per_second(float(o["size"].mean_wire), o["link"])
    subs, shares = [], 0.0
    for i, st in enumerate(streams, 1):
        if not isinstance(st, dict):
            raise UsageError(f"--streams: stream {i} is not a table of options")
        unknown = sorted(set(st) - allowed)
        if unknown:
            raise UsageError(f"--streams: stream {i} has no option {unknown[0]!r} (a stream takes gen's template, "
                             f"tunnel, rate and count options, or share)")
        mine = {k: v for k, v in st.items() if k != "share"}
        if "share" in st:
            share = V.share_value(st["share"])
            if run_pps is None:
                raise UsageError(f"--streams: stream {i} has a share of the run's rate: give -r")
            if "rate" in st:
                raise UsageError(f"--streams: stream {i} has both rate and share")
            shares += share
            mine["rate"] = f"{share * run_pps:.6f}pps"
        subs.append(gen_config_at(where, topo, **{**base, **mine, "workers": 1}))
    if shares > 1 + 1e-9:
        raise UsageError(f"--streams: the shares add up to {100 * shares:g} % of -r (at most 100 %)")
    if b.payload_only:  # one connected socket: every stream to the run's destination, from its source
        for i, c in enumerate(subs, 1):
            ends = (c.src_ip, c.dst_ip, c.sports, c.dports)
            if ends != (subs[0].src_ip, subs[0].dst_ip, subs[0].sports, subs[0].dports):
                raise UsageError(f"--streams: --backend {o['backend']} sends from one connected socket: stream {i} "
                                 f"differs in its addresses or ports; the streams may differ in size, rate and "
                                 f"count")
    if o["workers"] == 1 and len(subs) > 1 and len({c.rate is None for c in subs}) > 1:
        raise UsageError("--streams: one worker interleaves the streams by their rates: give every stream a rate "
                         "(or share), or none")
    counts = [c.count for c in subs]
    total = sum(counts) if all(c is not None for c in counts) else None
    return dataclasses.replace(subs[0], streams=tuple(subs), workers=o["workers"], rate=o["rate"], count=total)


def _replay_config(where: Where, topo, o: dict, **common) -> GenConfig:
    from wirespeed.tools import replay

    rewrite = {}
    if topo is not None:  # the lab's wire: frames must carry its MACs to be taken in
        end = topo.endpoints("gen")[0]
        rewrite.update(src_mac=V.mac(end.mac), dst_mac=V.mac(topo.peer(end).mac))
    for key in ("src_mac", "dst_mac"):
        if o[key] is not None:
            rewrite[key] = o[key]
    for key in ("src_ip", "dst_ip"):
        if o[key] is not None:
            ip, addresses = o[key]
            if addresses.count > 1:
                raise UsageError(f"{_name(key)} with --pcap is one address, not a range")
            rewrite[key] = ip
    any_ip = ipaddress.ip_address("198.18.0.1")
    return GenConfig(where=where, src_mac=bytes(6), dst_mac=bytes(6), src_ip=any_ip, dst_ip=any_ip,
                     src_ips=Range(0), dst_ips=Range(0), pcap=o["pcap"], timing=o["timing"],
                     speed=replay.parse_speed(o["speed"]), loops=o["loop"], rewrite=rewrite, stamp=False, **common)


def sink_config(iface: str | None = None, *, netns: str | None = None, lab=None, **options) -> SinkConfig:
    """A SinkConfig from the command line's words (see wirespeed sink --help)."""
    place = _place([iface] if iface else [], netns, lab, "sink", "pair")
    return sink_config_at(place.wheres[0], place.topo, **options)


def sink_config_at(where: Where, topo, **given) -> SinkConfig:
    """The sink's config at `where`. Keywords: sink's options (tools.sink.OPTIONS) and the
    registry's backend options for sink; hist: the latency histogram's file (.hgrm); write: a
    pcap file for every frame received (snaplen bytes of each, at most write_count frames)."""
    own, backend_given = _split("sink", given)
    o = SINK_OPTIONS.resolve(own)
    backend = o["backend"]
    options = ports.backend_options(backend, "sink", backend_given)
    options["bind"] = options["bind"] or (topo.endpoints("sink")[0].address if topo else "0.0.0.0")
    if o["hist"] is not None and ports.backend(backend).in_kernel:
        raise UsageError(f"--backend {backend} counts in the kernel: it has no latency histogram to write")
    for path, what in ((o["hist"], "the histogram"), (o["write"], "the capture")):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
            raise UsageError(f"cannot write {what} to {path}: {folder} is not a writable directory")
    return SinkConfig(where=where, backend=backend, port=o["port"], options=options, count=o["count"],
                      duration=o["duration"], interval=o["interval"], workers=o["workers"], cpus=o["cpu"],
                      batch=o["batch"], exit_after_setup=o["exit_after_setup"], hist_file=o["hist"],
                      write_file=o["write"], snaplen=o["snaplen"], write_count=o["write_count"],
                      count_only=o["count_only"], spin=o["spin"], verify=o["verify"], profile=o["profile"],
                      folded=o["folded"], tx_stamps=o["tx_stamps"])


def _tester_options(backend: str, prepare_peer: bool) -> dict:
    """The search's generator: a frame handed over is gone (no send waits for the DUT to free
    it: over veth a DUT's queue would otherwise hold the tester back at the DUT's rate)."""
    options = {"prepare_peer": prepare_peer}
    if "wait" in ports.backend(backend).options:
        options["wait"] = False
    return options


def fwd_config(inp: str | None = None, out: str | None = None, *, netns: str | None = None, lab=None,
               **options) -> FwdConfig:
    """A FwdConfig from the command line's words; hook: a spec ("mac-swap", "module:function")
    or a callable taking a HookBatch."""
    if bool(inp) != bool(out):
        raise UsageError("fwd takes both IN and OUT, or neither (the lab's fwd node)")
    place = _place([inp, out] if inp else [], netns, lab, "fwd", "chain")
    return fwd_config_at(place.wheres[0], place.wheres[1], **options)


def fwd_config_at(inp: Where, out: Where, **given) -> FwdConfig:
    """The forwarder's config from IN to OUT. Keywords: fwd's options (tools.fwd.OPTIONS; hook
    a spec or a callable taking a HookBatch) and the registry's backend options for fwd."""
    from wirespeed.tools import hooks

    own, backend_given = _split("fwd", given)
    o = FWD_OPTIONS.resolve(own)
    hook = o["hook"]
    fn = hooks.load(hook) if isinstance(hook, str) else hook
    name = hook if isinstance(hook, str) else getattr(hook, "__name__", "hook") if hook else "none"
    return FwdConfig(inp=inp, out=out, backend=o["backend"], batch=o["batch"], hook=fn, hook_name=name,
                     qdisc=o["qdisc"], limit=o["limit"], bulk=o["bulk"], bypass=o["bypass"],
                     byte_budget=o["byte_budget"], pool_bufs=o["pool"], buffers=o["buffers"], count=o["count"],
                     duration=o["duration"], idle_stop=o["idle_stop"], interval=o["interval"], cpu=o["cpu"],
                     options=ports.backend_options(o["backend"], "fwd", backend_given),
                     exit_after_setup=o["exit_after_setup"], workers=o["workers"], profile=o["profile"],
                     folded=o["folded"])


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


def _document(cls, table) -> None:
    """The class's docstring ends with its tool's options, from the table (help(wirespeed.Gen))."""
    rows = [*table, *ports.options_of(table.tool)]
    cls.__doc__ += "\n\n    Options (the command line's long names; text as on the command line):\n" + "\n".join(
        f"      {o.name}={o.default!r}: {o.help_text}"
        for o in rows)


for _cls, _table in ((Gen, GEN_OPTIONS), (Sink, SINK_OPTIONS), (Fwd, FWD_OPTIONS)):
    _document(_cls, _table)


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


def search(lab=None, *, lab_name: str = "lab", reporter=None, record_options: dict | None = None,
           **given) -> SearchResult:
    """Zero-loss and partial-loss throughput of a path by RFC 9971 (wirespeed search; blocking).
    In a lab (lab: a Lab, a lab's name, or True to make one for the search and remove it after)
    with dut "none", "kernel" or "fwd"; or between your own interfaces tx and rx (dut "path",
    dst_mac needed). Keywords: search's options (tools.search.OPTIONS), e.g. goal=["NDR:0",
    "PDR:0.005:0.5"] instead of the preset's; loads are rates as the command line writes them
    ("500kpps") or pps; durations in seconds or with units. Prints nothing unless a reporter is
    given."""
    import ipaddress

    from rich.console import Console

    from wirespeed.runner.record import record
    from wirespeed.tools import hooks
    from wirespeed.tools import search as searchmod

    o = searchmod.OPTIONS.resolve(given)
    as_written = {k: v for k, v in given.items() if v is not None and not callable(v)}
    if lab is not None:
        as_written["lab"] = lab.topology.name if isinstance(lab, labmod.Lab) else lab
    goals, frames, hook, dut = tuple(o["goal"] or ()), list(o["size"]), o["hook"], o["dut"]
    tx, rx, dst_mac, cpu = o["tx"], o["rx"], o["dst_mac"], o["cpu"]
    fn = hooks.load(hook) if isinstance(hook, str) else hook
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
    link_bps, min_rate, max_rate = o["link"], o["min_load"], o["max_load"]
    backend = o["backend"]
    vlans, mpls = o["vlan"] or (), o["mpls"] or ()
    tunnels = [_name(k) for k in ("vxlan", "geneve", "gre") if o[k] is not None]
    if len(tunnels) > 1:
        raise UsageError(f"{' and '.join(tunnels)}: one tunnel at a time")
    if o["outer_sport"] is not None and not tunnels:
        raise UsageError(f"{_name('outer_sport')} is a tunnel's outer header: give --vxlan, --geneve or --gre too")
    _check_layers(o, backend, [_name(k) for k in ("vlan", "mpls") if o[k]] + tunnels
                  + ([f"{_name('proto')} {o['proto']}"] if o["proto"] != "udp" else []))
    outer = dict.fromkeys(("outer_src_mac", "outer_dst_mac", "outer_src_ip", "outer_dst_ip"))  # the path's own
    sizing = _tunnel({**o, **outer}, bytes(6), bytes(6), ipaddress.IPv4Address(0), ipaddress.IPv4Address(0))
    for f in frames:
        check_frame(f, False, True, vlans=vlans, mpls=mpls, tunnel=sizing, proto=o["proto"])
    topo, created, placement = None, False, None
    try:
        if named:
            txw, rxw = Where(tx, o["tx_netns"]), Where(rx, o["rx_netns"])
            link_info(txw), link_info(rxw)
            hops = [("tx " + tx, txw), ("rx " + rx, rxw)]
            smac = o["src_mac"] or V.mac(link_info(txw)["mac"])
            dmac, s_ip, d_ip = dst_mac, o["src_ip"] or "198.18.0.1", o["dst_ip"] or "198.18.1.2"
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
            smac, dmac = V.mac(g_end.mac), V.mac(topo.peer(g_end).mac)
            s_ip, d_ip = g_end.address, s_end.address
            if dut == "kernel":
                labmod.route(topo)
        placement = None
        if dut in ("kernel", "fwd") and o["place"]:  # the DUT on CPUs of its own, the tester on another
            placement = labmod.place_dut(topo, cpu if cpu is not None else sorted(os.sched_getaffinity(0))[0])
        tester_cpus = placement.tester_cpus if placement else ([cpu] if cpu is not None else None)
        fcfg = None
        if dut == "fwd":
            ends = topo.endpoints("fwd")
            fcfg = FwdConfig(inp=Where(ends[0].ifname, topo.netns("fwd")), out=Where(ends[1].ifname, topo.netns("fwd")),
                             backend=o["fwd_backend"], hook=fn, hook_name=hook if isinstance(hook, str) else
                             getattr(fn, "__name__", "hook") if fn else "none",
                             cpu=placement.dut_cpus[0] if placement and placement.dut_cpus else None)
        sa, da = ipaddress.ip_address(s_ip), ipaddress.ip_address(d_ip)
        tunnel = _tunnel({**o, **outer}, smac, dmac, sa, da)  # the outer header between the path's ends
        gcfg = GenConfig(where=txw, src_mac=smac, dst_mac=dmac, src_ip=sa, dst_ip=da,
                         src_ips=Range(int(sa) & 0xFFFFFFFF), dst_ips=Range(int(da) & 0xFFFFFFFF),
                         backend=backend, batch=o["batch"], link_bps=link_bps, max_burst=o["max_burst"] or 0,
                         vlans=vlans, pcp=o["pcp"], mpls=mpls, tunnel=tunnel, proto=o["proto"],
                         tcp_flags=o["tcp_flags"],
                         options=_tester_options(backend, o["prepare_peer"] or topo is not None), cpus=tester_cpus)
        mean_wire = float(frames[0].mean_wire)
        cfg = searchmod.SearchConfig(
            tx=txw, rx=rxw, gen=gcfg, dut=dut, preset=o["preset"], goals=goals,
            final_trial_duration=o["final_trial_duration"], duration_sum=o["duration_sum"],
            relative_width=o["width"],
            min_load=min_rate.packets_per_second(mean_wire, link_bps) if min_rate else None,
            max_load=max_rate.packets_per_second(mean_wire, link_bps) if max_rate else None,
            trial_wait=o["trial_wait"], rx_backend=o["rx_backend"], latency=o["latency"], fwd=fcfg, hops=hops,
            max_latency=o["max_latency"] or (), floor=o["floor"],
            rx_cpus=tester_cpus, profile=o["profile"])
        rep = reporter or searchmod.SearchReporter("search", False, Console(quiet=True))
        rec = record(record_options if record_options is not None else {"command": "search", **as_written},
                     [txw, rxw])
        rec["placement"] = placement.record() if placement else None
        if placement and placement.shared:
            rep.note("one CPU: the DUT's receive processing shares it with the tester (the search measures both)")
        rep.event("start", dut=dut, tx=str(txw), rx=str(rxw), preset=o["preset"], frames=[f.name for f in frames],
                  backend=backend, rx_backend=o["rx_backend"], record=rec)
        rep.header(rec)
        out = searchmod.run(cfg, rep, frames)
        rep.results(out)
        return SearchResult({**out, "record": rec})
    finally:
        if placement is not None:
            placement.close()
        if created:
            labmod.down(topo.name)
