"""Memory housekeeping: a compute worker hands the memory a job freed back to the system.

Kept because a measurement says it earns its place (benchmarks/README.md, "What a worker and the
server keep after a class"). It does nothing where the C library is not glibc (macOS, Windows,
musl), whose allocators give freed pages back on their own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)


def _glibc():
    """glibc's C library, or None where the C library is another (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def trim() -> bool:
    """Hand the memory freed since the last call back to the system (glibc's ``malloc_trim``).

    glibc keeps freed heap pages otherwise. Elsewhere (other allocators give pages back on
    their own) it does nothing. Returns True when it ran.
    """
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
