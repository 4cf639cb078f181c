"""Stacked training: K same-shape configs trained as one network give each member its lone run.

The reference for every member is ``train(config)`` alone, whose own correctness the gradient
checks, the golden files and the live PyTorch parity establish. Both train with the fast path
(:mod:`engine.fused`), ``train`` overlapping its update with the backward pass; the fused updates
are checked against the readable ones in tests/engine/test_fused.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.datasets import load
from engine.experiments.common import train_many
from engine.train import STACK_SHARED, TrainConfig, train, train_stacked

BASE = TrainConfig(dataset="digits", n_train=240, depth=3, width=16, batch_size=32, epochs=8, batch_norm=True)

#: Members that differ in seed, init, lr, dropout and patience (an early stopper among them).
MEMBERS = [
    BASE.replace(seed=0),
    BASE.replace(seed=1, init="xavier", lr=3e-3, dropout=0.2),
    BASE.replace(seed=2, lr=0.1, schedule="constant", patience=1),  # stops early at epoch 3
    BASE.replace(seed=3, init="glorot", lr=0.1, schedule="constant", dropout=0.1, patience=2, restore_best=False),
    BASE.replace(seed=0, lr=2e-3, schedule="constant", weight_decay=0.01),
]


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))) if a.size else 0.0


def _same_run(stacked, alone, rtol, atol_acc):
    assert stacked.epoch == alone.epoch
    for f in ("best_epoch", "stopped_epoch", "diverged_epoch", "stop_reason"):
        assert getattr(stacked, f) == getattr(alone, f), f
    assert stacked.lr == pytest.approx(alone.lr, rel=1e-12)
    for f in ("train_loss", "val_loss"):
        assert _rel(getattr(stacked, f), getattr(alone, f)) <= rtol, f
    for f in ("train_acc", "val_acc"):
        assert np.max(np.abs(np.subtract(getattr(stacked, f), getattr(alone, f))), initial=0) <= atol_acc, f
    assert abs(stacked.final_val_acc - alone.final_val_acc) <= atol_acc
    assert len(stacked.layers) == len(alone.layers)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_float64_members_equal_their_lone_runs(k):
    configs = MEMBERS[:k]
    stacked = train_stacked(configs, dtype=np.float64)
    if k >= 3:  # a member leaves the stack early; the others go on without it
        assert stacked[2].stop_reason == "early_stopping" and stacked[2].stopped_epoch < BASE.epochs - 1
    for cfg, h in zip(configs, stacked):
        alone = train(cfg, dtype=np.float64)
        _same_run(h, alone, rtol=1e-9, atol_acc=0)
        # the member's model is what the lone run returns (restored best weights included)
        for a, b in zip(h.model.state(), alone.model.state(), strict=True):
            assert np.linalg.norm(a - b) <= 1e-9 * np.linalg.norm(b)
        for ra, rb in zip(h.layers, alone.layers):
            for key in ("act_mean", "act_std", "grad_norm", "update_ratio", "dead_frac"):
                if ra[key] is None or rb[key] is None:
                    assert ra[key] == rb[key]
                else:
                    assert ra[key] == pytest.approx(rb[key], rel=1e-9, abs=1e-12), key


#: float32 members: learning rates at which 5 epochs are not chaotic (at lr 0.1, float32 rounding
#: alone, lone run against lone run, moves the val accuracy by several points).
MEMBERS_32 = [
    c.replace(epochs=5, n_train=None, lr=min(c.lr, 5e-3), patience=c.patience and 1, schedule="warmup_cosine")
    for c in MEMBERS
]


def test_stacked_and_lone_readable_runs_are_bit_for_bit_equal_in_float32():
    """The stack adds nothing of its own: with the same (readable) update every number is identical."""
    for cfg, h in zip(MEMBERS_32, train_stacked(MEMBERS_32, fused=False)):
        alone = train(cfg, fused=False)
        assert (h.train_loss, h.val_loss, h.val_acc) == (alone.train_loss, alone.val_loss, alone.val_acc)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_float32_members_match_their_lone_runs(k):
    configs = MEMBERS_32[:k]
    for cfg, h in zip(configs, train_stacked(configs)):
        _same_run(h, train(cfg), rtol=1e-3, atol_acc=0.01)


def test_the_readable_update_gives_the_same_run_as_the_fast_one():
    configs = MEMBERS[:3]
    fast = train_stacked(configs, dtype=np.float64)
    readable = train_stacked(configs, dtype=np.float64, fused=False)
    for a, b in zip(fast, readable):
        _same_run(a, b, rtol=1e-9, atol_acc=0)


@pytest.mark.parametrize("field", STACK_SHARED)
def test_a_mismatch_in_a_shared_field_names_it(field):
    other = {
        "dataset": "spirals",
        "n_train": 200,
        "depth": 4,
        "width": 8,
        "activation": "tanh",
        "batch_norm": False,
        "residual": True,
        "optimizer": "sgd",
        "batch_size": 16,
        "epochs": 3,
    }[field]
    with pytest.raises(ValueError, match=rf"^{field} must be the same for every member"):
        train_stacked([BASE, BASE.replace(**{field: other})])


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="at least one TrainConfig"):
        train_stacked([])
    with pytest.raises(ValueError, match="config must be a TrainConfig"):
        train_stacked([BASE, {"seed": 1}])
    with pytest.raises(ValueError, match="one Split per member"):
        train_stacked([BASE, BASE.replace(seed=1)], data=[load("digits", 0, 240)])


def test_data_per_member_is_used_as_given():
    """Member 1 trained on member 0's split equals a lone run given that split."""
    split = load("digits", 0, 240)
    configs = [BASE.replace(seed=0, epochs=3), BASE.replace(seed=1, epochs=3)]
    stacked = train_stacked(configs, data=[split, split], dtype=np.float64)
    alone = train(configs[1], data=split, dtype=np.float64)
    _same_run(stacked[1], alone, rtol=1e-9, atol_acc=0)
    assert stacked[1].val_loss != train(configs[1], dtype=np.float64).val_loss  # its own split differs


def test_on_epoch_stops_only_the_member_that_asks():
    configs = [BASE.replace(seed=s, epochs=4) for s in range(3)]
    calls = []

    def cb(epoch, hist):
        calls.append((hist.config.seed, epoch))
        assert hist.model is not None
        return not (hist.config.seed == 1 and epoch == 1)

    hs = train_stacked(configs, on_epoch=cb, dtype=np.float64)
    assert [h.stop_reason for h in hs] == [None, "callback", None]
    assert hs[1].epoch == [0, 1] and hs[1].stopped_epoch == 1
    assert hs[0].epoch == hs[2].epoch == [0, 1, 2, 3]
    assert sorted(calls) == sorted([(s, e) for s in (0, 2) for e in range(4)] + [(1, 0), (1, 1)])
    _same_run(hs[2], train(configs[2], dtype=np.float64), rtol=1e-9, atol_acc=0)


def test_on_epoch_sees_the_members_current_weights():
    """The model handed to on_epoch evaluates like the weights the run has reached."""
    from engine.train import evaluate

    split = load("digits", 1, 240)
    seen = []
    cfg = BASE.replace(seed=1, epochs=3)
    train_stacked(
        [BASE.replace(epochs=3), cfg],
        on_epoch=lambda e, h: seen.append(
            (h.config.seed, evaluate(h.model, split.X_val, split.y_val)[0], h.val_loss[-1])
        ),
    )
    for seed, loss, recorded in seen:
        if seed == 1:
            assert loss == pytest.approx(recorded, rel=1e-5)


def test_diverging_members_leave_the_others_as_alone():
    """Plain SGD without BN in float64: lr 10 (seed 2) blows up in epoch 0, lr 1.5 (seed 1) in
    epoch 2; their stack-mates' runs are unchanged."""
    base = TrainConfig(depth=3, width=32, batch_norm=False, optimizer="sgd", schedule="constant", epochs=6)
    configs = [base.replace(lr=0.1, seed=0), base.replace(lr=10, seed=2), base.replace(lr=1.5, seed=1)]
    hs = train_stacked(configs, dtype=np.float64)
    assert hs[1].stop_reason == "diverged" and hs[1].diverged_epoch == 0
    assert hs[2].stop_reason == "diverged" and hs[2].diverged_epoch > 0
    assert hs[0].stop_reason is None and len(hs[0].epoch) == 6
    for cfg, h in zip(configs, hs):
        alone = train(cfg, dtype=np.float64)
        if h.epoch:
            _same_run(h, alone, rtol=1e-9, atol_acc=0)
        assert (h.epoch, h.diverged_epoch) == (alone.epoch, alone.diverged_epoch)
        assert all(math.isfinite(v) for v in h.train_loss + h.val_loss)
        for a, b in zip(h.model.state(), alone.model.state(), strict=True):  # the weights left when it blew up
            np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
            np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=1e-9, atol=1e-12)


# --------------------------------------------------------------------------- train_many


def test_train_many_stacks_same_shape_configs_and_keeps_labels(monkeypatch):
    import engine.experiments.common as common

    calls = []
    real = common.train_stacked
    monkeypatch.setattr(common, "train_stacked", lambda cs, **kw: calls.append(len(cs)) or real(cs, **kw))
    base = BASE.replace(epochs=3)
    configs = {
        "a": base,
        "wide": base.replace(width=24),
        "b": base.replace(seed=5, lr=3e-3),
        "c": base.replace(dropout=0.3),
    }
    out = common.train_many(configs)
    assert calls == [3, 1] and list(out) == list(configs)
    for label, cfg in configs.items():  # float32, bit for bit the lone runs
        assert out[label].val_loss == train(cfg).val_loss, label


def test_train_many_time_cap_stops_a_stack_and_keeps_its_finished_epochs():
    base = BASE.replace(epochs=5)
    configs = {"a": base, "b": base.replace(seed=1), "other": base.replace(width=24)}
    seen = []

    def progress(fraction, message):
        seen.append((round(fraction, 6), message))
        return len(seen) < 2  # the cap strikes after the stack's second epoch

    out = train_many(configs, progress)
    assert seen == [(round(2 / 15, 6), "a and 1 more: epoch 1/5"), (round(4 / 15, 6), "a and 1 more: epoch 2/5")]
    assert list(out) == ["a", "b"]  # the next stack never started
    for h in out.values():
        assert h.epoch == [0, 1] and h.stop_reason == "callback" and h.stopped_epoch == 1


def test_train_many_splits_a_stack_over_the_memory_budget(monkeypatch):
    import engine.experiments.common as common

    calls = []
    real = common.train_stacked
    monkeypatch.setattr(common, "train_stacked", lambda cs, **kw: calls.append(len(cs)) or real(cs, **kw))
    monkeypatch.setattr(common, "max_members", lambda cfg: 2)
    common.train_many({f"s{s}": BASE.replace(seed=s, epochs=1) for s in range(5)})
    assert calls == [2, 2, 1]
