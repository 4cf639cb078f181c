"""Run engine experiments from a page: cached, bounded, with progress and friendly errors."""

from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import threading
import time

import pandas as pd
import pyarrow as pa
import streamlit as st
from streamlit.elements.vega_charts import _convert_altair_to_vega_lite_spec as _altair_to_vega_lite

from classroom.results import ResultStore
from engine.budget import max_seconds
from engine.experiments import REGISTRY
from engine.experiments.common import Result, level_of, params_of
from serve import compute
from ui import charts
from ui.controls import RUN_PARAM

CACHE_ENTRIES = 64
CACHE_TTL = 6 * 3600
#: ``0`` turns the shared result store off (results then live only in this process's cache).
SHARED_ENV = "TRAINING_EXPLORER_SHARED_RESULTS"
#: Seconds to leave the shared store alone after it failed (so an outage costs one timeout a minute).
SHARED_RETRY_S = 60.0

log = logging.getLogger(__name__)


class _Progress:
    """Progress callback for experiments: draws a bar (the time cap is ``serve.compute``'s).

    The bar is drawn in the context captured outside the cached function, so Streamlit's cache
    does not record it for replay (a replayed progress bar would point at a stale placeholder).
    """

    def __init__(self, label: str, seconds: float):
        self.bar, self.label, self.seconds = st.empty(), label, seconds
        self._context = contextvars.copy_context()

    def __call__(self, fraction, message=""):
        value = min(max(float(fraction), 0.0), 1.0)
        self._context.run(self.bar.progress, value, text=f"{self.label} {message}")

    def waiting(self) -> None:
        """Say that the run queues behind others for a free worker."""
        self(0.0, "(queued behind other runs on this server)")


# Results are cached as objects (st.cache_resource), not as pickles (st.cache_data): every
# session showing a result gets the same object, so a rerun skips unpickling its tables, and
# ui.charts.memo keys them by identity instead of hashing their content (together a sixth of a
# cached rerun's CPU). Results are small (5-65 kB pickled) and never modified in place: pages
# derive new frames from them (tests/app/test_shared_results.py checks this on every page).


# Behind the per-process cache, training results go to the shared store (classroom.results, in
# the class store's database), so the other replicas and this one after a restart find them:
# look-up order memory -> shared store -> compute (then written to the store). Light runs stay
# per process: computing one costs less than storing it.


class _Shared:
    """The process's ResultStore, or None while it is off or failing (retried after a pause)."""

    def __init__(self):
        self._lock, self._store, self._down_until = threading.Lock(), None, 0.0

    def get(self) -> ResultStore | None:
        if os.environ.get(SHARED_ENV, "").strip() == "0" or time.monotonic() < self._down_until:
            return None
        with self._lock:
            if self._store is None and time.monotonic() >= self._down_until:
                try:
                    self._store = ResultStore()
                except Exception as e:  # noqa: BLE001 - any failure: compute as without the store
                    self.failed(e)
            return self._store

    def failed(self, e: Exception) -> None:
        log.warning("shared result store unavailable, computing here (retry in %.0f s): %s", SHARED_RETRY_S, e)
        self._down_until = time.monotonic() + SHARED_RETRY_S


_shared = _Shared()


def _shared_call(method: str, *args):
    """``ResultStore.method(*args)``, or None when the store is off or fails (logged)."""
    store = _shared.get()
    if store is None:
        return None
    try:
        return getattr(store, method)(*args)
    except Exception as e:  # noqa: BLE001 - the store never breaks a page
        _shared.failed(e)
        return None


@st.cache_resource(max_entries=CACHE_ENTRIES, ttl=CACHE_TTL, show_spinner=False)
def _cached(name: str, params_json: str, _progress: _Progress) -> Result:
    """Run experiment ``name`` in a compute worker; keyed by name and the JSON of its parameters
    (seed included). A result another process stored is read instead of training again; a new
    one is stored. A run cut by the time cap raises ``compute.Capped`` out of the cache, so it is
    never cached nor stored."""
    params = json.loads(params_json)
    stored = _shared_call("get", name, params)
    if stored is not None:
        return stored
    result = compute.experiment(name, params, _progress.seconds, _progress, _progress.waiting)
    _shared_call("put", name, params, result)
    return result


@st.cache_resource(max_entries=4 * CACHE_ENTRIES, ttl=CACHE_TTL, show_spinner=False)
def _cached_light(name: str, params_json: str, _progress: _Progress) -> Result:
    """As :func:`_cached`, for light runs (well under a second): computed here rather than queued
    behind other students' training, and cached apart so that they never push training results
    out of the cache."""
    return compute.experiment(name, json.loads(params_json), _progress.seconds, _progress, here=True)


#: (kind, params JSON) -> when a run finished, uncut, in this process: its result is cached
#: (as many and for as long as the cache keeps results).
_done = charts.LRU(2 * CACHE_ENTRIES)  # the two training caches: experiments and live runs


def _params_key(kind: str, params: dict) -> tuple[str, str]:
    return kind, json.dumps(params, sort_keys=True)


def remember(kind: str, params: dict) -> None:
    """Note that the run ``kind`` with ``params`` finished and is cached."""
    _done[_params_key(kind, params)] = time.monotonic()


def known(kind: str, params: dict) -> bool:
    """True when ``kind`` with ``params`` ran here before, or its result is in the shared store:
    showing it costs a look-up, no training."""
    at = _done.get(_params_key(kind, params))
    if at is not None and time.monotonic() - at < CACHE_TTL:
        return True
    return bool(_shared_call("contains", kind, params))


def on_demand(key: str, kind: str, params: dict, what: str = "these networks", button: str = "Train") -> dict | None:
    """The settings an expensive section should show now, or None to show nothing yet.

    Real training takes seconds of a shared server's CPU, so it starts only when asked: by the
    section's button, or by ``?run=1`` in the URL. Settings that already ran on this server
    (the default view after the warm-up, a link someone else opened) show at once. After a
    control changes, the section keeps showing the last run it showed, with a note, until the
    button is pressed. ``session_state`` keeps only the parameters of that last run.
    """
    pressed = st.button(
        f"▶ {button}",
        key=f"go_{key}",
        type="primary",
        help="Train for real with the settings above (a few seconds on a shared server). "
        f"A link with &{RUN_PARAM}=1 added trains as soon as it opens.",
    )
    shown_key = f"shown_{key}"
    # ?run=1 trains the settings the page opened with; later changes in the same tab wait for
    # the button (the URL keeps run=1 while the tab stays open).
    autorun = st.query_params.get(RUN_PARAM) == "1" and shown_key not in st.session_state
    if pressed or autorun or known(kind, params):
        st.session_state[shown_key] = params
        return params
    last = st.session_state.get(shown_key)
    if isinstance(last, dict) and known(kind, last):
        st.info(f"The settings changed: press **▶ {button}** to run them. Below: the last run.")
        return last
    st.info(f"Press **▶ {button}** to train {what} for real with these settings.")
    return None


def run_on_demand(
    name: str,
    label: str,
    key: str | None = None,
    what: str = "these networks",
    button: str = "Train",
    gate: bool = True,
    **params,
) -> tuple[Result | None, dict]:
    """:func:`on_demand` then :func:`run`: the result to show (or None) and its parameters.

    ``gate=False`` runs at once, for settings that compute in a blink (e.g. no training steps).
    """
    shown = on_demand(key or name, name, params, what=what, button=button) if gate else params
    if shown is None:
        return None, params
    return run(name, label, heavy=gate, **shown), shown


def worker_lost(e: compute.WorkerLost) -> None:
    """Say that the process computing a run died (it has been replaced)."""
    st.error(f"This run failed: {e} (out of memory?). Try again, or with smaller settings.")


def run(name: str, label: str = "Computing…", *, heavy: bool = False, notes: bool = True, **params) -> Result | None:
    """Run (or fetch from the cache) experiment ``name`` with ``params``.

    Shows a progress bar while it computes, stops any run at :func:`engine.budget.max_seconds`
    with a note, and turns a ``ValueError`` (bad input, over budget) into ``st.error``.
    ``heavy`` runs (training) compute in a worker process (``serve.compute``), the others here.
    Returns None when the experiment could not run.
    """
    cap = max_seconds()
    progress = _Progress(label, cap)
    try:
        if heavy:
            result = _cached(name, json.dumps(params, sort_keys=True), _progress=progress)
            remember(name, params)
        else:
            result = _cached_light(name, json.dumps(params, sort_keys=True), _progress=progress)
        charts.share(result.tables.values())  # the cache's own objects, shared by every session
    except compute.Capped as capped:
        result = capped.result
        st.warning(
            f"This run hit the {cap:.0f} s time cap of the shared demo and was stopped early; "
            "the curves show what it finished. Reduce depth, width or epochs for a complete run."
        )
    except ValueError as e:
        st.error(f"Can't run this: {e}")
        return None
    except compute.WorkerLost as e:
        worker_lost(e)
        return None
    finally:
        progress.bar.empty()
    if notes:  # notes=False: the caller words the result itself
        show_notes(result.notes)
    return result


def show_notes(notes) -> None:
    """Each note in the box its level names: a warning box, or an info box."""
    for note in notes:
        (st.warning if level_of(note) == "warning" else st.info)(note)


def snippet(name: str, **params) -> str:
    """Python that reproduces this experiment outside the app."""
    defaults = params_of(REGISTRY[name])
    args = ", ".join(f"{k}={v!r}" for k, v in params.items() if k in defaults)
    return (
        "from engine.experiments import run\n\n"
        f"result = run({name!r}, {args})\n"
        "for name, table in result.tables.items():\n"
        "    print(name)\n"
        "    print(table)\n"
        "print(result.summary)\n"
        f"# or: python -m engine run {name} "
        + " ".join(
            f"--{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
            for k, v in params.items()
            if k in defaults
        )
    )


def _csv(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def downloads(name: str, result: Result, params: dict, key: str | None = None) -> None:
    """CSV download of every table and the reproduce-in-Python snippet, in one expander."""
    with st.expander("Data and code: download CSV, reproduce in Python"):
        row = st.container(horizontal=True)  # one block for the row (columns would be one per button)
        for tname, df in result.tables.items():
            row.download_button(
                f"⬇ {tname}.csv",
                functools.partial(_csv, df),  # written when clicked, not on every rerun
                file_name=f"{name}_{tname}.csv",
                mime="text/csv",
                key=f"dl_{key or name}_{tname}",
                on_click="ignore",
            )
        st.code(snippet(name, **params), language="python")


@charts.memo
def _arrow_table(df: pd.DataFrame) -> pa.Table:
    """``df`` as the Arrow table ``st.dataframe`` sends, inf shown as empty; built once per content."""
    return pa.Table.from_pandas(df.replace([float("inf"), float("-inf")], None), preserve_index=False)


def show_table(df: pd.DataFrame, **kw) -> None:
    """A dataframe with inf shown as empty (never NaN text in a chart)."""
    st.dataframe(_arrow_table(df), hide_index=True, **kw)


#: Vega-Lite specs of the charts shown lately, by chart object (charts come from ui.charts.memo,
#: so an unchanged chart on a rerun is the same object): id -> (chart, spec).
_specs = charts.LRU(charts.MEMO_ENTRIES)


def _spec(chart) -> dict:
    """The spec ``st.altair_chart`` would send for ``chart`` (data as Arrow datasets), converted once."""
    hit = _specs.get(id(chart))
    if hit is not None and hit[0] is chart:
        return hit[1]
    spec = _altair_to_vega_lite(chart)
    spec.setdefault("description", charts.describe(spec))  # the chart's accessible label
    _specs[id(chart)] = (chart, spec)  # holding the chart keeps its id from being reused
    return spec


def show_chart(chart, where=None, **kw) -> None:
    """Render an Altair chart at full container width in ``where`` (default: the page).

    The Vega-Lite conversion (Altair's ``to_dict`` with schema validation, the costly part of a
    rerun) runs once per chart object; reruns send the kept spec.
    """
    where = where if where is not None else st
    spec = _spec(chart)
    where.vega_lite_chart(spec=dict(spec, datasets=dict(spec.get("datasets", {}))), width="stretch", **kw)


def show_layer_chart(chart, where=None, **kw) -> None:
    """:func:`show_chart` for a layer- or epoch-indexed chart: integer x ticks, compact log labels."""
    show_chart(charts.gradients_axes(chart), where=where, **kw)
