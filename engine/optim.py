"""Optimisers with PyTorch's update equations (``torch.optim.SGD``, ``Adam``, ``AdamW``): the readable path.

An optimiser updates a list of parameter arrays in place from their gradients. Every array has a
leading member axis (K, ...): K networks trained as one stack (:func:`engine.train.train_stacked`),
K = 1 for one network. Read it with K = 1 in mind: then every line is the textbook update.

* The state has the shape of the params (Adam's ``m`` and ``v``).
* ``lr`` and ``weight_decay`` are arrays of shape (K,), one value per member, broadcast over that
  member's row (:func:`_per_member`); a schedule sets ``opt.lr`` between steps.

The fast path, the same updates in cache-sized chunks, on threads and overlapped with the
backward pass, is :mod:`engine.fused` (tests check it equal to this one).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np


def _check(lr, weight_decay):
    lr, weight_decay = float(lr), float(weight_decay)
    if not np.isfinite(lr) or lr < 0:
        raise ValueError(f"lr must be a finite number >= 0; got {lr}")
    if not np.isfinite(weight_decay) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a finite number >= 0; got {weight_decay}")
    return lr, weight_decay


def _per_member(values, p):
    """Per-member values (K,) as a (K, 1, ...) array that broadcasts over ``p`` (K, ...)."""
    return values.astype(p.dtype).reshape((len(values),) + (1,) * (p.ndim - 1))


class Optimizer:
    """Base class: ``step()`` updates every ``params[i]`` in place from ``grads[i]``.

    Parameters
    ----------
    params, grads : lists of arrays (K, ...)
        E.g. ``[model.flat_params]`` and ``[model.flat_grads]`` of a stacked
        :class:`engine.network.MLP` (K = 1 for one network; a network built alone passes its
        buffers with a member axis of one, ``[model.flat_params[None]]``).
    lr, weight_decay : float or array (K,)
        One value for every member, or one each.

    A subclass sets ``n_state`` (state arrays per parameter, zero-initialised, shaped like it)
    and writes ``update(p, g, *state)``, the update of one parameter array.
    """

    n_state = 0

    def __init__(self, params, grads, lr, weight_decay=0.0):
        self.params, self.grads = list(params), list(grads)
        k = len(self.params[0])
        self.lr = np.broadcast_to(np.asarray(lr, dtype=float), (k,)).copy()
        self.weight_decay = np.broadcast_to(np.asarray(weight_decay, dtype=float), (k,)).copy()
        for lr_k, wd_k in zip(self.lr, self.weight_decay):
            _check(lr_k, wd_k)
        self.state = [tuple(np.zeros_like(p) for _ in range(self.n_state)) for p in self.params]
        self.t = 0  # steps taken

    def step(self, skip=None):
        """Update every param from its grad; members where ``skip`` (bool (K,)) is True keep theirs."""
        saved = [p[skip] for p in self.params] if skip is not None and skip.any() else None
        self.t += 1
        for p, g, state in zip(self.params, self.grads, self.state):
            self.update(p, g, *state)
        if saved is not None:
            for p, rows in zip(self.params, saved):
                p[skip] = rows

    def update(self, p, g, *state):  # pragma: no cover
        raise NotImplementedError

    def select(self, rows):
        """Keep only the members ``rows`` (after the model's ``select``; then :meth:`rebind`)."""
        rows = list(rows)
        self.lr, self.weight_decay = self.lr[rows], self.weight_decay[rows]
        self.state = [tuple(s[rows] for s in state) for state in self.state]

    def rebind(self, params, grads):
        """Point at the model's buffers again (after the model's ``select``)."""
        self.params, self.grads = list(params), list(grads)


class SGD(Optimizer):
    """torch's SGD: ``g = g + wd p``; ``buf = mu buf + g`` (``buf = g`` at step 1), ``g = buf``; ``p -= lr g``."""

    def __init__(self, params, grads, lr, momentum=0.0, weight_decay=0.0):
        momentum = float(momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}")
        self.momentum, self.n_state = momentum, (1 if momentum else 0)
        super().__init__(params, grads, lr, weight_decay)

    def update(self, p, g, *buf):
        lr, weight_decay = _per_member(self.lr, p), _per_member(self.weight_decay, p)
        if self.weight_decay.any():
            g = g + weight_decay * p
        if self.momentum:
            (buf,) = buf
            if self.t == 1:
                buf[...] = g
            else:
                buf *= self.momentum
                buf += g
            g = buf
        p -= lr * g


class Adam(Optimizer):
    """torch's Adam (Kingma & Ba, 2015), with its names (``m``, ``v``, ``bias_correction1``, ``bias_correction2``).

    ``weight_decay`` is L2 added to the gradient; with ``decoupled=True`` it is AdamW's
    ``p *= 1 - lr wd`` before the Adam step (Loshchilov & Hutter, 2019).
    """

    n_state = 2  # m, v

    def __init__(self, params, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
        b1, b2 = (float(b) for b in betas)
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1); got {betas}")
        if not float(eps) > 0:
            raise ValueError(f"eps must be > 0; got {eps}")
        self.betas, self.eps, self.decoupled = (b1, b2), float(eps), bool(decoupled)
        super().__init__(params, grads, lr, weight_decay)

    def update(self, p, g, m, v):
        beta1, beta2 = self.betas
        lr, weight_decay = _per_member(self.lr, p), _per_member(self.weight_decay, p)
        if self.weight_decay.any():
            if self.decoupled:
                p *= 1 - lr * weight_decay
            else:
                g = g + weight_decay * p
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * (g * g)
        bias_correction1 = 1 - beta1**self.t
        bias_correction2 = 1 - beta2**self.t
        step_size = lr / bias_correction1
        denom = np.sqrt(v) / math.sqrt(bias_correction2) + self.eps
        p -= step_size * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (torch's ``AdamW``; default decay 0.01 as torch)."""

    def __init__(self, params, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, grads, lr, betas, eps, weight_decay, decoupled=True)


#: optimizer name -> class, called as ``OPTIMIZERS[name](params, grads, lr=..., weight_decay=...)``.
#: The single source of truth: TrainConfig, the CLI and the UI take their choices from it; the fast
#: path (:data:`engine.fused.FUSED`) registers its own implementations under some of these names.
OPTIMIZERS = {
    "sgd": SGD,
    "momentum": partial(SGD, momentum=0.9),
    "adam": Adam,
    "adamw": AdamW,
}
