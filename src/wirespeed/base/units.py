"""Parsing of link speeds and frame sizes, and the Ethernet wire arithmetic they feed.

A frame size counts the Ethernet header through the FCS (64 bytes minimum). On the wire every
frame also takes 7 bytes of preamble, 1 start-of-frame delimiter and 12 of inter-frame gap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from wirespeed.base.errors import UsageError

WIRE_OVERHEAD = 20  # preamble 7 + SFD 1 + inter-frame gap 12, bytes
MIN_FRAME = 64
MAX_FRAME = 9216  # the largest jumbo frame common switches accept

# Ethernet speeds defined by IEEE 802.3, bits per second.
LINK_SPEEDS = {
    "10M": 10 * 10**6,
    "100M": 100 * 10**6,
    "1G": 10**9,
    "2.5G": 2_500 * 10**6,
    "5G": 5 * 10**9,
    "10G": 10 * 10**9,
    "25G": 25 * 10**9,
    "40G": 40 * 10**9,
    "50G": 50 * 10**9,
    "100G": 100 * 10**9,
    "200G": 200 * 10**9,
    "400G": 400 * 10**9,
    "800G": 800 * 10**9,
    "1.6T": 1600 * 10**9,
}
DEFAULT_LINKS = ("1G", "10G", "25G", "40G", "100G", "200G", "400G")

_SPEED_RE = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*([mgt])(?:b(?:it)?(?:/?s|ps)?)?\s*$", re.I)
_SCALE = {"m": 10**6, "g": 10**9, "t": 10**12}


def parse_link(text: str) -> tuple[str, int]:
    """'10G', '10g', '10Gbit', '10000M' -> ('10G', 10_000_000_000)."""
    m = _SPEED_RE.match(text)
    if m:
        value = Fraction(m.group(1))
        bps = value * _SCALE[m.group(2).lower()]
        if bps <= 0:
            raise UsageError(f"link speed must be positive, got {text!r}")
        for name, known in LINK_SPEEDS.items():
            if known == bps:
                return name, known
    raise UsageError(
        f"unknown link speed {text!r}: use one of {', '.join(LINK_SPEEDS)}"
    )


@dataclass(frozen=True)
class Range:
    """Values lo .. lo+count-1 of a header field (addresses: their low 32 bits)."""

    lo: int
    count: int = 1
    text: str = ""


@dataclass(frozen=True)
class FrameMix:
    """One frame size, or a weighted mix of sizes such as IMIX. Sizes include the FCS."""

    name: str
    sizes: tuple[int, ...]
    weights: tuple[int, ...]

    @property
    def mean_frame(self) -> Fraction:
        """Mean frame bytes per packet, exact."""
        total = sum(self.weights)
        return Fraction(sum(s * w for s, w in zip(self.sizes, self.weights)), total)

    @property
    def mean_wire(self) -> Fraction:
        """Mean bytes on the wire per packet, preamble and gap included."""
        return self.mean_frame + WIRE_OVERHEAD


IMIX = FrameMix("imix", (64, 570, 1518), (7, 4, 1))
DEFAULT_FRAMES = (64, 128, 256, 512, 1024, 1518)


def frame(size: int) -> FrameMix:
    return FrameMix(str(size), (size,), (1,))


def parse_frame(text: str) -> FrameMix:
    """'64' -> one size; 'imix' -> the 7:4:1 mix of 64/570/1518."""
    if text.strip().lower() == "imix":
        return IMIX
    try:
        size = int(text)
    except ValueError:
        raise UsageError(f"frame size must be a whole number of bytes or 'imix', got {text!r}") from None
    if not MIN_FRAME <= size <= MAX_FRAME:
        raise UsageError(f"frame size must be {MIN_FRAME}..{MAX_FRAME} bytes (FCS included) or 'imix', got {size}")
    return frame(size)


def default_frames() -> tuple[FrameMix, ...]:
    return tuple(frame(s) for s in DEFAULT_FRAMES) + (IMIX,)


@dataclass(frozen=True)
class Rate:
    """A sending rate: packets per second, bits per second, or a share of the link speed.
    Bit rates are L1 (on the wire: preamble, SFD, gap and FCS counted, as the link counts them)
    unless marked L2 (frame bytes with the FCS, as TRex's plain `bps` counts)."""

    pps: float | None = None
    bps: float | None = None
    layer: int = 1  # which bits bps counts: 1 (the wire) or 2 (frames)
    link_share: float | None = None
    text: str = ""

    def packets_per_second(self, mean_wire_bytes: float, link_bps: float | None) -> float:
        if self.pps is not None:
            return self.pps
        if self.bps is not None:
            per_pkt = mean_wire_bytes if self.layer == 1 else mean_wire_bytes - WIRE_OVERHEAD
            return self.bps / (per_pkt * 8)
        if link_bps is None:
            raise UsageError("a rate in % needs the link speed: give --link (the interface reports none)")
        return link_bps * self.link_share / (mean_wire_bytes * 8)


_NUM = r"(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)"
_RATE_RE = re.compile(
    r"^\s*" + _NUM + r"\s*(?:(%)|([kKmMgGtT]?)(?:(pps|PPS)|(bit/s|bits/s|bit|bps|b/s)|(B/s|Bps|bytes?/s))(l1|l2|L1|L2)?)\s*$")
_PREFIX = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}
RATE_HELP = ("500kpps, 1.5mpps; 2gbit or 2gbps (bits on the wire, L1: frames plus preamble and gap), "
             "2gbpsl2 (frame bits, L2), 250MB/s (bytes: x8), 50%% of the link")


def parse_rate(text: str) -> Rate:
    """'500kpps', '1.5mpps', '2gbit', '10Gbit/s', '100mbps' (L1), '10gbpsl2' (L2), '1.25GB/s'
    (bytes, x8), '50%'. A bit or byte rate counts L1 (the wire) unless it ends in l2."""
    m = _RATE_RE.match(text)
    if not m:
        raise UsageError(f"bad rate {text!r}: use e.g. {RATE_HELP.replace('%%', '%')}")
    value = float(m.group(1))
    pct, prefix, pps, bits, byts, layer = m.group(2, 3, 4, 5, 6, 7)
    if not 0 < value < float("inf"):
        raise UsageError(f"rate must be positive, got {text!r}")
    if pct:
        if value > 100:
            raise UsageError(f"rate must be at most 100% of the link, got {text!r}")
        return Rate(link_share=value / 100, text=text)
    scale = _PREFIX[prefix.lower()]
    if pps:
        if layer:
            raise UsageError(f"a packet rate has no layer: {text!r}")
        return Rate(pps=value * scale, text=text)
    bps = value * scale * (8 if byts else 1)
    return Rate(bps=bps, layer=2 if layer and layer.lower() == "l2" else 1, text=text)


MAX_DURATION_S = 10**7  # ~116 days: a run longer than this is a typo
_DURATION_RE = re.compile(r"^\s*" + _NUM + r"\s*(ms|s|m|min|h|d)?\s*$")
_DURATION_UNIT = {None: 1, "s": 1, "ms": 1e-3, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """'10', '1.5s', '500ms', '10m', '2h' -> seconds (positive, finite, at most MAX_DURATION_S)."""
    m = _DURATION_RE.match(text)
    if not m:
        raise UsageError(f"bad duration {text!r}: use e.g. 10, 1.5s, 500ms, 10m or 2h")
    value = float(m.group(1)) * _DURATION_UNIT[m.group(2)]
    if not 0 < value <= MAX_DURATION_S:
        raise UsageError(f"duration must be more than 0 and at most {MAX_DURATION_S:,} s, got {text!r}")
    return value


MAX_COUNT = 2**63 - 1
_COUNT_RE = re.compile(r"^\s*" + _NUM + r"\s*([kKmMgGtT]?)\s*$")


def parse_positive_int(text: str) -> int:
    """'64' -> 64; a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise UsageError(f"must be at least 1, got {text!r}")
    return value


def parse_count(text: str) -> int:
    """'1000', '10k', '10M', '1e6' -> a whole number of packets (SI prefixes: M is a million)."""
    m = _COUNT_RE.match(text)
    if not m:
        raise UsageError(f"bad count {text!r}: use e.g. 1000, 10k, 10M or 1e6")
    from decimal import Decimal, InvalidOperation

    try:
        value = Decimal(m.group(1)) * _PREFIX[m.group(2).lower()]
    except InvalidOperation:
        raise UsageError(f"bad count {text!r}") from None
    if value != value.to_integral_value():
        raise UsageError(f"count must be a whole number of packets, got {text!r}")
    if not 1 <= value <= MAX_COUNT:
        raise UsageError(f"count must be 1..{MAX_COUNT:,} (2^63 - 1), got {text!r}")
    return int(value)
