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
                ["<lab", "<node", "<netns", "<interface", "<mac", "<address", "<state"],
                [
                    (r["lab"], r["node"], r["netns"], r["ifname"] or "-", r["mac"] or "-",
                     " ".join(r["addresses"]) or "-", r["state"] or "-")
                    for r in rows
                ],
            )
        )
    return 0


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
