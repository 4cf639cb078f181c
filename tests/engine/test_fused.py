"""The fast path (:mod:`engine.fused`) against the readable one (:mod:`engine.optim`).

* Every fused update equals the readable update step by step (1e-6 relative in float32, 1e-12 in
  float64), in several blocks and threads, with members skipped or at lr 0.
* The overlapped step (``FusedOptimizer.stepping`` + ``MLP.backward(on_block=...)``) and the BLAS
  thread policy of training give the same numbers, bit for bit, as the plain step.
* ``fused=True`` trains with the readable class of a name the fast path does not register.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine.fused as fused
import engine.optim as optim
from engine.datasets import load
from engine.fused import FUSED, FusedAdam, FusedAdamW, FusedSGD
from engine.losses import softmax_cross_entropy
from engine.network import MLP
from engine.optim import OPTIMIZERS
from engine.train import TrainConfig, train, train_step

# --------------------------------------------------------------------------- fused == readable


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("name", sorted(FUSED))
@pytest.mark.parametrize("k,threads", [(1, 1), (3, 1), (3, 2)])
def test_fused_updates_equal_the_readable_ones_step_by_step(monkeypatch, name, k, threads, dtype, rtol):
    """Each step from the same state, the fused update (several blocks of columns, on one or two
    threads) against the readable one written like torch's equations; two param arrays."""
    monkeypatch.setattr(fused, "CHUNK", 1000)
    monkeypatch.setattr(fused, "THREADS", threads)
    monkeypatch.setattr(fused, "THREADED_MIN", 0)
    rng = np.random.default_rng(0)
    lr, wd = np.array([1e-3, 1e-2, 0.1])[:k], np.array([0.0, 1e-2, 0.05])[:k]
    shapes = [(k, 2500), (k, 7, 3)]
    p0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    readable = [[p.copy() for p in p0], [np.zeros_like(p) for p in p0]]
    fast = [[p.copy() for p in p0], [np.zeros_like(p) for p in p0]]
    opt_r = OPTIMIZERS[name](*readable, lr=lr, weight_decay=wd)
    opt_f = FUSED[name](*fast, lr=lr, weight_decay=wd)
    for step in range(5):
        for i, s in enumerate(shapes):
            g = rng.standard_normal(s).astype(dtype)
            readable[1][i][...] = g
            fast[1][i][...] = g
        before = [p.copy() for p in readable[0]]
        opt_r.step()
        opt_f.step()
        for p, q, b in zip(readable[0], fast[0], before):
            change = np.abs(p - b).max()
            assert change > 0
            np.testing.assert_allclose(q, p, rtol=rtol, atol=rtol * change, err_msg=f"step {step}")
            q[...] = p  # start the next step from the same parameters (the moments continue in each)


@pytest.mark.parametrize("name", sorted(FUSED))
def test_skipped_members_and_lr_zero_keep_their_weights_as_in_the_readable_update(name):
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal((3, 50))
    lr = np.array([0.1, 0.0, 0.1])
    bufs = [[p0.copy()], [np.zeros_like(p0)]], [[p0.copy()], [np.zeros_like(p0)]]
    opts = OPTIMIZERS[name](*bufs[0], lr=lr, weight_decay=0.01), FUSED[name](*bufs[1], lr=lr, weight_decay=0.01)
    skip = np.array([False, False, True])
    for step in range(3):
        g = rng.standard_normal(p0.shape)
        for (_, grads), opt in zip(bufs, opts):
            grads[0][...] = g
            opt.step(skip=skip if step == 1 else None)
    r, f = bufs[0][0][0], bufs[1][0][0]
    np.testing.assert_array_equal(r[1], p0[1])  # lr 0 throughout
    np.testing.assert_allclose(f, r, rtol=1e-12, atol=1e-14)
    assert not np.array_equal(r[2], p0[2])


def test_fused_optimizers_check_their_arguments():
    p, g = np.zeros((2, 4)), np.zeros((2, 4))
    with pytest.raises(ValueError, match="lr must be"):
        FusedAdam([p], [g], lr=[0.1, -1.0])
    with pytest.raises(ValueError, match="momentum must be"):
        FusedSGD([p], [g], lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="C-contiguous"):
        FusedAdamW([p.T], [g.T], lr=0.1)


def test_a_name_without_a_fused_implementation_trains_with_its_readable_class(monkeypatch):
    """Adding an optimizer is one entry in OPTIMIZERS: fused=True (the default) falls back to it."""

    class Sign(optim.Optimizer):
        """signSGD: p -= lr sign(g)."""

        def update(self, p, g):
            p -= optim._per_member(self.lr, p) * np.sign(g)

    made = []
    monkeypatch.setitem(OPTIMIZERS, "sign", lambda *a, **kw: made.append(Sign(*a, **kw)) or made[-1])
    cfg = TrainConfig(n_train=200, depth=2, width=16, epochs=1, optimizer="sign", lr=1e-3)
    hist = train(cfg)
    assert len(made) == 1 and made[0].t > 0 and len(hist.epoch) == 1
    assert train(cfg, fused=False).val_loss == hist.val_loss


# --------------------------------------------------------------------------- the overlapped step

MAKERS = {
    "adam": lambda p, g: FusedAdam(p, g, 1e-2),
    "adam_l2": lambda p, g: FusedAdam(p, g, 1e-2, weight_decay=1e-2),
    "adamw": lambda p, g: FusedAdamW(p, g, 1e-2, weight_decay=0.1),
    "momentum": lambda p, g: FusedSGD(p, g, 0.1, momentum=0.9, weight_decay=1e-3),
    "sgd": lambda p, g: FusedSGD(p, g, 0.1),
}


def _opt(maker, model):
    return maker([model.flat_params], [model.flat_grads])


@pytest.fixture
def threaded(monkeypatch):
    """Overlap every update in a thread, in small pieces (so one step hands over several)."""
    monkeypatch.setattr(fused, "THREADS", 2)
    monkeypatch.setattr(fused, "OVERLAP_MIN", 0)
    monkeypatch.setattr(fused, "HANDOFF_MIN", 500)
    monkeypatch.setattr(fused, "CHUNK", 256)


def _twins(residual, dropout, dtype=np.float64):
    """Two equal networks, each a stack of one (as train builds it)."""
    return [
        MLP(
            [8, 40, 40, 30, 3],
            batch_norm=True,
            residual=residual,
            dropout=dropout,
            rng=[np.random.default_rng(0)],
            dtype=dtype,
        )
        for _ in range(2)
    ]


def _batch(rng, n=16):
    return rng.standard_normal((1, n, 8)), rng.integers(0, 3, (1, n))


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("residual,dropout", [(False, 0.0), (True, 0.2)])
def test_stepping_equals_step_bit_for_bit(threaded, name, residual, dropout):
    plain, overlapped = _twins(residual, dropout)
    opts = _opt(MAKERS[name], plain), _opt(MAKERS[name], overlapped)
    assert opts[1].overlaps(overlapped.layers)
    rng = np.random.default_rng(1)
    for _ in range(4):
        x, y = _batch(rng)
        _, d = softmax_cross_entropy(plain.forward(x), y)
        plain.backward(d)
        opts[0].step()
        _, d = softmax_cross_entropy(overlapped.forward(x), y)
        with opts[1].stepping(overlapped.layers) as ready:
            overlapped.backward(d, on_block=ready)
    for a, b in zip(plain.state(), overlapped.state(), strict=True):
        np.testing.assert_array_equal(a, b)
    for la, lb in zip(plain.layers, overlapped.layers):
        for k in la.grads:
            np.testing.assert_array_equal(la.grads[k], lb.grads[k])


def test_stepping_without_threads_is_step(monkeypatch):
    monkeypatch.setattr(fused, "THREADS", 1)
    plain, other = _twins(False, 0.0)
    opts = _opt(MAKERS["adam"], plain), _opt(MAKERS["adam"], other)
    assert not opts[1].overlaps(other.layers)
    x, y = _batch(np.random.default_rng(2))
    for model, opt in zip((plain, other), opts):
        _, d = softmax_cross_entropy(model.forward(x), y)
        if model is plain:
            model.backward(d)
            opt.step()
        else:
            with opt.stepping(model.layers) as ready:
                model.backward(d, on_block=ready)  # the deferred weight grads run at once
    for a, b in zip(plain.state(), other.state(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_layers_never_reported_are_updated_on_exit(threaded):
    plain, other = _twins(False, 0.0)
    opts = _opt(MAKERS["adam"], plain), _opt(MAKERS["adam"], other)
    x, y = _batch(np.random.default_rng(3))
    for model, opt in zip((plain, other), opts):
        _, d = softmax_cross_entropy(model.forward(x), y)
        model.backward(d)
        if model is plain:
            opt.step()
        else:
            with opt.stepping(model.layers) as ready:
                ready(model.layers[:2])  # some reported, the rest not
    for a, b in zip(plain.state(), other.state(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_error_in_the_backward_pass_propagates(threaded):
    model = _twins(False, 0.0)[0]
    opt = _opt(MAKERS["adam"], model)
    _, d = softmax_cross_entropy(model.forward(np.ones((1, 4, 8))), np.arange(4)[None] % 3)
    with pytest.raises(RuntimeError, match="boom"):
        with opt.stepping(model.layers) as ready:
            model.backward(d, on_block=ready)
            raise RuntimeError("boom")
    # the optimiser still works afterwards (its thread stopped)
    with opt.stepping(model.layers) as ready:
        model.backward(d, on_block=ready)
    assert all(np.all(np.isfinite(a)) for a in model.state())


@pytest.mark.parametrize("step", [train_step, fused.train_step])
def test_train_step_skips_the_update_on_a_non_finite_loss(threaded, step):
    model = _twins(False, 0.0)[0]
    before = [p.copy() for layer in model.layers for p in layer.params.values()]
    loss, logits = step(model, _opt(MAKERS["adam"], model), np.full((1, 4, 8), np.nan), np.arange(4)[None] % 3)
    assert not np.isfinite(loss).any() and logits.shape == (1, 4, 3)
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
    monkeypatch.setattr(fused, "THREADS", 1)
    plain = train(cfg, data=data)
    monkeypatch.setattr(fused, "THREADS", 2)
    monkeypatch.setattr(fused, "OVERLAP_MIN", 0)
    monkeypatch.setattr(fused, "HANDOFF_MIN", 1000)
    overlapped = train(cfg, data=data)
    a, b = plain.to_dict(), overlapped.to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    for x, y in zip(plain.model.state(), overlapped.model.state(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_blas_threads_restores_the_setting(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(fused, "THREADS", 2)
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("no BLAS library threadpoolctl can see")
    lib = blas.lib_controllers[0]
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        outer = lib.get_num_threads()
        with fused.blas_threads(1):
            assert lib.get_num_threads() == 1
        assert lib.get_num_threads() == outer
        with fused.blas_threads(None):
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
    monkeypatch.setattr(fused, "THREADS", 2)
    monkeypatch.setattr(fused, "OVERLAP_MIN", 0)
    monkeypatch.setattr(train_mod, "QUIET_BLAS", quiet)
    monkeypatch.setattr(train_mod, "BLAS_SINGLE_MAX", 0)  # these small matmuls count as big
    model = MLP([8, 40, 40, 3], batch_norm=True, rng=[np.random.default_rng(0)], dtype=np.float32)
    opt = _opt(MAKERS["adam"], model)
    assert opt.overlaps(model.layers)
    seen = []
    backward = model.backward
    monkeypatch.setattr(model, "backward", lambda *a, **k: (seen.append(lib.get_num_threads()), backward(*a, **k))[1])
    x, y = np.random.default_rng(1).standard_normal((1, 16, 8)).astype(np.float32), np.arange(16)[None] % 3
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        with train_mod.step_threads(model, opt, 16):
            forward_threads = lib.get_num_threads()
            fused.train_step(model, opt, x, y)
    assert forward_threads == (2 if quiet else 1)
    assert seen == [1]


def test_train_is_the_same_with_a_two_thread_forward_pass(monkeypatch):
    import engine.train as train_mod

    cfg = TrainConfig(n_train=300, depth=3, width=64, epochs=2, batch_size=32, schedule="constant")
    data = load("digits", 0, cfg.n_train)
    monkeypatch.setattr(fused, "THREADS", 1)
    plain = train(cfg, data=data)
    monkeypatch.setattr(fused, "THREADS", 2)
    monkeypatch.setattr(fused, "OVERLAP_MIN", 0)
    monkeypatch.setattr(train_mod, "QUIET_BLAS", True)
    monkeypatch.setattr(train_mod, "BLAS_SINGLE_MAX", 0)
    both = train(cfg, data=data)
    a, b = plain.to_dict(), both.to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b
