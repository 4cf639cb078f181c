"""serve.compute's worker processes give the same results as computing in-process, and stop cleanly."""

from __future__ import annotations

import pandas as pd
import pytest

from engine.experiments import run
from engine.train import TrainConfig
from serve import compute


@pytest.fixture(scope="module")
def pool():
    p = compute._Pool(1)
    p.start()
    yield p
    while not p.free.empty():
        p.free.get().close()


def _run(pool, kind, payload, seconds=60, progress=None, on_epoch=None):
    return pool.run(kind, payload, seconds, progress or (lambda *a: None), on_epoch, lambda: None)


def test_a_worker_computes_the_same_tables_as_this_process(pool):
    messages = []
    result, capped = _run(
        pool,
        "experiment",
        {"name": "init_training", "params": {"epochs": 2, "seed": 3}},
        progress=lambda f, m="": messages.append(f),
    )
    here = run("init_training", epochs=2, seed=3)
    assert not capped
    assert result.summary == here.summary
    for name, table in here.tables.items():
        timing = [c for c in table.columns if "second" in c]
        pd.testing.assert_frame_equal(result.tables[name].drop(columns=timing), table.drop(columns=timing))
    assert messages and messages[-1] == pytest.approx(1.0)


def test_bad_input_comes_back_as_the_engines_value_error(pool):
    with pytest.raises(ValueError, match="epochs must be an integer in"):
        _run(pool, "experiment", {"name": "init_training", "params": {"epochs": 10**9}})


def test_the_time_cap_stops_a_run_and_returns_what_it_finished(pool):
    result, capped = _run(pool, "experiment", {"name": "dropout", "params": {"epochs": 200}}, seconds=0.3)
    assert capped
    assert len(result.tables["curves"]) > 0  # the part it finished


def test_training_streams_every_epoch_and_returns_the_history_without_weights(pool):
    epochs = []
    h, capped = _run(
        pool,
        "train",
        {"config": TrainConfig(epochs=3, seed=1).to_dict()},
        on_epoch=lambda e, snap: epochs.append((e, len(snap.epoch))),
    )
    assert not capped and h.model is None
    assert epochs == [(0, 1), (1, 2), (2, 3)]
    assert h.epoch == [0, 1, 2] and 0.0 < h.final_val_acc <= 1.0


def test_a_page_that_goes_away_mid_run_leaves_a_working_worker(pool):
    class Gone(Exception):
        pass

    def progress(*_):
        raise Gone  # what Streamlit does to a script thread whose page reran

    with pytest.raises(Gone):
        _run(pool, "experiment", {"name": "dropout", "params": {"epochs": 200}}, progress=progress)
    result, capped = _run(pool, "experiment", {"name": "init_rules", "params": {}})  # waits for the drained worker
    assert not capped and result.tables


def test_light_runs_compute_here_even_when_workers_exist(monkeypatch):
    class Busy:
        def run(self, *a):
            raise AssertionError("a light run must not queue for a worker")

    monkeypatch.setattr(compute, "_pool", Busy())
    result = compute.experiment("init_rules", {}, 10, lambda *a: None, here=True)
    assert set(result.tables) == set(run("init_rules").tables)


def test_a_worker_that_dies_mid_run_is_reported_and_replaced(pool):
    (worker,) = list(pool.free.queue)

    def progress(*_):
        worker.process.kill()  # as the kernel's OOM killer would

    with pytest.raises(compute.WorkerLost):
        _run(pool, "experiment", {"name": "dropout", "params": {"epochs": 200}}, progress=progress)
    result, capped = _run(pool, "experiment", {"name": "init_rules", "params": {}})
    assert not capped and result.tables


def test_workers_run_at_a_lower_priority_than_the_server(pool):
    import os

    _run(pool, "experiment", {"name": "init_rules", "params": {}})  # the worker is up and niced
    (worker,) = list(pool.free.queue)
    assert pool.settings.worker_nice == 10
    expected = min(19, os.getpriority(os.PRIO_PROCESS, 0) + pool.settings.worker_nice)
    assert os.getpriority(os.PRIO_PROCESS, worker.process.pid) == expected


def test_a_worker_idle_after_a_job_is_replaced_by_a_fresh_one():
    p = compute._Pool(1)
    p.start()
    try:
        p.refresh(idle_s=0)
        (fresh,) = list(p.free.queue)
        pid = fresh.process.pid
        assert fresh.jobs == 0  # never ran a job: kept as it is
        _run(p, "experiment", {"name": "init_rules", "params": {}})
        assert fresh.jobs == 1 and fresh.process.pid == pid
        p.refresh(idle_s=3600)  # not idle long enough
        assert fresh.process.pid == pid
        p.refresh(idle_s=0)
        (same,) = list(p.free.queue)
        assert same.process.pid != pid and same.jobs == 0
        result, capped = _run(p, "experiment", {"name": "init_rules", "params": {}})  # the new one works
        assert result.tables and not capped
    finally:
        while not p.free.empty():
            p.free.get().close()
