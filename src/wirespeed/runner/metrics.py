"""Live counters over HTTP for Prometheus (`--prometheus [ADDR:]PORT` on gen, sink and fwd).

The parent process updates a copy of the figures once per interval, from the same snapshot the
interval line is printed from; a scrape reads that copy. The data path pays nothing: workers
never see the exporter. Served by prometheus_client's own HTTP server, on 127.0.0.1 unless an
address is given.

Metrics (labels: tool, interface; fwd's counters also role="rx"|"tx"; sink's per-stream ones
stream="N"):
  wirespeed_<counter>_total   the port's C counters (packets, bytes, syscalls, errors, ring_full,
                              batches, kernel_drops, rx_user_stamps) and the tool's own (sink: lost, reordered,
                              duplicated, malformed, ...; fwd: hook_dropped, qdisc_dropped, ...)
  wirespeed_stream_<counter>_total  sink: each stream's packets, lost, reordered, duplicated
  wirespeed_<rate>            the last interval's pps, l2_mbps, l1_mbps
  wirespeed_latency_seconds   sink: one-way latency as a Prometheus histogram (bucket bounds
                              1 µs .. 10 s in 1-2-5 steps; each count is exact to the C
                              histogram's bucket width, <= 1.6 %)
"""

from __future__ import annotations

import threading

import numpy as np

from wirespeed.base.errors import UsageError

LATENCY_BOUNDS_S = tuple(m * 10.0**e for e in range(-6, 1) for m in (1, 2, 5)) + (10.0,)


def parse_listen(text: str) -> tuple[str, int]:
    """'9100' -> ('127.0.0.1', 9100); 'ADDR:PORT' (an IPv6 address in brackets)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    try:
        n = int(port)
    except ValueError:
        n = -1
    if not 0 < n < 65536 or (sep and not host):
        raise UsageError(f"--prometheus: expected [ADDR:]PORT with PORT 1..65535, got {text!r}")
    return host, n


class Exporter:
    """An HTTP endpoint serving the figures last given to update()."""

    def __init__(self, listen: str, tool: str, interface: str):
        from prometheus_client import CollectorRegistry, start_http_server

        self.host, self.port = parse_listen(listen)
        self.labels = {"tool": tool, "interface": interface}
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, str], float] = {}
        self._gauges: dict[str, float] = {}
        self._hist: tuple[list[float], float] | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        try:
            self._server, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        except OSError as e:
            raise UsageError(f"--prometheus: cannot listen on {self.host}:{self.port}: {e.strerror or e}") from None

    def update(self, counters: dict, gauges: dict, latency_hist: np.ndarray | None = None,
               lower_bounds: np.ndarray | None = None) -> None:
        """counters: {(name, role): total}, role "" (none), a role, or a (label, value) pair; gauges: {name: value}; latency_hist: the C
        histogram's counts with its buckets' lower bounds in ns."""
        hist = None
        if latency_hist is not None and latency_hist.sum():
            cum = np.cumsum(latency_hist)
            upper = np.append(lower_bounds[1:], lower_bounds[-1] * 2)
            counts = [float(cum[np.searchsorted(upper, b * 1e9, side="right") - 1])
                      if upper[0] <= b * 1e9 else 0.0 for b in LATENCY_BOUNDS_S]
            mids = (lower_bounds + upper) / 2
            hist = (counts, float(cum[-1]), float((latency_hist * mids).sum()) / 1e9)
        with self._lock:
            self._counters = dict(counters)
            self._gauges = {k: float(v) for k, v in gauges.items() if isinstance(v, (int, float))}
            self._hist = hist

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        with self._lock:
            counters, gauges, hist = dict(self._counters), dict(self._gauges), self._hist
        keys = list(self.labels)
        by_name: dict[str, list] = {}
        for (name, role), v in counters.items():
            by_name.setdefault(name, []).append((("role", role) if isinstance(role, str) else role, v))
        for name, values in sorted(by_name.items()):
            extra = next((label for (label, value), _ in values if value), None)  # role, stream or none
            m = CounterMetricFamily(f"wirespeed_{name}", f"{name}, since the run started",
                                    labels=keys + ([extra] if extra else []))
            for (_, value), v in values:
                m.add_metric(list(self.labels.values()) + ([value] if extra else []), v)
            yield m
        for name, v in sorted(gauges.items()):
            m = GaugeMetricFamily(f"wirespeed_{name}", f"{name} over the last interval", labels=keys)
            m.add_metric(list(self.labels.values()), v)
            yield m
        if hist is not None:
            counts, total, total_s = hist
            m = HistogramMetricFamily("wirespeed_latency_seconds", "one-way latency of stamped frames", labels=keys)
            buckets = [(f"{b:g}", c) for b, c in zip(LATENCY_BOUNDS_S, counts)] + [("+Inf", total)]
            m.add_metric(list(self.labels.values()), buckets, total_s)
            yield m

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
