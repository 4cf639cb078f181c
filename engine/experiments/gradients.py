"""Experiments of the vanishing & exploding gradients page.

``derivative_product``: the article's product of sigmoid derivatives over depth, seeded.
``gradients``: one real forward + backward pass through a deep MLP on a batch of digits, with
per-layer gradient norms, dead units and an honest report of float32 overflow, and a verdict per
run (see :func:`judge`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from engine.budget import MAX_FLOPS
from engine.datasets import load
from engine.experiments.common import Result, experiment
from engine.fused import FusedAdam
from engine.init import STRATEGIES
from engine.layers import ACTIVATIONS, DERIVATIVES, MAX_DERIVATIVE, Linear
from engine.losses import softmax_cross_entropy
from engine.network import MLP
from engine.spec import Bool, Int, ListOf, OneOf
from engine.train import finite_or_none

MAX_DEPTH = 100
WIDTH_RANGE = (4, 512)
BATCH_RANGE = (2, 1024)
MAX_STEPS = 500
#: The two per-layer factors the article quotes, each applied 50 times.
ARTICLE_FACTORS = (0.9, 1.1)
ARTICLE_DEPTH = 50

#: Thresholds of :func:`judge`: the backward-signal ratio ||delta_1|| / ||delta_N|| ...
SIGNAL_EXPLODING = 10.0  # ... above this: exploding
SIGNAL_VANISHING = 0.1  # ... below this: vanishing
#: any weight-gradient norm above this is exploding, whatever the ratio
GRAD_EXPLODING = 1e3
#: a loss this close to ln C (C classes) means the outputs have collapsed to uniform: vanishing
COLLAPSE_TOL = 1e-3
VERDICTS = ("vanishing", "healthy", "exploding")


@experiment("derivative_product", depth=Int(1, MAX_DEPTH), seed=Int(0, 2**32 - 1))
def derivative_product(depth: int = 10, seed: int = 0, progress=None) -> Result:
    """Product of sigmoid derivatives at z ~ N(0, 1), one draw per layer, vs the 0.25^N bound."""
    # the same sequence as the article's seeded global draws (one standard normal per layer)
    z = np.random.RandomState(seed).standard_normal(depth)
    s = ACTIVATIONS["sigmoid"](z)
    d = DERIVATIVES["sigmoid"](z, s)
    product = np.cumprod(d)
    n = np.arange(1, depth + 1)
    bound = MAX_DERIVATIVE["sigmoid"] ** n
    factors = pd.DataFrame({"layer": n, "z": z, "derivative": d, "product": product, "bound": bound})
    curves = {
        "σ'(z) product (seeded)": product,
        "0.25^N (upper bound)": bound,
        "0.9^N": ARTICLE_FACTORS[0] ** n.astype(float),
        "1.1^N": ARTICLE_FACTORS[1] ** n.astype(float),
    }
    series = pd.concat(
        [pd.DataFrame({"layer": n, "series": k, "value": v}) for k, v in curves.items()], ignore_index=True
    )
    summary = {
        "depth": depth,
        "product": float(product[-1]),
        "bound": float(bound[-1]),
        "product_vs_bound": float(product[-1] / bound[-1]),
        "mean_derivative": float(d.mean()),
        "product_0_9": float(ARTICLE_FACTORS[0] ** ARTICLE_DEPTH),
        "product_1_1": float(ARTICLE_FACTORS[1] ** ARTICLE_DEPTH),
        "bound_50": float(MAX_DERIVATIVE["sigmoid"] ** ARTICLE_DEPTH),
    }
    return Result(tables={"factors": factors, "series": series}, summary=summary)


def inactive_kind(act: str) -> str:
    """What ``inactive_frac`` counts for activation ``act``: dead units or saturated outputs."""
    return "dead units" if act in ("relu", "leaky_relu") else "saturated outputs"


def _inactive(act: str, h: np.ndarray) -> float:
    """ReLU family: fraction of units that are dead on this batch (output <= 0 for every example).
    Sigmoid/tanh: fraction of outputs in the flat tails (sigmoid < 0.01 or > 0.99, |tanh| > 0.99)."""
    if act in ("relu", "leaky_relu"):
        return float(np.mean(np.all(h <= 0, axis=0)))
    if act == "sigmoid":
        return float(np.mean((h < 0.01) | (h > 0.99)))
    return float(np.mean(np.abs(h) > 0.99))


def _norm(a: np.ndarray) -> float | None:
    """Frobenius norm computed in float64 (a float32 sum of squares overflows long before the
    entries do); None when an entry is not finite."""
    a64 = np.asarray(a, dtype=np.float64)
    if not np.isfinite(a64).all():
        return None
    return finite_or_none(np.linalg.norm(a64))


def _std(a: np.ndarray) -> float | None:
    """Standard deviation in float64; None when an entry is not finite."""
    a64 = np.asarray(a, dtype=np.float64)
    return finite_or_none(a64.std()) if np.isfinite(a64).all() else None


def _measure(model: MLP, X, y, act: str) -> dict:
    """One forward + backward pass; per-layer numbers and where float32 overflowed, if it did."""
    linears = model.linears
    n_lin = len(linears)
    rows = [{"layer": i + 1} for i in range(n_lin)]
    fwd_overflow = bwd_overflow = None
    h, block = np.asarray(X, dtype=model.dtype), 0
    with np.errstate(all="ignore"):
        for start, stop, _skip in model.blocks:
            for layer in model.layers[start:stop]:
                h = layer.forward(h, training=True)
            block += 1
            if fwd_overflow is None and not np.isfinite(h).all():
                fwd_overflow = block
            r = rows[block - 1]
            r["act_std"] = _std(h)
            if block < n_lin:
                r["inactive_frac"] = _inactive(act, h) if fwd_overflow is None else None
        loss = None
        if fwd_overflow is None:
            loss, d = softmax_cross_entropy(h, y)
            loss = finite_or_none(loss)
            k = n_lin
            for layer in reversed(model.layers):
                if isinstance(layer, Linear):
                    rows[k - 1]["signal_norm"] = _norm(d)
                    if bwd_overflow is None and not np.isfinite(d).all():
                        bwd_overflow = k
                d = layer.backward(d)
                if isinstance(layer, Linear):
                    g = _norm(layer.grads["W"])
                    rows[k - 1]["grad_norm"] = g
                    rows[k - 1]["weight_norm"] = _norm(layer.params["W"])
                    if g is None and bwd_overflow is None:
                        bwd_overflow = k
                    k -= 1
    for r in rows:
        for c in ("act_std", "inactive_frac", "signal_norm", "grad_norm", "weight_norm"):
            r.setdefault(c, None)
        if r["layer"] == n_lin:
            r["act_std"] = None  # the logits are not a hidden layer
    return {"rows": rows, "loss": loss, "forward_overflow": fwd_overflow, "backward_overflow": bwd_overflow}


def _train_steps(model: MLP, split, steps: int, batch: int, seed: int) -> int | None:
    """``steps`` Adam steps (lr 1e-3) on mini-batches; the step whose loss was not finite, if any."""
    opt = FusedAdam([model.flat_params[None]], [model.flat_grads[None]], lr=1e-3)  # the network, a stack of one
    rng = np.random.default_rng([seed, 1])
    Xtr, ytr = split.X_train.astype(model.dtype), split.y_train
    with np.errstate(all="ignore"):
        for step in range(steps):
            idx = rng.choice(len(Xtr), size=min(batch, len(Xtr)), replace=False)
            loss, d = softmax_cross_entropy(model.forward(Xtr[idx], training=True), ytr[idx])
            if not math.isfinite(loss):
                return step
            model.backward(d)
            opt.step()
    return None


def judge(signal_ratio, max_grad_norm, loss, n_classes: int, overflow_layer=None) -> tuple[str, str]:
    """``(verdict, reason)``: ``verdict`` is "vanishing", "healthy" or "exploding".

    ``signal_ratio`` is ||delta_1|| / ||delta_N||, the backward signal dL/dz at the first linear
    layer over that at the last (the logits); ``max_grad_norm`` the largest ||dL/dW|| of any
    layer; ``loss`` the cross-entropy on the measured batch. Checked in this order:

    * **exploding** if float32 overflowed (``overflow_layer``) or a number is not finite, or
      ``signal_ratio > 10`` (``SIGNAL_EXPLODING``), or ``max_grad_norm > 1e3`` (``GRAD_EXPLODING``);
    * **vanishing** if ``signal_ratio < 0.1`` (``SIGNAL_VANISHING``), or ``|loss - ln C| < 1e-3``
      (``COLLAPSE_TOL``): the logits are all but equal, so the network outputs nothing and the
      signal it sends back carries no information about the input;
    * **healthy** otherwise.

    ``reason`` says which rule decided, with the measured number.
    """
    if overflow_layer is not None:
        return "exploding", f"float32 overflowed to inf at layer {overflow_layer}"
    if signal_ratio is None or max_grad_norm is None or loss is None:
        return "exploding", "a gradient or the loss is not finite"
    if signal_ratio > SIGNAL_EXPLODING:
        return "exploding", f"the backward signal grows {signal_ratio:.2g}× towards the input (> {SIGNAL_EXPLODING:g})"
    if max_grad_norm > GRAD_EXPLODING:
        return "exploding", f"a weight gradient has norm {max_grad_norm:.2g} (> {GRAD_EXPLODING:g})"
    ln_c = math.log(n_classes)
    if signal_ratio < SIGNAL_VANISHING:
        return "vanishing", f"the backward signal shrinks to {signal_ratio:.2g} of its size (< {SIGNAL_VANISHING:g})"
    if abs(loss - ln_c) < COLLAPSE_TOL:
        return "vanishing", f"the loss {loss:.4f} is within {COLLAPSE_TOL:g} of ln {n_classes}: the outputs collapsed"
    return "healthy", (
        f"the backward signal ratio {signal_ratio:.2g} is within [{SIGNAL_VANISHING:g}, {SIGNAL_EXPLODING:g}] "
        f"and no weight gradient exceeds {GRAD_EXPLODING:g}"
    )


def _label(act, init, acts, inits):
    if len(inits) == 1:
        return act
    if len(acts) == 1:
        return init
    return f"{act} / {init}"


@experiment(
    "gradients",
    depth=Int(1, MAX_DEPTH),
    width=Int(*WIDTH_RANGE),
    activations=ListOf(OneOf(ACTIVATIONS)),
    inits=ListOf(OneOf(STRATEGIES)),
    batch_norm=Bool(),
    batch_size=Int(*BATCH_RANGE),
    steps=Int(0, MAX_STEPS),
    seed=Int(0, 2**32 - 1),
)
def gradients(
    depth: int = 20,
    width: int = 64,
    activations: tuple = ("sigmoid", "relu"),
    inits: tuple = ("xavier",),
    batch_norm: bool = False,
    batch_size: int = 128,
    steps: int = 0,
    seed: int = 0,
    progress=None,
) -> Result:
    """Real backprop through a deep MLP on digits: per-layer gradient norms, dead units, overflow.

    Per run, ``runs`` and the summary carry ``signal_ratio`` (||delta_1|| / ||delta_N||, the backward
    signal dL/dz at the first linear layer over that at the logits), ``loss_minus_ln_c`` and a
    ``verdict`` from :func:`judge`, whose docstring gives the thresholds.
    """
    acts = activations
    if batch_norm and batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 with batch_norm; got {batch_size}")
    split = load("digits", seed)
    macs = split.n_features * width + (depth - 1) * width**2 + width * split.n_classes
    cost = 6.0 * macs * (batch_size + steps * 64) * len(acts) * len(inits)
    if cost > MAX_FLOPS:
        raise ValueError(
            f"this needs about {cost:.2g} FLOPs, over the budget of {MAX_FLOPS:.2g}: reduce steps ({steps}), "
            f"depth ({depth}), width ({width}) or the number of activations x inits"
        )
    X, y = split.X_train[:batch_size], split.y_train[:batch_size]
    frames, runs, markers = [], [], []
    combos = [(a, i) for a in acts for i in inits]
    for n, (act, init) in enumerate(combos):
        label = _label(act, init, acts, inits)
        model = MLP(
            [split.n_features] + [width] * depth + [split.n_classes],
            activation=act,
            init=init,
            batch_norm=bool(batch_norm),
            rng=np.random.default_rng(seed),
        )
        diverged_step = _train_steps(model, split, steps, 64, seed) if steps else None
        m = _measure(model, X, y, act)
        df = pd.DataFrame(m["rows"]).assign(run=label, activation=act, init=init)
        frames.append(df)
        first, last = finite_or_none(df["grad_norm"].iloc[0]), finite_or_none(df["grad_norm"].iloc[-1])
        ratio = first / last if first is not None and last else None
        s_first, s_last = finite_or_none(df["signal_norm"].iloc[0]), finite_or_none(df["signal_norm"].iloc[-1])
        signal_ratio = finite_or_none(s_first / s_last) if s_first is not None and s_last else None
        max_grad = finite_or_none(df["grad_norm"].max()) if df["grad_norm"].notna().all() else None
        fo, bo = m["forward_overflow"], m["backward_overflow"]
        verdict, reason = judge(signal_ratio, max_grad, m["loss"], split.n_classes, fo or bo)
        if fo is not None:
            markers.append({"run": label, "x": fo, "label": f"{label}: forward overflow at layer {fo}"})
        if bo is not None:
            markers.append({"run": label, "x": bo, "label": f"{label}: backward overflow at layer {bo}"})
        runs.append(
            {
                "run": label,
                "activation": act,
                "init": init,
                "verdict": verdict,
                "verdict_reason": reason,
                "signal_ratio": signal_ratio,
                "max_grad_norm": max_grad,
                "loss": m["loss"],
                "loss_minus_ln_c": finite_or_none(m["loss"] - math.log(split.n_classes))
                if m["loss"] is not None
                else None,
                "first_grad_norm": first,
                "last_grad_norm": last,
                "ratio_first_last": finite_or_none(ratio) if ratio is not None else None,
                "mean_inactive_frac": finite_or_none(df["inactive_frac"].dropna().mean())
                if df["inactive_frac"].notna().any()
                else None,
                "forward_overflow_layer": fo,
                "backward_overflow_layer": bo,
                "diverged_step": diverged_step,
            }
        )
        if progress is not None and progress((n + 1) / len(combos), label) is False:
            break
    layers = pd.concat(frames, ignore_index=True)
    cols = ["run", "activation", "init", "layer", "grad_norm", "signal_norm", "weight_norm", "act_std", "inactive_frac"]
    layers = layers[cols].astype({c: float for c in cols[4:]})
    layers["inactive_kind"] = layers["activation"].map(inactive_kind)
    runs_df = pd.DataFrame(runs).astype(
        {"forward_overflow_layer": "Int64", "backward_overflow_layer": "Int64", "diverged_step": "Int64"}
    )
    summary = {
        "depth": depth,
        "width": width,
        "n_classes": split.n_classes,
        "ln_c": math.log(split.n_classes),
        "signal_ratio": {r["run"]: r["signal_ratio"] for r in runs},
        "verdict": {r["run"]: r["verdict"] for r in runs},
        "ratio_first_last": {r["run"]: r["ratio_first_last"] for r in runs},
        "overflow": {
            r["run"]: r["forward_overflow_layer"] or r["backward_overflow_layer"]
            for r in runs
            if r["forward_overflow_layer"] or r["backward_overflow_layer"]
        },
    }
    notes = []
    if steps:
        notes.append(f"Measured after {steps} Adam steps (lr 0.001, batches of 64), not at initialisation.")
    return Result(
        tables={"layers": layers, "runs": runs_df, "markers": pd.DataFrame(markers, columns=["run", "x", "label"])},
        summary=summary,
        notes=notes,
    )
