"""AppTest: the vanishing & exploding gradients page."""

import pytest

from engine.experiments import run
from tests.apptest_helpers import BAD_VALUES, chart_frames, charts, errors_text, non_finite_values, run_page

PAGE = "pages/1_Vanishing_gradients.py"
KEYS = ["n", "depth", "width", "steps", "act", "init", "bn"]
#: Sentences the page once showed whatever the settings; each is false at some of them.
STALE = (
    "About 1: healthy",
    "so the weight gradients **grow towards the input**",
    "Push the depth past about 50",
    "more than a hundredfold",
)


def _page_text(at) -> str:
    parts = [m.value for m in at.markdown] + [m.label + " " + m.value + " " + m.proto.help for m in at.metric]
    return " ".join(parts)


def _verdict_metrics(at) -> dict:
    """Run label -> verdict shown in its "backward signal" metric (main section only)."""
    return {
        m.label.removesuffix(": backward signal"): m.value
        for m in at.metric
        if m.label.endswith(": backward signal") and "(large init)" not in m.label
    }


def test_default_view_runs_with_finite_charts():
    at = run_page(PAGE)
    assert not at.exception, errors_text(at)
    assert not at.error, errors_text(at)
    assert len(charts(at)) >= 4
    assert non_finite_values(at) == []
    values = {m.label: m.value for m in at.metric}
    assert values["Article's example: 0.9^50"] == "0.0052"
    assert values["Article's example: 1.1^50"] == "117.4"


def test_default_verdicts_are_the_engines_and_backward_signal_comes_first():
    at = run_page(PAGE)
    want = run("gradients").summary["verdict"]
    assert _verdict_metrics(at) == want == {"sigmoid": "vanishing", "relu": "vanishing"}
    assert [t.label for t in at.tabs][0] == "Backward signal"
    text = _page_text(at)
    for stale in STALE:
        assert stale not in text
    # relu + xavier: the weight-gradient ratio looks flat, the page says why it is not healthy
    assert "**relu** has weight gradients of similar size at both ends" in text
    badges = " ".join(m.value for m in at.markdown if "badge[" in m.value)
    assert "relu: loss at init 2.3026 = ln 10: outputs collapsed" in badges
    assert "(weights ignored)" in " ".join(e.value for e in at.latex)
    assert "plain SGD" in text


def test_non_default_settings_show_computed_verdicts_only():
    q = {"n": "30", "depth": "6", "width": "32", "act": ["tanh", "relu"], "init": "he", "seed": "3"}
    at = run_page(PAGE, q)
    assert not at.exception, errors_text(at)
    want = run("gradients", depth=6, width=32, activations=("tanh", "relu"), inits=("he",), seed=3).summary
    assert _verdict_metrics(at) == want["verdict"]
    text = _page_text(at)
    for stale in STALE:
        assert stale not in text
    # the article's fixed 50-layer examples do not follow N, and say so
    values = {m.label: m.value for m in at.metric}
    assert values["Article's example: 0.9^50"] == "0.0052" and "Product after 30 layers" in values


def test_batch_norm_section_is_measured_and_links_the_50_layer_test():
    at = run_page(PAGE, {"bn": "true"})
    assert not at.exception, errors_text(at)
    text = _page_text(at)
    d20 = run("gradients", depth=20, activations=("sigmoid", "relu"), inits=("he",), batch_norm=True).summary
    d50 = run("gradients", depth=50, activations=("sigmoid", "relu"), inits=("he",), batch_norm=True).summary
    ratio20, ratio50 = d20["signal_ratio"]["relu"], d50["signal_ratio"]["relu"]
    assert f"**{d20['verdict']['relu']}** at depth 20 (ratio {ratio20:.2g})" in text
    assert f"at depth 50 ({ratio50:.2g})" in text
    assert "Yang et al. 2019" in text  # shown because the measured ratio grows with depth
    links = {(p.proto.page, p.proto.label) for p in at.get("page_link")}
    assert ("Full_recipe", "Full recipe: the 50-layer test, trained for real") in links


def test_dead_and_saturated_units_are_labelled_by_activation():
    at = run_page(PAGE, {"act": ["relu", "tanh"], "init": "he", "depth": "4"})
    assert not at.exception, errors_text(at)
    series = set()
    for el in charts(at):
        if "dead (ReLU) or saturated" in el.proto.spec:
            series |= {row.get("run") for rows in chart_frames(el) for row in rows}
    assert {"relu: dead units", "tanh: saturated outputs"} <= series


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
    assert _verdict_metrics(at) == {"relu": "exploding"}
