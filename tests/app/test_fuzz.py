"""Fuzzing every page: random and extreme values for every control, and garbage in every URL key.

No exception, no NaN/inf reaching a chart, and no run over the time cap. The cap is lowered here
(TRAINING_EXPLORER_MAX_SECONDS) so that extreme settings do hit it: a capped run must stop cleanly
with its note, and the whole page must finish within AppTest's timeout (FUZZ_TIMEOUT), which a run
that ignored the cap would overshoot.
"""

from __future__ import annotations

import os
import random

import pytest

from tests.apptest_helpers import BAD_VALUES, errors_text, non_finite_values, run_page
from ui.controls import PAGES

CAP_SECONDS = 4
FUZZ_TIMEOUT = 150  # seconds for one page run: a few capped experiments plus the fast ones
ROUNDS = int(os.environ.get("FUZZ_ROUNDS", "3"))
PAGE_FILES = [p for p, _ in PAGES]

WIDGET_KINDS = ("slider", "select_slider", "selectbox", "multiselect", "toggle", "checkbox", "number_input")


@pytest.fixture(autouse=True)
def low_time_cap(monkeypatch):
    monkeypatch.setenv("TRAINING_EXPLORER_MAX_SECONDS", str(CAP_SECONDS))


def widgets(at):
    """Every input widget on the page (main area and sidebar)."""
    out = []
    for kind in WIDGET_KINDS:
        out.extend(getattr(at, kind))
    return out


def extreme_value(w, rng: random.Random):
    """A random, minimal or maximal valid value for widget ``w``."""
    kind = type(w).__name__
    pick = rng.choice(["min", "max", "random"])
    if kind in ("Slider", "NumberInput"):
        lo, hi = w.min, w.max
        if lo is None or hi is None:
            return w.value
        if isinstance(w.value, tuple):  # range slider
            return (lo, hi)
        if pick == "min":
            return lo
        if pick == "max":
            return hi
        step = w.step or 1
        n = int(round((hi - lo) / step))
        v = lo + step * rng.randint(0, max(n, 0))
        return type(w.value)(v) if isinstance(w.value, int) else v
    if kind == "SelectSlider":
        opts = list(w.options)
        return opts[0] if pick == "min" else opts[-1] if pick == "max" else rng.choice(opts)
    if kind == "Selectbox":
        opts = list(w.options)
        return opts[0] if pick == "min" else opts[-1] if pick == "max" else rng.choice(opts)
    if kind == "Multiselect":
        opts = list(w.options)
        k = {"min": 0, "max": len(opts)}.get(pick, rng.randint(0, len(opts)))
        return rng.sample(opts, k)
    if kind in ("Toggle", "Checkbox"):
        return rng.random() < 0.5
    return w.value


def assert_healthy(at, context: str) -> None:
    assert not at.exception, f"{context}: {errors_text(at)}"
    assert non_finite_values(at) == [], f"{context}: NaN/inf reached a chart"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGE_FILES)
def test_random_and_extreme_controls(page):
    rng = random.Random(hash(page) % 1000)
    at = run_page(page, timeout=FUZZ_TIMEOUT)
    assert_healthy(at, f"{page} defaults")
    for r in range(ROUNDS):
        chosen = {}
        for w in widgets(at):
            if w.disabled:
                continue
            v = extreme_value(w, rng)
            chosen[w.key or w.label] = v
            w.set_value(v)
        at.run()
        assert_healthy(at, f"{page} round {r} with {chosen}")


def bound_keys(at) -> list[str]:
    """URL keys of every widget bound to the query string."""
    keys = []
    for w in widgets(at):
        qk = getattr(w.proto, "query_param_key", "")
        if qk:
            keys.append(qk)
    return keys


@pytest.mark.parametrize("page", PAGE_FILES)
def test_garbage_urls(page):
    keys = bound_keys(run_page(page))
    assert keys, f"{page} binds no control to the URL"
    for bad in BAD_VALUES:
        at = run_page(page, {k: bad for k in keys})
        assert_healthy(at, f"{page}?{'&'.join(f'{k}={bad}' for k in keys)}")
        assert not at.error, errors_text(at)  # garbage is dropped: the page shows its defaults
