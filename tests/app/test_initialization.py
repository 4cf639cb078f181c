"""AppTest: the initialization page."""

import pytest

from engine.experiments import run
from engine.experiments.common import noise_words
from tests.apptest_helpers import BAD_VALUES, charts, errors_text, non_finite_values, run_page

PAGE = "pages/2_Initialization.py"
KEYS = ["inits", "act", "depth", "width", "layers", "tdepth", "twidth", "opt", "lr", "epochs", "seeds"]


def test_default_view_runs_with_finite_charts():
    at = run_page(PAGE)
    assert not at.exception, errors_text(at)
    assert not at.error, errors_text(at)
    assert len(charts(at)) >= 2
    assert non_finite_values(at) == []
    metrics = {m.label: m.value for m in at.metric}
    # the article's table (seeded X): small collapses, large explodes, he stays of order one
    assert metrics["small: std after 20 layers"] == "3.76e-26"
    assert metrics["large: std after 20 layers"] == "3.76e+14"
    assert metrics["he: std after 20 layers"] == "3.34e-01"
    assert metrics["large: test accuracy"] == "diverged"
    assert any("diverged" in w.value or "inf/NaN" in w.value for w in at.warning)
    # the words against he are the computed ones (3 seeds at the defaults)
    res = run("init_training", seed=0)
    for w in res.summary["verdict_text"]:
        assert w in _text(at)
    assert "small** 10" in _text(at) and "bigger than seed noise" in _text(at)


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_url_values_for_every_key_are_survived(bad):
    at = run_page(PAGE, {k: bad for k in KEYS})
    assert not at.exception, errors_text(at)
    assert len(charts(at)) >= 1
    assert non_finite_values(at) == []


def test_deep_link_sets_the_widgets():
    q = {
        "inits": ["xavier", "he"],
        "act": "tanh",
        "depth": "12",
        "width": "32",
        "layers": ["2", "12"],
        "tdepth": "4",
        "twidth": "32",
        "opt": "adam",
        "lr": "0.001",
        "epochs": "3",
    }
    at = run_page(PAGE, q)
    assert not at.exception, errors_text(at)
    assert at.multiselect(key="inits").value == ["xavier", "he"]
    assert at.selectbox(key="act").value == "tanh"
    assert at.slider(key="depth").value == 12
    assert at.select_slider(key="width").value == 32
    assert at.multiselect(key="layers").value == [2, 12]
    assert at.slider(key="tdepth").value == 4
    assert at.select_slider(key="twidth").value == 32
    assert at.selectbox(key="opt").value == "adam"
    assert at.select_slider(key="lr").value == 0.001
    assert at.slider(key="epochs").value == 3
    assert non_finite_values(at) == []
    assert at.slider(key="seeds").value == 3
    assert {m.label for m in at.metric} >= {"xavier: test accuracy", "he: test accuracy"}


def _text(at) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


def test_text_teaches_the_rule_not_the_coincidence():
    at = run_page(PAGE)
    assert not at.exception, errors_text(at)
    text = _text(at)
    assert "doubles the variance" not in text  # glorot's larger std is fan_out's doing, not ReLU's
    assert "exactly 1 for he" not in text and "on average" in text
    assert "fan}_\\text{in}\\cdot\\operatorname{Var}(W)\\cdot\\mathbb E[a^2]" in " ".join(x.value for x in at.latex)
    assert "Sigmoid: no." in text
    assert "ReLU ignores a positive factor" in text  # the ReLU-only caption, at ReLU
    metrics = {m.label: m.value for m in at.metric}
    # tanh + xavier sags, tanh + xavier×5/3 stays: both computed (layer 1 -> 20)
    first, last = (float(v) for v in metrics["tanh + xavier: std, layer 1 → 20"].split(" → "))
    gfirst, glast = (float(v) for v in metrics["tanh + xavier×5/3: std, layer 1 → 20"].split(" → "))
    assert last < 0.3 * first and glast > 0.7 * gfirst


def test_training_verdict_at_non_default_settings_is_computed():
    # tanh + Adam: nothing diverges, so the defaults' "large produces an infinite loss" must not appear,
    # and the verdict shown is the one the experiment computed.
    at = run_page(PAGE, {"act": "tanh", "opt": "adam", "lr": "0.001", "epochs": "3", "tdepth": "4", "seed": "3"})
    assert not at.exception, errors_text(at)
    text = _text(at)
    assert "With the defaults" not in text
    assert "infinite loss" not in text and "inf/NaN" not in text
    assert "he**, made for ReLU, learns fastest" not in text
    assert "ReLU ignores" not in text and "ReLU outputs exactly 0" not in text  # tanh on screen, not ReLU
    assert not any("diverged" in w.value for w in at.warning)
    assert all(m.value != "diverged" for m in at.metric if m.label.endswith("test accuracy"))
    assert any("Validation picks" in m.value for m in at.markdown)


def test_one_seed_says_no_noise_estimate_and_words_follow_the_flags():
    q = {"inits": ["small", "xavier", "he"], "tdepth": "4", "epochs": "3", "seeds": "1", "seed": "2"}
    at = run_page(PAGE, q)
    assert not at.exception, errors_text(at)
    text = _text(at)
    assert "one seed: no noise estimate" in text
    assert "bigger than seed noise" not in text and "within seed noise" not in text
    res = run("init_training", inits=("small", "xavier", "he"), depth=4, epochs=3, seed=2, seeds=1)
    assert " ".join(res.summary["verdict_text"]) in text
    # two seeds at the same settings: the page's words are those of the computed flags
    at = run_page(PAGE, {**q, "seeds": "2"})
    assert not at.exception, errors_text(at)
    res = run("init_training", inits=("small", "xavier", "he"), depth=4, epochs=3, seed=2, seeds=2)
    for k, flag in res.summary["comparison"]["beyond_noise"].items():
        if k != "he":
            assert f"**{k}**" in _text(at) and noise_words(flag) in _text(at)
    assert " ".join(res.summary["verdict_text"]) in _text(at)
