"""An option written once (as xdp-tools' option tables write theirs): its API keyword, its
spellings on the command line, its default, its parser, its help, its group in --help and, for
a backend's option, the tools that take it. A tool's table (`Options`) is the one source of its
argparse parser (options.add_table), its API keywords and defaults (`Options.resolve`), its
--config keys and its run record; the README is checked against it (tests/unit/test_options.py).

A switch is an option whose default is a bool and that has no parser: the keyword names what is
on (`stamp`, default True), the flag turns it the other way (`--no-stamp`)."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from wirespeed.base import values as V
from wirespeed.base.errors import UsageError


@dataclass(frozen=True)
class Option:
    name: str  # API keyword, --config key, argparse dest, run record key
    flags: tuple[str, ...]  # its spellings on the command line
    default: Any = None  # as the user would write it: text goes through `parse`
    help: str | Callable[[], str] = ""  # a callable: computed when asked (a registry's current entries)
    tools: tuple[str, ...] = ()  # a backend's option: the tools that take it
    parse: Callable[[str], Any] | None = None  # text -> value; raises ArgumentTypeError or UsageError
    choices: tuple | Callable[[], tuple] | None = None
    metavar: str | None = None
    group: str = "run"  # its heading in --help
    many: bool = False  # repeatable: a list of values (the API: one or a list)
    number: Callable[[float], Any] | None = None  # a plain number from the API, when it is not the text's number

    @property
    def switch(self) -> bool:
        return isinstance(self.default, bool) and self.parse is None

    @property
    def label(self) -> str:
        return "/".join(self.flags)

    @property
    def raw_help(self) -> str:
        """The help as argparse takes it (%(default)s expanded there, %% for a percent sign)."""
        return self.help() if callable(self.help) else self.help

    @property
    def help_text(self) -> str:
        """The help as a reader sees it (README, API docstrings)."""
        return self.raw_help.replace("%(default)s", str(self.default)).replace("%%", "%")

    @property
    def choice_values(self) -> tuple | None:
        return self.choices() if callable(self.choices) else self.choices

    @property
    def default_value(self) -> Any:
        """The default, typed (a default written as text goes through the parser; any other is
        the value itself, which may be one the user cannot give: 0 for "off")."""
        return self.value(self.default) if isinstance(self.default, str) else self.default

    def but(self, **changes) -> Option:
        """The same option with some fields changed (another tool's default or help)."""
        return dataclasses.replace(self, **changes)

    def text_value(self, text: str) -> Any:
        """Text through the parser; a bad value is one line naming the option."""
        try:
            return self.parse(text)
        except (argparse.ArgumentTypeError, UsageError) as e:
            msg = str(e)
            raise UsageError(msg if msg.startswith(self.flags[-1]) else f"{self.label}: {msg}") from None

    def value(self, v: Any) -> Any:
        """A value as the API, a --config file or argparse gives it: text and plain numbers go
        through the parser (the command line's words: "500kpps", 64, "1.5s"); a value already
        typed (a Rate, a Range, a callable hook) is taken as it is, and so is the default."""
        if v is not None and not isinstance(v, str) and type(v) is type(self.default) and v == self.default:
            return v
        if self.many and v is not None:
            return [self.but(many=False).value(x) for x in ([v] if isinstance(v, str) else v)]
        if self.switch:
            if not isinstance(v, bool):
                raise UsageError(f"{self.label} is true or false, got {v!r}")
            return v
        if v is not None and self.parse is not None:
            if isinstance(v, str):
                v = self.text_value(v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and self.number is not None:
                v = self.number(v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                v = self.text_value(str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
        choices = self.choice_values
        if v is not None and choices is not None and v not in choices:
            raise UsageError(f"{self.label} must be one of {', '.join(map(str, choices))}, got {v!r}")
        return v


class Options:
    """One tool's options, in the order of its --help; `Options(tool, *options_or_tables)`."""

    def __init__(self, tool: str, *items: Option | Options):
        self.tool = tool
        self._all: dict[str, Option] = {}
        for item in items:
            for o in (item if isinstance(item, Options) else (item,)):
                if o.name in self._all:
                    raise ValueError(f"{tool}: option {o.name} written twice")
                self._all[o.name] = o

    def __iter__(self) -> Iterator[Option]:
        return iter(self._all.values())

    def __getitem__(self, name: str) -> Option:
        return self._all[name]

    def __contains__(self, name: str) -> bool:
        return name in self._all

    def defaults(self) -> dict:
        return {o.name: o.default_value for o in self}

    def resolve(self, given: dict) -> dict:
        """Every option's value: those `given` (API keywords, as the command line's words or
        typed), parsed and checked, the rest their defaults. An unknown keyword is one line."""
        for name in given:
            if name not in self._all:
                raise UsageError(f"{self.tool} has no option {name!r}")
        return {o.name: o.value(given[o.name]) if o.name in given else o.default_value for o in self}


# -- the options every tool's run has --------------------------------------------------------------

BATCH = Option("batch", ("-b", "--batch"), 64, "most frames per batch (default %(default)s)", parse=V.positive_int,
               metavar="N")
COUNT = Option("count", ("-c", "--count"), None, "stop after this many packets (1000, 10k, 10M, 1e6)",
               parse=V.count, metavar="N")
DURATION = Option("duration", ("-d", "--duration"), None, "stop after this long (10, 1.5s, 500ms, 10m, 2h)",
                  parse=V.duration, metavar="T")
WORKERS = Option("workers", ("-w", "--workers"), 1, "worker processes, one per CPU", parse=V.positive_int,
                 metavar="N")
CPUS = Option("cpu", ("--cpu",), None, "CPUs for the workers, e.g. 1 or 0,1", parse=V.cpu_list,
              metavar="LIST")
EXIT_AFTER_SETUP = Option("exit_after_setup", ("--exit-after-setup",), False,
                          "open everything, then stop (smoke tests)")
INTERVAL = Option("interval", ("-i", "--interval"), 1.0, "stats interval (default 1 s, at least 0.1 s)",
                  parse=V.interval, metavar="T", group="output")
PROFILE = Option("profile", ("--profile",), False, "where the run's CPU time goes, kernel included: the "
                 "workers' CPUs sampled (cpu-clock, 997 Hz, counted in the kernel by a BPF program), in "
                 "ns/packet by stage (system call, AF_PACKET, qdisc, veth, receive, IP, memory, ...) and the top "
                 "functions", group="output")
FOLDED = Option("folded", ("--folded",), None, "with --profile's sampling (implied), write the kernel call "
                "chains as folded stacks to FILE ('task;user leaf;kernel frames count': flamegraph.pl, inferno, "
                "speedscope)", parse=V.out_file, metavar="FILE", group="output")
