"""Helpers for AppTest page tests: run a page, pull out every chart's data."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pyarrow as pa
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TRAINING_EXPLORER_WARM", "0")  # no background warm-up client under AppTest
TIMEOUT = 120

#: Hand-edited URL values every bound control must survive.
BAD_VALUES = ["-5", "1e12", "nan", "inf", "-inf", "evil", "", "<script>alert(1)</script>", "0", "999999"]


def run_page(page: str, query: dict | None = None, timeout: float = TIMEOUT) -> AppTest:
    """Run ``page`` (path relative to the repo root) with optional query parameters.

    ``?run=1`` is added unless ``query`` has a ``run`` key, so training sections run as on a
    shared link (``{"run": None}`` leaves it out: the page then waits for its Train buttons).

    Goes through the entrypoint and ``switch_page``, as the server does, so the pages/ folder is
    registered and the shared sidebar's page links resolve.
    """
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=timeout)
    if page != "streamlit_app.py":
        at.switch_page(page)
    for k, v in {"run": "1", **(query or {})}.items():  # train every section, unless the test says otherwise
        if v is not None:
            at.query_params[k] = v
    return at.run()


def charts(at: AppTest) -> list:
    """Every vega-lite chart element on the page."""
    return [el for el in at.get("arrow_vega_lite_chart") + at.get("vega_lite_chart")]


def chart_frames(el) -> list:
    """The datasets of a vega-lite chart element as lists of row dicts (data in proto.datasets)."""
    out = []
    for ds in el.proto.datasets:
        table = pa.ipc.open_stream(ds.data.data).read_all()
        out.append(table.to_pylist())
    spec = json.loads(el.proto.spec)
    for v in spec.get("datasets", {}).values():  # inline datasets, if any
        out.append(v)
    return out


def non_finite_values(at: AppTest) -> list:
    """(chart index, column, value) of every NaN/inf number in any chart's data."""
    bad = []
    for i, el in enumerate(charts(at)):
        for rows in chart_frames(el):
            for row in rows:
                for k, v in row.items():
                    if isinstance(v, float) and not math.isfinite(v):
                        bad.append((i, k, v))
    return bad


def errors_text(at: AppTest) -> str:
    """Concatenated st.error / st.exception texts, for assertion messages."""
    return " | ".join([e.value for e in at.error] + [str(e.value) for e in at.exception])
