"""AppTest of the batch-normalization page: defaults, bad URL values, deep links."""

from __future__ import annotations

import pytest

from engine.datasets import split_sizes
from engine.experiments import run
from engine.experiments.common import noise_words
from tests.apptest_helpers import BAD_VALUES, charts, errors_text, non_finite_values, run_page

PAGE = "pages/3_Batch_normalization.py"
KEYS = ("opt", "depth", "epochs", "layer", "bs", "mep", "seed", "seeds")
#: Sentences the page once showed whatever the settings (or with the direction wrong).
STALE = (
    "At tiny rates both networks learn too slowly",
    "snowballing through the layers below it",
    "Without BN the range of rates that work is **narrow**",
    "1437",
    "1438",
    "beyond the seed spread",
    "off by more than half a standard deviation",
    "the two modes agree within a few points",
    "so every layer has to adapt to a moving input",
)


def _text(at) -> str:
    return " ".join([m.value for m in at.markdown] + [w.value for w in at.warning])


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


def test_defaults_measure_covariate_shift_and_headline_the_usable_range(default_page):
    at = default_page
    assert [t.label for t in at.tabs][:2] == ["Covariate shift, measured", "Learning-rate sensitivity"]
    text = _text(at)
    shift = run("batchnorm_shift").summary
    assert shift["what_the_data_shows"] in text and "Santurkar et al. (2018" in text
    sweep = run("batchnorm_lr").summary
    assert sweep["headline"] in text
    assert "upwards" in sweep["headline"] or sweep["headline"].startswith("Only the network with batch norm")
    assert sweep["small_rates"] in text and sweep["converge"] in text
    assert sweep["best_lr_words"] in text and "bigger than seed noise" in sweep["best_lr_words"]
    n_train, n_val, n_test = split_sizes("digits")
    assert f"({n_train} training images, {n_val} validation images to choose with, {n_test} test images" in text
    for stale in STALE:
        assert stale not in text
    # "converges faster" is shown with the per-epoch curves
    assert any("Validation accuracy per epoch" in el.proto.spec for el in charts(at))


def test_non_default_settings_show_only_computed_verdicts():
    at = run_page(PAGE, {"opt": "adam", "depth": "4", "epochs": "3", "seed": "7", "bs": ["16", "128"], "mep": "2"})
    assert not at.exception, errors_text(at)
    text = _text(at)
    sweep = run("batchnorm_lr", optimizer="adam", depth=4, epochs=3, seed=7).summary
    for k in ("headline", "small_rates", "converge"):
        assert sweep[k] in text
    assert sweep["best_lr_words"] in text
    assert run("batchnorm_shift", seed=7).summary["what_the_data_shows"] in text
    assert f"for all {split_sizes('digits')[0]} training images" in text
    for stale in STALE:
        assert stale not in text
    assert non_finite_values(at) == []


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


def test_one_seed_says_no_noise_estimate_and_two_seeds_follow_the_flags():
    q = {"depth": "4", "epochs": "2", "seeds": "1", "seed": "3", "bs": ["32"], "mep": "1"}
    at = run_page(PAGE, q)
    assert not at.exception, errors_text(at)
    text = _text(at)
    assert at.slider(key="seeds").value == 1
    shift = run("batchnorm_shift", seed=3, seeds=1).summary
    sweep = run("batchnorm_lr", depth=4, epochs=2, seed=3, seeds=1).summary
    assert shift["what_the_data_shows"] in text and sweep["best_lr_words"] in text
    assert "one seed: no noise estimate" in text
    assert "bigger than seed noise" not in text and "within seed noise" not in text
    assert non_finite_values(at) == []
    at = run_page(PAGE, {**q, "seeds": "2"})
    assert not at.exception, errors_text(at)
    text = _text(at)
    sweep = run("batchnorm_lr", depth=4, epochs=2, seed=3, seeds=2).summary
    flag = sweep["comparison"]["beyond_noise"]["with BN"]
    assert sweep["best_lr_words"] in text and f"**{noise_words(flag)}**" in sweep["best_lr_words"]
    shift = run("batchnorm_shift", seed=3, seeds=2).summary
    assert shift["what_the_data_shows"] in text
    assert noise_words(shift["comparison"]["beyond_noise"]["with BN (after BN)"]) in shift["what_the_data_shows"]
