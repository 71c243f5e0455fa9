"""wirespeed's shared memory objects, named so that they are recognisable: /dev/shm/
wirespeed-<pid>-<n>-<kind>, pid being the process that made it. One whose maker is gone
(a tool killed with SIGKILL, an OOM kill) is a leftover: `lab status` lists it, `lab down
--all` removes it."""

from __future__ import annotations

import itertools
import os
import re
from multiprocessing import shared_memory

DIR = "/dev/shm"
PREFIX = "wirespeed-"
_NAME = re.compile(r"^wirespeed-(\d+)-\d+-\w+$")
_seq = itertools.count()


def new_name(kind: str) -> str:
    return f"{PREFIX}{os.getpid()}-{next(_seq)}-{kind}"


def create(size: int, kind: str, name: str | None = None) -> shared_memory.SharedMemory:
    return shared_memory.SharedMemory(name=name or new_name(kind), create=True, size=size)


def alive(pid: int) -> bool:
    """Whether process pid exists (ours or another user's)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def objects() -> list[dict]:
    """Every wirespeed shared memory object: name, bytes, maker's pid, whether it is a leftover."""
    out = []
    try:
        names = sorted(os.listdir(DIR))
    except FileNotFoundError:
        return out
    for n in names:
        m = _NAME.match(n)
        if not m:
            continue
        try:
            size = os.stat(os.path.join(DIR, n)).st_size
        except FileNotFoundError:
            continue
        pid = int(m.group(1))
        out.append({"name": n, "bytes": size, "pid": pid, "leftover": not alive(pid)})
    return out


def remove_leftovers() -> list[str]:
    gone = []
    for o in objects():
        if o["leftover"]:
            try:
                os.unlink(os.path.join(DIR, o["name"]))
                gone.append(o["name"])
            except FileNotFoundError:
                pass
    return gone
