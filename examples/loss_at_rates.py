"""Offer a lab's veth pair several rates and print what arrived: loss and latency per rate.

    sudo python3 examples/loss_at_rates.py [LAB_NAME]

Makes its own lab (network namespaces joined by a veth pair, addresses from 198.18.0.0/15) and
removes it at the end; every run is bounded by a count and a duration.
"""

import sys

import wirespeed

RATES = ("50kpps", "200kpps", "500kpps")
COUNT = 100_000

with wirespeed.Lab("pair", name=sys.argv[1] if len(sys.argv) > 1 else "loss") as lab:
    print(f"{'offered':>10} {'sent pps':>10} {'sent':>8} {'skipped':>8} {'received':>9} {'lost':>6} "
          f"{'p50 µs':>7} {'p99 µs':>7}")
    for rate in RATES:
        with wirespeed.Sink(lab=lab, count=COUNT, duration=10) as sink:
            sent = wirespeed.Gen(lab=lab, rate=rate, count=COUNT, duration=10).run()
            got = sink.wait(5) or sink.stop()  # the sink's own count ends it; else whatever came
        skipped = sent.departures["skipped"]  # slots the pacer passed after a stall (never sent late)
        print(f"{rate:>10} {sent.pps:>10,.0f} {sent.packets:>8,} {skipped:>8,} {got.packets:>9,} {got.lost:>6,} "
              f"{got.p50_ns / 1e3:>7.1f} {got.p99_ns / 1e3:>7.1f}")
