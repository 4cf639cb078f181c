"""The Full recipe experiments: the article's full-recipe numbers, hand-worked checks, the
naive-vs-modern outcome against the class frequencies, the ablation's one-change variants and
its verdicts over seeds, the 50-layer test's gradient and update ratios."""

import json
import math

import numpy as np
import pytest

from engine.__main__ import main as cli
from engine.datasets import load
from engine.experiments import recipe as rx
from engine.experiments import run
from engine.train import RECIPES, TrainConfig

TINY = dict(depth=2, width=16, dataset="moons", epochs=3)


# ------------------------------------------------------------------ the article's full-recipe run
# The article's snippet ("A concrete example: combining everything"), run in a scratch dir, printed:
#   Epoch   0: lr=0.000000, train=0.6200, val=0.6800
#   Epoch  40: lr=0.000940, train=0.1411, val=0.1612
#   Epoch  80: lr=0.000701, train=0.0445, val=0.0565
#   Early stopping triggered at epoch 115
#   Best validation loss: 0.0419
#   Saved 85 epochs of wasted compute
ARTICLE_ROWS = {0: (0.000000, 0.6200, 0.6800), 40: (0.000940, 0.1411, 0.1612), 80: (0.000701, 0.0445, 0.0565)}


def test_article_curve_prints_the_articles_numbers():
    res = run("recipe_article")
    s = res.summary
    assert s["stop_epoch"] == 115
    assert s["best_val_loss"] == pytest.approx(0.0419, abs=5e-5)
    assert s["epochs_saved"] == 85  # the article's count, which includes the stopping epoch
    # counted as the Early-stopping page does: stopping at epoch 115 (0-based) ran epochs 0..115
    assert s["epochs_run"] == 116 and s["epochs_not_run"] == 200 - 116 == 84
    sched = res.tables["schedule"].set_index("epoch")
    for epoch, (lr, tr, va) in ARTICLE_ROWS.items():
        assert round(sched.loc[epoch, "lr"], 6) == pytest.approx(lr, abs=1e-12)
        assert round(sched.loc[epoch, "train_loss"], 4) == pytest.approx(tr, abs=1e-12)
        assert round(sched.loc[epoch, "val_loss"], 4) == pytest.approx(va, abs=1e-12)


def test_article_best_epoch_by_hand():
    # Up to t = 100 the extra term is 0, so val falls: best(<=100) = 0.65 e^-4 + 0.03 = 0.041905.
    # At t = 101: 0.65 e^(-101/25) + 0.03 + 0.0005 * 1 = 0.011536 + 0.0305 = 0.042036 > 0.041905,
    # and the extra term only grows: the best epoch is 100 and patience 15 stops at 100 + 15 = 115.
    res = run("recipe_article")
    assert res.summary["best_epoch"] == 100
    best = res.tables["schedule"].set_index("epoch").loc[100, "val_loss"]
    assert best == pytest.approx(0.65 * math.exp(-4) + 0.03, rel=1e-12)
    assert list(res.tables["markers"]["x"]) == [100, 115]
    # with more patience than epochs left, it never stops: 200 - 199 = 1 epoch "saved" (the last one)
    never = run("recipe_article", patience=100)
    assert never.summary["stop_epoch"] is None and never.summary["epochs_saved"] == 1
    assert never.summary["epochs_not_run"] == 0 and never.summary["epochs_run"] == 200


# ------------------------------------------------------------------ helpers
def test_key_layers_by_hand():
    # linspace(1, 11, 5) = 1, 3.5, 6, 8.5, 11 -> round half to even -> 1, 4, 6, 8, 11
    assert rx.key_layers(11) == [1, 4, 6, 8, 11]
    assert rx.key_layers(3) == [1, 2, 3]
    assert rx.key_layers(51)[0] == 1 and rx.key_layers(51)[-1] == 51


def test_depth_limits_and_clamp():
    assert rx.clamp_depth(80, False)[0] == 50 and "skip" in rx.clamp_depth(80, False)[1]
    assert rx.clamp_depth(80, True) == (80, None)
    assert rx.clamp_depth(50, False) == (50, None)
    with pytest.raises(ValueError, match="depth.*without skip"):
        rx.make_config(depth=51)
    rx.make_config(depth=100, residual=True)  # allowed with skips


def test_make_config_maps_zero_to_off():
    cfg = rx.make_config(patience=0, n_train=0)
    assert cfg.patience is None and cfg.n_train is None
    cfg = rx.make_config(patience=7, n_train=300)
    assert cfg.patience == 7 and cfg.n_train == 300
    # the recipe's defaults are TrainConfig's modern defaults apart from width and epochs
    assert rx.make_config() == TrainConfig(width=64, epochs=20)
    # warmup: -1 is 10 % of the epochs (2 of 20); the article's settings warm up for 10 of 200
    assert rx.make_config().warmup == 2
    assert rx.make_config(epochs=200, warmup_epochs=10).warmup == 10
    assert rx.make_config(warmup_epochs=0).warmup == 0
    with pytest.raises(ValueError, match="warmup_epochs"):
        rx.make_config(warmup_epochs=-2)
    with pytest.raises(ValueError, match="warmup_epochs"):
        rx.make_config(epochs=5, warmup_epochs=5)


@pytest.mark.parametrize(
    "name, params, field",
    [
        ("recipe", dict(depth=60), "depth"),
        ("recipe", dict(depth=0), "depth"),
        ("recipe", dict(patience=-1), "patience"),
        ("recipe", dict(n_train=-3), "n_train"),
        ("recipe", dict(width=0), "width"),
        ("recipe", dict(dataset="evil"), "dataset"),
        ("recipe", dict(lr=float("nan")), "lr"),
        ("recipe", dict(dropout=1.5), "dropout"),
        ("recipe", dict(init="zeros"), "init"),
        ("recipe", dict(depth=100, width=1024, residual=True), "budget"),
        ("recipe_compare", dict(depth=51), "depth"),
        ("recipe_compare", dict(epochs=0), "epochs"),
        ("ablation", dict(dropout=-0.1), "dropout"),
        ("ablation", dict(patience=-2), "patience"),
        ("ablation", dict(seeds=0), "seeds"),
        ("ablation", dict(seeds=11), "seeds"),
        ("recipe_compare", dict(seeds=0), "seeds"),
        ("deep50", dict(seeds=11), "seeds"),
        ("recipe", dict(label_noise=0.6), "label_noise"),
        ("recipe", dict(warmup_epochs=25), "warmup_epochs"),
        ("deep50", dict(width=1024, epochs=100), "budget"),
        ("deep50", dict(runs=("evil",)), "runs"),
        ("deep50", dict(runs=()), "runs"),
        ("recipe_article", dict(total_epochs=5), "total_epochs"),
        ("recipe_article", dict(patience=0), "patience"),
    ],
)
def test_bad_parameters_name_the_field(name, params, field):
    with pytest.raises(ValueError, match=field):
        run(name, **params)


# ------------------------------------------------------------------ real runs (small)
def test_recipe_tables_agree_with_the_summary():
    res = run("recipe", **TINY, patience=0)
    cur, s = res.tables["curves"], res.summary
    val = cur[cur["split"] == "validation"].set_index("epoch")
    assert len(val) == s["epochs_run"] == 3
    assert s["best_epoch"] == int(val["loss"].idxmin())
    assert s["final_val_acc"] == pytest.approx(val["accuracy"].iloc[-1], abs=1e-4)  # no early stopping
    assert s["chance_acc"] == 0.5  # moons: two classes
    lay = res.tables["layers"]
    assert len(lay) == 3 * (2 + 1)  # epochs x (hidden layers + output)
    assert set(lay["layer_name"]) == {"layer 1", "layer 2", "output"}
    assert lay.loc[lay["layer_name"] == "output", "act_std"].isna().all()
    assert (lay["update_ratio"].dropna() > 0).all()


def test_recipe_reports_test_beside_validation_and_takes_label_noise():
    from engine.train import train

    res = run("recipe", **TINY, label_noise=0.2, seed=4)
    h = train(rx.make_config(**TINY, label_noise=0.2, seed=4))
    assert res.summary["final_test_acc"] == pytest.approx(h.final_test_acc, abs=5e-5)
    assert res.summary["final_val_acc"] == pytest.approx(h.final_val_acc, abs=5e-5)
    clean = train(rx.make_config(**TINY, seed=4))
    assert h.train_loss != clean.train_loss  # the noisy labels changed what it trained on


def test_recipe_cli_prints_tables_and_summary(capsys):
    assert cli(["run", "recipe", "--depth", "2", "--width", "16", "--epochs", "2", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["experiment"] == "recipe" and out["params"]["depth"] == 2
    assert set(out["tables"]) == {"curves", "layers", "markers"}
    assert out["summary"]["epochs_run"] == 2 and 0 <= out["summary"]["final_val_acc"] <= 1


def test_naive_predicts_one_class_the_others_learn():
    # Independent reference: at depth 10 the naive recipe (sigmoid, 0.01-std weights) sends the
    # same near-constant signal to the output for every image, so it predicts a single class and
    # its accuracy is that class's share of the test set (stratified digits: about 10% each).
    res = run("recipe_compare", depth=10, width=64, epochs=6)
    runs = res.tables["runs"]
    assert sorted(set(runs["seed"])) == [0, 1, 2] and len(runs) == 3 * 3
    for s in (0, 1, 2):
        y = load("digits", s).y_test
        shares = np.bincount(y) / len(y)
        naive = runs.loc[(runs["recipe"] == "naive") & (runs["seed"] == s), "final_test_acc"].item()
        assert shares.min() - 1e-4 <= naive <= shares.max() + 1e-4
    cmp = res.summary["comparison"]
    assert cmp["baseline"] == "modern" and res.summary["modern_test_acc"] == cmp["mean"]["modern"]
    assert res.summary["modern_test_acc"] > 3 * res.summary["chance_acc"]  # clearly learning after 6 epochs
    assert res.summary["lecun1998_test_acc"] > 3 * res.summary["chance_acc"]  # so does the real 1990s recipe
    assert cmp["beyond_noise"]["naive"] is True and cmp["diff"]["naive"] < 0
    assert set(res.tables["curves"]["recipe"]) == {"naive", "lecun1998", "modern"}
    assert set(res.tables["bands"]["n_seeds"]) == {3}


def test_ablation_variants_change_one_technique_each():
    base = rx.make_config(depth=3, width=16, dropout=0.3, patience=5, residual=True)
    variants = rx.ablation_variants(base)
    changed = {}
    for label, (_, cfg) in variants.items():
        diff = {k for k, v in cfg.to_dict().items() if v != base.to_dict()[k]}
        changed[label] = diff
    assert changed["full recipe"] == set()
    assert changed["small init"] == {"init"}
    assert changed["no BN"] == {"batch_norm"}
    assert changed["sigmoid"] == {"activation"}
    assert changed["constant lr"] == {"schedule"}
    assert changed["SGD lr 0.1"] == {"optimizer", "lr"}
    assert changed["no dropout"] == {"dropout"}
    assert changed["no early stop"] == {"patience"}
    assert changed["no skips"] == {"residual"}
    # with dropout, patience and skips off, those three variants are not offered
    assert len(rx.ablation_variants(RECIPES["modern"])) == 6


def test_ablation_table_arithmetic():
    res = run("ablation", **TINY)
    acc = res.tables["accuracy"].set_index("variant")
    runs = res.tables["runs"]
    assert sorted(set(runs["seed"])) == [0, 1, 2] and len(runs) == 3 * len(acc)
    full = acc.loc["full recipe", "final_test_acc"]
    assert res.summary["full_recipe_test_acc"] == full
    f = runs.loc[runs["variant"] == "full recipe", "final_test_acc"].to_numpy(float)
    for variant, row in acc.iterrows():
        a = runs.loc[runs["variant"] == variant, "final_test_acc"].to_numpy(float)
        assert row["final_test_acc"] == pytest.approx(a.mean(), abs=1e-4)
        assert row["spread"] == pytest.approx(a.max() - a.min(), abs=1e-4)
        assert row["change_vs_full"] == pytest.approx(row["final_test_acc"] - full, abs=1e-4)
        by_hand = abs(a.mean() - f.mean()) > max(np.ptp(a), np.ptp(f))
        assert row["beyond_noise"] == (None if variant == "full recipe" else by_hand)
    assert "no skips" in acc.index  # the default network has skip connections
    assert set(res.tables["curves"]["seed"]) == {0, 1, 2}
    assert not hasattr(rx, "ABLATION_TOLERANCE")


def test_ablation_with_one_seed_calls_nothing_noise_or_signal():
    res = run("ablation", **TINY, seeds=1)
    assert res.tables["accuracy"]["beyond_noise"].isna().all()
    assert res.summary["removals_worse"] == [] and res.summary["removals_within_noise"] == []
    assert "One seed: no noise estimate" in res.notes[0]


def test_ablation_default_is_where_the_parts_matter():
    # The page's lesson at its defaults (depth 20 with skips, 20 epochs, 3 seeds): removing a part the
    # page calls essential (skips, batch norm) lowers the test accuracy by more than seed noise.
    assert (rx.ABLATION_DEPTH, rx.ABLATION_RESIDUAL) == (20, True)
    assert rx.ESSENTIAL == ("no skips", "no BN")
    res = run("ablation")
    acc = res.tables["accuracy"].set_index("variant")
    runs = res.tables["runs"]
    full = runs.loc[runs["variant"] == "full recipe", "final_test_acc"].to_numpy(float)
    for v in rx.ESSENTIAL:
        a = runs.loc[runs["variant"] == v, "final_test_acc"].to_numpy(float)
        assert full.mean() - a.mean() > max(np.ptp(a), np.ptp(full)), v  # by hand
        assert acc.loc[v, "beyond_noise"] is True and acc.loc[v, "change_vs_full"] < 0
    assert set(rx.ESSENTIAL) <= set(res.summary["removals_worse"])
    assert res.summary["essential"] == list(rx.ESSENTIAL)
    text = " ".join(res.notes)
    assert "hurts most" in text and "bigger than seed noise over 3 seeds" in text
    # the harmless removals are named as such, from their flags
    within = [v for v in acc.index if acc.loc[v, "beyond_noise"] is False]
    assert res.summary["removals_within_noise"] == within
    if within:
        assert "within seed noise of the full recipe" in text


def test_deep_runs_plain_and_with_skips():
    res = run("deep50", depth=4, width=16, dataset="moons", epochs=2)
    first = res.tables["first_epoch_layers"]
    assert set(first["run"]) == {"plain", "with skips"}
    assert (first.groupby("run")["layer"].count() == 4 + 1).all()
    assert set(res.tables["runs"]["run"]) == {"plain", "with skips"}
    assert res.notes  # one sentence on the outcome
    for run_label, key in (("plain", "plain"), ("with skips", "with_skips")):
        g = first[first["run"] == run_label].set_index("layer")["grad_norm"]
        assert res.summary[f"{key}_grad_ratio_first_to_last"] == pytest.approx(g[1] / g[4], abs=1e-3)
    # accuracies are means over the 3 seeds, compared with skips against plain
    runs = res.tables["runs"]
    assert sorted(set(runs["seed"])) == [0, 1, 2] and set(first["seed"]) == {0}
    for run_label, key in (("plain", "plain"), ("with skips", "with_skips")):
        a = runs.loc[runs["run"] == run_label, "final_test_acc"]
        assert res.summary[f"{key}_test_acc"] == pytest.approx(a.mean(), abs=1e-4)
    cmp = res.summary["comparison"]
    assert cmp["baseline"] == "plain" and cmp["mean"]["with skips"] == res.summary["with_skips_test_acc"]
    assert set(res.tables["bands"]["n_seeds"]) == {3}


def test_ablation_verdict_reads_the_numbers():
    import pandas as pd

    def table(changes, full, flags):
        return pd.DataFrame(
            {
                "removed": [f"t{i} (x)" for i in range(len(changes))],
                "final_test_acc": [full + c for c in changes],
                "change_vs_full": changes,
                "beyond_noise": flags,
            }
        )

    # one removal hurts beyond noise (t1: 0.90 - 0.30 = 0.60), one is within noise
    text = rx._ablation_verdict(table([0.002, -0.30], 0.90, [False, True]), 0.90, 0.1, 10, seeds=3)
    assert "Removing t1 hurts most: 60.0% instead of 90.0% (1 of 2 removals lower" in text
    assert "bigger than seed noise over 3 seeds: t1)" in text and "do better" not in text
    assert "Removing t0: within seed noise of the full recipe." in text
    # the full recipe is stuck at chance (11% < 1.5 x 10%) and a removal fixes it
    text = rx._ablation_verdict(table([0.80, 0.0], 0.11, [True, False]), 0.11, 0.1, 30, seeds=3)
    assert "the best is without t0: 91.0% instead of 11.0%" in text and "does not train at depth 30" in text
    # a change inside the spread is noise, however large
    text = rx._ablation_verdict(table([0.04, -0.30], 0.90, [False, False]), 0.90, 0.1, 10, seeds=3)
    assert "hurts" not in text and "Removing t0, t1: within seed noise" in text
    # the full recipe at 38% (well above chance, far below learning): better removals are not "easy"
    text = rx._ablation_verdict(table([0.55, 0.5], 0.38, [True, True]), 0.38, 0.1, 20, seeds=3)
    assert "easy enough" not in text and "struggles at depth 20 (38.0%)" in text
    # one seed: no verdict either way
    text = rx._ablation_verdict(table([0.04, -0.30], 0.90, [None, None]), 0.90, 0.1, 10, seeds=1)
    assert text.startswith("One seed: no noise estimate") and "60.0% instead of 90.0%" in text


def test_deep_verdict_reports_the_gradient_ratio():
    s = {
        "plain_test_acc": 0.1,
        "with_skips_test_acc": 0.95,
        "plain_grad_ratio_first_to_last": 17412.4,
        "with_skips_grad_ratio_first_to_last": 2.15,
        "seeds": [4, 5, 6],
        "comparison": {"beyond_noise": {"plain": None, "with skips": True}},
    }
    (text,) = rx._deep_verdict(s, 50)
    assert "plain network ends at 10.0% test accuracy" in text and "skips at 95.0%" in text
    assert "(mean of 3 seeds; the difference is bigger than seed noise)" in text
    assert "At the first step (seed 4) the gradient" in text
    assert "17,412× the gradient of layer 50" in text and "2.15× with skips" in text
    one = rx._deep_verdict({**s, "seeds": [4], "comparison": {"beyond_noise": {"with skips": None}}}, 50)[0]
    assert "(one seed; the difference is one seed: no noise estimate)" in one
    # with the update ratios: equal relative steps in every layer, so the words blame sensitivity
    s.update(
        plain_update_ratio_first=5.51e-3,
        plain_update_ratio_last=5.6e-3,
        plain_update_ratio_min=5.5e-3,
        plain_update_ratio_max=5.8e-3,
    )
    _, steps = rx._deep_verdict(s, 50)
    assert "0.0055 at layer 1 and 0.0056 at layer 50" in steps and "not bigger" in steps
    assert "What fails is the sensitivity" in steps
    # unequal steps: no claim that they are equal, no sensitivity story
    s.update(plain_update_ratio_min=1e-4, plain_update_ratio_max=1e-2)
    _, steps = rx._deep_verdict(s, 50)
    assert "not bigger" not in steps and "sensitivity" not in steps


def test_deep_summary_update_ratios_come_from_the_first_step_table():
    res = run("deep50", depth=4, width=16, dataset="moons", epochs=2)
    first = res.tables["first_epoch_layers"]
    for label, key in (("plain", "plain"), ("with skips", "with_skips")):
        u = first[(first["run"] == label) & (first["layer"] <= 4)].set_index("layer")["update_ratio"]
        assert res.summary[f"{key}_update_ratio_first"] == pytest.approx(u[1], rel=1e-2)
        assert res.summary[f"{key}_update_ratio_max"] == pytest.approx(u.max(), rel=1e-2)


def test_deep_runs_one_at_a_time_combine_to_the_joint_run():
    kw = dict(depth=3, width=8, dataset="moons", epochs=2)
    joint = run("deep50", **kw)
    parts = [run("deep50", runs=(r,), **kw) for r in rx.DEEP_RUNS]
    assert parts[0].notes == [] and parts[1].notes == []  # no verdict from half the experiment
    both = rx.combine_deep50(parts, depth=3)
    for name in ("curves", "first_epoch_layers"):
        assert both.tables[name].equals(joint.tables[name]), name
    same = {k: v for k, v in joint.summary.items() if "seconds" not in k}
    assert {k: both.summary[k] for k in same} == same
    assert both.notes == rx._deep_verdict(joint.summary, 3)  # the verdict of the joint run's numbers
