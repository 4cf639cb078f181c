"""The dropout experiments against the article's printed samples and independent re-computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.datasets import load
from engine.experiments.dropout import INVERTED, UNSCALED, dropout, dropout_article, run_label
from engine.train import TrainConfig, evaluate, train

# Printed by the article's dropout snippet (np.random.seed(42); a = [1..8]; rate 0.5; four calls):
#   Dropout sample 1:    [ 0.  4.  6.  8.  0.  0.  0. 16.]   Mean: 4.25  Active: 4/8
#   Dropout sample 2:    [ 2.  4.  0.  8. 10.  0.  0.  0.]   Mean: 3.00  Active: 4/8
#   Dropout sample 3:    [ 0.  4.  0.  0. 10.  0.  0.  0.]   Mean: 1.75  Active: 2/8
#   Dropout sample 4:    [ 0.  4.  0.  8. 10.  0. 14.  0.]   Mean: 4.50  Active: 4/8
ARTICLE_SAMPLES = [
    [0, 4, 6, 8, 0, 0, 0, 16],
    [2, 4, 0, 8, 10, 0, 0, 0],
    [0, 4, 0, 0, 10, 0, 0, 0],
    [0, 4, 0, 8, 10, 0, 14, 0],
]
ARTICLE_MEANS = [4.25, 3.00, 1.75, 4.50]
ARTICLE_ACTIVE = [4, 4, 2, 4]


def test_samples_match_article_exactly():
    res = dropout_article(rate=0.5)
    wide = res.tables["samples"]
    values = wide[[f"a{j}" for j in range(1, 9)]].to_numpy()
    np.testing.assert_array_equal(values, np.array(ARTICLE_SAMPLES, dtype=float))
    assert [round(m, 2) for m in wide["mean"]] == ARTICLE_MEANS
    assert wide["active"].tolist() == ARTICLE_ACTIVE
    assert res.summary["sample_means"] == ARTICLE_MEANS
    cells = res.tables["mask_cells"]
    assert (cells.kept == "kept").sum() == sum(ARTICLE_ACTIVE)


def test_monte_carlo_keeps_the_mean_and_unscaled_shrinks_it():
    p, n = 0.5, 100_000
    res = dropout_article(rate=p, mc_samples=n)
    s = res.summary
    # by hand: one dropped vector's mean has sd sqrt(sum(a^2) p/(1-p)) / 8 = sqrt(204) / 8 = 1.78536
    assert s["single_sample_mean_std"] == pytest.approx(math.sqrt(204) / 8)
    se = s["single_sample_mean_std"] / math.sqrt(n)
    assert abs(s["mc_mean_inverted"] - 4.5) < 4 * se
    assert abs(s["mc_mean_unscaled"] - 2.25) < 4 * se * (1 - p)
    assert s["expected_unscaled"] == pytest.approx(2.25)
    assert abs(s["mc_kept_fraction"] - 0.5) < 4 * math.sqrt(0.25 / (8 * n))
    mc = res.tables["monte_carlo"]
    inv = mc[mc.series == INVERTED].set_index("n_samples").running_mean
    # the first mask of the Monte-Carlo run is the article's first sample
    assert inv[1] == pytest.approx(ARTICLE_MEANS[0])
    assert inv[n] == pytest.approx(s["mc_mean_inverted"])
    unsc = mc[mc.series == UNSCALED].set_index("n_samples").running_mean
    np.testing.assert_allclose(unsc.to_numpy(), inv.to_numpy() * (1 - p))
    band = res.tables["mc_band"]
    assert (band.upper - band.lower).is_monotonic_decreasing


def test_eval_mode_is_identity_and_rate_zero_keeps_everything():
    assert dropout_article(rate=0.3).summary["eval_is_identity"]
    wide = dropout_article(rate=0.0).tables["samples"]
    np.testing.assert_array_equal(wide[[f"a{j}" for j in range(1, 9)]].to_numpy()[0], np.arange(1.0, 9.0))


def test_other_rates_scale_survivors_by_one_over_keep():
    p = 0.25
    cells = dropout_article(rate=p).tables["mask_cells"]
    kept = cells[cells.kept == "kept"]
    np.testing.assert_allclose(kept.output, kept.input / (1 - p))


def test_real_run_matches_independent_training():
    kw = dict(n_train=60, width=32, depth=1, epochs=3, lr=3e-3, batch_size=32, seed=1)
    res = dropout(rates=(0.5, 0.0), **kw)
    table = res.tables["summary"].set_index("run")
    assert list(table.index) == [run_label(0.0), run_label(0.5)]  # sorted by rate
    cfg = TrainConfig(
        n_train=60,
        width=32,
        depth=1,
        epochs=3,
        lr=3e-3,
        batch_size=32,
        seed=1,
        dropout=0.5,
        batch_norm=False,
        optimizer="adam",
        schedule="constant",
    )
    h = train(cfg)
    data = load("digits", 1, 60)
    _, train_acc = evaluate(h.model, data.X_train.astype(np.float32), data.y_train)
    row = table.loc[run_label(0.5)]
    assert row.final_val_acc == pytest.approx(h.val_acc[-1])
    assert row.final_train_acc == pytest.approx(train_acc)  # measured with dropout off
    assert row.gap == pytest.approx(train_acc - h.val_acc[-1])
    curves = res.tables["curves"]
    assert curves[curves.run == run_label(0.5)].train_acc_with_dropout.tolist() == pytest.approx(h.train_acc)
    long = res.tables["curves_long"]
    assert len(long) == 2 * len(curves) and set(long.split) == {"train", "validation"}


@pytest.mark.parametrize(
    "fn, kwargs, field",
    [
        (dropout_article, {"rate": 1.5}, "rate"),
        (dropout_article, {"rate": -0.1}, "rate"),
        (dropout_article, {"rate": float("nan")}, "rate"),
        (dropout_article, {"samples": 0}, "samples"),
        (dropout_article, {"mc_samples": 1}, "mc_samples"),
        (dropout, {"rates": (1.5,)}, "rates"),
        (dropout, {"rates": ()}, "rates"),
        (dropout, {"n_train": 5}, "n_train"),
        (dropout, {"width": 0}, "width"),
        (dropout, {"epochs": 0}, "epochs"),
        (dropout, {"lr": -1.0}, "lr"),
        (dropout, {"n_train": 1400, "width": 1024, "depth": 4, "epochs": 500}, "FLOPs"),
    ],
)
def test_bad_parameters_raise_value_error_naming_the_field(fn, kwargs, field):
    with pytest.raises(ValueError, match=field):
        fn(**kwargs)
