"""Command line: parse options into a tool's config, run it, print the result.

Every user mistake ends as one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys

from wirespeed import output
from wirespeed.errors import UsageError, WirespeedError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for every other bad value
        where = self.prog.removeprefix("wirespeed").strip()
        raise UsageError(f"{where}: {message}" if where else message)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _udp_port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be 1..65535, got {text!r}")
    return value


def _size(text: str) -> int:
    """'512M', '2G', '65536' -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmg]?)i?b?\s*", text, re.I)
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive size such as 512M or 2G, got {text!r}")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def _cmd_budget(args) -> int:
    from wirespeed import budget
    from wirespeed.units import DEFAULT_LINKS, default_frames, frame, parse_frame, parse_link

    links = tuple(dict.fromkeys(parse_link(x)[0] for x in args.link)) if args.link else DEFAULT_LINKS
    frames = tuple(parse_frame(x) for x in args.frame) if args.frame else default_frames()
    cfg = budget.BudgetConfig(
        links=links,
        frames=frames,
        selected_link=links[0] if args.link else "10G",
        selected_frame=frames[0] if args.frame else frame(64),
        measure=not args.no_profile,
        cpu=args.cpu,
        min_time=args.time,
        reps=args.reps,
        mem_size=args.mem_size,
    )
    if args.json:
        output.print_json(budget.run(cfg))
        return 0
    err = output.err_console()
    with err.status("measuring") as st:
        res = budget.run(cfg, progress=lambda what: st.update(f"measuring: {what}"))
    output.print_budget(res, output.console())
    return 0


def _cmd_lab(args) -> int:
    from wirespeed import lab

    if args.action == "up":
        topo = lab.TOPOLOGIES[args.topology](args.name)
        lab.Lab(topo, keep=True).up()
        rows = [r for r in lab.status() if r["lab"] == topo.name]
    elif args.action == "down":
        if args.all and args.name_given:
            raise UsageError("wirespeed lab down: give --name or --all, not both")
        gone = lab.down(None if args.all else lab.check_name(args.name))
        if args.json:
            output.print_json({"removed": gone})
        else:
            print(f"removed {len(gone)} namespace(s){': ' + ' '.join(gone) if gone else ''}")
        return 0
    else:
        rows = lab.status()
    if args.json:
        for r in rows:
            output.print_json(r)
    elif not rows:
        print("no wirespeed namespaces")
    else:
        output.console().print(
            output.make_table(
                "wirespeed lab",
                ["<lab", "<node", "<netns", "<interface", "<mac", "<address", "<state", "<xdp"],
                [
                    (r["lab"], r["node"], r["netns"], r["ifname"] or "-", r["mac"] or "-",
                     " ".join(r["addresses"]) or "-", r["state"] or "-",
                     f"id {r['xdp']['id']} ({r['xdp']['mode']})" if r["xdp"] else "-")
                    for r in rows
                ],
            )
        )
    return 0


def _ip_range(text: str):
    """'A' or 'A-B' -> (first address, Range over the low 32 bits)."""
    import ipaddress

    from wirespeed.gen import Range

    lo_text, _, hi_text = text.partition("-") if text.count(":") == 0 or "-" in text else (text, "", "")
    try:
        lo = ipaddress.ip_address(lo_text.strip())
        hi = ipaddress.ip_address(hi_text.strip()) if hi_text else lo
    except ValueError:
        raise UsageError(f"bad address or range {text!r}: use A or A-B") from None
    if lo.version != hi.version or int(hi) < int(lo) or (int(hi) >> 32) != (int(lo) >> 32):
        raise UsageError(f"bad range {text!r}: same IP version, first <= last, differing only in the low 32 bits")
    return lo, Range(int(lo) & 0xFFFFFFFF, int(hi) - int(lo) + 1, text)


def _port_range(text: str, option: str):
    from wirespeed.gen import Range

    lo_text, _, hi_text = text.partition("-")
    try:
        lo, hi = int(lo_text), int(hi_text or lo_text)
    except ValueError:
        raise UsageError(f"{option}: bad port or range {text!r}: use P or P-Q") from None
    if not 0 <= lo <= hi <= 65535:
        raise UsageError(f"{option}: ports must be 0..65535 with first <= last, got {text!r}")
    return Range(lo, hi - lo + 1, text)


def _where(args, node: str):
    """The interface a tool uses: the one named (optionally in --netns), else the lab's."""
    from wirespeed import lab
    from wirespeed.ports import Where

    if args.iface:
        if args.lab:
            raise UsageError("give an interface or --lab, not both")
        from wirespeed.netdev import link_info

        where = Where(args.iface, args.netns)
        link_info(where)  # an unknown interface or namespace is named before anything else
        return where, None, False
    lab.require_root(f"wirespeed {args.command} in the lab")
    topo, created = lab.resolve(lab.check_name(args.lab_name), args.lab)
    end = topo.endpoints(node)[0]
    return Where(end.ifname, topo.netns(node)), topo, created


def _cpus(text: str | None):
    if text is None:
        return None
    try:
        return [int(x) for x in text.split(",")]
    except ValueError:
        raise UsageError(f"--cpu takes a comma-separated list of CPU numbers, got {text!r}") from None


def _gen_values(args) -> dict:
    """The generator's options that need no interface: checked before anything is opened."""
    from wirespeed.units import frame, parse_frame, parse_link, parse_rate

    if args.ipv6 and (args.ip_id is not None or args.no_df):
        raise UsageError("--ip-id and --no-df are IPv4 header fields; an IPv6 template has neither")
    if args.size.lower() == "imix":
        mix = parse_frame(args.size)
    else:
        try:
            mix = frame(int(args.size))
        except ValueError:
            raise UsageError(f"-s/--size must be a frame size in bytes or imix, got {args.size!r}") from None
    payload = b""
    if args.payload:
        try:
            payload = bytes.fromhex(args.payload)
        except ValueError:
            raise UsageError(f"--payload takes hex bytes, e.g. 0000000000000000000100000012, got {args.payload!r}") from None
    from wirespeed.gen import check_frame

    check_frame(mix, args.ipv6, not (args.no_stamp or payload), payload)
    return {
        "frame": mix,
        "payload": payload,
        "rate": parse_rate(args.rate) if args.rate else None,
        "link_bps": parse_link(args.link)[1] if args.link else None,
    }


def _gen_config(args, values: dict, where, topo):
    from wirespeed.gen import GenConfig, link_bps
    from wirespeed.netdev import link_info
    from wirespeed.packet import parse_mac

    if topo is not None:
        end = topo.endpoints("gen")[0]
        peer = topo.peer(end)
        defaults = (end.address6, peer.address6) if args.ipv6 else (end.address, peer.address)
        src_mac, dst_mac = end.mac, peer.mac
    else:
        defaults = ("2001:2::1", "2001:2::2") if args.ipv6 else ("198.18.0.1", "198.18.0.2")
        src_mac = None
        if args.backend == "afpacket" and not args.dst_mac:
            raise UsageError(f"--dst-mac is needed to send on {where}")
        dst_mac = args.dst_mac or "00:00:00:00:00:00"
    src_ip, src_ips = _ip_range(args.src_ip or defaults[0])
    dst_ip, dst_ips = _ip_range(args.dst_ip or defaults[1])
    for ip in (src_ip, dst_ip):
        if (ip.version == 6) != args.ipv6:
            raise UsageError(f"address {ip} is IPv{ip.version}, the template is IPv{6 if args.ipv6 else 4} (-6 picks IPv6)")
    if args.src_mac:
        src_mac = args.src_mac
    if src_mac is None:
        src_mac = link_info(where)["mac"]
    rate, link, payload = values["rate"], values["link_bps"], values["payload"]
    if rate is not None and rate.link_share is not None and link is None:
        link = link_bps(where)
    return GenConfig(
        where=where, src_mac=parse_mac(src_mac), dst_mac=parse_mac(dst_mac),
        src_ip=src_ip, dst_ip=dst_ip, src_ips=src_ips, dst_ips=dst_ips,
        sports=_port_range(args.sport, "--sport"), dports=_port_range(args.dport, "--dport"),
        vary=args.vary, frame=values["frame"], flows=args.flows, seed=args.seed, stamp=not (args.no_stamp or payload),
        backend=args.backend, batch=args.batch, count=args.count, duration=args.duration, rate=rate,
        link_bps=link, workers=args.workers, cpus=_cpus(args.cpu), interval=args.interval, json=args.json,
        qdisc_bypass=not args.no_bypass, linear=not args.no_linear, gso=not args.no_gso, copy=args.copy, ttl=args.ttl, tos=args.tos, df=not args.no_df,
        ip_id=args.ip_id or 0, payload=payload, exit_after_setup=args.exit_after_setup,
    )


def _run_in_lab(args, node: str, body) -> int:
    """Resolve where to run, run body(where, topo), remove a lab this run created."""
    from wirespeed import lab

    where, topo, created = _where(args, node)
    try:
        body(where, topo)
    finally:
        if created:
            lab.down(topo.name)
    return 0


def _reporter(args, tool: str):
    from wirespeed.stats import Reporter

    return Reporter(tool, args.json, output.console())


def _cmd_gen(args) -> int:
    from wirespeed import gen

    values = _gen_values(args)
    def body(where, topo):
        peer = None
        if topo is not None:
            far = topo.peer(topo.endpoints("gen")[0])
            peer = Where(far.ifname, topo.netns(far.node))
        gen.run(_gen_config(args, values, where, topo), _reporter(args, "gen"), peer=peer)

    from wirespeed.ports import Where

    return _run_in_lab(args, "gen", body)


def _cmd_sink(args) -> int:
    from wirespeed import sink

    def body(where, topo):
        bind = args.bind or (topo.endpoints("sink")[0].address if topo else "0.0.0.0")
        cfg = sink.SinkConfig(
            where=where, backend=args.backend, bind_ip=bind, port=args.port, filter_port=args.filter_port,
            count=args.count, duration=args.duration, interval=args.interval, json=args.json,
            workers=args.workers, cpus=_cpus(args.cpu), batch=args.batch, xdp_mode=args.xdp_mode,
            copy=args.copy, exit_after_setup=args.exit_after_setup,
        )
        sink.run(cfg, _reporter(args, "sink"))

    return _run_in_lab(args, "sink", body)


def _cmd_fwd(args) -> int:
    from wirespeed import fwd, hooks, lab
    from wirespeed.ports import Where

    hook = hooks.load(args.hook) if args.hook else None
    if bool(args.inp) != bool(args.out):
        raise UsageError("fwd takes both IN and OUT, or neither (the lab's fwd node)")
    if args.inp:
        if args.lab:
            raise UsageError("give IN OUT or --lab, not both")
        from wirespeed.netdev import link_info

        inp, out, topo, created = Where(args.inp, args.netns), Where(args.out, args.netns), None, False
        link_info(inp), link_info(out)
    else:
        lab.require_root("wirespeed fwd in the lab")
        topo, created = lab.resolve(lab.check_name(args.lab_name), args.lab, topology="chain")
        ends = topo.endpoints("fwd")
        inp, out = (Where(e.ifname, topo.netns("fwd")) for e in ends)
    try:
        cfg = fwd.FwdConfig(
            inp=inp, out=out, backend=args.backend, batch=args.batch, hook=hook, hook_name=args.hook or "none",
            qdisc=args.qdisc, limit=args.limit, bulk=not args.no_bulk, bypass=not args.no_bypass,
            byte_budget=args.byte_budget, pool_bufs=args.pool, count=args.count, duration=args.duration,
            interval=args.interval, idle_stop=args.idle_stop, cpu=args.cpu, copy=args.copy, xdp_mode=args.xdp_mode,
            zero_copy=not args.no_zero_copy,
            json=args.json, exit_after_setup=args.exit_after_setup,
        )
        fwd.run(cfg, _reporter(args, "fwd"))
    finally:
        if created:
            lab.down(topo.name)
    return 0


def _add_common_tool_args(p, batch_default: int, backends: tuple[str, ...]) -> None:
    p.add_argument("iface", nargs="?", metavar="IFACE", help="interface (default: the lab's)")
    p.add_argument("--netns", help="network namespace IFACE lives in")
    p.add_argument("--lab", action="store_true", help="create the lab if it is not up (and remove it after)")
    p.add_argument("--lab-name", default="lab", help="lab name (default: lab)")
    p.add_argument("--backend", choices=backends, default="afpacket")
    p.add_argument("-b", "--batch", type=_positive_int, default=batch_default, help=f"frames per batch (default {batch_default})")
    p.add_argument("-c", "--count", type=_positive_int, help="stop after this many packets")
    p.add_argument("-d", "--duration", type=_positive_float, metavar="S", help="stop after this many seconds")
    p.add_argument("-w", "--workers", type=_positive_int, default=1, help="worker processes, one per CPU")
    p.add_argument("--cpu", metavar="LIST", help="CPUs for the workers, e.g. 1 or 0,1")
    p.add_argument("-i", "--interval", type=_positive_float, default=1.0, metavar="S", help="stats interval (default 1 s)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("-C", "--copy", choices=("auto", "copy", "zc"), default="auto",
                   help="AF_XDP: zero-copy (zc), copy, or zc when the driver offers it (auto)")
    p.add_argument("-m", "--xdp-mode", choices=("native", "skb", "auto"), default="native",
                   help="XDP backends: driver (native) or generic (skb) attach; auto tries native first")
    p.add_argument("--exit-after-setup", action="store_true", help="open everything, then stop (smoke tests)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="wirespeed", description="Move packets at the kernel's ceiling; see where every ns goes.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser("budget", help="per-packet time budget and this host's cost of each primitive")
    b.add_argument("--link", action="append", metavar="SPEED", help="link speed, e.g. 10G (repeatable; default 1G…400G)")
    b.add_argument("--frame", action="append", metavar="BYTES", help="frame size 64…9216 incl. FCS, or imix (repeatable)")
    b.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    b.add_argument("--no-profile", action="store_true", help="budget table only; skip the cost measurements")
    b.add_argument("--cpu", type=int, help="CPU to pin the measurements to (default: the last one)")
    b.add_argument("--time", type=_positive_float, default=0.2, metavar="S", help="seconds per repetition (default 0.2)")
    b.add_argument("--reps", type=_positive_int, default=3, help="repetitions per operation (default 3)")
    b.add_argument("--mem-size", type=_size, metavar="SIZE", help="buffer for the memory-miss chase (default 4×LLC, ≤2G)")
    b.set_defaults(func=_cmd_budget)

    g = sub.add_parser("gen", help="traffic generator")
    from wirespeed.gen import BACKENDS as GEN_BACKENDS
    from wirespeed.sink import BACKENDS as SINK_BACKENDS

    _add_common_tool_args(g, 64, GEN_BACKENDS)
    g.add_argument("-6", "--ipv6", action="store_true", help="IPv6 template (default IPv4)")
    g.add_argument("--src-mac")
    g.add_argument("--dst-mac")
    g.add_argument("--src-ip", metavar="A[-B]", help="source address or range")
    g.add_argument("--dst-ip", metavar="A[-B]", help="destination address or range")
    g.add_argument("--sport", default="9", metavar="P[-Q]", help="UDP source port or range (default 9)")
    g.add_argument("--dport", default="9", metavar="P[-Q]", help="UDP destination port or range (default 9)")
    g.add_argument("--vary", choices=("inc", "random"), default="inc", help="how ranges are walked")
    g.add_argument("--flows", type=_positive_int, default=0, help="incrementing fields cycle over N flows")
    g.add_argument("--seed", type=int, default=1, help="seed for --vary random")
    g.add_argument("-s", "--size", default="64", help="frame size incl. FCS, or imix (default 64)")
    g.add_argument("--ttl", type=int, default=64, choices=range(0, 256), metavar="N")
    g.add_argument("--tos", type=int, default=0, choices=range(0, 256), metavar="N", help="TOS / traffic class")
    g.add_argument("--no-df", action="store_true", help="IPv4: clear don't-fragment")
    g.add_argument("--ip-id", type=int, choices=range(0, 65536), metavar="N", help="IPv4 identification")
    g.add_argument("--no-stamp", action="store_true", help="no pktgen header (magic, seq, timestamp)")
    g.add_argument("--payload", metavar="HEX", help="fixed UDP payload instead of the pktgen header, zero-padded")
    g.add_argument("-r", "--rate", help="500kpps, 1.5mpps, 2gbit (L1), 50%% of the link")
    g.add_argument("--link", metavar="SPEED", help="link speed for %% rates when the interface reports none")
    g.add_argument("--no-gso", action="store_true", help="UDP: one message per datagram instead of GSO batches")
    g.add_argument("--no-bypass", action="store_true", help="AF_PACKET: go through the qdisc")
    g.add_argument("--no-linear", action="store_true",
                   help="AF_PACKET: let the kernel reference ring pages (trafgen's path) instead of copying frames")
    g.set_defaults(func=_cmd_gen)

    k = sub.add_parser("sink", help="receiver: counts, loss, reordering, latency")
    _add_common_tool_args(k, 256, SINK_BACKENDS)
    f = sub.add_parser("fwd", help="forward IN -> user code per batch -> qdisc -> OUT")
    f.add_argument("inp", nargs="?", metavar="IN", help="receiving interface (default: the lab's fwd node)")
    f.add_argument("out", nargs="?", metavar="OUT", help="transmitting interface")
    f.add_argument("--netns", help="network namespace IN and OUT live in")
    f.add_argument("--lab", action="store_true", help="create the chain lab if it is not up (and remove it after)")
    f.add_argument("--lab-name", default="lab", help="lab name (default: lab)")
    f.add_argument("--backend", choices=("afpacket", "xdp"), default="afpacket")
    f.add_argument("-b", "--batch", type=_positive_int, default=64, help="frames per batch (default 64)")
    f.add_argument("--hook", metavar="SPEC", help="mac-swap, ttl-dec, drop-udp:PORT or module:function")
    f.add_argument("--qdisc", choices=("pfifo", "prio"), default="pfifo", help="prio: 3 bands by DSCP")
    f.add_argument("--limit", type=_positive_int, default=1024, help="qdisc packets per band (default 1024)")
    f.add_argument("--byte-budget", type=_positive_int, default=65536, help="bytes per bulk dequeue (default 64 KiB)")
    f.add_argument("--no-bulk", action="store_true", help="dequeue one packet per token (the unbatched cost)")
    f.add_argument("--no-bypass", action="store_true", help="always enqueue, even into an empty queue")
    f.add_argument("--pool", type=_positive_int, default=8192, help="pool buffers (default 8192 of 2 KiB)")
    f.add_argument("-c", "--count", type=_positive_int, help="stop after receiving this many packets")
    f.add_argument("-d", "--duration", type=_positive_float, metavar="S", help="stop after this many seconds")
    f.add_argument("--idle-stop", type=_positive_float, metavar="S", help="stop S seconds after traffic stops")
    f.add_argument("--cpu", type=int, help="CPU to pin the forwarder to")
    f.add_argument("-i", "--interval", type=_positive_float, default=1.0, metavar="S", help="stats interval (default 1 s)")
    f.add_argument("--json", action="store_true", help="one JSON object per line")
    f.add_argument("--exit-after-setup", action="store_true", help="open everything, then stop (smoke tests)")
    f.add_argument("-C", "--copy", choices=("auto", "copy", "zc"), default="auto", help="AF_XDP copy mode")
    f.add_argument("--no-zero-copy", action="store_true",
                   help="xdp: copy frames through the pool instead of sending from the shared UMEM")
    f.add_argument("-m", "--xdp-mode", choices=("native", "skb", "auto"), default="native", help="XDP attach mode")
    f.set_defaults(func=_cmd_fwd)

    k.add_argument("--port", type=_udp_port, default=9, help="UDP port to bind (udp) or count (--filter-port)")
    k.add_argument("--bind", metavar="ADDR", help="UDP: address to bind (default: the lab's sink address)")
    k.add_argument("--filter-port", action="store_true", help="AF_PACKET: count only UDP to --port as traffic")
    k.set_defaults(func=_cmd_sink)

    lab = sub.add_parser("lab", help="network namespaces joined by veth pairs")
    lsub = lab.add_subparsers(dest="action", required=True, parser_class=_Parser)
    for action, text in (("up", "create (idempotent)"), ("down", "remove"), ("status", "show every wirespeed namespace")):
        a = lsub.add_parser(action, help=text)
        a.add_argument("--json", action="store_true", help="one JSON object per line")
        if action != "status":
            a.add_argument("--name", default=None, help="lab name (default: lab)")
        if action == "up":
            a.add_argument("--topology", choices=sorted(lab_topologies()), default="pair")
        if action == "down":
            a.add_argument("--all", action="store_true", help="remove every wirespeed namespace, leftovers included")
        a.set_defaults(func=_cmd_lab)
    return p


def lab_topologies():
    from wirespeed.lab import TOPOLOGIES

    return TOPOLOGIES


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "func", None) is _cmd_lab and args.action != "status":
            args.name_given = args.name is not None
            args.name = args.name or "lab"
        return args.func(args)
    except WirespeedError as e:
        print(f"wirespeed: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print("wirespeed: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
