"""Optimisers with PyTorch's update equations (``torch.optim.SGD``, ``Adam``, ``AdamW``)."""

from __future__ import annotations

import math
import operator
import os
import queue
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

import engine

#: Elements per slice of the element-wise update. The update makes about a dozen passes over a
#: slice of each array it touches (param, grad, state, scratch: 6 x 512 KiB in float32), which
#: stay in a core's L2 cache meanwhile, so memory is read and written about once per step; and
#: each NumPy call runs long enough without the GIL for two threads to share the slices.
CHUNK = 131072


def _default_threads() -> int:
    """The thread count the environment gives BLAS (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS), else 2."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        try:
            return max(1, int(os.environ[var]))
        except (KeyError, ValueError):
            pass
    return min(2, os.cpu_count() or 1)


#: Threads sharing the slices of an update (NumPy releases the GIL inside its loops): the same
#: budget as BLAS's by default; 1 disables threading.
THREADS = _default_threads()
#: Smallest update (elements) worth threading: below it, waking a thread costs about what it
#: saves, and BLAS's own threads still spin for the cores right after the backward pass.
THREADED_MIN = 2**20
#: Smallest model (parameters) whose update ``Optimizer.stepping`` overlaps with the backward pass
#: in another thread: below it, the threads' handovers and their contention for the GIL and the
#: cores cost about what the overlap saves.
OVERLAP_MIN = 2**20
#: Whether OpenBLAS's idle threads sleep soon after a call (see :data:`engine.BLAS_SPIN`): only
#: then may the forward pass use every BLAS thread while the backward pass leaves a core to the
#: update's thread; with OpenBLAS's default spin its threads would still hold that core.
QUIET_BLAS = engine.blas_spin is not None and engine.blas_spin.strip().isdigit() and int(engine.blas_spin) <= 16
#: Parameters whose gradients ``Optimizer.stepping`` collects before handing them to its thread.
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
        _pool = ThreadPoolExecutor(max_workers=max(1, THREADS - 1), thread_name_prefix="engine-optim")
    return _pool


def _run_threaded(work, scratches):
    """Run ``work(scratch)`` in THREADS threads (this one included), one scratch each, and wait."""
    n = min(THREADS, len(scratches))
    futures = [_get_pool().submit(work, scratch) for scratch in scratches[1:n]] if n > 1 else []
    work(scratches[0])
    for f in futures:
        f.result()


def _check(lr, weight_decay):
    lr, weight_decay = float(lr), float(weight_decay)
    if not np.isfinite(lr) or lr < 0:
        raise ValueError(f"lr must be a finite number >= 0; got {lr}")
    if not np.isfinite(weight_decay) or weight_decay < 0:
        raise ValueError(f"weight_decay must be a finite number >= 0; got {weight_decay}")
    return lr, weight_decay


def _tiled(arrays):
    """The 1-D buffer that ``arrays`` tile exactly, in order, as contiguous views; else None."""
    base = arrays[0].base
    if base is None or base.ndim != 1 or not base.flags.c_contiguous:
        return None
    start = addr = base.__array_interface__["data"][0]
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous or a.__array_interface__["data"][0] != addr:
            return None
        addr += a.nbytes
    return base if addr == start + base.nbytes else None


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


class Optimizer:
    """Base class. ``step(layers)`` updates every ``layer.params[k]`` in place from ``grads[k]``.

    State is kept per parameter array, in ``state[(id(layer), k)]``. When the params (and the
    grads) of ``layers`` are views tiling one flat buffer, as :class:`engine.network.MLP` allocates
    them, a step updates the whole buffer at once instead of array by array; the per-array state
    entries are then views of the flat state, so either path can continue the other.
    Subclasses define ``n_state`` (state arrays per parameter, zero-initialised) and
    ``_kernel(p, g, *state, tmp, first)``, the element-wise update of one slice.
    """

    n_state = 0

    def __init__(self, lr, weight_decay=0.0):
        self.lr, self.weight_decay = _check(lr, weight_decay)
        self.state = {}
        self._group = None  # (arrays, flat group or None) for the last layers stepped
        self._views = {}  # flat key -> [(per-array key, slice, shape)]
        self._scratch = {}  # dtype -> two CHUNK-sized scratch buffers per thread

    def step(self, layers):
        """Update every param of ``layers`` from its grad."""
        self._advance()
        cached = self._cached_group(layers)
        if cached[1] is not None:
            self._update(*cached[1])
        else:
            for (layer, k), p, g in zip(cached[2], cached[0], cached[0][len(cached[2]) :]):
                self._update(p, g, (id(layer), k))

    def _advance(self):
        """Start a step (Adam counts its steps here)."""

    def _cached_group(self, layers):
        """(params + grads, flat group or None, (layer, key) pairs, layer id -> (start, stop) in
        the flat buffers), cached while ``layers`` keep the same arrays."""
        pairs = [(layer, k) for layer in layers for k in layer.params]
        n = len(pairs)
        arrays = [layer.params[k] for layer, k in pairs] + [layer.grads[k] for layer, k in pairs]
        cached = self._group
        if cached is None or len(cached[0]) != 2 * n or not all(map(operator.is_, arrays, cached[0])):
            group = self._flat_group(pairs, arrays)
            spans = {}
            if group is not None:  # where each layer's params sit in the flat buffer
                start = 0
                for layer, k in pairs:
                    size = layer.params[k].size
                    a, b = spans.get(id(layer), (start, start))
                    spans[id(layer)] = (a, b + size)
                    start += size
            cached = self._group = (arrays, group, pairs, spans)
        return cached

    def overlaps(self, layers):
        """Whether :meth:`stepping` updates ``layers`` in another thread (else at its end)."""
        group = self._cached_group(layers)[1] if THREADS > 1 else None
        return group is not None and group[0].size >= OVERLAP_MIN

    @contextmanager
    def stepping(self, layers):
        """The same update as ``step(layers)``, done while the caller still computes gradients.

        Yields ``ready(sublayers, later=())``: call it once the grads of ``sublayers`` (some of
        ``layers``) are final, or will be once the callables ``later`` have run (e.g. a weight
        gradient nothing else waits for), block by block during the backward pass. With
        THREADS > 1 and flat buffers (as :class:`engine.network.MLP` allocates them) another
        thread runs ``later`` and updates those params meanwhile (NumPy and BLAS release the
        GIL), overlapping the rest of the backward pass, with BLAS on one thread (the update's
        thread takes the other core); on exit this thread helps with what is left, then waits.
        Layers never reported ready are updated on exit. Otherwise ``ready`` runs ``later`` at
        once and the update is ``step(layers)`` on exit.
        """
        cached = self._cached_group(layers) if THREADS > 1 else (None, None)
        if cached[1] is None or cached[1][0].size < OVERLAP_MIN:
            yield _run_later
            self.step(layers)
            return
        self._advance()
        P, G, key = cached[1]
        spans = cached[3]
        st, first = self._state(P, key)
        arrays = [a.reshape(-1) for a in (P, G) + st]
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

        scratches = self._tmp(P.dtype)

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
                for f in later:
                    f()
                for a, b in _merged(parts):
                    for s in range(a, b, CHUNK):
                        e = min(s + CHUNK, b)
                        self._kernel(*[x[s:e] for x in arrays], tmp=[t[: e - s] for t in scratch], first=first)

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
            ready([layer for layer, _ in cached[2]])  # anything not reported
            if batch[1] or batch[0]:
                hand_over()
            todo.put(None)
            work(scratches[0], False)
            future.result()

    def _state(self, p, key):
        """(state arrays of ``key``, whether they were just created)."""
        st = self.state.get(key)
        if st is not None:
            return st, False
        st = self.state[key] = tuple(np.zeros(p.shape, p.dtype) for _ in range(self.n_state))
        for k, sl, shape in self._views.get(key, ()):
            self.state[k] = tuple(a[sl].reshape(shape) for a in st)
        return st, True

    def _flat_group(self, pairs, arrays):
        """(P, G, key) when params and grads each tile one flat buffer and the state allows it."""
        n = len(pairs)
        P, G = (_tiled(arrays[:n]), _tiled(arrays[n:])) if n else (None, None)
        if P is None or G is None or P.dtype != G.dtype or P.shape != G.shape:
            return None
        key = ("flat", id(P))
        if key not in self.state:
            keys = [(id(layer), k) for layer, k in pairs]
            if any(k in self.state for k in keys):
                return None  # stepped array by array before: keep doing so
            starts = np.cumsum([0] + [p.size for p in arrays[:n]])
            self._views[key] = [(k, slice(a, b), p.shape) for k, a, b, p in zip(keys, starts, starts[1:], arrays)]
        return P, G, key

    def _update(self, p, g, key):
        """Update ``p`` in place from ``g``, a cache-sized slice at a time when everything is contiguous."""
        st, first = self._state(p, key)
        arrays = (p, g) + st
        scratches = self._tmp(p.dtype)
        if p.size <= CHUNK:
            self._kernel(*arrays, tmp=[t[: p.size].reshape(p.shape) for t in scratches[0]], first=first)
        elif not all(a.flags.c_contiguous for a in arrays):
            self._kernel(*arrays, tmp=[np.empty_like(p), np.empty_like(p)], first=first)
        else:
            flat = [a.reshape(-1) for a in arrays]
            starts = iter(range(0, p.size, CHUNK))

            def work(scratch):
                for s in starts:  # shared by the threads: each takes the next slice (next() holds the GIL)
                    part = [a[s : s + CHUNK] for a in flat]
                    self._kernel(*part, tmp=[t[: len(part[0])] for t in scratch], first=first)

            _run_threaded(work, scratches if p.size >= THREADED_MIN else scratches[:1])

    def _tmp(self, dtype):
        """Two scratch buffers of CHUNK elements of ``dtype`` for each thread."""
        if dtype not in self._scratch:
            self._scratch[dtype] = [(np.empty(CHUNK, dtype), np.empty(CHUNK, dtype)) for _ in range(THREADS)]
        return self._scratch[dtype]

    def _kernel(self, p, g, *state, tmp, first):  # pragma: no cover
        raise NotImplementedError


class SGD(Optimizer):
    """SGD with momentum: ``g += wd p; buf = mu buf + g (buf = g at step 1); p -= lr buf``."""

    def __init__(self, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(lr, weight_decay)
        momentum = float(momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}")
        self.momentum = momentum
        self.n_state = 1 if momentum else 0

    def _kernel(self, p, g, *buf, tmp, first):
        if self.weight_decay:
            g = np.add(g, np.multiply(p, self.weight_decay, out=tmp[1]), out=tmp[1])
        if buf:
            (buf,) = buf
            if first:
                np.copyto(buf, g)
            else:
                buf *= self.momentum
                buf += g
            g = buf
        np.multiply(g, self.lr, out=tmp[0])
        p -= tmp[0]


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) as torch: ``p -= (lr/bc1) m / (sqrt(v)/sqrt(bc2) + eps)``.

    ``weight_decay`` is L2 added to the gradient; with ``decoupled=True`` it is AdamW's
    ``p *= 1 - lr wd`` before the Adam step (Loshchilov & Hutter, 2019).

    The state holds the moments without their ``(1 - beta)`` factors, ``m / (1 - b1)`` and
    ``v / (1 - b2)``: the same update in 10 array passes instead of 12 (those constant factors
    join the per-step scalars).
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

    n_state = 2  # m / (1 - b1), v / (1 - b2)

    def _advance(self):
        self.t += 1

    def _kernel(self, p, g, m, v, tmp, first):
        b1, b2 = self.betas
        if self.weight_decay:
            if self.decoupled:
                p *= 1.0 - self.lr * self.weight_decay
            else:
                g = np.add(g, np.multiply(p, self.weight_decay, out=tmp[1]), out=tmp[1])
        tmp = tmp[0]
        m *= b1  # the state m is torch's m / (1 - b1): m <- b1 m + g
        m += g
        v *= b2  # the state v is torch's v / (1 - b2): v <- b2 v + g^2
        v += np.square(g, out=tmp)
        # torch's p -= (lr/bc1) m / (sqrt(v/bc2) + eps), in the state's terms, every scalar folded
        # into the two that scale the denominator: p -= m / (sqrt(v) c + eps/step)
        step = self.lr / (1.0 - b1**self.t) * (1.0 - b1)
        if step == 0.0:
            return  # lr 0: the moments move, the parameters don't
        np.sqrt(v, out=tmp)
        tmp *= math.sqrt((1.0 - b2) / (1.0 - b2**self.t)) / step
        tmp += self.eps / step
        np.divide(m, tmp, out=tmp)
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


# --------------------------------------------------------------------------- stacks of K members
def _per_member(values, p):
    """Per-member values (K,) as a (K, 1, ...) array that broadcasts over ``p`` (K, ...)."""
    return values.astype(p.dtype).reshape((len(values),) + (1,) * (p.ndim - 1))


class StackOptimizer:
    """The update of a stack of K members at once, written like the equations.

    ``params`` and ``grads`` are lists of arrays with a leading member axis (K, ...), e.g. the
    (K, P) buffers of a stacked :class:`engine.network.MLP`. The state has the shape of the
    params; ``lr`` and ``weight_decay`` are arrays of shape (K,), one value per member, that
    broadcast over each member's row. With K = 1 this is the textbook update of one network.
    """

    def __init__(self, params, grads, lr, weight_decay=0.0):
        self.params, self.grads = list(params), list(grads)
        k = len(self.params[0])
        self.lr = np.broadcast_to(np.asarray(lr, dtype=float), (k,)).copy()
        self.weight_decay = np.broadcast_to(np.asarray(weight_decay, dtype=float), (k,)).copy()
        for lr_k, wd_k in zip(self.lr, self.weight_decay):
            _check(lr_k, wd_k)
        self.state = [tuple(np.zeros_like(p) for _ in range(self.n_state)) for p in self.params]

    n_state = 0

    def step(self, skip=None):
        """Update every param from its grad; members where ``skip`` (bool (K,)) is True keep theirs."""
        saved = [p[skip] for p in self.params] if skip is not None and skip.any() else None
        self._advance()
        for p, g, state in zip(self.params, self.grads, self.state):
            self.update(p, g, *state)
        if saved is not None:
            for p, rows in zip(self.params, saved):
                p[skip] = rows

    def overlaps(self, layers=None):
        """False: a stack's update runs after the backward pass."""
        return False

    @contextmanager
    def stepping(self, layers=None):
        """``step()`` on exit, for the same training step as :meth:`Optimizer.stepping`; yields None
        (no overlap: the backward pass computes every gradient at once)."""
        yield None
        self.step()

    def select(self, rows):
        """Keep only the members ``rows`` (after the model's ``select``: pass its new buffers)."""
        rows = list(rows)
        self.lr, self.weight_decay = self.lr[rows], self.weight_decay[rows]
        self.state = [tuple(s[rows] for s in state) for state in self.state]

    def rebind(self, params, grads):
        """Point at the model's buffers again (after the model's ``select``)."""
        self.params, self.grads = list(params), list(grads)

    def _advance(self):
        """Start a step (Adam counts its steps here)."""

    def update(self, p, g, *state):  # pragma: no cover
        raise NotImplementedError


class StackSGD(StackOptimizer):
    """torch's SGD: ``g = g + wd p``; ``buf = mu buf + g`` (``buf = g`` at step 1), ``g = buf``; ``p -= lr g``."""

    def __init__(self, params, grads, lr, momentum=0.0, weight_decay=0.0):
        momentum = float(momentum)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}")
        self.momentum, self.n_state, self.t = momentum, (1 if momentum else 0), 0
        super().__init__(params, grads, lr, weight_decay)

    def _advance(self):
        self.t += 1

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


class StackAdam(StackOptimizer):
    """torch's Adam, with its names (``m``, ``v``, ``bias_correction1``, ``bias_correction2``).

    ``weight_decay`` is L2 added to the gradient; with ``decoupled=True`` it is AdamW's
    ``p *= 1 - lr wd`` before the Adam step.

    ``fused=True`` selects the fast path, as torch's ``fused=``: the same update in place, a
    cache-sized block of columns at a time, with preallocated scratch and the moments kept
    without their ``(1 - beta)`` factors (``m / (1 - beta1)``, ``v / (1 - beta2)``), which join
    the per-step scalars: 10 passes over the stack per step instead of about 16 and no
    temporaries; the arithmetic of the lone :class:`Adam`'s kernel. Tests check that it equals
    the readable update.
    """

    n_state = 2  # m, v

    def __init__(self, params, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False, fused=False):
        b1, b2 = (float(b) for b in betas)
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1); got {betas}")
        if not float(eps) > 0:
            raise ValueError(f"eps must be > 0; got {eps}")
        self.betas, self.eps, self.decoupled, self.t = (b1, b2), float(eps), bool(decoupled), 0
        self.fused = bool(fused)
        super().__init__(params, grads, lr, weight_decay)
        self._scratch = {}

    def _advance(self):
        self.t += 1

    def update(self, p, g, m, v):
        if self.fused:
            return self._fused_update(p, g, m, v)
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

    def _fused_update(self, p, g, m, v):
        """The update above, in place on (K, P) buffers, CHUNK elements of the stack at a time,
        with the arithmetic of :class:`Adam`'s kernel (so a member's numbers are a lone run's)."""
        beta1, beta2 = self.betas
        k = len(p)
        p, g, m, v = (a.reshape(k, -1) for a in (p, g, m, v))
        # torch's p -= (lr/bc1) m / (sqrt(v/bc2) + eps) in the state's terms, every scalar folded
        # into the two that scale the denominator: p -= m / (sqrt(v) c + eps/step)
        step = self.lr / (1.0 - beta1**self.t) * (1.0 - beta1)
        frozen = step == 0.0  # lr 0: the moments move, the parameters don't
        safe = np.where(frozen, 1.0, step)
        c = _per_member(math.sqrt((1.0 - beta2) / (1.0 - beta2**self.t)) / safe, p)
        eps = _per_member(self.eps / safe, p)
        shrink = _per_member(1.0 - self.lr * self.weight_decay, p)
        weight_decay = _per_member(self.weight_decay, p)
        decay = self.weight_decay.any()
        saved = p[frozen] if frozen.any() else None
        cols = max(1, CHUNK // k)
        key = (p.dtype, k, min(cols, p.shape[1]))
        if key not in self._scratch:
            self._scratch = {key: (np.empty((k, key[2]), p.dtype), np.empty((k, key[2]), p.dtype))}
        tmp0, tmp1 = self._scratch[key]
        for s in range(0, p.shape[1], cols):
            e = min(s + cols, p.shape[1])
            pb, gb, mb, vb = p[:, s:e], g[:, s:e], m[:, s:e], v[:, s:e]
            t0, t1 = tmp0[:, : e - s], tmp1[:, : e - s]
            if decay:
                if self.decoupled:
                    pb *= shrink
                else:
                    gb = np.add(gb, np.multiply(pb, weight_decay, out=t1), out=t1)
            mb *= beta1  # the state m is torch's m / (1 - beta1): m <- beta1 m + g
            mb += gb
            vb *= beta2  # the state v is torch's v / (1 - beta2): v <- beta2 v + g^2
            vb += np.square(gb, out=t0)
            np.sqrt(vb, out=t0)
            t0 *= c
            t0 += eps
            np.divide(mb, t0, out=t0)
            pb -= t0
        if saved is not None:
            p[frozen] = saved


#: optimizer name -> factory(params, grads, lr (K,), weight_decay (K,), fused=False), the stacks' twin of
#: OPTIMIZERS (``fused`` selects Adam's fast path; SGD has one path).
STACK_OPTIMIZERS = {
    "sgd": lambda p, g, lr, wd, fused=False: StackSGD(p, g, lr, weight_decay=wd),
    "momentum": lambda p, g, lr, wd, fused=False: StackSGD(p, g, lr, momentum=0.9, weight_decay=wd),
    "adam": lambda p, g, lr, wd, fused=False: StackAdam(p, g, lr, weight_decay=wd, fused=fused),
    "adamw": lambda p, g, lr, wd, fused=False: StackAdam(p, g, lr, weight_decay=wd, decoupled=True, fused=fused),
}
