"""Parity with PyTorch 2.13 CPU, in float64.

Two kinds of check on the same adapters:

* ``test_golden_*`` compare the engine with values PyTorch computed once, stored by
  tests/golden/make_golden.py in tests/golden/*.json. They always run (no torch needed).
* ``test_live_*`` call the same torch references (the ``torch_*`` functions of make_golden.py) on
  fresh inputs. They need the ``torch`` fixture: skipped without torch, a failure with CI=true.

Layouts: our Linear ``W`` is (fan_in, fan_out), torch's Linear weight is (out, in): W = weight.T.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from engine.fused import FUSED
from engine.init import STRATEGIES, init_std, init_weights
from engine.layers import ACTIVATIONS, Activation, BatchNorm, Dropout, Linear
from engine.losses import softmax_cross_entropy
from engine.network import MLP
from engine.optim import OPTIMIZERS
from engine.schedules import cosine, exponential, lr_at, step_decay
from tests.conftest import GOLDEN, require_torch

RTOL, ATOL = 1e-9, 1e-12


def close(actual, expected, rtol=RTOL, atol=ATOL, what=""):
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64), rtol=rtol, atol=atol, err_msg=what
    )


# ------------------------------------------------------------------------------------------
# engine adapters: the same inputs as the torch references, numpy out
# ------------------------------------------------------------------------------------------


def engine_batchnorm(x, gamma, beta, dy):
    bn = BatchNorm(len(gamma), dtype=np.float64)
    bn.params["gamma"][...] = gamma
    bn.params["beta"][...] = beta
    y = bn.forward(np.array(x, dtype=np.float64), training=True)
    dx = bn.backward(np.array(dy, dtype=np.float64))
    return {
        "y": y,
        "dx": dx,
        "dgamma": bn.grads["gamma"],
        "dbeta": bn.grads["beta"],
        "running_mean": bn.running_mean,
        "running_var": bn.running_var,
    }


def engine_batchnorm_running(batches, gamma, beta, x_eval):
    bn = BatchNorm(len(gamma), dtype=np.float64)
    bn.params["gamma"][...] = gamma
    bn.params["beta"][...] = beta
    means, variances = [], []
    for xb in batches:
        bn.forward(np.array(xb, dtype=np.float64), training=True)
        means.append(bn.running_mean.copy())
        variances.append(bn.running_var.copy())
    y_eval = bn.forward(np.array(x_eval, dtype=np.float64), training=False)
    return {"running_mean": np.array(means), "running_var": np.array(variances), "y_eval": y_eval}


def engine_optimizer(name, lr, weight_decay, p0, grads, fused=False):
    """Trajectory of OPTIMIZERS[name] (FUSED[name] with ``fused``) on p0, a stack of one; a
    mirrored second param checks per-parameter state."""
    a, b = np.array(p0, dtype=np.float64)[None], -np.array(p0, dtype=np.float64)[None]
    ga, gb = np.zeros_like(a), np.zeros_like(b)
    opt = (FUSED if fused else OPTIMIZERS)[name]([a, b], [ga, gb], lr=lr, weight_decay=weight_decay)
    out = []
    for g in grads:
        ga[0] = g
        gb[0] = -np.asarray(g)
        opt.step()
        # SGD, momentum, Adam and AdamW are odd in (p, g): the mirrored param must stay mirrored
        close(b, -a, rtol=1e-12, what="per-parameter optimizer state leaked")
        out.append(a[0].copy())
    return np.array(out)


def engine_mlp(spec):
    """Our MLP with the spec's weights copied in (torch weight (out, in) -> our W (in, out))."""
    model = MLP(
        spec["sizes"],
        activation=spec["activation"],
        init="he",
        batch_norm=spec["batch_norm"],
        residual=spec["residual"],
        rng=np.random.RandomState(0),
        dtype=np.float64,
    )
    assert len(model.layers) == len(spec["layers"]), "layer order differs from [Linear, BN?, Act] x hidden, Linear"
    for layer, s in zip(model.layers, spec["layers"]):
        if s["kind"] == "linear":
            assert isinstance(layer, Linear)
            layer.params["W"][...] = np.asarray(s["weight"]).T
            assert ("b" in layer.params) == (s["bias"] is not None)
            if s["bias"] is not None:
                layer.params["b"][...] = s["bias"]
        elif s["kind"] == "batchnorm":
            assert isinstance(layer, BatchNorm)
            layer.params["gamma"][...] = s["weight"]
            layer.params["beta"][...] = s["bias"]
        else:
            assert isinstance(layer, Activation) and layer.name == s["name"]
    return model


def compare_mlp(spec, x, y, ref):
    model = engine_mlp(spec)
    logits = model.forward(np.array(x, dtype=np.float64), training=True)
    loss, dlogits = softmax_cross_entropy(logits, np.asarray(y))
    dx = model.backward(dlogits)
    close(loss, ref["loss"], what="loss")
    close(logits, ref["logits"], what="logits")
    close(dx, ref["dx"], what="input gradient")
    for i, (layer, g, run) in enumerate(zip(model.layers, ref["grads"], ref["running"])):
        if isinstance(layer, Linear):
            close(layer.grads["W"], np.asarray(g["weight"]).T, what=f"layer {i} dW")
            if "b" in layer.params:
                close(layer.grads["b"], g["bias"], what=f"layer {i} db")
        elif isinstance(layer, BatchNorm):
            close(layer.grads["gamma"], g["weight"], what=f"layer {i} dgamma")
            close(layer.grads["beta"], g["bias"], what=f"layer {i} dbeta")
            close(layer.running_mean, run["mean"], what=f"layer {i} running_mean")
            close(layer.running_var, run["var"], what=f"layer {i} running_var")


def engine_dropout_stats(p, n=200_000, seed=0):
    layer = Dropout(p, rng=np.random.RandomState(seed))
    x = np.ones(n)
    out = layer.forward(x, training=True)
    return out, layer


def check_dropout(p, ref, n=200_000):
    out, layer = engine_dropout_stats(p, n)
    kept = out[out != 0]
    close(np.unique(kept), ref["kept_values"], rtol=1e-15, what="kept units are scaled by 1/(1-p)")
    close(1.0 / (1.0 - p), ref["kept_values"][0], rtol=1e-15)
    se_keep = np.sqrt(p * (1 - p) / n)
    assert abs(len(kept) / n - (1 - p)) < 5 * se_keep
    assert abs(len(kept) / n - ref["keep_fraction"]) < 5 * np.sqrt(2) * se_keep
    se_mean = np.sqrt(p / (1 - p) / n)  # std of one output is sqrt(p/(1-p)) for an input of 1
    assert abs(out.mean() - 1.0) < 5 * se_mean and abs(ref["mean"] - 1.0) < 5 * se_mean
    # backward reuses the forward mask
    np.testing.assert_array_equal(layer.backward(np.ones(n)), out)
    # eval mode is the identity (the same array, nothing scaled)
    x = np.arange(10.0)
    assert ref["eval_identity"]
    np.testing.assert_array_equal(layer.forward(x, training=False), x)


def check_init(strategy, fan_in, fan_out, ref):
    close(
        init_std(strategy, fan_in, fan_out), ref["formula_std"], rtol=1e-12, what=f"{strategy} vs torch {ref['rule']}"
    )
    w = init_weights(strategy, fan_in, fan_out, np.random.RandomState(0))
    assert w.shape == (fan_in, fan_out)
    # 40 000 samples: the sample std has a relative standard error of 1/sqrt(2n) = 0.35%
    assert abs(w.std() / ref["formula_std"] - 1) < 0.02
    assert abs(w.std() / ref["sample_std"] - 1) < 0.03
    assert abs(w.mean()) < 5 * ref["formula_std"] / np.sqrt(w.size)


def engine_schedules(total, lr):
    e = np.arange(total)
    return {
        "step": step_decay(e, lr, 0.5, 30),
        "cosine": cosine(e, total, lr, 1e-6),
        "exponential": exponential(e, lr, 0.95),
    }


# ------------------------------------------------------------------------------------------
# golden values (always checked)
# ------------------------------------------------------------------------------------------


def test_golden_files_come_from_float64_torch(golden):
    meta = golden("meta")
    assert meta["dtype"] == "float64" and meta["torch"].startswith("2.")


def test_golden_batchnorm_forward_backward(golden):
    case = golden("batchnorm")["forward_backward"]
    ours = engine_batchnorm(**case["inputs"])
    for key, expected in case["torch"].items():
        close(ours[key], expected, what=key)


def test_golden_batchnorm_running_stats_and_eval(golden):
    case = golden("batchnorm")["running"]
    ours = engine_batchnorm_running(**case["inputs"])
    for key, expected in case["torch"].items():
        close(ours[key], expected, what=key)


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("label", ["sgd", "sgd_wd", "momentum_wd", "adam", "adam_l2", "adamw"])
def test_golden_optimizers(golden, label, fused):
    data = golden("optim")
    case = data["cases"][label]
    ours = engine_optimizer(case["name"], case["lr"], case["weight_decay"], data["p0"], data["grads"], fused)
    close(ours, case["torch"], rtol=1e-10, atol=1e-12, what=label)


def test_golden_optimizer_cases_cover_every_optimizer(golden):
    assert {c["name"] for c in golden("optim")["cases"].values()} == set(OPTIMIZERS)


def test_golden_schedules(golden):
    data = golden("schedules")
    ours = engine_schedules(data["total"], data["lr"])
    for name, expected in data["torch"].items():
        close(ours[name], expected, rtol=1e-12, atol=0, what=name)
    # how the trainer uses them (lr_at): step decay every round(0.3 * 100) = 30 epochs is StepLR(30)
    e = np.arange(data["total"])
    for name in ("step", "cosine", "exponential"):
        close(lr_at(name, e, data["total"], data["lr"]), data["torch"][name], rtol=1e-12, atol=0, what=name)


def test_golden_cross_entropy(golden):
    data = golden("loss")
    loss, dlogits = softmax_cross_entropy(np.array(data["inputs"]["logits"]), np.array(data["inputs"]["y"]))
    assert np.isfinite(loss)
    close(loss, data["torch"]["loss"])
    close(dlogits, data["torch"]["dlogits"])


@pytest.mark.parametrize("p", ["0.1", "0.3", "0.5", "0.8"])
def test_golden_dropout_scaling(golden, p):
    check_dropout(float(p), golden("dropout")[p])


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_golden_init_std(golden, strategy):
    data = golden("init")
    check_init(strategy, data["fan_in"], data["fan_out"], data["strategies"][strategy])


@pytest.mark.parametrize("case", ["plain_sigmoid", "bn_relu", "bn_skip_tanh", "skip_leaky_relu"])
def test_golden_mlp_gradients(golden, case):
    data = golden("mlp")[case]
    compare_mlp(data["spec"], data["x"], data["y"], data["torch"])


def test_golden_mlp_cases_cover_every_activation(golden):
    assert {c["spec"]["activation"] for c in golden("mlp").values()} == set(ACTIVATIONS)


# ------------------------------------------------------------------------------------------
# live comparisons (torch importable; required with CI=true)
# ------------------------------------------------------------------------------------------


@pytest.mark.torch
def test_live_golden_files_are_current(torch_refs):
    """Regenerating the golden values with the installed torch gives the stored files."""
    import json

    fresh = torch_refs.build_all()
    for name, content in fresh.items():
        stored = json.loads((GOLDEN / f"{name}.json").read_text())
        if name == "meta":
            continue
        # dropout and init hold sample statistics of torch's RNG: allow another CPU's sampling path
        _assert_tree_close(stored, content, name, rtol=0.02 if name in ("dropout", "init") else 1e-12)


def _assert_tree_close(a, b, path, rtol):
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _assert_tree_close(a[k], b[k], f"{path}.{k}", rtol)
    elif isinstance(a, list) and a and not isinstance(a[0], (int, float)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_tree_close(x, y, f"{path}[{i}]", rtol)
    elif isinstance(a, (str, bool)) or a is None:
        assert a == b, path
    else:
        close(a, b, rtol=rtol, atol=1e-15, what=path)


@pytest.mark.torch
@pytest.mark.parametrize("seed", [1, 2])
def test_live_batchnorm(torch_refs, seed):
    rng = np.random.RandomState(seed)
    n, d = 7 + seed, 5
    x = rng.standard_normal((n, d)) * rng.uniform(0.1, 10, d) + rng.uniform(-5, 5, d)
    gamma, beta, dy = rng.standard_normal(d), rng.standard_normal(d), rng.standard_normal((n, d))
    ref = torch_refs.torch_batchnorm(x, gamma, beta, dy)
    ours = engine_batchnorm(x, gamma, beta, dy)
    for key in ref:
        close(ours[key], ref[key], what=key)
    batches = [rng.standard_normal((m, d)) * 2 + 1 for m in (2, 9, 4, 16)]
    x_eval = rng.standard_normal((5, d))
    ref = torch_refs.torch_batchnorm_running(batches, gamma, beta, x_eval)
    ours = engine_batchnorm_running(batches, gamma, beta, x_eval)
    for key in ref:
        close(ours[key], ref[key], what=key)


@pytest.mark.torch
def test_live_optimizer_table_matches_torch(torch_refs):
    assert set(OPTIMIZERS) == set(torch_refs.TORCH_OPTIMIZERS)


@pytest.mark.torch
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("lr, weight_decay", [(0.02, 0.0), (0.003, 0.2)])
def test_live_optimizers(torch_refs, name, lr, weight_decay, fused):
    if fused and name not in FUSED:
        pytest.skip(f"{name} has no fused implementation")
    rng = np.random.RandomState(5)
    p0 = rng.standard_normal((4, 3))
    grads = rng.standard_normal((8, 4, 3)) * np.logspace(-3, 1, 8)[:, None, None]
    ref = torch_refs.torch_optimizer(name, lr, weight_decay, p0, grads)
    close(engine_optimizer(name, lr, weight_decay, p0, grads, fused), ref, rtol=1e-10, atol=1e-12, what=name)


@pytest.mark.torch
def test_live_schedules(torch_refs):
    ref = torch_refs.torch_schedules(100, 0.1)
    ours = engine_schedules(100, 0.1)
    for name in ref:
        close(ours[name], ref[name], rtol=1e-12, atol=0, what=name)


@pytest.mark.torch
def test_live_cross_entropy(torch_refs):
    rng = np.random.RandomState(9)
    logits = rng.standard_normal((12, 6)) * 10
    logits[3] += 800.0  # a row whose naive exp overflows
    y = rng.randint(0, 6, size=12)
    ref = torch_refs.torch_cross_entropy(logits, y)
    loss, dlogits = softmax_cross_entropy(logits, y)
    close(loss, ref["loss"])
    close(dlogits, ref["dlogits"])


@pytest.mark.torch
@pytest.mark.parametrize("p", [0.2, 0.6])
def test_live_dropout(torch_refs, p):
    check_dropout(p, torch_refs.torch_dropout(p, n=200_000, seed=3))


@pytest.mark.torch
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_live_init(torch_refs, strategy):
    assert set(STRATEGIES) == set(torch_refs.TORCH_INITS)
    check_init(strategy, 300, 150, torch_refs.torch_init_std(strategy, 300, 150, seed=1))


@pytest.mark.torch
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("batch_norm, residual", [(True, False), (False, True), (True, True)])
def test_live_mlp_gradients(torch_refs, activation, batch_norm, residual):
    rng = np.random.RandomState(21)
    spec = torch_refs.random_mlp_spec([6, 8, 8, 8, 5, 4], activation, batch_norm, residual, rng)
    x = rng.standard_normal((10, 6))
    y = rng.randint(0, 4, size=10)
    compare_mlp(spec, x, y, torch_refs.torch_mlp(spec, x, y))


# ------------------------------------------------------------------------------------------
# the torch fixture itself: with CI=true a missing torch fails instead of skipping
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ci", ["true", "TRUE", "1"])
def test_missing_torch_fails_in_ci(monkeypatch, ci):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI=true requires"):
        require_torch()


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_missing_torch_skips_outside_ci(monkeypatch, ci):
    monkeypatch.setitem(sys.modules, "torch", None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="torch is not importable"):
        require_torch()
