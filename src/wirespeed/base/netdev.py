"""What the kernel says about an interface: its own counters (IFLA_STATS64) and link speed.
These are the independent counters our tools' figures are checked against."""

from __future__ import annotations

from pyroute2 import IPRoute
from pyroute2.ethtool.ioctl import IoctlEthtool, NotSupportedError

from wirespeed.base.errors import UsageError
from wirespeed.base.netns import Where, ifindex, in_netns

TC_H_ROOT = 0xFFFFFFFF  # linux/pkt_sched.h: the parent of an interface's root qdisc
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


def veth_peer(where: Where) -> Where | None:
    """The other end of a veth pair, in whatever named namespace (or ours) it lives; None when
    the interface is not a veth or the peer's namespace has no name here."""
    import os

    from pyroute2 import netns as pnetns

    link = _link(where)
    info = link.get_attr("IFLA_LINKINFO")
    if info is None or info.get_attr("IFLA_INFO_KIND") != "veth":
        return None
    index, nsid = link.get_attr("IFLA_LINK"), link.get_attr("IFLA_LINK_NETNSID")
    candidates: list[str | None] = [where.netns] if nsid is None else [None, *pnetns.listnetns()]
    for ns in candidates:
        if nsid is not None:
            path = f"/run/netns/{ns}" if ns else "/proc/1/ns/net"
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                with in_netns(where), IPRoute() as ipr:
                    got = ipr.get_netnsid(fd=fd)
            finally:
                os.close(fd)
            if not got or got.get("nsid") != nsid:
                continue
        with in_netns(Where("lo", ns)), IPRoute() as ipr:
            found = ipr.get_links(index)
        if found:
            return Where(found[0].get_attr("IFLA_IFNAME"), ns)
    return None


def queues(where: Where) -> tuple[int, int]:
    """(TX, RX) queues the interface runs with: the driver's channels (ethtool -l: combined plus
    dedicated), else the queues netlink says it was made with."""
    try:
        with in_netns(where):
            e = IoctlEthtool(where.ifname)
            try:
                ch = e.get_channels()
                tx, rx = ch.combined_count + ch.tx_count, ch.combined_count + ch.rx_count
                if tx and rx:
                    return tx, rx
            finally:
                e.close()
    except (OSError, NotSupportedError):
        pass
    link = _link(where)
    return int(link.get("num_tx_queues") or 1), int(link.get("num_rx_queues") or 1)


XDP_ACTS = ("basic", "redirect", "ndo-xmit", "xsk-zerocopy", "hw-offload", "rx-sg", "ndo-xmit-sg")  # netdev.h


def xdp_features(where: Where) -> set[str] | None:
    """What the kernel says the interface's driver can do with XDP (the netdev generic netlink
    family's xdp-features: e.g. 'ndo-xmit', it takes redirected frames; 'xsk-zerocopy'); None
    on a kernel without that family (before 6.3)."""
    from pyroute2.netlink import NLM_F_REQUEST, genlmsg
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.generic import GenericNetlinkSocket

    class netdevmsg(genlmsg):
        nla_map = (("NETDEV_A_DEV_UNSPEC", "none"), ("NETDEV_A_DEV_IFINDEX", "uint32"), ("NETDEV_A_DEV_PAD", "none"),
                   ("NETDEV_A_DEV_XDP_FEATURES", "uint64"))

    with in_netns(where):
        index = ifindex(where)
        sock = GenericNetlinkSocket()
        try:
            sock.bind("netdev", netdevmsg)
            msg = netdevmsg()
            msg["cmd"], msg["version"] = 1, 1  # NETDEV_CMD_DEV_GET
            msg["attrs"] = [("NETDEV_A_DEV_IFINDEX", index)]
            reply = sock.nlm_request(msg, msg_type=sock.prid, msg_flags=NLM_F_REQUEST)
        except (NetlinkError, OSError):
            return None
        finally:
            sock.close()
    bits = reply[0].get_attr("NETDEV_A_DEV_XDP_FEATURES") if reply else None
    return None if bits is None else {name for i, name in enumerate(XDP_ACTS) if bits >> i & 1}


def gro_on(where: Where) -> bool:
    try:
        with in_netns(where):
            e = IoctlEthtool(where.ifname)
            try:
                features = e.get_features()
                return "rx-gro" in features.keys() and bool(features["rx-gro"])
            finally:
                e.close()
    except (OSError, NotSupportedError):
        return False


def udp_csum_errors(where: Where) -> int | None:
    """The kernel's count of UDP datagrams dropped for a bad checksum in the interface's
    namespace (Udp: InCsumErrors, /proc/net/snmp): what a UDP socket receiver never sees."""
    try:
        with in_netns(where), open("/proc/thread-self/net/snmp") as f:
            udp = [line.split() for line in f if line.startswith("Udp:")]
    except OSError:
        return None
    if len(udp) < 2 or "InCsumErrors" not in udp[0]:
        return None
    return int(udp[1][udp[0].index("InCsumErrors")])
