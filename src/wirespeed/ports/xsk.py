"""AF_XDP backend: one socket per queue, worker i on queue i, each over its own preallocated
UMEM, the fill, completion, RX and TX rings mapped from the kernel (csrc/xsk.h), need_wakeup on.
For receiving, an XSKMAP and our redirect program (bpf.progs.xsk_redirect), attached once
through a bpf_link by the parent (Steering): frames of a queue go to its worker's socket,
frames of a queue no worker owns pass on to the stack.

copy: 'zc' (zero-copy, the driver must offer it), 'copy', or 'auto' (zero-copy, else copy).
xdp_mode: how the redirect program attaches: 'native' (driver), 'skb' (generic) or 'auto'.
On veth: zero-copy is refused (EOPNOTSUPP), copy mode works with native and generic XDP; each
copy-mode TX kick sends at most 32 frames unless the kernel takes XDP_MAX_TX_SKB_BUDGET (6.17+).
"""

from __future__ import annotations

import errno

import numpy as np

from wirespeed import core
from wirespeed.base.errors import WirespeedError
from wirespeed.base.netns import Where, ifindex, in_netns, port_error
from wirespeed.ports import PortSpec, Prepared, UserPort, check_queues, shared_counters

COPY_MODES = ("auto", "copy", "zc")
XSK_FRAME = 4096  # UMEM frame bytes: the largest frame this backend sends (FCS not included)
TX_RING = 2048  # descriptors per ring of a sending socket (UMEM 16 MiB)
# A receiving socket's rings hold 8,192 frames: 16 ms at 500 kpps (with 2,048 a count run at 2 x
# 250 kpps on two CPUs shared with the senders lost 477 of 10^6 frames, with 8,192 none), 0.9 ms
# at 9 Mpps. Receive-only, it has no TX frames, and its frames are 2,048 bytes where the MTU
# allows: a UMEM of 16 MiB instead of 64. Measured at ~9 Mpps from gen/kernel (3 runs each):
# 4,096-byte frames lost 14-42 thousand frames a run (the ring full after a stall of ~1 ms);
# 2,048-byte frames none; rings of 16,384 and 32,768 none either, but at 0.87 and 0.71 x the
# rate (more frames in flight, more cache lines the kernel's copy and our reads miss).
RX_RING = 8192
SMALL_FRAME = 2048
HEADROOM = 256  # XDP_PACKET_HEADROOM: the kernel writes a received frame this far into its UMEM frame


class XdpPort(UserPort):
    backend = "xdp"

    def __init__(
        self,
        where: Where,
        tx: bool = True,
        rx: bool = False,
        queue: int = 0,
        copy: str = "auto",
        ring_size: int = 2048,
        frame_size: int = 4096,
        counters: np.ndarray | None = None,
        share: XdpPort | None = None,
        steer: Steering | None = None,
        busy_poll: int = 0,
    ):
        """share: a receiving XdpPort whose UMEM this (transmit-only) port sends from, by address:
        forwarding between the two without copying (XDP_SHARED_UMEM). steer: the interface's
        redirect program and XSKMAP (made by prepare); a receiving port puts its socket in the
        map at its queue."""
        if copy not in COPY_MODES:
            raise WirespeedError(f"-C/--copy must be one of {', '.join(COPY_MODES)}, got {copy!r}")
        self.where, self.queue, self.steer = where, queue, steer
        self.counters = counters if counters is not None else np.zeros(core.N_COUNTERS, np.uint64)
        self._xsk = None
        self.data = None
        try:
            with in_netns(where):
                index = ifindex(where)
                if share is not None:
                    try:
                        self._xsk = core.XskPort(index, queue, share=share._xsk)
                    except OSError as e:
                        raise port_error(e, "AF_XDP (shared UMEM)", where) from None
                    self.copy = share.copy
                else:
                    self._xsk, self.copy = self._bind(index, queue, copy, ring_size, frame_size, rx, tx)
            if busy_poll:
                try:
                    self._xsk.busy_poll(busy_poll, 64)
                except OSError as e:
                    raise WirespeedError(f"--busy-poll on {where}: the kernel refused busy polling ({e.strerror}; "
                                         f"SO_PREFER_BUSY_POLL needs Linux 5.11)") from None
            if rx:
                if steer is None:
                    raise AssertionError("a receiving AF_XDP port needs the interface's steering (prepare)")
                steer.map.update(queue, int(self._xsk.fd).to_bytes(4, "little"))
        except BaseException:
            self.close()
            raise
        self.xdp_mode = steer.link.mode if rx else None
        self._tx = self._rx = self._xsk
        self.data = np.frombuffer(self._xsk, np.uint8)

    def _bind(self, index, queue, copy, ring_size, frame_size, rx, tx):
        tries = {"zc": [("zc", core.XDP_ZEROCOPY)], "copy": [("copy", core.XDP_COPY)],
                 "auto": [("zc", core.XDP_ZEROCOPY), ("copy", core.XDP_COPY)]}[copy]
        for name, flags in tries:
            try:
                return core.XskPort(index, queue, ring_size, frame_size, flags, rx, tx), name
            except OSError as e:
                refused = e.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.EPROTONOSUPPORT)
                if name == "zc" and refused and len(tries) > 1:
                    continue  # auto: this driver has no zero-copy
                if e.errno == errno.EAFNOSUPPORT:
                    raise WirespeedError(f"AF_XDP on {self.where}: this kernel has no AF_XDP sockets") from None
                if name == "zc" and refused:
                    raise WirespeedError(f"AF_XDP on {self.where}: no zero-copy here ({e.strerror}); use -C copy") from None
                if e.errno == errno.ENOMEM:
                    raise WirespeedError(f"AF_XDP on {self.where}: UMEM of {2 * ring_size * frame_size:,} bytes "
                                         f"refused ({e.strerror}; RLIMIT_MEMLOCK?)") from None
                raise port_error(e, "AF_XDP", self.where) from None
        raise AssertionError("unreachable")

    def drain(self, timeout_ms: int = 1000) -> int:
        """Wait until the kernel has sent every queued frame; how many it had not."""
        return self._xsk.drain(timeout_ms, self.counters) if self._xsk is not None else 0

    # -- zero-copy forwarding (fwd): frames change hands by UMEM address -------------------------
    def rx_take(self, addrs: np.ndarray, lengths: np.ndarray) -> int:
        """Received frames by address; ours until release() or a sharing port's recycle()."""
        return self._xsk.rx_take(addrs, lengths, self.counters)

    def release(self, addrs: np.ndarray) -> None:
        """Frames taken with rx_take and not sent, back to the fill ring."""
        self._xsk.refill(addrs, len(addrs))

    def tx_addrs(self, addrs: np.ndarray, lengths: np.ndarray) -> int:
        return self._xsk.tx_addrs(addrs, lengths, len(addrs), self.counters)

    def recycle(self) -> int:
        """Frames sent and completed go back to the owner's fill ring."""
        return self._xsk.recycle()

    @property
    def inflight(self) -> int:
        return self._xsk.inflight

    def wait(self, timeout_ms: int) -> None:
        """Sleep until a frame arrives or timeout_ms passes (one poll())."""
        import select

        p = select.poll()
        p.register(self._xsk.fd, select.POLLIN)
        p.poll(timeout_ms)

    def facts(self) -> dict:
        return {"xdp_mode": self.xdp_mode, "copy": self.copy, "queue": self.queue,
                "note": self.steer.link.fallback if self.xdp_mode else None}

    def stats(self) -> dict:
        return self._xsk.stats()

    def close(self) -> None:
        self.data = None
        if self._xsk is not None:
            self._xsk.close()  # the kernel takes it out of the XSKMAP
        self._xsk = self._tx = self._rx = None


class Steering:
    """What sends an interface's frames to AF_XDP sockets: an XSKMAP with a slot per RX queue
    and the redirect program (bpf.progs.xsk_redirect), attached through a bpf_link. Made once,
    in the parent, for every worker: worker i's socket takes slot i; a queue without a socket
    passes its frames on to the stack."""

    def __init__(self, where: Where, rx_queues: int, xdp_mode: str):
        from wirespeed.bpf import MAP_XSKMAP, Map, Prog, XdpLink, progs

        self.map = self.prog = self.link = None
        try:
            self.map = Map(MAP_XSKMAP, 4, rx_queues, "ws_xsks")
            self.prog = Prog(progs.xsk_redirect(), {"xsks": self.map})
            with in_netns(where):
                self.link = XdpLink(self.prog, ifindex(where), str(where), xdp_mode)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        for obj in (self.link, self.prog, self.map):
            if obj is not None:
                obj.close()
        self.link = self.prog = self.map = None


def prepare(spec: PortSpec, rows: int) -> Prepared:
    """Worker i opens queue i. Receiving, the steering is made here, before the workers fork."""
    _, rxq = check_queues(spec.where, rows, spec.tx, spec.rx)
    if spec.rx and rows < rxq:
        spec.note(f"{spec.where} has {rxq} RX queues and -w {rows} takes queue(s) 0-{rows - 1}: frames arriving on "
                  f"the others pass to the stack uncounted; -w {rxq} receives them all")
    ring = RX_RING if spec.rx else TX_RING
    frame = XSK_FRAME
    if spec.rx and not spec.tx:
        from wirespeed.base.netdev import link_info

        if (link_info(spec.where)["mtu"] or 9000) + 14 + HEADROOM <= SMALL_FRAME:
            frame = SMALL_FRAME
    counters, _ = shared_counters(rows)
    steer = Steering(spec.where, rxq, spec.opt("xdp_mode")) if spec.rx and spec.share is None else None  # made last

    def opener(sp: PortSpec, i: int) -> XdpPort:
        return XdpPort(sp.where, tx=sp.tx, rx=sp.rx, queue=i, copy=sp.opt("copy"), ring_size=ring, frame_size=frame,
                       counters=counters[i], share=sp.share, steer=steer, busy_poll=sp.opt("busy_poll") if sp.rx else 0)

    return Prepared(spec, counters, opener, (steer.close,) if steer else ())
