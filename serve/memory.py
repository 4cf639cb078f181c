"""Memory housekeeping: what a process holds, and handing freed memory back to the system.

Where each mechanism is measured: benchmarks/README.md, "Memory after a class".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_ARENA_MAX = -8  # glibc's mallopt parameter


def _glibc():
    """glibc's C library, or None where the C library is another (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None
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


def limit_arenas(arenas: int | None) -> bool:
    """At most ``arenas`` glibc malloc arenas in this process (None: leave glibc's setting).

    glibc gives each thread that allocates an arena of its own (up to 8 per core), and
    Streamlit runs every session's script in a thread: the memory a class frees ends up
    scattered over many arenas, in pieces that stay with the process. Two arenas keep it where
    :func:`trim` hands it back. Server only: a worker computes in one thread.
    """
    libc = _glibc() if arenas else None
    if libc is None:
        return False
    libc.mallopt(_M_ARENA_MAX, int(arenas))
    return True


def use_arrow_pool(name: str | None) -> bool:
    """Allocate Arrow's buffers from pool ``name`` ("system"; None: Arrow's default).

    Arrow's default pool (mimalloc) keeps what the charts' and tables' Arrow data freed, apart
    from malloc and out of reach of :func:`trim`; the system allocator gives it back with the rest.
    """
    if not name:
        return False
    import pyarrow

    pyarrow.set_memory_pool({"system": pyarrow.system_memory_pool}[name]())
    return True
