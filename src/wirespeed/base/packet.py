"""Packet templates: Ethernet / IPv4 or IPv6 / UDP with a pktgen header, built once per run.

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


def header_bytes(ipv6: bool, stamp: bool) -> int:
    """Bytes of headers (and pktgen header) in a frame, FCS included: the smallest frame."""
    return ETH_HLEN + (IPV6_HLEN if ipv6 else IPV4_HLEN) + UDP_HLEN + (PKTGEN_HDR_LEN if stamp else 0) + FCS


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
) -> Template:
    """max_frame counts the FCS. Length and checksum fields are left for the core to fill.
    The UDP payload starts with the pktgen header (stamp) or with `payload`; zeros follow."""
    ipv6 = src_ip.version == 6
    if (dst_ip.version == 6) != ipv6:
        raise UsageError(f"source {src_ip} and destination {dst_ip} are not the same IP version")
    length = max_frame - FCS
    eth = dst_mac + src_mac + struct.pack("!H", ETH_P_IPV6 if ipv6 else ETH_P_IP)
    if ipv6:
        l3 = struct.pack("!IHBB", (6 << 28) | (tos << 20), 0, 17, ttl) + src_ip.packed + dst_ip.packed
    else:
        l3 = struct.pack("!BBHHHBBH", 0x45, tos, 0, ip_id, 0x4000 if df else 0, ttl, 17, 0)
        l3 += src_ip.packed + dst_ip.packed
    udp = struct.pack("!HHHH", sport, dport, 0, 0)
    if stamp and payload:
        raise UsageError("a fixed payload replaces the pktgen header: use it without the stamp")
    frame = eth + l3 + udp + (struct.pack("!I", PKTGEN_MAGIC) if stamp else payload)
    return Template(frame + bytes(length - len(frame)), ETH_HLEN, ETH_HLEN + len(l3), ipv6)


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
