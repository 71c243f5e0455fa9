"""The one place the compiled core is imported; everything else imports it from here.

Its types (Gen, Sink, PacketTx, PacketRx, UdpPort, XskPort, Ring, Pool, Qdisc), the bpf() and
timing functions, and the constants the C headers define (COUNTER_NAMES, SINK_STAT_NAMES, ...).
"""

from wirespeed._core import *  # noqa: F401,F403  (re-exported)
from wirespeed._core import COUNTER_NAMES

C = {name: i for i, name in enumerate(COUNTER_NAMES)}  # counter name -> index
N_COUNTERS = len(COUNTER_NAMES)
