"""Results shared across replicas (classroom.results): exact round trips, keys, bounds, garbage,
and app processes sharing one store (a second server and a restart serve without training)."""

from __future__ import annotations

import json
import math
import os
import pickle
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from classroom import results as shared
from classroom.results import ResultStore, decode, encode, engine_source_hash, result_key
from engine.experiments import run
from engine.experiments.common import Result
from tests.classroom.conftest import new_pg_database

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400.0


class Clock:
    def __init__(self, t: float = 1.8e9):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def db_url(backend, request, tmp_path):
    """A database of this test's own (the bounds count every row): a SQLite file, or a new
    PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'class.db'}"
        return
    with new_pg_database(request.getfixturevalue("pg_server")) as url:
        yield url


@pytest.fixture
def make_results(db_url):
    made: list[ResultStore] = []

    def make(**kw) -> ResultStore:
        rs = ResultStore(db_url, **kw)
        made.append(rs)
        return rs

    yield make
    for rs in made:
        rs.dispose()


def assert_same_result(got: Result, want: Result) -> None:
    assert list(got.tables) == list(want.tables)
    for name, df in want.tables.items():
        pd.testing.assert_frame_equal(got.tables[name], df, **shared.EXACT)  # values, NaN/inf, dtypes, index
    assert json.dumps(got.summary, sort_keys=True) == json.dumps(want.summary, sort_keys=True)
    assert got.notes == want.notes


def odd_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "loss": [0.5, np.nan, np.inf, -np.inf],
            "epoch": np.arange(4, dtype=np.int64),
            "small": np.array([1, 2, 3, 4], dtype=np.int32),
            "run": ["a", None, "c", "d"],
            "diverged_epoch": [None, None, None, None],
            "kind": pd.Categorical(["x", "y", "x", "z"]),
            "ok": [True, False, True, True],
            "maybe": pd.array([1, None, 3, 4], dtype="Int64"),
        },
        index=[10, 11, 12, 13],
    )


# -- round trip ---------------------------------------------------------------------------------

# Quick experiments from the registry, at small settings: their real tables and summaries.
REAL_RUNS = {
    "init_forward": {},
    "init_rules": {},
    "derivative_product": {},
    "schedule_curves": {},
    "early_stopping_article": {},
}


@pytest.mark.parametrize("name", REAL_RUNS)
def test_real_experiment_results_come_back_exactly(make_results, name):
    rs = make_results()
    result = run(name, **REAL_RUNS[name])
    assert rs.put(name, REAL_RUNS[name], result)
    got = rs.get(name, REAL_RUNS[name])
    assert got is not None and got is not result
    assert_same_result(got, result)


def test_nan_inf_none_and_dtypes_survive_and_so_do_summary_and_notes(make_results):
    rs = make_results()
    result = Result(
        tables={"odd": odd_frame(), "empty": pd.DataFrame(), "no_rows": pd.DataFrame(columns=["a", "b"])},
        summary={"best": float("nan"), "worst": float("inf"), "n": 3, "runs": ["a", "b"], "nested": {"x": None}},
        notes=["Measured over 3 seeds: the gap is within noise."],
    )
    assert rs.put("odd", {"seed": 1}, result)
    got = rs.get("odd", {"seed": 1})
    assert_same_result(got, result)
    assert math.isnan(got.summary["best"]) and got.summary["worst"] == math.inf
    assert isinstance(got.tables["empty"].index, pd.RangeIndex)
    assert got.tables["odd"]["kind"].dtype == "category" and str(got.tables["odd"]["maybe"].dtype) == "Int64"


def test_a_result_that_would_not_come_back_exactly_is_not_stored(make_results):
    rs = make_results()
    tuple_summary = Result(tables={"t": odd_frame()}, summary={"pair": (1, 2)})  # JSON gives a list back
    numpy_summary = Result(tables={"t": odd_frame()}, summary={"n": np.int64(3)})  # not JSON at all
    with pytest.raises(ValueError, match="summary"):
        encode(tuple_summary)
    assert not rs.put("x", {}, tuple_summary) and not rs.put("x", {}, numpy_summary)
    assert rs.get("x", {}) is None and rs.count() == 0


# -- keys ---------------------------------------------------------------------------------------


def test_the_key_is_experiment_params_and_engine_source(make_results):
    a = make_results(engine="a" * 64)
    b = make_results(engine="b" * 64)  # another engine source: a different key, nothing served
    result = Result(tables={"t": odd_frame()}, summary={"n": 1})
    assert a.put("exp", {"seed": 1, "depth": 3}, result)
    assert a.get("exp", {"depth": 3, "seed": 1}) is not None  # sorted keys: same entry
    assert b.get("exp", {"seed": 1, "depth": 3}) is None and not b.contains("exp", {"seed": 1, "depth": 3})
    assert a.get("exp", {"seed": 2, "depth": 3}) is None
    assert a.get("other", {"seed": 1, "depth": 3}) is None
    assert len({result_key("exp", {"s": 1}, e) for e in ("a", "b")}) == 2


def test_the_engine_hash_covers_every_engine_file_and_changes_with_any_byte(tmp_path):
    copy = tmp_path / "engine"
    shutil.copytree(ROOT / "engine", copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = shared._source_hash(copy)
    assert before == engine_source_hash()  # the process's hash is of the real engine/ source
    deep = sorted(copy.rglob("*.py"))[-1]  # any file, nested ones included
    deep.write_bytes(deep.read_bytes() + b"\n")
    assert shared._source_hash(copy) != before
    deep.write_bytes(deep.read_bytes()[:-1])
    assert shared._source_hash(copy) == before
    (copy / "new_module.py").write_text("X = 1\n")
    assert shared._source_hash(copy) != before


# -- bounds -------------------------------------------------------------------------------------


def test_entries_expire_after_the_ttl(make_results, db_url):
    clock = Clock()
    rs = make_results(clock=clock, ttl=timedelta(days=7))
    result = Result(tables={"t": odd_frame()})
    assert rs.put("exp", {"seed": 1}, result)
    clock.t += 7 * DAY - 1
    assert rs.get("exp", {"seed": 1}) is not None
    clock.t += 2
    assert rs.get("exp", {"seed": 1}) is None and not rs.contains("exp", {"seed": 1})
    assert rs.count() == 1 and rs.purge() == 1 and rs.count() == 0


def test_past_max_rows_the_oldest_go_first(make_results):
    clock = Clock()
    rs = make_results(clock=clock, max_rows=3)
    result = Result(tables={"t": odd_frame()})
    for seed in range(5):
        clock.t += 1
        assert rs.put("exp", {"seed": seed}, result)
    assert rs.count() == 3
    assert [rs.contains("exp", {"seed": s}) for s in range(5)] == [False, False, True, True, True]


def test_past_max_bytes_the_oldest_go_and_an_oversized_entry_is_not_stored(make_results):
    clock = Clock()
    result = Result(tables={"t": odd_frame()})
    meta, data = encode(result)
    size = len(meta.encode()) + len(data)
    rs = make_results(clock=clock, max_bytes=2 * size)
    for seed in range(4):
        clock.t += 1
        assert rs.put("exp", {"seed": seed}, result)
    assert [rs.contains("exp", {"seed": s}) for s in range(4)] == [False, False, True, True]
    small = make_results(max_entry_bytes=size - 1)
    assert not small.put("exp", {"seed": 99}, result) and not small.contains("exp", {"seed": 99})


def test_bad_bounds_are_refused_with_the_field_named(db_url):
    for kw, field in (({"max_rows": 0}, "max_rows"), ({"max_bytes": -1}, "max_bytes"), ({"ttl": timedelta(0)}, "ttl")):
        with pytest.raises(ValueError, match=field):
            ResultStore(db_url, **kw)


# -- garbage in the table -----------------------------------------------------------------------


class _Boom:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_corrupt_row_is_ignored_deleted_and_never_executed(make_results, db_url, tmp_path):
    rs = make_results()
    marker = tmp_path / "executed"
    boom = _Boom()
    boom.marker = marker
    payload = pickle.dumps(boom)  # what an attacker who can write the table might put there
    params = {"seed": 7}
    key = rs.key("exp", params)
    good_meta, good_data = encode(Result(tables={"t": odd_frame()}))
    rows = [
        ("not json", payload),
        (json.dumps({"format": 1, "tables": [["t", len(payload)]], "summary": {}, "notes": []}), payload),
        (good_meta, good_data[:-10]),  # truncated Arrow
        (good_meta, good_data + b"junk"),  # longer than its layout
        (json.dumps({"format": 1, "tables": [["t", -1]], "summary": {}, "notes": []}), b""),
        (json.dumps({"format": 99, "tables": [], "summary": {}, "notes": []}), b""),
        (json.dumps([1, 2]), b""),
    ]
    engine = sa.create_engine(db_url)
    try:
        for meta, data in rows:
            with pytest.raises(ValueError):
                decode(meta, data)
            with engine.begin() as conn:
                conn.execute(sa.delete(shared.results).where(shared.results.c.key == key))
                conn.execute(
                    sa.insert(shared.results).values(
                        key=key,
                        experiment="exp",
                        params=shared.params_json(params),
                        engine=rs.engine,
                        meta=meta,
                        data=data,
                        size=len(data),
                        created_at=rs._now(),
                    )
                )
            assert rs.get("exp", params) is None  # a miss, not an error
            assert not rs.contains("exp", params)  # and the row is gone
        # a well-formed entry filed under another run's key is not served either
        with engine.begin() as conn:
            conn.execute(
                sa.insert(shared.results).values(
                    key=key,
                    experiment="other",
                    params="{}",
                    engine=rs.engine,
                    meta=good_meta,
                    data=good_data,
                    size=len(good_data),
                    created_at=rs._now(),
                )
            )
        assert rs.get("exp", params) is None
    finally:
        engine.dispose()
    assert not marker.exists()


def test_the_results_table_comes_from_the_store_migrations(make_results, db_url):
    from classroom.store import MIGRATIONS, Store

    make_results()
    engine = sa.create_engine(db_url)
    try:
        assert "result_cache" in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    store = Store(db_url, questions={})
    assert store.schema_version() == MIGRATIONS[-1].version >= 2
    store.dispose()


# -- the app: memory -> shared store -> compute ---------------------------------------------------


@pytest.fixture
def runner_on(monkeypatch, tmp_path):
    """``ui.runner`` with a fresh shared store on a SQLite file of this test; yields (runner, url)."""
    from ui import runner

    url = f"sqlite:///{tmp_path / 'class.db'}"
    monkeypatch.setenv("TRAINING_EXPLORER_DB_URL", url)
    monkeypatch.delenv(runner.SHARED_ENV, raising=False)
    monkeypatch.setattr(runner, "_shared", runner._Shared())
    runner._cached.clear()
    yield runner, url
    runner._cached.clear()


class _NoBar:
    seconds = 30.0

    def __call__(self, *a):
        pass

    def waiting(self):
        pass


def test_a_capped_run_is_never_stored(runner_on, monkeypatch):
    runner, url = runner_on
    from serve import compute

    partial = Result(tables={"t": odd_frame()})

    def capped(*a, **kw):
        raise compute.Capped(partial)

    monkeypatch.setattr(compute, "experiment", capped)
    with pytest.raises(compute.Capped):
        runner._cached("exp", json.dumps({"seed": 1}), _progress=_NoBar())
    rs = ResultStore(url)
    assert rs.count() == 0 and not runner.known("exp", {"seed": 1})


def test_memory_then_store_then_compute(runner_on, monkeypatch):
    runner, url = runner_on
    from serve import compute

    calls = []
    result = Result(tables={"t": odd_frame()}, summary={"n": 1})
    monkeypatch.setattr(compute, "experiment", lambda name, params, *a, **kw: calls.append(name) or result)
    params = {"seed": 3}
    first = runner._cached("exp", json.dumps(params), _progress=_NoBar())
    assert first is result and calls == ["exp"]  # computed, then written to the store
    assert ResultStore(url).contains("exp", params)
    assert runner._cached("exp", json.dumps(params), _progress=_NoBar()) is result  # memory
    runner._cached.clear()  # as a new process: memory empty, the store remembers
    monkeypatch.setattr(runner, "_done", type(runner._done)(runner._done.size))
    assert runner.known("exp", params)
    again = runner._cached("exp", json.dumps(params), _progress=_NoBar())
    assert calls == ["exp"] and again is not result
    assert_same_result(again, result)


def test_an_unreachable_store_means_computing_as_before_with_a_logged_warning(runner_on, monkeypatch, caplog):
    runner, _ = runner_on
    from serve import compute

    blocker = Path(runner_on[1].removeprefix("sqlite:///")).parent / "a-file"
    blocker.write_text("")  # the database's folder would have to be inside a file
    monkeypatch.setenv("TRAINING_EXPLORER_DB_URL", f"sqlite:///{blocker}/sub/class.db")
    result = Result(tables={"t": odd_frame()})
    monkeypatch.setattr(compute, "experiment", lambda *a, **kw: result)
    with caplog.at_level("WARNING", logger="ui.runner"):
        assert runner._cached("exp", json.dumps({"seed": 5}), _progress=_NoBar()) is result
        assert not runner.known("exp", {"seed": 6})
    assert "shared result store unavailable" in caplog.text
    assert sum("unavailable" in r.message for r in caplog.records) == 1  # then left alone for a while


# -- two app processes on one store, and a restart ----------------------------------------------

PAGE = "pages/2_Initialization.py"


def _replica(env: dict, query: dict, hold: bool = False) -> subprocess.Popen:
    args = [sys.executable, "-m", "tests.classroom.replica", PAGE, json.dumps(query)] + (["--hold"] if hold else [])
    return subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _report(proc: subprocess.Popen) -> dict:
    line = proc.stdout.readline()
    assert line, f"replica exited with {proc.poll()}"
    return json.loads(line)


def test_a_view_trained_on_one_server_is_served_by_another_and_after_a_restart(tmp_path):
    env = {
        **os.environ,
        "TRAINING_EXPLORER_DB_URL": f"sqlite:///{tmp_path / 'class.db'}",
        "TRAINING_EXPLORER_WARM": "0",
        "TRAINING_EXPLORER_WORKERS": "0",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("TRAINING_EXPLORER_SHARED_RESULTS", None)
    query = {"seed": "917", "epochs": "5"}  # not the default view
    a = _replica(env, {**query, "run": "1"}, hold=True)
    try:
        first = _report(a)
        assert first["exception"] == []
        assert "init_training" in first["trained"]  # server A trained it
        # server B, up at the same time, opens the same link without run=1: shown at once, no training
        b = _replica(env, {**query, "run": None})
        second = _report(b)
        assert b.wait(120) == 0
    finally:
        a.stdin.close()
        a.wait(60)
    assert second["exception"] == [] and second["trained"] == []
    assert not any("Press **▶ Train**" in i for i in second["info"])
    assert (second["charts"], second["data"]) == (first["charts"], first["data"])  # the same curves
    # a restart: both gone, a new process on the same database
    c = _replica(env, {**query, "run": "1"})
    third = _report(c)
    assert c.wait(120) == 0
    assert third["trained"] == [] and third["data"] == first["data"]


def test_a_comparison_with_a_run_diverged_at_once_survives_the_store():
    """A run that diverges in its first epoch records no epoch: the comparison's tables keep
    their numeric dtypes, so the result can be shared (encode refuses what would not come back)."""
    from engine.experiments import run

    result = run("init_training", inits=("he", "large"), depth=8, width=16, epochs=2, n_train=100, seeds=2)
    runs = result.tables["runs"]
    assert (runs.loc[runs["init"] == "large", "epochs_run"] == 0).all()  # the case under test
    meta, data = encode(result)
    back = decode(meta, data)
    for name, df in result.tables.items():
        pd.testing.assert_frame_equal(back.tables[name], df, check_exact=True)


#: Every experiment at small settings (a new experiment must be added here).
CHEAP = {
    "derivative_product": {},
    "gradients": {},
    "init_forward": {},
    "init_rules": {},
    "init_training": {"epochs": 2},
    "batchnorm_article": {},
    "batchnorm_lr": {"epochs": 1, "seeds": 2},
    "batchnorm_shift": {"epochs": 1},
    "batchnorm_noise": {},
    "batchnorm_modes": {"epochs": 1},
    "dropout_article": {},
    "dropout": {"epochs": 2},
    "schedule_curves": {},
    "schedules": {"epochs": 4, "warmup_epochs": 1},
    "early_stopping_article": {},
    "early_stopping": {"epochs": 3},
    "recipe": {"epochs": 1},
    "recipe_compare": {"epochs": 1},
    "ablation": {"epochs": 1, "depth": 3},
    "deep50": {"epochs": 1, "depth": 4},
    "recipe_article": {},
    "depth_ladder": {"epochs": 1, "depths": (2, 3)},
    "add_one_in": {"epochs": 1, "depth": 3},
}


def test_every_experiment_is_listed_here():
    from engine.experiments import REGISTRY

    assert set(CHEAP) == set(REGISTRY)


@pytest.mark.parametrize("name", list(CHEAP))
def test_every_experiments_result_survives_the_store_and_names_its_summary_keys(name):
    """What a page shows can be shared between servers only if ``encode`` takes it (no numpy
    scalar, tuple or non-str key in the summary, tables that come back from Arrow exactly); and
    summary keys are identifiers, never prose a page has to rebuild."""
    from engine.experiments import run

    result = run(name, **CHEAP[name])
    encode(result)
    assert [k for k in result.summary if not re.fullmatch(r"[a-z][a-z0-9_]*", k)] == []
