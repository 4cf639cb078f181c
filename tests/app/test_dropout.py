"""AppTest of the dropout page: defaults, bad URL values, deep links."""

from __future__ import annotations

import pytest

from engine.experiments import dropout as exp
from engine.experiments.common import noise_words
from tests.apptest_helpers import BAD_VALUES, ROOT, chart_frames, charts, errors_text, non_finite_values, run_page

PAGE = "pages/4_Dropout.py"
KEYS = ("rate", "masks", "rates", "ntrain", "width", "depth", "epochs", "label_noise", "seeds", "seed")


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
        "label_noise": "0.1",
        "seeds": "2",
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
    assert at.slider(key="label_noise").value == pytest.approx(0.1)
    assert at.slider(key="seeds").value == 2
    metrics = {m.label: m.value for m in at.metric}
    assert "p=0.8: test accuracy" in metrics
    assert "2 seeds (0, 1)" in _text(at)
    assert non_finite_values(at) == []


def _text(at) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


def test_text_agrees_with_where_the_engine_drops(default_page):
    # The engine drops the last hidden activation (the output layer's inputs); the page must not say
    # "output layer: never", and it says where dropout really sits.
    text = _text(default_page)
    assert "**The output layer**: never" not in text
    assert "the output layer's inputs are dropped" in text


def test_mean_kept_variance_not_and_the_ensemble_view(default_page):
    metrics = {m.label: m.value for m in default_page.metric}
    # p = 0.5: Var(a) = 5.25, formula 25.5 / 0.5 - 4.5^2 = 30.75, measured over 10,000 masks close to it
    assert metrics["Variance of the 8 inputs"] == "5.25"
    assert metrics["Formula mean(a²)/(1−p) − mean(a)²"] == "30.75"
    assert abs(float(metrics["Variance after dropout (measured)"]) - 30.75) < 1.5
    text = _text(default_page)
    assert "The mean is kept, the variance is not." in text
    assert "Dropout as an ensemble" in [h.value for h in default_page.subheader]
    assert "one masked pass" in text and "the eval pass" in text
    assert "stands in for the average of many sub-networks" in text  # computed: agreement grows with K
    assert "in every seed" in text


def test_defaults_show_test_accuracy_and_the_computed_verdict(default_page):
    # The lesson at the defaults, against an independent call of the experiment: dropout beats p = 0
    # on test, by more than the seed spread, and the page says so from the flags.
    at = default_page
    res = exp.dropout()
    cmp = res.summary["comparison"]
    metrics = {m.label: m.value for m in at.metric}
    for run, mean in cmp["mean"].items():
        assert metrics[f"{run}: test accuracy"] == f"{mean:.1%}"
    text = _text(at)
    for v in ("p=0.3", "p=0.5"):
        assert cmp["beyond_noise"][v] is True
        assert (
            f"**{v}** {cmp['mean'][v]:.1%}" in text
            and f"{cmp['diff'][v] * 100:+.1f} pts: **bigger than seed noise**" in text
        )
    assert "scores better on new images" in text
    assert "3 seeds (0, 1, 2)" in text
    assert "With 30% of the training labels flipped" in text
    # the accuracy chart labels the running training-mode series as such
    splits = {r.get("split") for el in charts(at) for frame in chart_frames(el) for r in frame}
    assert exp.RUNNING in splits and "train" in splits
    source = (ROOT / PAGE).read_text()
    assert not any(n in source for n in ("1437", "1438", "359", "1079"))  # split sizes are computed


def test_one_seed_and_clean_labels_say_there_is_no_noise_estimate():
    q = {"rates": ["0", "0.5"], "ntrain": "100", "width": "64", "epochs": "10", "label_noise": "0", "seeds": "1"}
    at = run_page(PAGE, q)
    assert not at.exception, errors_text(at)
    text = _text(at)
    assert f"**{noise_words(None)}**" in text
    assert "bigger than seed noise" not in text and "within seed noise" not in text
    assert "Add seeds to tell a difference" in text
    assert "memorised noise" not in text  # no flipped labels: no sentence about them
    assert "in this seed" in text


def test_clean_labels_three_seeds_words_follow_the_flag():
    q = {"rates": ["0", "0.5"], "ntrain": "200", "width": "128", "depth": "2", "epochs": "20", "label_noise": "0"}
    at = run_page(PAGE, q)
    assert not at.exception, errors_text(at)
    res = exp.dropout(rates=(0.0, 0.5), n_train=200, width=128, depth=2, epochs=20, label_noise=0.0)
    flag = res.summary["comparison"]["beyond_noise"]["p=0.5"]
    text = _text(at)
    assert f"**{noise_words(flag)}**" in text
    for other in {True, False} - {flag}:
        assert noise_words(other) not in text


def test_non_default_settings_show_computed_verdicts_only():
    # Without rate 0 there is nothing to compare the gap with; no defaults-only sentence may appear.
    at = run_page(PAGE, {"rates": ["0.2", "0.6"], "ntrain": "100", "width": "64", "depth": "1", "epochs": "10"})
    assert not at.exception, errors_text(at)
    text = _text(at)
    assert "here by a few points at most" not in text
    assert "Add the rate 0" in text
    assert "**p=0.2**: one masked pass" in text and "**p=0.6**: one masked pass" in text
    for chart in charts(at):
        for frame in chart_frames(chart):
            epochs = [r["epoch"] for r in frame if "epoch" in r]
            if epochs:
                assert min(epochs) == 0  # 0-based, like History.epoch
