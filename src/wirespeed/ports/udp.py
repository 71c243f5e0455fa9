"""UDP backend: a connected (TX) or bound (RX) datagram socket driven with sendmmsg/recvmmsg.
Frames here are UDP payloads; the kernel builds the headers."""

from __future__ import annotations

import errno
import socket
import struct

import numpy as np
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from wirespeed import core
from wirespeed.base.errors import KernelFeatureError, UsageError, WirespeedError
from wirespeed.base.netdev import TC_H_ROOT
from wirespeed.base.netns import LAB_PREFIX, Where, in_netns, port_error
from wirespeed.ports import PortSpec, Prepared, UserPort, shared_counters

SOCKBUF = 8 << 20  # bytes of socket buffer asked for (forced past rmem_max/wmem_max as root)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
UDP_SEGMENT = 103  # linux/udp.h: GSO segment size for the socket's sends
SO_TXTIME = 61  # asm-generic/socket.h: struct sock_txtime {clockid, flags}; each message's time in a cmsg
CLOCK_MONOTONIC = 1  # the clock fq compares departure times with (and the generator's schedule runs on)
SO_TIMESTAMPNS_NEW, SO_TIMESTAMPNS_OLD = 64, 35  # asm-generic/socket.h: each datagram's kernel receive stamp


class UdpPort(UserPort):
    backend = "udp"

    def __init__(
        self,
        where: Where,
        local: tuple[str, int],
        remote: tuple[str, int] | None = None,
        batch: int = 64,
        slot: int = 2048,
        counters: np.ndarray | None = None,
        reuseport: bool = False,
        gso: int = 0,
        txtime: bool = False,
    ):
        """gso: datagram bytes to send in GSO messages of up to 64 (every datagram that size);
        0 sends one message per datagram. txtime: every datagram carries its departure time
        (SO_TXTIME, CLOCK_MONOTONIC) and the interface's fq qdisc holds it until then."""
        self.where = where
        self.counters = counters if counters is not None else np.zeros(core.N_COUNTERS, np.uint64)
        self._port = None
        family = socket.AF_INET6 if ":" in local[0] else socket.AF_INET
        with in_netns(where):
            self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuseport:  # several workers share the port, the kernel spreads datagrams
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            for opt, fallback in ((SO_SNDBUFFORCE, socket.SO_SNDBUF), (SO_RCVBUFFORCE, socket.SO_RCVBUF)):
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, opt, SOCKBUF)
                except PermissionError:
                    self.sock.setsockopt(socket.SOL_SOCKET, fallback, SOCKBUF)
            self.sock.bind(local)
            if remote:
                self.sock.connect(remote)
            else:  # receiving: each datagram's time is the kernel's stamp of it (udp.h: udp_rx_stamp;
                # the first socket to ask turns the stamping on from a work queue: a datagram in
                # the first moments after may be stamped when it is read)
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS_NEW, 1)
                except OSError:  # before Linux 5.1: the same stamp as the arch's struct timespec
                    self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS_OLD, 1)
            if gso:
                try:
                    self.sock.setsockopt(socket.IPPROTO_UDP, UDP_SEGMENT, gso)
                except OSError as e:  # ENOPROTOOPT before Linux 4.18
                    raise WirespeedError(f"UDP GSO (UDP_SEGMENT) on {where}: {e.strerror}; use --no-gso") from None
            if txtime:
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, SO_TXTIME, struct.pack("iI", CLOCK_MONOTONIC, 0))
                except OSError as e:  # ENOPROTOOPT before Linux 4.19
                    raise KernelFeatureError(f"--pace kernel: SO_TXTIME on {where}: {e.strerror}; use --pace user") from None
        except (OSError, WirespeedError) as e:
            self.sock.close()
            if isinstance(e, WirespeedError):
                raise
            raise port_error(e, f"UDP socket {local[0]}:{local[1]}", where) from None
        self.gso = gso
        self._port = self._tx = self._rx = core.UdpPort(self.sock.fileno(), batch, slot, gso, txtime)
        self.data = np.frombuffer(self._port, np.uint8)

    def update_drops(self) -> None:
        pass  # a UDP socket's drops show in the kernel's UDP counters (RcvbufErrors), not per socket

    def close(self) -> None:
        self.data = None
        if self._port is not None:
            self._port.close()
            self._port = self._tx = self._rx = None
        self.sock.close()


def root_qdisc(ipr: IPRoute, index: int) -> str:
    """The kind of an interface's root qdisc ("noqueue", "fq", ...)."""
    for q in ipr.get_qdiscs(index=index):
        if q["parent"] == TC_H_ROOT:
            return q.get_attr("TCA_KIND")
    return "noqueue"


def fq_for_txtime(where: Where) -> tuple:
    """SO_TXTIME needs the fq qdisc (earliest departure time) at the interface's root: there
    already, or put there for the run in a namespace wirespeed made (removed by the closer
    returned); anywhere else the user is told the command. One line when the kernel has no fq."""
    with in_netns(where), IPRoute() as ipr:
        index = ipr.link_lookup(ifname=where.ifname)[0]
        kind = root_qdisc(ipr, index)
        if kind == "fq":
            return ()
        if not (where.netns or "").startswith(LAB_PREFIX):
            raise KernelFeatureError(f"--pace kernel: {where} has the {kind} qdisc; departure times need fq "
                                     f"(tc qdisc replace dev {where.ifname} root fq), or use --pace user")
        try:
            ipr.tc("replace", "fq", index=index)
        except NetlinkError as e:
            if e.code in (errno.ENOENT, errno.EOPNOTSUPP, errno.EINVAL):
                raise KernelFeatureError("--pace kernel: this kernel has no fq qdisc (CONFIG_NET_SCH_FQ), which "
                                         "SO_TXTIME departure times need; use --pace user") from None
            raise WirespeedError(f"--pace kernel: fq on {where}: {e}") from None

    def remove() -> None:
        with in_netns(where), IPRoute() as ipr:
            try:
                ipr.tc("del", index=index, parent=TC_H_ROOT)
            except NetlinkError:
                pass  # the namespace is gone already
    return (remove,)


def prepare(spec: PortSpec, rows: int) -> Prepared:
    closers = fq_for_txtime(spec.where) if spec.txtime else ()
    counters, _ = shared_counters(rows)
    return Prepared(spec, counters, lambda sp, i: open(sp, counters[i]), closers)


def open(spec: PortSpec, counters: np.ndarray) -> UdpPort:
    if spec.local is None:
        raise UsageError("the UDP backend needs a local address and port")
    return UdpPort(spec.where, spec.local, spec.remote, batch=spec.batch,
                   slot=max(2048, (spec.max_frame + 63) // 64 * 64), counters=counters,
                   reuseport=spec.fanout >= 0, gso=spec.gso, txtime=spec.txtime)
