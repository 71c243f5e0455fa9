"""The one compiled extension, wirespeed._core: gcc and the kernel UAPI headers only.

Build switches (environment):
  WIRESPEED_DEBUG=1     -O0 -g, assertions on
  WIRESPEED_SANITIZE=1  AddressSanitizer + UBSan (run with LD_PRELOAD of libasan)
"""
import os
from glob import glob

from setuptools import Extension, setup

cflags = ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fno-strict-aliasing"]
ldflags = []
if os.environ.get("WIRESPEED_DEBUG"):
    cflags += ["-O0", "-g", "-UNDEBUG"]
else:
    cflags += ["-O2"]
if os.environ.get("WIRESPEED_SANITIZE"):
    cflags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    ldflags += ["-fsanitize=address,undefined"]

setup(
    ext_modules=[
        Extension(
            "wirespeed._core",
            sources=["src/wirespeed/csrc/core.c"],
            depends=glob("src/wirespeed/csrc/*.h"),
            extra_compile_args=cflags,
            extra_link_args=ldflags,
        )
    ],
)
