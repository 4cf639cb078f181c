"""Per-process set-up that works the same on Linux, macOS and Windows: BLAS threads, priority.

Each call degrades to a documented no-op where the OS lacks the mechanism, and says so in the
log; a compute worker must never die because its platform lacks a knob.
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas(threads: int) -> None:
    """At most ``threads`` BLAS threads in this process.

    The engine multiplies small matrices and many sessions share the cores: OpenBLAS threads
    spinning on a busy 2-core machine made a 3 s run take 64 s. The environment variables cover
    a NumPy not yet imported (and the processes this one starts); threadpoolctl covers one
    already loaded (it only sees loaded libraries, hence the NumPy import first). Where
    threadpoolctl cannot inspect the process (on Linux it reads ``/proc/self/maps``), the
    variables alone apply, and the failure is logged.
    """
    for var in _BLAS_VARS:
        os.environ.setdefault(var, str(threads))
    import numpy  # noqa: F401 - load BLAS so that threadpoolctl can see it

    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)
    except Exception as e:  # noqa: BLE001 - ImportError, OSError: the variables still apply
        log.warning("BLAS threads not limited at run time (%s: %s)", type(e).__name__, e)


def lower_priority(nice: int) -> bool:
    """Lower this process's scheduling priority by ``nice`` (0-19, as the ``nice`` command).

    psutil does it on every OS: on Unix it adds ``nice`` to the niceness (at most 19); on
    Windows, which has priority classes instead, any ``nice`` > 0 is BELOW_NORMAL and 15 or more
    IDLE. Where it fails (no psutil, a sandbox that forbids it) the process keeps its priority and
    the failure is logged: runs still compute, page reruns just lose their head start.
    Returns True when the priority was lowered (or ``nice`` is 0).
    """
    if nice <= 0:
        return True
    try:
        import psutil

        me = psutil.Process()
        if sys.platform == "win32":
            me.nice(psutil.IDLE_PRIORITY_CLASS if nice >= 15 else psutil.BELOW_NORMAL_PRIORITY_CLASS)
        else:
            me.nice(min(19, me.nice() + nice))
        return True
    except Exception as e:  # noqa: BLE001 - ImportError, psutil.Error, OSError: keep computing
        log.warning("worker priority left unchanged (%s: %s)", type(e).__name__, e)
        return False


def listens_on(port: int) -> bool:
    """True when this process has a TCP socket listening on ``port`` (True where unknown).

    The in-process warm-up talks to its own server; under AppTest there is no server, and the
    port may belong to another process.
    """
    try:
        import psutil

        return any(
            c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
            for c in psutil.Process().net_connections("tcp")
        )
    except Exception:  # noqa: BLE001 - no psutil, or the OS refuses: assume it is ours
        return True
