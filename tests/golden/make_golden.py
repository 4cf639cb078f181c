"""Generate the golden reference values the engine parity tests check, with PyTorch (CPU, float64).

Run it once after changing a reference (torch 2.13 CPU needed)::

    python tests/golden/make_golden.py

It writes ``tests/golden/<name>.json``: the inputs (drawn from ``np.random.RandomState``) and what
PyTorch computes from them. The tests check the engine against these files on every run, with or
without torch, and the live tests call the ``torch_*`` functions below on fresh inputs.

This file uses numpy and torch only (never ``engine``), so the references are independent of the
code under test. PyTorch's Linear weight is (out, in): the engine's ``W`` is its transpose.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

#: engine activation name -> torch module factory (LeakyReLU's slope 0.01 is torch's default).
TORCH_ACTIVATIONS = {
    "relu": lambda nn: nn.ReLU(),
    "leaky_relu": lambda nn: nn.LeakyReLU(0.01),
    "sigmoid": lambda nn: nn.Sigmoid(),
    "tanh": lambda nn: nn.Tanh(),
}

#: engine optimizer name (engine.optim.OPTIMIZERS) -> torch.optim factory(params, lr, weight_decay).
TORCH_OPTIMIZERS = {
    "sgd": lambda optim, ps, lr, wd: optim.SGD(ps, lr=lr, weight_decay=wd),
    "momentum": lambda optim, ps, lr, wd: optim.SGD(ps, lr=lr, momentum=0.9, weight_decay=wd),
    "adam": lambda optim, ps, lr, wd: optim.Adam(ps, lr=lr, weight_decay=wd),
    "adamw": lambda optim, ps, lr, wd: optim.AdamW(ps, lr=lr, weight_decay=wd),
}

#: engine init strategy -> (torch.nn.init call on a (fan_out, fan_in) tensor, name of the torch rule).
TORCH_INITS = {
    "small": (lambda init, w: init.normal_(w, 0.0, 0.01), "normal_(std=0.01)"),
    "large": (lambda init, w: init.normal_(w, 0.0, 1.0), "normal_(std=1)"),
    "xavier": (
        lambda init, w: init.kaiming_normal_(w, mode="fan_in", nonlinearity="linear"),
        "kaiming_normal_(fan_in, linear)",
    ),
    "glorot": (lambda init, w: init.xavier_normal_(w), "xavier_normal_"),
    "he": (
        lambda init, w: init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"),
        "kaiming_normal_(fan_in, relu)",
    ),
}


def _torch():
    import torch

    torch.set_num_threads(1)
    return torch


def _t(a):
    torch = _torch()
    return torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float64)


def _np(t):
    return t.detach().cpu().numpy().astype(np.float64)


# --------------------------------------------------------------------------------------------
# references: numpy in, numpy out
# --------------------------------------------------------------------------------------------


def torch_batchnorm(x, gamma, beta, dy, momentum=0.1, eps=1e-5):
    """One training forward/backward of ``nn.BatchNorm1d``: y, dx, dgamma, dbeta, running stats."""
    torch = _torch()
    bn = torch.nn.BatchNorm1d(x.shape[1], momentum=momentum, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(_t(gamma))
        bn.bias.copy_(_t(beta))
    bn.train()
    xt = _t(x).requires_grad_(True)
    y = bn(xt)
    y.backward(_t(dy))
    return {
        "y": _np(y),
        "dx": _np(xt.grad),
        "dgamma": _np(bn.weight.grad),
        "dbeta": _np(bn.bias.grad),
        "running_mean": _np(bn.running_mean),
        "running_var": _np(bn.running_var),
    }


def torch_batchnorm_running(batches, gamma, beta, x_eval, momentum=0.1, eps=1e-5):
    """Running statistics after each training batch, then the eval-mode output on ``x_eval``."""
    torch = _torch()
    bn = torch.nn.BatchNorm1d(x_eval.shape[1], momentum=momentum, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(_t(gamma))
        bn.bias.copy_(_t(beta))
    means, variances = [], []
    bn.train()
    with torch.no_grad():
        for xb in batches:
            bn(_t(xb))
            means.append(_np(bn.running_mean))
            variances.append(_np(bn.running_var))
        bn.eval()
        y_eval = _np(bn(_t(x_eval)))
    return {"running_mean": np.array(means), "running_var": np.array(variances), "y_eval": y_eval}


def torch_optimizer(name, lr, weight_decay, p0, grads):
    """Parameters after each of ``len(grads)`` steps of torch's optimizer ``name``."""
    torch = _torch()
    p = torch.nn.Parameter(_t(p0))
    opt = TORCH_OPTIMIZERS[name](torch.optim, [p], lr, weight_decay)
    out = []
    for g in grads:
        p.grad = _t(g)
        opt.step()
        out.append(_np(p))
    return np.array(out)


def torch_schedules(total=100, lr=1e-3):
    """lr before each epoch under StepLR(30, 0.5), CosineAnnealingLR(total, 1e-6), ExponentialLR(0.95)."""
    torch = _torch()
    makers = {
        "step": lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=30, gamma=0.5),
        "cosine": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total, eta_min=1e-6),
        "exponential": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.95),
    }
    out = {}
    for name, make in makers.items():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], lr=lr)
        sched = make(opt)
        lrs = []
        for _ in range(total):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        out[name] = np.array(lrs)
    return out


def torch_cross_entropy(logits, y):
    """F.cross_entropy (mean) and its gradient with respect to the logits."""
    torch = _torch()
    z = _t(logits).requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(z, torch.tensor(np.asarray(y), dtype=torch.long))
    loss.backward()
    return {"loss": float(loss.detach()), "dlogits": _np(z.grad)}


def torch_dropout(p, n=200_000, seed=0):
    """Statistics of ``F.dropout`` on ones (masks differ from numpy's, so compare statistics)."""
    torch = _torch()
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    x = torch.ones(n, dtype=torch.float64)
    out = torch.nn.functional.dropout(x, p=p, training=True)
    torch.random.set_rng_state(gen_state)
    kept = out[out != 0]
    eval_out = torch.nn.functional.dropout(x[:10], p=p, training=False)
    return {
        "kept_values": sorted({float(v) for v in kept.unique()}),
        "keep_fraction": float((out != 0).double().mean()),
        "mean": float(out.mean()),
        "eval_identity": bool(torch.equal(eval_out, x[:10])),
    }


def torch_init_std(strategy, fan_in, fan_out, seed=0):
    """Formula std and sample std of torch's counterpart of ``strategy`` on a (fan_out, fan_in) weight."""
    torch = _torch()
    init = torch.nn.init
    call, rule = TORCH_INITS[strategy]
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    w = torch.empty(fan_out, fan_in, dtype=torch.float64)  # torch Linear layout: (out, in)
    call(init, w)
    torch.random.set_rng_state(gen_state)
    fi, fo = init._calculate_fan_in_and_fan_out(w)
    formula = {
        "small": 0.01,
        "large": 1.0,
        "xavier": init.calculate_gain("linear") / np.sqrt(fi),
        "glorot": init.calculate_gain("linear") * np.sqrt(2.0 / (fi + fo)),
        "he": init.calculate_gain("relu") / np.sqrt(fi),
    }[strategy]
    return {"rule": rule, "formula_std": float(formula), "sample_std": float(w.std())}


# --------------------------------------------------------------------------------------------
# MLP: a spec (list of layers with torch-layout weights) and its torch forward/backward
# --------------------------------------------------------------------------------------------


def random_mlp_spec(sizes, activation, batch_norm, residual, rng):
    """Layers ``[Linear, BatchNorm?, Activation] x hidden, Linear`` with random torch-layout weights."""
    layers = []
    hidden = list(zip(sizes[:-2], sizes[1:-1]))
    for fan_in, fan_out in hidden:
        layers.append(
            {
                "kind": "linear",
                "weight": rng.standard_normal((fan_out, fan_in)) * np.sqrt(2.0 / fan_in),
                "bias": None if batch_norm else rng.standard_normal(fan_out) * 0.1,
            }
        )
        if batch_norm:
            layers.append(
                {
                    "kind": "batchnorm",
                    "weight": 1 + 0.2 * rng.standard_normal(fan_out),
                    "bias": 0.1 * rng.standard_normal(fan_out),
                }
            )
        layers.append({"kind": "activation", "name": activation})
    fan_in, fan_out = sizes[-2], sizes[-1]
    layers.append(
        {
            "kind": "linear",
            "weight": rng.standard_normal((fan_out, fan_in)) * np.sqrt(1.0 / fan_in),
            "bias": rng.standard_normal(fan_out) * 0.1,
        }
    )
    return {
        "sizes": list(sizes),
        "activation": activation,
        "batch_norm": bool(batch_norm),
        "residual": bool(residual),
        "layers": layers,
    }


def torch_mlp(spec, x, y):
    """Loss, logits, every parameter gradient (torch layout) and the input gradient, in train mode."""
    torch = _torch()
    nn = torch.nn
    mods = []
    for layer in spec["layers"]:
        if layer["kind"] == "linear":
            w = np.asarray(layer["weight"])
            m = nn.Linear(w.shape[1], w.shape[0], bias=layer["bias"] is not None, dtype=torch.float64)
            with torch.no_grad():
                m.weight.copy_(_t(w))
                if layer["bias"] is not None:
                    m.bias.copy_(_t(layer["bias"]))
        elif layer["kind"] == "batchnorm":
            m = nn.BatchNorm1d(len(layer["weight"]), momentum=0.1, eps=1e-5, dtype=torch.float64)
            with torch.no_grad():
                m.weight.copy_(_t(layer["weight"]))
                m.bias.copy_(_t(layer["bias"]))
        else:
            m = TORCH_ACTIVATIONS[layer["name"]](nn)
        m.train()
        mods.append(m)
    # group into blocks: each block starts at a Linear
    starts = [i for i, layer in enumerate(spec["layers"]) if layer["kind"] == "linear"]
    blocks = [mods[s:e] for s, e in zip(starts, starts[1:] + [len(mods)])]
    xt = _t(x).requires_grad_(True)
    h = xt
    for k, block in enumerate(blocks):
        out = h
        for m in block:
            out = m(out)
        lin = block[0]
        skip = spec["residual"] and k < len(blocks) - 1 and lin.in_features == lin.out_features
        h = h + out if skip else out
    loss = nn.functional.cross_entropy(h, torch.tensor(np.asarray(y), dtype=torch.long))
    loss.backward()
    grads, running = [], []
    for m in mods:
        if isinstance(m, (nn.Linear, nn.BatchNorm1d)):
            grads.append({"weight": _np(m.weight.grad), "bias": None if m.bias is None else _np(m.bias.grad)})
        else:
            grads.append(None)
        running.append(
            {"mean": _np(m.running_mean), "var": _np(m.running_var)} if isinstance(m, nn.BatchNorm1d) else None
        )
    return {"loss": float(loss.detach()), "logits": _np(h), "dx": _np(xt.grad), "grads": grads, "running": running}


#: Golden MLP cases: every activation appears, with and without BatchNorm and skips.
MLP_CASES = {
    "plain_sigmoid": dict(sizes=[5, 7, 6, 3], activation="sigmoid", batch_norm=False, residual=False),
    "bn_relu": dict(sizes=[5, 6, 6, 6, 3], activation="relu", batch_norm=True, residual=False),
    "bn_skip_tanh": dict(sizes=[5, 6, 6, 6, 3], activation="tanh", batch_norm=True, residual=True),
    "skip_leaky_relu": dict(sizes=[5, 6, 6, 6, 3], activation="leaky_relu", batch_norm=False, residual=True),
}

#: Golden optimizer cases: (engine OPTIMIZERS name, lr, weight_decay).
OPT_CASES = {
    "sgd": ("sgd", 0.1, 0.0),
    "sgd_wd": ("sgd", 0.1, 0.05),
    "momentum_wd": ("momentum", 0.05, 0.01),
    "adam": ("adam", 0.01, 0.0),
    "adam_l2": ("adam", 0.01, 0.1),
    "adamw": ("adamw", 0.01, 0.1),
}

INIT_SHAPE = (400, 100)  # (fan_in, fan_out): unequal, so a transposed fan shows up
DROPOUT_RATES = (0.1, 0.3, 0.5, 0.8)


# --------------------------------------------------------------------------------------------
# writing the golden files
# --------------------------------------------------------------------------------------------


def _jsonable(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def build_all():
    """Every golden file's content: name -> JSON-able dict."""
    torch = _torch()
    rng = np.random.RandomState(2024)
    files = {"meta": {"torch": torch.__version__, "numpy": np.__version__, "dtype": "float64"}}

    x = rng.standard_normal((10, 4)) * 5 + 3
    gamma, beta = 1 + 0.3 * rng.standard_normal(4), 0.5 * rng.standard_normal(4)
    dy = rng.standard_normal((10, 4))
    batches = [rng.standard_normal((n, 4)) * s + m for n, s, m in ((8, 2.0, 1.0), (5, 0.5, -2.0), (12, 3.0, 4.0))]
    x_eval = rng.standard_normal((6, 4)) * 2
    files["batchnorm"] = {
        "forward_backward": {
            "inputs": {"x": x, "gamma": gamma, "beta": beta, "dy": dy},
            "torch": torch_batchnorm(x, gamma, beta, dy),
        },
        "running": {
            "inputs": {"batches": batches, "gamma": gamma, "beta": beta, "x_eval": x_eval},
            "torch": torch_batchnorm_running(batches, gamma, beta, x_eval),
        },
    }

    p0 = rng.standard_normal((3, 4))
    grads = rng.standard_normal((6, 3, 4))
    files["optim"] = {
        "p0": p0,
        "grads": grads,
        "cases": {
            label: {"name": name, "lr": lr, "weight_decay": wd, "torch": torch_optimizer(name, lr, wd, p0, grads)}
            for label, (name, lr, wd) in OPT_CASES.items()
        },
    }

    files["schedules"] = {"total": 100, "lr": 1e-3, "torch": torch_schedules(100, 1e-3)}

    logits = rng.standard_normal((7, 5)) * 3
    logits[0] = [1000.0, 999.0, -1000.0, 0.0, 998.5]  # stability: naive exp overflows
    y = rng.randint(0, 5, size=7)
    files["loss"] = {"inputs": {"logits": logits, "y": y}, "torch": torch_cross_entropy(logits, y)}

    files["dropout"] = {str(p): torch_dropout(p) for p in DROPOUT_RATES}
    files["init"] = {
        "fan_in": INIT_SHAPE[0],
        "fan_out": INIT_SHAPE[1],
        "strategies": {s: torch_init_std(s, *INIT_SHAPE) for s in TORCH_INITS},
    }

    mlp = {}
    for label, case in MLP_CASES.items():
        spec = random_mlp_spec(rng=rng, **case)
        xm = rng.standard_normal((8, case["sizes"][0]))
        ym = rng.randint(0, case["sizes"][-1], size=8)
        mlp[label] = {"spec": spec, "x": xm, "y": ym, "torch": torch_mlp(spec, xm, ym)}
    files["mlp"] = mlp
    return {k: _jsonable(v) for k, v in files.items()}


def main():
    for name, content in build_all().items():
        path = HERE / f"{name}.json"
        path.write_text(json.dumps(content, indent=None, separators=(",", ":")) + "\n")
        print(f"wrote {path.relative_to(HERE.parents[1])} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
