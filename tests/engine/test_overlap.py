"""The overlapped optimiser step (``Optimizer.stepping`` + ``MLP.backward(on_block=...)``) and
the BLAS thread policy of training: the same numbers, bit for bit, as the plain step."""

from __future__ import annotations

import numpy as np
import pytest

import engine.optim as optim
from engine.datasets import load
from engine.losses import softmax_cross_entropy
from engine.network import MLP
from engine.optim import SGD, Adam, AdamW
from engine.train import TrainConfig, train, train_step

MAKERS = {
    "adam": lambda: Adam(1e-2),
    "adam_l2": lambda: Adam(1e-2, weight_decay=1e-2),
    "adamw": lambda: AdamW(1e-2, weight_decay=0.1),
    "momentum": lambda: SGD(0.1, momentum=0.9, weight_decay=1e-3),
    "sgd": lambda: SGD(0.1),
}


@pytest.fixture
def threaded(monkeypatch):
    """Overlap every update in a thread, in small pieces (so one step hands over several)."""
    monkeypatch.setattr(optim, "THREADS", 2)
    monkeypatch.setattr(optim, "OVERLAP_MIN", 0)
    monkeypatch.setattr(optim, "HANDOFF_MIN", 500)
    monkeypatch.setattr(optim, "CHUNK", 256)


def _twins(residual, dropout, dtype=np.float64):
    return [
        MLP(
            [8, 40, 40, 30, 3],
            batch_norm=True,
            residual=residual,
            dropout=dropout,
            rng=np.random.default_rng(0),
            dtype=dtype,
        )
        for _ in range(2)
    ]


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("residual,dropout", [(False, 0.0), (True, 0.2)])
def test_stepping_equals_step_bit_for_bit(threaded, name, residual, dropout):
    plain, overlapped = _twins(residual, dropout)
    opts = MAKERS[name](), MAKERS[name]()
    assert opts[1].overlaps(overlapped.layers)
    rng = np.random.default_rng(1)
    for _ in range(4):
        x, y = rng.standard_normal((16, 8)), rng.integers(0, 3, 16)
        _, d = softmax_cross_entropy(plain.forward(x), y)
        plain.backward(d)
        opts[0].step(plain.layers)
        _, d = softmax_cross_entropy(overlapped.forward(x), y)
        with opts[1].stepping(overlapped.layers) as ready:
            overlapped.backward(d, on_block=ready)
    for a, b in zip(plain.state(), overlapped.state(), strict=True):
        np.testing.assert_array_equal(a, b)
    for la, lb in zip(plain.layers, overlapped.layers):
        for k in la.grads:
            np.testing.assert_array_equal(la.grads[k], lb.grads[k])


def test_stepping_without_threads_is_step(monkeypatch):
    monkeypatch.setattr(optim, "THREADS", 1)
    plain, other = _twins(False, 0.0)
    opts = Adam(1e-2), Adam(1e-2)
    assert not opts[1].overlaps(other.layers)
    x, y = np.random.default_rng(2).standard_normal((16, 8)), np.arange(16) % 3
    for model, opt in zip((plain, other), opts):
        _, d = softmax_cross_entropy(model.forward(x), y)
        if model is plain:
            model.backward(d)
            opt.step(model.layers)
        else:
            with opt.stepping(model.layers) as ready:
                model.backward(d, on_block=ready)  # the deferred weight grads run at once
    for a, b in zip(plain.state(), other.state(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_layers_never_reported_are_updated_on_exit(threaded):
    plain, other = _twins(False, 0.0)
    opts = Adam(1e-2), Adam(1e-2)
    x, y = np.random.default_rng(3).standard_normal((16, 8)), np.arange(16) % 3
    for model, opt in zip((plain, other), opts):
        _, d = softmax_cross_entropy(model.forward(x), y)
        model.backward(d)
        if model is plain:
            opt.step(model.layers)
        else:
            with opt.stepping(model.layers) as ready:
                ready(model.layers[:2])  # some reported, the rest not
    for a, b in zip(plain.state(), other.state(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_error_in_the_backward_pass_propagates(threaded):
    model = _twins(False, 0.0)[0]
    opt = Adam(1e-2)
    _, d = softmax_cross_entropy(model.forward(np.ones((4, 8))), np.arange(4) % 3)
    with pytest.raises(RuntimeError, match="boom"):
        with opt.stepping(model.layers) as ready:
            model.backward(d, on_block=ready)
            raise RuntimeError("boom")
    # the optimiser still works afterwards (its thread stopped)
    with opt.stepping(model.layers) as ready:
        model.backward(d, on_block=ready)
    assert all(np.all(np.isfinite(a)) for a in model.state())


def test_train_step_skips_the_update_on_a_non_finite_loss(threaded):
    model = _twins(False, 0.0)[0]
    before = [p.copy() for layer in model.layers for p in layer.params.values()]
    loss, logits = train_step(model, Adam(1e-2), np.full((4, 8), np.nan), np.arange(4) % 3)
    assert not np.isfinite(loss) and logits.shape == (4, 3)
    for a, b in zip(before, [p for layer in model.layers for p in layer.params.values()], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(n_train=300, depth=3, width=64, epochs=3, batch_size=32, schedule="constant"),
        TrainConfig(n_train=300, depth=2, width=32, epochs=2, optimizer="momentum", residual=True, dropout=0.1),
    ],
)
def test_train_is_the_same_with_the_overlap(monkeypatch, cfg):
    data = load("digits", 0, cfg.n_train)
    monkeypatch.setattr(optim, "THREADS", 1)
    plain = train(cfg, data=data)
    monkeypatch.setattr(optim, "THREADS", 2)
    monkeypatch.setattr(optim, "OVERLAP_MIN", 0)
    monkeypatch.setattr(optim, "HANDOFF_MIN", 1000)
    overlapped = train(cfg, data=data)
    a, b = plain.to_dict(), overlapped.to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    for x, y in zip(plain.model.state(), overlapped.model.state(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_blas_threads_restores_the_setting(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(optim, "THREADS", 2)
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("no BLAS library threadpoolctl can see")
    lib = blas.lib_controllers[0]
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        outer = lib.get_num_threads()
        with optim.blas_threads(1):
            assert lib.get_num_threads() == 1
        assert lib.get_num_threads() == outer
        with optim.blas_threads(None):
            assert lib.get_num_threads() == outer


@pytest.mark.parametrize("quiet", [False, True])
def test_forward_threads_follow_openblas_spin(monkeypatch, quiet):
    """With an overlapping update, the forward pass keeps both BLAS threads only when OpenBLAS's
    idle threads sleep at once (engine.BLAS_SPIN); the backward pass always runs on one."""
    import engine.train as train_mod

    threadpoolctl = pytest.importorskip("threadpoolctl")
    lib = next(iter(threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers), None)
    if lib is None:
        pytest.skip("no BLAS library threadpoolctl can see")
    monkeypatch.setattr(optim, "THREADS", 2)
    monkeypatch.setattr(optim, "OVERLAP_MIN", 0)
    monkeypatch.setattr(train_mod, "QUIET_BLAS", quiet)
    monkeypatch.setattr(train_mod, "BLAS_SINGLE_MAX", 0)  # these small matmuls count as big
    model = MLP([8, 40, 40, 3], batch_norm=True, rng=np.random.default_rng(0), dtype=np.float32)
    opt = Adam(1e-2)
    assert opt.overlaps(model.layers)
    seen = []
    backward = model.backward
    monkeypatch.setattr(model, "backward", lambda *a, **k: (seen.append(lib.get_num_threads()), backward(*a, **k))[1])
    x, y = np.random.default_rng(1).standard_normal((16, 8)).astype(np.float32), np.arange(16) % 3
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        with train_mod.step_threads(model, opt, 16):
            forward_threads = lib.get_num_threads()
            train_step(model, opt, x, y)
    assert forward_threads == (2 if quiet else 1)
    assert seen == [1]


def test_train_is_the_same_with_a_two_thread_forward_pass(monkeypatch):
    import engine.train as train_mod

    cfg = TrainConfig(n_train=300, depth=3, width=64, epochs=2, batch_size=32, schedule="constant")
    data = load("digits", 0, cfg.n_train)
    monkeypatch.setattr(optim, "THREADS", 1)
    plain = train(cfg, data=data)
    monkeypatch.setattr(optim, "THREADS", 2)
    monkeypatch.setattr(optim, "OVERLAP_MIN", 0)
    monkeypatch.setattr(train_mod, "QUIET_BLAS", True)
    monkeypatch.setattr(train_mod, "BLAS_SINGLE_MAX", 0)
    both = train(cfg, data=data)
    a, b = plain.to_dict(), both.to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b
