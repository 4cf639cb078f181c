"""The Full recipe experiments: the article's full-recipe numbers, hand-worked checks, the
classic-vs-modern outcome against the class frequencies, the ablation's one-change variants."""

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
    assert s["epochs_saved"] == 85
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


def test_recipe_cli_prints_tables_and_summary(capsys):
    assert cli(["run", "recipe", "--depth", "2", "--width", "16", "--epochs", "2", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["experiment"] == "recipe" and out["params"]["depth"] == 2
    assert set(out["tables"]) == {"curves", "layers", "markers"}
    assert out["summary"]["epochs_run"] == 2 and 0 <= out["summary"]["final_val_acc"] <= 1


def test_classic_predicts_one_class_modern_learns():
    # Independent reference: at depth 10 the classic recipe (sigmoid, 0.01-std weights) sends the
    # same near-constant signal to the output for every image, so it predicts a single class and
    # its accuracy is that class's share of the validation set (stratified digits: 9.7%-10.3%).
    res = run("recipe_compare", depth=10, width=32, epochs=6)
    y = load("digits", 0).y_val
    shares = np.bincount(y) / len(y)
    classic = res.summary["classic_val_acc"]
    assert shares.min() - 1e-4 <= classic <= shares.max() + 1e-4
    assert res.summary["modern_val_acc"] > 3 * res.summary["chance_acc"]  # clearly learning after 6 epochs
    assert res.summary["modern_minus_classic"] == pytest.approx(res.summary["modern_val_acc"] - classic, abs=1e-4)
    runs = set(res.tables["curves"]["run"])
    assert runs == {"classic", "modern"}


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
    full = acc.loc["full recipe", "final_val_acc"]
    assert res.summary["full_recipe_val_acc"] == full
    for _, row in acc.iterrows():
        assert row["change_vs_full"] == pytest.approx(row["final_val_acc"] - full, abs=1e-4)
    others = acc.drop(index="full recipe")
    assert res.summary["most_important_val_acc"] == others["final_val_acc"].min()


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


def test_ablation_verdict_reads_the_numbers():
    import pandas as pd

    def table(changes, full):
        return pd.DataFrame(
            {
                "removed": [f"t{i} (x)" for i in range(len(changes))],
                "final_val_acc": [full + c for c in changes],
                "change_vs_full": changes,
            }
        )

    # one removal hurts (t1: 0.90 - 0.30 = 0.60), one is noise (+0.002 < 0.005)
    text = rx._ablation_verdict(table([0.002, -0.30], 0.90), 0.90, 0.1, 10)
    assert "Removing t1 hurts most: 60.0% instead of 90.0% (1 of 2" in text and "do better" not in text
    # the full recipe is stuck at chance (11% < 1.5 x 10%) and a removal fixes it
    text = rx._ablation_verdict(table([0.80, 0.0], 0.11), 0.11, 0.1, 30)
    assert "the best is without t0: 91.0% instead of 11.0%" in text and "does not train at depth 30" in text
    assert rx._ablation_verdict(table([0.001, -0.004], 0.9), 0.9, 0.1, 5).startswith("No single removal")


def test_deep_verdict_reports_the_gradient_ratio():
    s = {
        "plain_val_acc": 0.1,
        "with_skips_val_acc": 0.95,
        "plain_grad_ratio_first_to_last": 17412.4,
        "with_skips_grad_ratio_first_to_last": 2.15,
    }
    (text,) = rx._deep_verdict(s, 50)
    assert "plain network ends at 10.0%" in text and "skips at 95.0%" in text
    assert "17,412× the gradient of layer 50" in text and "2.15× with skips" in text


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
    assert both.notes[0].split(" At the first")[0] == joint.notes[-1].split(" At the first")[0]
