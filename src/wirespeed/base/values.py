"""Option values: text as the command line, a --config file or the API gives it, parsed once
into a typed value (each function is an argparse type: a bad value raises ArgumentTypeError with
the reason, and the caller names the option)."""

from __future__ import annotations

import argparse
import ipaddress
import re

from wirespeed.base.errors import UsageError
from wirespeed.base.units import (Range, Rate, frame, parse_count, parse_duration, parse_frame, parse_link,
                                  parse_positive_int, parse_rate)


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def positive_float(text: str) -> float:
    value = _number(text, "number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _typed(parse):
    """An argparse type from a parser that raises UsageError: argparse names the option."""

    def convert(text: str):
        try:
            return parse(text)
        except UsageError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = parse.__name__
    return convert


def duration(text: str) -> float:
    return _typed(parse_duration)(text)


def count(text: str) -> int:
    return _typed(parse_count)(text)


MIN_INTERVAL_S = 0.1


def interval(text: str) -> float:
    value = _typed(parse_duration)(text)
    if value < MIN_INTERVAL_S:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_INTERVAL_S} s, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _typed(parse_positive_int)(text)


def udp_port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be 1..65535, got {text!r}")
    return value


def size(text: str) -> int:
    """'512M', '2G', '65536' -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmg]?)i?b?\s*", text, re.I)
    if not m or int(m.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"expected a positive size such as 512M or 2G, got {text!r}")
    return int(m.group(1)) << {"": 0, "k": 10, "m": 20, "g": 30}[m.group(2).lower()]


def cpu_list(text: str) -> list[int]:
    """'1' or '0,1' -> CPU numbers."""
    try:
        cpus = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"a comma-separated list of CPU numbers, got {text!r}") from None
    if any(c < 0 for c in cpus):
        raise argparse.ArgumentTypeError(f"CPU numbers are 0 or more, got {text!r}")
    return cpus


def cpu(text: str) -> int:
    cpus = cpu_list(text)
    if len(cpus) != 1:
        raise argparse.ArgumentTypeError(f"one CPU number, got {text!r}")
    return cpus[0]


def mac(text: str) -> bytes:
    parts = text.split(":")
    try:
        if len(parts) != 6 or any(not 1 <= len(p) <= 2 for p in parts):
            raise ValueError
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"six hex bytes like 02:57:53:00:00:01, got {text!r}") from None


def _field(text: str, bits: int) -> int:
    value = integer(text)
    if not 0 <= value < 1 << bits:
        raise argparse.ArgumentTypeError(f"must be 0..{(1 << bits) - 1}, got {text!r}")
    return value


def byte_value(text: str) -> int:
    """0..255 (TTL, TOS)."""
    return _field(text, 8)


def u16_value(text: str) -> int:
    return _field(text, 16)


def _id_list(text: str, what: str, bits: int, most: int, low: int = 0) -> tuple[int, ...]:
    try:
        ids = tuple(int(x, 0) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated {what}s, got {text!r}") from None
    if not 1 <= len(ids) <= most:
        raise argparse.ArgumentTypeError(f"at most {most} {what}s, got {len(ids)}")
    for v in ids:
        if not low <= v < 1 << bits:
            article = "an" if what[0] in "AEIMU" else "a"
            raise argparse.ArgumentTypeError(f"{article} {what} is {low}..{(1 << bits) - 1}, got {v}")
    return ids


def vlan_ids(text: str) -> tuple[int, ...]:
    """'7' (802.1Q) or '7,100' (QinQ: 802.1ad outer, 802.1Q inner) -> VLAN IDs 0..4095."""
    return _id_list(text, "VLAN ID", 12, 2)


def mpls_labels(text: str) -> tuple[int, ...]:
    """'16' or '16,17' (outermost first) -> MPLS labels 0..2^20-1, at most 8."""
    return _id_list(text, "MPLS label", 20, 8)


def tcp_flags(text: str) -> int:
    """'S', 'SA', 'PA' ... -> the TCP flags byte."""
    from wirespeed.base.packet import tcp_flags as flags

    try:
        return flags(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def share_value(v) -> float:
    """A stream's part of the run's rate: 0.25, or '25%'."""
    try:
        x = float(v[:-1]) / 100 if isinstance(v, str) and v.endswith("%") else float(v)
    except ValueError:
        raise UsageError(f"share: a fraction (0.25) or a percentage ('25%'), got {v!r}") from None
    if not 0 < x <= 1:
        raise UsageError(f"share: more than 0 and at most 100 %, got {v!r}")
    return x


def streams_file(text: str) -> tuple[dict, ...]:
    """A TOML file of [[stream]] tables -> one dict of options per stream (checked by gen)."""
    import tomllib

    try:
        with open(text, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise argparse.ArgumentTypeError(f"cannot read {text}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise argparse.ArgumentTypeError(f"{text} is not TOML: {e}") from None
    extra = sorted(set(data) - {"stream"})
    if extra or not isinstance(data.get("stream"), list) or not data["stream"]:
        raise argparse.ArgumentTypeError(f"{text}: [[stream]] tables only" + (f", not {', '.join(extra)}" if extra
                                                                              else ""))
    return tuple(dict(t) for t in data["stream"])


def template_frame(text: str) -> bytes:
    """--template: a frame as hex bytes, or FILE.pcap[:N] (its Nth frame, the first by default)."""
    import os

    path, sep, nth = text.rpartition(":")
    if sep and nth.isdigit() and os.path.isfile(path):
        n = int(nth)
    elif os.path.isfile(text):
        path, n = text, 1
    else:
        try:
            return bytes.fromhex(text.replace(" ", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"hex bytes or FILE.pcap[:N] (no such file), got {text!r}") from None
    from wirespeed import core

    try:
        import numpy as np

        data = np.fromfile(path, np.uint8)
        count = core.pcap_index(data, None, None, None)
        off, lens, ts = np.empty(count, np.uint64), np.empty(count, np.uint32), np.empty(count, np.uint64)
        core.pcap_index(data, off, lens, ts)
    except OSError as e:
        raise argparse.ArgumentTypeError(f"{path}: {e.strerror}") from None
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{path}: {e}") from None
    if not 1 <= n <= count:
        raise argparse.ArgumentTypeError(f"{path} holds {count} frame(s): no frame {n}")
    return bytes(data[int(off[n - 1]): int(off[n - 1]) + int(lens[n - 1])])


def scapy_frame(text: str) -> bytes:
    """--scapy: a Scapy expression of a packet (wirespeed[scapy]) -> its bytes."""
    try:
        import scapy.all as scapy
    except ImportError:
        raise argparse.ArgumentTypeError("Scapy is not installed: pip install 'wirespeed[scapy]'") from None
    try:
        pkt = eval(text, dict(vars(scapy)))  # the user's own expression, as TRex takes one
    except Exception as e:  # noqa: BLE001 - any error of the expression is the user's to see, in one line
        raise argparse.ArgumentTypeError(f"{type(e).__name__}: {e}") from None
    if not isinstance(pkt, scapy.Packet):
        raise argparse.ArgumentTypeError(f"not a packet: {text!r} is a {type(pkt).__name__}")
    return bytes(pkt)


FIELD_MODES = ("inc", "dec", "random")


def field_spec(text: str) -> tuple[int, int, int, int, int, int]:
    """--field OFFSET:WIDTH:inc|dec|random:MIN-MAX[:STEP] -> (offset, width, mode, lo, span, step)."""
    parts = text.split(":")
    try:
        if len(parts) not in (4, 5):
            raise ValueError
        off, width = int(parts[0], 0), int(parts[1], 0)
        mode = FIELD_MODES.index(parts[2])
        lo_t, _, hi_t = parts[3].partition("-")
        lo, hi = int(lo_t, 0), int(hi_t or lo_t, 0)
        step = int(parts[4], 0) if len(parts) == 5 else 1
    except ValueError:
        raise argparse.ArgumentTypeError(f"OFFSET:WIDTH:inc|dec|random:MIN-MAX[:STEP], got {text!r}") from None
    if width not in (1, 2, 4) or off < 0:
        raise argparse.ArgumentTypeError(f"a field is 1, 2 or 4 bytes at an offset of 0 or more, got {text!r}")
    if not 0 <= lo <= hi < 1 << (8 * width) or step < 1:
        raise argparse.ArgumentTypeError(f"MIN <= MAX within {8 * width} bits, STEP 1 or more, got {text!r}")
    return off, width, mode, lo, hi - lo + 1, step


def vni(text: str) -> int:
    """A VXLAN or GENEVE network identifier, 0..2^24-1."""
    return _field(text, 24)


def gre_key(text: str) -> int | str:
    """A GRE key 0..2^32-1, or 'nokey': GRE without a key."""
    return text if text == "nokey" else _field(text, 32)


def ipv4(text: str):
    try:
        return ipaddress.IPv4Address(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"an IPv4 address, got {text!r}") from None


def ip(text: str):
    """An IPv4 or IPv6 address."""
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"an IPv4 or IPv6 address, got {text!r}") from None


def pcp_value(text: str) -> int:
    """802.1p priority 0..7."""
    return _field(text, 3)


def ip_range(text: str):
    """'A' or 'A-B' -> (first address, Range over the low 32 bits)."""
    lo_text, _, hi_text = text.partition("-") if text.count(":") == 0 or "-" in text else (text, "", "")
    try:
        lo = ipaddress.ip_address(lo_text.strip())
        hi = ipaddress.ip_address(hi_text.strip()) if hi_text else lo
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad address or range {text!r}: use A or A-B") from None
    if lo.version != hi.version or int(hi) < int(lo) or (int(hi) >> 32) != (int(lo) >> 32):
        raise argparse.ArgumentTypeError(
            f"bad range {text!r}: same IP version, first <= last, differing only in the low 32 bits")
    return lo, Range(int(lo) & 0xFFFFFFFF, int(hi) - int(lo) + 1, text)


def port_range(text: str):
    """'P' or 'P-Q' -> Range."""
    lo_text, _, hi_text = text.partition("-")
    try:
        lo, hi = int(lo_text), int(hi_text or lo_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port or range {text!r}: use P or P-Q") from None
    if not 0 <= lo <= hi <= 65535:
        raise argparse.ArgumentTypeError(f"ports must be 0..65535 with first <= last, got {text!r}")
    return Range(lo, hi - lo + 1, text)


def frame_mix(text: str):
    """'64' or 'imix' -> FrameMix (the range against the template is checked by the tool)."""
    if text.strip().lower() == "imix":
        return parse_frame(text)
    try:
        return frame(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a frame size in bytes or imix, got {text!r}") from None


def rate(text: str):
    return _typed(parse_rate)(text)


def pps(value: float):
    """A plain number as a rate (the API's): packets per second."""
    if not value > 0:
        raise UsageError(f"rate must be positive, got {value}")
    return Rate(pps=float(value))


def bps(value: float) -> int:
    """A plain number as a link speed (the API's, and a speed already parsed): bits per second."""
    if not value > 0:
        raise UsageError(f"link speed must be positive, got {value}")
    return int(value)


def link_bps(text: str) -> int:
    return _typed(parse_link)(text)[1]


def hex_bytes(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"hex bytes, e.g. 0000000000000000000100000012, got {text!r}") from None


def integer(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def non_negative_int(text: str) -> int:
    value = integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def text(value: str) -> str:
    return value


def out_file(value: str) -> str:
    """A file to write at the end: its folder must exist and be writable now, not after the run."""
    import os

    folder = os.path.dirname(os.path.abspath(value))
    if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        raise argparse.ArgumentTypeError(f"cannot write {value}: {folder} is not a writable directory")
    return value


def real(text: str) -> float:
    return _number(text, "number")
