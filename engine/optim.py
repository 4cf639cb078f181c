"""Optimisers with PyTorch's update equations (``torch.optim.SGD``, ``Adam``, ``AdamW``)."""

from __future__ import annotations

import numpy as np


def _check(lr, weight_decay):
    lr, weight_decay = float(lr), float(weight_decay)
    if not np.isfinite(lr) or lr < 0:
        raise ValueError(f"lr must be a finite number >= 0; got {lr}")
    if not np.isfinite(weight_decay) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a finite number >= 0; got {weight_decay}")
    return lr, weight_decay


class Optimizer:
    """Base class. ``step(layers)`` updates every ``layer.params[k]`` in place from ``grads[k]``."""

    def __init__(self, lr, weight_decay=0.0):
        self.lr, self.weight_decay = _check(lr, weight_decay)
        self.state = {}

    def step(self, layers):
        for layer in layers:
            for k, p in layer.params.items():
                key = (id(layer), k)
                self._update(p, layer.grads[k], key)

    def _update(self, p, g, key):  # pragma: no cover
        raise NotImplementedError


class SGD(Optimizer):
    """SGD with momentum: ``g += wd p; buf = mu buf + g (buf = g at step 1); p -= lr buf``."""

    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        momentum = float(momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}")
        self.momentum = momentum

    def _update(self, p, g, key):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            buf = self.state.get(key)
            if buf is None:
                buf = self.state[key] = g.copy()
            else:
                buf *= self.momentum
                buf += g
            g = buf
        p -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) as torch: ``p -= (lr/bc1) m / (sqrt(v)/sqrt(bc2) + eps)``.

    ``weight_decay`` is L2 added to the gradient; with ``decoupled=True`` it is AdamW's
    ``p *= 1 - lr wd`` before the Adam step (Loshchilov & Hutter, 2019).
    """

    def __init__(self, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
        super().__init__(lr, weight_decay)
        b1, b2 = (float(b) for b in betas)
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1); got {betas}")
        if not float(eps) > 0:
            raise ValueError(f"eps must be > 0; got {eps}")
        self.betas, self.eps, self.decoupled = (b1, b2), float(eps), bool(decoupled)
        self.t = 0

    def step(self, layers):
        self.t += 1
        super().step(layers)

    def _update(self, p, g, key):
        b1, b2 = self.betas
        if self.weight_decay:
            if self.decoupled:
                p *= 1.0 - self.lr * self.weight_decay
            else:
                g = g + self.weight_decay * p
        st = self.state.get(key)
        if st is None:
            st = self.state[key] = (np.zeros_like(p), np.zeros_like(p), np.empty_like(p))
        m, v, tmp = st
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        np.multiply(g, g, out=tmp)
        tmp *= 1.0 - b2
        v += tmp
        bc1 = 1.0 - b1**self.t
        bc2 = 1.0 - b2**self.t
        np.sqrt(v, out=tmp)
        tmp *= 1.0 / np.sqrt(bc2)
        tmp += self.eps
        np.divide(m, tmp, out=tmp)
        tmp *= self.lr / bc1
        p -= tmp


class AdamW(Adam):
    """Adam with decoupled weight decay (torch's ``AdamW``; default decay 0.01 as torch)."""

    def __init__(self, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(lr, betas, eps, weight_decay, decoupled=True)


#: optimizer name -> factory(lr, weight_decay). Single source of truth for the UI and TrainConfig.
OPTIMIZERS = {
    "sgd": lambda lr, wd: SGD(lr, weight_decay=wd),
    "momentum": lambda lr, wd: SGD(lr, momentum=0.9, weight_decay=wd),
    "adam": lambda lr, wd: Adam(lr, weight_decay=wd),
    "adamw": lambda lr, wd: AdamW(lr, weight_decay=wd),
}
