"""An Open Traffic Generator config (already validated by snappi's model classes, as the dict
they serialize to) turned into wirespeed's words: where each port is, and for each flow the
options of one `wirespeed gen` stream (the command line's long names and text, so the same
parsing and checks apply as on the command line).

What the stream model cannot send is refused with the OTG path of the field and why: nothing
in a config is silently ignored. The README's OTG table lists what is taken.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from wirespeed.base.units import IMIX, FrameMix, frame, parse_rate

MAX_FLOWS = 16  # a frame's stamp names its flow in 4 bits (the sink's per-stream statistics)
VXLAN_PORT = 4789
LOCATION_RE = re.compile(r"^(?P<agent>(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):\d{1,5})/(?P<rest>.+)$")
PORT_OPTIONS = ("backend", "rx_backend", "batch")  # a location's ?key=value: how wirespeed drives the port
PEER = "peer:"  # a port served by another agent, as the controller writes it into an agent's part


class Unsupported(Exception):
    """A part of the config wirespeed does not do: its OTG path and why (an OTG validation error)."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{path}: {why}")
        self.path = path


@dataclass(frozen=True)
class Location:
    """A port's location: an interface (in a namespace) on this host, or on an agent HOST:PORT."""

    text: str
    ifname: str
    netns: str | None = None
    agent: str | None = None  # "host:port" of the wirespeed otg that serves the port
    options: dict = field(default_factory=dict)  # ?backend=xdp&batch=256

    @property
    def local(self) -> str:
        """The location as its own host writes it."""
        q = "&".join(f"{k}={v}" for k, v in self.options.items())
        return (f"{self.netns}/" if self.netns else "") + self.ifname + (f"?{q}" if q else "")


def location(text: str, path: str) -> Location:
    """IFACE, NETNS/IFACE, HOST:PORT/IFACE or HOST:PORT/NETNS/IFACE, each with ?backend=...&batch=...;
    peer:... is a port another agent serves (what a controller writes into an agent's part)."""
    if text.startswith(PEER):
        return Location(text, "", None, text)
    body, _, query = text.partition("?")
    options = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        key = key.replace("-", "_")
        if not eq or key not in PORT_OPTIONS:
            raise Unsupported(path, f"{part!r}: a location's options are {', '.join(PORT_OPTIONS)} (key=value)")
        options[key] = value
    agent = None
    m = LOCATION_RE.match(body)
    if m:
        agent, body = m.group("agent"), m.group("rest")
    parts = body.split("/")
    if len(parts) > 2 or not all(parts):
        raise Unsupported(path, f"{text!r}: a location is IFACE, NETNS/IFACE, HOST:PORT/IFACE or "
                                f"HOST:PORT/NETNS/IFACE")
    netns, ifname = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
    return Location(text, ifname, netns, agent, options)


@dataclass
class Flow:
    """One OTG flow as a wirespeed stream."""

    name: str
    index: int  # the stream number its frames' stamps carry
    tx: str  # port names
    rx: tuple[str, ...]
    gen: dict  # gen's options for the stream (long names, text as on the command line)
    metrics: bool = False
    latency: bool = False
    frame_bytes: int | None = None  # every frame's size (FCS included), when there is one size
    delay_s: float = 0.0


@dataclass
class Plan:
    ports: dict[str, Location]
    flows: list[Flow]


def plan(cfg: dict) -> Plan:
    """The config's ports and flows in wirespeed's words (Unsupported for what it cannot do)."""
    for key, value in cfg.items():
        if key == "options":  # location_preemption: wirespeed holds no claim on a port to take over
            _only(value, "options", ("port_options",))
            po = value.get("port_options") or {}
            _only(po, "options.port_options", ("location_preemption", "data_integrity"))
            if po.get("data_integrity"):
                raise Unsupported("options.port_options.data_integrity", "not supported (the sink checks each "
                                                                         "frame's sequence and checksums)")
        elif key not in ("ports", "flows") and value not in (None, [], {}):
            raise Unsupported(key, "not supported (wirespeed takes ports and flows)")
    ports = {}
    for i, p in enumerate(cfg.get("ports") or ()):
        if not p.get("location"):
            raise Unsupported(f"ports[{i}].location", "needed: where the port is (IFACE, NETNS/IFACE, HOST:PORT/...)")
        ports[p["name"]] = location(p["location"], f"ports[{i}].location")
    flows = cfg.get("flows") or []
    if len(flows) > MAX_FLOWS:
        raise Unsupported("flows", f"at most {MAX_FLOWS} flows (a frame's stamp names its flow in 4 bits), "
                                   f"got {len(flows)}")
    return Plan(ports, [_flow(f, i, ports) for i, f in enumerate(flows)])


def _flow(f: dict, i: int, ports: dict) -> Flow:
    path = f"flows[{i}]"
    _only(f, path, ("name", "tx_rx", "packet", "size", "rate", "duration", "metrics", "egress_packet"))
    if f.get("egress_packet"):
        raise Unsupported(f"{path}.egress_packet", "not supported (the sink checks the frames it receives by their "
                                                   "stamps)")
    txrx = f.get("tx_rx") or {}
    if txrx.get("choice") != "port":
        raise Unsupported(f"{path}.tx_rx", "a flow goes between ports (tx_rx.port): devices are not supported")
    tx, rx = txrx["port"].get("tx_name"), tuple(txrx["port"].get("rx_names") or ())
    for name in (tx, *rx):
        if name not in ports:
            raise Unsupported(f"{path}.tx_rx.port", f"no port named {name!r}")
    gen: dict = {}
    _headers(f.get("packet") or [], f"{path}.packet", gen)
    size_bytes = _size(f.get("size") or {"choice": "fixed", "fixed": 64}, f"{path}.size", gen)
    _rate(f.get("rate") or {"choice": "pps", "pps": 1000}, f"{path}.rate", gen)
    if gen["rate"].endswith("bit"):  # a bit rate as frames per second: the wire's bytes per frame
        size = gen["size"] if isinstance(gen["size"], FrameMix) else frame(int(gen["size"]))
        gen["_pps"] = parse_rate(gen["rate"]).packets_per_second(float(size.mean_wire), None)
    delay = _duration(f.get("duration") or {"choice": "continuous"}, f"{path}.duration", gen)
    gen.pop("_pps")
    m = f.get("metrics") or {}
    _only(m, f"{path}.metrics", ("enable", "loss", "timestamps", "latency", "rx_tx_ratio",
                                 "predefined_metric_tags"))
    if (m.get("rx_tx_ratio") or {}).get("choice") not in (None, "rx_count"):
        raise Unsupported(f"{path}.metrics.rx_tx_ratio", "only rx_count (every rx port counts the flow)")
    if any((m.get("predefined_metric_tags") or {}).values()):
        raise Unsupported(f"{path}.metrics.predefined_metric_tags", "tagged metrics are not supported")
    lat = m.get("latency") or {}
    if m.get("timestamps"):
        raise Unsupported(f"{path}.metrics.timestamps", "not supported (the sink keeps each flow's counts and "
                                                        "latency, not its first and last arrival)")
    return Flow(f["name"], i, tx, rx, gen, bool(m.get("enable")), bool(lat.get("enable")), size_bytes, delay)


def _only(d: dict, path: str, known: tuple[str, ...]) -> None:
    for key in d:
        if key not in known and key != "choice":
            raise Unsupported(f"{path}.{key}", "not supported")


# -- patterns: value, values, increment, random (decrement and the rest refused) ---------------------

def _pattern(p: dict | None, path: str, kind: str) -> tuple[object, str | None]:
    """(value or 'lo-hi' range text, 'random' or None) of a field's pattern; (None, None) for
    auto or absent (wirespeed's default)."""
    if not p or p.get("choice") in (None, "auto"):
        return None, None
    if p.get("metric_tags"):
        raise Unsupported(f"{path}.metric_tags", "tagged metrics are not supported")
    choice = p["choice"]
    num = _number(kind)
    if choice == "value":
        return p["value"], None
    if choice == "values":
        vals = [num(v) for v in p.get("values") or ()]
        if not vals:
            raise Unsupported(f"{path}.values", "an empty list")
        if vals != list(range(vals[0], vals[0] + len(vals))):
            raise Unsupported(f"{path}.values", "wirespeed walks a contiguous range: the values must each be one "
                                                "more than the one before (or use increment)")
        return _span(vals[0], len(vals), kind), None
    if choice == "increment":
        inc = p["increment"]
        if num(inc.get("step", 1)) != 1:
            raise Unsupported(f"{path}.increment.step", "wirespeed steps ranges by one")
        return _span(num(inc["start"]), int(inc.get("count", 1)), kind), None
    if choice == "random":
        r = p["random"]
        if int(r.get("step", 1)) != 1:
            raise Unsupported(f"{path}.random.step", "wirespeed draws every value in min..max")
        return _span(num(r["min"]), num(r["max"]) - num(r["min"]) + 1, kind), "random"
    raise Unsupported(f"{path}.{choice}", "not supported (value, values, increment and random are)")


def _number(kind: str):
    if kind in ("ipv4", "ipv6"):
        return lambda v: int(ipaddress.ip_address(v)) if isinstance(v, str) else int(v)
    if kind == "mac":
        return lambda v: int(str(v).replace(":", ""), 16)
    return int


def _span(lo: int, count: int, kind: str) -> object:
    if count < 1:
        raise Unsupported(kind, "a count of at least 1")
    if kind in ("ipv4", "ipv6"):
        a, b = ipaddress.ip_address(lo), ipaddress.ip_address(lo + count - 1)
        return str(a) if count == 1 else f"{a}-{b}"
    return str(lo) if count == 1 else f"{lo}-{lo + count - 1}"


def _fixed(p: dict | None, path: str, kind: str = "int"):
    """A field wirespeed sets once per stream: its value (None: auto or absent)."""
    v, how = _pattern(p, path, kind)
    if v is not None and (how or (isinstance(v, str) and "-" in v and kind != "mac")):
        raise Unsupported(path, "wirespeed sets this field to one value per flow")
    return v


def _default_only(h: dict, name: str, path: str, ok: tuple) -> None:
    """A field wirespeed writes itself: only its automatic value (or the one it writes) is taken."""
    p = h.get(name)
    if not p or p.get("choice") in (None, "auto", "generated"):
        if p and p.get("choice") == "generated" and p.get("generated", "good") != "good":
            raise Unsupported(f"{path}.{name}", "wirespeed writes good checksums")
        return
    v = _fixed(p, f"{path}.{name}")
    if v is not None and v not in ok:
        raise Unsupported(f"{path}.{name}", f"wirespeed writes {ok[0] if len(ok) == 1 else ok} here")


# -- headers --------------------------------------------------------------------------------------

TUNNELS = ("vxlan", "gre")


def _headers(headers: list[dict], path: str, gen: dict) -> None:
    kinds = [h.get("choice") for h in headers]
    tun = next((i for i, k in enumerate(kinds) if k in TUNNELS), None)
    if tun is None:
        _stack(headers, 0, path, gen, "")
        return
    kind = kinds[tun]
    outer = headers[:tun]
    want = ["ethernet", ("ipv4", "ipv6")] + (["udp"] if kind == "vxlan" else [])
    if len(outer) != len(want) or any(k not in (w if isinstance(w, tuple) else (w,)) for k, w in
                                      zip(kinds[:tun], want)):
        raise Unsupported(f"{path}[{tun}]", f"{kind}: the outer headers are ethernet, ipv4 or ipv6"
                                            + (", udp" if kind == "vxlan" else ""))
    _outer(outer, path, gen, kind)
    t = headers[tun][kind]
    if kind == "vxlan":
        _only(t, f"{path}[{tun}].vxlan", ("flags", "reserved0", "vni", "reserved1"))
        vni = _fixed(t.get("vni"), f"{path}[{tun}].vxlan.vni")
        gen["vxlan"] = str(vni or 0)
    else:
        _only(t, f"{path}[{tun}].gre", ("checksum_present", "reserved0", "version", "protocol", "checksum",
                                         "reserved1"))
        for name, ok in (("checksum_present", (0,)), ("reserved0", (0,)), ("version", (0,)), ("reserved1", (0,)),
                         ("protocol", (0x6558,))):
            _default_only(t, name, f"{path}[{tun}].gre", ok)
        gen["gre"] = "nokey"
    if not headers[tun + 1:] or kinds[tun + 1] != "ethernet":
        raise Unsupported(f"{path}[{tun + 1}]", f"{kind} carries an Ethernet frame: the inner headers start "
                                                f"with ethernet")
    _stack(headers[tun + 1:], tun + 1, path, gen, "")


def _outer(outer: list[dict], path: str, gen: dict, kind: str) -> None:
    eth = outer[0]["ethernet"]
    _only(eth, f"{path}[0].ethernet", ("dst", "src", "ether_type", "pfc_queue"))
    for name, opt in (("src", "outer_src_mac"), ("dst", "outer_dst_mac")):
        v = _fixed(eth.get(name), f"{path}[0].ethernet.{name}", "mac")
        if v is not None:
            gen[opt] = v
    ipk = outer[1]["choice"]
    ip = outer[1][ipk]
    _ip_header(ip, ipk, f"{path}[1].{ipk}", {}, outer=True)
    if ipk == "ipv6":
        gen["outer_ipv6"] = True
    for name, opt in (("src", "outer_src_ip"), ("dst", "outer_dst_ip")):
        v, how = _pattern(ip.get(name), f"{path}[1].{ipk}.{name}", ipk)
        if how:
            raise Unsupported(f"{path}[1].{ipk}.{name}.random", "the outer addresses take value, values or "
                                                                "increment")
        if v is not None:
            gen[opt] = v
    if kind == "vxlan":
        udp = outer[2]["udp"]
        _only(udp, f"{path}[2].udp", ("src_port", "dst_port", "length", "checksum"))
        _default_only(udp, "dst_port", f"{path}[2].udp", (VXLAN_PORT,))
        _default_only(udp, "length", f"{path}[2].udp", ())
        _default_only(udp, "checksum", f"{path}[2].udp", ())
        v, how = _pattern(udp.get("src_port"), f"{path}[2].udp.src_port", "int")
        if how:
            raise Unsupported(f"{path}[2].udp.src_port.random", "the outer source port is the inner flow's hash "
                                                                "within a range: give value, values or increment")
        if v is not None:
            gen["outer_sport"] = str(v)


def _stack(headers: list[dict], base: int, path: str, gen: dict, _prefix: str) -> None:
    """ethernet, vlan (up to 2), mpls..., ipv4 or ipv6, udp, tcp, icmp or icmpv6."""
    kinds = [h.get("choice") for h in headers]
    at = lambda j: f"{path}[{base + j}].{kinds[j]}"  # noqa: E731
    if not kinds or kinds[0] != "ethernet":
        raise Unsupported(f"{path}[{base}]", "a frame starts with ethernet")
    eth = headers[0]["ethernet"]
    _only(eth, at(0), ("dst", "src", "ether_type", "pfc_queue"))
    _default_only(eth, "ether_type", at(0), ())
    if eth.get("pfc_queue"):
        _default_only(eth, "pfc_queue", at(0), (0,))
    for name, opt in (("src", "src_mac"), ("dst", "dst_mac")):
        v = _fixed(eth.get(name), f"{at(0)}.{name}", "mac")
        if v is not None:
            gen[opt] = v
    j = 1
    vlans, pcps = [], set()
    while j < len(kinds) and kinds[j] == "vlan":
        v = headers[j]["vlan"]
        _only(v, at(j), ("priority", "cfi", "id", "tpid"))
        _default_only(v, "cfi", at(j), (0,))
        _default_only(v, "tpid", at(j), (0x88A8, 0x8100) if len(vlans) == 0 else (0x8100,))
        vlans.append(str(_fixed(v.get("id"), f"{at(j)}.id") or 0))
        pcps.add(_fixed(v.get("priority"), f"{at(j)}.priority") or 0)
        j += 1
    if len(vlans) > 2:
        raise Unsupported(f"{path}[{base + 3}]", "at most two VLAN tags (QinQ)")
    if len(pcps) > 1:
        raise Unsupported(f"{path}[{base + 1}].vlan.priority", "wirespeed gives both tags one priority")
    if vlans:
        gen["vlan"] = ",".join(vlans)
        gen["pcp"] = str(pcps.pop())
    labels = []
    while j < len(kinds) and kinds[j] == "mpls":
        m = headers[j]["mpls"]
        _only(m, at(j), ("label", "traffic_class", "bottom_of_stack", "time_to_live"))
        _default_only(m, "traffic_class", at(j), (0,))
        _default_only(m, "time_to_live", at(j), (64,))
        _default_only(m, "bottom_of_stack", at(j), (0, 1))
        labels.append(str(_fixed(m.get("label"), f"{at(j)}.label") or 16))
        j += 1
    if labels:
        gen["mpls"] = ",".join(labels)
    if j >= len(kinds) or kinds[j] not in ("ipv4", "ipv6"):
        raise Unsupported(f"{path}[{base + j}]", f"{kinds[j] if j < len(kinds) else 'nothing'}: wirespeed sends "
                                                 f"IP next (ipv4 or ipv6)")
    ipk = kinds[j]
    _ip_header(headers[j][ipk], ipk, at(j), gen)
    j += 1
    l4 = kinds[j] if j < len(kinds) else None
    if l4 is None:
        raise Unsupported(f"{path}[{base + j}]", "a flow's frame carries udp, tcp, icmp or icmpv6 after IP")
    h = headers[j][l4]
    if l4 in ("udp", "tcp"):
        ports_ = ("src_port", "dst_port")
        if l4 == "udp":
            _only(h, at(j), (*ports_, "length", "checksum"))
            _default_only(h, "length", at(j), ())
            _default_only(h, "checksum", at(j), ())
        else:
            flags = ("ctl_ns", "ctl_cwr", "ctl_ece", "ctl_urg", "ctl_ack", "ctl_psh", "ctl_rst", "ctl_syn", "ctl_fin")
            _only(h, at(j), (*ports_, "seq_num", "ack_num", "data_offset", "window", "checksum", *flags,
                             "ecn_ns", "ecn_cwr", "ecn_echo"))
            for name in ("seq_num", "ack_num", "data_offset", "window", "checksum"):
                _default_only(h, name, at(j), ())
            bits = {"ctl_fin": 0x01, "ctl_syn": 0x02, "ctl_rst": 0x04, "ctl_psh": 0x08, "ctl_ack": 0x10,
                    "ctl_urg": 0x20, "ctl_ece": 0x40, "ecn_echo": 0x40, "ctl_cwr": 0x80, "ecn_cwr": 0x80}
            if "ctl_ns" in h or "ecn_ns" in h:
                _default_only(h, "ctl_ns" if "ctl_ns" in h else "ecn_ns", at(j), (0,))
            given = {k: _fixed(h.get(k), f"{at(j)}.{k}") for k in bits if k in h}
            if given:
                gen["tcp_flags"] = str(sum(bits[k] for k, v in given.items() if v))
            gen["proto"] = "tcp"
        how = set()
        for name, opt in (("src_port", "sport"), ("dst_port", "dport")):
            v, r = _pattern(h.get(name), f"{at(j)}.{name}", "int")
            if v is not None:
                gen[opt] = str(v)
            how.add(r)
        _vary(gen, how, h, at(j))
    elif l4 in ("icmp", "icmpv6"):
        if (l4 == "icmpv6") != (ipk == "ipv6"):
            raise Unsupported(at(j), f"{l4} after {ipk}")
        if h.get("choice") not in (None, "echo"):
            raise Unsupported(f"{at(j)}.{h.get('choice')}", "wirespeed sends echo requests")
        echo = h.get("echo") or {}
        _only(echo, f"{at(j)}.echo", ("type", "code", "identifier", "sequence_number", "checksum"))
        _default_only(echo, "type", f"{at(j)}.echo", (8,) if l4 == "icmp" else (128,))
        _default_only(echo, "code", f"{at(j)}.echo", (0,))
        _default_only(echo, "checksum", f"{at(j)}.echo", ())
        for name in ("identifier", "sequence_number"):
            _default_only(echo, name, f"{at(j)}.echo", (0,))
        gen["proto"] = "icmp"
    else:
        raise Unsupported(f"{path}[{base + j}]", f"{l4}: wirespeed sends udp, tcp, icmp or icmpv6 after IP")
    if j + 1 < len(kinds):
        raise Unsupported(f"{path}[{base + j + 1}]", f"{kinds[j + 1]}: nothing is taken after the L4 header (the "
                                                     f"payload is wirespeed's stamp)")


def _vary(gen: dict, how: set, h: dict, path: str) -> None:
    """One way of walking every range of a flow: increment, or random (with its seed)."""
    how.discard(None)
    if "random" in how:
        if gen.get("vary") not in (None, "random"):
            raise Unsupported(path, "wirespeed walks every range of a flow one way: increment or random")
        gen["vary"] = "random"
        seeds = {p["random"].get("seed", 1) for p in h.values() if isinstance(p, dict) and p.get("choice") == "random"}
        if len(seeds) > 1:
            raise Unsupported(path, "one random seed per flow")
        gen["seed"] = str(seeds.pop())
    elif gen.get("vary") == "random" and _has_range(gen):
        raise Unsupported(path, "wirespeed walks every range of a flow one way: increment or random")


def _has_range(gen: dict) -> bool:
    return any("-" in str(gen.get(k, "")) for k in ("src_ip", "dst_ip", "sport", "dport"))


def _ip_header(h: dict, kind: str, path: str, gen: dict, outer: bool = False) -> None:
    if kind == "ipv4":
        _only(h, path, ("version", "header_length", "priority", "total_length", "identification", "reserved",
                        "dont_fragment", "more_fragments", "fragment_offset", "time_to_live", "protocol",
                        "header_checksum", "src", "dst", "options"))
        if h.get("options"):
            raise Unsupported(f"{path}.options", "IPv4 options are not supported")
        for name, ok in (("version", (4,)), ("header_length", (5,)), ("total_length", ()), ("reserved", (0,)),
                         ("more_fragments", (0,)), ("fragment_offset", (0,)), ("protocol", ()),
                         ("header_checksum", ())):
            _default_only(h, name, path, ok)
        if _copy(h, path, gen, (("time_to_live", "ttl", str), ("identification", "ip_id", str),
                                ("dont_fragment", "df", bool)), outer, ("priority",)):
            return
        tos = _priority(h.get("priority"), f"{path}.priority")
        if tos is not None:
            gen["tos"] = str(tos)
    else:
        _only(h, path, ("version", "traffic_class", "flow_label", "payload_length", "next_header", "hop_limit",
                        "src", "dst"))
        for name, ok in (("version", (6,)), ("flow_label", (0,)), ("payload_length", ()), ("next_header", ())):
            _default_only(h, name, path, ok)
        if _copy(h, path, gen, (("hop_limit", "ttl", str), ("traffic_class", "tos", str)), outer):
            return
        gen["ipv6"] = True
    how = set()
    for name, opt in (("src", "src_ip"), ("dst", "dst_ip")):
        v, r = _pattern(h.get(name), f"{path}.{name}", kind)
        if v is not None:
            gen[opt] = str(v)
        how.add(r)
    _vary(gen, how, h, path)


def _copy(h: dict, path: str, gen: dict, fields: tuple, outer: bool, more: tuple = ()) -> bool:
    """Header fields wirespeed sets once per flow, into gen's options (field, option, as);
    an outer header takes none of them (True: it was an outer header)."""
    if outer:
        for name in (*(f for f, _, _ in fields), *more):
            if h.get(name):
                raise Unsupported(f"{path}.{name}", "the outer header's fields are wirespeed's own")
        return True
    for name, opt, as_ in fields:
        v = _fixed(h.get(name), f"{path}.{name}")
        if v is not None:
            gen[opt] = as_(v)
    return False


def _priority(p: dict | None, path: str) -> int | None:
    """IPv4 priority: raw (the TOS byte), or DSCP (phb, ecn)."""
    if not p or p.get("choice") in (None,):
        return None
    if p["choice"] == "raw":
        return _fixed(p.get("raw"), f"{path}.raw")
    if p["choice"] == "dscp":
        d = p.get("dscp") or {}
        phb = _fixed(d.get("phb"), f"{path}.dscp.phb") or 0
        ecn = _fixed(d.get("ecn"), f"{path}.dscp.ecn") or 0
        return (phb << 2) | ecn
    raise Unsupported(f"{path}.{p['choice']}", "raw or dscp")


# -- size, rate, duration -------------------------------------------------------------------------------

def _size(s: dict, path: str, gen: dict) -> int | None:
    """The flow's frame sizes (FCS included, as OTG's); the one size if there is one."""
    choice = s.get("choice", "fixed")
    if choice == "fixed":
        gen["size"] = str(int(s.get("fixed", 64)))
        return int(gen["size"])
    if choice in ("increment", "random"):
        d = s[choice]
        lo, hi = (int(d.get("start", 64)), int(d.get("end", 1518))) if choice == "increment" else \
            (int(d.get("min", 64)), int(d.get("max", 1518)))
        step = int(d.get("step", 1)) if choice == "increment" else 1
        if not (step >= 1 and lo <= hi):
            raise Unsupported(f"{path}.{choice}", "sizes from the smaller to the larger, step at least 1")
        sizes = tuple(range(lo, hi + 1, step))
        gen["size"] = FrameMix(f"{lo}..{hi}", sizes, (1,) * len(sizes))
        return None if len(sizes) > 1 else lo
    if choice == "weight_pairs":
        w = s["weight_pairs"]
        if w.get("choice", "predefined") == "predefined":
            if w.get("predefined", "imix") != "imix":
                raise Unsupported(f"{path}.weight_pairs.predefined", "imix (64:7, 570:4, 1518:1) is supported")
            gen["size"] = IMIX
            return None
        pairs = w.get("custom") or []
        if not pairs:
            raise Unsupported(f"{path}.weight_pairs.custom", "give at least one size and weight")
        weights = [float(p.get("weight", 1)) for p in pairs]
        if any(x <= 0 or not float(x).is_integer() for x in weights):
            raise Unsupported(f"{path}.weight_pairs.custom", "whole positive weights")
        gen["size"] = FrameMix("custom", tuple(int(p.get("size", 64)) for p in pairs), tuple(int(x) for x in weights))
        return None if len(pairs) > 1 else int(pairs[0].get("size", 64))
    raise Unsupported(f"{path}.{choice}", "fixed, increment, random or weight_pairs")


def _rate(r: dict, path: str, gen: dict) -> None:
    choice = r.get("choice", "pps")
    units = {"pps": "pps", "bps": "bit", "kbps": "kbit", "mbps": "mbit", "gbps": "gbit", "percentage": "%"}
    if choice not in units:
        raise Unsupported(f"{path}.{choice}", f"one of {', '.join(units)}")
    value = float(r[choice])
    if not value > 0:
        raise Unsupported(f"{path}.{choice}", "a rate above 0")
    gen["rate"] = f"{value:g}{units[choice]}"
    gen["_pps"] = value if choice == "pps" else None


def _duration(d: dict, path: str, gen: dict) -> float:
    """The flow's count (fixed_packets; fixed_seconds at its rate), or none (continuous); its delay."""
    choice = d.get("choice", "continuous")
    if choice not in ("fixed_packets", "fixed_seconds", "continuous"):
        raise Unsupported(f"{path}.{choice}", "fixed_packets, fixed_seconds or continuous")
    body = d.get(choice) or {}
    _only(body, f"{path}.{choice}", ("packets", "seconds", "gap", "delay"))
    if int(body.get("gap", 12)) != 12:
        raise Unsupported(f"{path}.{choice}.gap", "wirespeed paces by the rate: the gap is the standard 12 bytes")
    delay = body.get("delay") or {}
    dchoice = delay.get("choice", "bytes")
    dval = float(delay.get(dchoice, 0) or 0)
    delay_s = dval * {"bytes": 0.0, "nanoseconds": 1e-9, "microseconds": 1e-6}[dchoice]
    if dchoice == "bytes" and dval:
        raise Unsupported(f"{path}.{choice}.delay.bytes", "give the delay in nanoseconds or microseconds")
    if choice == "fixed_packets":
        gen["count"] = str(int(body.get("packets", 1)))
    elif choice == "fixed_seconds":
        pps = gen.get("_pps")
        if pps is None:
            raise Unsupported(f"{path}.fixed_seconds", "with a rate in pps or bits per second (the count is the "
                                                       "seconds times the rate; a percentage has no speed here)")
        gen["count"] = str(max(1, round(float(body.get("seconds", 1)) * pps)))
    return delay_s
