"""AppTest of the batch-normalization page: defaults, bad URL values, deep links."""

from __future__ import annotations

import pytest

from tests.apptest_helpers import BAD_VALUES, charts, errors_text, non_finite_values, run_page

PAGE = "pages/3_Batch_normalization.py"
KEYS = ("opt", "depth", "epochs", "layer", "bs", "mep", "seed")


@pytest.fixture(scope="module")
def default_page():
    return run_page(PAGE)


def test_defaults_run_and_show_finite_charts(default_page):
    at = default_page
    assert not at.exception, errors_text(at)
    assert len(charts(at)) >= 5
    assert non_finite_values(at) == []


def test_defaults_show_the_article_numbers(default_page):
    # the article prints: Before BN: mean=3.20, std=4.95 / After BN: mean=0.0000, std=1.0000
    metrics = {m.label: m.value for m in default_page.metric}
    assert metrics["Mean before"] == "3.20"
    assert metrics["Std before"] == "4.95"
    assert metrics["Mean after"] == "0.0000"
    assert metrics["Std after"] == "1.0000"


def test_divergence_is_a_warning_not_a_nan(default_page):
    # at the default settings the network without BN diverges at the largest learning rates
    assert any("diverged" in w.value for w in default_page.warning)


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_url_values_for_every_key_are_survived(bad):
    at = run_page(PAGE, {k: bad for k in KEYS})
    assert not at.exception, errors_text(at)
    assert len(charts(at)) >= 5
    assert non_finite_values(at) == []


def test_deep_link_sets_the_widgets():
    at = run_page(PAGE, {"opt": "adam", "depth": "4", "epochs": "2", "layer": "3", "bs": ["16", "64"], "mep": "2"})
    assert not at.exception, errors_text(at)
    assert at.selectbox(key="opt").value == "adam"
    assert at.slider(key="depth").value == 4
    assert at.slider(key="epochs").value == 2
    assert at.slider(key="layer").value == 3
    assert at.multiselect(key="bs").value == [16, 64]
    assert at.slider(key="mep").value == 2
    assert non_finite_values(at) == []
