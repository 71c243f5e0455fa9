"""A forwarder with your own Python per batch: gen -> fwd (a NumPy hook) -> sink, in a chain lab.

    sudo python3 examples/python_hook.py [LAB_NAME]

The hook runs once per batch of frames (never per packet): it drops every frame whose UDP
destination port is odd, with one vectorised comparison over the whole batch.
"""

import sys

import numpy as np

import wirespeed

N = 20_000


def drop_odd_ports(batch):
    """Return one verdict per frame: PASS (1) or DROP (0). Port bytes 36-37 (IPv4, no options)."""
    at = batch.offsets
    port = batch.data[at + 36].astype(np.uint16) << 8 | batch.data[at + 37]
    return (port % 2 == 0).astype(np.uint8)


with wirespeed.Lab("chain", name=sys.argv[1] if len(sys.argv) > 1 else "hook") as lab:
    with wirespeed.Sink(lab=lab, duration=20) as sink, \
            wirespeed.Fwd(lab=lab, hook=drop_odd_ports, count=N, duration=20) as fwd:
        sent = wirespeed.Gen(lab=lab, rate="100kpps", count=N, dport="10-11").run()
        f = fwd.wait(10) or fwd.stop()
        s = sink.stop()
    print(f"sent {sent.packets:,}  forwarder rx {f.rx:,} dropped by the hook {f.hook_dropped:,} "
          f"tx {f.tx:,}  sink received {s.packets:,} (sequence gaps: {s.lost:,}, the hook's drops)")
