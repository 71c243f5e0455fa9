"""The lab: network namespaces joined by veth pairs, so every tool runs on one machine.

A topology is data: nodes (one namespace each) and wires (one veth pair each, one end in each
of two nodes). `pair` is gen — sink over one wire; `chain` is gen — fwd — sink over two. Wire i
carries 198.18.i.0/24 (RFC 2544 benchmarking range), side a .1 and side b .2, with fixed
locally administered MACs 02:57:53:ii:00:0s and permanent neighbour entries, so no ARP or IPv6
chatter disturbs a measurement.

Every namespace is named ws-<lab>-<node>: leftovers of a killed run are found by that prefix.
All netlink work goes through pyroute2.
"""

from __future__ import annotations

import errno
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pyroute2 import NetNS, netns
from pyroute2.ethtool.ioctl import IoctlEthtool
from pyroute2.netlink.exceptions import NetlinkError

from wirespeed.base.errors import KernelFeatureError, PrivilegeError, UsageError, WirespeedError
from wirespeed.base.netdev import TC_H_ROOT
from wirespeed.base.netns import LAB_PREFIX, enter_netns, missing_caps

PREFIX = LAB_PREFIX
NAME_RE = re.compile(r"^[a-z0-9]{1,12}$")
NET = "198.18"


@dataclass(frozen=True)
class Endpoint:
    node: str
    ifname: str
    mac: str
    address: str
    address6: str  # for IPv6 templates (RFC 5180 benchmarking range); not configured: IPv6 is off
    prefixlen: int = 24


@dataclass(frozen=True)
class Wire:
    """One veth pair: end a in node a, end b in node b."""

    a: Endpoint
    b: Endpoint

    def ends(self) -> tuple[tuple[Endpoint, Endpoint], tuple[Endpoint, Endpoint]]:
        """(end, its peer) for both ends."""
        return (self.a, self.b), (self.b, self.a)


@dataclass(frozen=True)
class Topology:
    name: str
    nodes: tuple[str, ...]
    wires: tuple[Wire, ...]
    queues: int = 1  # TX and RX queues of every veth end (one per CPU, as a multi-queue NIC has)

    def netns(self, node: str) -> str:
        if node not in self.nodes:
            raise UsageError(f"lab {self.name!r} has no node {node!r} (nodes: {', '.join(self.nodes)})")
        return f"{PREFIX}{self.name}-{node}"

    def endpoints(self, node: str) -> list[Endpoint]:
        return [end for w in self.wires for end, _ in w.ends() if end.node == node]

    def peer(self, end: Endpoint) -> Endpoint:
        for w in self.wires:
            for e, p in w.ends():
                if e == end:
                    return p
        raise KeyError(end)


def wire(index: int, a: tuple[str, str], b: tuple[str, str]) -> Wire:
    """Wire number `index` between (node, ifname) a and b, with its addresses and MACs."""
    return Wire(
        Endpoint(a[0], a[1], f"02:57:53:{index:02x}:00:01", f"{NET}.{index}.1", f"2001:2:0:{index:x}::1"),
        Endpoint(b[0], b[1], f"02:57:53:{index:02x}:00:02", f"{NET}.{index}.2", f"2001:2:0:{index:x}::2"),
    )


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise UsageError(f"lab name must be 1-12 lowercase letters or digits, got {name!r}")
    return name


MAX_QUEUES = 64


def check_queues(queues: int, note=lambda text: None) -> int:
    """--queues: 1..MAX_QUEUES; more than the CPUs works (veth takes it) but is said: a queue's
    frames are processed on the CPU that sent them, so queues beyond the CPUs add no core."""
    if not 1 <= queues <= MAX_QUEUES:
        raise UsageError(f"--queues must be 1..{MAX_QUEUES}, got {queues}")
    cpus = len(os.sched_getaffinity(0))
    if queues > cpus:
        note(f"--queues {queues} on a host with {cpus} CPU(s): queues beyond the CPUs add no core")
    return queues


def pair(name: str = "lab", queues: int = 1) -> Topology:
    """gen — sink over one veth pair."""
    return Topology(check_name(name), ("gen", "sink"), (wire(0, ("gen", "veth0"), ("sink", "veth0")),), queues)


def chain(name: str = "lab", queues: int = 1) -> Topology:
    """gen — fwd — sink over two veth pairs."""
    return Topology(
        check_name(name),
        ("gen", "fwd", "sink"),
        (
            wire(0, ("gen", "veth0"), ("fwd", "veth0")),
            wire(1, ("fwd", "veth1"), ("sink", "veth0")),
        ),
        queues,
    )


TOPOLOGIES = {"pair": pair, "chain": chain}


def require_root(what: str) -> None:
    """Root, and the capabilities root may have lost (a container, setpriv): checked before pyroute2
    opens anything (a refused NetNS leaves its event loop behind, which complains at exit)."""
    if os.geteuid() != 0:
        raise PrivilegeError(f"{what} needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN to create network namespaces)")
    missing = missing_caps("CAP_SYS_ADMIN", "CAP_NET_ADMIN")
    if missing:
        raise PrivilegeError(f"{what} needs {' and '.join(missing)}: this process is root without "
                             f"{'them' if len(missing) > 1 else 'it'} (a container or setpriv dropped them)")


@contextmanager
def privileged(what: str) -> Iterator[None]:
    """Root alone is not enough (a container may drop capabilities): EPERM becomes one line."""
    require_root(what)
    try:
        yield
    except PermissionError as e:
        raise PrivilegeError(f"{what}: {e.strerror or e} (needs CAP_SYS_ADMIN and CAP_NET_ADMIN)") from None
    except NetlinkError as e:
        if e.code in (errno.EPERM, errno.EACCES):
            raise PrivilegeError(f"{what}: {os.strerror(e.code)} (needs CAP_NET_ADMIN)") from None
        raise WirespeedError(f"{what}: netlink error: {e}") from None


def _sysctl(path: str, value: str) -> None:
    """Write a sysctl of the current thread's namespace; absent ones (no IPv6) are skipped."""
    try:
        with open(f"/proc/sys/{path}", "w") as f:
            f.write(value)
    except FileNotFoundError:
        pass


def _segment_udp_before_the_driver(ifname: str) -> None:
    """veth hands a UDP GSO packet to its peer whole and counts it as one packet. With
    tx-udp-segmentation off, the stack cuts it into datagrams just before the driver, so the
    interface counts datagrams, as a NIC that segments in hardware counts frames on the wire."""
    e = IoctlEthtool(ifname)
    try:
        features = e.get_features()
        if "tx-udp-segmentation" in features and features["tx-udp-segmentation"]:
            features["tx-udp-segmentation"] = False
            e.set_features(features)
    finally:
        e.close()


def lab_namespaces(name: str | None = None) -> list[str]:
    """Our namespaces: those of lab `name`, or all of them."""
    want = f"{PREFIX}{name}-" if name else PREFIX
    return sorted(ns for ns in netns.listnetns() if ns.startswith(want))


def _remove(ns: str) -> None:
    try:
        netns.remove(ns)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno == errno.EBUSY:  # the unmount before the unlink was refused
            raise PrivilegeError(f"cannot remove network namespace {ns}: still mounted (unmounting needs CAP_SYS_ADMIN)") from None
        raise


class Lab:
    """Create, enter and remove one topology. As a context manager it removes what it made."""

    def __init__(self, topology: Topology, keep: bool = False):
        self.topology = topology
        self.keep = keep

    def __enter__(self) -> "Lab":
        self.up()
        return self

    def __exit__(self, *exc) -> None:
        if not self.keep:
            self.down()

    def netns(self, node: str) -> str:
        return self.topology.netns(node)

    def enter(self, node: str):
        return enter_netns(self.netns(node))

    def ifindex(self, node: str, ifname: str) -> int:
        with NetNS(self.netns(node)) as ipr:
            found = ipr.link_lookup(ifname=ifname)
        if not found:
            raise WirespeedError(f"no interface {ifname} in {self.netns(node)}")
        return found[0]

    def up(self) -> None:
        """Create whatever is missing and configure all of it; a failure undoes what this call made."""
        with privileged("wirespeed lab up"):
            self._up()

    def _up(self) -> None:
        made_ns: list[str] = []
        made_wires: list[Wire] = []
        try:
            existing = set(netns.listnetns())
            for node in self.topology.nodes:
                ns = self.netns(node)
                if ns not in existing:
                    netns.create(ns)
                    made_ns.append(ns)
                with enter_netns(ns):
                    # New interfaces inherit this: no router solicitations or DAD in the lab.
                    _sysctl("net/ipv6/conf/default/disable_ipv6", "1")
                with NetNS(ns) as ipr:
                    ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            for w in self.topology.wires:
                if self._ensure_wire(w):
                    made_wires.append(w)
            self._wait_carrier()
        except BaseException:
            for w in made_wires:
                self._delete_wire(w)
            for ns in made_ns:
                _remove(ns)
            raise

    def _ensure_wire(self, w: Wire) -> bool:
        """Make the veth pair exist and be configured; True if it was created now."""
        created = False
        with NetNS(self.netns(w.a.node)) as a, NetNS(self.netns(w.b.node)) as b:
            ia, ib = a.link_lookup(ifname=w.a.ifname), b.link_lookup(ifname=w.b.ifname)
            if not (ia and ib):
                # Half a wire (its peer namespace was removed under it): start this wire over.
                if ia:
                    a.link("del", index=ia[0])
                if ib:
                    b.link("del", index=ib[0])
                q = self.topology.queues
                a.link(
                    "add",
                    ifname=w.a.ifname,
                    kind="veth",
                    address=w.a.mac,
                    num_tx_queues=q,
                    num_rx_queues=q,
                    peer={"ifname": w.b.ifname, "net_ns_fd": self.netns(w.b.node), "address": w.b.mac,
                          "num_tx_queues": q, "num_rx_queues": q},
                )
                created = True
            for ipr, (end, peer) in zip((a, b), w.ends()):
                idx = ipr.link_lookup(ifname=end.ifname)[0]
                ipr.link("set", index=idx, address=end.mac)
                have = {x.get("IFA_ADDRESS") for x in ipr.get_addr(index=idx, family=socket.AF_INET)}
                if end.address not in have:
                    ipr.addr("add", index=idx, address=end.address, prefixlen=end.prefixlen)
                ipr.link("set", index=idx, state="up")
                ipr.neigh("replace", dst=peer.address, lladdr=peer.mac, ifindex=idx, state="permanent")
        for end in (w.a, w.b):
            with enter_netns(self.netns(end.node)):
                _segment_udp_before_the_driver(end.ifname)
        return created

    def _wait_carrier(self, timeout: float = 15.0) -> None:
        """Return once every lab interface reports operstate UP (veth ends come up asynchronously,
        through the kernel's link watch: seconds when the machine is busy, seen 5 s in a full suite)."""
        deadline = time.monotonic() + timeout
        for node in self.topology.nodes:
            ends = {e.ifname for e in self.topology.endpoints(node)}
            with NetNS(self.netns(node)) as ipr:
                while True:
                    states = {l.get("ifname"): l.get("operstate") for l in ipr.get_links()}
                    down = [i for i in ends if states.get(i) != "UP"]
                    if not down:
                        break
                    if time.monotonic() > deadline:
                        raise WirespeedError(f"lab up: {', '.join(down)} in {self.netns(node)} did not come up")
                    time.sleep(0.01)

    def _delete_wire(self, w: Wire) -> None:
        try:
            with NetNS(self.netns(w.a.node)) as a:
                idx = a.link_lookup(ifname=w.a.ifname)
                if idx:
                    a.link("del", index=idx[0])
        except (OSError, NetlinkError):
            pass

    def down(self) -> list[str]:
        """Remove this lab's namespaces (their veths go with them). Returns what was removed."""
        return down(self.topology.name)


def route(topo: Topology, node: str = "fwd") -> None:
    """A node as a Linux IPv4 router (ip_forward=1): the chain's middle forwards gen's frames
    to the sink (their neighbours are permanent, so no ARP is needed either way), and each end
    reaches the other end's subnet through it (a UDP socket sender needs the route)."""
    import ipaddress

    with privileged("making a Linux router in the lab"):
        with enter_netns(topo.netns(node)):
            _sysctl("net/ipv4/ip_forward", "1")
            _sysctl("net/ipv4/conf/all/rp_filter", "0")
        ends = topo.endpoints(node)
        for mine in ends:
            near = topo.peer(mine)
            with NetNS(topo.netns(near.node)) as ipr:
                for other in ends:
                    if other is not mine:
                        net = ipaddress.ip_interface(f"{other.address}/{other.prefixlen}").network
                        ipr.route("replace", dst=str(net), gateway=mine.address)


class Lossy:
    """Random loss on an interface's ingress while this object is open (an XDP program that
    drops a share of the frames at random; this kernel may have no netem)."""

    def __init__(self, topo: Topology, node: str, ifname: str, loss_pct: float):
        from wirespeed.base.netns import Where, ifindex
        from wirespeed.bpf import Prog, XdpLink, progs

        self.prog = Prog(progs.xdp_random_drop(loss_pct / 100))
        try:
            with enter_netns(topo.netns(node)):
                self.link = XdpLink(self.prog, ifindex(Where(ifname)), ifname, "auto")
        except BaseException:
            self.prog.close()
            raise

    def close(self) -> None:
        self.link.close()
        self.prog.close()


def _rps_path(ifname: str, queue: int = 0) -> str:
    return f"/sys/class/net/{ifname}/queues/rx-{queue}/rps_cpus"


def rps(ns: str, ifname: str) -> list[int] | None:
    """The CPUs RPS steers an interface's receive processing to (None: RPS off, the receive work
    runs where the frame came in: over veth, on the sender's CPU). sysfs shows a namespace's
    interfaces only to a mount made inside it, hence `ip netns exec`."""
    import subprocess

    try:
        r = subprocess.run(["ip", "netns", "exec", ns, "cat", _rps_path(ifname)], capture_output=True, text=True)
    except FileNotFoundError:
        return None  # no iproute2: nothing can have set it either
    if r.returncode:
        return None
    mask = int(r.stdout.strip().replace(",", "") or "0", 16)
    return [c for c in range(mask.bit_length()) if mask >> c & 1] or None


def set_rps(ns: str, ifname: str, cpus: list[int] | None) -> None:
    """Steer the receive processing of every RX queue of a lab interface to these CPUs (None: off)."""
    import subprocess

    mask = sum(1 << c for c in cpus or [])
    script = f'for q in /sys/class/net/{ifname}/queues/rx-*/rps_cpus; do echo {mask:x} > "$q"; done'
    try:
        r = subprocess.run(["ip", "netns", "exec", ns, "sh", "-c", script], capture_output=True, text=True)
    except FileNotFoundError:
        raise KernelFeatureError("steering a lab interface's receive work (RPS) needs iproute2's ip "
                                 "(apt-get install iproute2), or search --no-place") from None
    if r.returncode:
        raise KernelFeatureError(f"RPS on {ifname} in {ns}: {r.stderr.strip() or 'refused'} (CONFIG_RPS?)")


@dataclass
class Placement:
    """The DUT in the middle of the chain on CPUs of its own and the tester on the others: RPS
    takes the DUT's receive processing off the sending (tester's) CPU, and the receiving end's
    off the DUT's. With one CPU there is nothing to place: `shared` says so."""

    tester_cpus: list[int]
    dut_cpus: list[int]
    steered: list[tuple[str, str, list[int] | None]]  # (netns, interface, the CPUs it had before)

    @property
    def shared(self) -> bool:
        return not self.dut_cpus

    def record(self) -> dict:
        return {"tester_cpus": self.tester_cpus, "dut_cpus": self.dut_cpus or None,
                "rps": {f"{ns}:{ifname}": cpus for ns, ifname, cpus in self.now()}}

    def now(self) -> list[tuple[str, str, list[int] | None]]:
        return [(ns, ifname, rps(ns, ifname)) for ns, ifname, _ in self.steered]

    def close(self) -> None:
        while self.steered:
            ns, ifname, before = self.steered.pop()
            try:
                set_rps(ns, ifname, before)
            except WirespeedError:
                pass  # the namespace is gone already


def place_dut(topo: Topology, tester_cpu: int, node: str = "fwd") -> Placement:
    """The chain's DUT (`node`) on every CPU but the tester's: frames the tester sends are
    processed on the DUT's CPUs (RPS on its ingress), frames the DUT sends on the tester's (RPS
    on the receiving end's ingress). close() puts the steering back."""
    cpus = sorted(os.sched_getaffinity(0))
    dut = [c for c in cpus if c != tester_cpu]
    placed = Placement([tester_cpu], dut, [])
    if not dut:
        return placed
    ingress = next(w.b for w in topo.wires if w.b.node == node)
    egress_peer = next(w.b for w in topo.wires if w.a.node == node)
    try:
        for end, to in ((ingress, dut), (egress_peer, [tester_cpu])):
            ns = topo.netns(end.node)
            placed.steered.append((ns, end.ifname, rps(ns, end.ifname)))
            set_rps(ns, end.ifname, to)
    except BaseException:
        placed.close()
        raise
    return placed


def shape(topo: Topology, node: str, ifname: str, rate_bps: int, latency_ms: float = 5.0,
          loss_pct: float = 0.0) -> None:
    """A known bottleneck on an interface's egress (a DUT whose capacity is set): a token bucket
    of rate_bps (frame bytes without FCS, as the kernel counts them) with latency_ms of queue;
    with loss_pct, netem drops that share at random instead (where the kernel has netem; else
    see Lossy). Replaces the root qdisc."""
    with privileged("shaping an interface in the lab"), NetNS(topo.netns(node)) as ipr:
        idx = ipr.link_lookup(ifname=ifname)[0]
        try:
            ipr.tc("del", index=idx, parent=TC_H_ROOT)  # the root qdisc, whatever its kind
        except NetlinkError:
            pass  # the default qdisc: nothing to remove
        if loss_pct:
            ipr.tc("add", "netem", index=idx, loss=loss_pct)
        else:
            burst = max(2000, int(rate_bps / 8 / 1000))  # a millisecond's worth, at least a frame
            ipr.tc("add", "tbf", index=idx, rate=f"{int(rate_bps)}bit", burst=burst, latency=f"{int(round(latency_ms * 1000))}us")


OWNERS = "/run/wirespeed"  # <lab>.owner: the pid of the run that made a lab for itself (--lab)


def _owner_file(name: str) -> str:
    return os.path.join(OWNERS, f"{name}.owner")


def _owner(name: str) -> int | None:
    try:
        with open(_owner_file(name)) as f:
            return int(f.read().strip())
    except (FileNotFoundError, ValueError):
        return None


def topology_of(name: str) -> str | None:
    """The topology lab `name` is up as, or None when none of its namespaces exists."""
    present = set(netns.listnetns())
    for topo in (chain(name), pair(name)):
        if all(topo.netns(n) in present for n in topo.nodes):
            return "chain" if "fwd" in topo.nodes else "pair"
    return "partial" if lab_namespaces(name) else None


def queues_of(name: str) -> int:
    """The queues lab `name`'s veths were made with (its first wire's gen end)."""
    from wirespeed.base.netdev import queues
    from wirespeed.base.netns import Where

    topo = pair(name)
    end = topo.wires[0].a
    return queues(Where(end.ifname, topo.netns(end.node)))[1]


def up(name: str, topology: str, force: bool = False, queues: int = 1) -> Topology:
    """`lab up`: create lab `name`; one that is up with another topology or queue count is
    refused (rewiring a running lab would give one veth two addresses), unless force, which
    removes it first."""
    have = topology_of(name)
    if have is not None and have != "partial":
        had = queues_of(name)
        if have != topology or had != queues:
            if not force:
                raise UsageError(f"lab {name!r} is up as a {have} with {had} queue(s); 'wirespeed lab down --name "
                                 f"{name}' first, or add --force to remove it and build a {topology} with "
                                 f"{queues} queue(s)")
            down(name)
    topo = TOPOLOGIES[topology](name, queues)
    Lab(topo, keep=True).up()
    return topo


def resolve(name: str, create: bool, topology: str = "pair") -> tuple[Topology, bool]:
    """Lab `name` as it is up (a chain if its fwd node exists, else a pair) and whether this call
    created it; without `create` it must exist. A tool needing a chain (fwd) says so. A lab made
    here belongs to this run: its pid is written down, so a run killed before it could remove
    the lab leaves a lab `status` calls a leftover."""
    present = set(netns.listnetns())
    for topo in (chain(name), pair(name)):
        if topology == "chain" and "fwd" not in topo.nodes:
            continue
        if all(topo.netns(n) in present for n in topo.nodes):
            return topo, False
    if not create:
        raise WirespeedError(f"no {topology} lab {name!r}: run 'wirespeed lab up --name {name} --topology "
                             f"{topology}' first, or add --lab")
    topo = TOPOLOGIES[topology](name)
    try:
        os.makedirs(OWNERS, exist_ok=True)
        with open(_owner_file(name), "w") as f:
            f.write(str(os.getpid()))
    except OSError:
        pass  # no record, no leftover detection: the lab still works
    try:
        Lab(topo).up()
    except BaseException:
        _forget(name)
        raise
    return topo, True


def _forget(name: str | None) -> None:
    try:
        names = [name] if name else [f[: -len(".owner")] for f in os.listdir(OWNERS) if f.endswith(".owner")]
    except FileNotFoundError:
        return
    for n in names:
        try:
            os.unlink(_owner_file(n))
        except FileNotFoundError:
            pass


def down(name: str | None) -> list[str]:
    """Remove lab `name`'s namespaces, or (None) every wirespeed namespace and every leftover:
    shared memory of runs that are gone, workers whose parent is gone."""
    with privileged("wirespeed lab down"):
        gone = lab_namespaces(name)
        for ns in gone:
            _remove(ns)
        _forget(name)
        if name is None:
            from wirespeed.mem import shm

            for pid in orphaned_workers():
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
            gone += shm.remove_leftovers()
    return gone


WORKER_NAME = "ws-worker"  # what a worker process calls itself (/proc/PID/comm)


def orphaned_workers() -> list[int]:
    """Worker processes whose parent is gone (a safety net: workers die with their parent)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != WORKER_NAME:
                    continue
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if ppid == 1:
            out.append(int(pid))
    return out


def status() -> list[dict]:
    """Every wirespeed namespace with its interfaces (one dict per interface, or per empty ns),
    then wirespeed's shared memory objects; leftovers of killed runs are marked."""
    from wirespeed.mem import shm

    with privileged("wirespeed lab status"):
        rows = [row for ns in lab_namespaces() for row in _ns_status(ns)]
    holders = _xdp_holders({r["xdp"]["id"] for r in rows if r["xdp"]})
    for r in rows:
        owner = _owner(r["lab"])
        r["leftover"] = owner is not None and not shm.alive(owner)
        if r["xdp"]:
            pids = holders.get(r["xdp"]["id"], [])
            r["xdp"]["leftover"] = not pids or all(p in orphaned_workers() for p in pids)
    return rows + [{"kind": "shm", **o} for o in shm.objects()]


def _xdp_holders(prog_ids: set[int]) -> dict[int, list[int]]:
    """Processes holding an fd of each BPF program (or of a link to it), from /proc/*/fdinfo."""
    out: dict[int, list[int]] = {}
    if not prog_ids:
        return out
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fdinfo")
        except OSError:
            continue
        for fd in fds:
            try:
                with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                    text = f.read()
            except OSError:
                continue
            m = re.search(r"^prog_id:\s*(\d+)", text, re.M)
            if m and int(m.group(1)) in prog_ids:
                out.setdefault(int(m.group(1)), []).append(int(pid))
    return out


def _ns_status(ns: str) -> list[dict]:
    from wirespeed.bpf import xdp_of_link

    lab, _, node = ns[len(PREFIX):].partition("-")
    base = {"kind": "interface", "lab": lab, "node": node, "netns": ns}
    with NetNS(ns) as ipr:
        links = [link for link in ipr.get_links() if link.get("ifname") != "lo"]
        if not links:
            return [{**base, "ifname": None, "mac": None, "state": None, "addresses": [], "xdp": None}]
        return [
            {
                **base,
                "ifname": link.get("ifname"),
                "mac": link.get("address"),
                "state": link.get("operstate"),
                "queues": int(link.get("num_rx_queues") or 1),
                "addresses": [
                    f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}"
                    for a in ipr.get_addr(index=link["index"], family=socket.AF_INET)
                ],
                "xdp": xdp_of_link(link),
                "rps_cpus": rps(ns, link.get("ifname")),  # where its receive work runs (None: the sender's CPU)
            }
            for link in links
        ]
