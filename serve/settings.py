"""The runtime's settings, read from the environment once, into one frozen object.

``SETTINGS`` is what the server process and its compute workers use; a test builds its own with
``Settings.from_env({...})`` or ``dataclasses.replace(SETTINGS, ...)`` and hands it to the pool.
An empty or unparsable value falls back to the default.

Variable (field, default): meaning.

- ``TRAINING_EXPLORER_WORKERS`` (``workers``, one per CPU, at most 2): compute worker processes;
  0 computes in the server process.
- ``TRAINING_EXPLORER_WORKER_NICE`` (``worker_nice``, 10): how much lower the workers' priority
  is (0-19, as ``nice``), so that page reruns go first when the cores train.
- ``TRAINING_EXPLORER_WORKER_IDLE_S`` (``worker_idle_s``, 20): a worker idle this many seconds
  after a job is replaced by a fresh one.
- ``TRAINING_EXPLORER_BLAS_THREADS`` (``blas_threads``, 1): BLAS threads per process.
- ``TRAINING_EXPLORER_WARM`` (``warm``, on): ``0`` switches the in-process warm-up off.
- ``TRAINING_EXPLORER_POLL_S`` (``poll_s``, 3): seconds between two looks at the class store from
  a student's or the teacher's page (the reveal, the tally, "follow me"); at least 1.
- ``TRAINING_EXPLORER_PUBLIC_URL`` (``public_url``, none): the app's public address, for the
  student link and QR code the Teach page shows behind a proxy (else the browser's address).

"CPUs" is what the process may use: the container's CPU quota (cgroup v2 ``cpu.max``, cgroup v1
``cpu.cfs_quota_us``) and its CPU affinity, not only the machine's core count.

The time cap, ``TRAINING_EXPLORER_MAX_SECONDS``, is the engine's: ``engine.budget.max_seconds()``
reads it when a run starts (the engine imports nothing from here).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Where the cgroup file system is mounted (Linux); a test points it at a fake tree.
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: The default worker count is one per CPU, at most this many (each worker is about 100 MB).
MAX_DEFAULT_WORKERS = 2


def _cgroup_quota(root: Path, own: str | None) -> float | None:
    """The CPU quota in CPUs from the cgroup files under ``root``, or None when there is none.

    cgroup v2: ``cpu.max`` holds "QUOTA PERIOD" or "max PERIOD", in the process's own cgroup
    (``own``, from /proc/self/cgroup) or at the root of the mount (a container's view).
    cgroup v1: ``cpu/cpu.cfs_quota_us`` (-1: none) over ``cpu/cpu.cfs_period_us``.
    """
    candidates = [root / own.lstrip("/") / "cpu.max"] if own and own != "/" else []
    for path in [*candidates, root / "cpu.max"]:
        try:
            quota, period = path.read_text().split()[:2]
        except (OSError, ValueError):
            continue
        if quota == "max":
            return None
        try:
            return int(quota) / int(period)
        except (ValueError, ZeroDivisionError):
            return None
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        try:
            quota = int((root / folder / "cpu.cfs_quota_us").read_text())
            period = int((root / folder / "cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            continue
        return quota / period if quota > 0 and period > 0 else None
    return None


def _own_cgroup() -> str | None:
    """This process's cgroup v2 path ("0::/path" in /proc/self/cgroup), or None."""
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:].strip()
    except OSError:
        pass
    return None


def available_cpus(cgroup_root: Path | None = None) -> int:
    """CPUs this process may use: its affinity, capped by a cgroup CPU quota (rounded up), >= 1.

    ``os.sched_getaffinity`` exists on Linux; elsewhere ``os.process_cpu_count()`` (Python 3.13,
    the affinity where the OS has one) or ``os.cpu_count()``. Without a cgroup file system (macOS,
    Windows) only that count applies.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = getattr(os, "process_cpu_count", os.cpu_count)() or 1
    root = CGROUP_ROOT if cgroup_root is None else cgroup_root
    quota = _cgroup_quota(root, _own_cgroup() if cgroup_root is None else None)
    if quota is not None and quota > 0:
        cpus = min(cpus, math.ceil(quota - 1e-9))
    return max(1, cpus)


def _number(environ: Mapping[str, str], name: str, default, cast=float, lo=None, hi=None):
    """``environ[name]`` as ``cast``, clipped to [lo, hi]; the default when unset, empty or bad."""
    raw = (environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = cast(float(raw)) if cast is int else cast(raw)
    except (TypeError, ValueError, OverflowError):
        return default
    if isinstance(value, float) and not math.isfinite(value):
        return default
    if lo is not None:
        value = max(lo, value)
    if hi is not None:
        value = min(hi, value)
    return value


@dataclass(frozen=True)
class Settings:
    """The runtime's settings (see the module's table for the variables that set them)."""

    workers: int = 1
    worker_nice: int = 10
    worker_idle_s: float = 20.0
    blas_threads: int = 1
    warm: bool = True
    poll_s: float = 3.0
    public_url: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, cgroup_root: Path | None = None) -> Settings:
        """Settings from ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        default_workers = min(MAX_DEFAULT_WORKERS, available_cpus(cgroup_root))
        return cls(
            workers=_number(env, "TRAINING_EXPLORER_WORKERS", default_workers, int, lo=0, hi=64),
            worker_nice=_number(env, "TRAINING_EXPLORER_WORKER_NICE", 10, int, lo=0, hi=19),
            worker_idle_s=_number(env, "TRAINING_EXPLORER_WORKER_IDLE_S", 20.0, lo=0.0),
            blas_threads=_number(env, "TRAINING_EXPLORER_BLAS_THREADS", 1, int, lo=1, hi=256),
            warm=(env.get("TRAINING_EXPLORER_WARM") or "1").strip() != "0",
            poll_s=_number(env, "TRAINING_EXPLORER_POLL_S", 3.0, lo=1.0, hi=600.0),
            public_url=(env.get("TRAINING_EXPLORER_PUBLIC_URL") or "").strip().rstrip("/"),
        )


SETTINGS = Settings.from_env()
