"""The tree's structure, checked: layers import one way, the C headers each include what they
use, and every backend is one module plus one registry entry."""

from __future__ import annotations

import ast
import re
import importlib
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

import wirespeed
from wirespeed import ports
from wirespeed.base.errors import UsageError
from wirespeed import options

PKG = Path(wirespeed.__file__).parent
REPO = Path(__file__).resolve().parents[2]
# Lower number = lower layer. A module may import its own layer or lower ones, never higher.
LAYERS = {"core": 0, "_core": 0, "base": 0, "bpf": 1, "mem": 1, "ports": 2, "lab": 2, "runner": 3, "tools": 4,
          "options": 4, "api": 5, "otg": 6, "cli": 7, "__init__": 8, "__main__": 8}


def _layer(module: str) -> tuple[str, int]:
    part = module.split(".")[1] if module.count(".") else "__init__"
    return part, LAYERS[part]


def _imports(path: Path) -> set[str]:
    """Every wirespeed module a file imports, at the top or inside a function."""
    rel = path.relative_to(PKG.parent).with_suffix("")
    me = ".".join(rel.parts)
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("wirespeed")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wirespeed"):
            subs = {f"{node.module}.{a.name}" for a in node.names}
            out |= {s for s in subs if importlib.util.find_spec(s.rsplit(".", 1)[0]) and _is_module(s)} or {node.module}
    return {m for m in out if m != me}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _modules() -> dict[str, Path]:
    return {".".join(p.relative_to(PKG.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in PKG.rglob("*.py")}


def test_every_import_goes_down_the_layers():
    wrong = []
    for mod, path in _modules().items():
        if mod == "wirespeed":
            continue
        name, mine = _layer(mod)
        for imp in _imports(path):
            if imp == "wirespeed":
                continue
            other, theirs = _layer(imp)
            if theirs > mine:
                wrong.append(f"{mod} ({name}) imports {imp} ({other})")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles_between_modules():
    mods = _modules()
    graph = {m: {i for i in _imports(p) if i in mods and i != "wirespeed"} for m, p in mods.items()}
    seen, stack = set(), []

    def visit(m):
        if m in stack:
            raise AssertionError("import circle: " + " -> ".join(stack[stack.index(m):] + [m]))
        if m in seen:
            return
        stack.append(m)
        for n in graph[m]:
            if not (n.startswith(m + ".") or m.startswith(n + ".")):  # a package and its own modules
                visit(n)
        stack.pop()
        seen.add(m)

    for m in graph:
        visit(m)


@pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")
@pytest.mark.parametrize("header", sorted(p.name for p in (PKG / "csrc").glob("*.h")))
def test_each_c_header_compiles_on_its_own(header, tmp_path):
    src = tmp_path / "one.c"
    src.write_text(f'#include "{header}"\n')
    r = subprocess.run(["gcc", "-std=gnu11", "-fsyntax-only", "-Wall", "-Wno-unused-function", "-Werror=implicit",
                        f"-I{PKG / 'csrc'}", f"-I{sysconfig.get_paths()['include']}", str(src)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "warning" not in r.stderr, r.stderr


@pytest.mark.parametrize("name", sorted(ports.BACKENDS))
def test_every_backend_is_one_module_with_what_its_entry_promises(name):
    b = ports.BACKENDS[name]
    mod = importlib.import_module(f"wirespeed.ports.{b.module}")
    assert any(hasattr(mod, f) for f in ("prepare", "open", "prepare_pair")), f"{mod.__name__} opens no port"
    assert b.transmit or b.receive or b.forward
    assert b.options <= set(ports.OPTIONS), b.options - set(ports.OPTIONS)


def test_registry_answers_what_can_do_what():
    assert ports.names(transmit=True) == ("afpacket", "udp", "xdp", "kernel")
    assert ports.names(receive=True) == ("afpacket", "udp", "xdp", "xdp-count")
    assert ports.names(forward=True) == ("afpacket", "xdp", "xdp-redirect")
    assert ports.names(transmit=True, timestamps=True) == ("afpacket", "udp", "xdp")
    with pytest.raises(UsageError, match="--backend must be one of"):
        ports.backend("dpdk")


@pytest.mark.parametrize("tool,backend,flag,value,needle", [
    ("gen", "udp", "linear", False, "--no-linear applies to --backend afpacket, not udp"),
    ("gen", "afpacket", "copy", "zc", "-C/--copy applies to --backend xdp, not afpacket"),
    ("sink", "udp", "filter_port", True, "--filter-port applies to --backend afpacket, not udp"),
    ("gen", "kernel", "xdp_mode", "skb", "-m/--xdp-mode applies to --backend xdp / xdp-count / xdp-redirect, not kernel"),
])
def test_options_that_do_not_apply_to_the_backend_are_refused(tool, backend, flag, value, needle):
    class Args:
        pass

    args = Args()
    args.backend, args.command = backend, tool
    setattr(args, flag, value)
    with pytest.raises(UsageError, match=needle.replace("/", "/").replace("-", "-")):
        options.check_backend_options(args)


def _readme_map() -> list[tuple[str, str]]:
    """(entry, its text) of every top-level entry in README's layout block, in order."""
    text = (REPO / "README.md").read_text()
    block = text[text.index("```\nsrc/wirespeed/\n") + 4 :]
    block = block[: block.index("\n```")]
    rows: list[tuple[str, str]] = []
    for line in block.splitlines()[1:]:
        if line.startswith("  ") and not line.startswith("   "):
            name, _, rest = line.strip().partition(" ")
            rows.append((name, rest))
        elif line.startswith("   ") and rows:
            rows[-1] = (rows[-1][0], rows[-1][1] + " " + line.strip())
        else:
            break  # tests/, bench/, docs/: beside the package
    return rows


def test_the_readme_layer_map_names_every_module_lowest_layer_first():
    PKG = REPO / "src" / "wirespeed"  # the tree the README describes
    rows = _readme_map()
    names = [n for n, _ in rows]
    have = sorted(p.name + ("/" if p.is_dir() else "") for p in PKG.iterdir()
                  if p.name not in ("__init__.py", "__main__.py", "py.typed", "__pycache__")
                  and not p.name.endswith((".so", ".egg-info")))
    assert sorted(names) == have, "README's layer map and src/wirespeed differ"
    layers = [LAYERS[n.rstrip("/").removesuffix(".py")] for n in names if n != "csrc/"]
    assert layers == sorted(layers), f"README's layer map is not lowest first: {names}"
    for name, text in rows:
        folder = PKG / name.rstrip("/")
        if folder.is_dir() and name != "csrc/":
            words = set(re.findall(r"[\w]+", text))
            missing = [p.stem for p in folder.glob("*.py") if p.stem not in words and p.stem != "__init__"]
            assert not missing, f"README's layer map leaves out {name}{', '.join(missing)}"
    csrc = next(text for name, text in rows if name == "csrc/")
    assert not [p.name for p in (PKG / "csrc").glob("*.[ch]") if p.name not in csrc and p.name != "core.c"]
