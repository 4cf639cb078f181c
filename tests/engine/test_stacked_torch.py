"""A stacked model against PyTorch (float64).

* Training mode: gradients of K members against ``torch.func.stack_module_state`` +
  ``vmap(grad(functional_call))``, PyTorch's model-ensembling recipe (BatchNorm without running
  statistics there, which vmap cannot update in place).
* Several steps with per-member learning rates, BatchNorm running statistics and eval mode:
  against K separate torch modules, each with its own ``torch.optim`` optimiser.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from engine.fused import FUSED
from engine.losses import softmax_cross_entropy
from engine.network import MLP
from engine.optim import OPTIMIZERS

pytestmark = pytest.mark.torch

K = 3
SIZES = [5, 6, 6, 6, 4]


_NET = {}


def _torch_net(torch, batch_norm, residual, activation, track=True):
    """The engine's MLP as a torch module (one class for all, as stack_module_state requires)."""
    nn = torch.nn
    if "cls" not in _NET:

        class Net(nn.Module):
            def __init__(self, batch_norm, residual, activation, track):
                super().__init__()
                act = {"relu": nn.ReLU, "tanh": nn.Tanh}[activation]
                self.blocks = nn.ModuleList()
                self.skips = []
                for fi, fo in zip(SIZES[:-2], SIZES[1:-1]):
                    layers = [nn.Linear(fi, fo, bias=not batch_norm)]
                    if batch_norm:
                        layers.append(nn.BatchNorm1d(fo, track_running_stats=track))
                    layers.append(act())
                    self.blocks.append(nn.Sequential(*layers))
                    self.skips.append(residual and fi == fo)
                self.out = nn.Linear(SIZES[-2], SIZES[-1])

            def forward(self, x):
                for block, skip in zip(self.blocks, self.skips):
                    x = x + block(x) if skip else block(x)
                return self.out(x)

        _NET["cls"] = Net
    return _NET["cls"](batch_norm, residual, activation, track).double()


def _load(torch, net, model, k):
    """Member k of the engine's stack into the torch module."""
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    with torch.no_grad():
        for tl, el in zip(linears, model.linears, strict=True):
            tl.weight.copy_(torch.from_numpy(el.params["W"][k].T.copy()))
            if "b" in el.params:
                tl.bias.copy_(torch.from_numpy(el.params["b"][k, 0].copy()))
        ebns = [layer for layer in model.layers if "gamma" in layer.params]
        for tb, eb in zip(bns, ebns, strict=True):
            tb.weight.copy_(torch.from_numpy(eb.params["gamma"][k, 0].copy()))
            tb.bias.copy_(torch.from_numpy(eb.params["beta"][k, 0].copy()))


def _engine_grads(model, k):
    """Member k's gradients in torch's layout, in the torch module's parameter order."""
    out = []
    for block_start, block_stop, _ in model.blocks:
        for layer in model.layers[block_start:block_stop]:
            for key in layer.params:
                g = layer.grads[key][k]
                out.append(g.T if key == "W" else g[0])
    return out


def _model(rng_seed, batch_norm, residual, activation):
    rngs = [np.random.default_rng(rng_seed + k) for k in range(K)]
    model = MLP(
        SIZES,
        activation=activation,
        init=["he", "xavier", "glorot"],
        batch_norm=batch_norm,
        residual=residual,
        rng=rngs,
        dtype=np.float64,
    )
    rng = np.random.default_rng(99)
    for layer in model.layers:
        for key, p in layer.params.items():
            if key in ("b", "beta"):
                p[...] = 0.1 * rng.standard_normal(p.shape)
            elif key == "gamma":
                p[...] = 1 + 0.2 * rng.standard_normal(p.shape)
    return model


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("batch_norm,residual", [(False, False), (True, False), (True, True)])
def test_stacked_gradients_match_torch_func_vmap(torch, batch_norm, residual, activation):
    from torch.func import functional_call, grad, stack_module_state, vmap

    model = _model(3, batch_norm, residual, activation)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((K, 11, SIZES[0])), rng.integers(0, SIZES[-1], size=(K, 11))
    nets = []
    for k in range(K):
        net = _torch_net(torch, batch_norm, residual, activation, track=False)
        _load(torch, net, model, k)
        nets.append(net.train())
    params, buffers = stack_module_state(nets)
    base = copy.deepcopy(nets[0]).to("meta")

    def loss_fn(p, b, xb, yb):
        return torch.nn.functional.cross_entropy(functional_call(base, (p, b), (xb,)), yb)

    losses = vmap(loss_fn)(params, buffers, torch.from_numpy(x), torch.from_numpy(y))
    grads = vmap(grad(loss_fn))(params, buffers, torch.from_numpy(x), torch.from_numpy(y))
    ours, dlogits = softmax_cross_entropy(model.forward(x, training=True), y)
    model.backward(dlogits)
    np.testing.assert_allclose(ours, losses.detach().numpy(), rtol=1e-12)
    names = list(params)
    for k in range(K):
        for name, g in zip(names, _engine_grads(model, k), strict=True):
            ref = grads[name][k].detach().numpy()
            np.testing.assert_allclose(g, ref, rtol=1e-9, atol=1e-12, err_msg=f"{name}[{k}]")


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("fused", [False, True])
def test_stacked_steps_running_stats_and_eval_match_k_torch_modules(torch, optimizer, fused):
    model = _model(7, True, True, "relu")
    lrs, decays = np.array([1e-3, 3e-2, 1e-1]), np.array([0.0, 1e-2, 1e-1])
    opt = (FUSED if fused else OPTIMIZERS)[optimizer](
        [model.flat_params], [model.flat_grads], lr=lrs, weight_decay=decays
    )
    nets, topts = [], []
    for k in range(K):
        net = _torch_net(torch, True, True, "relu").train()
        _load(torch, net, model, k)
        nets.append(net)
        make = {
            "sgd": lambda p, lr, wd: torch.optim.SGD(p, lr=lr, weight_decay=wd),
            "momentum": lambda p, lr, wd: torch.optim.SGD(p, lr=lr, momentum=0.9, weight_decay=wd),
            "adam": lambda p, lr, wd: torch.optim.Adam(p, lr=lr, weight_decay=wd),
            "adamw": lambda p, lr, wd: torch.optim.AdamW(p, lr=lr, weight_decay=wd),
        }[optimizer]
        topts.append(make(net.parameters(), float(lrs[k]), float(decays[k])))
    rng = np.random.default_rng(5)
    for step in range(4):
        x, y = rng.standard_normal((K, 10, SIZES[0])), rng.integers(0, SIZES[-1], size=(K, 10))
        if step == 2:  # a new rate per member mid-run, as a schedule sets it
            opt.lr = lrs * 0.5
            for t, lr in zip(topts, lrs * 0.5):
                t.param_groups[0]["lr"] = float(lr)
        _, dlogits = softmax_cross_entropy(model.forward(x, training=True), y)
        model.backward(dlogits)
        opt.step()
        for k, (net, t) in enumerate(zip(nets, topts)):
            t.zero_grad()
            torch.nn.functional.cross_entropy(net(torch.from_numpy(x[k])), torch.from_numpy(y[k])).backward()
            t.step()
    xe = rng.standard_normal((K, 13, SIZES[0]))
    ours = model.forward(xe, training=False)
    bns = [layer for layer in model.layers if "gamma" in layer.params]
    for k, net in enumerate(nets):
        net.eval()
        with torch.no_grad():
            np.testing.assert_allclose(ours[k], net(torch.from_numpy(xe[k])).numpy(), rtol=1e-9, atol=1e-11)
        tb = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm1d)]
        for eb, b in zip(bns, tb, strict=True):
            np.testing.assert_allclose(eb.running_mean[k, 0], b.running_mean.numpy(), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(eb.running_var[k, 0], b.running_var.numpy(), rtol=1e-10, atol=1e-12)
        linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        for tl, el in zip(linears, model.linears, strict=True):
            np.testing.assert_allclose(el.params["W"][k].T, tl.weight.detach().numpy(), rtol=1e-9, atol=1e-12)
