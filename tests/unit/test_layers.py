"""VLAN (802.1Q), QinQ (802.1ad outer) and MPLS layers between Ethernet and IP: the C core's
frames decoded by dpkt as what was asked, every checksum valid, the sink finding the stamp under
them; bad stacks refused in one line."""

from __future__ import annotations

import struct

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import account, build, cfg_for, one_line, run_cli
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
        s = account(frames)
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
        # the outer IPv4 header read by hand: dpkt 1.9.4 (the oldest allowed) fails on a keyed GRE
        ver_ihl, tot_len, proto = f[14], struct.unpack_from("!H", f, 16)[0], f[23]
        assert ver_ihl == 0x45 and tot_len == len(f) - 14 and f[30:34] == bytes([198, 18, 0, 2])
        assert packet.inet_checksum(f[14:34]) == 0, "outer IPv4 header checksum"
        if kind == "gre":
            assert proto == 47
            flags, proto = struct.unpack_from("!HH", f, 34)
            assert proto == 0x6558 and bool(flags & 0x2000) == (vni >= 0)
            if vni >= 0:
                assert struct.unpack_from("!I", f, 38)[0] == vni
        else:
            sport, dport, ulen, usum = struct.unpack_from("!HHHH", f, 34)
            assert proto == 17 and dport == (4789 if kind == "vxlan" else 6081) and ulen == len(f) - 34 and usum == 0
            assert struct.unpack_from("!I", f, 46)[0] >> 8 == vni
        _, tags, _, inner_ip = _decode(f[inner_at:])
        assert [t[1] for t in tags] == [7]
        _checksums_valid(inner_ip, ipv6)
        assert packet.l3_offset(f) == (inner_at + 18, ipv6)


def _tunnel6(kind: str, vni: int, **kw):
    import ipaddress

    return packet.Tunnel(kind, vni, bytes.fromhex("02aa00000001"), bytes.fromhex("02aa00000002"),
                         ipaddress.IPv6Address("2001:2::1"), ipaddress.IPv6Address("2001:2::2"), **kw)


@pytest.mark.parametrize("kind, vni", [("vxlan", 77), ("geneve", 5), ("gre", 9), ("gre", -1)])
@pytest.mark.parametrize("ipv6", [False, True])
@pytest.mark.parametrize("proto", ["udp", "tcp", "icmp"])
def test_a_tunnel_over_ipv6(kind, vni, ipv6, proto):
    """The outer header IPv6: its payload length per frame, next header UDP or GRE; the outer UDP
    checksum computed and right; dpkt and Scapy read the stack, the inner checksums hold, the
    sink counts the frames inside."""
    from wirespeed.base.units import Range

    frames, _ = build(cfg_for(ipv6=ipv6, size=frame(220), tunnel=_tunnel6(kind, vni, sports=64), proto=proto,
                              sports=Range(1000, 8), vlans=(5,)), 8)
    for f in frames:
        eth = dpkt.ethernet.Ethernet(f)
        assert eth.type == 0x86DD
        ip6 = f[14:54]
        assert ip6[0] >> 4 == 6 and struct.unpack_from("!H", ip6, 4)[0] == len(f) - 54
        assert ip6[6] == (47 if kind == "gre" else 17) and ip6[8:24] == __import__("ipaddress").IPv6Address(
            "2001:2::1").packed
        if kind != "gre":  # the outer UDP checksum computed (over IPv6 a zero one needs the far end's consent)
            sport, dport, ulen, usum = struct.unpack_from("!HHHH", f, 54)
            assert dport == (4789 if kind == "vxlan" else 6081) and ulen == len(f) - 54 and usum != 0
            pseudo = ip6[8:40] + struct.pack("!I3xB", ulen, 17)
            assert packet.inet_checksum(pseudo + f[54:]) == 0, "outer UDP checksum"
        at, v6 = packet.l3_offset(f)
        assert v6 == ipv6
        if proto == "udp":
            _, _, _, inner_ip = _decode(f[at - 18:])
            _checksums_valid(inner_ip, ipv6)
    scapy = pytest.importorskip("scapy.all")
    p = scapy.Ether(frames[0])
    assert p.haslayer(scapy.IPv6) and p.haslayer(scapy.UDP) and p[scapy.UDP].dport in (4789, 6081) or kind == "gre"
    s = account(frames)
    assert (s["pktgen"], s["other"], s["lost"]) == (8, 0, 0), s


@pytest.mark.parametrize("outer6", [False, True])
def test_the_outer_header_follows_the_inner_flow(outer6):
    """--outer-sport P-Q and --outer-src-ip/--outer-dst-ip ranges: each inner flow keeps one outer
    source port and address pair (as VTEPs hash the inner headers: ECMP entropy), the flows
    spread over the ranges, and the outer checksums hold on every frame."""
    import dataclasses
    import ipaddress

    from wirespeed.base.units import Range

    t = _tunnel6("vxlan", 77) if outer6 else _tunnel("vxlan", 77)
    t = dataclasses.replace(t, sport=50000, sports=16, srcs=8, dsts=4)
    cfg = cfg_for(size=frame(180), tunnel=t, sports=Range(1000, 64), flows=64)
    frames, _ = build(cfg, 256)
    ip = 14
    by_flow: dict[int, set] = {}
    for f in frames:
        udp = ip + (40 if outer6 else 20)
        src, dst = (f[ip + 8:ip + 24], f[ip + 24:ip + 40]) if outer6 else (f[ip + 12:ip + 16], f[ip + 16:ip + 20])
        outer = (struct.unpack_from("!H", f, udp)[0], ipaddress.ip_address(src), ipaddress.ip_address(dst))
        inner = struct.unpack_from("!H", f, packet.l3_offset(f)[0] + 20)[0]
        by_flow.setdefault(inner, set()).add(outer)
        assert 50000 <= outer[0] < 50016
        assert 0 <= int(outer[1]) - int(t.src_ip) < 8 and 0 <= int(outer[2]) - int(t.dst_ip) < 4
        if outer6:
            pseudo = src + dst + struct.pack("!I3xB", len(f) - udp, 17)
            assert packet.inet_checksum(pseudo + f[udp:]) == 0, "outer UDP checksum"
        else:
            assert packet.inet_checksum(f[ip:ip + 20]) == 0, "outer IPv4 header checksum"
    assert len(by_flow) == 64 and all(len(v) == 1 for v in by_flow.values())
    used = [next(iter(v)) for v in by_flow.values()]
    assert len({u[0] for u in used}) >= 12 and len({u[1] for u in used}) == 8 and len({u[2] for u in used}) == 4


def test_the_sink_counts_frames_inside_each_tunnel():
    for kind, vni in (("vxlan", 77), ("geneve", 5), ("gre", 9), ("gre", -1)):
        frames, _ = build(cfg_for(size=frame(160), tunnel=_tunnel(kind, vni)), 500)
        s = account(frames)
        assert (s["pktgen"], s["other"], s["lost"], s["udp_csum_errors"]) == (500, 0, 0, 0), (kind, s)


@pytest.mark.parametrize("args, needle", [
    (["--vxlan", "16777216"], "--vxlan: must be 0..16777215"),
    (["--vxlan", "1", "--gre", "nokey"], "--vxlan and --gre: one tunnel at a time"),
    (["--outer-dst-ip", "198.18.0.9"], "--outer-dst-ip is a tunnel's outer header"),
    (["--geneve", "3", "--backend", "udp"], "--geneve: --backend udp sends UDP payloads"),
    (["--vxlan", "3", "-s", "100"], "frame size 100 out of range: VXLAN/IPv4/UDP"),
    (["--gre", "5", "--outer-sport", "1000-1100", "--outer-dst-mac", "02:00:00:00:00:02", "--outer-src-ip",
      "198.18.0.1", "--outer-dst-ip", "198.18.0.2"], "--outer-sport: GRE has no UDP header"),
    (["--vxlan", "5", "--outer-dst-mac", "02:00:00:00:00:02", "--outer-src-ip", "198.18.0.1", "--outer-dst-ip",
      "2001:2::2"], "one IP version for both"),
    (["--outer-sport", "70000"], "ports must be 0..65535"),
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
    s = account(frames)
    assert (s["pktgen"], s["udp_csum_errors"], s["lost"], s["other"]) == (499, 1, 1, 0), s


def _raw_frames(raw: bytes, fields=(), fix=False, n=8):
    import dataclasses

    from wirespeed.tools.gen import make_gen

    cfg = dataclasses.replace(cfg_for(), raw=raw, raw_fields=tuple(fields), raw_fix=fix, frame=frame(len(raw) + 4),
                              stamp=False)
    return build(cfg, n, make_gen(cfg))[0]


def test_a_template_is_sent_as_it_is_and_its_fields_walk_their_range():
    base, _ = build(cfg_for(size=frame(96), vlans=(9,)), 1)
    raw = base[0]
    frames = _raw_frames(raw, [(12 + 4 + 2 + 12, 4, 0, 0xC6120101, 3, 1), (18 + 20, 2, 1, 1000, 10, 2)], fix=True)
    assert frames[0][:26] == raw[:26]  # the bytes before the IPv4 checksum (--fix-checksums rewrites it)
    for i, f in enumerate(frames):
        _, tags, _, ip = _decode(f)
        assert [t[1] for t in tags] == [9]
        assert struct.unpack("!I", bytes(ip)[12:16])[0] == 0xC6120101 + i % 3  # inc over 3 source addresses
        assert ip.data.sport == 1000 + 10 - 1 - (2 * i) % 10  # dec by 2 over 1000..1009
        _checksums_valid(ip, False)  # --fix-checksums: both still hold
    unfixed = _raw_frames(raw, [(18 + 20, 2, 0, 5000, 4, 1)], fix=False)
    _, _, _, ip = _decode(unfixed[1])
    with pytest.raises(AssertionError):
        _checksums_valid(ip, False)  # without it the UDP checksum no longer holds


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_fixed_checksums_hold_for_any_fields(data):
    """--fix-checksums computes the sums incrementally from the template's (a few additions per
    field): for fields anywhere in an IPv4 or IPv6 frame, over UDP, TCP or ICMP, odd offsets and
    the pseudo-header's addresses included, both checksums hold on every frame, as dpkt and
    the whole sum read them. A field on the IP header's lengths is summed whole, and holds too."""
    ipv6 = data.draw(st.booleans())
    proto = data.draw(st.sampled_from(["udp", "tcp", "icmp"]))
    base, _ = build(cfg_for(ipv6=ipv6, size=frame(data.draw(st.integers(128, 600))), proto=proto), 1)
    raw, l3 = base[0], 14
    lo = data.draw(st.sampled_from([l3, l3 + 6]))  # from the IP header's start (its lengths: summed whole)
    fields = []
    for _ in range(data.draw(st.integers(1, 4))):
        width = data.draw(st.sampled_from([1, 2, 4]))
        off = data.draw(st.integers(lo, len(raw) - width))
        span = data.draw(st.integers(1, 300 if width > 1 else 256))
        fields.append((off, width, data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2**(8 * width) - span)),
                       span, 1))
    want = raw[l3 + (6 if ipv6 else 9)]
    for f in _raw_frames(raw, fields, fix=True, n=6):
        raw_ip = f[l3:]
        if raw_ip[6 if ipv6 else 9] != want:
            continue  # a field rewrote the protocol: its checksum is another one
        if not ipv6:
            if raw_ip[0] >> 4 != 4 or (raw_ip[0] & 15) < 5:
                continue  # a field rewrote the version or header length: not an IPv4 packet any more
            assert packet.inet_checksum(raw_ip[: (raw_ip[0] & 15) * 4]) == 0, "IPv4 header checksum"
            l4, n = raw_ip[(raw_ip[0] & 15) * 4:], struct.unpack("!H", raw_ip[2:4])[0] - (raw_ip[0] & 15) * 4
        else:
            l4, n = raw_ip[40:], struct.unpack("!H", raw_ip[4:6])[0]
        # the L4 length the IP header gives must hold the L4 checksum: a field that makes it
        # shorter (or longer than the frame) leaves no checksum that could hold
        csum_end = {17: 8, 6: 18, 1: 4, 58: 4}.get(want, 0) if want == raw_ip[9 if not ipv6 else 6] else 0
        if csum_end and csum_end <= n <= len(l4):
            if ipv6:
                pseudo = raw_ip[8:40] + struct.pack("!I3xB", n, raw_ip[6])
            else:
                pseudo = raw_ip[12:20] + struct.pack("!BBH", 0, raw_ip[9], n) if raw_ip[9] != 1 else b""
            assert packet.inet_checksum(pseudo + l4[:n]) == 0, ("L4 checksum", fields)


def test_a_field_that_makes_the_lengths_impossible_is_sent_and_read_nowhere_past_the_frame():
    """A field on the IPv4 total length that makes it shorter than the header (found by the test
    above: the whole sum then read gigabytes past the frame): the frame goes as it is, the L4
    checksum left alone, the IPv4 header's fixed."""
    base, _ = build(cfg_for(size=frame(265), proto="tcp"), 1)
    frames = _raw_frames(base[0], [(17, 2, 1, 3169, 295, 1)], fix=True, n=4)  # the length's low byte: 12 or 13
    for f in frames:
        assert struct.unpack_from("!H", f, 16)[0] < 20 and len(f) == len(base[0])
        assert packet.inet_checksum(f[14:34]) == 0


@pytest.mark.parametrize("proto", ["udp", "tcp", "icmp"])
def test_a_field_on_the_header_length_moves_the_l4_header_the_checksums_follow(proto):
    """Found by the property above: a field that makes the IPv4 header 24 bytes (0x46) moves the
    L4 header 4 bytes on, as every reader of the frame sees it; the L4 checksum was written at the
    template's place, inside the longer IP header (ICMP's), after that header's sum was taken."""
    base, _ = build(cfg_for(size=frame(200), proto=proto), 1)
    for f in _raw_frames(base[0], [(14, 2, 0, 0x4600, 1, 1)], fix=True, n=3):
        ip = f[14:]
        n = struct.unpack("!H", ip[2:4])[0] - 24
        pseudo = ip[12:20] + struct.pack("!BBH", 0, ip[9], n) if ip[9] != 1 else b""
        assert ip[0] == 0x46 and packet.inet_checksum(ip[:24]) == 0
        assert packet.inet_checksum(pseudo + ip[24:24 + n]) == 0


def test_random_fields_stay_in_their_range():
    raw = bytes(14) + bytes(50)
    frames = _raw_frames(raw, [(20, 1, 2, 10, 5, 1)], n=400)
    values = {f[20] for f in frames}
    assert values <= set(range(10, 15)) and len(values) == 5


def test_a_template_from_a_capture_and_from_scapy(tmp_path):
    frames, _ = build(cfg_for(size=frame(100)), 3)
    cap = tmp_path / "t.pcap"
    with open(cap, "wb") as fh:
        w = dpkt.pcap.Writer(fh)
        for f in frames:
            w.writepkt(f, 0)
    from wirespeed.base import values as V

    assert V.template_frame(f"{cap}:2") == frames[1] and V.template_frame(str(cap)) == frames[0]
    assert V.template_frame(frames[0].hex()) == frames[0]
    scapy = pytest.importorskip("scapy.all", reason="Scapy is an optional extra (CI installs it with [test])")
    raw = V.scapy_frame('Ether(dst="02:00:00:00:00:02")/Dot1Q(vlan=7)/IP(dst="198.18.1.2")/UDP(dport=53)/Raw(b"x"*30)')
    pkt = scapy.Ether(raw)
    assert pkt[scapy.Dot1Q].vlan == 7 and pkt[scapy.UDP].dport == 53
    # and Scapy as an oracle: the frames of a layered, tunnelled stack read back as asked
    vx, _ = build(cfg_for(size=frame(200), tunnel=_tunnel("vxlan", 77), vlans=(3,), proto="tcp", tcp_flags=0x12), 1)
    p = scapy.Ether(vx[0])
    assert p[scapy.VXLAN].vni == 77 and p[scapy.Dot1Q].vlan == 3 and p[scapy.TCP].flags == "SA"


@pytest.mark.parametrize("args, needle", [
    (["--field", "0:2:inc:1-5"], "--field works on a frame given whole: --template or --scapy"),
    (["--template", "00" * 60, "--field", "59:2:inc:1-5"], "--field at 59 (2 bytes) is beyond the 60-byte frame"),
    (["--template", "00" * 60, "--field", "0:3:inc:1-5"], "a field is 1, 2 or 4 bytes"),
    (["--template", "00" * 60, "--field", "0:1:inc:1-300"], "MIN <= MAX within 8 bits"),
    (["--template", "00" * 20], "the frame is 20 bytes: 60.."),
    (["--template", "zz"], "hex bytes or FILE.pcap[:N]"),
    (["--template", "00" * 60, "--vlan", "3"], "--vlan: --template and --scapy send their frame as it is"),
    (["--scapy", "1 + 1"], "not a packet"),
])
def test_bad_templates_and_fields_are_one_line(args, needle):
    if "--scapy" in args:
        pytest.importorskip("scapy.all", reason="Scapy is an optional extra (CI installs it with [test])")
    r = run_cli("gen", "lo", "-c", "1", *args)  # refused before anything is opened: nothing is sent
    assert needle in one_line(r, 2)
