"""What the kernel says about an interface: its own counters (IFLA_STATS64) and link speed.
These are the independent counters our tools' figures are checked against."""

from __future__ import annotations

from pyroute2 import IPRoute
from pyroute2.ethtool.ioctl import IoctlEthtool, NotSupportedError

from wirespeed.base.errors import UsageError
from wirespeed.base.netns import Where, in_netns

STAT_KEYS = ("rx_packets", "tx_packets", "rx_bytes", "tx_bytes", "rx_dropped", "tx_dropped")


def _link(where: Where):
    with in_netns(where), IPRoute() as ipr:
        found = ipr.link_lookup(ifname=where.ifname)
        if not found:
            raise UsageError(f"unknown interface {where}")
        return ipr.get_links(found[0])[0]


def link_stats(where: Where) -> dict[str, int]:
    """The interface's own packet and byte counters."""
    s = _link(where).get_attr("IFLA_STATS64")
    return {k: int(s.get(k, 0)) for k in STAT_KEYS}


def link_info(where: Where) -> dict:
    """MAC, MTU, operstate and speed (Mbit/s, None when the driver reports none)."""
    link = _link(where)
    info = {
        "mac": link.get("address"),
        "mtu": link.get("mtu"),
        "operstate": link.get("operstate"),
        "speed_mbps": None,
    }
    try:
        with in_netns(where):
            e = IoctlEthtool(where.ifname)
            try:
                cmd = e.get_cmd()
                speed = (cmd.speed_hi << 16) | cmd.speed
                if 0 < speed < 0xFFFFFFFF and speed != 0xFFFF:
                    info["speed_mbps"] = speed
            finally:
                e.close()
    except (OSError, NotSupportedError):  # a driver without ethtool (lo): nothing to read
        pass
    return info


def xdp_stats(where: Where) -> dict[str, int]:
    """The driver's own XDP counters (ethtool -S), summed over queues: e.g. veth's
    rx_queue_N_xdp_packets -> xdp_packets. Empty for a driver that keeps none."""
    out: dict[str, int] = {}
    try:
        with in_netns(where):
            e = IoctlEthtool(where.ifname)
            try:
                for name, value in e.get_statistics():
                    if "xdp" not in name:
                        continue
                    key = name.split("_", 3)[3] if name.startswith(("rx_queue_", "tx_queue_")) else name
                    key = ("tx_" if name.startswith("tx_queue_") else "") + key
                    out[key] = out.get(key, 0) + int(value)
            finally:
                e.close()
    except (OSError, NotSupportedError):  # a driver without ethtool (lo): nothing to read
        pass
    return out
