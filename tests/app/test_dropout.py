"""AppTest of the dropout page: defaults, bad URL values, deep links."""

from __future__ import annotations

import pytest

from tests.apptest_helpers import BAD_VALUES, chart_frames, charts, errors_text, non_finite_values, run_page

PAGE = "pages/4_Dropout.py"
KEYS = ("rate", "masks", "rates", "ntrain", "width", "depth", "epochs", "seed")


@pytest.fixture(scope="module")
def default_page():
    return run_page(PAGE)


def test_defaults_run_and_show_finite_charts(default_page):
    at = default_page
    assert not at.exception, errors_text(at)
    assert len(charts(at)) >= 5
    assert non_finite_values(at) == []


def test_defaults_show_the_article_samples(default_page):
    # the article prints sample means 4.25, 3.00, 1.75, 4.50 at rate 0.5 with seed 42
    metrics = {m.label: m.value for m in default_page.metric}
    assert [metrics[f"Sample {i} mean"] for i in range(1, 5)] == ["4.25", "3.00", "1.75", "4.50"]
    mask = next(el for el in charts(default_page) if any("kept" in (r[0] if r else {}) for r in chart_frames(el)))
    rows = [r for frame in chart_frames(mask) for r in frame if "kept" in r]
    sample1 = [r["output"] for r in sorted((r for r in rows if r["sample"] == 1), key=lambda r: r["unit"])]
    assert sample1 == [0, 4, 6, 8, 0, 0, 0, 16]


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_url_values_for_every_key_are_survived(bad):
    at = run_page(PAGE, {k: bad for k in KEYS})
    assert not at.exception, errors_text(at)
    assert len(charts(at)) >= 5
    assert non_finite_values(at) == []


def test_deep_link_sets_the_widgets():
    query = {
        "rate": "0.3",
        "masks": "1000",
        "rates": ["0", "0.8"],
        "ntrain": "100",
        "width": "128",
        "depth": "1",
        "epochs": "20",
    }
    at = run_page(PAGE, query)
    assert not at.exception, errors_text(at)
    assert at.slider(key="rate").value == pytest.approx(0.3)
    assert at.select_slider(key="masks").value == 1000
    assert at.multiselect(key="rates").value == [0.0, 0.8]
    assert at.slider(key="ntrain").value == 100
    assert at.select_slider(key="width").value == 128
    assert at.slider(key="depth").value == 1
    assert at.slider(key="epochs").value == 20
    metrics = {m.label: m.value for m in at.metric}
    assert "p=0.8: validation accuracy" in metrics
    assert non_finite_values(at) == []
