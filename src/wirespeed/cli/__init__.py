"""Command line: a thin layer. Options are parsed into typed values once (cli.options), the
interface is resolved once (the one named, or the lab's), and the tool runs with its config.

Every user mistake ends as one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from wirespeed import __version__, ports
from wirespeed.base import output
from wirespeed.base.errors import UsageError, WirespeedError
from wirespeed import options as opt


def _cmd_budget(args) -> int:
    from wirespeed.base.units import DEFAULT_LINKS, default_frames, frame
    from wirespeed.tools import budget

    links = tuple(dict.fromkeys(args.link)) if args.link else DEFAULT_LINKS
    frames = tuple(args.frame) if args.frame else default_frames()
    cfg = budget.BudgetConfig(
        links=links,
        frames=frames,
        selected_link=links[0] if args.link else "10G",
        selected_frame=frames[0] if args.frame else frame(64),
        measure=args.profile,
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


def _cmd_gen(args) -> int:
    from wirespeed import api
    from wirespeed.tools import gen

    opt.check_backend_options(args)
    options = opt.table_values(gen.OPTIONS, args)
    api.check_gen(**options)  # before anything opens
    return _in_place(args, "gen", [args.iface] if args.iface else [],
                     lambda r: _run(gen.run, api.gen_config_at(r.wheres[0], r.topo, **options), args, "gen"))


def _cmd_sink(args) -> int:
    from wirespeed import api
    from wirespeed.tools import sink

    opt.check_backend_options(args)

    def body(r) -> None:
        _run(sink.run, api.sink_config_at(r.wheres[0], r.topo, **opt.table_values(sink.OPTIONS, args)), args, "sink")

    return _in_place(args, "sink", [args.iface] if args.iface else [], body)


def _cmd_fwd(args) -> int:
    from wirespeed import api
    from wirespeed.tools import fwd, hooks

    opt.check_backend_options(args)
    if args.hook:
        hooks.find(args.hook)  # a hook that does not load is named before anything is set up
    if bool(args.inp) != bool(args.out):
        raise UsageError("fwd takes both IN and OUT, or neither (the lab's fwd node)")

    def body(r) -> None:
        _run(fwd.run, api.fwd_config_at(r.wheres[0], r.wheres[1], **opt.table_values(fwd.OPTIONS, args)), args, "fwd")

    return _in_place(args, "fwd", [args.inp, args.out] if args.inp else [], body, topology="chain")


def _cmd_search(args) -> int:
    from wirespeed import api
    from wirespeed.tools import search

    ports.check_workers(ports.backend(args.backend), 1)
    rep = search.SearchReporter("search", args.json, output.console())
    api.search(args.lab, lab_name=args.lab_name, reporter=rep, record_options=cli_options(args),
               **opt.table_values(search.OPTIONS, args))
    return 0


def _cmd_otg(args) -> int:
    from wirespeed.otg import server

    def note(text: str) -> None:
        if args.json:
            output.print_json({"type": "note", "tool": "otg", "text": text})
        else:
            print(f"wirespeed otg: {text}", file=sys.stderr, flush=True)

    def ready(srv) -> None:
        if args.json:
            output.print_json({"type": "start", "tool": "otg", "listen": srv.address, "grpc": srv.grpc_address,
                               "otg_version": srv.spec})
        else:
            also = f" and gRPC on {srv.grpc_address}" if srv.grpc_address else ""
            print(f"wirespeed otg: serving OTG {srv.spec} on http://{srv.address}{also} (Ctrl-C ends)",
                  file=sys.stderr, flush=True)

    o = opt.table_values(server.OPTIONS, args)
    try:
        server.serve(o["listen"], o["backend"], o["rx_backend"], o["batch"], note, ready, o["grpc"])
    except KeyboardInterrupt:
        note("stopped; every run it held is stopped and closed")
    return 0


def _cmd_drops(args) -> int:
    from wirespeed.tools import drops

    cfg = drops.config(**opt.table_values(drops.OPTIONS, args))
    drops.require_caps()
    con = output.console()

    def line(t: float, rows: list[dict], total: int) -> None:
        if args.json:
            output.print_json({"type": "interval", "tool": "drops", "t": round(t, 3), "drops": total,
                               "top": rows[:drops.TOP]})
        else:
            top = ", ".join(f"{r['reason']} {r['count']:,} ({r['netns']} {r['dev']} {r['function']})"
                            for r in rows[:drops.TOP])
            print(f"{t:7.1f} s  {total:>10,} dropped{': ' + top if top else ''}", flush=True)

    def start() -> None:
        if args.json:
            output.print_json({"type": "start", "tool": "drops", "netns": list(cfg.netns) or None})
        else:
            print("counting every dropped packet (kfree_skb); Ctrl-C ends", file=sys.stderr, flush=True)

    out = drops.run(cfg, line, start)
    if args.json:
        output.print_json(out)
        return 0
    cost = out["counter"]
    con.print(output.make_table(
        f"wirespeed drops: {out['total']:,} in {out['seconds']:.1f} s", ["<namespace", "<device", "<reason",
                                                                          "<function", "packets"],
        [(r["netns"], r["dev"], r["reason"], r["function"], f"{r['count']:,}") for r in out["drops"]],
        caption=f"counting cost {cost['ns_per_drop']} ns per drop (the program's own time, over {cost['runs']:,} "
                f"drops, timed by the kernel)" if cost["ns_per_drop"] is not None else None))
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

    from wirespeed.tools import budget, drops, fwd, gen, search, sink

    b = sub.add_parser("budget", help="per-packet time budget and this host's cost of each primitive")
    opt.add_table(b, budget.OPTIONS, {"run": [(("--json",), dict(action="store_true",
                                                                help="one JSON object instead of tables"))]})
    b.set_defaults(func=_cmd_budget)

    g = _tool(sub, "gen", "traffic generator", GEN_EXAMPLES)
    g.add_argument("iface", nargs="?", metavar="IFACE", help="interface to send on (default: the lab's gen node)")
    opt.add_table(g, gen.OPTIONS, opt.extras())
    g.set_defaults(func=_cmd_gen)

    k = _tool(sub, "sink", "receiver: counts, loss, reordering, latency", SINK_EXAMPLES)
    k.add_argument("iface", nargs="?", metavar="IFACE", help="interface to receive on (default: the lab's sink node)")
    opt.add_table(k, sink.OPTIONS, opt.extras())
    k.set_defaults(func=_cmd_sink)

    f = _tool(sub, "fwd", "forward IN -> user code per batch -> qdisc -> OUT", FWD_EXAMPLES)
    f.add_argument("inp", nargs="?", metavar="IN", help="receiving interface (default: the lab's fwd node)")
    f.add_argument("out", nargs="?", metavar="OUT", help="transmitting interface")
    opt.add_table(f, fwd.OPTIONS, opt.extras("IN and OUT"))
    f.set_defaults(func=_cmd_fwd)

    z = _tool(sub, "search", "zero-loss and partial-loss throughput of a path (RFC 9971, MLRsearch)",
              SEARCH_EXAMPLES)
    opt.add_table(z, search.OPTIONS, {search.PATH: opt.where(netns=False), "output": [opt.JSON, opt.CONFIG]})
    z.set_defaults(func=_cmd_search)

    from wirespeed.otg import server as otg_server

    og = _tool(sub, "otg", "an Open Traffic Generator server: snappi scripts drive wirespeed, on this host "
               "and on agents", """examples:
  wirespeed otg                                      OTG over HTTP on 127.0.0.1:8443 (snappi.api(location=...))
  wirespeed otg --listen 198.18.2.1:8443             an agent: a controller's config names its ports as
                                                     198.18.2.1:8443/NETNS/IFACE
""")
    opt.add_table(og, otg_server.OPTIONS, {"output": [opt.JSON]})
    og.set_defaults(func=_cmd_otg)

    dr = _tool(sub, "drops", "every packet the kernel drops: by namespace, device, reason and function",
               """examples:
  wirespeed drops -d 10                              what the kernel dropped in 10 s, everywhere
  wirespeed drops --netns ws-lab-fwd --json          one namespace, one JSON object per line
""")
    opt.add_table(dr, drops.OPTIONS, {"output": [opt.JSON]})
    dr.set_defaults(func=_cmd_drops)

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
