"""VLAN (802.1Q), QinQ (802.1ad outer) and MPLS layers between Ethernet and IP: the C core's
frames decoded by dpkt as what was asked, every checksum valid, the sink finding the stamp under
them; bad stacks refused in one line."""

from __future__ import annotations

import struct
import time

import dpkt
import numpy as np
import pytest

from helpers import build, cfg_for, one_line, run_cli
from wirespeed import core
from wirespeed.base import packet
from wirespeed.base.units import frame


def _decode(f: bytes):
    """dpkt's reading of a frame: (VLAN tags as (tpid, id, pcp), MPLS labels, the IP packet)."""
    eth = dpkt.ethernet.Ethernet(f)
    tags = [(t.type if hasattr(t, "type") else None, t.id, t.pri) for t in getattr(eth, "vlan_tags", [])]
    labels = [m.val for m in getattr(eth, "mpls_labels", [])]
    return eth, tags, labels, eth.data


def _checksums_valid(ip, ipv6: bool) -> None:
    raw = bytes(ip)
    if not ipv6:
        assert packet.inet_checksum(raw[: (raw[0] & 15) * 4]) == 0, "IPv4 header checksum"
        src, dst, udp = raw[12:16], raw[16:20], raw[20:]
        pseudo = src + dst + struct.pack("!BBH", 0, 17, len(udp))
    else:
        src, dst, udp = raw[8:24], raw[24:40], raw[40:]
        pseudo = src + dst + struct.pack("!I3xB", len(udp), 17)
    assert packet.inet_checksum(pseudo + udp) == 0, "UDP checksum"


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("vlans, mpls", [((7,), ()), ((7, 100), ()), ((), (16,)), ((), (16, 17, 1048575)),
                                         ((4095,), (100, 200))])
def test_the_frames_carry_the_layers_asked_with_valid_checksums(vlans, mpls, ipv6):
    cfg = cfg_for(ipv6=ipv6, size=frame(128), vlans=vlans, pcp=5 if vlans else 0, mpls=mpls,
                  sports=__import__("wirespeed.base.units", fromlist=["Range"]).Range(1000, 8))
    frames, _ = build(cfg, 16)
    for i, f in enumerate(frames):
        assert len(f) == 124
        eth, tags, labels, ip = _decode(f)
        assert [t[1] for t in tags] == list(vlans) and all(t[2] == 5 for t in tags)
        if len(vlans) == 2:  # QinQ: the outer tag is 802.1ad
            assert struct.unpack_from("!H", f, 12)[0] == 0x88A8 and struct.unpack_from("!H", f, 16)[0] == 0x8100
        assert labels == list(mpls)
        if mpls:  # bottom of stack on the last label only
            at = 12 + 4 * len(vlans) + 2
            assert [bool(f[at + 4 * j + 2] & 1) for j in range(len(mpls))] == [j == len(mpls) - 1 for j in range(len(mpls))]
        ip = ip if not mpls else (dpkt.ip6.IP6 if ipv6 else dpkt.ip.IP)(bytes(ip))
        assert isinstance(ip, dpkt.ip6.IP6 if ipv6 else dpkt.ip.IP)
        _checksums_valid(ip, ipv6)
        assert ip.data.sport == 1000 + i % 8 and bytes(ip.data.data)[:4] == struct.pack("!I", core.PKTGEN_MAGIC)
        assert packet.l3_offset(f) == (14 + 4 * (len(vlans) + len(mpls)), ipv6)


def test_the_sink_finds_the_stamp_under_tags_and_labels():
    for vlans, mpls in (((7, 100), ()), ((), (16, 17)), ((3,), (5,))):
        frames, _ = build(cfg_for(size=frame(96), vlans=vlans, mpls=mpls), 1000)
        slot = 256
        data = np.zeros(len(frames) * slot, np.uint8)
        for i, f in enumerate(frames):
            data[i * slot:i * slot + len(f)] = np.frombuffer(f, np.uint8)
        k = core.Sink()
        k.frames(data, np.arange(len(frames), dtype=np.uint64) * slot, np.array([len(f) for f in frames], np.uint32),
                 time.time_ns())
        k.flush()
        s = k.stats()
        assert (s["pktgen"], s["other"], s["lost"], s["udp_csum_errors"], s["ip_csum_errors"]) == (1000, 0, 0, 0, 0), s


@pytest.mark.parametrize("args, needle", [
    (["--vlan", "4096"], "--vlan: a VLAN ID is 0..4095, got 4096"),
    (["--vlan", "1,2,3"], "--vlan: at most 2 VLAN IDs, got 3"),
    (["--mpls", "1048576"], "--mpls: an MPLS label is 0..1048575, got 1048576"),
    (["--pcp", "3"], "--pcp is the priority of a VLAN tag: give --vlan too"),
    (["--pcp", "8", "--vlan", "1"], "--pcp"),
    (["--vlan", "7", "--mpls", "1,2,3,4,5,6,7,8", "-s", "64"], "frame size 64 out of range: 1 VLAN tag/8 MPLS labels/IPv4/UDP"),
    (["--vlan", "7", "--backend", "udp"], "--vlan: --backend udp sends UDP payloads"),
])
def test_impossible_stacks_are_one_line(args, needle):
    r = run_cli("gen", "veth-nowhere", "--dst-mac", "02:00:00:00:00:01", "-c", "1", *args)
    assert needle in one_line(r, 2)


def _tunnel(kind: str, vni: int):
    import ipaddress

    return packet.Tunnel(kind, vni, bytes.fromhex("02aa00000001"), bytes.fromhex("02aa00000002"),
                         ipaddress.IPv4Address("198.18.0.1"), ipaddress.IPv4Address("198.18.0.2"))


@pytest.mark.parametrize("kind, vni, inner_at", [("vxlan", 77, 50), ("geneve", 5, 50), ("gre", 9, 42),
                                                 ("gre", -1, 38)])
@pytest.mark.parametrize("ipv6", [False, True])
def test_a_tunnel_wraps_the_frame_with_valid_outer_and_inner_headers(kind, vni, inner_at, ipv6):
    frames, _ = build(cfg_for(ipv6=ipv6, size=frame(200), tunnel=_tunnel(kind, vni), vlans=(7,)), 8)
    for f in frames:
        outer = dpkt.ethernet.Ethernet(f)
        ip = outer.data
        assert isinstance(ip, dpkt.ip.IP) and ip.len == len(f) - 14 and ip.dst == bytes([198, 18, 0, 2])
        assert packet.inet_checksum(bytes(ip)[:20]) == 0, "outer IPv4 header checksum"
        if kind == "gre":
            assert ip.p == 47
            flags, proto = struct.unpack_from("!HH", f, 34)
            assert proto == 0x6558 and bool(flags & 0x2000) == (vni >= 0)
            if vni >= 0:
                assert struct.unpack_from("!I", f, 38)[0] == vni
        else:
            udp = ip.data
            assert udp.dport == (4789 if kind == "vxlan" else 6081) and udp.ulen == len(f) - 34 and udp.sum == 0
            assert struct.unpack_from("!I", f, 46)[0] >> 8 == vni
        _, tags, _, inner_ip = _decode(f[inner_at:])
        assert [t[1] for t in tags] == [7]
        _checksums_valid(inner_ip, ipv6)
        assert packet.l3_offset(f) == (inner_at + 18, ipv6)


def test_the_sink_counts_frames_inside_each_tunnel():
    for kind, vni in (("vxlan", 77), ("geneve", 5), ("gre", 9), ("gre", -1)):
        frames, _ = build(cfg_for(size=frame(160), tunnel=_tunnel(kind, vni)), 500)
        slot = 256
        data = np.zeros(len(frames) * slot, np.uint8)
        for i, f in enumerate(frames):
            data[i * slot:i * slot + len(f)] = np.frombuffer(f, np.uint8)
        k = core.Sink()
        k.frames(data, np.arange(len(frames), dtype=np.uint64) * slot, np.array([len(f) for f in frames], np.uint32),
                 time.time_ns())
        k.flush()
        s = k.stats()
        assert (s["pktgen"], s["other"], s["lost"], s["udp_csum_errors"]) == (500, 0, 0, 0), (kind, s)


@pytest.mark.parametrize("args, needle", [
    (["--vxlan", "16777216"], "--vxlan: must be 0..16777215"),
    (["--vxlan", "1", "--gre", "nokey"], "--vxlan and --gre: one tunnel at a time"),
    (["--outer-dst-ip", "198.18.0.9"], "--outer-dst-ip is a tunnel's outer header"),
    (["--geneve", "3", "--backend", "udp"], "--geneve: --backend udp sends UDP payloads"),
    (["--vxlan", "3", "-s", "100"], "frame size 100 out of range: VXLAN/IPv4/UDP"),
])
def test_impossible_tunnels_are_one_line(args, needle):
    r = run_cli("gen", "veth-nowhere", "--dst-mac", "02:00:00:00:00:01", "-c", "1", *args)
    assert needle in one_line(r, 2)


def test_a_tunnel_off_the_lab_names_the_outer_addresses_it_needs():
    r = run_cli("gen", "lo", "--dst-mac", "02:00:00:00:00:01", "-c", "1", "--vxlan", "3", "-s", "200")
    assert one_line(r, 2) == ("wirespeed: a tunnel on lo needs --outer-dst-mac, --outer-src-ip and "
                              "--outer-dst-ip")


@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("proto, flags", [("tcp", 0x02), ("tcp", 0x18), ("icmp", 0)])
def test_tcp_and_icmp_frames_are_what_dpkt_reads_with_valid_checksums(proto, flags, ipv6):
    from wirespeed.base.units import Range

    frames, _ = build(cfg_for(ipv6=ipv6, size=frame(128), proto=proto, tcp_flags=flags, vlans=(5,),
                              sports=Range(2000, 4)), 8)
    for i, f in enumerate(frames):
        _, _, _, ip = _decode(f)
        raw = bytes(ip)
        l4 = raw[40:] if ipv6 else raw[(raw[0] & 15) * 4:]
        if ipv6:
            pseudo = raw[8:40] + struct.pack("!I3xB", len(l4), 6 if proto == "tcp" else 58)
        else:
            assert packet.inet_checksum(raw[:20]) == 0
            pseudo = raw[12:20] + struct.pack("!BBH", 0, 6, len(l4)) if proto == "tcp" else b""
        assert packet.inet_checksum(pseudo + l4) == 0, f"{proto} checksum"
        if proto == "tcp":
            t = ip.data
            assert isinstance(t, dpkt.tcp.TCP) and t.flags == flags and t.sport == 2000 + i % 4 and t.off == 5
            assert bytes(t.data)[:4] == struct.pack("!I", core.PKTGEN_MAGIC)
        else:
            e = ip.data
            assert e.type == (128 if ipv6 else 8) and struct.unpack_from("!H", l4, 4)[0] == 2000 + i % 4
            assert l4[8:12] == struct.pack("!I", core.PKTGEN_MAGIC)


@pytest.mark.parametrize("proto", ["tcp", "icmp"])
def test_the_sink_counts_tcp_and_icmp_streams(proto):
    frames, _ = build(cfg_for(size=frame(96), proto=proto), 500)
    bad = bytearray(frames[7])
    bad[-1] ^= 0xFF  # a payload byte: the L4 checksum no longer holds
    frames[7] = bytes(bad)
    slot = 256
    data = np.zeros(len(frames) * slot, np.uint8)
    for i, f in enumerate(frames):
        data[i * slot:i * slot + len(f)] = np.frombuffer(f, np.uint8)
    k = core.Sink()
    k.frames(data, np.arange(len(frames), dtype=np.uint64) * slot, np.array([len(f) for f in frames], np.uint32),
             time.time_ns())
    k.flush()
    s = k.stats()
    assert (s["pktgen"], s["udp_csum_errors"], s["lost"], s["other"]) == (499, 1, 1, 0), s
