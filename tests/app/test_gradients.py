"""AppTest: the vanishing & exploding gradients page."""

import pytest

from tests.apptest_helpers import BAD_VALUES, charts, errors_text, non_finite_values, run_page

PAGE = "pages/1_Vanishing_gradients.py"
KEYS = ["n", "depth", "width", "steps", "act", "init", "bn"]


def test_default_view_runs_with_finite_charts():
    at = run_page(PAGE)
    assert not at.exception, errors_text(at)
    assert not at.error, errors_text(at)
    assert len(charts(at)) >= 4
    assert non_finite_values(at) == []
    labels = [m.label for m in at.metric]
    assert "0.9^50" in labels and "1.1^50" in labels
    assert {m.label: m.value for m in at.metric}["0.9^50"] == "0.0052"


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_url_values_for_every_key_are_survived(bad):
    at = run_page(PAGE, {k: bad for k in KEYS})
    assert not at.exception, errors_text(at)
    assert len(charts(at)) >= 1
    assert non_finite_values(at) == []


def test_overflow_is_a_warning_and_a_marker_never_inf():
    at = run_page(PAGE, {"depth": "60", "act": "relu", "init": "large"})
    assert not at.exception, errors_text(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "overflowed to inf at layer" in warnings
    assert non_finite_values(at) == []
    assert len(charts(at)) >= 4
