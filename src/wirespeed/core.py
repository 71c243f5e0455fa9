"""The one place the compiled core is imported; everything else imports it from here."""

from wirespeed._core import (  # noqa: F401  (re-exported)
    COUNTER_NAMES,
    FANOUT_CPU,
    FANOUT_FLAG_ROLLOVER,
    FANOUT_HASH,
    FANOUT_LB,
    GEN_MAX_FRAME,
    GEN_MAX_SIZES,
    PKTGEN_HDR_LEN,
    PKTGEN_MAGIC,
    SEQ_BITS,
    SINK_HIST,
    SINK_HIST_SUB,
    SINK_STAT_NAMES,
    TX_DATA_OFF,
    Gen,
    PacketRx,
    PacketTx,
    Sink,
    UdpPort,
    chase_free,
    chase_setup,
    clock,
    noop,
    timebench,
    timebench_ops,
    tsc_calibrate,
)

C = {name: i for i, name in enumerate(COUNTER_NAMES)}  # counter name -> index
N_COUNTERS = len(COUNTER_NAMES)
