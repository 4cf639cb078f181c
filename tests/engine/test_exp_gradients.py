"""The gradients page's experiments against the article's printed numbers and an independent
float64 backprop written out by hand (and PyTorch, when it is importable)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from engine.datasets import load
from engine.experiments import run
from engine.experiments.gradients import VERDICTS, judge
from engine.network import MLP

# The article's snippet (sigmoid derivative at z ~ N(0, 1), ten layers) run after
# np.random.seed(0), because the article itself does not seed it. Its printed output:
#   Layer 0: gradient = 0.1248846646   ...   Layer 9: gradient = 0.0000000356
#   After 10 layers: gradient is 3.56e-08
#   After 50 layers (worst case): 0.25^50 = 7.89e-31
ARTICLE_SEED0 = [
    0.1248846646,
    0.0300039515,
    0.0059568516,
    0.0005176230,
    0.0000600005,
    0.0000119201,
    0.0000023971,
    0.0000005959,
    0.0000001486,
    0.0000000356,
]


def test_derivative_product_matches_the_article_snippet_seeded():
    res = run("derivative_product", depth=10, seed=0)
    f = res.tables["factors"]
    # the snippet prints with 10 decimals
    np.testing.assert_allclose(f["product"], ARTICLE_SEED0, atol=5e-11)
    assert f"{res.summary['product']:.2e}" == "3.56e-08"
    assert f"{res.summary['bound_50']:.2e}" == "7.89e-31"


def test_article_factors_are_computed():
    s = run("derivative_product").summary
    # 0.9^50 = 0.00515..., 1.1^50 = 117.39... (the article's "about 0.005" and "about 117")
    assert s["product_0_9"] == pytest.approx(0.00515377520732012, rel=1e-12)
    assert s["product_1_1"] == pytest.approx(117.39085287969579, rel=1e-12)


def test_product_never_beats_the_bound_and_series_are_consistent():
    res = run("derivative_product", depth=100, seed=3)
    f = res.tables["factors"]
    assert (f["derivative"] <= 0.25).all() and (f["derivative"] > 0).all()
    assert (f["product"] <= f["bound"]).all()
    np.testing.assert_allclose(f["bound"], 0.25 ** np.arange(1, 101))
    # hand-worked: sigma'(z) = s(1-s) with s = 1/(1+e^-z), computed independently
    s = 1 / (1 + np.exp(-f["z"].to_numpy()))
    np.testing.assert_allclose(f["derivative"], s * (1 - s), rtol=1e-12)
    series = res.tables["series"]
    assert set(series["series"]) == {"σ'(z) product (seeded)", "0.25^N (upper bound)", "0.9^N", "1.1^N"}
    assert np.isfinite(series["value"]).all()


# ---------------------------------------------------------------------------------------------
F = {
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "sigmoid": (lambda z: 1 / (1 + np.exp(-z)), lambda z: (1 / (1 + np.exp(-z))) * (1 - 1 / (1 + np.exp(-z)))),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
}


def reference_norms(act, init, depth, width, seed, batch, signal=False):
    """Per-layer ||dL/dW|| (and, with ``signal``, ||dL/dz||) by a float64 forward/backward written
    out by hand (no engine layers)."""
    split = load("digits", seed)
    X, y = split.X_train[:batch], split.y_train[:batch]
    # the same weights the experiment draws (MLP with rng=default_rng(seed))
    model = MLP([64] + [width] * depth + [10], activation=act, init=init, rng=np.random.default_rng(seed))
    Ws = [lin.params["W"].astype(np.float64) for lin in model.linears]
    bs = [lin.params["b"].astype(np.float64) for lin in model.linears]
    f, df = F[act]
    hs, zs, h = [X], [], X
    for W, b in zip(Ws[:-1], bs[:-1]):
        z = h @ W + b
        h = f(z)
        zs.append(z)
        hs.append(h)
    logits = h @ Ws[-1] + bs[-1]
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = p.copy()
    d[np.arange(len(y)), y] -= 1
    d /= len(y)
    norms, signals = [0.0] * len(Ws), [0.0] * len(Ws)
    for k in range(len(Ws) - 1, -1, -1):
        norms[k] = np.linalg.norm(hs[k].T @ d)
        signals[k] = np.linalg.norm(d)  # dL/dz_k, z_k = the output of linear layer k
        if k:
            d = (d @ Ws[k].T) * df(zs[k - 1])
    return (np.array(norms), np.array(signals)) if signal else np.array(norms)


@pytest.mark.parametrize("act,init", [("sigmoid", "xavier"), ("relu", "he"), ("tanh", "large")])
def test_gradient_norms_match_a_hand_written_float64_backprop(act, init):
    res = run("gradients", depth=12, width=32, activations=(act,), inits=(init,), batch_size=64, seed=1)
    got = res.tables["layers"]["grad_norm"].to_numpy()
    want = reference_norms(act, init, 12, 32, 1, 64)
    np.testing.assert_allclose(got, want, rtol=2e-3)
    r = res.tables["runs"].iloc[0]
    assert r["ratio_first_last"] == pytest.approx(want[0] / want[-1], rel=3e-3)


def test_gradient_norms_with_batch_norm_match_torch():
    torch = pytest.importorskip("torch")
    depth, width, seed, batch = 6, 32, 2, 64
    res = run(
        "gradients",
        depth=depth,
        width=width,
        activations=("relu",),
        inits=("he",),
        batch_norm=True,
        batch_size=batch,
        seed=seed,
    )
    split = load("digits", seed)
    model = MLP([64] + [width] * depth + [10], init="he", batch_norm=True, rng=np.random.default_rng(seed))
    mods, lin = [], model.linears
    for k in range(depth):
        m = torch.nn.Linear(lin[k].fan_in, width, bias=False).double()
        m.weight.data = torch.tensor(lin[k].params["W"].T, dtype=torch.float64)
        mods += [m, torch.nn.BatchNorm1d(width).double(), torch.nn.ReLU()]
    out = torch.nn.Linear(width, 10).double()
    out.weight.data = torch.tensor(lin[-1].params["W"].T, dtype=torch.float64)
    out.bias.data.zero_()
    net = torch.nn.Sequential(*mods, out).train()
    x = torch.tensor(split.X_train[:batch], dtype=torch.float64)
    y = torch.tensor(split.y_train[:batch])
    torch.nn.functional.cross_entropy(net(x), y).backward()
    want = [m.weight.grad.norm().item() for m in net if isinstance(m, torch.nn.Linear)]
    np.testing.assert_allclose(res.tables["layers"]["grad_norm"], want, rtol=2e-3)


@pytest.mark.parametrize("act,init", [("relu", "xavier"), ("tanh", "he")])
def test_signal_ratio_matches_the_hand_written_backprop(act, init):
    res = run("gradients", depth=12, width=32, activations=(act,), inits=(init,), batch_size=64, seed=1)
    _, signals = reference_norms(act, init, 12, 32, 1, 64, signal=True)
    np.testing.assert_allclose(res.tables["layers"]["signal_norm"], signals, rtol=2e-3)
    r = res.tables["runs"].iloc[0]
    assert r["signal_ratio"] == pytest.approx(signals[0] / signals[-1], rel=3e-3)
    assert res.summary["signal_ratio"][r["run"]] == r["signal_ratio"]
    assert r["loss_minus_ln_c"] == pytest.approx(r["loss"] - math.log(10))


@pytest.mark.parametrize(
    "args,verdict",
    [
        ((1.0, 1.0, 2.0, 10), "healthy"),
        ((10.0, 1.0, 2.0, 10), "healthy"),  # the thresholds are strict
        ((0.1, 1.0, 2.0, 10), "healthy"),
        ((10.5, 1.0, 2.0, 10), "exploding"),
        ((1.0, 1001.0, 2.0, 10), "exploding"),
        ((0.09, 1.0, 2.0, 10), "vanishing"),
        ((1.0, 1.0, math.log(10) + 5e-4, 10), "vanishing"),  # collapsed outputs: loss = ln C
        ((1.0, 1.0, math.log(3) - 5e-4, 3), "vanishing"),
        ((1.0, 1.0, math.log(10) + 2e-3, 10), "healthy"),
        ((None, 1.0, 2.0, 10), "exploding"),  # not finite
        ((0.01, 1e4, 2.0, 10), "exploding"),  # exploding wins over vanishing
    ],
)
def test_judge_applies_the_documented_thresholds(args, verdict):
    got, reason = judge(*args)
    assert got == verdict and reason
    assert judge(1.0, 1.0, 2.0, 10, overflow_layer=7) == ("exploding", "float32 overflowed to inf at layer 7")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_verdicts_over_seeds_at_depth_20(seed):
    res = run(
        "gradients", depth=20, width=64, activations=("sigmoid", "relu"), inits=("xavier", "he", "large"), seed=seed
    )
    runs = res.tables["runs"].set_index("run")
    verdict = runs["verdict"]
    assert verdict["relu / xavier"] != "healthy"  # the weight-gradient ratio alone calls it flat ...
    assert 0.1 < runs.loc["relu / xavier", "ratio_first_last"] < 10  # ... which is why it misleads
    assert verdict["relu / he"] == "healthy"
    assert verdict["sigmoid / xavier"] == "vanishing"
    assert verdict["relu / large"] == "exploding"
    assert res.summary["verdict"] == verdict.to_dict()
    assert set(verdict) <= set(VERDICTS)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_norm_heals_sigmoid_but_relu_explodes_with_depth(seed):
    kw = dict(width=64, activations=("sigmoid", "relu"), inits=("he",), batch_norm=True, seed=seed)
    d20, d50 = run("gradients", depth=20, **kw), run("gradients", depth=50, **kw)
    assert d20.summary["verdict"]["sigmoid"] == "healthy"
    assert d20.summary["verdict"]["relu"] == "exploding"
    assert d50.summary["signal_ratio"]["relu"] > 30 * d20.summary["signal_ratio"]["relu"]  # grows with depth


def test_layers_say_what_the_inactive_fraction_counts():
    layers = run("gradients", depth=3, width=16, activations=("relu", "tanh", "sigmoid")).tables["layers"]
    kinds = layers.groupby("activation")["inactive_kind"].unique().map(list).to_dict()
    assert kinds == {"relu": ["dead units"], "tanh": ["saturated outputs"], "sigmoid": ["saturated outputs"]}


def test_vanishing_flat_and_exploding_are_told_apart():
    res = run("gradients", depth=20, width=64, activations=("sigmoid", "relu", "tanh"), inits=("xavier", "he", "large"))
    ratio = res.tables["runs"].set_index("run")["ratio_first_last"]
    assert ratio["sigmoid / xavier"] < 1e-6  # vanishing
    assert 0.1 < ratio["relu / he"] < 10  # flat
    assert ratio["tanh / large"] > 1e3  # exploding: grows towards the input
    layers = res.tables["layers"]
    relu_large = layers[layers["run"] == "relu / large"]
    # the backward signal itself explodes towards the input for relu + large
    assert relu_large["signal_norm"].iloc[0] > 1e6 * relu_large["signal_norm"].iloc[-1]


def test_float32_overflow_is_reported_never_inf():
    depth, width, seed = 60, 64, 0
    res = run("gradients", depth=depth, width=width, activations=("relu",), inits=("large", "he"), seed=seed)
    runs = res.tables["runs"].set_index("run")
    k = int(runs.loc["large", "forward_overflow_layer"])
    # independent: float64 forward with the same weights; float32 overflows where |h| passes its max
    model = MLP([64] + [width] * depth + [10], init="large", rng=np.random.default_rng(seed))
    h = load("digits", seed).X_train[:128]
    big = None
    for i, lin in enumerate(model.linears[:-1], start=1):
        h = np.maximum(h @ lin.params["W"].astype(np.float64), 0)
        if np.abs(h).max() > np.finfo(np.float32).max:
            big = i
            break
    assert big is not None and abs(k - big) <= 1
    assert pd.isna(runs.loc["he", "forward_overflow_layer"])
    m = res.tables["markers"]
    assert list(m["run"]) == ["large"] and int(m["x"].iloc[0]) == k and "overflow" in m["label"].iloc[0]
    for df in res.tables.values():
        num = df.select_dtypes("number").to_numpy(dtype=float, na_value=np.nan)
        assert not np.isinf(num).any()
    assert res.summary["overflow"] == {"large": k}
    json.dumps(res.summary)


def test_backward_overflow_is_reported():
    res = run("gradients", depth=100, width=256, activations=("tanh",), inits=("large",), batch_size=32)
    r = res.tables["runs"].iloc[0]
    assert pd.isna(r["forward_overflow_layer"]) and not pd.isna(r["backward_overflow_layer"])
    layers = res.tables["layers"]
    k = int(r["backward_overflow_layer"])
    assert layers.loc[layers["layer"] <= k, "grad_norm"].isna().all()
    assert layers.loc[layers["layer"] > k, "grad_norm"].notna().all()


def test_training_steps_and_seed_reproducibility():
    a = run("gradients", depth=5, width=32, activations=("relu",), inits=("he",), steps=10, seed=4)
    b = run("gradients", depth=5, width=32, activations=("relu",), inits=("he",), steps=10, seed=4)
    c = run("gradients", depth=5, width=32, activations=("relu",), inits=("he",), steps=0, seed=4)
    pd.testing.assert_frame_equal(a.tables["layers"], b.tables["layers"])
    assert not np.allclose(a.tables["layers"]["grad_norm"], c.tables["layers"]["grad_norm"])
    assert any("10 Adam steps" in n for n in a.notes)
    assert math.isfinite(a.tables["runs"]["loss"].iloc[0])


def test_dead_fraction_is_dead_relu_units():
    res = run("gradients", depth=8, width=32, activations=("relu",), inits=("he",), batch_size=64, seed=5)
    model = MLP([64] + [32] * 8 + [10], init="he", rng=np.random.default_rng(5))
    model.forward(load("digits", 5).X_train[:64].astype(np.float32))
    want = [float(np.mean(np.all(h <= 0, axis=0))) for h in model.block_outputs]
    np.testing.assert_allclose(res.tables["layers"]["inactive_frac"].iloc[:-1], want)


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"depth": 0}, "depth"),
        ({"depth": 101}, "depth"),
        ({"width": 1}, "width"),
        ({"activations": ("swish",)}, "activations"),
        ({"activations": ()}, "activations"),
        ({"inits": ("zeros",)}, "inits"),
        ({"steps": -1}, "steps"),
        ({"batch_size": 1}, "batch_size"),
        ({"batch_norm": "yes"}, "batch_norm"),
        ({"seed": -3}, "seed"),
        ({"depth": 100, "width": 512, "steps": 500}, "FLOPs"),
    ],
)
def test_bad_parameters_raise_naming_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        run("gradients", **kw)


@pytest.mark.parametrize("kw,field", [({"depth": 0}, "depth"), ({"depth": 101}, "depth"), ({"seed": 1.5}, "seed")])
def test_derivative_product_bad_parameters(kw, field):
    with pytest.raises(ValueError, match=field):
        run("derivative_product", **kw)
