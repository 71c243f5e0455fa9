"""The command line's parser, derived from the tools' option tables (base.option): every tool
option and backend option becomes its argument here, --config reads the same names. A bad
value becomes one line naming the option, exit status 2."""

from __future__ import annotations

import argparse
import re

from wirespeed import ports
from wirespeed.base.errors import UsageError
from wirespeed.base.option import Option, Options


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
            given = getattr(self, "_given", {})  # the words the user wrote
            if isinstance(action, argparse._AppendAction):
                given.setdefault(action.dest, []).append(arg_string)
            else:
                given[action.dest] = arg_string
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
            if isinstance(act, argparse._AppendAction):
                out[dest] = [act.type(str(v)) if act.type else v for v in (value if isinstance(value, list) else [value])]
            else:
                out[dest] = act.type(str(value)) if act.type else value
        except argparse.ArgumentTypeError as e:
            raise UsageError(f"--config {path}: {key}: {e}") from None
        out.setdefault("given", {})[dest] = value
    return out


# -- a tool's table as arguments --------------------------------------------------------------------

BACKEND_GROUP = "backend options (each applies to the backends named)"
WHERE_GROUP = "interface"


def _typed(parse):
    """An argparse type from an option's parser that may raise UsageError: argparse names the
    option in its one line."""

    def convert(text: str):
        try:
            return parse(text)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def add_option(g, o: Option, help_text: str | None = None) -> None:
    kw = dict(dest=o.name, help=o.raw_help if help_text is None else help_text)
    if o.switch:
        kw.update(action="store_false" if o.default else "store_true", default=o.default)
    else:
        kw.update(type=_typed(o.parse) if o.parse else None, choices=o.choice_values, metavar=o.metavar,
                  default=o.default_value)
        if o.many:
            kw.update(action="append", default=None)
    g.add_argument(*o.flags, **kw)


def add_table(p, table: Options, extra: dict | None = None) -> dict:
    """The tool's options as arguments, in groups in the table's order; the registry's backend
    options the tool takes in their own group before the output group; then `extra` (group ->
    [(flags, argparse keywords)]: the command line's own, --json, --config ...). Returns the groups."""
    order = list(dict.fromkeys(o.group for o in table))
    backend = ports.options_of(table.tool)
    if backend:
        order.insert(order.index("output") if "output" in order else len(order), BACKEND_GROUP)
    for name in extra or {}:
        if name not in order:  # where the tool runs comes first, the rest after the table's
            order.insert(0, name) if name == WHERE_GROUP else order.append(name)
    groups = {name: p.add_argument_group(name) for name in order}
    for o in table:
        add_option(groups[o.group], o)
    for o in backend:
        add_option(groups[BACKEND_GROUP], o, f"{' / '.join(ports.takers(o.name))}: {o.raw_help}")
    for name, args in (extra or {}).items():
        for flags, kw in args:
            groups[name].add_argument(*flags, **kw)
    return groups


def table_values(table: Options, args) -> dict:
    """The parsed command line as the API's keywords: the tool's options and its backend options."""
    return {o.name: getattr(args, o.name) for o in (*table, *ports.options_of(table.tool))}


def check_backend_options(args) -> None:
    """Refuse a backend option that does not apply to the chosen backend, naming those it
    applies to, and what the backend cannot do (several workers on a one-queue backend), before
    anything is looked up or opened."""
    b = ports.backend(args.backend)
    ports.check_workers(b, getattr(args, "workers", 1))
    ports.backend_options(b.name, args.command, {o.name: getattr(args, o.name, o.default)
                                                 for o in ports.options_of(args.command)})


def where(what: str = "IFACE", netns: bool = True) -> list:
    """Where the tool runs: an interface's namespace, or the lab (made for the run with --lab)."""
    return ([(("--netns",), dict(help=f"network namespace {what} lives in"))] if netns else []) + [
        (("--lab",), dict(action="store_true", help="create the lab if it is not up (and remove it after)")),
        (("--lab-name",), dict(default="lab", help="lab name (default: lab)"))]


SHOW_PROGRAM = (("--show-program",), dict(
    action="store_true", help="list every BPF program this run loads (built for its options: only the code they "
                              "need), then stop after set-up"))
JSON = (("--json",), dict(action="store_true", help="one JSON object per line"))
CONFIG = (("--config",), dict(metavar="FILE", help="options from FILE: TOML with the long option names (rate = "
                                                   "\"500kpps\"), or a JSON line an earlier run printed (its run "
                                                   "record); the command line overrides them"))


def listen(text: str) -> str:
    from wirespeed.runner.metrics import parse_listen

    try:
        parse_listen(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--prometheus: ")) from None
    return text


PROMETHEUS = (("--prometheus",), dict(metavar="[ADDR:]PORT", type=listen,
                                      help="serve the live counters for Prometheus over HTTP (default address "
                                           "127.0.0.1), updated once per interval"))


def extras(what: str = "IFACE") -> dict:
    """The command line's own options of gen, sink and fwd (not the API's: where to run, and output)."""
    return {WHERE_GROUP: where(what), "run": [SHOW_PROGRAM], "output": [JSON, CONFIG, PROMETHEUS]}


# -- the README's option lists, derived from the same tables ------------------------------------------

def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_block(table: Options) -> str:
    """A tool's options as the README lists them (between its `<!-- options TOOL -->` marks):
    every option of the table and the backend options the tool takes, with its default."""
    rows = []
    for o in (*table, *ports.options_of(table.tool)):
        default = o.default if not o.switch else ("on" if o.default else "off")
        takers = f"{' / '.join(ports.takers(o.name))}: " if o.tools else ""
        text = o.help_text
        choices = o.choice_values
        value = "" if o.switch else (o.metavar or ("|".join(map(str, choices)) if choices else o.name.upper()))
        flags = ", ".join([f"`{f}`" for f in o.flags[:-1]] + [f"`{o.flags[-1]}{' ' + value if value else ''}`"])
        rows.append(f"| {_cell(flags)} | {_cell('' if default is None else str(default))} | "
                    f"`{o.name}` | {_cell(takers + text)} |")
    head = ["<details><summary>every option of wirespeed " + table.tool + " (its table: the command line, the "
            "API keyword, --config)</summary>", "",
            "| option | default | API / --config | what |", "|---|---|---|---|"]
    return "\n".join(head + rows + ["", "</details>"])


def readme_with_blocks(readme: str, tables: dict) -> str:
    """README text with every `<!-- options TOOL -->` ... `<!-- /options -->` block regenerated."""
    def block(m):
        return f"<!-- options {m.group(1)} -->\n{readme_block(tables[m.group(1)])}\n<!-- /options -->"

    return re.sub(r"<!-- options (\w+) -->.*?<!-- /options -->", block, readme, flags=re.S)
