"""The batch-normalization experiments against the article's printed numbers and independent re-computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from engine.datasets import load, n_train_available
from engine.experiments.batchnorm import (
    EVAL_MODE,
    NO_BN,
    TRAIN_MODE,
    WITH_BN,
    _batch_stats_eval,
    _lr_verdicts,
    batchnorm_article,
    batchnorm_lr,
    batchnorm_modes,
    batchnorm_noise,
    batchnorm_shift,
    lr_key,
)
from engine.experiments.common import compare_seeds
from engine.layers import BatchNorm
from engine.train import TrainConfig, build_model, evaluate, train

# Printed by the article's before/after snippet (np.random.seed(42); randn(32, 64) * 5 + 3):
#   Before BN: mean=3.20, std=4.95
#   After BN:  mean=0.0000, std=1.0000
ARTICLE_BEFORE_AFTER = (3.20, 4.95, 0.0000, 1.0000)

# Printed by the article's 15-layer snippet (np.random.seed(42) once, the no-BN pass, then the BN
# pass continuing the same stream), copied from running it:
#  Layer   No BN mean   No BN std   BN mean   BN std
ARTICLE_TABLE = [
    (0, 0.5731, 0.8382, 0.3998, 0.5849),
    (1, 0.5567, 0.8500, 0.3985, 0.5848),
    (2, 0.5950, 0.9025, 0.3974, 0.5775),
    (3, 0.5846, 0.8600, 0.3950, 0.5855),
    (4, 0.5860, 0.8833, 0.3929, 0.5825),
    (5, 0.5093, 0.8011, 0.3951, 0.5866),
    (6, 0.5645, 0.8891, 0.3946, 0.5868),
    (7, 0.5393, 0.8222, 0.3918, 0.5894),
    (8, 0.5911, 0.8976, 0.3924, 0.5820),
    (9, 0.5908, 0.9260, 0.3892, 0.5786),
    (10, 0.5316, 0.9263, 0.3916, 0.5836),
    (11, 0.7066, 1.0842, 0.3940, 0.5884),
    (12, 0.7542, 1.1596, 0.3938, 0.5828),
    (13, 1.0894, 1.6267, 0.3926, 0.5863),
    (14, 0.8839, 1.4145, 0.3924, 0.5823),
]

SMALL = dict(depth=2, width=16, epochs=1, seed=0)


# --------------------------------------------------------------------------- the article
def test_before_after_matches_article_print():
    s = batchnorm_article().summary
    got = (
        round(s["before_mean"], 2),
        round(s["before_std"], 2),
        round(s["after_mean"], 4) + 0.0,
        round(s["after_std"], 4),
    )
    assert got == ARTICLE_BEFORE_AFTER


def test_before_after_matches_plain_numpy():
    # independent: the textbook formula with NumPy's biased variance, eps = 1e-5
    rng = np.random.RandomState(42)
    z = rng.standard_normal((32, 64)) * 5 + 3
    zn = (z - z.mean(0)) / np.sqrt(z.var(0) + 1e-5)
    t = batchnorm_article().tables["before_after"].set_index("stage")
    assert t.loc["before BN", "mean"] == pytest.approx(z.mean(), abs=1e-12)
    assert t.loc["after BN", "std"] == pytest.approx(zn.std(), abs=1e-12)
    h = batchnorm_article().tables["histogram"]
    assert h.groupby("stage")["count"].sum().tolist() == [32 * 64, 32 * 64]


def test_layer_table_matches_article_cell_by_cell():
    table = batchnorm_article().tables["layer_table"]
    assert len(table) == 15
    for row, expected in zip(table.itertuples(index=False), ARTICLE_TABLE):
        got = (row.layer, *(round(v, 4) for v in row[1:]))
        assert got == pytest.approx(expected, abs=1e-12), f"layer {expected[0]}"


def test_layer_table_tidy_form_matches_wide():
    res = batchnorm_article()
    tidy, wide = res.tables["layers"], res.tables["layer_table"]
    assert set(tidy.run) == {NO_BN, WITH_BN}
    bn_std = tidy[(tidy.run == WITH_BN) & (tidy.statistic == "std")].value.to_numpy()
    np.testing.assert_array_equal(bn_std, wide.bn_std.to_numpy())


# --------------------------------------------------------------------------- learning-rate sweep
def test_lr_sweep_matches_direct_training_and_marks_divergence():
    res = batchnorm_lr(lrs=(0.1, 10.0), optimizer="sgd", depth=3, width=32, epochs=2, seed=0, seeds=1)
    sweep = res.tables["sweep"].set_index(["run", "lr"])
    # independent re-run of one cell through the public trainer
    h = train(
        TrainConfig(depth=3, width=32, epochs=2, lr=0.1, batch_norm=True, optimizer="sgd", schedule="cosine", seed=0)
    )
    assert sweep.loc[(WITH_BN, 0.1), "val_acc"] == pytest.approx(h.val_acc[-1])
    # lr = 10 without BN blows up: marked, explained, and still a finite accuracy near chance
    row = sweep.loc[(NO_BN, 10.0)]
    assert row.status.startswith("diverged")
    assert 0.0 <= row.val_acc <= 0.3
    assert any("no BN" in w for w in res.summary["warnings"])
    assert np.isfinite(res.tables["sweep"].val_acc.to_numpy(dtype=float)).all()


def test_lr_sweep_means_and_curves_over_seeds():
    res = batchnorm_lr(lrs=(0.1, 10.0), optimizer="sgd", depth=3, width=32, epochs=2, seed=4, seeds=2)
    sweep, mean = res.tables["sweep"], res.tables["mean"].set_index(["run", "lr"])
    assert sorted(sweep.seed.unique()) == [4, 5] == res.summary["seeds"]
    for (run_, lr), g in sweep.groupby(["run", "lr"]):
        assert mean.loc[(run_, lr), "val_acc"] == pytest.approx(g.val_acc.mean())
        assert mean.loc[(run_, lr), "val_acc_min"] == pytest.approx(g.val_acc.min())
    # seed 5 of one cell, trained alone through the public trainer
    h = train(
        TrainConfig(depth=3, width=32, epochs=2, lr=0.1, batch_norm=False, optimizer="sgd", schedule="cosine", seed=5)
    )
    got = sweep[(sweep.run == NO_BN) & (sweep.lr == 0.1) & (sweep.seed == 5)].val_acc.item()
    assert got == pytest.approx(h.val_acc[-1])
    cm = res.tables["curves_mean"]
    c = res.tables["curves"]
    want = c[(c.run == WITH_BN) & (c.lr == 0.1)].groupby("epoch").val_acc.mean().to_numpy()
    np.testing.assert_allclose(cm[(cm.run == WITH_BN) & (cm.lr == 0.1)].val_acc, want)
    assert list(cm.epoch.unique()) == [0, 1]  # epochs from 0, as History.epoch


def _hand_sweep(cells):
    """A hand-made per-seed sweep, {(run, lr): ([val_acc of seeds 0, 1, 2], n_diverged)} (test = val + 0.01),
    and its ``mean`` table and per-lr comparison blocks as batchnorm_lr builds them."""
    rows = [
        {"run": r, "lr": lr, "seed": k, "val_acc": a, "test_acc": a + 0.01, "diverged": k < d}
        for (r, lr), (accs, d) in cells.items()
        for k, a in enumerate(accs)
    ]
    sweep = pd.DataFrame(rows)
    g = sweep.groupby(["run", "lr"], sort=False)
    mean = g.agg(
        val_acc=("val_acc", "mean"),
        val_acc_min=("val_acc", "min"),
        val_acc_max=("val_acc", "max"),
        test_acc=("test_acc", "mean"),
        test_acc_min=("test_acc", "min"),
        test_acc_max=("test_acc", "max"),
        n_seeds=("seed", "size"),
        n_diverged=("diverged", "sum"),
    ).reset_index()
    by_lr = {lr_key(lr): compare_seeds(part, NO_BN, by="run", value="test_acc") for lr, part in sweep.groupby("lr")}
    return mean, by_lr


def _curves(accs):
    """{(run, lr): [val_acc per epoch]} as a curves_mean table."""
    return pd.DataFrame(
        [{"run": r, "lr": lr, "epoch": e, "val_acc": v} for (r, lr), vs in accs.items() for e, v in enumerate(vs)]
    )


def test_lr_verdicts_are_computed_from_the_sweep_by_hand():
    cells = {
        (NO_BN, 0.01): ([0.55, 0.60, 0.65], 0),
        (WITH_BN, 0.01): ([0.38, 0.40, 0.42], 0),  # no BN better by 0.20 > spreads 0.10 and 0.04
        (NO_BN, 0.1): ([0.89, 0.90, 0.91], 0),
        (WITH_BN, 0.1): ([0.90, 0.92, 0.94], 0),
        (NO_BN, 1.0): ([0.10, 0.10, 0.10], 3),
        (WITH_BN, 1.0): ([0.95, 0.96, 0.97], 0),
    }
    mean, by_lr = _hand_sweep(cells)
    curves = _curves(
        {
            (NO_BN, 0.1): [0.5, 0.7, 0.8, 0.9],
            (WITH_BN, 0.1): [0.6, 0.85, 0.9, 0.92],
            (WITH_BN, 1.0): [0.9, 0.95, 0.96, 0.96],
        }
    )
    v = _lr_verdicts(mean, curves, 3, by_lr)
    # usable: validation >= 0.9 x 0.96 = 0.864
    assert v["usable_threshold"] == pytest.approx(0.864)
    assert v["usable_lrs_no_bn"] == [0.1] and v["usable_lrs_with_bn"] == [0.1, 1.0]
    assert v["best_lr_with_bn"] == 1.0 and v["best_lr_no_bn"] == 0.1
    assert v["best_test_acc_with_bn"] == pytest.approx(0.97) and v["best_test_acc_no_bn"] == pytest.approx(0.91)
    assert "upwards" in v["headline"] and "At lr 1, BN reaches 97% test accuracy" in v["headline"]
    assert v["smallest_lr"] == {
        "lr": 0.01,
        "no_bn": pytest.approx(0.61),
        "with_bn": pytest.approx(0.41),
        "better": NO_BN,
        "beyond_noise": True,
    }
    assert "**no BN** is better, bigger than seed noise" in v["small_rates"]
    # target 0.9 x min(0.90, 0.96) = 0.81: no BN at 0.1 reaches it in epoch 3, BN at 0.1 in epoch 1, at 1.0 in 0
    assert v["epochs_to_target"] == [
        {"run": NO_BN, "lr": 0.1, "epoch": 3},
        {"run": WITH_BN, "lr": 0.1, "epoch": 1},
        {"run": WITH_BN, "lr": 1.0, "epoch": 0},
    ]
    assert "With BN it gets there sooner" in v["converge"]
    # overlapping seeds at the smallest rate (gap 0.13 < spread 0.20): within noise; the same range: no "upwards"
    cells2 = {**cells, (WITH_BN, 0.01): ([0.38, 0.48, 0.58], 0), (WITH_BN, 1.0): ([0.10, 0.10, 0.10], 3)}
    mean2, by_lr2 = _hand_sweep(cells2)
    v2 = _lr_verdicts(mean2, curves, 3, by_lr2)
    assert v2["smallest_lr"]["beyond_noise"] is False and "within seed noise" in v2["small_rates"]
    assert "does not change the usable range" in v2["headline"] and "upwards" not in v2["headline"]
    # one seed: no noise estimate
    one = {k: ([a[0]], min(d, 1)) for k, (a, d) in cells.items()}
    mean1, by_lr1 = _hand_sweep(one)
    v1 = _lr_verdicts(mean1, curves, 1, by_lr1)
    assert v1["smallest_lr"]["beyond_noise"] is None and "one seed: no noise estimate" in v1["small_rates"]


def test_lr_sweep_at_the_page_defaults_bn_beats_no_bn_beyond_seed_noise():
    # The page's defaults: SGD, depth 10, 6 epochs, seeds 0-2. Measured: each at its best rate (chosen on
    # validation), BN 0.968 test accuracy at lr 1 (spread 0.011), no BN 0.862 at lr 0.1 (spread 0.059).
    res = batchnorm_lr(seeds=3)
    s, mean = res.summary, res.tables["mean"].set_index(["run", "lr"])
    cmp = s["comparison"]
    assert cmp["baseline"] == NO_BN and cmp["metric"] == "test_acc" and cmp["seeds"] == [0, 1, 2]
    assert cmp["beyond_noise"][WITH_BN] is True and cmp["diff"][WITH_BN] > 0
    assert cmp["lr"] == {WITH_BN: s["best_lr_with_bn"], NO_BN: s["best_lr_no_bn"]}
    # by hand from the per-seed sweep: the test accuracies of each network at its own best rate
    sw = res.tables["sweep"]
    a = sw[(sw.run == WITH_BN) & (sw.lr == s["best_lr_with_bn"])].test_acc.to_numpy()
    b = sw[(sw.run == NO_BN) & (sw.lr == s["best_lr_no_bn"])].test_acc.to_numpy()
    assert cmp["mean"][WITH_BN] == pytest.approx(a.mean(), abs=1e-4) and cmp["spread"][NO_BN] == pytest.approx(
        np.ptp(b), abs=1e-4
    )
    assert abs(a.mean() - b.mean()) > max(np.ptp(a), np.ptp(b))
    assert "bigger than seed noise" in s["best_lr_words"]
    # the best rates are chosen on validation
    for label, k in ((WITH_BN, "with_bn"), (NO_BN, "no_bn")):
        part = res.tables["mean"][(res.tables["mean"].run == label) & (res.tables["mean"].n_diverged == 0)]
        assert s[f"best_lr_{k}"] == part.loc[part.val_acc.idxmax(), "lr"]
    assert sorted(sw.seed.unique()) == [0, 1, 2]
    assert set(s["comparison_by_lr"]) == {f"{lr:g}" for lr in sw.lr.unique()}
    # BN trains at larger rates: without BN a seed diverges at lr 1 (SGD), with BN none does
    assert s["largest_lr_that_trains_with_bn"] > s["largest_lr_that_trains_no_bn"]
    assert not s["usable_lrs_no_bn"] or s["usable_lrs_with_bn"][-1] > s["usable_lrs_no_bn"][-1]
    assert mean.loc[(WITH_BN, 1.0), "n_diverged"] == 0 and mean.loc[(WITH_BN, 1.0), "test_acc"] > 0.9
    assert mean.loc[(NO_BN, 1.0), "n_diverged"] >= 1
    # at the smallest rate, no BN is ahead on average, within seed noise (spread 0.25 of no BN's seeds)
    assert s["smallest_lr"]["better"] == NO_BN


def test_lr_default_grid_spans_decades():
    from engine.experiments.batchnorm import DEFAULT_LRS

    for grid in DEFAULT_LRS.values():
        assert grid == tuple(sorted(grid)) and grid[-1] / grid[0] >= 100


# --------------------------------------------------------------------------- covariate shift
def _hand_stats(model, X):
    """Per hidden layer: (mu, sd) per unit of the activation's input, by a hand-written forward
    (BN with the batch's own biased statistics), and of the linear output."""
    out, h = [], X.astype(np.float64)
    lins = model.linears
    bns = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
    for k, lin in enumerate(lins[:-1]):
        z = h @ lin.params["W"].astype(np.float64)
        if "b" in lin.params:
            z = z + lin.params["b"]
        pre = z
        if bns:
            bn = bns[k]
            z = (z - z.mean(0)) / np.sqrt(z.var(0) + bn.eps) * bn.params["gamma"] + bn.params["beta"]
        out.append(((z.mean(0), z.std(0)), (pre.mean(0), pre.std(0))))
        h = np.maximum(z, 0)
    return out


@pytest.mark.parametrize("bn", [False, True])
def test_shift_matches_a_hand_written_forward(bn):
    kw = dict(depth=3, width=16, epochs=2, lr=0.1, seed=2)
    res = batchnorm_shift(**kw, probe=128, seeds=1)
    cfg = TrainConfig(**kw, optimizer="sgd", schedule="cosine", init="he", activation="relu", batch_norm=bn)
    data = load("digits", 2)
    X = data.X_train[:128]
    start = _hand_stats(build_model(cfg, 64, 10), X)
    end = _hand_stats(train(cfg).model, X)
    t = res.tables["layers"]
    t = t[(t.run == (WITH_BN if bn else NO_BN)) & (t.stage == "activation input") & (t.epochs_trained == 2)]
    for k, row in enumerate(t.sort_values("layer").itertuples()):
        (mu, sd), (mu0, sd0) = end[k][0], start[k][0]
        want = np.sqrt(np.mean((mu - mu0) ** 2 + (sd - sd0) ** 2) / np.mean(sd0**2))
        assert row.shift == pytest.approx(want, rel=2e-3, abs=1e-5)
        assert row.mean == pytest.approx(mu.mean(), abs=1e-5)
    assert sorted(res.tables["layers"].epochs_trained.unique()) == [0, 1, 2]
    assert (res.tables["layers"].query("epochs_trained == 0")["shift"] == 0).all()


def test_shift_is_smaller_with_bn_beyond_seed_noise_and_said_so():
    res = batchnorm_shift(depth=6, epochs=3)
    s = res.summary
    nb, bn = s["shift_range_no_bn"], s["shift_range_with_bn"]
    assert bn[1] < nb[0]  # every seed with BN moved less than every seed without
    assert s["shift_reduced_beyond_noise"] is True
    assert "So BN does reduce this shift" in s["what_the_data_shows"]
    assert f"**{s['shift_no_bn']:.2f}**" in s["what_the_data_shows"]


def test_shift_at_the_page_defaults_over_three_seeds_is_a_stacked_comparison():
    # Page defaults (depth 10, SGD 0.1, 6 epochs, seeds 0-2). Measured: the activation input moved by
    # 1.63 initial stds without BN (seeds 1.27-1.88), 0.031 with BN (0.030-0.032).
    res = batchnorm_shift(seeds=3)
    s, runs = res.summary, res.tables["runs"]
    cmp = s["comparison"]
    after = "with BN (after BN)"
    assert cmp["baseline"] == NO_BN and cmp["metric"] == "shift" and cmp["seeds"] == [0, 1, 2]
    assert cmp["beyond_noise"][after] is True and cmp["diff"][after] < 0
    assert s["shift_reduced_beyond_noise"] is True and "bigger than seed noise" in s["what_the_data_shows"]
    # by hand: the runs table is the per-seed mean over layers of the last epoch's shifts
    lay = res.tables["layers"]
    for sd in (0, 1, 2):
        want = lay[(lay.series == NO_BN) & (lay.seed == sd) & (lay.epochs_trained == 6)]["shift"].mean()
        assert runs[(runs.series == NO_BN) & (runs.seed == sd)]["shift"].item() == pytest.approx(want)
    a = runs[runs.series == NO_BN]["shift"].to_numpy()
    b = runs[runs.series == after]["shift"].to_numpy()
    assert s["shift_range_no_bn"] == [pytest.approx(a.min()), pytest.approx(a.max())]
    assert abs(a.mean() - b.mean()) > max(np.ptp(a), np.ptp(b))
    band = res.tables["shift"].set_index(["series", "epochs_trained"])
    assert band.loc[(NO_BN, 6), "shift_min"] == pytest.approx(a.min())
    assert band.loc[(NO_BN, 6), "shift_max"] == pytest.approx(a.max())
    # one seed: no noise estimate, and no verdict
    one = batchnorm_shift(depth=3, width=16, epochs=2, seeds=1).summary
    assert one["shift_reduced_beyond_noise"] is None and "one seed: no noise estimate" in one["what_the_data_shows"]


def test_noise_batch_mean_follows_sampling_theory():
    # Sampling B of N values without replacement: sd(batch mean) = sigma / sqrt(B) * sqrt((N-B)/(N-1)).
    n = n_train_available("digits")
    res = batchnorm_noise(batch_sizes=(4, 16, 64), draws=400, epochs=1, seed=0)
    t = res.tables["noise"]
    for b in (4, 16, 64):
        got = t[(t.batch_size == b) & (t.measure == "batch mean")].value.item()
        expected = 1 / math.sqrt(b) * math.sqrt((n - b) / (n - 1))
        assert got == pytest.approx(expected, rel=0.1), b
        assert t[(t.batch_size == b) & (t.measure == "1/√B (theory)")].value.item() == pytest.approx(1 / math.sqrt(b))
    small = t[(t.measure == "normalised value")].set_index("batch_size").value
    assert small[4] > small[16] > small[64]


def test_noise_vanishes_when_the_batch_is_the_whole_data():
    n = n_train_available("digits")
    t = batchnorm_noise(batch_sizes=(n,), draws=10, epochs=1).tables["noise"]
    measured = t[t.kind == "measured"].value.to_numpy()
    np.testing.assert_allclose(measured, 0.0, atol=1e-9)


# --------------------------------------------------------------------------- train vs eval mode
def test_modes_eval_matches_independent_training():
    # eval-mode accuracy after epoch 2 equals an independent run evaluated by engine.train.evaluate,
    # which also shows the train-mode evaluation after epoch 1 left the running statistics intact
    res = batchnorm_modes(batch_sizes=(16,), epochs=2, depth=2, width=16, seed=3)
    curves = res.tables["curves"]
    h = train(
        TrainConfig(
            depth=2,
            width=16,
            epochs=2,
            batch_size=16,
            seed=3,
            batch_norm=True,
            optimizer="adam",
            lr=1e-3,
            schedule="constant",
        )
    )
    data = load("digits", 3)
    _, acc = evaluate(h.model, data.X_val.astype(np.float32), data.y_val)
    got = curves[(curves.epoch == 1) & (curves["mode"] == EVAL_MODE)].val_acc.item()  # epochs from 0
    assert got == pytest.approx(acc)
    gap = res.tables["gap"].iloc[0]
    assert gap.gap == pytest.approx(gap.eval_mode_acc - gap.train_mode_acc)
    assert set(curves["mode"]) == {EVAL_MODE, TRAIN_MODE}
    assert sorted(curves.epoch.unique()) == [0, 1]


def test_batch_stats_eval_uses_batch_statistics_and_restores_running_stats():
    h = train(TrainConfig(depth=1, width=8, epochs=1, batch_norm=True, seed=0))
    model = h.model
    data = load("digits", 0)
    X, y = data.X_val.astype(np.float32), data.y_val
    bn = next(layer for layer in model.layers if isinstance(layer, BatchNorm))
    before = (bn.running_mean.copy(), bn.running_var.copy())
    _, acc = _batch_stats_eval(model, X, y, len(X), np.random.default_rng(0))
    np.testing.assert_array_equal(bn.running_mean, before[0])
    np.testing.assert_array_equal(bn.running_var, before[1])
    # by hand: one batch = the whole validation set, normalised with its own statistics
    lin, _, _, out = model.layers
    z = X @ lin.params["W"]
    zn = (z - z.mean(0)) / np.sqrt(z.var(0) + bn.eps) * bn.params["gamma"] + bn.params["beta"]
    logits = np.maximum(zn, 0) @ out.params["W"] + out.params["b"]
    assert acc == pytest.approx(float((logits.argmax(1) == y).mean()))


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "fn, kwargs, field",
    [
        (batchnorm_article, {"layers": 0}, "layers"),
        (batchnorm_article, {"seed": -1}, "seed"),
        (batchnorm_lr, {"optimizer": "evil"}, "optimizer"),
        (batchnorm_lr, {"lrs": (-1.0,)}, "lrs"),
        (batchnorm_lr, {"lrs": (float("nan"),)}, "lrs"),
        (batchnorm_lr, {"depth": 0}, "depth"),
        (batchnorm_lr, {"epochs": 0}, "epochs"),
        (batchnorm_lr, {"depth": 100, "width": 1024, "epochs": 500}, "FLOPs"),
        (batchnorm_lr, {"seeds": 0}, "seeds"),
        (batchnorm_lr, {"seeds": 99}, "seeds"),
        (batchnorm_shift, {"optimizer": "evil"}, "optimizer"),
        (batchnorm_shift, {"seeds": 0}, "seeds"),
        (batchnorm_shift, {"seeds": 11}, "seeds"),
        (batchnorm_shift, {"probe": 1}, "probe"),
        (batchnorm_shift, {"depth": 0}, "depth"),
        (batchnorm_shift, {"lr": -1.0}, "lr"),
        (batchnorm_noise, {"layer": 9}, "layer"),
        (batchnorm_noise, {"batch_sizes": (1,)}, "batch_sizes"),
        (batchnorm_noise, {"draws": 1}, "draws"),
        (batchnorm_modes, {"batch_sizes": ()}, "batch_sizes"),
        (batchnorm_modes, {"batch_sizes": (0,)}, "batch_sizes"),
        (batchnorm_modes, {"epochs": 0}, "epochs"),
    ],
)
def test_bad_parameters_raise_value_error_naming_the_field(fn, kwargs, field):
    with pytest.raises(ValueError, match=field):
        fn(**kwargs)
