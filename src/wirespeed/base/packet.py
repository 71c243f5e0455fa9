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

from wirespeed.core import PKTGEN_HDR_LEN, PKTGEN_MAGIC, STAMP_NS_FLAG, STAMP_NS_SHIFT, STAMP_USEC_MASK
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



def stamp_ns(sec: int, usec_word: int) -> int | None:
    """A pktgen header's send time in ns: tv_sec, and tv_usec's microseconds (low 20 bits) plus,
    when bit 31 says so, wirespeed's nanoseconds in bits 20..29 (kernel pktgen: whole µs).
    None when it is not a time."""
    ns = 0
    if usec_word & STAMP_NS_FLAG:
        ns = usec_word >> STAMP_NS_SHIFT & 0x7FF
        usec_word &= STAMP_USEC_MASK
    if usec_word >= 1_000_000 or ns >= 1000:
        return None
    return sec * 1_000_000_000 + usec_word * 1000 + ns


def header_bytes(ipv6: bool, stamp: bool, vlans: tuple = (), mpls: tuple = (), outer: int = 0,
                 proto: str = "udp") -> int:
    """Bytes of headers (and pktgen header) in a frame, FCS included: the smallest frame. outer:
    a tunnel's outer headers."""
    return (outer + ETH_HLEN + TAG_LEN * (len(vlans) + len(mpls)) + (IPV6_HLEN if ipv6 else IPV4_HLEN)
            + l4_bytes(proto) + (PKTGEN_HDR_LEN if stamp else 0) + FCS)


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
    """Where a frame's IP header starts, under its VLAN tags and MPLS labels and inside a VXLAN,
    GENEVE or GRE tunnel (the inner one), and whether it is IPv6 (the sink's C parser does the
    same per frame)."""
    at, v6 = _l3(frame, 0)
    hlen = IPV6_HLEN if v6 else IPV4_HLEN
    if frame[at + (6 if v6 else 9)] == IPPROTO_GRE:
        flags = struct.unpack_from("!H", frame, at + hlen)[0]
        return _l3(frame, at + hlen + 4 + (4 if flags & 0x2000 else 0) + (4 if flags & 0x8000 else 0))
    if frame[at + (6 if v6 else 9)] == 17:
        udp = at + hlen
        port = struct.unpack_from("!H", frame, udp + 2)[0]
        if port == VXLAN_PORT:
            return _l3(frame, udp + 16)
        if port == GENEVE_PORT:
            return _l3(frame, udp + 16 + 4 * (frame[udp + 8] & 0x3F))
    return at, v6


def _l3(frame: bytes, eth: int) -> tuple[int, bool]:
    at, kind = eth + ETH_HLEN, struct.unpack_from("!H", frame, eth + 12)[0]
    while kind in (ETH_P_8021Q, ETH_P_8021AD):
        kind = struct.unpack_from("!H", frame, at + 2)[0]
        at += TAG_LEN
    if kind == ETH_P_MPLS:
        while not frame[at + 2] & 1:
            at += TAG_LEN
        at += TAG_LEN
        return at, frame[at] >> 4 == 6
    return at, kind == ETH_P_IPV6


@dataclass(frozen=True)
class Template:
    frame: bytes  # the largest frame of the run, without FCS, payload zero-padded
    l3: int
    l4: int
    ipv6: bool
    outer_l3: int = 0  # a tunnel's outer IP header (0: no tunnel)
    outer_l4: int = 0  # and its outer UDP header (0: none, GRE)
    outer_v6: bool = False  # the outer header is IPv6
    outer_sports: int = 1  # outer UDP source ports from the template's, one per inner flow (a hash)
    outer_srcs: int = 1  # outer source addresses from the template's (their low 32 bits), likewise
    outer_dsts: int = 1
    proto: int = 17  # the L4 protocol number the core builds (17 UDP, 6 TCP, 1 ICMP, 58 ICMPv6)


PROTOS = ("udp", "tcp", "icmp")
TCP_HLEN = 20
TCP_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20, "E": 0x40, "C": 0x80}


def tcp_flags(text: str) -> int:
    """'S', 'SA', 'PA' ... (F S R P A U E C), or the byte as a number ('0x12', '18') -> the TCP
    flags byte."""
    if text[:1].isdigit():
        value = int(text, 0)
        if not 0 <= value <= 255:
            raise ValueError(f"TCP flags are one byte, got {text!r}")
        return value
    bits = 0
    for c in text.upper():
        if c not in TCP_FLAGS:
            raise ValueError(f"TCP flags are letters of FSRPAUEC, got {text!r}")
        bits |= TCP_FLAGS[c]
    return bits


def l4_bytes(proto: str) -> int:
    return TCP_HLEN if proto == "tcp" else UDP_HLEN


VXLAN_PORT, GENEVE_PORT = 4789, 6081  # IANA
ETH_P_TEB = 0x6558  # transparent Ethernet bridging: GENEVE's and GRE's protocol for an Ethernet frame
IPPROTO_GRE = 47
OUTER_SPORT = 50000  # the outer UDP source port (a VTEP takes it from the inner flow's hash; not 49152:
#                      tcpdump reads that port as a BCM LI shim)


@dataclass(frozen=True)
class Tunnel:
    """An outer Ethernet / IPv4 or IPv6 / (UDP / VXLAN or GENEVE header | GRE header) around the
    frame: kind vxlan or geneve (vni 0..2^24-1) or gre (vni: its key, -1 for none). sports: the
    outer UDP source ports sport .. sport + sports - 1, one per inner flow (a hash)."""

    kind: str
    vni: int
    src_mac: bytes
    dst_mac: bytes
    src_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    dst_ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sport: int = OUTER_SPORT
    ttl: int = 64
    sports: int = 1
    srcs: int = 1  # outer source addresses src_ip .. + srcs - 1 (the low 32 bits), one per inner flow
    dsts: int = 1

    @property
    def ipv6(self) -> bool:
        return self.src_ip.version == 6

    def header(self) -> tuple[bytes, int, int]:
        """The outer headers (lengths and checksums 0: the core fills them per frame), and the
        offsets of the outer IP and UDP headers in them (UDP 0 for GRE)."""
        proto = IPPROTO_GRE if self.kind == "gre" else 17
        if self.ipv6:  # version 6, no traffic class or flow label; the payload length per frame
            eth = self.dst_mac + self.src_mac + struct.pack("!H", ETH_P_IPV6)
            ip = struct.pack("!IHBB", 0x60000000, 0, proto, self.ttl) + self.src_ip.packed + self.dst_ip.packed
        else:
            eth = self.dst_mac + self.src_mac + struct.pack("!H", ETH_P_IP)
            ip = struct.pack("!BBHHHBBH", 0x45, 0, 0, 0, 0x4000, self.ttl, proto, 0)
            ip += self.src_ip.packed + self.dst_ip.packed
        if self.kind == "gre":
            if self.vni < 0:
                return eth + ip + struct.pack("!HH", 0, ETH_P_TEB), ETH_HLEN, 0
            return eth + ip + struct.pack("!HHI", 0x2000, ETH_P_TEB, self.vni), ETH_HLEN, 0  # K bit: a key
        port = VXLAN_PORT if self.kind == "vxlan" else GENEVE_PORT
        udp = struct.pack("!HHHH", self.sport, port, 0, 0)
        if self.kind == "vxlan":
            tun = struct.pack("!II", 0x08000000, self.vni << 8)  # I flag: the VNI is valid
        else:
            tun = struct.pack("!HHI", 0, ETH_P_TEB, self.vni << 8)  # version 0, no options
        return eth + ip + udp + tun, ETH_HLEN, ETH_HLEN + len(ip)

    @property
    def length(self) -> int:
        return len(self.header()[0])


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
    tunnel: Tunnel | None = None,
    proto: str = "udp",
    flags: int = 0x10,
) -> Template:
    """max_frame counts the FCS. Length and checksum fields are left for the core to fill.
    The UDP payload starts with the pktgen header (stamp) or with `payload`; zeros follow.
    vlans, pcp, mpls: the layers between Ethernet and IP (see `layers`); tunnel: outer headers
    around the whole frame (max_frame counts them); proto: udp, tcp (flags; sequence 1, window
    65535) or icmp (echo request: ICMPv6 over IPv6; the source port is its identifier)."""
    ipv6 = src_ip.version == 6
    if (dst_ip.version == 6) != ipv6:
        raise UsageError(f"source {src_ip} and destination {dst_ip} are not the same IP version")
    length = max_frame - FCS
    eth = dst_mac + src_mac + layers(vlans, pcp, mpls, ipv6)
    number = {"udp": 17, "tcp": 6, "icmp": 58 if ipv6 else 1}[proto]
    if ipv6:
        l3 = struct.pack("!IHBB", (6 << 28) | (tos << 20), 0, number, ttl) + src_ip.packed + dst_ip.packed
    else:
        l3 = struct.pack("!BBHHHBBH", 0x45, tos, 0, ip_id, 0x4000 if df else 0, ttl, number, 0)
        l3 += src_ip.packed + dst_ip.packed
    if proto == "tcp":
        udp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, (TCP_HLEN // 4) << 4, flags, 65535, 0, 0)
    elif proto == "icmp":
        udp = struct.pack("!BBHHH", 128 if ipv6 else 8, 0, 0, sport, 0)  # echo request
    else:
        udp = struct.pack("!HHHH", sport, dport, 0, 0)
    if stamp and payload:
        raise UsageError("a fixed payload replaces the pktgen header: use it without the stamp")
    frame = eth + l3 + udp + (struct.pack("!I", PKTGEN_MAGIC) if stamp else payload)
    if tunnel is None:
        return Template(frame + bytes(length - len(frame)), len(eth), len(eth) + len(l3), ipv6, proto=number)
    outer, o3, o4 = tunnel.header()
    frame = outer + frame
    return Template(frame + bytes(length - len(frame)), len(outer) + len(eth), len(outer) + len(eth) + len(l3), ipv6,
                    o3, o4, tunnel.ipv6, tunnel.sports if o4 else 1, tunnel.srcs, tunnel.dsts, number)


def fold16(s: int) -> int:
    """A one's complement sum folded to 16 bits (the same sum modulo 0xFFFF)."""
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def inet_checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum of data (once per run: templates, not packets)."""
    if len(data) % 2:
        data += b"\0"
    return ~fold16(sum(struct.unpack(f"!{len(data) // 2}H", data))) & 0xFFFF


def udp_checksum(frame: bytes, l3: int, l4: int, ipv6: bool) -> int:
    """The UDP checksum a frame should carry (pseudo-header included), 0xFFFF for a zero sum."""
    udp = bytearray(frame[l4:])
    udp[6:8] = b"\0\0"
    if ipv6:
        pseudo = frame[l3 + 8 : l3 + 40] + struct.pack("!I3xB", len(udp), 17)
    else:
        pseudo = frame[l3 + 12 : l3 + 20] + struct.pack("!BBH", 0, 17, len(udp))
    return inet_checksum(pseudo + bytes(udp)) or 0xFFFF
