"""Command line: a thin layer. Options are parsed into typed values once (cli.options), the
interface is resolved once (the one named, or the lab's), and the tool runs with its config.

Every user mistake ends as one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from wirespeed import __version__, core, ports
from wirespeed.base import output
from wirespeed.base.errors import UsageError, WirespeedError
from wirespeed.base.units import RATE_HELP
from wirespeed import options as opt


def _cmd_budget(args) -> int:
    from wirespeed.base.units import DEFAULT_LINKS, default_frames, frame, parse_frame, parse_link
    from wirespeed.tools import budget

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
        queues = lab.check_queues(args.queues, lambda text: print(f"wirespeed: note: {text}", file=sys.stderr))
        topo = lab.up(args.name, args.topology, force=args.force, queues=queues)
        rows = [r for r in lab.status() if r.get("lab") == topo.name]
    elif args.action == "down":
        if args.all and args.name_given:
            raise UsageError("wirespeed lab down: give --name or --all, not both")
        gone = lab.down(None if args.all else lab.check_name(args.name))
        if args.json:
            output.print_json({"removed": gone})
        else:
            print(f"removed {len(gone)} object(s){': ' + ' '.join(gone) if gone else ''}")
        return 0
    else:
        rows = lab.status()
    if args.json:
        for r in rows:
            output.print_json(r)
        return 0
    ifaces = [r for r in rows if r["kind"] == "interface"]
    shms = [r for r in rows if r["kind"] == "shm"]
    if not rows:
        print("no wirespeed namespaces")
    con = output.console()
    if ifaces:
        con.print(output.make_table(
            "wirespeed lab",
            ["<lab", "<node", "<netns", "<interface", "<mac", "<address", "<state", "queues", "<rps cpus", "<xdp", "<"],
            [(r["lab"], r["node"], r["netns"], r["ifname"] or "-", r["mac"] or "-", " ".join(r["addresses"]) or "-",
              r["state"] or "-", str(r.get("queues") or "-"), ",".join(map(str, r.get("rps_cpus") or [])) or "-",
              (f"id {r['xdp']['id']} ({r['xdp']['mode']})" + (" LEFTOVER" if r["xdp"]["leftover"] else ""))
              if r["xdp"] else "-",
              "LEFTOVER (its run is gone)" if r["leftover"] else "")
             for r in ifaces]))
    if shms:
        con.print(output.make_table(
            "wirespeed shared memory (/dev/shm)", ["<name", "bytes", "pid", "<"],
            [(r["name"], f"{r['bytes']:,}", str(r["pid"]), "LEFTOVER (its process is gone)" if r["leftover"] else "")
             for r in shms]))
    if any(r.get("leftover") or (r.get("xdp") or {}).get("leftover") for r in rows):
        con.print("leftovers: 'wirespeed lab down --all' removes them", style="dim")
    return 0


def _in_place(args, node: str, ifnames: list[str], body, topology: str = "pair") -> int:
    """Run body(place) where the tool runs (the one resolver, api.Place); a lab made for the run
    (--lab) is removed after it."""
    from wirespeed import api

    place = api.Place(ifnames, args.netns, args.lab_name, node, topology, make=args.lab,
                      what=f"wirespeed {args.command} in the lab")
    try:
        body(place)
    finally:
        place.close()
    return 0


def _reporter(args, tool: str):
    from wirespeed.runner.stats import Reporter

    rep = Reporter(tool, args.json, output.console())
    rep.options = cli_options(args)
    rep.prometheus = getattr(args, "prometheus", None)
    return rep


def cli_options(args) -> dict:
    """The run's options by their long names, as the user wrote them (the command line, a
    --config file), then every other option's default: what --config takes back."""
    from wirespeed.runner.record import plain

    given = getattr(args, "given", {})
    out = {"command": args.command}
    for dest, value in sorted(vars(args).items()):
        if dest in ("func", "command", "given", "config", "json", "prometheus", "exit_after_setup", "show_program"):
            continue
        if dest in given:
            out[dest] = given[dest]
        elif plain(value):
            out[dest] = value
    return out


def _run(tool_run, cfg, args, tool: str) -> None:
    tool_run(cfg, _reporter(args, tool))


# Where an API keyword's value sits in the parsed command line when the option is not spelled
# as the keyword: a switch that turns a default off, or a file option named for its file.
NEGATED = {"df": "no_df", "stamp": "no_stamp", "bulk": "no_bulk", "bypass": "no_bypass_qdisc", "latency": "no_latency"}
RENAMED = {"hist": "hist_file", "write": "write_file"}


def api_options(fn, args, **given) -> dict:
    """The keywords of API function `fn` that the command line has, read from the parsed `args`
    (already typed by the parser), then `given`: the one forwarding from the CLI to the API."""
    import inspect

    out = {}
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind == p.VAR_KEYWORD:  # the backend options of args.command, as the registry has them
            out.update({o.name: getattr(args, o.name) for o in ports.options_of(args.command)})
        if p.kind != p.KEYWORD_ONLY or name in given:
            continue
        if name in NEGATED and hasattr(args, NEGATED[name]):
            out[name] = not getattr(args, NEGATED[name])
        elif hasattr(args, RENAMED.get(name, name)):
            out[name] = getattr(args, RENAMED.get(name, name))
    return {**out, **given}


def _cmd_gen(args) -> int:
    from wirespeed import api
    from wirespeed.tools import gen

    opt.check_backend_options(args)
    options = api_options(api.gen_config_at, args)
    gen.check_pace(args.backend, args.pace, args.rate)
    if args.pcap is None:  # before anything opens
        if args.ipv6 and (args.ip_id is not None or args.no_df):
            raise UsageError("--ip-id and --no-df are IPv4 header fields; an IPv6 template has neither")
        gen.check_frame(args.size, args.ipv6, not (args.no_stamp or args.payload), args.payload or b"")
    else:
        from wirespeed.tools import replay

        replay.file_ok(args.pcap)
    return _in_place(args, "gen", [args.iface] if args.iface else [],
                     lambda r: _run(gen.run, api.gen_config_at(r.wheres[0], r.topo, **options), args, "gen"))


def _cmd_sink(args) -> int:
    from wirespeed import api
    from wirespeed.tools import sink

    opt.check_backend_options(args)

    def body(r) -> None:
        cfg = api.sink_config_at(r.wheres[0], r.topo, **api_options(api.sink_config_at, args))
        _run(sink.run, cfg, args, "sink")

    return _in_place(args, "sink", [args.iface] if args.iface else [], body)


def _cmd_fwd(args) -> int:
    from wirespeed import api
    from wirespeed.tools import fwd, hooks

    opt.check_backend_options(args)
    hook = hooks.load(args.hook) if args.hook else None
    if bool(args.inp) != bool(args.out):
        raise UsageError("fwd takes both IN and OUT, or neither (the lab's fwd node)")

    def body(r) -> None:
        cfg = api.fwd_config_at(r.wheres[0], r.wheres[1],
                                **api_options(api.fwd_config_at, args, hook=hook, hook_name=args.hook))
        _run(fwd.run, cfg, args, "fwd")

    return _in_place(args, "fwd", [args.inp, args.out] if args.inp else [], body, topology="chain")


def _cmd_search(args) -> int:
    from wirespeed import api
    from wirespeed.tools import search

    opt.check_backend_options(args)
    rep = search.SearchReporter("search", args.json, output.console())
    api.search(**api_options(api.search, args, lab=args.lab, reporter=rep,
                             record_options={k: v for k, v in vars(args).items() if k != "func"}))
    return 0


def _cmd_bench(args) -> int:
    import datetime
    import time

    from wirespeed.tools import bench, report

    sections = tuple(x.strip() for x in args.sections.split(",")) if args.sections else bench.SECTIONS
    out = args.out or f"wirespeed-report-{datetime.date.today().isoformat()}"
    old = bench.load_compare(args.compare) if args.compare else None
    cfg = bench.BenchConfig(out=out, sections=sections, full=args.full, compare=old, install=not args.no_install)
    bench.check(cfg)
    err = output.err_console()
    t0 = time.monotonic()
    if err.is_terminal:
        status = err.status("wirespeed bench")
        status.start()

        def progress(section: str, step: str) -> None:
            status.update(f"[{time.monotonic() - t0:5.0f} s] {section}: {step}")
    else:
        status = None

        def progress(section: str, step: str) -> None:
            print(f"[{time.monotonic() - t0:5.0f} s] {section}: {step}", file=sys.stderr, flush=True)

    try:
        results = bench.run(cfg, progress, lambda text: err.print(f"note: {text}", style="dim"))
    finally:
        if status is not None:
            status.stop()
    path = report.render(results, out, old)
    done = sum(1 for v in results["sections"].values() if v["status"] == "done")
    print(f"report: {os.path.abspath(path)} ({done} of {len(bench.SECTIONS)} sections measured in "
          f"{results['seconds']:.0f} s; results.json beside it)")
    return 0


GEN_EXAMPLES = """examples:
  wirespeed gen -d 3                                 as fast as one CPU goes, in the lab
  wirespeed gen -c 1000000 -r 500kpps --sport 1000-1999 --flows 64
  wirespeed gen eth1 --dst-mac 02:00:00:00:00:02 --backend xdp -r 1.5mpps -s 64
"""
SINK_EXAMPLES = """examples:
  wirespeed sink -d 10                               count, loss and latency in the lab
  wirespeed sink --backend xdp-count -d 10           the host's receive ceiling
  wirespeed sink eth1 --backend udp --bind 198.18.0.2 --port 9
"""
FWD_EXAMPLES = """examples:
  wirespeed fwd --hook mac-swap -d 8 --cpu 0         the lab's chain: gen -- fwd -- sink
  wirespeed fwd --backend xdp -d 8                   AF_XDP both sides, zero copy
  wirespeed fwd eth1 eth2 --hook mymod:hook --qdisc prio
"""


SEARCH_EXAMPLES = """examples:
  wirespeed search --lab --dut kernel               NDR and PDR of Linux forwarding, in the lab
  wirespeed search --lab --dut fwd --hook mac-swap -s 64,512,1518
  wirespeed search --preset csit --tx eth1 --rx eth2 --dst-mac 02:00:00:00:00:01 --link 10G
"""


def _tool(sub, name: str, help_text: str, examples: str) -> opt.Parser:
    return sub.add_parser(name, help=help_text, description=help_text, epilog=examples,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    p = opt.Parser(prog="wirespeed", description="Move packets at the kernel's ceiling; see where every ns goes.")
    p.add_argument("--version", action="version", version=f"wirespeed {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=opt.Parser)

    b = sub.add_parser("budget", help="per-packet time budget and this host's cost of each primitive")
    b.add_argument("--link", action="append", metavar="SPEED", help="link speed, e.g. 10G (repeatable; default 1G…400G)")
    b.add_argument("--frame", action="append", metavar="BYTES", help="frame size 64…9216 incl. FCS, or imix (repeatable)")
    b.add_argument("--json", action="store_true", help="one JSON object instead of tables")
    b.add_argument("--no-profile", action="store_true", help="budget table only; skip the cost measurements")
    b.add_argument("--cpu", type=opt.cpu, help="CPU to pin the measurements to (default: the last one)")
    b.add_argument("--time", type=opt.positive_float, default=0.2, metavar="S", help="seconds per repetition (default 0.2)")
    b.add_argument("--reps", type=opt.positive_int, default=3, help="repetitions per operation (default 3)")
    b.add_argument("--mem-size", type=opt.size, metavar="SIZE", help="buffer for the memory-miss chase (default 4×LLC, ≤2G)")
    b.set_defaults(func=_cmd_budget)

    g = _tool(sub, "gen", "traffic generator", GEN_EXAMPLES)
    g.add_argument("iface", nargs="?", metavar="IFACE", help="interface to send on (default: the lab's gen node)")
    opt.add_where(g)
    t = g.add_argument_group("template")
    t.add_argument("-6", "--ipv6", action="store_true", help="IPv6 template (default IPv4)")
    t.add_argument("-s", "--size", type=opt.frame_mix, default=opt.frame_mix("64"),
                   help="frame size incl. FCS, or imix (default 64)")
    t.add_argument("--src-mac", type=opt.mac)
    t.add_argument("--dst-mac", type=opt.mac)
    t.add_argument("--src-ip", type=opt.ip_range, metavar="A[-B]", help="source address or range")
    t.add_argument("--dst-ip", type=opt.ip_range, metavar="A[-B]", help="destination address or range")
    t.add_argument("--sport", type=opt.port_range, default=opt.port_range("9"), metavar="P[-Q]",
                   help="UDP source port or range (default 9)")
    t.add_argument("--dport", type=opt.port_range, default=opt.port_range("9"), metavar="P[-Q]",
                   help="UDP destination port or range (default 9)")
    t.add_argument("--vary", choices=("inc", "random"), default="inc", help="how ranges are walked")
    t.add_argument("--flows", type=opt.positive_int, default=0, help="incrementing fields cycle over N flows")
    t.add_argument("--seed", type=int, default=1, help="seed for --vary random")
    t.add_argument("--ttl", type=opt.byte_value, default=64, metavar="N", help="IPv4 TTL / IPv6 hop limit (default 64)")
    t.add_argument("--tos", type=opt.byte_value, default=0, metavar="N", help="TOS / traffic class")
    t.add_argument("--no-df", action="store_true", help="IPv4: clear don't-fragment")
    t.add_argument("--ip-id", type=opt.u16_value, metavar="N", help="IPv4 identification")
    t.add_argument("--no-stamp", action="store_true", help="no pktgen header (magic, seq, timestamp)")
    t.add_argument("--payload", type=opt.hex_bytes, metavar="HEX", help="fixed UDP payload instead of the pktgen header")
    pc = g.add_argument_group("replay (instead of a template)")
    pc.add_argument("--pcap", metavar="FILE",
                    help="send this capture's frames (afpacket, xdp); --src-mac, --dst-mac, --src-ip, --dst-ip "
                         "are written into every frame, checksums fixed; in the lab its MACs are")
    pc.add_argument("--timing", choices=("rate", "original"), default="rate",
                    help="rate: -r, or as fast as possible (default); original: the capture's own gaps")
    pc.add_argument("--speed", type=opt.positive_float, default=1.0, metavar="X",
                    help="--timing original: X times faster (default 1)")
    pc.add_argument("--loop", type=int, default=1, metavar="N", help="passes over the capture (0: until -c/-d)")
    r = g.add_argument_group("rate")
    r.add_argument("-r", "--rate", type=opt.rate, help=RATE_HELP)
    r.add_argument("--link", type=opt.link_bps, metavar="SPEED",
                   help="link speed for %% rates when the interface reports none")
    r.add_argument("--max-burst", type=opt.positive_int, default=core.PACE_MAX_BURST, metavar="N",
                   help="with -r: after a stall at most N frames go ahead of the smooth schedule; the slots "
                        "missed beyond that are skipped and counted, never sent later (default %(default)s)")
    r.add_argument("--pace", choices=("user", "kernel"), default="user",
                   help="with -r: who times each frame: user (the send loop, default) or kernel (--backend udp: "
                        "each datagram carries its departure time, SO_TXTIME, and the fq qdisc holds it until "
                        "then, so departures survive user-space stalls)")
    run = opt.add_run(g, 64, ports.names(transmit=True))
    opt.add_backend_options(g, "gen")
    opt.add_output(g)
    g.set_defaults(func=_cmd_gen)

    k = _tool(sub, "sink", "receiver: counts, loss, reordering, latency", SINK_EXAMPLES)
    k.add_argument("iface", nargs="?", metavar="IFACE", help="interface to receive on (default: the lab's sink node)")
    opt.add_where(k)
    run = opt.add_run(k, 256, ports.names(receive=True))
    run.add_argument("--port", type=opt.udp_port, default=9, help="UDP port to bind (udp) or count (--filter-port)")
    run.add_argument("--count-only", action="store_true",
                     help="count frames and bytes only: no header is read (no loss, reordering or latency)")
    run.add_argument("--spin", action="store_true",
                     help="never sleep on an empty ring (takes its CPU whole; by default the receiver looks again "
                          "for 100 µs, then waits in poll())")
    run.add_argument("--write", metavar="FILE", dest="write_file",
                     help="afpacket, xdp: write every frame received to FILE as pcap (nanosecond timestamps), "
                          "in C, as it is accounted")
    run.add_argument("--snaplen", type=opt.positive_int, default=65535, metavar="BYTES",
                     help="--write: bytes of each frame kept (default 65535)")
    run.add_argument("--write-count", type=opt.count, metavar="N", help="--write: at most N frames")
    run.add_argument("--hist", metavar="FILE", dest="hist_file",
                     help="write the latency histogram at the end, as HdrHistogram's percentile distribution "
                          "(.hgrm, values in µs)")
    opt.add_backend_options(k, "sink")
    opt.add_output(k)
    k.set_defaults(func=_cmd_sink)

    f = _tool(sub, "fwd", "forward IN -> user code per batch -> qdisc -> OUT", FWD_EXAMPLES)
    f.add_argument("inp", nargs="?", metavar="IN", help="receiving interface (default: the lab's fwd node)")
    f.add_argument("out", nargs="?", metavar="OUT", help="transmitting interface")
    opt.add_where(f, "IN and OUT")
    run = opt.add_run(f, 64, ports.names(forward=True), workers=False)
    run.add_argument("--idle-stop", type=opt.duration, metavar="T", help="stop this long after traffic stops")
    run.add_argument("-w", "--workers", type=opt.positive_int, default=1,
                     help="forwarders, each on its own CPU: xdp, worker i on IN's RX queue i and OUT's TX queue i; "
                          "afpacket, a fanout group on IN")
    run.add_argument("--pool", type=opt.positive_int, default=8192, help="pool buffers (default 8192 of 2 KiB)")
    run.add_argument("--buffers", choices=("pool", "malloc"), default="pool",
                     help="malloc: a malloc'd buffer per packet instead of the pool (the talk's comparison)")
    opt.add_backend_options(f, "fwd")
    q = f.add_argument_group("user code and queueing")
    q.add_argument("--hook", metavar="SPEC", help="mac-swap, ttl-dec, drop-udp:PORT or module:function")
    q.add_argument("--qdisc", choices=("pfifo", "prio"), default="pfifo", help="prio: 3 bands by DSCP")
    q.add_argument("--limit", type=opt.positive_int, default=1024, help="qdisc packets per band (default 1024)")
    q.add_argument("--byte-budget", type=opt.positive_int, default=65536, help="bytes per bulk dequeue (default 64 KiB)")
    q.add_argument("--no-bulk", action="store_true", help="dequeue one packet per token (the unbatched cost)")
    q.add_argument("--no-bypass", dest="no_bypass_qdisc", action="store_true",
                   help="always enqueue, even into an empty queue")
    opt.add_output(f)
    f.set_defaults(func=_cmd_fwd)

    z = _tool(sub, "search", "zero-loss and partial-loss throughput of a path (RFC 9971, MLRsearch)",
              SEARCH_EXAMPLES)
    pth = z.add_argument_group("the path under test")
    pth.add_argument("--dut", default="none", metavar="KIND",
                     help="in the lab: none (gen and sink back to back: the tester's own ceiling), kernel (Linux "
                          "IP forwarding in the middle), fwd (wirespeed fwd in the middle); path: your own")
    pth.add_argument("--lab", action="store_true", help="create the lab if it is not up (and remove it after)")
    pth.add_argument("--lab-name", default="lab", help="lab name (default: lab)")
    pth.add_argument("--tx", metavar="IFACE", help="your path: the interface to send on")
    pth.add_argument("--tx-netns", metavar="NS")
    pth.add_argument("--rx", metavar="IFACE", help="your path: the interface to receive on")
    pth.add_argument("--rx-netns", metavar="NS")
    pth.add_argument("--src-mac", type=opt.mac)
    pth.add_argument("--dst-mac", type=opt.mac, help="your path: the MAC of the DUT's ingress")
    pth.add_argument("--src-ip", help="default 198.18.0.1")
    pth.add_argument("--dst-ip", help="default 198.18.1.2 (the lab's sink)")
    pth.add_argument("--fwd-backend", choices=ports.names(forward=True), default="afpacket",
                     help="--dut fwd: its backend (" + "; ".join(f"{n}: {ports.BACKENDS[n].summary}"
                                                             for n in ports.names(forward=True)) + ")")
    pth.add_argument("--hook", metavar="SPEC", help="--dut fwd: its per-batch hook")
    m = z.add_argument_group("method (RFC 9971)")
    m.add_argument("--preset", choices=("quick", "csit", "rfc2544", "tst009"), default="quick",
                   help="quick (the lab, <= 60 s), csit (1 s trials, sum 21 s, width 0.5 %%), rfc2544 (60 s "
                        "trials, loss 0), tst009 (10 s trials, loss 0 and 0.1 %%)")
    m.add_argument("--goal", action="append", metavar="NAME:LOSS[:EXCEED]",
                   help="a goal instead of the preset's (repeatable), e.g. NDR:0 PDR:0.005:0.5")
    m.add_argument("--final-trial-duration", type=opt.duration, metavar="T")
    m.add_argument("--duration-sum", type=opt.duration, metavar="T")
    m.add_argument("--width", type=float, metavar="R", help="relative width of the result (0.005 = 0.5 %%)")
    m.add_argument("--min-load", type=opt.rate, metavar="RATE")
    m.add_argument("--max-load", type=opt.rate, metavar="RATE",
                   help="default: 95 %% of the generator's own back-to-back rate, measured first")
    m.add_argument("--link", type=opt.link_bps, metavar="SPEED", help="line rate (loads are clamped to it)")
    m.add_argument("--trial-wait", type=opt.duration, default=0.5, metavar="T",
                   help="the most to wait for the path to drain after a trial (default 0.5 s)")
    m.add_argument("--no-latency", action="store_true", help="skip the latency trials")
    t = z.add_argument_group("tester")
    t.add_argument("-s", "--size", default="64", help="frame sizes incl. FCS: 64, 64,512,1518 or imix")
    t.add_argument("--backend", choices=ports.names(transmit=True), default="afpacket",
                   help="the generator's backend (kernel: no latency, its frames carry no time)")
    t.add_argument("--rx-backend", choices=("auto", *ports.names(receive=True, payload_only=False)), default="auto",
                   help="the receiver's backend; auto (default): in the lab, throughput trials counted in the kernel "
                        "(xdp-count: exact and the cheapest on the tester's CPU), latency trials with afpacket")
    t.add_argument("-b", "--batch", type=opt.positive_int, default=64)
    t.add_argument("--max-burst", type=opt.positive_int, default=core.PACE_MAX_BURST, metavar="N",
                   help="the generator's catch-up bound after a stall, frames (default %(default)s)")
    t.add_argument("--cpu", type=opt.cpu, help="the tester's CPU (generator and receiver); in the lab the DUT "
                   "(--dut kernel, fwd) gets the other CPUs: RPS on its ingress, fwd pinned")
    t.add_argument("--no-place", dest="place", action="store_false",
                   help="leave the lab's CPUs as they are (the DUT's receive work then runs on the tester's CPU)")
    t.add_argument("--prepare-peer", action="store_true",
                   help="kernel: a veth peer with neither XDP nor GRO would drop every frame; attach XDP_PASS to "
                        "it for the search (the lab does this by itself)")
    t.add_argument("--json", action="store_true", help="one JSON object per line")
    z.set_defaults(func=_cmd_search)

    bn = _tool(sub, "bench", "the talk's experiment on this host: measure everything, write a report",
               """examples:
  wirespeed bench                                    about 3 minutes; report in wirespeed-report-<date>/
  wirespeed bench --full --out before                repetitions, more batch sizes
  wirespeed bench --sections transmit,receive --compare before/results.json
""")
    mode = bn.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the default: one repetition, four batch sizes (<= 3 min)")
    mode.add_argument("--full", action="store_true", help="three interleaved repetitions, six batch sizes")
    bn.add_argument("--out", metavar="DIR", help="where the report goes (default wirespeed-report-<date>)")
    bn.add_argument("--sections", metavar="LIST",
                    help="some of: budget, amortisation, transmit, receive, queueing, memory, forwarding, latency, where")
    bn.add_argument("--compare", metavar="OLD/results.json", help="a column of changes against an earlier run")
    bn.add_argument("--no-install", action="store_true", help="do not apt-get install missing peers (they are skipped)")
    bn.set_defaults(func=_cmd_bench)

    lab = sub.add_parser("lab", help="network namespaces joined by veth pairs")
    lsub = lab.add_subparsers(dest="action", required=True, parser_class=opt.Parser)
    for action, text in (("up", "create (idempotent)"), ("down", "remove"), ("status", "show every wirespeed namespace")):
        a = lsub.add_parser(action, help=text)
        a.add_argument("--json", action="store_true", help="one JSON object per line")
        if action != "status":
            a.add_argument("--name", default=None, help="lab name (default: lab)")
        if action == "up":
            a.add_argument("--topology", choices=sorted(_topologies()), default="pair")
            a.add_argument("--queues", type=int, default=1,
                           metavar="N", help="TX and RX queues of every veth (default 1); one per CPU lets -w N "
                                             "workers each own a queue (XDP backends)")
            a.add_argument("--force", action="store_true",
                           help="a lab up with another topology or queue count: remove it first")
        if action == "down":
            a.add_argument("--all", action="store_true",
                           help="remove every wirespeed namespace and every leftover (shared memory, orphaned workers)")
        a.set_defaults(func=_cmd_lab)
    return p


def _topologies():
    from wirespeed.lab import TOPOLOGIES

    return TOPOLOGIES


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP outside a run (while setting up): ends like Ctrl-C, cleaning up."""


def _interrupter(owner: int):
    """A handler for the process that installs it only: a child forked by a library (pyroute2
    forks helpers) that is sent SIGTERM must die of it, not unwind our clean-up code."""

    def handler(signum, frame):
        if os.getpid() != owner:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise Interrupted(signal.Signals(signum).name)

    return handler


def main(argv: list[str] | None = None) -> int:
    """Stop signals: during a run, SIGINT, SIGTERM and SIGHUP stop it and the summary is printed
    (exit 0); during set-up they undo what was set up and exit 0 with one line."""
    old = {sig: signal.signal(sig, _interrupter(os.getpid())) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _main(argv)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _show_programs(args) -> None:
    """--show-program: every BPF program the run loads is listed as it is loaded (by whichever
    process loads it), then the run stops after set-up: the listing is of this run's programs."""
    from wirespeed import bpf

    args.exit_after_setup = True

    def show(prog) -> None:
        if args.json:
            output.print_json({"type": "program", "tool": args.command, "name": prog.program.name, "id": prog.id,
                               "instructions": len(prog.program), "xlated_instructions": prog.xlated_bytes // 8,
                               "jited_bytes": prog.jited_bytes, "listing": prog.program.listing().splitlines()})
        else:
            print(prog.listing(), flush=True)

    bpf.SHOW = show


def _main(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "config", None):  # its options become defaults; the command line still wins
            sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
            defaults = opt.load_config(args.config, args.command, sub)
            from_file = defaults.pop("given", {})
            sub.set_defaults(**defaults)
            args = parser.parse_args(argv)
            args.given = {**from_file, **getattr(args, "given", {})}
        if getattr(args, "func", None) is _cmd_lab and args.action != "status":
            args.name_given = args.name is not None
            args.name = args.name or "lab"
        if getattr(args, "show_program", False):
            _show_programs(args)
        return args.func(args)
    except WirespeedError as e:
        print(f"wirespeed: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt as e:
        name = e.args[0] if isinstance(e, Interrupted) else "SIGINT"
        print(f"wirespeed: interrupted by {name} before the run started; nothing is left set up", file=sys.stderr)
        return 0
    except BrokenPipeError:
        return 0
