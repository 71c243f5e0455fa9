"""Where an interface lives: network namespaces and interface lookups, below both the ports
(which open sockets there) and the lab (which makes the namespaces)."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from pyroute2 import netns

from wirespeed.base.errors import PrivilegeError, UsageError, WirespeedError

LAB_PREFIX = "ws-"  # every namespace wirespeed makes (the lab's) is named so: ours to configure


@dataclass(frozen=True)
class Where:
    """An interface, inside a network namespace or (netns None) in ours."""

    ifname: str
    netns: str | None = None

    def __str__(self) -> str:
        return f"{self.ifname} in {self.netns}" if self.netns else self.ifname


CAPS = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21, "CAP_PERFMON": 38, "CAP_BPF": 39}


def missing_caps(*names: str) -> list[str]:
    """Which of these capabilities this process lacks (its effective set, /proc/self/status):
    root in a locked-down container may hold none. Checked before a library is asked to use them,
    so that a refusal is one line and leaves nothing half open behind it."""
    try:
        with open("/proc/self/status") as f:
            eff = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    except (OSError, StopIteration, ValueError):
        return []  # cannot tell: let the kernel say
    return [n for n in names if not eff >> CAPS[n] & 1]


@contextmanager
def enter_netns(name: str) -> Iterator[None]:
    """Run the body with this thread in namespace `name`; sockets opened there stay there."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        try:
            netns.setns(name, flags=0)
        except FileNotFoundError:
            raise UsageError(f"network namespace {name} does not exist") from None
        except PermissionError:
            raise PrivilegeError(f"entering network namespace {name} needs root (CAP_SYS_ADMIN)") from None
        try:
            yield
        finally:
            netns.setns(home, flags=0)
    finally:
        os.close(home)


def in_netns(where: Where):
    """Context: this thread inside the interface's namespace (or where it already is)."""
    return enter_netns(where.netns) if where.netns else nullcontext()


def ifindex(where: Where) -> int:
    """Index of the interface; call with this thread already in its namespace."""
    try:
        return socket.if_nametoindex(where.ifname)
    except OSError:
        raise UsageError(f"unknown interface {where}") from None


def port_error(e: OSError, what: str, where: Where) -> WirespeedError:
    """One line for a failed set-up step, privilege problems told apart."""
    text = f"{what} on {where}: {e.strerror or e}"
    if e.errno in (errno.EPERM, errno.EACCES):
        return PrivilegeError(f"{text} (needs root or CAP_NET_RAW)")
    return WirespeedError(text)
