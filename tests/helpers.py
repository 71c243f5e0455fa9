"""What the tests share besides fixtures: frames built and read back independently, the
command line run as a user runs it, background tools read line by line."""

from __future__ import annotations

import html
import ipaddress
import json
import os
import shutil
import signal
import struct
import subprocess
import time

import dpkt
import numpy as np
import pytest

from wirespeed.base.errors import WirespeedError
from wirespeed.base.netns import Where
from wirespeed.runner import procs
from wirespeed.base.units import frame, parse_frame
from wirespeed.tools.gen import GenConfig, Range, make_gen


def is_root() -> bool:
    return os.geteuid() == 0


def needs_backend(name: str):
    """Skip, with the kernel's own reason, where this kernel or process refuses backend `name`
    (without root every kernel test is skipped anyway, by conftest)."""
    from wirespeed import ports

    why = ports.unavailable(name) if is_root() else None
    return pytest.mark.skipif(why is not None, reason=f"--backend {name}: {why}")


# The in-kernel generator needs BPF_PROG_RUN with live frames, which some sandboxes refuse even to root.
needs_kernel_gen = needs_backend("kernel")


def tool_backends(tool: str) -> list:
    """Every backend the registry says `tool` takes, as test parameters; one this kernel refuses
    is skipped with the kernel's reason (so a new backend is tested without touching the tests)."""
    from wirespeed import ports

    can = {"gen": {"transmit": True}, "sink": {"receive": True}, "fwd": {"forward": True}}[tool]
    return [pytest.param(name, id=name, marks=needs_backend(name)) for name in ports.names(**can)]


SRC4, DST4 = ipaddress.ip_address("198.18.0.1"), ipaddress.ip_address("198.18.0.2")
SRC6, DST6 = ipaddress.ip_address("2001:2::1"), ipaddress.ip_address("2001:2::2")
STRIDE = 2048
# gen at a rate sends exactly -c frames (never skips a slot after a stall on a busy machine)
EXACT = ("--max-burst", "1000000")


def inet_sum(data: bytes) -> int:
    """RFC 1071 ones' complement sum, written plainly (the core's is incremental)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def cfg_for(ipv6=False, size=64, **kw) -> GenConfig:
    src, dst = (SRC6, DST6) if ipv6 else (SRC4, DST4)
    base = dict(
        where=Where("veth0"), src_mac=bytes.fromhex("025753000001"), dst_mac=bytes.fromhex("025753000002"),
        src_ip=src, dst_ip=dst, src_ips=Range(int(src) & 0xFFFFFFFF), dst_ips=Range(int(dst) & 0xFFFFFFFF),
        frame=frame(size) if isinstance(size, int) else size,
    )
    base.update(kw)
    return GenConfig(**base)


def build(cfg: GenConfig, n: int, gen=None):
    gen = gen or make_gen(cfg)
    buf = np.zeros(n * STRIDE, np.uint8)
    lens = np.zeros(n, np.uint32)
    assert gen.build(buf, STRIDE, lens) == n
    return [bytes(buf[i * STRIDE : i * STRIDE + lens[i]]) for i in range(n)], gen


def parse(f: bytes) -> dict:
    """Ethernet / IPv4|IPv6 / UDP, checking every length and checksum on the way."""
    eth_type = struct.unpack("!H", f[12:14])[0]
    if eth_type == 0x0800:
        ip = f[14:34]
        assert ip[0] == 0x45
        assert inet_sum(ip) == 0xFFFF, "IPv4 header checksum"
        assert struct.unpack("!H", ip[2:4])[0] == len(f) - 14
        src, dst = ip[12:16], ip[16:20]
        pseudo = src + dst + struct.pack("!BBH", 0, 17, len(f) - 34)
        l4 = 34
    else:
        assert eth_type == 0x86DD
        ip = f[14:54]
        assert struct.unpack("!H", ip[4:6])[0] == len(f) - 54
        src, dst = ip[8:24], ip[24:40]
        pseudo = src + dst + struct.pack("!IxxxB", len(f) - 54, 17)
        l4 = 54
    udp = f[l4:]
    sport, dport, ulen, ucsum = struct.unpack("!HHHH", udp[:8])
    assert ulen == len(udp)
    assert ucsum != 0, "UDP checksum 0 means none (and is forbidden for IPv6)"
    assert inet_sum(pseudo + udp) == 0xFFFF, "UDP checksum"
    return {"src": ipaddress.ip_address(src), "dst": ipaddress.ip_address(dst), "sport": sport, "dport": dport,
            "payload": udp[8:], "ttl": ip[8] if eth_type == 0x0800 else ip[7]}


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `wirespeed ARGS` in a fresh interpreter, as a user would."""
    return subprocess.run(procs.ws(*args), capture_output=True, text=True, timeout=timeout)


def one_line(r: subprocess.CompletedProcess, status: int) -> str:
    """A refusal as users must see it: exit `status`, one line on stderr, no traceback."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == status and len(lines) == 1, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    return lines[0]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (CI installs it)")


def browser_check(path: str, profile: str) -> dict:
    """Open a report in headless Chromium; what its own check found (<body data-check>)."""
    r = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                        "--disable-background-networking", "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", f"file://{path}"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-500:]
    marker = 'data-check="'
    at = r.stdout.index(marker) + len(marker)
    return json.loads(html.unescape(r.stdout[at : r.stdout.index('"', at)]))


class Tool:
    """A wirespeed command running in the background with --json; read its lines as they come
    (the harness wirespeed bench and bench/ use: wirespeed.runner.procs)."""

    def __init__(self, *args: str):
        self.proc = procs.start(procs.ws(*args, "--json"))
        self.lines: list[dict] = []

    def wait_for(self, kind: str, timeout: float = 30) -> dict:
        """Lines up to and including the first of this type (e.g. 'ready' once its ports are open)."""
        try:
            return procs.wait_for(self.proc, kind, timeout, self.lines)
        except WirespeedError as e:
            raise AssertionError(str(e)) from None

    def finish(self, timeout: float = 60) -> dict:
        """Wait for the tool to end by itself; its summary."""
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        self.lines += [json.loads(x) for x in out.splitlines()]
        return self.lines[-1]

    def stop(self) -> tuple[str, str]:
        return procs.stop(self.proc, signal.SIGKILL)


# -- pcap: files written and frames checked by dpkt, independently of the code under test --------

SINK_SLOT = 2048


def account(frames: list[bytes], verify: bool = True, stats=None) -> dict:
    """The C sink's counters after it has looked at these frames (one numpy batch, then flushed);
    stats: the buffer it keeps them in (per-stream blocks included), when the caller reads it."""
    import time

    from wirespeed import core

    k = core.Sink(verify=verify) if stats is None else core.Sink(verify=verify, stats=stats)
    data = np.zeros(max(1, len(frames)) * SINK_SLOT, np.uint8)
    for i, f in enumerate(frames):
        data[i * SINK_SLOT:i * SINK_SLOT + len(f)] = np.frombuffer(f, np.uint8)
    k.frames(data, np.arange(len(frames), dtype=np.uint64) * SINK_SLOT, np.array([len(f) for f in frames], np.uint32),
             time.time_ns())
    k.flush()
    return k.stats()


def refuse_source(topo, source: str) -> None:
    """The chain lab's router refuses frames from `source` on its ingress: a strict reverse-path
    filter there, and the way back to that source through its other side."""
    from pyroute2 import NetNS

    from wirespeed.base.netns import enter_netns

    fwd_in, fwd_out = topo.endpoints("fwd")
    with enter_netns(topo.netns("fwd")):
        with open(f"/proc/sys/net/ipv4/conf/{fwd_in.ifname}/rp_filter", "w") as f:
            f.write("1")
    with NetNS(topo.netns("fwd")) as ipr:
        ipr.route("replace", dst=f"{source}/32", gateway=topo.peer(fwd_out).address)


def frames_of(n: int, ipv6: bool = False, size="imix") -> list[bytes]:
    """Pktgen frames from the generator's own builder (IMIX sizes, varied ports)."""
    mix = frame(size) if isinstance(size, int) else parse_frame(size)
    return build(cfg_for(ipv6=ipv6, size=mix, dports=Range(9, 100)), n)[0]


def write_dpkt(path, frames, nano=True, linktype=dpkt.pcap.DLT_EN10MB, ts0=1_700_000_000.0, gap=0.001):
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, nano=nano, linktype=linktype)
        for i, fr in enumerate(frames):
            w.writepkt(fr, ts=ts0 + i * gap)


def checksums_ok(fr: bytes) -> bool:
    eth = dpkt.ethernet.Ethernet(fr)
    ip = eth.data
    if isinstance(ip, dpkt.ip.IP):
        hdr = bytearray(bytes(ip)[: ip.hl * 4])
        hdr[10:12] = b"\0\0"
        if dpkt.in_cksum(bytes(hdr)) != ip.sum:
            return False
    l4 = ip.data
    want = l4.sum
    l4.sum = 0
    if isinstance(ip, dpkt.ip.IP):
        ip.sum = 0  # dpkt computes the UDP/TCP checksum of an IPv4 packet only with its header's
    fresh = type(eth)(bytes(eth))  # re-serialised: dpkt computes the checksums afresh
    got = fresh.data.data.sum
    return want == got or (want == 0xFFFF and got == 0)


# -- a faulty device, played by the tests: frames dropped, swapped, duplicated, renumbered, flipped --

SEQ_AT = 4  # the sequence number's offset in the pktgen header


def _udp(frame: bytes):
    eth = dpkt.ethernet.Ethernet(frame)
    return eth, eth.data, eth.data.data


def with_seq(frame: bytes, seq: int) -> bytes:
    """The frame with another sequence number and its UDP checksum recomputed (dpkt)."""
    eth, ip, udp = _udp(frame)
    payload = bytearray(udp.data)
    payload[SEQ_AT:SEQ_AT + 4] = struct.pack("!I", seq & 0xFFFFFFFF)
    udp.data, udp.sum = bytes(payload), 0
    if isinstance(ip, dpkt.ip6.IP6):
        ip.data = udp
        out = bytes(eth)
    else:
        ip.data, ip.sum = udp, 0
        out = bytes(eth)
    assert len(out) == len(frame)
    return out


def flipped(frame: bytes, bit: int) -> bytes:
    """One bit of the UDP payload flipped, the checksum left as it was."""
    eth, ip, udp = _udp(frame)
    start = len(frame) - len(udp.data)
    f = bytearray(frame)
    f[start + (bit // 8) % len(udp.data)] ^= 1 << (bit % 8)
    return bytes(f)


def faulty(n: int, events: dict, rng: np.random.Generator, ipv6: bool = False) -> tuple[list[bytes], dict]:
    """A clean stream of n frames through a faulty device: events maps a position to drop,
    swap (with the next), dup, seq (a wrong number) or flip. Returns the frames and the truth."""
    clean, _ = build(cfg_for(ipv6=ipv6, size=128), n)
    truth = dict(lost=0, reordered=0, duplicated=0, seq_errors=0, udp_csum_errors=0)
    out, i = [], 0
    while i < n:
        what = events.get(i)
        if what == "drop":
            truth["lost"] += 1
        elif what == "swap" and i + 1 < n:
            out += [clean[i + 1], clean[i]]
            truth["reordered"] += 1
            i += 2
            continue
        elif what == "dup":
            out += [clean[i], clean[i]]
            truth["duplicated"] += 1
        elif what == "seq":
            # Any number but its own, and not the number of a frame that never arrives, nor one
            # just past the stream's end: either reads as that frame come early (the sink cannot
            # tell them apart, and counts them so).
            # Nor one ahead within the sink's reach while an earlier wrong number is still held
            # there: it reads as a frame come early (see sink.h), the frames between as late.
            held = any(events.get(j) == "seq" for j in range(max(0, i - 1024), i))
            off = 0
            while off == 0 or events.get(i + off) in ("drop", "seq", "flip") or n <= i + off < n + 16 \
                    or (held and 0 < off <= 1024):
                off = int(rng.integers(-65535, 65536))
            out.append(with_seq(clean[i], (i + off) % (1 << 28)))
            truth["lost"] += 1  # its own number never arrives
            truth["seq_errors"] += 1
        elif what == "flip":
            out.append(flipped(clean[i], int(rng.integers(0, 8 * 54))))
            truth["lost"] += 1  # it did not arrive intact
            truth["udp_csum_errors"] += 1
        else:
            out.append(clean[i])
        i += 1
    return out, truth


KINDS = ("drop", "swap", "dup", "seq", "flip")


def faulty_stream(n: int, counts: dict, seed: int) -> tuple[list[bytes], dict]:
    """n frames with counts of each event (kind -> how many) at random places five apart."""
    rng = np.random.default_rng(seed)
    kinds = [k for k, c in counts.items() for _ in range(c)]
    spots = rng.choice(np.arange(10, n - 10, 5), size=len(kinds), replace=False)
    return faulty(n, dict(zip(spots.tolist(), kinds)), rng)


def send_spaced(send, n: int = 8, gap_s: float = 0.002, then_s: float = 0.05) -> list[int]:
    """send(i) n times gap_s apart, then wait then_s: the CLOCK_REALTIME of each send, for
    assert_stamped_on_arrival once the receiver has read them all at once."""
    sent = []
    for i in range(n):
        sent.append(time.time_ns())
        send(i)
        time.sleep(gap_s)
    time.sleep(then_s)
    return sent


def assert_stamped_on_arrival(ts, sent: list[int], read_at: int) -> None:
    """Each receive time is the kernel's stamp of its frame, taken when it came (within 20 ms of
    its send on a loaded machine), not the clock of the batch that read them all 50 ms later."""
    ts = [int(t) for t in ts]
    assert len(ts) == len(sent)
    for t, at in zip(ts, sent):
        assert 0 <= t - at < 20_000_000, t - at
        assert read_at - t > 30_000_000, read_at - t
    assert len(set(ts)) == len(ts)


def http_json(method: str, url: str, body: str | None = None) -> tuple[int, dict]:
    """A raw request (what snappi's client would refuse to send): status and JSON body."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body.encode() if body is not None else None, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
