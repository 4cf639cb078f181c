"""AppTest: the early-stopping page."""

import pytest

from engine.experiments import early_stopping as exp
from tests.apptest_helpers import BAD_VALUES, ROOT, chart_frames, charts, errors_text, non_finite_values, run_page

PAGE = "pages/6_Early_stopping.py"
KEYS = ["n", "depth", "epochs", "lr", "patience", "delta"]


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def runs_in_charts(at) -> set:
    return {row["run"] for el in charts(at) for rows in chart_frames(el) for row in rows if "run" in row}


def test_default_view_runs_and_shows_the_article_numbers_next_to_a_real_run():
    at = run_page(PAGE)
    assert not at.exception, errors_text(at)
    assert not at.error, errors_text(at)
    assert len(charts(at)) >= 4
    assert non_finite_values(at) == []
    m = metrics(at)
    # the article's printed numbers (see tests/engine/test_exp_early_stopping.py)
    assert (m["Best epoch"], m["Val. loss at best"], m["Train loss at best"]) == ("82", "0.1045", "0.1020")
    assert (m["Stop (patience 10)"], m["Epochs saved (article)"]) == ("92", "108")
    # the real run's markers and the comparison of restored vs last weights
    assert "Stops at epoch (patience 10)" in m
    assert any(k.startswith("Val. accuracy, restored best") for k in m)
    assert any(k.startswith("Val. accuracy, last weights") for k in m)
    # the article's curve is in a chart, labelled as the article's simulation
    assert "article (simulated)" in runs_in_charts(at)


def test_moving_patience_replays_without_retraining(monkeypatch):
    at = run_page(PAGE)
    calls = []
    real_train_many = exp.train_many
    monkeypatch.setattr(exp, "train_many", lambda *a, **k: calls.append(1) or real_train_many(*a, **k))
    before = metrics(at)
    at.slider(key="patience").set_value(1).run()
    assert not at.exception, errors_text(at)
    after = metrics(at)
    assert calls == [], "changing the patience must not train again"
    assert "Stops at epoch (patience 1)" in after and "Stops at epoch (patience 10)" in before
    assert int(after["Stops at epoch (patience 1)"]) < int(before["Stops at epoch (patience 10)"])


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_url_values_for_every_key_are_survived(bad):
    at = run_page(PAGE, {k: bad for k in KEYS + ["seed"]})
    assert not at.exception, errors_text(at)
    assert len(charts(at)) >= 4
    assert non_finite_values(at) == []


def test_deep_link_sets_the_widgets():
    q = {"seed": "1", "n": "100", "depth": "3", "epochs": "30", "lr": "0.003", "patience": "4", "delta": "0.01"}
    at = run_page(PAGE, q)
    assert not at.exception, errors_text(at)
    assert at.slider(key="seed").value == 1
    assert at.select_slider(key="n").value == 100
    assert at.slider(key="depth").value == 3
    assert at.slider(key="epochs").value == 30
    assert at.select_slider(key="lr").value == 0.003
    assert at.slider(key="patience").value == 4
    assert at.select_slider(key="delta").value == 0.01
    assert "Stops at epoch (patience 4)" in metrics(at)
    assert non_finite_values(at) == []


def test_simulated_is_only_ever_said_of_the_article():
    for line in (ROOT / PAGE).read_text().splitlines():
        if "simulat" in line.lower():
            assert "article" in line.lower(), line


def _text(at) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


def test_training_loss_is_not_promised_to_fall_forever_and_the_noise_is_counted():
    at = run_page(PAGE, {"n": "150", "depth": "4", "epochs": "40", "lr": "0.003", "patience": "3", "seed": "2"})
    assert not at.exception, errors_text(at)
    text = _text(at)
    assert "keeps going down for as long as you train" not in text
    assert "mini-batch" in text
    res = exp.early_stopping(n_train=150, depth=4, epochs=40, lr=3e-3, seed=2)
    s = res.summary
    if s["train_loss_rises"]:
        assert f"went up from one epoch to the next {s['train_loss_rises']} time(s) in {s['train_loss_steps']}" in text
    else:
        assert f"fell at every one of the {s['train_loss_steps']} epoch-to-epoch steps" in text
    # the patience sentence is computed from this run's replay, not written for the defaults
    rep = res.tables["replay"]
    at0 = rep[rep.min_delta == 0.0].sort_values("patience")
    p_min = int(at0[at0.best_epoch == s["best_epoch"]].patience.iloc[0])
    if p_min > 1:
        assert f"it takes patience **{p_min}** or more" in text
    else:
        assert "even patience 1 reaches" in text
