"""wirespeed: move packets on Linux at the kernel's ceiling and see where every nanosecond goes.

The Python API (see wirespeed.api): Gen, Sink, Fwd, Lab, search, their results, Batch, Where.
"""

__version__ = "0.1.0"

_API = ("Gen", "Sink", "Fwd", "Lab", "Batch", "Where", "Result", "GenResult", "SinkResult", "FwdResult",
        "search", "SearchResult", "gen_config", "sink_config", "fwd_config", "Stream")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    # Imported on first use: `python -m wirespeed` and the worker processes need none of it.
    if name in _API:
        from wirespeed import api

        return getattr(api, name)
    raise AttributeError(f"module 'wirespeed' has no attribute {name!r}")
