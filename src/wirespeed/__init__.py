"""wirespeed: move packets on Linux at the kernel's ceiling and see where every nanosecond goes."""

__version__ = "0.1.0"
