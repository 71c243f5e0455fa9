"""`wirespeed gen`: the traffic generator (pktgen/trafgen class).

Frames are built and sent by the C core straight into the port (AF_PACKET TX ring, sendmmsg()
buffers, the AF_XDP UMEM) or by the kernel itself (BPF_PROG_RUN), one system call per batch;
Python runs once per 50 ms slice.
"""

from __future__ import annotations

import struct

import ipaddress
import time
from dataclasses import dataclass, field

from wirespeed import core, ports
from wirespeed.base.errors import UsageError
from wirespeed.base.netdev import link_info, link_stats, veth_peer
from wirespeed.base.netns import Where
from wirespeed.base.packet import FCS, build_template, header_bytes
from wirespeed.base import values as V
from wirespeed.base.option import (BATCH, COUNT, CPUS, DURATION, EXIT_AFTER_SETUP, FOLDED, INTERVAL, PROFILE,
                                   WORKERS, Option, Options)
from wirespeed.base.units import RATE_HELP, WIRE_OVERHEAD, FrameMix, Range, Rate, frame
from wirespeed.runner import driver, stamps, stats
from wirespeed.runner.driver import FOREVER, Plan, Step, Worker
from wirespeed.runner.session import Result, ToolSession

MODES = {"fixed": 0, "inc": 1, "random": 2}
MAX_FRAME = 9000
FIELDS = (("src_ip", "--src-ip"), ("dst_ip", "--dst-ip"), ("sport", "--sport"), ("dport", "--dport"))


@dataclass
class GenConfig(ports.WithOptions):
    where: Where  # the sending interface
    src_mac: bytes
    dst_mac: bytes
    src_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    dst_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    src_ips: Range
    dst_ips: Range
    sports: Range = Range(9)
    dports: Range = Range(9)
    vary: str = "inc"
    frame: FrameMix = field(default_factory=lambda: frame(64))
    flows: int = 0
    seed: int = 1
    stamp: bool = True
    backend: str = "afpacket"
    batch: int = 64
    count: int | None = None
    duration: float | None = None
    rate: Rate | None = None
    link_bps: int | None = None
    workers: int = 1
    cpus: list[int] | None = None
    interval: float = 1.0
    options: dict = field(default_factory=dict)  # backend options (ports.OPTIONS) given for the run
    ttl: int = 64
    tos: int = 0
    df: bool = True
    ip_id: int = 0
    payload: bytes = b""
    vlans: tuple[int, ...] = ()  # --vlan: 802.1Q tag(s), two: QinQ
    pcp: int = 0
    mpls: tuple[int, ...] = ()  # --mpls: labels, outermost first
    tunnel: object = None  # a base.packet.Tunnel around each frame (--vxlan, --geneve, --gre)
    proto: str = "udp"  # --proto: udp, tcp or icmp
    streams: tuple = ()  # --streams: one GenConfig per stream, interleaved in one worker (or worker i sends stream i)
    stream_id: int | None = None  # the number its stamps carry (None: its worker's, or its place in --streams)
    raw: bytes | None = None  # --template, --scapy: this frame (no FCS), sent as it is but for raw_fields
    raw_fields: tuple = ()  # --field: (offset, width, mode, lo, span, step)
    raw_fix: bool = False  # --fix-checksums
    tcp_flags: int = 0x10
    max_burst: int = core.PACE_MAX_BURST  # after a stall, at most this many frames ahead of the smooth schedule
    #                                      (0, search: each trial sets it, gen.trial_burst)
    pace_mode: str = "user"  # "kernel": each datagram carries its departure time (SO_TXTIME, fq holds it)
    timestamps: str = "best"  # --timestamps: user, kernel (the kernel's transmit stamp of each frame read), best
    tx_stamps: str | None = None  # --tx-stamps FILE: the frames' send-delay records written there (sink joins them)
    exit_after_setup: bool = False
    profile: bool = False  # --profile: the workers' CPUs sampled, time by kernel stage (runner.profiler)
    folded: str | None = None  # --folded FILE: the sampled call chains written as folded stacks
    trials: bool = False  # driven trial by trial (search): each trial an exact count, as -c is
    pcap: str | None = None  # replay this capture's frames instead of building them (tools.replay)
    timing: str = "rate"  # pcap: "rate" (-r, or as fast as possible) or "original" (the capture's own)
    speed: float = 1.0  # pcap, original timing: this many times faster
    loops: int = 1  # pcap: passes over the capture; 0: until -c/-d
    rewrite: dict = field(default_factory=dict)  # pcap: src_mac, dst_mac, src_ip, dst_ip to write into every frame

    @property
    def ipv6(self) -> bool:
        return self.src_ip.version == 6

    def ranges(self) -> dict[str, Range]:
        return {"src_ip": self.src_ips, "dst_ip": self.dst_ips, "sport": self.sports, "dport": self.dports}


# --timestamps best reads the kernel's transmit stamps up to this rate per worker: each stamp is a
# copy of the frame on the socket's error queue, read back (measured in bench/timestamps.py).
KERNEL_STAMPS_MAX_PPS = 200_000

# gen's options, written once: the command line (options.add_table), the API's keywords and
# defaults (api.gen_config_at), --config and the run record all come from this table.
OPTIONS = Options(
    "gen",
    Option("ipv6", ("-6", "--ipv6"), False, "IPv6 template (default IPv4)", group="template"),
    Option("size", ("-s", "--size"), "64", "frame size incl. FCS, or imix (default 64)", parse=V.frame_mix,
           group="template"),
    Option("src_mac", ("--src-mac",), None, "source MAC (default: the interface's)", parse=V.mac, metavar="MAC",
           group="template"),
    Option("dst_mac", ("--dst-mac",), None, "destination MAC (in the lab: the peer's)", parse=V.mac, metavar="MAC",
           group="template"),
    Option("src_ip", ("--src-ip",), None, "source address or range", parse=V.ip_range, metavar="A[-B]",
           group="template"),
    Option("dst_ip", ("--dst-ip",), None, "destination address or range", parse=V.ip_range, metavar="A[-B]",
           group="template"),
    Option("sport", ("--sport",), "9", "UDP source port or range (default 9)", parse=V.port_range, metavar="P[-Q]",
           group="template"),
    Option("dport", ("--dport",), "9", "UDP destination port or range (default 9)", parse=V.port_range,
           metavar="P[-Q]", group="template"),
    Option("vary", ("--vary",), "inc", "how ranges are walked", choices=("inc", "random"), group="template"),
    Option("flows", ("--flows",), 0, "incrementing fields cycle over N flows", parse=V.non_negative_int,
           metavar="N", group="template"),
    Option("seed", ("--seed",), 1, "seed for --vary random", parse=V.integer, metavar="N", group="template"),
    Option("ttl", ("--ttl",), 64, "IPv4 TTL / IPv6 hop limit (default 64)", parse=V.byte_value, metavar="N",
           group="template"),
    Option("tos", ("--tos",), 0, "TOS / traffic class", parse=V.byte_value, metavar="N", group="template"),
    Option("df", ("--no-df",), True, "IPv4: clear don't-fragment", group="template"),
    Option("ip_id", ("--ip-id",), None, "IPv4 identification", parse=V.u16_value, metavar="N", group="template"),
    Option("vlan", ("--vlan",), None, "802.1Q tag with this VLAN ID; two IDs make QinQ (802.1ad outer, 802.1Q "
           "inner)", parse=V.vlan_ids, metavar="ID[,ID]", group="template"),
    Option("pcp", ("--pcp",), 0, "--vlan: the 802.1p priority of each tag (0..7)", parse=V.pcp_value, metavar="N",
           group="template"),
    Option("mpls", ("--mpls",), None, "MPLS label stack between Ethernet (and its tags) and IP, outermost first "
           "(the last bottom of stack, TTL 64)", parse=V.mpls_labels, metavar="LABEL[,LABEL]", group="template"),
    Option("template", ("--template",), None, "send this frame (hex bytes, or FILE.pcap[:N]: its Nth frame) instead "
           "of building one; --field varies its bytes", parse=V.template_frame, metavar="HEX|FILE[:N]", group="raw"),
    Option("scapy", ("--scapy",), None, "the frame from a Scapy expression, e.g. "
           "'Ether()/Dot1Q(vlan=7)/IP(dst=\"198.18.1.2\")/UDP(dport=53)/DNS()' (wirespeed[scapy])",
           parse=V.scapy_frame, metavar="EXPR", group="raw"),
    Option("field", ("--field",), None, "with --template or --scapy: vary WIDTH (1, 2, 4) bytes at OFFSET per frame, "
           "inc, dec or random over MIN-MAX (repeatable, up to 8)", parse=V.field_spec,
           metavar="OFF:WIDTH:MODE:MIN-MAX[:STEP]", many=True, group="raw"),
    Option("fix_checksums", ("--fix-checksums",), False, "with --field: recompute the IPv4 header and the UDP, TCP "
           "or ICMP checksum of every frame", group="raw"),
    Option("streams", ("--streams",), None, "several streams at once from a TOML file of [[stream]] tables, each "
           "with gen's template, tunnel, rate and count options (rate absolute, or share = its part of -r); one "
           "worker interleaves them by their schedules (-w N for N streams: one worker each), each stream's number "
           "in the stamp's top 4 bits: the sink counts each apart",
           parse=V.streams_file, metavar="FILE", group="template"),
    Option("proto", ("--proto",), "udp", "the L4 protocol: udp (default), tcp (--tcp-flags) or icmp (echo request, "
           "ICMPv6 with -6; --sport is its identifier)", choices=("udp", "tcp", "icmp"), group="template"),
    Option("tcp_flags", ("--tcp-flags",), "A", "--proto tcp: the flags, letters of FSRPAUEC (default A)",
           parse=V.tcp_flags, metavar="FLAGS", group="template"),
    Option("vxlan", ("--vxlan",), None, "wrap each frame in VXLAN with this VNI (outer Ethernet / IPv4 / UDP "
           "4789, the --outer-* options)", parse=V.vni, metavar="VNI", group="tunnel"),
    Option("geneve", ("--geneve",), None, "wrap each frame in GENEVE with this VNI (UDP 6081, no options)",
           parse=V.vni, metavar="VNI", group="tunnel"),
    Option("gre", ("--gre",), None, "wrap each frame in GRE (transparent Ethernet bridging); KEY: with this key, "
           "'nokey' without", parse=V.gre_key, metavar="KEY|nokey", group="tunnel"),
    Option("outer_src_mac", ("--outer-src-mac",), None, "a tunnel's outer source MAC (default: the interface's)",
           parse=V.mac, metavar="MAC", group="tunnel"),
    Option("outer_dst_mac", ("--outer-dst-mac",), None, "a tunnel's outer destination MAC (in the lab: the peer's)",
           parse=V.mac, metavar="MAC", group="tunnel"),
    Option("outer_src_ip", ("--outer-src-ip",), None, "a tunnel's outer source address, IPv4 or IPv6 (in the lab: "
           "ours), or a range A-B that each frame takes from a hash of its inner flow (several VTEPs)",
           parse=V.ip_range, metavar="A[-B]", group="tunnel"),
    Option("outer_dst_ip", ("--outer-dst-ip",), None, "a tunnel's outer destination address, the far endpoint, of "
           "the source's family (in the lab: the peer's), or a range A-B as --outer-src-ip", parse=V.ip_range,
           metavar="A[-B]", group="tunnel"),
    Option("outer_ipv6", ("--outer-ipv6",), False, "in the lab: the tunnel's outer header IPv6, from the lab's IPv6 "
           "addresses (off the lab the --outer-*-ip addresses' family decides)", group="tunnel"),
    Option("outer_sport", ("--outer-sport",), None, "VXLAN, GENEVE: the outer UDP source port, or a range P-Q that "
           "each frame takes from a hash of its inner addresses and ports (one per inner flow, as a VTEP does: "
           "entropy for ECMP; default 50000)", parse=V.port_range, metavar="P[-Q]", group="tunnel"),
    Option("stamp", ("--no-stamp",), True, "no pktgen header (magic, seq, timestamp)", group="template"),
    Option("payload", ("--payload",), None, "fixed UDP payload instead of the pktgen header", parse=V.hex_bytes,
           metavar="HEX", group="template"),
    Option("pcap", ("--pcap",), None, "send this capture's frames (afpacket, xdp, kernel); --src-mac, --dst-mac, "
           "--src-ip, --dst-ip are written into every frame, checksums fixed; in the lab its MACs are",
           parse=V.text, metavar="FILE", group="replay (instead of a template)"),
    Option("timing", ("--timing",), "rate", "rate: -r, or as fast as possible (default); original: the "
           "capture's own gaps", choices=("rate", "original"), group="replay (instead of a template)"),
    Option("speed", ("--speed",), 1.0, "--timing original: X times faster (default 1)", parse=V.positive_float,
           metavar="X", group="replay (instead of a template)"),
    Option("loop", ("--loop",), 1, "passes over the capture (0: until -c/-d)", parse=V.non_negative_int,
           metavar="N", group="replay (instead of a template)"),
    Option("rate", ("-r", "--rate"), None, RATE_HELP, parse=V.rate, number=V.pps, group="rate"),
    Option("link", ("--link",), None, "link speed for %% rates when the interface reports none",
           parse=V.link_bps, number=V.bps, metavar="SPEED", group="rate"),
    Option("max_burst", ("--max-burst",), core.PACE_MAX_BURST, "with -r: after a stall at most N frames go ahead "
           "of the smooth schedule; the slots missed beyond that are skipped and counted, never sent later "
           "(default %(default)s)", parse=V.positive_int, metavar="N", group="rate"),
    Option("pace", ("--pace",), "user", "with -r: who times each frame: user (the send loop, default) or kernel "
           "(--backend udp: each datagram carries its departure time, SO_TXTIME, and the fq qdisc holds it until "
           "then, so departures survive user-space stalls)", choices=("user", "kernel"), group="rate"),
    Option("timestamps", ("--timestamps",), "best", "user: latency from each frame's own stamp (user space's clock, "
           "once per batch); kernel: also read the kernel's transmit stamp of every frame (SO_TIMESTAMPING; "
           "afpacket, udp without GSO), so the time a frame waited in the sender is measured apart (send_delay) "
           "and a sink joins it (--tx-stamps); best (default): kernel where the backend has it and the run is paced at most "
           f"{KERNEL_STAMPS_MAX_PPS // 1000} kpps per worker, else user, with a note",
           choices=("user", "kernel", "best"), group="rate"),
    Option("tx_stamps", ("--tx-stamps",), None, "write the frames' kernel send-delay records to FILE at the end "
           "(implies --timestamps kernel): `sink --tx-stamps FILE` joins them with its own, the latency from the "
           "kernel's transmit stamp", metavar="FILE", group="rate"),
    ports.choice(transmit=True),
    BATCH, COUNT, DURATION, WORKERS, CPUS, EXIT_AFTER_SETUP, INTERVAL, PROFILE, FOLDED,
)


def spread_sizes(mix: FrameMix) -> list[int]:
    """One cycle of frame sizes with the mix's weights, each size spread evenly through it."""
    total = sum(mix.weights)
    slots: list[tuple[float, int]] = []
    for size, w in zip(mix.sizes, mix.weights):
        slots += [((k + 0.5) / w, size) for k in range(w)]
    out = [size for _, size in sorted(slots)]
    assert len(out) == total
    return out


def check_frame(mix: FrameMix, ipv6: bool, stamp: bool, payload: bytes = b"", vlans: tuple = (),
                mpls: tuple = (), tunnel=None, proto: str = "udp") -> None:
    """Every frame size of the mix holds the headers and the payload, and fits MAX_FRAME."""
    smallest = header_bytes(ipv6, stamp, vlans, mpls, tunnel.length if tunnel else 0, proto) + len(payload)
    stack = (f"{tunnel.kind.upper()}/" if tunnel else "") + "".join(f"{len(x)} {n}{'s' if len(x) > 1 else ''}/" for x, n in ((vlans, "VLAN tag"), (mpls, "MPLS label"))
                    if x)
    for size in mix.sizes:
        if not smallest <= size <= MAX_FRAME:
            carried = " with the pktgen header" if stamp else f" with a {len(payload)}-byte payload"
            raise UsageError(
                f"frame size {size} out of range: {stack}IPv{6 if ipv6 else 4}/{proto.upper()}{carried} needs "
                f"{smallest}..{MAX_FRAME} bytes (FCS included)"
            )


def check_pace(backend: str, pace: str, rate) -> None:
    """--pace kernel: a departure time per frame, which only a backend that hands the kernel each
    frame with its own time can carry (an AF_PACKET TX ring gives one per send(); AF_XDP and the
    in-kernel generator pass no qdisc)."""
    if pace not in ("user", "kernel"):
        raise UsageError(f"--pace must be user or kernel, got {pace!r}")
    if pace == "kernel":
        if not ports.backend(backend).txtime:
            raise UsageError(f"--pace kernel gives each frame its departure time (SO_TXTIME): --backend "
                             f"{' / '.join(ports.names(txtime=True))}; {backend} cannot")
        if rate is None:
            raise UsageError("--pace kernel paces a rate: give -r")


def check(cfg: GenConfig) -> None:
    """Every user mistake the generator can see before it opens anything; the backend's own
    rules come from its registry entry."""
    b = ports.backend(cfg.backend)
    if not b.transmit:
        raise UsageError(f"--backend {b.name} cannot transmit; gen takes {', '.join(ports.names(transmit=True))}")
    check_frame(cfg.frame, cfg.ipv6, cfg.stamp, cfg.payload)
    if not 1 <= cfg.batch <= 1024:
        raise UsageError(f"-b/--batch must be 1..1024, got {cfg.batch}")
    if not 1 <= cfg.workers <= 16:
        raise UsageError(f"-w/--workers must be 1..16, got {cfg.workers}")
    if cfg.count is not None and cfg.count < 1:
        raise UsageError(f"-c/--count must be at least 1, got {cfg.count}")
    if cfg.duration is not None and cfg.duration <= 0:
        raise UsageError(f"-d/--duration must be positive, got {cfg.duration}")
    if cfg.interval <= 0:
        raise UsageError(f"-i/--interval must be positive, got {cfg.interval}")
    if cfg.flows < 0:
        raise UsageError(f"--flows must be at least 1, got {cfg.flows}")
    ports.check_workers(b, cfg.workers)
    for one in cfg.streams or (cfg,):
        _check_frames(one, b)


def _check_frames(cfg: GenConfig, b: ports.Backend) -> None:
    """What one stream's frames ask of the backend: the fields it varies, its sizes, its stamp."""
    if max(cfg.frame.sizes) > b.max_frame:
        raise UsageError(f"--backend {b.name} sends frames up to {b.max_frame} bytes, got {max(cfg.frame.sizes)}")
    if b.fixed_frame and len(set(cfg.frame.sizes)) != 1:
        raise UsageError(f"--backend {b.name} repeats one template frame: give one frame size, not imix")
    varied = [opt for name, opt in FIELDS if cfg.ranges()[name].count > 1 and name not in b.varies]
    if cfg.flows and not b.varies:
        varied.append("--flows")
    if varied:
        can = f"varies only {', '.join(opt for name, opt in FIELDS if name in b.varies)}" if b.varies else \
            "sends from one connected socket: it varies no header field"
        raise UsageError(f"{', '.join(varied)}: --backend {b.name} {can}; use --backend afpacket")
    check_pace(b.name, cfg.pace_mode, cfg.rate)
    if b.in_kernel:
        t = cfg.tunnel
        if t is not None and max(t.sports, t.srcs, t.dsts) > 1:
            raise UsageError(f"--outer-sport, --outer-src-ip, --outer-dst-ip: --backend {b.name} varies the inner "
                             f"header only; a range of outer ports or addresses needs afpacket or xdp")
        if cfg.raw is not None:  # a frame given whole: its fields and checksums in the program
            from wirespeed.ports.kernel import needs_whole_sums

            if needs_whole_sums(make_gen(cfg).layout):
                raise UsageError(f"--fix-checksums: --backend {b.name} fixes them a few additions per field; a "
                                 f"--field on the IP header's first 6 bytes (its lengths), or fields that overlap, "
                                 f"need the whole frame summed: use afpacket or xdp")
        elif not cfg.stamp:
            raise UsageError(f"--backend {b.name} writes the pktgen sequence: it needs the stamp "
                             "(no --no-stamp/--payload)")


def check_mtu(cfg: GenConfig, mtu: int) -> None:
    """The kernel skips its own MTU check for frames with a virtio_net_hdr, and a UDP socket
    would fragment: refuse frames the interface cannot carry."""
    biggest = max(cfg.frame.sizes)
    if biggest - FCS > mtu + 14:
        raise UsageError(f"frame size {biggest} exceeds the MTU of {cfg.where} ({mtu} + 14 + 4 FCS = {mtu + 18})")


def _fields(cfg: GenConfig) -> list[tuple[int, int, int]]:
    mode = MODES[cfg.vary]
    return [(r.lo, r.count, mode if r.count > 1 else MODES["fixed"]) for r in cfg.ranges().values()]


def make_gen(cfg: GenConfig, worker: int = 0, ns_per_pkt: float = 0.0, stats=None) -> core.Gen:
    """Worker i's frame builder and schedule; stats: where its departure statistics live."""
    if cfg.raw is not None:
        return _raw_gen(cfg, worker, ns_per_pkt, stats)
    t = build_template(
        cfg.src_mac, cfg.dst_mac, cfg.src_ip, cfg.dst_ip, cfg.sports.lo, cfg.dports.lo, max(cfg.frame.sizes),
        cfg.stamp, cfg.ttl, cfg.tos, cfg.df, cfg.ip_id, cfg.payload, cfg.vlans, cfg.pcp, cfg.mpls, cfg.tunnel,
        cfg.proto, cfg.tcp_flags,
    )
    g = core.Gen(
        t.frame, t.l3, t.l4, t.ipv6, [s - FCS for s in spread_sizes(cfg.frame)], _fields(cfg),
        flows=cfg.flows, seed=cfg.seed + worker, seq_base=worker if cfg.stream_id is None else cfg.stream_id,
        stamp=cfg.stamp, stats=stats, outer_l3=t.outer_l3, outer_l4=t.outer_l4, proto=t.proto, outer_v6=t.outer_v6, outer_sports=t.outer_sports,
        outer_srcs=t.outer_srcs, outer_dsts=t.outer_dsts,
    )
    g.set_rate(ns_per_pkt, cfg.max_burst or core.PACE_MAX_BURST, lead_ns(cfg, ns_per_pkt))  # 0: a trial sets its own
    return g


def _raw_gen(cfg: GenConfig, worker: int, ns_per_pkt: float, stats) -> core.Gen:
    """A builder that sends cfg.raw as it is but for its --field bytes (the checksums fixed when
    asked, at the IP and L4 headers the frame's own bytes say)."""
    from wirespeed.base.packet import l3_offset

    frame = cfg.raw
    g = core.Gen(frame, 14, 34, False, [len(frame)], [(0, 1, 0)] * 4, flows=cfg.flows, seed=cfg.seed + worker,
                 seq_base=worker, stamp=False, stats=stats)
    l3, l4, proto, v6 = 0, 0, 0, False
    try:
        l3, v6 = l3_offset(frame)
        if frame[l3] >> 4 != (6 if v6 else 4):
            raise IndexError
        proto = frame[l3 + 6] if v6 else frame[l3 + 9]
        l4 = l3 + (40 if v6 else (frame[l3] & 15) * 4) if proto in (1, 6, 17, 58) else 0
    except (IndexError, struct.error):
        l3 = 0  # not IP: nothing to fix
    g.raw(list(cfg.raw_fields), cfg.raw_fix, l3, l4, proto, v6)
    g.set_rate(ns_per_pkt, cfg.max_burst or core.PACE_MAX_BURST, lead_ns(cfg, ns_per_pkt))
    return g


KERNEL_LEAD_NS = 1_000_000  # --pace kernel: frames go to the kernel up to 1 ms before their time,
KERNEL_LEAD_FRAMES = 64  # and at most 64 ahead (fq keeps 100 per flow by default)


def lead_ns(cfg: GenConfig, ns_per_pkt: float) -> int:
    """How far ahead of its time a frame is handed to the kernel (0: user-space timing)."""
    if cfg.pace_mode != "kernel" or not ns_per_pkt:
        return 0
    return int(min(KERNEL_LEAD_NS, KERNEL_LEAD_FRAMES * ns_per_pkt))


def gso_bytes(cfg: GenConfig) -> int:
    """UDP payload bytes per datagram when the UDP backend sends in GSO messages, else 0 (see
    _gso_payload); not with the kernel's transmit stamps, which stamp one datagram a message."""
    return 0 if cfg.timestamps == "kernel" else _gso_payload(cfg)


def _gso_payload(cfg: GenConfig) -> int:
    """UDP payload bytes per datagram when the UDP backend can send in GSO messages, else 0: one
    frame size for every frame (every stream's too); kernel-timed, one message per datagram, each
    with its own departure time."""
    sizes = set(cfg.frame.sizes) | {s for one in cfg.streams for s in one.frame.sizes}
    if not ports.backend(cfg.backend).gso or not cfg.opt("gso") or len(sizes) != 1 or cfg.pace_mode == "kernel":
        return 0
    return cfg.frame.sizes[0] - header_bytes(cfg.ipv6, False)


def l2_extra(cfg: GenConfig) -> int:
    """Bytes per packet the port does not count but L2 does."""
    if ports.backend(cfg.backend).payload_only:
        return header_bytes(cfg.ipv6, False)
    return FCS


def ns_per_packet(cfg: GenConfig) -> float:
    """Pacing interval per worker, 0 for as fast as possible."""
    if cfg.rate is None:
        return 0.0
    pps = cfg.rate.packets_per_second(float(cfg.frame.mean_wire), cfg.link_bps)
    return 1e9 * cfg.workers / pps


def share(total: int | None, workers: int, i: int) -> int:
    """Worker i's part of an exact count (FOREVER without one)."""
    if total is None:
        return FOREVER
    return total // workers + (1 if i < total % workers else 0)


def port_spec(cfg: GenConfig, pace: float, note=lambda text: None) -> ports.PortSpec:
    return ports.PortSpec(
        cfg.backend, cfg.where, tx=True, batch=cfg.batch,
        max_frame=max(max(c.frame.sizes) for c in (cfg.streams or (cfg,))),
        options=cfg.options,
        local=(str(cfg.src_ip), cfg.sports.lo), remote=(str(cfg.dst_ip), cfg.dports.lo), gso=gso_bytes(cfg),
        txtime=cfg.pace_mode == "kernel",
        gen_of=lambda i: worker_gen(cfg, i, pace),
        max_burst=cfg.max_burst, note=note,
        limited=limited(cfg, pace),
    )


STREAM_GROUPS = ("template", "tunnel", "rate")  # a stream's own options: these groups, and -c
MAX_STREAMS = 16  # the stamp's top 4 bits


def interleaved(cfg: GenConfig) -> bool:
    """--streams in one worker, interleaved by their schedules in the C loop (-w 1, the default);
    with -w equal to the number of streams, worker i sends stream i."""
    return len(cfg.streams) > 1 and cfg.workers == 1


def stream_cfg(cfg: GenConfig, i: int) -> tuple[GenConfig, float, int | None]:
    """Stream (or worker) i's config, its pacing interval and its count: its stream's with
    --streams, else the run's (its share of -c)."""
    if not cfg.streams:
        return cfg, ns_per_packet(cfg), share(cfg.count, cfg.workers, i)
    one = cfg.streams[i]
    return one, ns_per_packet(one), FOREVER if one.count is None else one.count


def limited(cfg: GenConfig, pace: float) -> bool:
    """Whether an in-kernel program keeps to a count (a paced worker of a counted run; unpaced,
    the calls claim the count): with --streams -w N, any stream's count and rate."""
    if cfg.streams and not interleaved(cfg):
        return any(one.count is not None and ns_per_packet(one) > 0 for one in cfg.streams)
    return (cfg.count is not None or cfg.trials) and pace > 0


def worker_gen(cfg: GenConfig, i: int, pace: float, stats=None) -> core.Gen:
    """Worker i's builder when it sends one stream: stream i's with --streams -w N, else the run's."""
    mine, mine_pace, _ = stream_cfg(cfg, i)
    return make_gen(mine, i, mine_pace if cfg.streams else pace, stats=stats)


def streams_interval(cfg: GenConfig) -> float:
    """The interleaving worker's interval: one frame per this many ns at the sum of the streams'
    rates (0: unpaced, the streams in turn)."""
    pps = sum(1e9 / ns for ns in (ns_per_packet(one) for one in cfg.streams) if ns)
    return 1e9 / pps if pps else 0.0


def stream_stats(stats, i: int):
    """Stream i's own departure words in an interleaving worker's statistics (after the worker's)."""
    return stats[..., core.PACE_STATS_WORDS * (i + 1): core.PACE_STATS_WORDS * (i + 2)]


def gen_stats_words(cfg: GenConfig) -> int:
    """A generating worker's statistics: its departures, each interleaved stream's, the trial word."""
    return core.PACE_STATS_WORDS * (1 + (len(cfg.streams) if interleaved(cfg) else 0)) + 1


def make_streams_gen(cfg: GenConfig, stats) -> core.Gen:
    """The interleaving worker's builder: one Gen per stream (its number in the stamp's top bits,
    its departure words in stream_stats), merged by their schedules in C."""
    subs, intervals, counts = [], [], []
    for i in range(len(cfg.streams)):
        one, ns, left = stream_cfg(cfg, i)
        subs.append(make_gen(one, i, ns, stats=stream_stats(stats, i)))
        intervals.append(ns)
        counts.append(None if left == FOREVER else left)
    g = make_gen(cfg.streams[0], 0, 0.0, stats=stats[: core.PACE_STATS_WORDS])
    g.interleave(subs, intervals, counts, cfg.max_burst or core.PACE_MAX_BURST)
    return g


class GenStep(Step):
    """One worker: its port and its generator; each slice sends what is due of its share (with
    a rate, `-c` counts the schedule's slots: a slot skipped after a stall is not sent later).
    With --streams, one worker interleaves the streams, each at its own rate and count (or worker
    i sends stream i)."""

    def __init__(self, cfg: GenConfig, w: Worker, pace: float):
        self.cfg = cfg
        self.port = w.open()
        self.stats = w.stats
        if cfg.timestamps == "kernel" and not cfg.trials:  # a trial says whether it wants them (TRIAL_STAMPS)
            self.port.tx_timestamps(w.records, stamps.TX_RING)
        if interleaved(cfg):
            self.left = FOREVER if cfg.count is None else cfg.count  # the streams' counts, summed
            self.gen = make_streams_gen(cfg, w.stats)
        else:
            self.left = stream_cfg(cfg, w.i)[2]
            self.gen = worker_gen(cfg, w.i, pace, w.stats)
        self.in_kernel = ports.backend(cfg.backend).in_kernel
        if self.in_kernel:
            self.slice_ns = FOREVER  # its calls end at the deadline or by the stop signal, not per slice

    def __call__(self, until_ns: int) -> bool:
        self.left -= self.port.gen_run(self.gen, self.cfg.batch, self.left, until_ns)
        if self.in_kernel:  # paced in the kernel: its slots and skips
            for k, v in self.port.departures().items():
                self.stats[D[k]] = v
        return self.left > 0

    def close(self) -> None:
        self.port.drain()  # what is queued leaves before the count is final
        self.port.close()


# Trials (search): the parent sets these control words; each worker sends its share of COUNT
# slots at one frame per INTERVAL/1000 ns, then writes the trial's number into its last stats
# word. The generator and its port stay up between trials.
TRIAL_SEQ, TRIAL_INTERVAL_MILLI_NS, TRIAL_COUNT = driver.TOOL, driver.TOOL + 1, driver.TOOL + 2
TRIAL_STAMPS = driver.TOOL + 3  # 1: read the kernel's transmit stamps in this trial (a latency trial)
TRIAL_IDLE_S = 0.0005
# A trial's catch-up bound when the search leaves it to us (max_burst 0): the frames due in this
# long, TRIAL_BURST frames at least and at most. On a shared CPU the sender stalls for 0.5-1.5 ms
# now and then (measured: gap_max_ns in departures); skipping those slots made the tester fall
# short of loads at a third of its back-to-back rate. A burst of up to 1024 frames is what a NIC
# queue of that depth gives a DUT; the largest burst of each trial is in its departures.
TRIAL_CATCH_UP_NS, TRIAL_BURST = 2_000_000, (core.PACE_MAX_BURST, 1024)


def trial_burst(ns_per_pkt: float, max_burst: int = 0) -> int:
    """The catch-up bound of a trial at this interval: max_burst when given, else the frames due in
    TRIAL_CATCH_UP_NS within TRIAL_BURST."""
    if max_burst:
        return max_burst
    lo, hi = TRIAL_BURST
    return int(min(hi, max(lo, TRIAL_CATCH_UP_NS / ns_per_pkt))) if ns_per_pkt > 0 else hi


class TrialGenStep(GenStep):
    """A generator that sends trials on command (search's Measurer): no process is started per
    trial, and each trial's departure figures start afresh."""

    def __init__(self, cfg: GenConfig, w: Worker, pace: float):
        super().__init__(cfg, w, pace)
        self.w, self.seq, self.left, self.stamping = w, 0, 0, False
        self.slice_ns = driver.SLICE_NS

    def __call__(self, until_ns: int) -> bool:
        ctl = self.w.control
        seq = int(ctl[TRIAL_SEQ])
        if seq != self.seq:
            self.seq = seq
            ns = int(ctl[TRIAL_INTERVAL_MILLI_NS]) / 1000
            self.gen.set_rate(ns, trial_burst(ns, self.cfg.max_burst))
            self.left = share(int(ctl[TRIAL_COUNT]), self.cfg.workers, self.w.i)
            want = bool(ctl[TRIAL_STAMPS]) and self.cfg.timestamps == "kernel"
            if want != self.stamping:  # on for a latency trial; off again for throughput, where they cost
                self.port.tx_timestamps(self.w.records if want else None, stamps.TX_RING)
                self.stamping = want
        if self.left > 0:
            super().__call__(until_ns)
            if self.left <= 0:
                self.port.drain()  # every frame of the trial handed over before it counts as sent
                self.stats[-1] = self.seq
        else:
            time.sleep(TRIAL_IDLE_S)
        return True


def replay_plan(cfg: GenConfig, note=lambda text: None):
    """A capture's frames instead of a template: load, check and rewrite it here, in the parent
    (the worker inherits it), then one worker replays it. The pace of departures is not the
    template generator's: departures are not reported (0)."""
    from wirespeed.tools import replay

    b = ports.backend(cfg.backend)
    if not b.replay:
        raise UsageError(f"--pcap replays over --backend {', '.join(ports.names(replay=True))}, not {b.name}")
    if b.in_kernel and cfg.timing == "original":
        raise UsageError(f"--backend {b.name} replays at a constant interval (-r) or as fast as it goes, "
                         "not --timing original")
    if cfg.workers != 1:
        raise UsageError("--pcap replays from one worker: -w 1")
    if cfg.timing == "original" and cfg.rate is not None:
        raise UsageError("--timing original keeps the capture's own gaps: give -r or --timing original, not both")
    if cfg.count is not None and cfg.count < 1:
        raise UsageError(f"-c/--count must be at least 1, got {cfg.count}")
    if not 1 <= cfg.batch <= 1024:
        raise UsageError(f"-b/--batch must be 1..1024, got {cfg.batch}")
    if cfg.loops < 0:
        raise UsageError(f"--loop must be 0 (until -c/-d) or more, got {cfg.loops}")
    cap = replay.load(cfg.pcap)
    info = link_info(cfg.where)
    replay.check_mtu(cap, info["mtu"], cfg.where)
    if int(cap.lengths.max()) > b.max_frame:
        raise UsageError(f"--backend {b.name} sends frames up to {b.max_frame} bytes; --pcap {cfg.pcap} has "
                         f"{int(cap.lengths.max())}")
    if b.fixed_frame and int(cap.lengths.min()) != int(cap.lengths.max()):
        raise UsageError(f"--backend {b.name} sends one frame length (the live frame's); --pcap {cfg.pcap} has "
                         f"{int(cap.lengths.min())} to {int(cap.lengths.max())} bytes: use "
                         f"{' or '.join(ports.names(replay=True, fixed_frame=False))}")
    done = replay.rewrite(cap, **cfg.rewrite)
    if done:
        note(f"rewrote {', '.join(f'{k} in {v:,} frame(s)' for k, v in done.items())} of {len(cap):,}")
    pps = cfg.rate.packets_per_second(float(cap.lengths.mean()) + FCS + WIRE_OVERHEAD, cfg.link_bps) \
        if cfg.rate is not None else 0.0
    interval = 1e9 / pps if pps else 0.0
    cpus = driver.cpu_plan(1, cfg.cpus, descending=True, note=note)
    in_kernel = b.in_kernel
    pace = replay.KernelPace(interval, cfg.max_burst)
    spec = ports.PortSpec(cfg.backend, cfg.where, tx=True, batch=cfg.batch, max_frame=int(cap.lengths.max()) + FCS,
                          options=cfg.options,
                          note=note, frames=replay.frame_rows(cap) if in_kernel else None,
                          gen_of=lambda i: pace, max_burst=cfg.max_burst)
    prep = ports.prepare(spec, 1)
    original, speed, loops = cfg.timing == "original", cfg.speed, cfg.loops
    plan_ = Plan("gen", 1, cpus, [prep], stats_words=core.PACE_STATS_WORDS + 1, duration=cfg.duration,
                 exit_after_setup=cfg.exit_after_setup)
    if in_kernel:
        return plan_, 0.0, lambda w: replay.KernelReplayStep(len(cap), cfg, w, pace, loops)
    return plan_, 0.0, lambda w: replay.ReplayStep(cap, cfg, w, interval, original, speed, loops)


def plan(cfg: GenConfig, note=lambda text: None) -> tuple[Plan, float]:
    """Check everything, prepare the port, choose the CPUs: a run ready to start."""
    check(cfg)
    info = link_info(cfg.where)
    check_mtu(cfg, info["mtu"])
    if cfg.rate is not None and cfg.rate.link_share is not None and cfg.link_bps is None:
        speed = info.get("speed_mbps")
        cfg.link_bps = speed * 10**6 if speed else None
    pace = streams_interval(cfg) if interleaved(cfg) else ns_per_packet(cfg)
    resolve_timestamps(cfg, pace, note)
    cpus = driver.cpu_plan(cfg.workers, cfg.cpus, descending=True, note=note)
    prep = ports.prepare(port_spec(cfg, pace, note), cfg.workers)
    return Plan("gen", cfg.workers, cpus, [prep], stats_words=gen_stats_words(cfg), duration=cfg.duration,
                exit_after_setup=cfg.exit_after_setup,
                record_words=stamps.TX_WORDS if cfg.timestamps == "kernel" else 0), pace


def resolve_timestamps(cfg: GenConfig, pace: float, note=lambda text: None) -> None:
    """--timestamps best becomes kernel or user here (the run record says which); kernel where
    the frames or the backend cannot is one line."""
    b = ports.backend(cfg.backend)
    why = None
    if not cfg.stamp or cfg.raw is not None:
        why = "the frames carry no stamp"
    elif not b.tx_stamps:
        why = f"--backend {b.name} has no kernel transmit stamps (use {' or '.join(ports.names(tx_stamps=True))})"
    if cfg.timestamps == "kernel" and why:
        raise UsageError(f"--timestamps kernel: {why}")
    if cfg.timestamps != "best":
        return
    if cfg.trials:  # search's tester: read for the latency trials only (TRIAL_STAMPS), never for throughput
        cfg.timestamps = "user" if why or _gso_payload(cfg) else "kernel"  # GSO: the throughput trials keep it
        return
    pps = 1e9 / pace if pace else None  # per worker
    if not why and pps is not None and pps <= KERNEL_STAMPS_MAX_PPS:
        cfg.timestamps = "kernel"
        return
    cfg.timestamps = "user"
    if pps is not None and b.tx_stamps:  # a paced run, where latency may be the point: say why not
        note(f"timestamps: user ({why or f'{pps / 1000:,.0f} kpps per worker is above the {KERNEL_STAMPS_MAX_PPS // 1000} kpps up to which kernel transmit stamps are read'})")


D = core.D


def departures(stats, seconds: float, pace: float, workers: int) -> dict:
    """The generator's own departures, from the C send loop's statistics of every worker:
    intended and offered frames and rates, skipped slots, inter-departure percentiles against
    the intended interval, the largest burst, the time spent behind schedule."""
    d = stats[:, : len(D)]
    hist = stats[:, len(D) : core.PACE_STATS_WORDS].sum(axis=0)
    slots, skipped = int(d[:, D["slots"]].sum()), int(d[:, D["skipped"]].sum())
    gaps = stats_percentiles(hist)
    timed = bool(hist.sum())  # the in-kernel generator times no departures of its own
    return {
        "intended_interval_ns": pace or None,
        "intended_pps": 1e9 * workers / pace if pace else None,
        "intended": slots,
        "skipped": skipped,
        "offered_pps": (slots - skipped) / seconds if seconds else 0.0,
        "gap_p50_ns": gaps["p50_ns"], "gap_p99_ns": gaps["p99_ns"],
        "gap_max_ns": int(d[:, D["gap_max_ns"]].max()) if timed else None,
        "max_burst": int(d[:, D["max_burst"]].max()) if timed else None,
        "behind_ns": int(d[:, D["behind_ns"]].sum()) if timed else None,
    }


def stats_percentiles(hist) -> dict:
    return stats.percentiles(hist) if hist.sum() else {"p50_ns": None, "p99_ns": None}


class GenResult(Result):
    """gen's summary: packets, bytes, pps, l2_mbps, l1_mbps, ns_per_pkt, cpu_ns_per_pkt,
    syscalls_per_pkt, interface_tx_packets, departures (the generator's own sending), ..."""


def stream_summary(cfg: GenConfig, i: int, stats, secs: float) -> dict:
    """Stream i's own figures, from its departure words (its own, interleaved; else its worker's):
    the slots its schedule had and those it sent (a worker's stream without a rate keeps no
    schedule: None)."""
    one, pace, _ = stream_cfg(cfg, i)
    row = stream_stats(stats[0], i) if interleaved(cfg) else stats[i]
    sent = int(row[D["slots"]] - row[D["skipped"]]) if pace or interleaved(cfg) else None
    return {"stream": i, "frame": one.frame.name, "dst_ip": str(one.dst_ip), "intended_pps": 1e9 / pace if pace else None,
            "sent": sent, "pps": sent / secs if sent is not None and secs else None,
            "skipped": int(row[D["skipped"]]) if pace else None}


class GenSession(ToolSession):
    """The generator as an object (wirespeed.Gen) and as the command (wirespeed gen)."""

    tool = "gen"
    result_type = GenResult

    def plan(self):
        cfg = self.cfg
        if cfg.pcap:
            p, self.pace, make_step = replay_plan(cfg, note=self.note)
        else:
            p, self.pace = plan(cfg, note=self.note)
            pace = self.pace
            make_step = lambda w: GenStep(cfg, w, pace)  # noqa: E731
        self.extra = l2_extra(cfg)
        self.iface0 = link_stats(cfg.where)
        self.peer = veth_peer(cfg.where)  # the other end of a veth: its receive counter is readable
        self.peer0 = _received(self.peer)
        self.cpus = p.cpus
        return p, make_step

    def start_fields(self) -> dict:
        cfg, pace = self.cfg, self.pace
        return dict(interface=str(cfg.where), backend=cfg.backend, gso_bytes=gso_bytes(cfg), workers=cfg.workers,
                    cpus=self.cpus, batch=cfg.batch, frame=f"pcap {cfg.pcap}" if cfg.pcap else cfg.frame.name,
                    rate_pps=(1e9 * cfg.workers / pace) if pace else None, max_burst=cfg.max_burst)

    def interval(self, prev: driver.Snapshot, now: driver.Snapshot) -> tuple[dict, dict]:
        C = core.C
        d = now.port() - prev.port()
        dt = now.t - prev.t
        r = stats.rates(int(d[C["packets"]]), int(d[C["bytes"]]), dt, self.extra)
        cols = {"errors": int(d[C["errors"]]), "ring_full": int(d[C["ring_full"]])}
        if self.pace:
            dep = departures(now.stats - prev.stats, dt, self.pace, self.cfg.workers)
            cols.update(skipped=dep["skipped"], max_burst=int(now.stats[:, D["burst_now"]].max()),
                        gap_p50_ns=dep["gap_p50_ns"], gap_p99_ns=dep["gap_p99_ns"], behind_ns=dep["behind_ns"])
        return r, cols

    def summary(self, end: driver.Ended) -> dict:
        cfg, C = self.cfg, core.C
        iface1 = link_stats(cfg.where)
        peer_rx = _received(self.peer) - self.peer0 if self.peer else None
        c, secs = end.snapshot.port(), end.seconds
        pkts = int(c[C["packets"]])
        return {
            "interface": str(cfg.where),
            "backend": cfg.backend,
            "gso_bytes": gso_bytes(cfg),
            "frame": f"pcap {cfg.pcap}" if cfg.pcap else cfg.frame.name,
            "batch": cfg.batch,
            "workers": cfg.workers,
            "seconds": secs,
            "packets": pkts,
            "bytes": int(c[C["bytes"]]),
            "errors": int(c[C["errors"]]),
            "ring_full": int(c[C["ring_full"]]),
            "syscalls": int(c[C["syscalls"]]),
            **stats.rates(pkts, int(c[C["bytes"]]), secs, self.extra),
            **stats.per_packet(c, float(end.snapshot.cpu_ns.sum())),
            "user_ns_per_pkt": float(end.snapshot.cpu_user_ns.sum()) / pkts if pkts else None,
            "sys_ns_per_pkt": float(end.snapshot.cpu_sys_ns.sum()) / pkts if pkts else None,
            "interface_tx_packets": iface1["tx_packets"] - self.iface0["tx_packets"],
            "interface_tx_dropped": iface1["tx_dropped"] - self.iface0["tx_dropped"],
            "peer_rx_packets": peer_rx,
            "interrupted": end.interrupted is not None,
            "departures": departures(end.snapshot.stats, secs, self.pace, cfg.workers)
            if self.pace and (interleaved(cfg) or not cfg.streams) else None,
            "interleaved": interleaved(cfg),
            "timestamps": cfg.timestamps,
            "send_delay": self._send_delay(),
            "per_stream": [stream_summary(cfg, i, end.snapshot.stats, secs) for i in range(len(cfg.streams))],
        }

    def _send_delay(self) -> dict | None:
        """The kernel's transmit stamps against the frames' own (and, --tx-stamps, their records
        written for a sink to join)."""
        if self.cfg.timestamps != "kernel" or self.run.records is None:
            return None
        if self.cfg.tx_stamps:
            write_tx_stamps(self.cfg.tx_stamps, stamps.tx_records(self.run.records))
        return stamps.send_delay(self.run.records)

    def after(self, out: dict) -> list[str]:
        return disagreements(out, str(self.cfg.where), str(self.peer) if self.peer else None)

    def rows(self, out: dict) -> list[tuple[str, str]]:
        cfg, f, secs = self.cfg, stats.fmt, out["seconds"]
        rows = [
            ("interface", f"{cfg.where} ({cfg.backend}{', GSO' if gso_bytes(cfg) else ''}, batch {cfg.batch}, "
                          f"{cfg.workers} worker(s))"),
            ("packets sent", f(out["packets"])),
            ("interface tx / dropped", f"{f(out['interface_tx_packets'])} / {f(out['interface_tx_dropped'])}"),
            ("seconds", f(secs, 3)),
            ("rate", f"{f(out['pps'], 0)} pps  {f(out['l2_mbps'])} Mbit/s L2  {f(out['l1_mbps'])} Mbit/s L1"),
            ("errors / ring full", f"{f(out['errors'])} / {f(out['ring_full'])}"),
            ("data path ns/pkt", f(out["ns_per_pkt"], 1)),
            ("data path cycles/pkt", f(out["cycles_per_pkt"], 1)),
            ("CPU ns/pkt (user+sys)", f(out["cpu_ns_per_pkt"], 1)),
            ("system calls/pkt", f(out["syscalls_per_pkt"], 4)),
            ("mean batch", f(out["mean_batch"], 1)),
        ]
        dep = out["departures"]
        if dep:
            rows += [
                ("intended / offered", f"{f(dep['intended'])} frames at {f(dep['intended_pps'], 0)} pps / "
                                       f"{f(out['packets'])} ({f(dep['skipped'])} slots skipped after stalls)"),
                ("inter-departure µs p50 / p99 / max", f"{us(dep['gap_p50_ns'])} / {us(dep['gap_p99_ns'])} / "
                                                      f"{us(dep['gap_max_ns'])} (intended {us(self.pace)})"),
                ("largest burst / time behind schedule", f"{f(dep['max_burst'])} frames / {us(dep['behind_ns'])} µs"),
            ]
        sd = out.get("send_delay")
        if sd:
            rows.append((f"send delay µs p50 / p99 / max (own stamp to the {sd['stamp']}'s, kernel)",
                         f"{us(sd['p50_ns'])} / {us(sd['p99_ns'])} / {us(sd['max_ns'])} ({f(sd['stamps'])} stamps)"))
        else:
            rows.append(("timestamps", out.get("timestamps") or "-"))
        for p in out.get("per_stream") or ():
            rows.append((f"stream {p['stream']}: {p['frame']} bytes to {p['dst_ip']}",
                         f"{f(p['sent'])} sent, {f(p['pps'], 0)} pps of {f(p['intended_pps'], 0)}"
                         if p["sent"] is not None else "no schedule (as fast as it goes)"))
        return rows


def run(cfg: GenConfig, reporter: stats.Reporter) -> dict:
    return GenSession(cfg, reporter.note).drive(reporter, cfg.interval)


def write_tx_stamps(path: str, records) -> None:
    """The send-delay records as a .npy file, written whole under another name and renamed, so
    that a sink waiting for it never reads half of it."""
    import os

    import numpy as np

    tmp = f"{path}.part"
    try:
        with open(tmp, "wb") as f:
            np.save(f, records)
        os.replace(tmp, path)
    except OSError as e:
        raise UsageError(f"--tx-stamps {path}: {e.strerror}") from None


AGREE = 0.005  # counts further apart than this are said


def _received(peer: Where | None) -> int:
    """Frames the peer received (veth counts those its XDP program dropped too)."""
    return link_stats(peer)["rx_packets"] if peer is not None else 0


def disagreements(out: dict, where: str, peer: str | None) -> list[str]:
    """Our count against the interface's own TX counter and the peer's RX counter: frames that
    vanish (a veth peer without XDP, a full queue) are said, never hidden."""
    sent, notes = out["packets"], []
    tx, rx = out["interface_tx_packets"], out["peer_rx_packets"]
    if abs(tx - sent) > AGREE * max(sent, 1):
        notes.append(f"{where} counted {tx:,} frames sent, the generator {sent:,}")
    if rx is not None and sent - rx > AGREE * max(sent, 1):
        notes.append(f"the peer {peer} received {rx:,} of the {sent:,} frames sent: "
                     f"{sent - rx:,} vanished between the two ends")
    return notes


def us(ns: float | None) -> str:
    return "-" if ns is None else f"{ns / 1000:,.1f}"
