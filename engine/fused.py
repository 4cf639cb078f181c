"""The fast path of training: fused optimisers and the overlapped training step.

As torch's ``fused=`` optimisers, these compute the updates of :mod:`engine.optim` (same
constructor, same ``step(skip)``, ``select``, ``rebind``, ``lr`` of shape (K,)) faster:

* in place, a cache-sized block of columns of the (K, P) buffers at a time, with preallocated
  scratch and every per-step scalar folded into a few per-member factors (Adam keeps its moments
  without their ``(1 - beta)`` factors: 10 passes over the stack per step, no temporaries);
* large updates split over threads (NumPy releases the GIL inside its loops);
* for one network (K = 1) with flat buffers, :meth:`FusedOptimizer.stepping` updates each block
  in another thread while the backward pass goes on down the network (:func:`train_step`).

:data:`FUSED` registers them by the names of :data:`engine.optim.OPTIMIZERS`;
``train_stacked(..., fused=True)`` (the default) uses the fused one when the name has one, else
the readable one. Tests check every step equal to the readable path (1e-6 relative in float32,
1e-12 in float64), and the overlapped step equal to the plain one bit for bit.
"""

from __future__ import annotations

import math
import operator
import os
import queue
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial

import numpy as np

import engine
from engine.losses import softmax_cross_entropy
from engine.optim import _check, _per_member

#: Elements per block of the element-wise update. The update makes about a dozen passes over a
#: block of each array it touches (param, grad, state, scratch: 6 x 512 KiB in float32), which
#: stay in a core's L2 cache meanwhile, so memory is read and written about once per step; and
#: each NumPy call runs long enough without the GIL for two threads to share the blocks.
CHUNK = 131072


def _default_threads() -> int:
    """The thread count the environment gives BLAS (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS), else 2."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        try:
            return max(1, int(os.environ[var]))
        except (KeyError, ValueError):
            pass
    return min(2, os.cpu_count() or 1)


#: Threads sharing the blocks of an update (NumPy releases the GIL inside its loops): the same
#: budget as BLAS's by default; 1 disables threading.
THREADS = _default_threads()
#: Smallest update (elements) worth threading: below it, waking a thread costs about what it
#: saves, and BLAS's own threads still spin for the cores right after the backward pass.
THREADED_MIN = 2**20
#: Smallest model (parameters) whose update ``FusedOptimizer.stepping`` overlaps with the backward
#: pass in another thread: below it, the threads' handovers and their contention for the GIL and
#: the cores cost about what the overlap saves.
OVERLAP_MIN = 2**20
#: Whether OpenBLAS's idle threads sleep soon after a call (see :data:`engine.BLAS_SPIN`): only
#: then may the forward pass use every BLAS thread while the backward pass leaves a core to the
#: update's thread; with OpenBLAS's default spin its threads would still hold that core.
QUIET_BLAS = engine.blas_spin is not None and engine.blas_spin.strip().isdigit() and int(engine.blas_spin) <= 16
#: Parameters whose gradients ``FusedOptimizer.stepping`` collects before handing them to its thread.
HANDOFF_MIN = 32768
_pool = None
_blas_libs = None


def _blas():
    """threadpoolctl's controllers of the loaded BLAS libraries (none without threadpoolctl)."""
    global _blas_libs
    if _blas_libs is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas_libs = ThreadpoolController().select(user_api="blas").lib_controllers
        except Exception:  # pragma: no cover - threadpoolctl ships with scikit-learn
            _blas_libs = []
    return _blas_libs


@contextmanager
def blas_threads(n):
    """At most ``n`` BLAS threads inside the block (no-op for None, or when THREADS is 1: the
    environment gave BLAS one thread already)."""
    libs = _blas() if n and THREADS > 1 else []
    saved = [lib.get_num_threads() for lib in libs]
    for lib, k in zip(libs, saved):
        lib.set_num_threads(min(n, k))
    try:
        yield
    finally:
        for lib, k in zip(libs, saved):
            lib.set_num_threads(k)


def _get_pool():
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=max(1, THREADS - 1), thread_name_prefix="engine-fused")
    return _pool


def _run_threaded(work, scratches):
    """Run ``work(scratch)`` in THREADS threads (this one included), one scratch each, and wait."""
    n = min(THREADS, len(scratches))
    futures = [_get_pool().submit(work, scratch) for scratch in scratches[1:n]] if n > 1 else []
    work(scratches[0])
    for f in futures:
        f.result()


def _run_later(layers, later=()):
    """``ready`` without a thread: the deferred gradients are computed at once."""
    for f in later:
        f()


def _merged(spans):
    """Sorted (start, stop) spans, the adjacent ones joined."""
    out = []
    for a, b in sorted(spans):
        if out and out[-1][1] == a:
            out[-1] = (out[-1][0], b)
        elif b > a:
            out.append((a, b))
    return out


def _address(a):
    return a.__array_interface__["data"][0]


class FusedOptimizer:
    """Base class of the fused optimisers: the interface of :class:`engine.optim.Optimizer`.

    Every param and grad is a C-contiguous (K, ...) array (e.g. a stacked MLP's (K, P) flat
    buffers), updated as its (K, columns) rows a block of columns at a time. Subclasses set
    ``n_state``, ``_factors()`` (per-member (K,) values for this step, computed once per step)
    and ``_kernel(p, g, *state, tmp, f)``, the element-wise update of one block ``p`` (K, c)
    with the factors ``f`` shaped (K, 1) and two scratch blocks ``tmp``.
    """

    n_state = 0

    def __init__(self, params, grads, lr, weight_decay=0.0):
        self.params, self.grads = list(params), list(grads)
        k = len(self.params[0])
        self.lr = np.broadcast_to(np.asarray(lr, dtype=float), (k,)).copy()
        self.weight_decay = np.broadcast_to(np.asarray(weight_decay, dtype=float), (k,)).copy()
        for lr_k, wd_k in zip(self.lr, self.weight_decay):
            _check(lr_k, wd_k)
        for a in self.params + self.grads:
            if not a.flags.c_contiguous:
                raise ValueError("params and grads of a fused optimizer must be C-contiguous arrays")
        self.state = [tuple(np.zeros_like(p) for _ in range(self.n_state)) for p in self.params]
        self.t = 0
        self._scratch = {}  # (dtype, K, columns) -> two scratch blocks per thread
        self._spans = None  # (layers' param arrays, {id(layer): (start, stop) columns}) for stepping

    # ------------------------------------------------------------------ the readable interface
    def step(self, skip=None):
        """Update every param from its grad; members where ``skip`` (bool (K,)) is True keep theirs."""
        self.t += 1
        f, frozen = self._factors()
        if skip is not None:
            frozen = frozen | skip
        saved = [p[frozen] for p in self.params] if frozen.any() else None
        for p, g, state in zip(self.params, self.grads, self.state):
            self._update(p, g, state, f)
        if saved is not None:
            for p, rows in zip(self.params, saved):
                p[frozen] = rows

    def select(self, rows):
        """Keep only the members ``rows`` (after the model's ``select``; then :meth:`rebind`)."""
        rows = list(rows)
        self.lr, self.weight_decay = self.lr[rows], self.weight_decay[rows]
        self.state = [tuple(s[rows] for s in state) for state in self.state]
        self._spans = None

    def rebind(self, params, grads):
        """Point at the model's buffers again (after the model's ``select``)."""
        self.params, self.grads = list(params), list(grads)
        self._spans = None

    # ------------------------------------------------------------------ blocks and threads
    def _factors(self):
        """(name -> per-member (K,) values for this step, bool (K,) of members not to move)."""
        return {}, np.zeros(len(self.lr), bool)

    def _kernel(self, p, g, *state, tmp, f):  # pragma: no cover
        raise NotImplementedError

    def _rows(self, f, p):
        return {name: _per_member(np.asarray(v), p) if np.ndim(v) else v for name, v in f.items()}

    def _tmp(self, dtype, k, cols):
        """Two scratch blocks (K, cols) of ``dtype`` for each thread."""
        key = (np.dtype(dtype), k, cols)
        if key not in self._scratch:
            self._scratch = {key: [(np.empty((k, cols), dtype), np.empty((k, cols), dtype)) for _ in range(THREADS)]}
        return self._scratch[key]

    def _update(self, p, g, state, f):
        """Update ``p`` (K, ...) in place from ``g``, CHUNK elements of the stack at a time, on
        THREADS threads for a large update."""
        k = len(p)
        arrays = [a.reshape(k, -1) for a in (p, g) + state]
        n = arrays[0].shape[1]
        cols = min(n, max(1, CHUNK // k))
        rows = self._rows(f, arrays[0])
        scratches = self._tmp(p.dtype, k, cols)
        starts = iter(range(0, n, cols))

        def work(scratch):
            for s in starts:  # shared by the threads: each takes the next block (next() holds the GIL)
                e = min(s + cols, n)
                self._kernel(*[a[:, s:e] for a in arrays], tmp=[t[:, : e - s] for t in scratch], f=rows)

        _run_threaded(work, scratches if p.size >= THREADED_MIN else scratches[:1])

    # ------------------------------------------------------------------ the overlapped step
    def _layer_spans(self, layers):
        """{id(layer): (start, stop)}: the columns of the (one) param buffer that each layer's
        params fill, when they are views tiling it in order (as :class:`engine.network.MLP`
        allocates them); else None."""
        arrays = [a for layer in layers for a in layer.params.values()]
        cached = self._spans
        if cached is not None and len(cached[0]) == len(arrays) and all(map(operator.is_, arrays, cached[0])):
            return cached[1]
        spans = None
        if len(self.params) == 1 and arrays:
            P = self.params[0]
            k = len(P)
            row, at, spans = P.reshape(k, -1), _address(P), {}
            for layer in layers:
                for a in layer.params.values():
                    size = a.size // k
                    start = (_address(a) - at) // P.itemsize
                    if not np.may_share_memory(a, P) or a.shape[0] != k or start != spans.get("next", 0):
                        spans = None
                        break
                    lo, _ = spans.get(id(layer), (start, start))
                    spans[id(layer)] = (lo, start + size)
                    spans["next"] = start + size
                if spans is None:
                    break
            if spans is not None and spans.pop("next") != row.shape[1]:
                spans = None
        self._spans = (arrays, spans)
        return spans

    def overlaps(self, layers):
        """Whether :meth:`stepping` updates ``layers`` in another thread (else at its end): one
        network (K = 1) of at least OVERLAP_MIN parameters in one flat buffer, and THREADS > 1."""
        if THREADS <= 1 or len(self.params) != 1 or len(self.params[0]) != 1 or self.params[0].size < OVERLAP_MIN:
            return False
        return self._layer_spans(layers) is not None

    @contextmanager
    def stepping(self, layers):
        """The same update as ``step()``, done while the caller still computes gradients.

        Yields ``ready(sublayers, later=())``: call it once the grads of ``sublayers`` (some of
        ``layers``) are final, or will be once the callables ``later`` have run (e.g. a weight
        gradient nothing else waits for), block by block during the backward pass. When
        :meth:`overlaps`, another thread runs ``later`` and updates those params meanwhile (NumPy
        and BLAS release the GIL), overlapping the rest of the backward pass, with BLAS on one
        thread (the update's thread takes the other core); on exit this thread helps with what
        is left, then waits. Layers never reported ready are updated on exit. Otherwise ``ready``
        runs ``later`` at once and the update is ``step()`` on exit.
        """
        if not self.overlaps(layers):
            yield _run_later
            self.step()
            return
        spans = self._layer_spans(layers)
        self.t += 1
        f, frozen = self._factors()
        if frozen.any():  # lr 0: the moments move, the parameters don't
            saved = self.params[0].copy()
        else:
            saved = None
        arrays = [a.reshape(1, -1) for a in (self.params[0], self.grads[0]) + self.state[0]]
        rows = self._rows(f, arrays[0])
        todo = queue.SimpleQueue()  # (callables, [(start, stop) spans of the flat buffers]); None stops
        done = set()
        batch = ([], [], [0])  # callables, spans and element count not yet handed over

        def hand_over():
            todo.put((batch[0][:], batch[1][:]))
            batch[0].clear(), batch[1].clear()
            batch[2][0] = 0

        def ready(sublayers, later=()):
            batch[0].extend(later)
            for layer in sublayers:
                span = spans.get(id(layer))
                if span is not None and id(layer) not in done:
                    done.add(id(layer))
                    batch[1].append(span)
                    batch[2][0] += span[1] - span[0]
            if batch[2][0] >= HANDOFF_MIN:
                hand_over()

        scratches = self._tmp(arrays[0].dtype, 1, min(CHUNK, arrays[0].shape[1]))

        def work(scratch, wait):
            while True:
                try:
                    item = todo.get() if wait else todo.get_nowait()
                except queue.Empty:
                    return
                if item is None:
                    if not wait:
                        todo.put(None)  # the other thread's stop signal: give it back
                    return
                later, parts = item
                for fn in later:
                    fn()
                for a, b in _merged(parts):
                    for s in range(a, b, CHUNK):
                        e = min(s + CHUNK, b)
                        self._kernel(*[x[:, s:e] for x in arrays], tmp=[t[:, : e - s] for t in scratch], f=rows)

        with blas_threads(1):  # the update's thread takes the other core
            future = _get_pool().submit(work, scratches[1], True)
            try:
                yield ready
            except BaseException:
                while True:  # no more updates: drop what the other thread has not started
                    try:
                        todo.get_nowait()
                    except queue.Empty:
                        break
                todo.put(None)
                future.result()
                raise
            ready(layers)  # anything not reported
            if batch[1] or batch[0]:
                hand_over()
            todo.put(None)
            work(scratches[0], False)
            future.result()
        if saved is not None:
            self.params[0][...] = saved


class FusedSGD(FusedOptimizer):
    """:class:`engine.optim.SGD`, fused: ``g += wd p; buf = mu buf + g (buf = g at step 1); p -= lr buf``."""

    def __init__(self, params, grads, lr, momentum=0.0, weight_decay=0.0):
        momentum = float(momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}")
        self.momentum, self.n_state = momentum, (1 if momentum else 0)
        super().__init__(params, grads, lr, weight_decay)

    def _factors(self):
        return {"lr": self.lr, "weight_decay": self.weight_decay, "decay": bool(self.weight_decay.any())}, np.zeros(
            len(self.lr), bool
        )

    def _kernel(self, p, g, *buf, tmp, f):
        if f["decay"]:
            g = np.add(g, np.multiply(p, f["weight_decay"], out=tmp[1]), out=tmp[1])
        if buf:
            (buf,) = buf
            if self.t == 1:
                np.copyto(buf, g)
            else:
                buf *= self.momentum
                buf += g
            g = buf
        np.multiply(g, f["lr"], out=tmp[0])
        p -= tmp[0]


class FusedAdam(FusedOptimizer):
    """:class:`engine.optim.Adam`, fused: ``p -= (lr/bc1) m / (sqrt(v)/sqrt(bc2) + eps)``.

    The state holds the moments without their ``(1 - beta)`` factors, ``m / (1 - beta1)`` and
    ``v / (1 - beta2)``: the same update in 10 array passes instead of about 16 (those constant
    factors join the per-step scalars).
    """

    n_state = 2  # m / (1 - beta1), v / (1 - beta2)

    def __init__(self, params, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
        b1, b2 = (float(b) for b in betas)
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1); got {betas}")
        if not float(eps) > 0:
            raise ValueError(f"eps must be > 0; got {eps}")
        self.betas, self.eps, self.decoupled = (b1, b2), float(eps), bool(decoupled)
        super().__init__(params, grads, lr, weight_decay)

    def _factors(self):
        beta1, beta2 = self.betas
        # torch's p -= (lr/bc1) m / (sqrt(v/bc2) + eps) in the state's terms, every scalar folded
        # into the two that scale the denominator: p -= m / (sqrt(v) c + eps/step)
        step = self.lr / (1.0 - beta1**self.t) * (1.0 - beta1)
        frozen = step == 0.0  # lr 0: the moments move, the parameters don't
        safe = np.where(frozen, 1.0, step)
        f = {
            "c": math.sqrt((1.0 - beta2) / (1.0 - beta2**self.t)) / safe,
            "eps": self.eps / safe,
            "shrink": 1.0 - self.lr * self.weight_decay,
            "weight_decay": self.weight_decay,
            "decay": bool(self.weight_decay.any()),
        }
        return f, frozen

    def _kernel(self, p, g, m, v, tmp, f):
        beta1, beta2 = self.betas
        t0, t1 = tmp
        if f["decay"]:
            if self.decoupled:
                p *= f["shrink"]
            else:
                g = np.add(g, np.multiply(p, f["weight_decay"], out=t1), out=t1)
        m *= beta1  # the state m is torch's m / (1 - beta1): m <- beta1 m + g
        m += g
        v *= beta2  # the state v is torch's v / (1 - beta2): v <- beta2 v + g^2
        v += np.square(g, out=t0)
        np.sqrt(v, out=t0)
        t0 *= f["c"]
        t0 += f["eps"]
        np.divide(m, t0, out=t0)
        p -= t0


class FusedAdamW(FusedAdam):
    """:class:`engine.optim.AdamW`, fused (default decay 0.01 as torch)."""

    def __init__(self, params, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
        super().__init__(params, grads, lr, betas, eps, weight_decay, decoupled=True)


#: optimizer name (of :data:`engine.optim.OPTIMIZERS`) -> its fused class, called as the readable
#: one. A name missing here trains with the readable class, fused=True or not.
FUSED = {
    "sgd": FusedSGD,
    "momentum": partial(FusedSGD, momentum=0.9),
    "adam": FusedAdam,
    "adamw": FusedAdamW,
}


def train_step(model, opt, xb, yb):
    """:func:`engine.train.train_step` (forward -> loss -> backward -> step), with the update
    overlapped with the backward pass when ``opt`` is fused and :meth:`FusedOptimizer.overlaps`
    the model: the same numbers, bit for bit."""
    logits = model.forward(xb, training=True)
    loss, dlogits = softmax_cross_entropy(logits, yb)
    diverged = ~np.isfinite(loss)
    if np.all(diverged):
        return loss, logits
    if isinstance(opt, FusedOptimizer) and not np.any(diverged) and opt.overlaps(model.layers):
        with opt.stepping(model.layers) as ready:
            model.backward(dlogits, on_block=ready, input_grad=False)
    else:
        model.backward(dlogits, input_grad=False)
        opt.step(skip=diverged)
    return loss, logits
