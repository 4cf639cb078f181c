"""Run engine experiments from a page: cached, bounded, with progress and friendly errors."""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import threading
import time

import pandas as pd
import streamlit as st

from engine.budget import max_seconds
from engine.experiments import REGISTRY
from engine.experiments.common import Result, params_of

CACHE_ENTRIES = 64
CACHE_TTL = 6 * 3600
#: Experiments computing at once in one server process; the others queue (cache hits never do).
#: Python holds the GIL through most of a small-matrix training step, so running more at once
#: does not finish them sooner: it only makes every page, cached ones included, wait on them all.
COMPUTE_SLOTS = threading.BoundedSemaphore(int(os.environ.get("TRAINING_EXPLORER_COMPUTE_SLOTS", "1") or 1))


class _Capped(Exception):
    """Raised out of the cache so that a run cut by the time cap is never cached."""

    def __init__(self, result):
        super().__init__("time cap")
        self.result = result


class _Progress:
    """Progress callback for experiments: draws a bar, enforces the time cap.

    The bar is drawn in the context captured outside the cached function, so ``st.cache_data``
    does not record it for replay (a replayed progress bar would point at a stale placeholder).
    """

    def __init__(self, label: str, seconds: float):
        self.bar, self.label, self.seconds = st.empty(), label, seconds
        self.deadline, self.capped = time.monotonic() + seconds, False
        self._context = contextvars.copy_context()

    def restart(self) -> None:
        """Start the time cap now (after waiting for a compute slot)."""
        self.deadline = time.monotonic() + self.seconds

    def __call__(self, fraction, message=""):
        value = min(max(float(fraction), 0.0), 1.0)
        self._context.run(self.bar.progress, value, text=f"{self.label} {message}")
        if time.monotonic() > self.deadline:
            self.capped = True
            return False
        return True


@contextlib.contextmanager
def compute_slot(progress: _Progress):
    """Hold one of :data:`COMPUTE_SLOTS` while computing; say so while waiting for one."""
    if not COMPUTE_SLOTS.acquire(blocking=False):
        progress(0.0, "(queued behind other runs on this server)")
        COMPUTE_SLOTS.acquire()
    progress.restart()
    try:
        yield
    finally:
        COMPUTE_SLOTS.release()


@st.cache_data(max_entries=CACHE_ENTRIES, ttl=CACHE_TTL, show_spinner=False)
def _cached(name: str, params_json: str, _progress: _Progress) -> Result:
    """Run experiment ``name``; keyed by name and the JSON of its parameters (seed included)."""
    with compute_slot(_progress):
        result = REGISTRY[name](**json.loads(params_json), progress=_progress)
    if _progress.capped:
        raise _Capped(result)
    return result


def run(name: str, label: str = "Computing…", **params) -> Result | None:
    """Run (or fetch from the cache) experiment ``name`` with ``params``.

    Shows a progress bar while it computes, stops any run at :func:`engine.budget.max_seconds`
    with a note, and turns a ``ValueError`` (bad input, over budget) into ``st.error``.
    Returns None when the experiment could not run.
    """
    cap = max_seconds()
    progress = _Progress(label, cap)
    try:
        result = _cached(name, json.dumps(params, sort_keys=True), _progress=progress)
    except _Capped as capped:
        result = capped.result
        st.warning(
            f"This run hit the {cap:.0f} s time cap of the shared demo and was stopped early; "
            "the curves show what it finished. Reduce depth, width or epochs for a complete run."
        )
    except ValueError as e:
        st.error(f"Can't run this: {e}")
        return None
    finally:
        progress.bar.empty()
    for note in result.notes:
        st.info(note)
    return result


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
        + " ".join(f"--{k.replace('_', '-')} {','.join(map(str, v)) if isinstance(v, (list, tuple)) else v}"
                   for k, v in params.items() if k in defaults)
    )


def downloads(name: str, result: Result, params: dict, key: str | None = None) -> None:
    """CSV download of every table and the reproduce-in-Python snippet, in one expander."""
    with st.expander("Data and code: download CSV, reproduce in Python"):
        cols = st.columns(max(1, len(result.tables)))
        for col, (tname, df) in zip(cols, result.tables.items()):
            col.download_button(
                f"⬇ {tname}.csv",
                df.to_csv(index=False).encode(),
                file_name=f"{name}_{tname}.csv",
                mime="text/csv",
                key=f"dl_{key or name}_{tname}",
                on_click="ignore",
            )
        st.code(snippet(name, **params), language="python")


def show_table(df: pd.DataFrame, **kw) -> None:
    """A dataframe with inf shown as empty (never NaN text in a chart)."""
    st.dataframe(df.replace([float("inf"), float("-inf")], None), hide_index=True, **kw)


def show_chart(chart, **kw) -> None:
    """Render an Altair chart at full container width."""
    st.altair_chart(chart, width="stretch", **kw)
