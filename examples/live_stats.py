"""Watch a run while it runs: start a generator and a sink, read their live figures every half
second, stop them after three seconds, print a few of their summaries' figures as JSON.

    sudo python3 examples/live_stats.py [LAB_NAME]
"""

import json
import sys
import time

import wirespeed

with wirespeed.Lab("pair", name=sys.argv[1] if len(sys.argv) > 1 else "live") as lab:
    sink = wirespeed.Sink(lab=lab).start()
    gen = wirespeed.Gen(lab=lab, rate="100kpps", size="imix").start()
    try:
        for _ in range(6):
            time.sleep(0.5)
            g, s = gen.stats(), sink.stats()
            print(f"t={g['t']:4.1f}s  sent {g['pps']:9,.0f} pps  received {s['pps']:9,.0f} pps  lost {s['lost']}")
    finally:
        g, s = gen.stop(), sink.stop()
    keys = ("packets", "pps", "lost", "p99_ns", "ns_per_pkt", "cpu_ns_per_pkt")
    print(json.dumps({"gen": {k: g[k] for k in keys if k in g.to_dict()},
                      "sink": {k: s[k] for k in keys if k in s.to_dict()}}))
