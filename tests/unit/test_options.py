"""Each option is written once, in its tool's table (base.option): the command line, the API,
--config and the README follow from it or are checked against it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from wirespeed import api, cli, ports
from wirespeed.base.errors import UsageError
from wirespeed.base.netns import Where
from wirespeed.base.option import Option, Options
from wirespeed.otg import server as otg
from wirespeed.tools import budget, drops, fwd, gen, search, sink

TABLES = {"gen": gen.OPTIONS, "sink": sink.OPTIONS, "fwd": fwd.OPTIONS, "search": search.OPTIONS,
          "budget": budget.OPTIONS, "drops": drops.OPTIONS, "otg": otg.OPTIONS}
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
MAC = "02:00:00:00:00:01"


def _sub(command: str) -> argparse.ArgumentParser:
    p = cli.build_parser()
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[command]


def _section(command: str) -> str:
    """The README's section of `wirespeed COMMAND`, up to the next section of its level."""
    m = re.search(rf"^### `wirespeed {command}\b.*?$(.*?)(?=^### |^## )", README, re.S | re.M)
    assert m, f"README has no section for wirespeed {command}"
    return m.group(1)


def _flags_in(text: str) -> set[str]:
    return {t for span in re.findall(r"`([^`]*)`", text) for t in re.findall(r"(?<![\w-])(--?[a-zA-Z0-9][\w-]*)", span)}


@pytest.mark.parametrize("command", sorted(TABLES))
def test_every_option_of_the_table_is_an_argument_with_its_default(command):
    actions = {a.dest: a for a in _sub(command)._actions}
    for o in TABLES[command]:
        a = actions[o.name]
        assert tuple(a.option_strings) == o.flags, o.name
        assert a.default == (None if o.many else o.default_value), o.name


@pytest.mark.parametrize("command", sorted(TABLES))
def test_the_readme_names_every_option_in_the_tools_section(command):
    said = _flags_in(_section(command))
    missing = [o.label for o in TABLES[command] if not set(o.flags) & said]
    assert not missing, f"README's wirespeed {command} section leaves out {missing}"


@pytest.mark.parametrize("command", sorted(TABLES))
def test_every_long_option_the_readme_gives_a_tool_exists(command):
    """A flag in the tool's section is the tool's, or another wirespeed command's (a cross
    reference such as `lab up --queues`), never one that no parser has."""
    known = set()
    for name in ("budget", "gen", "sink", "fwd", "search", "bench", "drops", "otg"):
        known |= {f for a in _sub(name)._actions for f in a.option_strings}
    p = cli.build_parser()
    lab = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices["lab"]
    for sp in next(a for a in lab._actions if isinstance(a, argparse._SubParsersAction)).choices.values():
        known |= {f for a in sp._actions for f in a.option_strings}
    unknown = sorted(f for f in _flags_in(_section(command)) if f.startswith("--") and f not in known)
    assert not unknown, f"README's wirespeed {command} section gives options no command has: {unknown}"


def test_the_api_takes_the_tables_keywords_and_nothing_else():
    cfg = api.gen_config_at(Where("veth0"), None, dst_mac=MAC, src_mac=MAC, ttl="7", stamp=False, rate=250000,
                            link=10e9, sport="1000-1999")
    assert cfg.ttl == 7 and not cfg.stamp and cfg.rate.pps == 250000 and cfg.link_bps == 10**10
    assert cfg.sports.count == 1000
    with pytest.raises(UsageError, match="gen has no option 'no_stamp'"):
        api.gen_config_at(Where("veth0"), None, dst_mac=MAC, no_stamp=True)
    with pytest.raises(UsageError, match="--ttl: must be 0..255"):
        api.gen_config_at(Where("veth0"), None, dst_mac=MAC, ttl=300)
    with pytest.raises(UsageError, match="--no-stamp is true or false"):
        api.gen_config_at(Where("veth0"), None, dst_mac=MAC, stamp="no")


def test_the_command_line_and_the_api_build_the_same_config():
    words = ["veth0", "--dst-mac", MAC, "--src-mac", MAC, "-s", "128", "--no-stamp", "--ttl", "9", "-r", "1mpps",
             "--sport", "5-6", "--max-burst", "8", "-b", "16", "--link", "10G", "--no-linear"]
    args = cli.build_parser().parse_args(["gen", *words])
    from wirespeed import options as opt

    by_cli = api.gen_config_at(Where("veth0"), None, **opt.table_values(gen.OPTIONS, args))
    by_api = api.gen_config_at(Where("veth0"), None, dst_mac=MAC, src_mac=MAC, size=128, stamp=False, ttl=9,
                               rate="1mpps", sport="5-6", max_burst=8, batch=16, link="10G", linear=False)
    assert by_cli == by_api


def test_a_switch_in_a_config_file_by_its_name_or_its_flag(tmp_path):
    from wirespeed.options import load_config

    for text in ("stamp = false\n", "no-stamp = true\n"):
        path = tmp_path / "g.toml"
        path.write_text(text)
        assert load_config(str(path), "gen", _sub("gen"))["stamp"] is False


def test_a_repeatable_option_from_the_api_one_or_a_list():
    goals = search.OPTIONS.resolve({"goal": "NDR:0"})["goal"]
    assert [g.name for g in goals] == ["NDR"]
    goals = search.OPTIONS.resolve({"goal": ["NDR:0", "PDR:0.01"]})["goal"]
    assert [g.loss_ratio for g in goals] == [0.0, 0.01]
    with pytest.raises(UsageError, match="--goal"):
        search.OPTIONS.resolve({"goal": ["NDR"]})


def test_an_option_is_written_once_per_table():
    with pytest.raises(ValueError, match="written twice"):
        Options("t", Option("a", ("--a",)), Option("a", ("--b",)))


def test_backend_options_are_in_the_parser_of_each_tool_that_takes_them():
    for command in ("gen", "sink", "fwd"):
        dests = {a.dest for a in _sub(command)._actions}
        assert {o.name for o in ports.options_of(command)} <= dests


def test_the_readmes_option_lists_are_the_tables():
    from wirespeed.options import readme_with_blocks

    for command in TABLES:
        assert f"<!-- options {command} -->" in README, f"README has no option list for wirespeed {command}"
    assert README == readme_with_blocks(README, TABLES), \
        "README's option lists differ from the tables: python3 tests/unit/test_options.py --write"


if __name__ == "__main__":  # --write: regenerate the README's option lists from the tables
    import sys

    from wirespeed.options import readme_with_blocks

    if sys.argv[1:] == ["--write"]:
        (Path(__file__).resolve().parents[2] / "README.md").write_text(readme_with_blocks(README, TABLES))
