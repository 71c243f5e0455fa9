"""The one place the compiled core is imported; everything else imports it from here.

Its types (Gen, Sink, PacketTx, PacketRx, UdpPort, XskPort, Ring, Pool, Qdisc), the bpf() and
timing functions, and the constants the C headers define (COUNTER_NAMES, SINK_STAT_NAMES, ...).
"""

from wirespeed._core import *  # noqa: F401,F403  (re-exported)
from wirespeed._core import COUNTER_NAMES, DEPARTURE_NAMES, SINK_STAT_NAMES

# Name -> index of each counter set (the C headers' X-macro lists, in their order).
C = {name: i for i, name in enumerate(COUNTER_NAMES)}  # a port's counters
S = {name: i for i, name in enumerate(SINK_STAT_NAMES)}  # the sink's statistics
D = {name: i for i, name in enumerate(DEPARTURE_NAMES)}  # the generator's departures
N_COUNTERS = len(COUNTER_NAMES)
