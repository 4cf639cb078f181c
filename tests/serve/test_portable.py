"""Workers run where the OS lacks ``os.nice`` and ``/proc`` (Windows, macOS), and the worker count
follows the container's CPU limit.

Workers are spawned, so a monkeypatch in this process never reaches them: the crippled worker
below takes ``os.nice`` and ``/proc`` away from itself before it runs the normal worker main.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from engine.experiments import run
from serve import compute, settings, system
from serve.settings import SETTINGS, Settings, available_cpus


def _no_proc_worker(conn, cancel, worker_settings):
    """A worker without ``os.nice`` or ``/proc`` (as on Windows), then the normal worker main."""
    import builtins
    import io

    real_open = io.open

    def guarded_open(file, *args, **kwargs):
        if str(file).startswith("/proc"):
            raise PermissionError(f"no /proc here: {file}")
        return real_open(file, *args, **kwargs)

    builtins.open = io.open = guarded_open
    for name in ("nice", "getpriority", "setpriority"):
        if hasattr(os, name):
            delattr(os, name)
    # the worker answers for itself: what it could reach, before its first job
    probe = {"has_nice": hasattr(os, "nice")}
    try:
        with open("/proc/self/statm"):
            probe["proc"] = True
    except OSError:
        probe["proc"] = False
    conn.send(("probe", probe))
    compute._worker_main(conn, cancel, worker_settings)


def test_a_worker_without_os_nice_or_proc_trains_a_run():
    pool = compute._Pool(1, SETTINGS, target=_no_proc_worker)
    pool.start()
    try:
        (worker,) = list(pool.free.queue)
        kind, probe = worker.conn.recv()
        assert kind == "probe"
        assert probe == {"has_nice": False, "proc": False}  # the worker really lacks them
        payload = {"name": "init_training", "params": {"epochs": 2, "seed": 1}}
        result, capped = pool.run("experiment", payload, 60, lambda *a: None, None, lambda: None)
        assert not capped
        assert result.summary == run("init_training", epochs=2, seed=1).summary
        (same,) = list(pool.free.queue)
        assert same is worker and same.process.is_alive()  # and it takes the next job
        if hasattr(os, "getpriority"):  # psutil lowered its priority without os.nice
            expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + SETTINGS.worker_nice)
            assert os.getpriority(os.PRIO_PROCESS, worker.process.pid) == expected
    finally:
        while not pool.free.empty():
            pool.free.get().close()


def test_lower_priority_without_psutil_logs_and_carries_on(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "psutil", None)  # "import psutil" raises ImportError
    assert system.lower_priority(5) is False
    assert "priority left unchanged" in caplog.text
    assert system.lower_priority(0) is True  # nothing asked


def _cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def _affinity() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@pytest.mark.parametrize(
    "files, limit",
    [
        ({"cpu.max": "150000 100000\n"}, 2),  # v2: 1.5 CPUs -> 2 workers' worth
        ({"cpu.max": "100000 100000\n"}, 1),  # v2: one CPU
        ({"cpu.max": "50000 100000\n"}, 1),  # v2: half a CPU still gets one
        ({"cpu.max": "max 100000\n"}, None),  # v2: no limit
        ({"cpu/cpu.cfs_quota_us": "100000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),  # v1
        ({"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),  # no cgroup file system (macOS, Windows)
        ({"cpu.max": "garbage\n"}, None),
    ],
)
def test_the_cpu_count_follows_the_cgroup_quota(tmp_path, files, limit):
    root = _cgroup(tmp_path, files)
    expected = _affinity() if limit is None else min(limit, _affinity())
    assert available_cpus(root) == expected


def test_the_default_worker_count_follows_a_one_cpu_limit(tmp_path, monkeypatch):
    root = _cgroup(tmp_path, {"cpu.max": "100000 100000\n"})
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7}, raising=False)
    assert available_cpus(root) == 1
    assert Settings.from_env({}, cgroup_root=root).workers == 1
    assert Settings.from_env({}, cgroup_root=_cgroup(tmp_path / "none", {})).workers == settings.MAX_DEFAULT_WORKERS
    assert Settings.from_env({"TRAINING_EXPLORER_WORKERS": "3"}, cgroup_root=root).workers == 3  # explicit wins


def test_without_affinity_or_cgroups_the_cpu_count_is_the_machines(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)  # as on macOS and Windows
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert available_cpus(tmp_path) == 8
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown
    assert available_cpus(tmp_path) == 1
