"""Open Traffic Generator: `wirespeed otg` serves the OTG model (snappi's HTTP client drives it),
its ports on this host or on agents on other hosts (otg.model: the config in wirespeed's words;
otg.engine: the runs; otg.server: HTTP)."""
