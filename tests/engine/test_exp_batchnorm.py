"""The batch-normalization experiments against the article's printed numbers and independent re-computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.datasets import load, n_train_available
from engine.experiments.batchnorm import (
    EVAL_MODE,
    NO_BN,
    TRAIN_MODE,
    WITH_BN,
    _batch_stats_eval,
    batchnorm_article,
    batchnorm_lr,
    batchnorm_modes,
    batchnorm_noise,
)
from engine.layers import BatchNorm
from engine.train import TrainConfig, evaluate, train

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
    res = batchnorm_lr(lrs=(0.1, 10.0), optimizer="sgd", depth=3, width=32, epochs=2, seed=0)
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


def test_lr_default_grid_spans_decades():
    from engine.experiments.batchnorm import DEFAULT_LRS

    for grid in DEFAULT_LRS.values():
        assert grid == tuple(sorted(grid)) and grid[-1] / grid[0] >= 100


# --------------------------------------------------------------------------- batch-size noise
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
    got = curves[(curves.epoch == 2) & (curves["mode"] == EVAL_MODE)].val_acc.item()
    assert got == pytest.approx(acc)
    gap = res.tables["gap"].iloc[0]
    assert gap.gap == pytest.approx(gap.eval_mode_acc - gap.train_mode_acc)
    assert set(curves["mode"]) == {EVAL_MODE, TRAIN_MODE}


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
