"""Layers with explicit forward and backward passes.

Each layer caches in ``forward`` exactly what ``backward`` needs (cs231n's cache pattern) and
exposes ``params`` and ``grads`` dicts with the same keys. Semantics follow PyTorch
(``nn.Linear`` with (fan_in, fan_out) weights, ``nn.BatchNorm1d``, inverted ``nn.Dropout``).

A layer is either alone, acting on a batch ``x`` (N, n), or a stack of K members acting on
``x`` (K, N, n): give it one ``rng`` per member (a list) and every parameter gains a leading
member axis (``W`` (K, fan_in, fan_out), ``b``, ``gamma``, ``beta`` (K, 1, n)), so one NumPy
call serves all K members. Axis -2 is always the batch axis.
"""

from __future__ import annotations

import math

import numpy as np

from engine.init import init_weights

_ONES: dict = {}


def _batch_sum(a, out=None):
    """Sum of ``a`` (N, n) over the batch axis, as a BLAS product ``ones(N) @ a`` (faster than a
    reduce): shape (n,). For a stack ``a`` (K, N, n), shape (K, 1, n). ``out`` has that shape."""
    key = (a.shape[-2], a.dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = _ONES[key] = np.ones((1, a.shape[-2]), a.dtype)
        ones.flags.writeable = False
    if a.ndim == 2:
        return np.matmul(ones[0], a, out=out)
    return np.matmul(ones, a, out=out)


def _sum_of_products(a, b, out=None):
    """Sum over the batch axis of ``a * b``: (n,) alone (one einsum), (K, 1, n) for a stack
    (a product and one BLAS call, faster there than a batched einsum)."""
    if a.ndim == 2:
        return np.einsum("ij,ij->j", a, b, out=out)
    return _batch_sum(np.multiply(a, b), out=out)


def _members(rng):
    """(K, list of generators) for a list of per-member generators, else (None, rng)."""
    if isinstance(rng, (list, tuple)):
        return len(rng), list(rng)
    return None, (np.random.default_rng() if rng is None else rng)


def _per_member(value, k, name):
    """``value`` (one for all, or one per member) as a list of K values."""
    if isinstance(value, (list, tuple, np.ndarray)):
        if len(value) != k:
            raise ValueError(f"{name} needs one value per member ({k}); got {len(value)}")
        return list(value)
    return [value] * k


def _stat_shape(k, n):
    """Shape of a per-unit array: (n,) alone, (K, 1, n) for a stack of K."""
    return (n,) if k is None else (k, 1, n)


class Layer:
    """Base class: a layer without parameters."""

    params: dict
    grads: dict

    def __init__(self):
        self.params = {}
        self.grads = {}

    def forward(self, x: np.ndarray, training: bool = True) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def backward(self, dy: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class Linear(Layer):
    """Affine layer ``y = x @ W + b``.

    Parameters
    ----------
    fan_in, fan_out : int
    init : str
        A strategy from :data:`engine.init.STRATEGIES`.
    bias : bool
        Whether to learn ``b`` (initialised to zero).
    rng : Generator or RandomState, or a list of K of them
        A list makes a stack of K members, member k drawing its weights from ``rng[k]``
        (``init`` may then be one strategy per member).
    dtype : numpy dtype
    """

    def __init__(self, fan_in, fan_out, init="he", bias=True, rng=None, dtype=np.float32):
        super().__init__()
        k, rng = _members(rng)
        self.fan_in, self.fan_out = int(fan_in), int(fan_out)
        if k is None:
            W = init_weights(init, fan_in, fan_out, rng)
        else:
            W = np.stack([init_weights(i, fan_in, fan_out, r) for i, r in zip(_per_member(init, k, "init"), rng)])
        self.params["W"] = W.astype(dtype, copy=False)
        self.grads["W"] = np.zeros_like(self.params["W"])
        if bias:
            self.params["b"] = np.zeros(_stat_shape(k, self.fan_out), dtype=dtype)
            self.grads["b"] = np.zeros_like(self.params["b"])
        self._x = None

    def forward(self, x, training=True):
        """x (N, fan_in) -> y (N, fan_out) (each with a leading member axis in a stack)."""
        self._x = x
        y = np.matmul(x, self.params["W"])
        if "b" in self.params:
            y += self.params["b"]
        return y

    def backward(self, dy, weight_grad=True, input_grad=True):
        """dy (N, fan_out) -> dx (N, fan_in); fills grads b and W (with ``weight_grad=False``,
        W's only when :meth:`weight_grad` is called with the same ``dy``, before the next forward).
        ``input_grad=False`` returns None instead of dx (the network's first layer in training)."""
        if weight_grad:
            self.weight_grad(dy)
        if "b" in self.params:
            _batch_sum(dy, out=self.grads["b"])
        return np.matmul(dy, self.params["W"].mT) if input_grad else None

    def weight_grad(self, dy):
        """Fill grads W from dy (N, fan_out): ``x.T @ dy``."""
        np.matmul(self._x.mT, dy, out=self.grads["W"])


def batch_starts(n, batch_size, batch_norm=True):
    """Start indices of the mini-batches of ``n`` samples, ``batch_size`` at a time. With
    ``batch_norm`` a last batch of one sample is dropped (BatchNorm's batch statistics of one
    sample are undefined: :meth:`BatchNorm.forward` refuses it), unless it is the only batch."""
    starts = list(range(0, n, batch_size))
    if batch_norm and n - starts[-1] < 2 and len(starts) > 1:
        starts.pop()
    return starts


class BatchNorm(Layer):
    """Batch normalisation over the batch axis, as ``torch.nn.BatchNorm1d`` (Ioffe & Szegedy, 2015).

    Training: normalise with the biased batch variance; update ``running_var`` with the
    unbiased one, ``r = (1 - momentum) * r + momentum * stat``. Eval: use running statistics.
    """

    def __init__(self, n, momentum=0.1, eps=1e-5, dtype=np.float32, members=None):
        """``members=K`` makes a stack of K members: every array (K, 1, n), statistics per member."""
        super().__init__()
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"momentum must be in [0, 1]; got {momentum}")
        if not float(eps) > 0:
            raise ValueError(f"eps must be > 0; got {eps}")
        self.n, self.momentum, self.eps = int(n), float(momentum), float(eps)
        shape = _stat_shape(members, self.n)
        self.params["gamma"] = np.ones(shape, dtype=dtype)
        self.params["beta"] = np.zeros(shape, dtype=dtype)
        self.grads["gamma"] = np.zeros(shape, dtype=dtype)
        self.grads["beta"] = np.zeros(shape, dtype=dtype)
        self.running_mean = np.zeros(shape, dtype=dtype)
        self.running_var = np.ones(shape, dtype=dtype)
        self._xc = None
        self._invstd = None

    def forward(self, x, training=True):
        """x (N, n) -> y (N, n) (each with a leading member axis in a stack)."""
        gamma, beta = self.params["gamma"], self.params["beta"]
        if not training:
            y = x - self.running_mean
            y *= gamma / np.sqrt(self.running_var + self.eps)
            y += beta
            return y
        n = x.shape[-2]
        if n < 2:
            raise ValueError(f"BatchNorm needs a training batch of at least 2 samples; got batch size {n}")
        mean = _batch_sum(x) / n
        xc = x - mean
        var = _sum_of_products(xc, xc) / n
        invstd = 1.0 / np.sqrt(var + self.eps)
        self._xc, self._invstd = xc, invstd  # xhat = xc * invstd, never materialised
        m = self.momentum
        self.running_mean *= 1.0 - m
        self.running_mean += m * mean
        self.running_var *= 1.0 - m
        self.running_var += (m * n / (n - 1)) * var
        y = xc * (gamma * invstd)
        y += beta
        return y

    def backward(self, dy):
        """dx = gamma * invstd / N * (N dy - sum(dy) - xhat * sum(dy * xhat))."""
        xc, invstd, n = self._xc, self._invstd, dy.shape[-2]
        dbeta = _batch_sum(dy, out=self.grads["beta"])
        dgamma = _sum_of_products(dy, xc, out=self.grads["gamma"])
        dgamma *= invstd
        # the same, in 4 passes over (N, n): dx = (dy - (sum(dy) + xhat * dgamma) / N) * gamma * invstd
        dx = xc * (invstd * dgamma / n)
        dx += dbeta / n
        np.subtract(dy, dx, out=dx)
        dx *= self.params["gamma"] * invstd
        return dx


def _sigmoid(x):
    """Numerically stable logistic function."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


LEAKY_SLOPE = 0.01

#: name -> f(x); the single source of truth for activations (UI choices, tests).
ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "leaky_relu": lambda x: np.where(x > 0, x, LEAKY_SLOPE * x).astype(x.dtype, copy=False),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
}

#: name -> f'(x) written from (x, y=f(x)).
DERIVATIVES = {
    "relu": lambda x, y: (x > 0).astype(x.dtype),
    "leaky_relu": lambda x, y: np.where(x > 0, 1.0, LEAKY_SLOPE).astype(x.dtype),
    "sigmoid": lambda x, y: y * (1 - y),
    "tanh": lambda x, y: 1 - y * y,
}

#: Largest derivative of each activation (sigmoid's 0.25 is the article's bound).
MAX_DERIVATIVE = {"relu": 1.0, "leaky_relu": 1.0, "sigmoid": 0.25, "tanh": 1.0}


class Activation(Layer):
    """Element-wise non-linearity, one of :data:`ACTIVATIONS`."""

    def __init__(self, name="relu"):
        super().__init__()
        if name not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {name!r}")
        self.name = name
        self._x = self._y = None

    def forward(self, x, training=True):
        if self.name == "relu":
            # relu's derivative, 1.0 where the unit is active, then relu(x) = x * it: two products
            # run faster than np.maximum (several times, on the stacks); a unit at -inf gives NaN.
            active = np.greater(x, 0, out=np.empty_like(x))
            self._x, self._y = None, active
            return x * active
        y = ACTIVATIONS[self.name](x)
        self._x, self._y = x, y
        return y

    def backward(self, dy):
        if self.name == "relu":
            return dy * self._y  # _y holds the derivative itself (see forward)
        return dy * DERIVATIVES[self.name](self._x, self._y)


def bernoulli_mask(rng, keep: float, shape) -> np.ndarray:
    """``rng.binomial(1, keep, shape).astype(bool)``, the same booleans from the same draws and
    leaving ``rng`` in the same state, about ten times faster.

    For one trial NumPy's binomial sampler (inversion) draws one uniform ``u`` per element and
    returns 1 when ``u > q``, where ``q = exp(log(1 - p))`` and ``p <= 0.5`` (for ``keep > 0.5``
    it samples the complement, ``p = 1 - keep``, and returns 1 minus that); here, one
    vectorised comparison.
    """
    u = rng.random(shape)
    if keep > 0.5:
        return u <= math.exp(math.log(keep))
    return u > math.exp(math.log(1.0 - keep))


class Dropout(Layer):
    """Inverted dropout (Srivastava et al., 2014): keep with prob 1-p, scale kept units by 1/(1-p).

    The mask is drawn with ``rng.binomial(1, 1 - p, shape)`` and kept for backward as booleans
    (``mask``, True = kept) with the scale ``1/(1-p)``; eval mode is the identity.

    In a stack (``rng`` a list of K generators, ``rate`` one per member or one for all), member
    k draws its mask from ``rng[k]`` exactly as it would alone; a member at rate 0 draws nothing
    and keeps every unit.
    """

    def __init__(self, rate=0.5, rng=None):
        super().__init__()
        k, rng = _members(rng)
        rates = [float(r) for r in _per_member(rate, k or 1, "dropout")]
        for r in rates:
            if not 0.0 <= r < 1.0:
                raise ValueError(f"dropout rate must be in [0, 1); got {r}")
        self.members = k
        self.rate = rates[0] if k is None else np.array(rates)
        self.rng = rng
        self.mask = self.scale = None

    def forward(self, x, training=True):
        if not training or not np.any(self.rate):
            self.mask = None
            return x
        keep = 1.0 - self.rate
        if self.members is None:
            self.mask = bernoulli_mask(self.rng, keep, x.shape)
            self.scale = np.asarray(1.0 / keep, dtype=x.dtype)
        else:
            self.mask = np.ones(x.shape, bool)
            for m, r, kp in zip(self.mask, self.rng, keep):
                if kp < 1.0:
                    m[...] = bernoulli_mask(r, kp, m.shape)
            self.scale = (1.0 / keep).astype(x.dtype).reshape(-1, 1, 1)
        y = x * self.scale
        y *= self.mask
        return y

    def select(self, rows):
        """Keep only the members ``rows`` of a stack."""
        self.rate = self.rate[rows]
        self.rng = [self.rng[i] for i in rows]
        self.members = len(self.rng)

    def backward(self, dy):
        if self.mask is None:
            return dy
        dx = dy * self.scale
        dx *= self.mask
        return dx
