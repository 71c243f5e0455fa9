"""Option values parsed once, into typed values (argparse types), and the option groups the
tools share. A bad value becomes one line naming the option, exit status 2."""

from __future__ import annotations

import argparse
import ipaddress
import re

from wirespeed import ports
from wirespeed.base.errors import UsageError


NEGATIVE = re.compile(r"^-\d")


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, as for every other bad value
        where = self.prog.removeprefix("wirespeed").strip()
        raise UsageError(f"{where}: {message}" if where else message)

    def parse_known_args(self, args=None, namespace=None):
        """'-c -5' would read as two options (the parser has -6, so -5 looks like one): glue a
        negative value to the option before it, so its type says what is wrong with it."""
        args = list(args) if args is not None else None
        if args:
            out = []
            for a in args:
                prev = out[-1] if out else ""
                act = self._option_string_actions.get(prev)
                if NEGATIVE.match(a) and a not in self._option_string_actions and act is not None and act.nargs is None \
                        and act.option_strings and act.const is None and not isinstance(
                            act, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
                    out[-1] = f"{max(act.option_strings, key=len)}={a}"
                else:
                    out.append(a)
            args = out
        self._given: dict = {}
        ns, rest = super().parse_known_args(args, namespace)
        if self._given:  # a subcommand's parser: its options as written, for the run record
            ns.given = {**getattr(ns, "given", {}), **self._given}
        return ns, rest

    def _get_value(self, action, arg_string):
        if action.dest not in ("help", "command") and action.option_strings:
            getattr(self, "_given", {})[action.dest] = arg_string  # the words the user wrote
        return super()._get_value(action, arg_string)

    def options(self) -> dict:
        """dest -> action of every option this parser takes (what --config may set)."""
        return {a.dest: a for a in self._actions if a.option_strings and a.dest not in ("help", "config")}


def load_config(path: str, command: str, parser: Parser) -> dict:
    """--config FILE: options by their long names (dashes or underscores) from a TOML file, or
    the run record of a JSON start or summary line (what an earlier run printed), as typed
    defaults for `parser`; the command line still overrides each."""
    import json
    import tomllib

    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        raise UsageError(f"--config {path}: {e.strerror}") from None
    if text.lstrip().startswith(b"{"):
        table = None
        for line in text.decode(errors="replace").splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            rec = obj.get("record", obj) if isinstance(obj, dict) else None
            if isinstance(rec, dict) and isinstance(rec.get("options"), dict):
                table = rec["options"]
                break
        if table is None:
            raise UsageError(f"--config {path}: no run record (a JSON line with \"record\": {{\"options\": ...}})")
    else:
        try:
            table = tomllib.loads(text.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"--config {path}: {e}") from None
    table = dict(table)
    if table.pop("command", command) != command:
        raise UsageError(f"--config {path}: options of another command than wirespeed {command}")
    actions = parser.options()
    by_flag = {f: a for a in actions.values() for f in a.option_strings if f.startswith("--")}
    positionals = {a.dest for a in parser._actions if not a.option_strings}
    out = {}
    for key, value in table.items():
        dest = key.replace("-", "_")
        if dest in positionals:
            continue  # where to run (IFACE, IN OUT) is the command line's
        act = actions.get(dest)
        flag = act is None and by_flag.get("--" + key.replace("_", "-"))  # a switch by its flag: no-bypass = true
        if flag:
            act, dest = flag, flag.dest
        if act is None:
            raise UsageError(f"--config {path}: wirespeed {command} has no option {key!r}")
        if isinstance(act, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            if not isinstance(value, bool):
                raise UsageError(f"--config {path}: {key} is true or false, got {value!r}")
            out[dest] = (not value if isinstance(act, argparse._StoreFalseAction) else value) if flag else value
            continue
        if value is None or value == act.default:  # a default, as a record writes it: nothing to parse
            continue
        if act.choices is not None and value not in act.choices:
            raise UsageError(f"--config {path}: {key} must be one of {', '.join(map(str, act.choices))}, got {value!r}")
        try:
            out[dest] = act.type(str(value)) if act.type else value
        except argparse.ArgumentTypeError as e:
            raise UsageError(f"--config {path}: {key}: {e}") from None
        out.setdefault("given", {})[dest] = value
    return out


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive_float(text: str) -> float:
    value = _number(text, "number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _typed(parse):
    """An argparse type from a parser that raises UsageError: argparse names the option."""

    def convert(text: str):
        try:
            return parse(text)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = parse.__name__
    return convert


def duration(text: str) -> float:
    from wirespeed.base.units import parse_duration

    return _typed(parse_duration)(text)


def count(text: str) -> int:
    from wirespeed.base.units import parse_count

    return _typed(parse_count)(text)


MIN_INTERVAL_S = 0.1


def interval(text: str) -> float:
    from wirespeed.base.units import parse_duration

    value = _typed(parse_duration)(text)
    if value < MIN_INTERVAL_S:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_INTERVAL_S} s, got {text!r}")
    return value


def positive_int(text: str) -> int:
    from wirespeed.base.units import parse_positive_int

    return _typed(parse_positive_int)(text)


def udp_port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be 1..65535, got {text!r}")
    return value


def size(text: str) -> int:
    """'512M', '2G', '65536' -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmg]?)i?b?\s*", text, re.I)
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive size such as 512M or 2G, got {text!r}")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def cpu_list(text: str) -> list[int]:
    """'1' or '0,1' -> CPU numbers."""
    try:
        cpus = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of CPU numbers, got {text!r}") from None
    if any(c < 0 for c in cpus):
        raise argparse.ArgumentTypeError(f"CPU numbers are 0 or more, got {text!r}")
    return cpus


def cpu(text: str) -> int:
    cpus = cpu_list(text)
    if len(cpus) != 1:
        raise argparse.ArgumentTypeError(f"one CPU number, got {text!r}")
    return cpus[0]


def mac(text: str) -> bytes:
    parts = text.split(":")
    try:
        if len(parts) != 6 or any(not 1 <= len(p) <= 2 for p in parts):
            raise ValueError
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"six hex bytes like 02:57:53:00:00:01, got {text!r}") from None


def byte_value(text: str) -> int:
    """0..255 (TTL, TOS)."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 255:
        raise argparse.ArgumentTypeError(f"must be 0..255, got {text!r}")
    return value


def u16_value(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {text!r}")
    return value


def ip_range(text: str):
    """'A' or 'A-B' -> (first address, Range over the low 32 bits)."""
    from wirespeed.base.units import Range

    lo_text, _, hi_text = text.partition("-") if text.count(":") == 0 or "-" in text else (text, "", "")
    try:
        lo = ipaddress.ip_address(lo_text.strip())
        hi = ipaddress.ip_address(hi_text.strip()) if hi_text else lo
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad address or range {text!r}: use A or A-B") from None
    if lo.version != hi.version or int(hi) < int(lo) or (int(hi) >> 32) != (int(lo) >> 32):
        raise argparse.ArgumentTypeError(
            f"bad range {text!r}: same IP version, first <= last, differing only in the low 32 bits")
    return lo, Range(int(lo) & 0xFFFFFFFF, int(hi) - int(lo) + 1, text)


def port_range(text: str):
    """'P' or 'P-Q' -> Range."""
    from wirespeed.base.units import Range

    lo_text, _, hi_text = text.partition("-")
    try:
        lo, hi = int(lo_text), int(hi_text or lo_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port or range {text!r}: use P or P-Q") from None
    if not 0 <= lo <= hi <= 65535:
        raise argparse.ArgumentTypeError(f"ports must be 0..65535 with first <= last, got {text!r}")
    return Range(lo, hi - lo + 1, text)


def frame_mix(text: str):
    """'64' or 'imix' -> FrameMix (the range against the template is checked by the tool)."""
    from wirespeed.base.units import frame, parse_frame

    if text.strip().lower() == "imix":
        return parse_frame(text)
    try:
        return frame(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a frame size in bytes or imix, got {text!r}") from None


def rate(text: str):
    from wirespeed.base.units import parse_rate

    return _typed(parse_rate)(text)


def link_bps(text: str) -> int:
    from wirespeed.base.units import parse_link

    return _typed(parse_link)(text)[1]


def hex_bytes(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"hex bytes, e.g. 0000000000000000000100000012, got {text!r}") from None


# -- option groups shared by gen, sink and fwd ----------------------------------------------------

def check_backend_options(args) -> None:
    """Refuse a backend option that does not apply to the chosen backend, naming those it
    applies to, and what the backend cannot do (several workers on a one-queue backend), before
    anything is looked up or opened."""
    b = ports.backend(args.backend)
    ports.check_workers(b, getattr(args, "workers", 1))
    ports.backend_options(b.name, args.command, {o.name: getattr(args, o.name, o.default)
                                                 for o in ports.options_of(args.command)})


def add_backend_options(p, tool: str) -> None:
    """The registry's backend options that `tool` takes, as arguments (ports.OPTIONS: written once)."""
    g = p.add_argument_group("backend options (each applies to the backends named)")
    for o in ports.options_of(tool):
        takers = " / ".join(ports.takers(o.name))
        kw = dict(dest=o.name, default=o.default, help=f"{takers}: {o.help}")
        if o.switch:
            kw["action"] = "store_false" if o.default else "store_true"
        else:
            kw.update(type=_typed(o.parse) if o.parse else None, choices=o.choices, metavar=o.metavar)
        g.add_argument(*o.flags, **kw)


def add_where(p, what: str = "IFACE") -> None:
    g = p.add_argument_group("interface")
    g.add_argument("--netns", help=f"network namespace {what} lives in")
    g.add_argument("--lab", action="store_true", help="create the lab if it is not up (and remove it after)")
    g.add_argument("--lab-name", default="lab", help="lab name (default: lab)")


def add_run(p, batch_default: int, backends: tuple[str, ...], workers: bool = True) -> argparse._ArgumentGroup:
    g = p.add_argument_group("run")
    g.add_argument("--backend", choices=backends, default="afpacket",
                   help="; ".join(f"{n}: {ports.BACKENDS[n].summary}" for n in backends))
    g.add_argument("-b", "--batch", type=positive_int, default=batch_default,
                   help=f"most frames per batch (default {batch_default})")
    g.add_argument("-c", "--count", type=count, metavar="N", help="stop after this many packets (1000, 10k, 10M, 1e6)")
    g.add_argument("-d", "--duration", type=duration, metavar="T", help="stop after this long (10, 1.5s, 500ms, 10m, 2h)")
    if workers:
        g.add_argument("-w", "--workers", type=positive_int, default=1, help="worker processes, one per CPU")
        g.add_argument("--cpu", type=cpu_list, metavar="LIST", help="CPUs for the workers, e.g. 1 or 0,1")
    else:
        g.add_argument("--cpu", type=cpu, help="CPU to pin the forwarder to")
    g.add_argument("--exit-after-setup", action="store_true", help="open everything, then stop (smoke tests)")
    g.add_argument("--show-program", action="store_true",
                   help="list every BPF program this run loads (built for its options: only the code they need), "
                        "then stop after set-up")
    return g


def listen(text: str) -> str:
    from wirespeed.runner.metrics import parse_listen

    try:
        parse_listen(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--prometheus: ")) from None
    return text


def add_output(p) -> None:
    g = p.add_argument_group("output")
    g.add_argument("-i", "--interval", type=interval, default=1.0, metavar="T",
                   help=f"stats interval (default 1 s, at least {MIN_INTERVAL_S} s)")
    g.add_argument("--json", action="store_true", help="one JSON object per line")
    g.add_argument("--config", metavar="FILE",
                   help="options from FILE: TOML with the long option names (rate = \"500kpps\"), or a JSON "
                        "line an earlier run printed (its run record); the command line overrides them")
    g.add_argument("--prometheus", metavar="[ADDR:]PORT", type=listen,
                   help="serve the live counters for Prometheus over HTTP (default address 127.0.0.1), "
                        "updated once per interval")
