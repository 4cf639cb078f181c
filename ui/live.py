"""Live training on a page: a progress bar and loss/accuracy curves redrawn while the engine
trains, with the time cap, the compute budget and a cache so a shared link does not retrain.

Streamlit 1.67 has no ``add_rows``: the curves are redrawn into an ``st.empty()`` slot from the
``on_epoch`` callback. The drawing goes through the script context captured outside the cached
function (``ui.runner._Progress``), so ``st.cache_data`` does not record it for replay.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pandas as pd
import streamlit as st

from engine import budget
from engine.experiments.common import curves, long_curves
from engine.experiments.recipe import markers as run_markers
from engine.train import History, TrainConfig
from serve import compute
from ui import charts
from ui.runner import CACHE_ENTRIES, CACHE_TTL, _Progress, remember, show_chart, worker_lost

#: The kind under which finished live runs are remembered (``ui.runner.known(LIVE, config.to_dict())``).
LIVE = "live"
#: Minimum seconds between two redraws of the live curves (each redraw builds and ships charts).
REDRAW_SECONDS = 1.0
#: Redraw at most this often relative to the cost of one redraw (keeps the overhead under ~20%).
REDRAW_COST_FACTOR = 4.0


def curve_frame(h: History) -> pd.DataFrame:
    """Long per-epoch frame of a (possibly partial) run: split (train, measured in eval mode, and
    validation), epoch, loss, accuracy."""
    return long_curves(curves({"run": h}))[["split", "epoch", "loss", "accuracy"]]


def draw_curves(h: History) -> None:
    """Loss (log) and accuracy curves of ``h`` side by side, with best-epoch / stop / divergence
    markers, in the current container."""
    df, markers = curve_frame(h), run_markers(h)
    left, right = st.columns(2)
    show_chart(
        where=left,
        chart=charts.line_chart(df, "epoch", "loss", "split", log_y=True, title="Loss (log scale)", rules=markers),
    )
    show_chart(where=right, chart=charts.line_chart(df, "epoch", "accuracy", "split", title="Accuracy", rules=markers))


class _Live(_Progress):
    """``on_epoch`` callback: progress bar and redrawn curves (the time cap is ``serve.compute``'s)."""

    def __init__(self, label: str, seconds: float, draw: Callable[[History], None]):
        super().__init__(label, seconds)
        self.slot, self.draw = st.empty(), draw
        self.last, self.cost = time.monotonic(), 0.0

    def _redraw(self, h: History) -> None:
        with self.slot.container():
            self.draw(h)

    def on_epoch(self, epoch: int, h: History) -> None:
        total = h.config.epochs
        self((epoch + 1) / total, f"epoch {epoch + 1}/{total}, val accuracy {h.val_acc[-1]:.3f}")
        now = time.monotonic()
        if now - self.last >= max(REDRAW_SECONDS, REDRAW_COST_FACTOR * self.cost) and epoch + 1 < total:
            self._context.run(self._redraw, h)
            self.last = time.monotonic()
            self.cost = self.last - now


@st.cache_data(max_entries=CACHE_ENTRIES, ttl=CACHE_TTL, show_spinner=False)
def _train_cached(config_json: str, _live: _Live) -> History:
    """Train the config in ``config_json``; keyed by that JSON (seed included).

    Curves and diagnostics come back, not the weights. A run cut by the time cap raises
    ``compute.Capped`` out of the cache, so it is never cached.
    """
    return compute.train(json.loads(config_json), _live.seconds, _live, _live.on_epoch, _live.waiting)


def train_live(
    config: TrainConfig,
    label: str = "Training…",
    draw: Callable[[History], None] = draw_curves,
) -> History | None:
    """Train ``config`` with a progress bar and live curves; return its :class:`History`.

    A finished run is cached by its config, so reopening the same link shows it at once.
    Checks :func:`engine.budget.check` first (over budget: ``st.error``, returns None) and stops
    at :func:`engine.budget.max_seconds` with a warning (such a partial run is not cached).
    ``draw(history)`` renders the curves; it is called during training and once at the end,
    always into the same slot.
    """
    try:
        budget.check(config)
    except ValueError as e:
        st.error(f"Can't train this: {e}")
        return None
    cap = budget.max_seconds()
    live = _Live(label, cap, draw)
    try:
        h = _train_cached(json.dumps(config.to_dict(), sort_keys=True), _live=live)
        remember(LIVE, config.to_dict())
    except compute.WorkerLost as e:
        worker_lost(e)
        return None
    except compute.Capped as capped:
        h = capped.result
        st.warning(
            f"Training hit the {cap:.0f} s time cap of the shared demo and stopped at epoch "
            f"{h.stopped_epoch}; the curves show what it finished. Reduce depth, width or epochs for a full run."
        )
    finally:
        live.bar.empty()
    live._redraw(h)
    return h
