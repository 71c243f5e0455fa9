"""The run record: what a result was measured on and with, carried by every JSON start line and
summary (and heading every report): wirespeed's version, the kernel, the CPU model and its TSC
frequency, each interface's driver, queues and MTU, the wall-clock start, the options."""

from __future__ import annotations

import datetime
import os
import platform
from functools import lru_cache

from wirespeed import __version__, core
from wirespeed.base.netns import Where, in_netns


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@lru_cache(maxsize=1)
def tsc_hz() -> float:
    cycles, ns = core.tsc_calibrate(20_000_000)
    return cycles * 1e9 / ns


def interface(where: Where) -> dict:
    """Driver, queues and MTU of an interface (what the kernel says; None where it says nothing)."""
    from pyroute2 import IPRoute

    out = {"interface": str(where), "driver": None, "rx_queues": None, "tx_queues": None, "mtu": None}
    try:
        with in_netns(where), IPRoute() as ipr:
            idx = ipr.link_lookup(ifname=where.ifname)
            if idx:
                link = ipr.get_links(idx[0])[0]
                info = link.get_attr("IFLA_LINKINFO")
                out.update(mtu=link.get("mtu"), rx_queues=link.get_attr("IFLA_NUM_RX_QUEUES"),
                           tx_queues=link.get_attr("IFLA_NUM_TX_QUEUES"),
                           driver=info.get_attr("IFLA_INFO_KIND") if info is not None else None)
        if out["driver"] is None and where.netns is None:  # a device: its driver, as sysfs names it
            out["driver"] = os.path.basename(os.readlink(f"/sys/class/net/{where.ifname}/device/driver"))
    except Exception:  # a fact we cannot read stays None
        pass
    return out


def record(options: dict, interfaces: list[Where] = ()) -> dict:
    return {
        "wirespeed": __version__,
        "kernel": platform.release(),
        "cpu_model": cpu_model(),
        "cpus": os.cpu_count(),
        "tsc_hz": round(tsc_hz()),
        "interfaces": [interface(w) for w in interfaces],
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "options": {k: v for k, v in options.items() if plain(v) or isinstance(v, dict)},
    }


def plain(v) -> bool:
    """A value JSON holds as it is."""
    return v is None or isinstance(v, (str, int, float, bool)) or (
        isinstance(v, (list, tuple)) and all(plain(x) for x in v))
