"""The one run driver (workers, stops, snapshots) and the figures it reports (rates, per-packet costs, percentiles)."""
