"""OTG configs, built with snappi's own model classes, in wirespeed's words (otg.model), and the
server's answers to what it cannot do or cannot parse: an OTG error naming the field, and the
server still serving (no packet is sent here: no port is ever started)."""

from __future__ import annotations

import json
import logging

import pytest

from helpers import http_json
from wirespeed import api as wsapi
from wirespeed.base.errors import UsageError
from wirespeed.base.units import IMIX
from wirespeed.base.netns import Where
from wirespeed.otg import model

snappi = pytest.importorskip("snappi")


def _cfg():
    return snappi.api(location="http://127.0.0.1:1", loglevel=logging.ERROR).config()


def _plan(cfg) -> model.Plan:
    """As the server takes it: through snappi's deserializer, then its dict."""
    c = snappi.Config()
    c.deserialize(cfg.serialize())
    return model.plan(c.serialize(c.DICT))


def _one(name="f1"):
    cfg = _cfg()
    cfg.ports.port(name="p1", location="ns1/veth0").port(name="p2", location="198.18.1.2:8443/ns2/veth0?backend=xdp")
    f = cfg.flows.flow(name=name)[-1]
    f.tx_rx.port.tx_name, f.tx_rx.port.rx_names = "p1", ["p2"]
    return cfg, f


def test_a_flow_becomes_one_gen_stream_in_gens_own_words():
    cfg, f = _one()
    f.size.fixed = 128
    f.rate.pps = 50000
    f.duration.fixed_packets.packets = 100000
    f.metrics.enable = True
    f.metrics.latency.enable = True
    eth, tag, tag2, ip, udp = f.packet.ethernet().vlan().vlan().ipv4().udp()
    eth.dst.value = "02:00:00:00:00:02"
    tag.id.value, tag2.id.value = 7, 8
    tag.priority.value = tag2.priority.value = 5
    ip.src.value = "198.18.0.1"
    ip.dst.increment.start, ip.dst.increment.step, ip.dst.increment.count = "198.18.1.1", "0.0.0.1", 10
    ip.time_to_live.value = 9
    udp.src_port.values = [1000, 1001, 1002]
    udp.dst_port.value = 7
    p = _plan(cfg)
    assert p.ports["p2"] == model.Location("198.18.1.2:8443/ns2/veth0?backend=xdp", "veth0", "ns2", "198.18.1.2:8443",
                                           {"backend": "xdp"})
    assert p.ports["p2"].local == "ns2/veth0?backend=xdp"
    fl = p.flows[0]
    assert fl.gen == {"dst_mac": "02:00:00:00:00:02", "vlan": "7,8", "pcp": "5", "src_ip": "198.18.0.1",
                      "dst_ip": "198.18.1.1-198.18.1.10", "ttl": "9", "sport": "1000-1002", "dport": "7",
                      "size": "128", "rate": "50000pps", "count": "100000"}
    assert (fl.metrics, fl.latency, fl.frame_bytes, fl.index) == (True, True, 128, 0)
    wsapi.check_gen(**fl.gen)  # gen takes every word as it is


def test_tunnels_tcp_icmp_sizes_and_rates_map_onto_gens_options():
    cfg, f = _one()
    _, i4, u, vx, _, i6, t = f.packet.ethernet().ipv4().udp().vxlan().ethernet().ipv6().tcp()
    i4.dst.value = "198.18.9.9"
    i6.hop_limit.value = 7
    u.src_port.increment.start, u.src_port.increment.count = 50000, 16
    vx.vni.value = 100
    t.ctl_syn.value = 1
    t.dst_port.random.min, t.dst_port.random.max, t.dst_port.random.seed = 1, 100, 7
    f.size.weight_pairs.predefined = "imix"
    f.rate.mbps = 250
    f.duration.fixed_seconds.seconds = 2
    assert _plan(cfg).flows[0].gen["count"] == str(round(2 * 250e6 / (8 * (float(IMIX.mean_frame) + 20))))
    f.rate.percentage = 5
    with pytest.raises(model.Unsupported, match=r"flows\[0\].duration.fixed_seconds: with a rate in pps"):
        _plan(cfg)
    f.rate.pps = 1000
    gen = _plan(cfg).flows[0].gen
    assert gen == {"outer_dst_ip": "198.18.9.9", "outer_sport": "50000-50015", "vxlan": "100", "ipv6": True,
                   "ttl": "7", "tcp_flags": "2", "proto": "tcp", "dport": "1-100", "vary": "random", "seed": "7",
                   "size": gen["size"], "rate": "1000pps", "count": "2000"}
    assert gen["size"].name == "imix"
    cfg, f = _one()
    f.packet.ethernet().ipv4().udp().vxlan().ethernet().ipv4().udp()
    f.packet[1].time_to_live.value = 3
    with pytest.raises(model.Unsupported, match=r"packet\[1\].ipv4.time_to_live: the outer header's fields"):
        _plan(cfg)
    cfg, f = _one()
    f.packet.ethernet().ipv4().icmp()
    f.size.increment.start, f.size.increment.end, f.size.increment.step = 64, 128, 32
    f.rate.percentage = 10
    gen = _plan(cfg).flows[0].gen
    assert gen["proto"] == "icmp" and gen["size"].sizes == (64, 96, 128) and gen["rate"] == "10%"
    cfg, f = _one()
    f.packet.ethernet().mpls().mpls().ipv4().udp()
    f.packet[1].label.value, f.packet[2].label.value = 100, 200
    assert _plan(cfg).flows[0].gen["mpls"] == "100,200"


def _more(cfg, name):
    f = cfg.flows.flow(name=name)[-1]
    f.tx_rx.port.tx_name, f.tx_rx.port.rx_names = "p1", ["p2"]
    f.packet.ethernet().ipv4().udp()


def _refused(build, needle):
    cfg, f = _one()
    build(cfg, f)
    if not len(f.packet):
        f.packet.ethernet().ipv4().udp()
    with pytest.raises(model.Unsupported) as e:
        _plan(cfg)
    assert needle in str(e.value), str(e.value)


@pytest.mark.parametrize("build, needle", [
    (lambda c, f: setattr(f.packet.ethernet().ipv4().udp()[-1].src_port.decrement, "start", 9),
     "flows[0].packet[2].udp.src_port.decrement: not supported"),
    (lambda c, f: setattr(f.packet.ethernet().ipv4().udp()[-1].src_port, "values", [1, 5]),
     "flows[0].packet[2].udp.src_port.values: wirespeed walks a contiguous range"),
    (lambda c, f: f.packet.ethernet().ipv4(), "flows[0].packet[2]: a flow's frame carries udp, tcp, icmp"),
    (lambda c, f: f.packet.ipv4().udp(), "flows[0].packet[0]: a frame starts with ethernet"),
    (lambda c, f: f.packet.ethernet().ipv4().udp().ipv4(), "flows[0].packet[3]: ipv4: nothing is taken after"),
    (lambda c, f: setattr(f.duration.burst, "packets", 5), "flows[0].duration.burst: fixed_packets"),
    (lambda c, f: setattr(f.metrics, "timestamps", True), "flows[0].metrics.timestamps: not supported"),
    (lambda c, f: setattr(f.size.weight_pairs, "predefined", "tcp_imix"), "weight_pairs.predefined: imix"),
    (lambda c, f: setattr(f.packet.ethernet().ipv4()[-1].dst.increment, "step", "0.0.0.2") or f.packet.udp(),
     "flows[0].packet[1].ipv4.dst.increment.step: wirespeed steps ranges by one"),
    (lambda c, f: setattr(f.packet.ethernet().vlan()[-1].tpid, "value", 0x9100) or f.packet.ipv4().udp(),
     "flows[0].packet[1].vlan.tpid"),
    (lambda c, f: [_more(c, f"x{i}") for i in range(16)], "flows: at most 16 flows"),
    (lambda c, f: c.ports.port(name="p3", location="a/b/c"), "ports[2].location: 'a/b/c'"),
    (lambda c, f: c.ports.port(name="p3", location="ns/veth0?speed=1"), "ports[2].location: 'speed=1'"),
])
def test_what_the_stream_model_cannot_send_is_refused_by_its_path(build, needle):
    _refused(build, needle)


def test_port_options_location_preemption_is_taken_and_nothing_else_at_the_top():
    cfg, f = _one()
    f.packet.ethernet().ipv4().udp()
    cfg.options.port_options.location_preemption = True
    assert len(_plan(cfg).flows) == 1
    cfg.lags.lag(name="l1")
    with pytest.raises(model.Unsupported, match="lags: not supported"):
        _plan(cfg)


def test_locations():
    loc = model.location("h.example:9000/veth3", "p")
    assert (loc.agent, loc.netns, loc.ifname, loc.local) == ("h.example:9000", None, "veth3", "veth3")
    loc = model.location("[2001:db8::1]:8443/ns/veth0", "p")
    assert (loc.agent, loc.netns, loc.ifname) == ("[2001:db8::1]:8443", "ns", "veth0")
    loc = model.location("eth1", "p")
    assert (loc.agent, loc.netns, loc.ifname) == (None, None, "eth1")


@pytest.fixture
def server():
    from wirespeed.otg import server as srv

    s = srv.start_in_thread()
    yield s
    s.shutdown()
    s.server_close()
    s.engine.close()


def test_the_server_answers_errors_in_otgs_form_and_goes_on_serving(server):
    api = snappi.api(location=f"http://{server.address}", loglevel=logging.ERROR)
    v = api.get_version()
    assert v.api_spec_version == server.spec and v.app_version.startswith("wirespeed ")
    base = f"http://{server.address}"
    code, body = http_json("POST", base + "/config", "{nope")
    assert code == 400 and body["kind"] == "validation" and "not JSON" in body["errors"][0]
    code, body = http_json("POST", base + "/config", json.dumps({"ports": [{"name": "p1", "location": "x", "bogus": 1}]}))
    assert code == 400 and body["errors"][0] == "Config: ports[0].bogus: no such field in the OTG model"
    code, body = http_json("POST", base + "/config", json.dumps({"flows": [{"name": "f1"}]}))
    assert code == 400 and "tx_rx is a mandatory property" in body["errors"][0]  # snappi's own validation
    code, body = http_json("GET", base + "/nowhere")
    assert code == 404 and "/config" in body["errors"][0]
    cs = api.control_state()
    cs.traffic.flow_transmit.state = cs.traffic.flow_transmit.START
    with pytest.raises(Exception, match="no config: set one first"):
        api.set_control_state(cs)
    req = api.metrics_request()
    req.flow.flow_names = []
    with pytest.raises(Exception, match="no config"):
        api.get_metrics(req)
    cfg = api.config()
    cfg.ports.port(name="p1", location="ws-no-such-ns-here/veth0")
    cfg.ports.port(name="p2", location="ws-no-such-ns-here/veth1")
    f = cfg.flows.flow(name="f1")[-1]
    f.tx_rx.port.tx_name, f.tx_rx.port.rx_names = "p1", ["p2"]
    f.packet.ethernet().ipv4().udp()
    with pytest.raises(Exception, match="port p1"):
        api.set_config(cfg)
    assert api.get_version().app_version.startswith("wirespeed")


def test_listen_is_checked():
    from wirespeed.otg import server as srv

    assert srv.parse_listen("127.0.0.1:8443") == ("127.0.0.1", 8443)
    assert srv.parse_listen("[::1]:9") == ("::1", 9)
    for bad in ("8443", "host:", "h:70000"):
        with pytest.raises(UsageError, match="--listen"):
            srv.parse_listen(bad)


def test_a_part_for_an_agent_names_the_other_ports_as_peers():
    from wirespeed.otg.engine import Engine

    cfg, f = _one()
    f.packet.ethernet().ipv4().udp()
    d = json.loads(cfg.serialize())
    plan = model.plan(d)
    part = Engine._part(d, plan, "198.18.1.2:8443")
    locs = {p["name"]: p["location"] for p in part["ports"]}
    assert locs == {"p1": "peer:controller/ns1/veth0", "p2": "ns2/veth0?backend=xdp"}
    peer_plan = model.plan(part)
    assert peer_plan.ports["p1"].agent and peer_plan.ports["p2"].agent is None
    assert Where("veth0", "ns2") == Where(peer_plan.ports["p2"].ifname, peer_plan.ports["p2"].netns)


def test_an_agent_a_metrics_call_finds_lost_stops_the_run_before_the_loss_is_said():
    """The controller's watcher may not have seen it yet: the metrics call that meets an agent
    that does not answer tells every other agent to stop first, then says the loss (and every
    later call says it again)."""
    import types

    from wirespeed.otg import engine

    said = []

    class FakeAgent:
        def __init__(self, agent: str, lost: bool):
            self.agent, self.lost = agent, lost

        def call(self, method, path, body=None, timeout=0):
            said.append((self.agent, path))
            if self.lost:
                raise engine.AgentLost(f"agent {self.agent} did not answer (connection refused)")
            return {"flow_metrics": []}

    e = engine.Engine(note=lambda text: None)
    e.plan = types.SimpleNamespace(flows=[], ports={})
    e.remotes = {"a1": FakeAgent("a1", False), "a2": FakeAgent("a2", True)}
    e.running = True
    with pytest.raises(engine.OtgError, match="the run stopped: agent a2 did not answer"):
        e.metrics({"choice": "flow"})
    assert ("a1", "/control/state") in said and not e.running  # told before the loss was said
    said.clear()
    with pytest.raises(engine.OtgError, match="the run stopped: agent a2"):
        e.metrics({"choice": "flow"})
    assert said == []  # said again from memory, nobody asked
