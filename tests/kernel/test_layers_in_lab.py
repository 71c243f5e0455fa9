"""Tagged and labelled frames through the pair lab: the sink counts every one (the receiving
veth takes the outer VLAN tag off, AF_PACKET hands it over beside the frame, the sink puts it
back), and its capture holds the frames as they were sent."""

from __future__ import annotations

import shutil
import subprocess

import dpkt
import pytest

from helpers import needs_kernel_gen, tool_backends

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", [p for p in tool_backends("sink") if p.values[0] in ("afpacket", "xdp")])
@pytest.mark.parametrize("layer, words", [
    (["--vlan", "7,100", "--pcp", "3"], ("802.1Q-QinQ", "vlan 7, p 3", "vlan 100")),
    (["--mpls", "16,17"], ("MPLS (label 16", "(label 17")),
    (["--vlan", "42", "-6"], ("vlan 42", "ethertype IPv6")),
    (["--proto", "tcp", "--tcp-flags", "S"], ("Flags [S]", "seq 1")),
    (["--proto", "icmp", "--sport", "77"], ("ICMP echo request, id 77",)),
], ids=["qinq", "mpls", "vlan-v6", "tcp", "icmp"])
def test_layered_frames_arrive_whole_and_counted(pair_lab, tools, tmp_path, backend, layer, words):
    name = pair_lab.topology.name
    cap = tmp_path / "rx.pcap"
    sink = tools("sink", "--lab-name", name, "--backend", backend, "-c", "5000", "-d", "20", "--write", str(cap))
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "-c", "5000", "-r", "50kpps", "--max-burst", "1000000", "-s", "128", *layer).finish()
    s = sink.finish()
    assert g["packets"] == 5000
    assert (s["pktgen"], s["lost"], s["other"], s["udp_csum_errors"], s["ip_csum_errors"]) == (5000, 0, 0, 0, 0), s
    with open(cap, "rb") as f:
        frames = [bytes(buf) for _, buf in dpkt.pcap.Reader(f)]
    assert len(frames) == 5000 and all(len(x) == 124 for x in frames)
    eth = dpkt.ethernet.Ethernet(frames[0])
    if "--vlan" in layer:
        ids = [int(v) for v in layer[layer.index("--vlan") + 1].split(",")]
        assert [t.id for t in eth.vlan_tags] == ids
        if len(ids) == 2:
            assert frames[0][12:14] == b"\x88\xa8" and frames[0][16:18] == b"\x81\x00"
            assert all(t.pri == 3 for t in eth.vlan_tags)
    elif "--mpls" in layer:
        assert [m.val for m in eth.mpls_labels] == [16, 17]
    _tcpdump_says(cap, words)


def _tcpdump_says(cap, words) -> None:
    """tcpdump's own decoding of the capture's first frame names every layer asked for."""
    if not shutil.which("tcpdump"):
        pytest.skip("tcpdump is not installed (CI installs it)")
    out = subprocess.run(["tcpdump", "-nn", "-e", "-v", "-r", str(cap), "-c", "1"], capture_output=True, text=True,
                         timeout=30).stdout
    assert all(w in out for w in words) and "bad" not in out, out  # tcpdump says "bad cksum" of a wrong one


@pytest.mark.parametrize("tunnel, words", [(["--vxlan", "77"], ("VXLAN", "vni 77")),
                                           (["--geneve", "5"], ("Geneve", "vni 0x5")),
                                           (["--gre", "9"], ("GREv0", "key=0x9")),
                                           (["--vxlan", "78", "--outer-ipv6", "--outer-sport", "50000-50063",
                                             "--sport", "1000-1031"], ("IPv6", "VXLAN", "vni 78")),
                                           (["--geneve", "6", "--outer-src-ip", "198.18.0.1-198.18.0.9",
                                             "--outer-dst-ip", "198.18.0.2-198.18.0.5", "--sport", "1000-1031"],
                                            ("Geneve", "vni 0x6")),
                                           (["--gre", "nokey", "--outer-ipv6"], ("IPv6", "GREv0"))])
def test_tunnelled_frames_straight_into_the_sink(pair_lab, tools, tmp_path, tunnel, words):
    """No endpoint between: the sink itself looks inside the tunnel, and tcpdump reads the
    capture as that tunnel around the frame."""
    name = pair_lab.topology.name
    cap = tmp_path / "rx.pcap"
    sink = tools("sink", "--lab-name", name, "-c", "3000", "-d", "20", "--write", str(cap))
    sink.wait_for("ready")
    tools("gen", "--lab-name", name, "-c", "3000", "-r", "50kpps", "--max-burst", "1000000", "-s", "200",
          *tunnel).finish()
    s = sink.finish()
    assert (s["pktgen"], s["lost"], s["other"], s["udp_csum_errors"], s["ip_csum_errors"]) == (3000, 0, 0, 0, 0), s
    _tcpdump_says(cap, words)


def test_a_vxlan_stream_through_a_linux_vxlan_endpoint_arrives_decapsulated_and_whole(chain_lab, tools):
    """The router's namespace becomes a VXLAN endpoint (VNI 77 on its ingress address) bridged to
    its egress: frames gen wraps in VXLAN are unwrapped there and reach the sink as the inner
    frames, every one, with valid checksums."""
    from pyroute2 import NetNS

    topo = chain_lab.topology
    fwd_in, fwd_out = topo.endpoints("fwd")
    with NetNS(topo.netns("fwd")) as ipr:
        ipr.link("add", ifname="vx77", kind="vxlan", vxlan_id=77, vxlan_port=4789, vxlan_local=fwd_in.address,
                 vxlan_learning=0)
        ipr.link("add", ifname="br77", kind="bridge")
        br = ipr.link_lookup(ifname="br77")[0]
        for name in ("vx77", fwd_out.ifname):
            ipr.link("set", index=ipr.link_lookup(ifname=name)[0], master=br, state="up")
        ipr.link("set", index=br, state="up")
    sink = tools("sink", "--lab-name", topo.name, "-c", "5000", "-d", "20")
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", topo.name, "--vxlan", "77", "-c", "5000", "-r", "50kpps", "--max-burst", "1000000",
              "-s", "200").finish()
    s = sink.finish()
    assert g["packets"] == 5000
    assert (s["pktgen"], s["lost"], s["udp_csum_errors"], s["ip_csum_errors"]) == (5000, 0, 0, 0), s
    inner = 5000 * (200 - 4 - 50)  # the inner frames: the outer 50 bytes taken off
    assert 0 <= s["bytes"] - inner <= 1514 * s["other"], s  # beside them only the bridge's own few frames


def test_search_sends_tagged_frames_when_asked(pair_lab):
    """search --vlan: the tester's frames carry the tag (its receivers count them), and a stack
    too long for the frame size is one line."""
    import json

    from helpers import one_line, run_cli

    r = run_cli("search", "--lab-name", pair_lab.topology.name, "--vlan", "7,100", "--mpls", "16", "-s", "128", "--no-latency",
                "--json", "--duration-sum", "1", "--final-trial-duration", "0.3", timeout=180)
    assert r.returncode == 0, r.stderr
    goals = [g for g in (json.loads(x) for x in r.stdout.splitlines()) if g.get("type") == "goal"]
    assert goals and all(g["conditional_throughput"]["pps"] for g in goals)
    bad = run_cli("search", "--lab-name", pair_lab.topology.name, "--vlan", "7", "--mpls", "1,2,3,4,5,6,7,8",
                  "--no-latency")
    assert "frame size 64 out of range: 1 VLAN tag/8 MPLS labels/IPv4/UDP" in one_line(bad, 2)


def test_search_through_a_router_in_a_tunnel(chain_lab):
    """search --vxlan --proto tcp through Linux forwarding: the outer IPv4 header is what the
    router routes, the receiver counts the TCP frames inside; every trial at the max load loses
    nothing (the DUT's own CPU forwards 30 kpps with ease). A tunnel with no room in the frame,
    or two tunnels, is one line."""
    import json

    from helpers import one_line, run_cli

    r = run_cli("search", "--lab-name", chain_lab.topology.name, "--dut", "kernel", "--vxlan", "5", "--proto", "tcp",
                "-s", "128", "--max-load", "30kpps", "--no-latency", "--json", timeout=180)
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    goals = [g for g in lines if g.get("type") == "goal"]
    assert goals and all(g["lower_bound"]["pps"] == pytest.approx(30000) for g in goals), goals
    assert all(t["received"] == t["sent"] for t in lines if t.get("type") == "trial")
    bad = run_cli("search", "--lab-name", chain_lab.topology.name, "--vxlan", "5", "--proto", "tcp", "--no-latency")
    assert "frame size 64 out of range: VXLAN/IPv4/TCP" in one_line(bad, 2)
    two = run_cli("search", "--lab-name", chain_lab.topology.name, "--vxlan", "5", "--gre", "3", "-s", "256")
    assert "--vxlan and --gre: one tunnel at a time" in one_line(two, 2)


@pytest.mark.parametrize("backend", ["afpacket", pytest.param("kernel", marks=needs_kernel_gen)])
@pytest.mark.parametrize("fix", [True, False])
def test_a_template_with_a_field_through_the_lab(pair_lab, tools, fix, backend):
    """gen --template (a frame as hex) --field on its UDP source port: every frame arrives; with
    --fix-checksums every checksum holds, without it the varied frames fail theirs (the C loop's
    field engine, or the in-kernel generator's program)."""
    import struct as _s

    from helpers import build, cfg_for
    from wirespeed.base.units import frame

    topo = pair_lab.topology
    g_end, s_end = topo.endpoints("gen")[0], topo.endpoints("sink")[0]
    cfg = cfg_for(size=frame(100), stamp=False, src_mac=bytes.fromhex(g_end.mac.replace(":", "")),
                  dst_mac=bytes.fromhex(s_end.mac.replace(":", "")))
    raw = build(cfg, 1)[0][0]
    assert _s.unpack_from("!H", raw, 34)[0] == 9
    sink = tools("sink", "--lab-name", topo.name, "-c", "2000", "-d", "20")
    sink.wait_for("ready")
    extra = ["--fix-checksums"] if fix else []
    g = tools("gen", "--lab-name", topo.name, "--backend", backend, "--template", raw.hex(), "--field",
              "34:2:inc:1000-1099", "-c", "2000", "-r", "50kpps", "--max-burst", "1000000", *extra).finish()
    s = sink.finish()
    assert g["packets"] == 2000 and s["packets"] == 2000
    if fix:
        assert (s["other"], s["udp_csum_errors"], s["ip_csum_errors"]) == (2000, 0, 0), s
    else:
        assert s["udp_csum_errors"] == 2000 and s["other"] == 0, s  # no frame keeps port 9


@needs_kernel_gen
@pytest.mark.parametrize("layer, words", [
    (["--vlan", "7,100", "--sport", "1000-1003", "--flows", "10"], ("802.1Q-QinQ", "vlan 7", "vlan 100")),
    (["--mpls", "16,17", "-6"], ("MPLS (label 16", "(label 17")),
    (["--proto", "tcp", "--tcp-flags", "S", "--sport", "1000-1031"], ("Flags [S]", "seq 1")),
    (["--proto", "icmp", "--sport", "77-80"], ("ICMP echo request, id 77",)),
    (["--vxlan", "77", "--outer-ipv6", "--sport", "1000-1031"], ("IPv6", "VXLAN", "vni 77")),
    (["--gre", "9", "--vlan", "3"], ("GREv0", "key=0x9", "vlan 3")),
], ids=["qinq", "mpls-v6", "tcp", "icmp", "vxlan6", "gre-vlan"])
def test_the_in_kernel_generator_sends_every_layer(pair_lab, tools, tmp_path, layer, words):
    """--backend kernel: its program's frames of each stack, captured at the sink, are what
    tcpdump reads as asked, every checksum right and every frame counted."""
    name = pair_lab.topology.name
    cap = tmp_path / "rx.pcap"
    sink = tools("sink", "--lab-name", name, "-c", "3000", "-d", "20", "--write", str(cap))
    sink.wait_for("ready")
    g = tools("gen", "--lab-name", name, "--backend", "kernel", "-c", "3000", "-r", "50kpps", "--max-burst",
              "1000000", "-s", "200", *layer).finish()
    s = sink.finish()
    assert g["packets"] == 3000
    assert (s["pktgen"], s["lost"], s["other"], s["udp_csum_errors"], s["ip_csum_errors"]) == (3000, 0, 0, 0, 0), s
    _tcpdump_says(cap, words)
