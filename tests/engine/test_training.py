"""Real training on the digits data, determinism, early stopping and divergence."""

from __future__ import annotations

import math

import numpy as np
import pytest

import engine.fused as fused
import engine.train as train_mod
from engine.datasets import load
from engine.early_stopping import EarlyStopping, stop_epoch
from engine.experiments.common import beyond_noise
from engine.train import RECIPES, History, TrainConfig, evaluate, train


def history_numbers(h: History):
    """Every number a History records (per-epoch lists, layer dicts and run-level fields)."""
    d = h.to_dict()
    out = []
    for key in ("epoch", "lr", "train_loss", "val_loss", "train_acc", "val_acc"):
        out += [(key, v) for v in d[key]]
    for row in d["layers"]:
        out += [(f"layers.{k}", v) for k, v in row.items() if v is not None]
    out += [
        (k, d[k])
        for k in ("best_epoch", "stopped_epoch", "diverged_epoch", "final_val_acc", "seconds")
        if d[k] is not None
    ]
    return out


def assert_all_finite(h: History):
    bad = [(k, v) for k, v in history_numbers(h) if not (isinstance(v, (int, float)) and math.isfinite(v))]
    assert not bad, bad[:5]


def comparable(h: History) -> dict:
    d = h.to_dict()
    d.pop("seconds")
    return d


# ------------------------------------------------------------------------------------------
# the recipe works, the classic recipe does not
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    return load("digits", 0)


def test_modern_recipe_learns_digits(digits):
    cfg = RECIPES["modern"].replace(depth=6, epochs=15)
    h = train(cfg, data=digits)
    assert h.diverged_epoch is None and len(h.epoch) == 15
    assert h.final_val_acc >= 0.90, h.val_acc
    assert h.val_loss[-1] < h.val_loss[0]
    assert_all_finite(h)
    # the lr followed the schedule the trainer promises (warmup 10% then cosine)
    np.testing.assert_allclose(h.lr, [train_mod.lr_at(cfg.schedule, e, 15, cfg.lr, cfg.warmup) for e in range(15)])
    # per-layer diagnostics: one row per (epoch, linear layer)
    assert len(h.layers) == 15 * (cfg.depth + 1)


def test_classic_recipe_fails_at_the_same_depth(digits):
    h = train(RECIPES["classic"].replace(depth=6, epochs=15), data=digits)
    assert h.final_val_acc <= 0.30, h.val_acc  # sigmoid + small init + SGD: stuck near chance (0.1)
    assert_all_finite(h)


# ------------------------------------------------------------------------------------------
# determinism
# ------------------------------------------------------------------------------------------

SMALL = TrainConfig(depth=3, width=32, epochs=3, dropout=0.2, batch_size=128, seed=5)


def test_same_config_and_seed_give_identical_history():
    a, b = train(SMALL), train(SMALL)
    assert comparable(a) == comparable(b)
    c = train(SMALL.replace(seed=6))
    assert comparable(c)["val_loss"] != comparable(a)["val_loss"]


# ------------------------------------------------------------------------------------------
# early stopping inside train()
# ------------------------------------------------------------------------------------------

#: Small training subset + constant lr: overfits within a few epochs, so early stopping fires.
OVERFIT = TrainConfig(
    n_train=100, depth=2, width=64, lr=1e-2, schedule="constant", epochs=80, patience=5, batch_size=32
)


@pytest.fixture(scope="module")
def overfit_split():
    return load(OVERFIT.dataset, OVERFIT.seed, OVERFIT.n_train)


def test_early_stopping_restores_the_best_weights(overfit_split):
    h = train(OVERFIT)
    assert h.stop_reason == "early_stopping"
    assert h.stopped_epoch == h.epoch[-1] < OVERFIT.epochs - 1
    assert h.stopped_epoch - h.best_epoch == OVERFIT.patience
    assert h.best_epoch == int(np.argmin(h.val_loss))
    assert h.val_loss[-1] > h.val_loss[h.best_epoch]  # the last weights are worse: restoring matters
    assert h.final_val_acc == h.val_acc[h.best_epoch]
    loss, acc = evaluate(h.model, overfit_split.X_val, overfit_split.y_val)
    assert acc == h.final_val_acc
    assert loss == pytest.approx(h.val_loss[h.best_epoch], rel=1e-6)


def test_without_restore_the_last_weights_are_kept(overfit_split):
    h = train(OVERFIT.replace(restore_best=False))
    assert h.stop_reason == "early_stopping"
    assert h.final_val_acc == h.val_acc[-1]
    loss, acc = evaluate(h.model, overfit_split.X_val, overfit_split.y_val)
    assert acc == h.val_acc[-1]
    assert loss == pytest.approx(h.val_loss[-1], rel=1e-6)


def test_on_epoch_false_stops_the_run():
    calls = []
    h = train(SMALL.replace(epochs=5), on_epoch=lambda e, hist: calls.append(e) or e < 1)
    assert calls == [0, 1] and h.stop_reason == "callback" and len(h.epoch) == 2


# ------------------------------------------------------------------------------------------
# divergence
# ------------------------------------------------------------------------------------------


def _count_losses(monkeypatch):
    """Record every loss train() computes (training batches and validation)."""
    seen = []
    real = train_mod.softmax_cross_entropy

    def spy(logits, y):
        loss, d = real(logits, y)
        seen.extend(np.ravel(loss).tolist())  # (a stack of one gives one loss per member)
        return loss, d

    for mod in (train_mod, fused):  # the readable step and evaluate, the fast path's step
        monkeypatch.setattr(mod, "softmax_cross_entropy", spy)
    return seen


def test_diverging_run_stops_at_the_first_non_finite_loss(monkeypatch):
    seen = _count_losses(monkeypatch)
    h = train(TrainConfig(lr=10, init="large", batch_norm=False, optimizer="sgd", epochs=5))
    assert h.diverged_epoch is not None and h.stop_reason == "diverged"
    assert len(h.epoch) == h.diverged_epoch  # only the finite epochs are recorded
    assert not math.isfinite(seen[-1]) and all(math.isfinite(v) for v in seen[:-1])  # stopped right there
    assert_all_finite(h)


def test_divergence_after_finite_epochs_keeps_only_finite_numbers(monkeypatch):
    """Plain SGD at lr = 1 without BN: finite for a few epochs, then non-finite (seeds 0-2 diverge at
    epochs 4, 2 and 5 on the reference build; at least one must diverge after recording epochs)."""
    late = []
    seen = _count_losses(monkeypatch)
    for seed in (0, 1, 2):
        seen.clear()
        h = train(
            TrainConfig(
                lr=2.0,
                init="he",
                batch_norm=False,
                optimizer="sgd",
                depth=3,
                width=32,
                schedule="constant",
                epochs=10,
                seed=seed,
            )
        )
        if h.diverged_epoch is None:
            continue
        assert h.stop_reason == "diverged"
        assert len(h.epoch) == h.diverged_epoch
        assert not math.isfinite(seen[-1]) and all(math.isfinite(v) for v in seen[:-1])
        assert_all_finite(h)
        if h.diverged_epoch > 0:
            late.append(seed)
            assert h.final_val_acc == h.val_acc[-1]
            assert len(h.layers) == h.diverged_epoch * 4  # 3 hidden + output layer per epoch
            assert len(history_numbers(h)) > 6 * h.diverged_epoch
    assert late, "no candidate run diverged after recording a finite epoch"


# ------------------------------------------------------------------------------------------
# EarlyStopping semantics
# ------------------------------------------------------------------------------------------


def test_improvement_means_below_best_minus_min_delta():
    es = EarlyStopping(patience=2, min_delta=0.1)
    assert es.check(1.0) is False and (es.best_loss, es.best_epoch, es.counter) == (1.0, 0, 0)
    assert es.check(0.95) is False and es.counter == 1  # 0.95 is not < 1.0 - 0.1
    assert es.check(0.85) is False and (es.best_loss, es.best_epoch, es.counter) == (0.85, 2, 0)
    assert es.check(0.8) is False and es.counter == 1  # 0.8 is not < 0.75
    assert es.check(0.76) is True and es.counter == 2  # patience exhausted
    assert es.best_epoch == 2


def test_equal_loss_is_not_an_improvement():
    es = EarlyStopping(patience=1)
    es.check(0.5)
    assert es.check(0.5) is True and es.best_epoch == 0


def test_best_weights_are_copies():
    w = [np.array([1.0, 2.0]), np.array([[3.0]])]
    es = EarlyStopping(patience=3)
    es.check(1.0, w)
    w[0][0] = 99.0
    w[1] += 1.0
    np.testing.assert_array_equal(es.best_weights[0], [1.0, 2.0])
    np.testing.assert_array_equal(es.best_weights[1], [[3.0]])
    assert es.best_weights[0] is not w[0]
    es.check(2.0, w)  # not an improvement: best weights untouched
    np.testing.assert_array_equal(es.best_weights[0], [1.0, 2.0])


def test_stop_epoch_replay():
    # losses 3, 2, 1, 1.5, 1.6, 1.7: best at epoch 2; patience 3 stops at epoch 5
    assert stop_epoch([3, 2, 1, 1.5, 1.6, 1.7], patience=3) == (5, 2)
    assert stop_epoch([3, 2, 1, 1.5, 1.6], patience=3) == (None, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(patience=0),
        dict(patience=-1),
        dict(patience=1.5),
        dict(patience=True),
        dict(min_delta=-0.1),
        dict(min_delta=math.nan),
        dict(min_delta=math.inf),
    ],
)
def test_early_stopping_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        EarlyStopping(**kwargs)


def test_train_metrics_are_eval_mode_passes_over_the_training_split():
    """With dropout 0.3 the running training-mode average sits above the validation loss; the
    eval-mode train loss, recomputed here from the returned weights, sits below it (the net fits)."""
    cfg = TrainConfig(depth=3, width=128, dropout=0.3, epochs=30, batch_norm=False, schedule="constant")
    h = train(cfg)
    split = load("digits", 0)
    X = split.X_train.astype(np.float32)
    loss, acc = evaluate(h.model, X, split.y_train)
    assert h.train_loss[-1] == pytest.approx(loss, rel=1e-5) and h.train_acc[-1] == pytest.approx(acc)
    assert h.train_loss[-1] <= h.val_loss[-1]
    assert h.train_loss_running[-1] > h.train_loss[-1]  # dropout's noise is in the running average only
    t_loss, t_acc = evaluate(h.model, split.X_test.astype(np.float32), split.y_test)
    assert h.test_loss[-1] == pytest.approx(t_loss, rel=1e-5)
    assert h.final_test_acc == pytest.approx(t_acc) == h.test_acc[-1]
    assert len(h.test_acc) == len(h.train_loss_running) == len(h.epoch) == 30


def test_final_test_acc_is_of_the_restored_weights_and_test_never_chooses():
    cfg = TrainConfig(depth=3, width=64, batch_norm=False, epochs=40, patience=3, schedule="constant", lr=3e-3)
    h = train(cfg)
    assert h.stop_reason == "early_stopping"
    assert h.best_epoch == int(np.argmin(h.val_loss))  # validation chooses
    split = load("digits", 0)
    _, acc = evaluate(h.model, split.X_test.astype(np.float32), split.y_test)
    assert h.final_test_acc == pytest.approx(acc) == h.test_acc[h.best_epoch]
    # the same run with another test split would choose the same epoch: test labels shuffled change nothing
    rng = np.random.default_rng(0)
    shuffled = type(split)(**{**split.__dict__, "y_test": rng.permutation(split.y_test)})
    other = train(cfg, data=shuffled)
    assert other.best_epoch == h.best_epoch and other.val_loss == h.val_loss


def test_eval_train_false_skips_only_the_train_pass():
    cfg = TrainConfig(depth=2, width=32, epochs=3, dropout=0.2)
    on, off = train(cfg), train(cfg, eval_train=False)
    assert all(math.isnan(v) for v in off.train_loss + off.train_acc)
    assert off.val_loss == on.val_loss and off.test_acc == on.test_acc  # the eval pass draws nothing
    assert off.train_loss_running == on.train_loss_running


def test_label_noise_makes_early_stopping_pay_off():
    """30 % of the training labels flipped (depth 3, width 256, Adam 1e-3, constant lr, 60 epochs):
    the weights at the best validation epoch beat the last ones on validation and on test, over
    seeds 0-2, by more than the seed spread."""
    cfg = TrainConfig(depth=3, width=256, batch_norm=False, lr=1e-3, schedule="constant", epochs=60, label_noise=0.3)
    best, last, tbest, tlast = [], [], [], []
    for seed in (0, 1, 2):
        h = train(cfg.replace(seed=seed))
        b = int(np.argmin(h.val_loss))
        best.append(h.val_acc[b])
        last.append(h.val_acc[-1])
        tbest.append(h.test_acc[b])
        tlast.append(h.test_acc[-1])
    assert min(best) > max(last) and beyond_noise(tbest, tlast) and np.mean(tbest) > np.mean(tlast)
