"""AppTest: the early-stopping page."""

import pytest

from engine.experiments import early_stopping as exp
from engine.experiments.common import noise_words
from tests.apptest_helpers import BAD_VALUES, ROOT, chart_frames, charts, errors_text, non_finite_values, run_page

PAGE = "pages/6_Early_stopping.py"
KEYS = ["n", "depth", "epochs", "lr", "label_noise", "seeds", "patience", "delta"]


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def runs_in_charts(at) -> set:
    return {row["run"] for el in charts(at) for rows in chart_frames(el) for row in rows if "run" in row}


def _text(at) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


def test_default_view_runs_and_shows_the_article_numbers_next_to_real_runs():
    at = run_page(PAGE)
    assert not at.exception, errors_text(at)
    assert not at.error, errors_text(at)
    assert len(charts(at)) >= 4
    assert non_finite_values(at) == []
    m = metrics(at)
    # the article's printed numbers (see tests/engine/test_exp_early_stopping.py)
    assert (m["Best epoch"], m["Val. loss at best"], m["Train loss at best"]) == ("82", "0.1045", "0.1020")
    assert (m["Stop (patience 10)"], m["Epochs saved (article)"]) == ("92", "108")
    # the article's curve is in a chart, labelled as the article's simulation
    assert "article (simulated)" in runs_in_charts(at)
    # the real runs at the defaults, against an independent call of the experiment
    res = exp.early_stopping()
    rep, runs = res.tables["replay"], res.tables["runs"]
    rows = rep[(rep.patience == 10) & (rep.min_delta == 0.0)].sort_values("seed")
    assert m["Best epoch before the stop"] == " / ".join(str(int(v)) for v in rows.best_epoch)
    assert m["Stops at epoch (patience 10)"] == " / ".join(str(int(v)) for v in rows.stop_epoch)
    at10 = exp.compare_at(rep, runs, 10)
    assert m["Test accuracy, restored weights"] == f"{at10['mean']['kept at patience 10']:.1%}"
    assert m["Test accuracy, last weights (epoch 29)"] == f"{at10['mean']['last']:.1%}"
    text = _text(at)
    assert at10["beyond_noise"]["kept at patience 10"] is True
    assert f"a difference of {at10['diff']['kept at patience 10'] * 100:+.1f} pts" in text
    assert "**bigger than seed noise**" in text and "restoring the best weights undoes that" in text
    assert "3 seeds (0, 1, 2)" in text
    # the split sizes are computed, never typed in
    source = (ROOT / PAGE).read_text()
    assert not any(n in source for n in ("1437", "1438", "359", "1079"))
    assert "1079 training images" in text


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
    stops1 = [int(v) for v in after["Stops at epoch (patience 1)"].split(" / ")]
    stops10 = [int(v) for v in before["Stops at epoch (patience 10)"].split(" / ")]
    assert len(stops1) == 3 and all(a < b for a, b in zip(stops1, stops10))


@pytest.mark.parametrize("bad", BAD_VALUES)
def test_bad_url_values_for_every_key_are_survived(bad):
    at = run_page(PAGE, {k: bad for k in KEYS + ["seed"]})
    assert not at.exception, errors_text(at)
    assert len(charts(at)) >= 4
    assert non_finite_values(at) == []


def test_deep_link_sets_the_widgets():
    q = {
        "seed": "1",
        "n": "300",
        "depth": "2",
        "epochs": "30",
        "lr": "0.003",
        "label_noise": "0.2",
        "seeds": "2",
        "patience": "4",
        "delta": "0.01",
    }
    at = run_page(PAGE, q)
    assert not at.exception, errors_text(at)
    assert at.slider(key="seed").value == 1
    assert at.select_slider(key="n").value == 300
    assert at.slider(key="depth").value == 2
    assert at.slider(key="epochs").value == 30
    assert at.select_slider(key="lr").value == 0.003
    assert at.slider(key="label_noise").value == pytest.approx(0.2)
    assert at.slider(key="seeds").value == 2
    assert at.slider(key="patience").value == 4
    assert at.select_slider(key="delta").value == 0.01
    m = metrics(at)
    assert "Stops at epoch (patience 4)" in m and len(m["Best epoch before the stop"].split(" / ")) == 2
    assert "2 seeds (1, 2)" in _text(at) and "20% of their labels flipped" in _text(at)
    assert non_finite_values(at) == []


@pytest.mark.parametrize(
    "query, kwargs",
    [
        ({"seeds": "1"}, {"seeds": 1}),
        (
            {"n": "200", "depth": "2", "epochs": "20", "label_noise": "0", "patience": "5"},
            {"n_train": 200, "depth": 2, "epochs": 20, "label_noise": 0.0},
        ),
    ],
    ids=["one-seed", "clean-labels"],
)
def test_words_follow_the_computed_flag_at_other_settings(query, kwargs):
    at = run_page(PAGE, query)
    assert not at.exception, errors_text(at)
    res = exp.early_stopping(**kwargs)
    patience = int(query.get("patience", 10))
    cmp = exp.compare_at(res.tables["replay"], res.tables["runs"], patience)
    flag = cmp["beyond_noise"][f"kept at patience {patience}"]
    text = _text(at)
    assert f"**{noise_words(flag)}**" in text
    for other in {True, False, None} - {flag}:
        assert f"**{noise_words(other)}**" not in text
    if flag is None:
        assert "Add seeds to tell a difference" in text and "restoring the best weights undoes that" not in text
    if kwargs.get("label_noise") == 0.0:
        assert "memorised noise" not in text and "noisy training labels" not in text


def test_simulated_is_only_ever_said_of_the_article():
    for line in (ROOT / PAGE).read_text().splitlines():
        if "simulat" in line.lower():
            assert "article" in line.lower(), line


def _text(at) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


def test_training_loss_is_not_promised_to_fall_forever_and_its_rises_are_counted():
    at = run_page(PAGE, {"n": "100", "depth": "4", "epochs": "40", "lr": "0.003", "patience": "3", "seed": "2"})
    assert not at.exception, errors_text(at)
    text = _text(at)
    assert "keeps going down for as long as you train" not in text
    assert "mini-batch noise" not in text  # the train loss is an eval-mode pass: no mini-batch noise in it
    res = exp.early_stopping(n_train=100, depth=4, epochs=40, lr=3e-3, seed=2)
    ps = res.summary["per_seed"]
    rises = [p["train_loss_rises"] for p in ps]
    if any(rises):
        listed = " / ".join(map(str, rises))
        assert f"went up from one epoch to the next {listed} time(s) in {ps[0]['train_loss_steps']}" in text
    else:
        assert f"fell at every one of the {ps[0]['train_loss_steps']} epoch-to-epoch steps" in text
    # the patience sentence is computed from these runs' replays, not written for the defaults
    rep = res.tables["replay"]
    needed = []
    for p in ps:
        d = rep[(rep.min_delta == 0.0) & (rep.seed == p["seed"])].sort_values("patience")
        needed.append(int(d[d.best_epoch == p["best_epoch"]].patience.iloc[0]))
    if all(n == 1 for n in needed):
        assert "even patience 1 reaches" in text
    else:
        assert f"lowest validation loss is {' / '.join(map(str, needed))}" in text
