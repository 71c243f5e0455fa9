"""Packet templates: Ethernet [/ 802.1ad / 802.1Q tags] [/ MPLS labels] / IPv4 or IPv6 / UDP
with a pktgen header, built once per run.

The C core copies the template per packet and fills in what varies (addresses, ports,
lengths, sequence, timestamp, checksums). Frame sizes here include the 4-byte FCS, as on the
wire; the bytes handed to the kernel are 4 fewer (the NIC or veth adds or ignores the FCS).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from wirespeed.core import PKTGEN_HDR_LEN, PKTGEN_MAGIC
from wirespeed.base.errors import UsageError

FCS = 4
ETH_HLEN = 14
IPV4_HLEN = 20
IPV6_HLEN = 40
UDP_HLEN = 8
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD
ETH_P_8021Q, ETH_P_8021AD, ETH_P_MPLS = 0x8100, 0x88A8, 0x8847
TAG_LEN = 4  # a VLAN tag (TPID, TCI) or an MPLS label stack entry
MAX_VLANS, MAX_LABELS = 2, 8
MPLS_TTL = 64


def header_bytes(ipv6: bool, stamp: bool, vlans: tuple = (), mpls: tuple = ()) -> int:
    """Bytes of headers (and pktgen header) in a frame, FCS included: the smallest frame."""
    return (ETH_HLEN + TAG_LEN * (len(vlans) + len(mpls)) + (IPV6_HLEN if ipv6 else IPV4_HLEN) + UDP_HLEN
            + (PKTGEN_HDR_LEN if stamp else 0) + FCS)


def layers(vlans: tuple[int, ...] = (), pcp: int = 0, mpls: tuple[int, ...] = (), ipv6: bool = False) -> bytes:
    """What follows the two MAC addresses up to the IP header: the VLAN tags (two: 802.1ad outer,
    802.1Q inner, QinQ; each with priority pcp), the EtherType, the MPLS label stack (the last
    one bottom of stack, TTL 64)."""
    out = b""
    for i, vid in enumerate(vlans):
        tpid = ETH_P_8021AD if len(vlans) > 1 and i == 0 else ETH_P_8021Q
        out += struct.pack("!HH", tpid, (pcp << 13) | vid)
    out += struct.pack("!H", ETH_P_MPLS if mpls else ETH_P_IPV6 if ipv6 else ETH_P_IP)
    for j, label in enumerate(mpls):
        out += struct.pack("!I", (label << 12) | ((j == len(mpls) - 1) << 8) | MPLS_TTL)
    return out


def l3_offset(frame: bytes) -> tuple[int, bool]:
    """Where a frame's IP header starts, under its VLAN tags and MPLS labels, and whether it is
    IPv6 (the sink's C parser does the same per frame)."""
    at, kind = ETH_HLEN, struct.unpack_from("!H", frame, 12)[0]
    while kind in (ETH_P_8021Q, ETH_P_8021AD):
        kind = struct.unpack_from("!H", frame, at + 2)[0]
        at += TAG_LEN
    if kind == ETH_P_MPLS:
        while not frame[at + 2] & 1:
            at += TAG_LEN
        at += TAG_LEN
        return at, frame[at] >> 4 == 6
    return at, kind == ETH_P_IPV6


def parse_mac(text: str) -> bytes:
    parts = text.split(":")
    try:
        if len(parts) != 6:
            raise ValueError
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise UsageError(f"bad MAC address {text!r}: use six hex bytes like 02:57:53:00:00:01") from None


def mac_str(mac: bytes) -> str:
    return ":".join(f"{b:02x}" for b in mac)


@dataclass(frozen=True)
class Template:
    frame: bytes  # the largest frame of the run, without FCS, payload zero-padded
    l3: int
    l4: int
    ipv6: bool


def build_template(
    src_mac: bytes,
    dst_mac: bytes,
    src_ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    dst_ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    sport: int,
    dport: int,
    max_frame: int,
    stamp: bool = True,
    ttl: int = 64,
    tos: int = 0,
    df: bool = True,
    ip_id: int = 0,
    payload: bytes = b"",
    vlans: tuple[int, ...] = (),
    pcp: int = 0,
    mpls: tuple[int, ...] = (),
) -> Template:
    """max_frame counts the FCS. Length and checksum fields are left for the core to fill.
    The UDP payload starts with the pktgen header (stamp) or with `payload`; zeros follow.
    vlans, pcp, mpls: the layers between Ethernet and IP (see `layers`)."""
    ipv6 = src_ip.version == 6
    if (dst_ip.version == 6) != ipv6:
        raise UsageError(f"source {src_ip} and destination {dst_ip} are not the same IP version")
    length = max_frame - FCS
    eth = dst_mac + src_mac + layers(vlans, pcp, mpls, ipv6)
    if ipv6:
        l3 = struct.pack("!IHBB", (6 << 28) | (tos << 20), 0, 17, ttl) + src_ip.packed + dst_ip.packed
    else:
        l3 = struct.pack("!BBHHHBBH", 0x45, tos, 0, ip_id, 0x4000 if df else 0, ttl, 17, 0)
        l3 += src_ip.packed + dst_ip.packed
    udp = struct.pack("!HHHH", sport, dport, 0, 0)
    if stamp and payload:
        raise UsageError("a fixed payload replaces the pktgen header: use it without the stamp")
    frame = eth + l3 + udp + (struct.pack("!I", PKTGEN_MAGIC) if stamp else payload)
    return Template(frame + bytes(length - len(frame)), len(eth), len(eth) + len(l3), ipv6)


def inet_checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum of data (once per run: templates, not packets)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_checksum(frame: bytes, l3: int, l4: int, ipv6: bool) -> int:
    """The UDP checksum a frame should carry (pseudo-header included), 0xFFFF for a zero sum."""
    udp = bytearray(frame[l4:])
    udp[6:8] = b"\0\0"
    if ipv6:
        pseudo = frame[l3 + 8 : l3 + 40] + struct.pack("!I3xB", len(udp), 17)
    else:
        pseudo = frame[l3 + 12 : l3 + 20] + struct.pack("!BBH", 0, 17, len(udp))
    return inet_checksum(pseudo + bytes(udp)) or 0xFFFF
