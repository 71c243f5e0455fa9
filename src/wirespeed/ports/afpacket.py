"""AF_PACKET backend: a TPACKET_V2 TX ring (PACKET_QDISC_BYPASS on by default) kicked once per
batch, and a TPACKET_V3 RX block ring read in place, with PACKET_FANOUT for several workers.

linear (default): each TX frame carries a virtio_net_hdr whose hdr_len is the whole frame, so
the kernel copies the frame into the skb's linear area. Without it (trafgen's path) the kernel
copies 14 bytes and hangs the rest of the ring page on the skb as a fragment: a get_page /
put_page pair per packet and header pulls on receive. Measured on veth, 64-byte frames,
batch 64: 1.29 vs 1.10 Mpps; 1518-byte frames: 1.13 vs 0.97 Mpps.
"""

from __future__ import annotations

import numpy as np

from wirespeed import core
from wirespeed.base.netns import Where, ifindex, in_netns, port_error
from wirespeed.ports import PortSpec, UserPort

FCS = 4


def _frame_slot(max_frame: int) -> int:
    """TX slot bytes: header, the virtio_net_hdr that --linear puts before each frame, and the
    frame; a power of two so slots never straddle a block. (Without the virtio header's 10
    bytes, frames of 88..96 bytes overran a 128-byte slot: the kernel refused them, or a copy
    into the ring cut them short.)"""
    need = core.TX_DATA_OFF + core.TX_VNET_LEN + max_frame
    size = 128
    while size < need:
        size *= 2
    return size


# TX ring slots. A slot stays the kernel's until the frame's skb is freed, and over veth that is
# wherever the path holds it: without waiting sends (search's tester) a DUT's backlog (1,000)
# and qdisc (a token bucket's queue; fq_codel's limit is 10,240) held 4,096 slots, and the
# tester, its ring full, went at the DUT's rate (208 kpps through a 200 kpps token bucket,
# tester-bound; 411-499 kpps offered with 16,384).
TX_FRAMES, TX_FRAMES_NO_WAIT = 4096, 16384


class AfPacketPort(UserPort):
    backend = "afpacket"

    def __init__(self, where: Where, counters: np.ndarray, tx: bool = True, rx: bool = False,
                 max_frame: int = 1514, tx_frames: int | None = None, qdisc_bypass: bool = True, linear: bool = True,
                 wait: bool = True,
                 rx_block_size: int = 1 << 18, rx_blocks: int = 64, rx_timeout_ms: int = 2, fanout_group: int = -1):
        """max_frame: bytes handed to the kernel (no FCS). tx_frames: TX ring slots (TX_FRAMES, or
        TX_FRAMES_NO_WAIT without waiting sends)."""
        tx_frames = tx_frames or (TX_FRAMES if wait else TX_FRAMES_NO_WAIT)
        self.where = where
        self.counters = counters
        self._tx = self._rx = None
        with in_netns(where):
            index = ifindex(where)
            try:
                if tx:
                    self._tx = core.PacketTx(index, _frame_slot(max_frame), tx_frames, qdisc_bypass, not wait, linear)
                if rx:
                    self._rx = core.PacketRx(
                        index, rx_block_size, rx_blocks, rx_timeout_ms, fanout_group,
                        core.FANOUT_HASH | core.FANOUT_FLAG_ROLLOVER,
                    )
            except OSError as e:
                self.close()
                raise port_error(e, "AF_PACKET " + (e.strerror or ""), where) from None
        self.data = np.frombuffer(self._rx, np.uint8) if self._rx is not None else None

    def drain(self, timeout_ms: int = 1000) -> int:
        """Frames still in the TX ring offered until the kernel took them (--no-wait leaves some
        when the send buffer was full): a trial's or a run's count is then what left."""
        return self._tx.flush(self.counters) if self._tx is not None else 0

    def close(self) -> None:
        self.data = None
        for ring in (self._tx, self._rx):
            if ring is not None:
                ring.close()
        self._tx = self._rx = None


def open(spec: PortSpec, counters: np.ndarray) -> AfPacketPort:
    return AfPacketPort(spec.where, counters, tx=spec.tx, rx=spec.rx, max_frame=spec.max_frame - FCS,
                        qdisc_bypass=spec.opt("qdisc_bypass"), linear=spec.opt("linear"), wait=spec.opt("wait"),
                        rx_block_size=spec.rx_block_size,
                        rx_blocks=spec.rx_blocks, fanout_group=spec.fanout)
