"""A multilayer perceptron assembled from :mod:`engine.layers`."""

from __future__ import annotations

from functools import partial

import numpy as np

from engine.layers import Activation, BatchNorm, Dropout, Linear, _members, _per_member


def _share_buffers(layers, members=None):
    """Move every param into one flat buffer and every grad into another, in layer order, leaving
    same-shaped views in the dicts: an optimiser then updates all of them with a few large array
    operations (see :mod:`engine.fused`) instead of a few small ones per array.

    For a stack of K members the buffers are (K, P), member-major: row k holds member k's
    params, so a per-member rate broadcasts as (K, 1) over the whole buffer. Returns the two
    buffers, (P,) or (K, P) (None when the arrays do not share one dtype)."""
    pairs = [(layer, k) for layer in layers for k in layer.params]
    out = []
    for attr in ("params", "grads"):
        arrays = [getattr(layer, attr)[k] for layer, k in pairs]
        if not arrays or len({a.dtype for a in arrays}) != 1:
            return None
        size = sum(a.size for a in arrays) // (members or 1)
        flat = np.zeros(size * (members or 1), arrays[0].dtype)
        rows = flat if members is None else flat.reshape(members, size)
        start = 0
        for (layer, k), a in zip(pairs, arrays):
            n = a.size // (members or 1)
            view = rows[..., start : start + n].reshape(a.shape)
            assert np.shares_memory(view, flat)
            if a.any():  # (fresh grads are zeros already)
                view[...] = a
            getattr(layer, attr)[k] = view
            start += n
        out.append(rows)
    return out


class MLP:
    """Multilayer perceptron ``[Linear, BatchNorm?, Activation, Dropout?] x hidden, Linear``.

    Parameters
    ----------
    sizes : sequence of int
        ``[n_in, h1, ..., hk, n_out]``; there are ``len(sizes) - 2`` hidden blocks.
    activation : str
        Hidden non-linearity (see :data:`engine.layers.ACTIVATIONS`).
    init : str
        Weight initialisation strategy (see :data:`engine.init.STRATEGIES`). The output layer
        uses the same strategy.
    batch_norm : bool
        Insert a BatchNorm after every hidden Linear (whose bias is then dropped: beta replaces it).
    dropout : float
        Dropout rate after every hidden activation (0 disables it).
    residual : bool
        Add an identity skip ``h + block(h)`` around every hidden block whose input and output
        widths match.
    rng : Generator or RandomState, or a list of K of them
        A list builds a stack of K same-shape networks trained as one (see
        :mod:`engine.layers`): member k draws its init (and dropout masks) from ``rng[k]`` in
        the order a lone network would, and ``init`` and ``dropout`` may be one per member.
    dtype : numpy dtype
        float32 for training (default), float64 for gradient checks.

    Attributes
    ----------
    layers : list of Layer
        The ordered flat list of layers.
    blocks : list of (start, stop, skip)
        Slices of ``layers`` that form each block and whether that block has a skip.
    """

    def __init__(
        self,
        sizes,
        activation="relu",
        init="he",
        batch_norm=False,
        dropout=0.0,
        residual=False,
        rng=None,
        dtype=np.float32,
    ):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes needs at least 2 positive widths; got {sizes}")
        k, rng = _members(rng)
        self.members = k
        self.sizes, self.dtype, self.residual = sizes, np.dtype(dtype), bool(residual)
        self.layers, self.blocks = [], []
        drop = dropout if k is None else _per_member(dropout, k, "dropout")
        for fan_in, fan_out in zip(sizes[:-2], sizes[1:-1]):
            start = len(self.layers)
            self.layers.append(Linear(fan_in, fan_out, init=init, bias=not batch_norm, rng=rng, dtype=dtype))
            if batch_norm:
                self.layers.append(BatchNorm(fan_out, dtype=dtype, members=k))
            self.layers.append(Activation(activation))
            # not `> 0`: a negative or NaN rate must reach Dropout's validation
            if np.any(np.asarray(drop, dtype=float) != 0):
                self.layers.append(Dropout(drop, rng=rng))
            skip = self.residual and fan_in == fan_out
            self.blocks.append((start, len(self.layers), skip))
        start = len(self.layers)
        self.layers.append(Linear(sizes[-2], sizes[-1], init=init, bias=True, rng=rng, dtype=dtype))
        self.blocks.append((start, len(self.layers), False))
        self.block_outputs = []
        self.flat_params, self.flat_grads = _share_buffers(self.layers, k) or (None, None)

    @property
    def linears(self):
        """The Linear layers in order."""
        return [layer for layer in self.layers if isinstance(layer, Linear)]

    def forward(self, x, training=True):
        """x (N, n_in) -> logits (N, n_out). Keeps each hidden block's output in ``block_outputs``."""
        h = np.asarray(x, dtype=self.dtype)
        outs = []
        for start, stop, skip in self.blocks:
            y = h
            for layer in self.layers[start:stop]:
                y = layer.forward(y, training)
            h = h + y if skip else y
            outs.append(h)
        self.block_outputs = outs[:-1]
        return h

    def backward(self, dlogits, on_block=None, input_grad=True):
        """Backpropagate d(loss)/d(logits) (N, n_out); fills every layer's grads; returns dx
        (None with ``input_grad=False``: training needs no gradient of the data, which saves
        the first layer's ``dy @ W.T``).

        ``on_block(layers, later)``, if given, is called with each block's layers once their
        grads are final but for the weight gradients, which the callables ``later`` compute
        (last block first). :meth:`engine.fused.FusedOptimizer.stepping` hands both to another
        thread, which updates those params while this one carries on down the network.
        """
        d = dlogits
        for start, stop, skip in reversed(self.blocks):
            dy = d
            later = []
            for layer in reversed(self.layers[start:stop]):
                if isinstance(layer, Linear):
                    if on_block is not None:
                        later.append(partial(layer.weight_grad, dy))
                    wanted = input_grad or layer is not self.layers[0]
                    dy = layer.backward(dy, weight_grad=on_block is None, input_grad=wanted)
                else:
                    dy = layer.backward(dy)
            d = dy if dy is None or not skip else d + dy
            if on_block is not None:
                on_block(self.layers[start:stop], later)
        return d

    def state(self):
        """Every array that defines the model: params and BatchNorm running statistics."""
        arrays = []
        for layer in self.layers:
            arrays.extend(layer.params.values())
            if isinstance(layer, BatchNorm):
                arrays.extend([layer.running_mean, layer.running_var])
        return arrays

    def load_state(self, arrays):
        """Copy ``arrays`` (as returned by :meth:`state`) into the model in place."""
        for dst, src in zip(self.state(), arrays, strict=True):
            dst[...] = src

    def member_state(self, k):
        """Member ``k``'s arrays of :meth:`state`, as views shaped like a lone network's."""
        arrays = []
        for layer in self.layers:
            for key, a in layer.params.items():
                arrays.append(a[k] if key == "W" else a[k, 0])
            if isinstance(layer, BatchNorm):
                arrays.extend([layer.running_mean[k, 0], layer.running_var[k, 0]])
        return arrays

    def select(self, rows):
        """Keep only the members ``rows`` (indices) of a stack, in that order (copies)."""
        rows = list(rows)
        for layer in self.layers:
            for d in (layer.params, layer.grads):
                for key in d:
                    d[key] = d[key][rows]
            if isinstance(layer, BatchNorm):
                layer.running_mean = layer.running_mean[rows]
                layer.running_var = layer.running_var[rows]
            elif isinstance(layer, Dropout):
                layer.select(rows)
        self.members = len(rows)
        self.flat_params, self.flat_grads = _share_buffers(self.layers, self.members) or (None, None)
