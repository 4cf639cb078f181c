"""The runtime's settings: read from the environment once, defaults for empty or bad values."""

from __future__ import annotations

import dataclasses

import pytest

from serve.settings import Settings


def test_defaults_without_any_variable(tmp_path):
    s = Settings.from_env({}, cgroup_root=tmp_path)
    assert (s.worker_nice, s.worker_idle_s, s.blas_threads) == (10, 20.0, 1)
    assert s.warm
    assert 1 <= s.workers <= 2


def test_every_variable_is_read(tmp_path):
    env = {
        "TRAINING_EXPLORER_WORKERS": "0",
        "TRAINING_EXPLORER_WORKER_NICE": "5",
        "TRAINING_EXPLORER_WORKER_IDLE_S": "60",
        "TRAINING_EXPLORER_BLAS_THREADS": "2",
        "TRAINING_EXPLORER_WARM": "0",
    }
    s = Settings.from_env(env, cgroup_root=tmp_path)
    assert s == Settings(
        workers=0,
        worker_nice=5,
        worker_idle_s=60.0,
        blas_threads=2,
        warm=False,
    )


@pytest.mark.parametrize("bad", ["", "  ", "ten", "nan", "inf", "1e400"])
def test_a_bad_value_falls_back_to_the_default(tmp_path, bad):
    s = Settings.from_env({"TRAINING_EXPLORER_WORKER_NICE": bad, "TRAINING_EXPLORER_WORKER_IDLE_S": bad}, tmp_path)
    assert s.worker_nice == 10 and s.worker_idle_s == 20.0


def test_values_are_clipped_to_their_range(tmp_path):
    s = Settings.from_env({"TRAINING_EXPLORER_WORKERS": "-3", "TRAINING_EXPLORER_WORKER_NICE": "40"}, tmp_path)
    assert s.workers == 0 and s.worker_nice == 19


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().workers = 5
